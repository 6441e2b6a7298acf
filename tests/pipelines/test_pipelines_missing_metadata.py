"""Messages without a Pub/Sub message id or publish time still become exactly one fact or dead letter.

On Dataflow the SDK never reads Pub/Sub itself: the service's native source hands it
serialized ``PubsubMessage`` protos and ``PubsubMessage._from_proto_str`` takes the id and
publish time from whatever was filled in (README "What Dataflow fills").  The emulator and
the DirectRunner always fill both, so these tests build the messages the way Dataflow's
path does: a real proto, serialized without the field, parsed by Beam's own parser.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.io.gcp.pubsub import PubsubMessage
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from google.cloud import pubsub
from hypothesis import given, settings
from hypothesis import strategies as st
from pipeline_support import NOW, order, run_bundle

from localdev import provision
from pipelines import bq, dead_letters, generator, system, tables, validation
from pipelines import contracts as c
from pipelines.common import sink
from pipelines.common.transforms import DEAD_LETTER, FixedClock, ParseAndValidate
from pipelines.orders import pipeline as orders

REPO = Path(__file__).resolve().parents[2]
CLOCK = FixedClock(NOW)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Which metadata a delivery lacks: every combination.
MISSING = ((), ("message_id",), ("publish_time",), ("message_id", "publish_time"))
# A sample of what the generator publishes, valid and invalid, for both pipelines.
SAMPLE = generator.generate(5, 120, now=NOW, invalid_rate=0.3, duplicate_rate=0.05)


def dataflow_message(
    data: bytes | None, message_id: str | None, publish_time: datetime | None, attributes: dict | None = None
) -> PubsubMessage:
    """The element Dataflow's path yields: a serialized proto with only the fields given, parsed by Beam."""
    proto = pubsub.types.PubsubMessage(data=data or b"", attributes=attributes or {"source": "test"})
    if message_id is not None:
        proto.message_id = message_id
    if publish_time is not None:
        proto.publish_time = publish_time
    return PubsubMessage._from_proto_str(pubsub.types.PubsubMessage.serialize(proto))


def lacking(data: bytes, missing: tuple[str, ...], i: int = 1) -> PubsubMessage:
    return dataflow_message(
        data,
        None if "message_id" in missing else f"m-{i}",
        None if "publish_time" in missing else NOW - timedelta(seconds=i),
    )


# ---------------------------------------------------------------- what counts as absent


def test_beams_proto_parser_gives_an_empty_id_and_no_publish_time_for_unset_fields() -> None:
    """The shapes the row builders must treat as absent: Beam's parser, not our guess."""
    m = dataflow_message(b"x", None, None)
    assert (m.message_id, m.publish_time) == ("", None)
    zero = dataflow_message(b"x", None, EPOCH)  # a zero Timestamp written explicitly
    assert zero.publish_time == EPOCH


@pytest.mark.parametrize(
    ("message_id", "publish_time", "expected"),
    [
        ("m-1", NOW, ("m-1", "2026-12-01T12:00:00Z", [])),
        ("", NOW, (None, "2026-12-01T12:00:00Z", ["message_id"])),
        (None, NOW, (None, "2026-12-01T12:00:00Z", ["message_id"])),
        ("m-1", None, ("m-1", None, ["publish_time"])),
        ("m-1", EPOCH, ("m-1", None, ["publish_time"])),
        ("m-1", EPOCH.replace(tzinfo=None), ("m-1", None, ["publish_time"])),
        ("", None, (None, None, ["message_id", "publish_time"])),
        (None, EPOCH, (None, None, ["message_id", "publish_time"])),
    ],
)
def test_message_metadata_names_what_is_absent(message_id, publish_time, expected) -> None:
    m = PubsubMessage(b"x", {}, message_id=message_id, publish_time=publish_time)
    assert validation.message_metadata(m) == expected


# ---------------------------------------------------------------- ParseAndValidate


def _outputs(pipeline: str, message: PubsubMessage) -> tuple[list[dict], list[dict]]:
    facts, dead = [], []
    for out in ParseAndValidate(pipeline, CLOCK).process(message):
        if isinstance(out, beam.pvalue.TaggedOutput):
            assert out.tag == DEAD_LETTER
            dead.append(out.value)
        else:
            facts.append(out.value)
    return facts, dead


@settings(max_examples=120, deadline=None)
@given(
    m=st.sampled_from(SAMPLE),
    missing=st.sampled_from(MISSING),
    empty_id=st.sampled_from(("", None)),
    unset_time=st.sampled_from((None, EPOCH)),
)
def test_any_missing_metadata_still_gives_exactly_one_row(m, missing, empty_id, unset_time) -> None:
    """Whatever metadata is absent (and however the runner spells "absent"), the outcome is the payload's."""
    msg = PubsubMessage(
        m.data,
        dict(m.attributes) or {"source": "test"},
        message_id=empty_id if "message_id" in missing else "m-7",
        publish_time=unset_time if "publish_time" in missing else NOW,
    )
    facts, dead = _outputs(m.pipeline, msg)
    assert len(facts) + len(dead) == 1
    (row,) = facts or dead
    assert ("fact" if facts else "dead_letter") == m.expected
    table = ("orders" if m.pipeline == "orders" else "shipments") if facts else "dead_letter"
    columns = {f.name for f in tables.BY_KEY[table].fields}
    if dead:  # the sink splits a dead letter into chunk rows; each chunk row has every column
        assert set(row) == columns - set(dead_letters.CHUNK_FIELDS)
        assert all(set(chunk) == columns for chunk in dead_letters.chunk_rows(row))
    else:
        assert set(row) == columns
    assert row["missing_metadata"] == list(missing)
    assert row["message_id"] == (None if "message_id" in missing else "m-7")
    assert row["publish_time"] == (None if "publish_time" in missing else "2026-12-01T12:00:00Z")
    assert row["event_key"] == hashlib.sha256(m.data).hexdigest()
    if dead:
        assert base64.b64decode(row["payload_base64"]) == m.data


def test_the_pipeline_keeps_every_message_and_counts_those_without_metadata() -> None:
    """Valid and invalid payloads under each combination of missing metadata, through the real graph."""
    t = NOW - timedelta(minutes=10)
    valid = [lacking(generator.encode(order(i, t)), missing, i) for i, missing in enumerate(MISSING)]
    invalid = [lacking(b"not json %d" % i, missing, 10 + i) for i, missing in enumerate(MISSING)]
    p = TestPipeline()
    out = orders.expand(p | beam.Create(valid + invalid), 60, 120, CLOCK)
    assert_that(
        out["orders"] | "Facts" >> beam.Map(lambda r: (r["order_id"], r["message_id"], tuple(r["missing_metadata"]))),
        equal_to([(f"O-{i}", None if "message_id" in m else f"m-{i}", m) for i, m in enumerate(MISSING)]),
        label="facts",
    )
    assert_that(
        out["dead_letter"]
        | "Dead" >> beam.Map(lambda r: (r["error_reason"], r["message_id"], tuple(r["missing_metadata"]))),
        equal_to([("invalid_json", None if "message_id" in m else f"m-{10 + i}", m) for i, m in enumerate(MISSING)]),
        label="dead letters",
    )
    result = p.run()
    result.wait_until_finish()
    counters = {
        r.key.metric.name: r.committed
        for r in result.metrics().query(MetricsFilter().with_namespace(orders.PIPELINE))["counters"]
    }
    assert (counters["read"], counters["valid"], counters["dead_lettered"]) == (8, 4, 4)
    assert counters["messages_without_metadata"] == 6  # three combinations lack something, valid and invalid


# ---------------------------------------------------------------- the sink, against the emulator


def _select(client, dataset: str, key: str) -> list[dict]:
    return [dict(r) for r in client.query(f"SELECT * FROM `{dataset}.{system.table_name(key)}`").result()]


@pytest.mark.emulators
def test_bigquery_accepts_facts_and_dead_letters_without_metadata(
    bigquery_emulator, project: str, unique_suffix: str
) -> None:
    dataset = provision.create_dataset_and_tables(project, f"nometa_{unique_suffix}")
    facts, dead = [], []
    for i, missing in enumerate(MISSING):
        good, bad = lacking(generator.encode(order(i, NOW)), missing, i), lacking(b"{%d" % i, missing, 10 + i)
        facts.append(validation.to_fact_row(validation.validate_order(good.data, NOW), good, NOW))
        dead.append(validation.to_dead_letter_row(orders.PIPELINE, bad, validation.InvalidEvent("invalid_json"), NOW))
    # A row that passed validation but that BigQuery refuses keeps its missing_metadata in the dead letter.
    refused_msg = lacking(generator.encode(order(9, NOW)), ("message_id", "publish_time"), 9)
    refused = {
        **validation.to_fact_row(validation.validate_order(refused_msg.data, NOW), refused_msg, NOW),
        "schema_version": "not a number",
    }
    run_bundle(sink.WriteRows(dataset, "orders", orders.PIPELINE), [*facts, refused])
    run_bundle(sink.WriteRows(dataset, "dead_letter", orders.PIPELINE), dead)

    client = bq.make_client(project)
    try:
        written = {r["order_id"]: r for r in _select(client, dataset, "orders")}
        letters = _select(client, dataset, "dead_letter")
    finally:
        client.close()
    assert sorted(written) == [f"O-{i}" for i in range(len(MISSING))]
    for i, missing in enumerate(MISSING):
        row = written[f"O-{i}"]
        assert row["missing_metadata"] == list(missing)
        assert (row["message_id"] is None) == ("message_id" in missing)
        assert (row["publish_time"] is None) == ("publish_time" in missing)
    invalid = {
        base64.b64decode(r["payload_base64"]): (r["message_id"], tuple(r["missing_metadata"]))
        for r in letters
        if r["error_reason"] == "invalid_json"
    }
    assert invalid == {b"{%d" % i: (None if "message_id" in m else f"m-{10 + i}", m) for i, m in enumerate(MISSING)}
    (rejected,) = [r for r in letters if r["error_reason"] == "sink_rejected"]
    assert (rejected["message_id"], rejected["publish_time"]) == (None, None)
    assert rejected["missing_metadata"] == ["message_id", "publish_time"]
    assert rejected["event_key"] == refused["event_key"]


# ---------------------------------------------------------------- schemas: NULLABLE everywhere


def _modes(schema: list[dict]) -> dict[str, tuple[str, str]]:
    return {f["name"]: (f["type"], f["mode"]) for f in schema}


WANTED = {
    "message_id": ("STRING", "NULLABLE"),
    "publish_time": ("TIMESTAMP", "NULLABLE"),
    "missing_metadata": ("STRING", "REPEATED"),
}
ROW_TABLES = ("orders", "shipments", "dead_letter")


def test_metadata_columns_are_nullable_in_the_contracts_and_terraform_schemas() -> None:
    assert c.MESSAGE_METADATA == ("message_id", "publish_time")
    for key in ROW_TABLES:
        spec = tables.BY_KEY[key]
        assert {n: m for n, m in _modes(spec.schema()).items() if n in WANTED} == WANTED, key
        on_disk = json.loads((REPO / "terraform" / "schemas" / f"{spec.table_id}.json").read_text())
        assert {n: m for n, m in _modes(on_disk).items() if n in WANTED} == WANTED, key


@pytest.mark.emulators
def test_metadata_columns_are_nullable_in_the_emulator_tables(
    bigquery_emulator, project: str, unique_suffix: str
) -> None:
    dataset = provision.create_dataset_and_tables(project, f"nullable_{unique_suffix}")
    client = bq.make_client(project)
    try:
        for key in ROW_TABLES:
            table = client.get_table(f"{dataset}.{system.table_name(key)}")
            got = {f.name: (f.field_type, f.mode) for f in table.schema if f.name in WANTED}
            assert got == WANTED, key
    finally:
        client.close()
