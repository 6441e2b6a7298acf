"""BigQuery client factory: the real service in the cloud, the local emulator when ``BIGQUERY_EMULATOR_HOST`` is set.

The pipelines' sink, the local provisioning and the tests all get their client
here, so the same code writes to BigQuery on Dataflow and to bqemulator locally.
"""

from __future__ import annotations

import os

from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery


def emulator_host() -> str | None:
    return os.environ.get("BIGQUERY_EMULATOR_HOST") or None


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
