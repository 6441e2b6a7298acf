"""BigQuery client factories: the real service in the cloud, the local emulator when configured.

``BIGQUERY_EMULATOR_HOST`` (host:port of bqemulator's REST API) points the REST client
(queries, tables, provisioning) at the emulator; ``BIGQUERY_STORAGE_EMULATOR_HOST`` (host:port
of its gRPC API) points the Storage Write API client (the pipelines' sink) at it.  The pipelines'
sink, the local provisioning and the tests all get their clients here, so the same code writes
to BigQuery on Dataflow and to bqemulator locally.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

if TYPE_CHECKING:
    from google.cloud.bigquery_storage_v1 import BigQueryWriteClient


def emulator_host() -> str | None:
    return os.environ.get("BIGQUERY_EMULATOR_HOST") or None


def storage_emulator_host() -> str | None:
    return os.environ.get("BIGQUERY_STORAGE_EMULATOR_HOST") or None


def make_client(project: str) -> bigquery.Client:
    """A client for ``project``; anonymous and pointed at the emulator when one is configured."""
    host = emulator_host()
    if host:
        return bigquery.Client(
            project=project,
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=f"http://{host}"),
        )
    return bigquery.Client(project=project)


def make_write_client(endpoint: str | None = None) -> BigQueryWriteClient:
    """A Storage Write API client: plaintext gRPC to ``endpoint`` or the emulator when one is set.

    Message size caps are lifted on the local channel (gRPC's default receive cap is 4 MiB);
    what the sink sends is bounded by ``pipelines/common/write_limits.py``, not by the channel.
    """
    from google.cloud import bigquery_storage_v1

    endpoint = endpoint or storage_emulator_host()
    if not endpoint:
        return bigquery_storage_v1.BigQueryWriteClient()
    import grpc
    from google.cloud.bigquery_storage_v1.services.big_query_write.transports import BigQueryWriteGrpcTransport

    channel = grpc.insecure_channel(
        endpoint, options=[("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
    )
    return bigquery_storage_v1.BigQueryWriteClient(
        transport=BigQueryWriteGrpcTransport(channel=channel, credentials=AnonymousCredentials())
    )
