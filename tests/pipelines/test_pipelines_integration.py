"""Each pipeline, streaming on the DirectRunner, against the real Pub/Sub and BigQuery emulators.

The job runs as a subprocess (``python -m pipelines.<name>.main``) exactly as a developer
runs it locally; the test publishes a mixed batch (valid, invalid, byte-identical
duplicates), polls BigQuery until the expected rows are there or a deadline passes, then
stops the job from outside (the DirectRunner has no bounded wait for streaming jobs).
"""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from google.cloud import pubsub_v1
from pipeline_support import expected_aggregates, latest_panes, order, sha, shipment, start_streaming_job

from localdev import provision
from pipelines import bq, generator, system, validation

pytestmark = [pytest.mark.emulators, pytest.mark.slow]

WINDOW_SECONDS = 60
DEADLINE_SECONDS = 240


def _batch(pipeline: str, now: datetime) -> tuple[list[bytes], list[bytes]]:
    """(valid payloads incl. duplicates, invalid payloads) with event times a little in the past."""
    t0 = now - timedelta(minutes=3)
    if pipeline == "orders":
        valid = [generator.encode(order(i, t0 + timedelta(seconds=17 * i))) for i in range(8)]
        invalid = [
            b'{"schema_version": 1, "order_id": ',
            b"\xff\xfe" + valid[0],
            generator.encode({**order(90, t0), "total_amount": "1.00"}),
            generator.encode({k: v for k, v in order(91, t0).items() if k != "customer_id"}),
        ]
    else:
        day = t0.date().isoformat()
        before = (t0.date() - timedelta(days=1)).isoformat()
        statuses = ["CREATED", "SHIPPED", "DELIVERED", "DELIVERED", "IN_TRANSIT", "DELIVERED"]
        valid = [
            generator.encode(shipment(i, t0 + timedelta(seconds=23 * i), s, before if i % 2 else day))
            for i, s in enumerate(statuses)
        ]
        invalid = [
            b"[1, 2, 3]",
            generator.encode({**shipment(90, t0, "DELIVERED", day), "status": "TELEPORTED"}),
            generator.encode({**shipment(91, t0, "DELIVERED", day), "promised_delivery_date": "31/12/2026"}),
        ]
    return [*valid, valid[1], valid[3]], invalid


def _publish(topic: str, payloads: list[bytes]) -> list[str]:
    publisher = pubsub_v1.PublisherClient()
    return [publisher.publish(topic, p, source="integration-test").result(timeout=30) for p in payloads]


def _rows(client, table: str) -> list[dict]:
    return [dict(r) for r in client.query(f"SELECT * FROM `{table}`").result()]


@pytest.mark.parametrize("pipeline", ["orders", "shipping"])
def test_streaming_job_writes_exact_facts_dead_letters_and_aggregates(
    pipeline: str, pubsub_emulator, bigquery_emulator, project: str, unique_suffix: str
) -> None:
    now = datetime.now(UTC)
    paths = provision.create_pubsub(project, suffix=f"-{unique_suffix}")[pipeline]
    dataset = provision.create_dataset_and_tables(project, f"it_{pipeline}_{unique_suffix}")
    valid, invalid = _batch(pipeline, now)
    ids = _publish(paths["topic"], valid + invalid)
    valid_ids, invalid_ids = ids[: len(valid)], ids[len(valid) :]
    validate = validation.VALIDATORS[pipeline]

    fact_key = "orders" if pipeline == "orders" else "shipments"
    expected_facts = {
        mid: {**validate(p, now), "event_key": sha(p), "message_id": mid}
        for mid, p in zip(valid_ids, valid, strict=True)
    }
    expected_dead = {}
    for mid, p in zip(invalid_ids, invalid, strict=True):
        with pytest.raises(validation.InvalidEvent) as err:
            validate(p, now)
        expected_dead[mid] = {
            "pipeline": pipeline,
            "payload_base64": base64.b64encode(p).decode(),
            "error_reason": err.value.reason,
            "error_field": err.value.field,
            "event_key": sha(p),
            "attributes": '{"source":"integration-test"}',
        }
    expected_aggs = expected_aggregates(pipeline, expected_facts.values(), WINDOW_SECONDS)

    job = start_streaming_job(pipeline, paths["subscription"], dataset, WINDOW_SECONDS)
    client = bq.make_client(project)
    table = {k: f"{dataset}.{system.table_name(k)}" for k in (fact_key, "dead_letter", *expected_aggs)}
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while True:
            assert job.alive(), f"the job exited:\n{job.log_tail(60)}"
            facts, dead = _rows(client, table[fact_key]), _rows(client, table["dead_letter"])
            aggs = {k: latest_panes(k, _rows(client, table[k])) for k in expected_aggs}
            if len(facts) >= len(valid) and len(dead) >= len(invalid) and aggs == expected_aggs:
                break
            if time.monotonic() > deadline:
                pytest.fail(
                    f"not there after {DEADLINE_SECONDS}s: {len(facts)}/{len(valid)} facts, "
                    f"{len(dead)}/{len(invalid)} dead letters, aggregates {aggs} != {expected_aggs}\n"
                    f"{job.log_tail(40)}"
                )
            time.sleep(2)
    finally:
        job.stop()

    # Facts: every delivery of a valid message (duplicates included), exactly as validated.
    assert len(facts) == len(valid)
    got = {}
    for r in facts:
        assert r["ingest_time"] is not None and r["publish_time"] is not None
        got[r["message_id"]] = {k: v for k, v in r.items() if k not in ("ingest_time", "publish_time")}
    assert got.keys() == expected_facts.keys()
    for mid, exp in expected_facts.items():
        row = got[mid]
        assert row["event_key"] == exp["event_key"]
        assert validation.format_timestamp(row["event_time"]) == exp["event_time"]
        for name, value in exp.items():
            if name == "event_time":
                continue
            if name in ("total_amount",):
                assert row[name] == Decimal(value)
            elif name == "items":
                assert [{**i, "unit_price": Decimal(i["unit_price"])} for i in value] == row["items"]
            elif name == "promised_delivery_date":
                assert row[name].isoformat() == value
            elif name != "attributes":
                assert row[name] == value, name
        assert row["attributes"] == '{"source":"integration-test"}'
    # Dead letters: every invalid message once, with the reason the validator gives.
    assert len(dead) == len(invalid)
    got_dead = {r["message_id"]: {k: r[k] for k in expected_dead[r["message_id"]]} for r in dead}
    assert got_dead == expected_dead
    # Aggregates: the latest pane of each window equals what we computed over distinct events.
    assert aggs == expected_aggs
