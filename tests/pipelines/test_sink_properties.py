"""Properties of the sink's pure parts: chunked dead letters, request planning, proto encoding."""

from __future__ import annotations

import base64
import hashlib
import random

import pytest
from google.cloud.bigquery_storage_v1 import types
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines import dead_letters, tables
from pipelines.common import sink, storage_write, write_limits

DEAD = {
    "pipeline": "orders",
    "message_id": "m-1",
    "publish_time": None,
    "missing_metadata": ["publish_time"],
    "attributes": None,
    "payload_text": "x",
    "error_reason": "invalid_json",
    "error_field": None,
    "error_detail": "d",
    "event_key": "k",
    "dead_letter_time": "2026-12-01T12:00:00Z",
}


def _logical(payload: bytes) -> dict:
    return {**DEAD, "payload_base64": base64.b64encode(payload).decode("ascii")}


@settings(max_examples=200, deadline=None)
@given(
    payload=st.binary(max_size=5000), chunk=st.integers(1, 700), seed=st.integers(0, 2**32), copies=st.integers(1, 3)
)
def test_chunks_reassemble_byte_exact_in_any_order_and_with_redelivered_chunks(payload, chunk, seed, copies) -> None:
    rows = dead_letters.chunk_rows(_logical(payload), chunk)
    assert len(rows) == max(1, -(-len(payload) // chunk))
    assert all(len(base64.b64decode(r["payload_base64"])) <= chunk for r in rows)
    assert [r["chunk_index"] for r in rows] == list(range(len(rows)))
    delivered = rows * copies  # at-least-once: chunks may repeat
    random.Random(seed).shuffle(delivered)
    (got,) = dead_letters.reassemble(delivered)
    assert got.ok and got.payload == payload and got.sha256 == hashlib.sha256(payload).hexdigest()
    assert got.first["chunk_index"] == 0 and got.first["payload_text"] == "x"


@settings(max_examples=100, deadline=None)
@given(payload=st.binary(min_size=2, max_size=3000), chunk=st.integers(1, 500), data=st.data())
def test_a_missing_or_altered_chunk_is_reported_never_returned(payload, chunk, data) -> None:
    rows = dead_letters.chunk_rows(_logical(payload), chunk)
    if len(rows) > 1:
        lost = data.draw(st.integers(0, len(rows) - 1))
        (got,) = dead_letters.reassemble(rows[:lost] + rows[lost + 1 :])
        assert not got.ok and got.missing == [lost]
    victim = data.draw(st.integers(0, len(rows) - 1))
    piece = bytearray(base64.b64decode(rows[victim]["payload_base64"]))
    if piece:
        piece[0] ^= 1
        altered = [
            *rows[:victim],
            {**rows[victim], "payload_base64": base64.b64encode(piece).decode()},
            *rows[victim + 1 :],
        ]
        (got,) = dead_letters.reassemble(altered)
        assert not got.ok and got.payload is None


def test_rows_written_before_chunking_are_whole_payloads() -> None:
    (got,) = dead_letters.reassemble([{**_logical(b"abc"), "chunk_index": None, "chunk_count": None}])
    assert got.ok and got.payload == b"abc"


@settings(max_examples=300, deadline=None)
@given(
    data=st.data(),
    max_bytes=st.integers(1, 10_000),
    max_rows=st.integers(1, 50),
)
def test_request_plans_respect_both_bounds_keep_order_and_fill_requests(data, max_bytes, max_rows) -> None:
    sizes = data.draw(st.lists(st.integers(1, max_bytes), max_size=300))
    plan = storage_write.plan_requests(sizes, max_bytes, max_rows)
    assert [i for r in plan for i in r] == list(range(len(sizes)))
    for n, r in enumerate(plan):
        assert 1 <= len(r) <= max_rows
        assert sum(sizes[i] for i in r) <= max_bytes
        if n + 1 < len(plan):  # greedy: the next row did not fit
            assert len(r) == max_rows or sum(sizes[i] for i in r) + sizes[plan[n + 1][0]] > max_bytes


def test_a_row_over_the_budget_is_never_planned() -> None:
    with pytest.raises(ValueError):
        storage_write.plan_requests([5, 11], 10, 5)


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(st.binary(max_size=3000), min_size=1, max_size=40))
def test_the_size_accounting_bounds_the_real_serialized_request(rows) -> None:
    """framed_size and the envelope slack bound what TableWriter actually builds, for any row sizes."""
    writer = sink.TableWriter(client=None, project="p", dataset="d", table_key="dead_letter")
    empty = types.AppendRowsRequest.pb(writer.request([])).ByteSize()
    real = types.AppendRowsRequest.pb(writer.request(rows)).ByteSize()
    assert real <= empty + sum(storage_write.framed_size(len(r)) for r in rows) + storage_write.ENVELOPE_SLACK_BYTES
    assert writer.row_budget + empty + storage_write.ENVELOPE_SLACK_BYTES == write_limits.MAX_REQUEST_BYTES


@settings(max_examples=50, deadline=None)
@given(payload=st.binary(max_size=3 * 1024 * 1024))
def test_every_chunk_row_of_any_payload_fits_a_request(payload) -> None:
    writer = sink.TableWriter(client=None, project="p", dataset="d", table_key="dead_letter")
    for row in dead_letters.chunk_rows({**_logical(payload), "payload_text": "\ufffd" * 8192}):
        assert storage_write.framed_size(len(writer.codec.encode(row))) <= writer.row_budget


def test_the_proto_schema_is_derived_from_the_table_specs() -> None:
    for spec in tables.TABLES:
        proto = storage_write.descriptor("Row", spec.fields)
        assert [f.name for f in proto.field] == [f.name for f in spec.fields]
    codec = storage_write.RowCodec.for_fields("dead_letter", tables.BY_KEY["dead_letter"].fields)
    with pytest.raises(storage_write.InvalidRow, match="chunk_index"):
        codec.encode({**dead_letters.chunk_rows(_logical(b"a"))[0], "chunk_index": "first"})
    with pytest.raises(storage_write.InvalidRow):  # a REQUIRED column left out
        codec.encode({k: v for k, v in dead_letters.chunk_rows(_logical(b"a"))[0].items() if k != "pipeline"})
