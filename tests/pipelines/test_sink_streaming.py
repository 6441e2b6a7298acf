"""The orders job, streaming on the DirectRunner, through a 3 MB message and a burst of 500 invalid ones.

3 MB, not 9.9: the DirectRunner's own Pub/Sub pull (Beam's ``transform_evaluator._read_from_pubsub``,
10 messages per pull) keeps gRPC's default 4 MiB receive cap per pull response, so a bigger message
never reaches a local job ("Received message larger than max"); Dataflow's source takes Pub/Sub's
10 MB.  For the same reason a local bundle holds at most 10 messages.  The 9.9 MB message and the
500 messages in one bundle go through the sink DoFn itself in ``test_sink_write_api.py``.

The job's sink talks to bqemulator through the recording proxy (``BIGQUERY_STORAGE_EMULATOR_HOST``
points the job's write client at it), so the test sees every request the job sends.  The old
insertAll sink failed such a bundle forever (one ~50 MB request); the job must keep running, and
every message must end as a fact or a dead letter whose payload reassembles byte for byte.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from datetime import UTC, datetime

import pytest
from google.cloud import pubsub_v1
from pipeline_support import order, start_streaming_job
from write_api_proxy import WriteApiProxy

from localdev import provision
from pipelines import bq, dead_letters, generator, system
from pipelines.common import write_limits

pytestmark = [pytest.mark.emulators, pytest.mark.slow]

DEADLINE_SECONDS = 300


def test_the_job_keeps_running_and_every_message_is_a_fact_or_an_exact_dead_letter(
    pubsub_emulator, bigquery_emulator, project: str, unique_suffix: str
) -> None:
    rng = random.Random(99)
    payloads = [
        rng.randbytes(3_000_000),  # 4 dead-letter chunks
        *(b"{" + rng.randbytes(60 * 1024 - 1) for _ in range(500)),
        *(generator.encode(order(i, datetime.now(UTC))) for i in range(10)),
    ]
    paths = provision.create_pubsub(project, suffix=f"-{unique_suffix}")["orders"]
    dataset = provision.create_dataset_and_tables(project, f"sinkstream_{unique_suffix}")
    publisher = pubsub_v1.PublisherClient()
    futures = [publisher.publish(paths["topic"], p, source="sink-test") for p in payloads]
    by_id = {f.result(timeout=60): p for f, p in zip(futures, payloads, strict=True)}

    proxy = WriteApiProxy(bigquery_emulator.grpc_host).start()
    job = start_streaming_job(
        "orders", paths["subscription"], dataset, 60, env={"BIGQUERY_STORAGE_EMULATOR_HOST": proxy.address}
    )
    client = bq.make_client(project)
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while True:
            assert job.alive(), f"the job exited:\n{job.log_tail(60)}"
            facts = list(client.query(f"SELECT message_id FROM `{dataset}.orders`").result())
            heads = list(client.query(f"SELECT message_id FROM `{dataset}.dead_letter` WHERE chunk_index = 0").result())
            if len(facts) >= 10 and len(heads) >= 501:
                break
            assert time.monotonic() < deadline, (
                f"{len(facts)}/10 facts, {len(heads)}/501 dead letters\n{job.log_tail(40)}"
            )
            time.sleep(2)
        assert job.alive()
        letters = [
            dict(r) for r in client.query(f"SELECT * FROM `{dataset}.{system.table_name('dead_letter')}`").result()
        ]
    finally:
        job.stop()
        proxy.stop()
        client.close()

    chunks = defaultdict(list)
    for row in letters:
        chunks[row["message_id"]].append(row)
    assert {r["message_id"] for r in facts} | set(chunks) == set(by_id)  # every message: a fact or a dead letter
    for mid, rows in chunks.items():
        (got,) = dead_letters.reassemble(rows)
        assert got.ok and got.payload == by_id[mid]
    assert proxy.records
    assert all(
        r.size <= write_limits.MAX_REQUEST_BYTES and r.rows <= write_limits.MAX_ROWS_PER_REQUEST for r in proxy.records
    )
