"""The Storage Write API sink through a recording, fault-injecting gRPC proxy in front of bqemulator.

Asserts on what the sink sends (request sizes and row counts, recorded by the proxy) and on what
lands in the emulator's tables.  Faults the emulator cannot produce (transient statuses, row
errors) are injected by the proxy (tests/pipelines/write_api_proxy.py).
"""

from __future__ import annotations

import functools
import hashlib
import random
from collections import Counter
from collections.abc import Iterator

import grpc
import pytest
from apache_beam.io.gcp.pubsub import PubsubMessage
from pipeline_support import NOW, order, run_bundle
from write_api_proxy import Abort, InBandError, RowErrors, WriteApiProxy, faults_in_order

from localdev import provision
from pipelines import bq, dead_letters, generator, system, validation
from pipelines.common import sink, transforms, write_limits
from pipelines.orders import pipeline as orders

pytestmark = pytest.mark.emulators

FIELDS_ERROR, UNSPECIFIED = 1, 0


@pytest.fixture
def proxy(bigquery_emulator) -> Iterator[WriteApiProxy]:
    p = WriteApiProxy(bigquery_emulator.grpc_host).start()
    try:
        yield p
    finally:
        p.stop()


def _writer(dataset: str, table_key: str, proxy: WriteApiProxy) -> sink.WriteRows:
    factory = functools.partial(bq.make_write_client, proxy.address)
    return sink.WriteRows(dataset, table_key, orders.PIPELINE, client_factory=factory, sleep=lambda s: None)


def _parse(messages: list[PubsubMessage]) -> tuple[list[dict], list[dict]]:
    """The pipeline's own parse step: facts and (logical) dead letters."""
    fn = transforms.ParseAndValidate(orders.PIPELINE, clock=lambda: NOW)
    facts, dead = [], []
    for m in messages:
        for out in fn.process(m):
            if getattr(out, "tag", None) == transforms.DEAD_LETTER:
                dead.append(out.value)
            else:
                facts.append(out.value)
    return facts, dead


def _select(project: str, dataset: str, key: str) -> list[dict]:
    client = bq.make_client(project)
    try:
        return [dict(r) for r in client.query(f"SELECT * FROM `{dataset}.{system.table_name(key)}`").result()]
    finally:
        client.close()


def _fact(i: int) -> dict:
    data = generator.encode(order(i, NOW))
    (row,), _ = _parse([PubsubMessage(data, {"i": str(i)}, message_id=f"m-{i}", publish_time=NOW)])
    return row


def _assert_within_limits(proxy: WriteApiProxy) -> None:
    assert proxy.records, "the sink sent nothing"
    for r in proxy.records:
        assert r.size <= write_limits.MAX_REQUEST_BYTES < write_limits.APPEND_ROWS_REQUEST_LIMIT_BYTES
        assert 1 <= r.rows <= write_limits.MAX_ROWS_PER_REQUEST


def test_a_huge_message_and_a_burst_of_invalid_ones_end_as_facts_or_exact_dead_letters(
    proxy: WriteApiProxy, project: str, unique_suffix: str
) -> None:
    rng = random.Random(10)
    huge = rng.randbytes(9_900_000)  # binary, over the 64 KiB contract limit: a dead letter
    burst = [b"{" + rng.randbytes(60 * 1024 - 1) for _ in range(500)]  # invalid JSON, 60 KiB each
    valid = [generator.encode(order(i, NOW)) for i in range(20)]
    payloads = [huge, *burst, *valid]
    messages = [
        PubsubMessage(data, {"n": str(n)}, message_id=f"m-{n}", publish_time=NOW) for n, data in enumerate(payloads)
    ]
    facts, dead = _parse(messages)
    assert (len(facts), len(dead)) == (20, 501)

    dataset = provision.create_dataset_and_tables(project, f"sinkbig_{unique_suffix}")
    run_bundle(_writer(dataset, "orders", proxy), facts)
    run_bundle(_writer(dataset, "dead_letter", proxy), dead)

    _assert_within_limits(proxy)
    assert max(r.size for r in proxy.records) > 8 * 1024 * 1024  # requests are filled, not one row each
    fact_rows = _select(project, dataset, "orders")
    letters = _select(project, dataset, "dead_letter")
    by_message: dict[str, list[dict]] = {}
    for row in letters:
        by_message.setdefault(row["message_id"], []).append(row)
    assert Counter(r["message_id"] for r in fact_rows) == {f"m-{501 + i}": 1 for i in range(20)}
    assert set(by_message) == {f"m-{n}" for n in range(501)}  # every message: a fact or a dead letter
    assert len(by_message["m-0"]) == -(-len(huge) // write_limits.DEAD_LETTER_CHUNK_BYTES)  # 13 chunk rows
    for n in range(501):
        (got,) = dead_letters.reassemble(by_message[f"m-{n}"])
        assert got.ok and got.payload == payloads[n], n
        assert got.sha256 == hashlib.sha256(payloads[n]).hexdigest()


def test_transient_request_and_row_errors_are_retried_and_each_row_written_once(
    proxy: WriteApiProxy, project: str, unique_suffix: str
) -> None:
    proxy.rule = faults_in_order(
        Abort(grpc.StatusCode.UNAVAILABLE),
        InBandError(grpc.StatusCode.INTERNAL),
        Abort(grpc.StatusCode.DEADLINE_EXCEEDED),
        RowErrors({1: UNSPECIFIED, 3: UNSPECIFIED}),  # not invalid rows: the whole request is retried
        InBandError(grpc.StatusCode.RESOURCE_EXHAUSTED),
    )
    dataset = provision.create_dataset_and_tables(project, f"sinkretry_{unique_suffix}")
    facts = [_fact(i) for i in range(6)]
    run_bundle(_writer(dataset, "orders", proxy), facts)

    assert [r.fault for r in proxy.records] == ["Abort", "InBandError", "Abort", "RowErrors", "InBandError", None]
    assert all(r.rows == 6 for r in proxy.records)  # the same rows, sent again
    written = _select(project, dataset, "orders")
    assert Counter(r["message_id"] for r in written) == {f"m-{i}": 1 for i in range(6)}
    assert _select(project, dataset, "dead_letter") == []


def test_retries_are_bounded_then_the_bundle_fails_and_nothing_is_dead_lettered(
    proxy: WriteApiProxy, project: str, unique_suffix: str
) -> None:
    proxy.rule = lambda table, rows, n: Abort(grpc.StatusCode.UNAVAILABLE)
    dataset = provision.create_dataset_and_tables(project, f"sinkfail_{unique_suffix}")
    with pytest.raises(sink.TransientSinkError):
        run_bundle(_writer(dataset, "orders", proxy), [_fact(i) for i in range(3)])
    assert len(proxy.records) == write_limits.MAX_ATTEMPTS
    assert _select(project, dataset, "orders") == []
    assert _select(project, dataset, "dead_letter") == []


def test_only_rows_bigquery_calls_invalid_are_dead_lettered_and_the_rest_resent(
    proxy: WriteApiProxy, project: str, unique_suffix: str
) -> None:
    proxy.rule = faults_in_order(RowErrors({2: FIELDS_ERROR, 4: UNSPECIFIED}))
    dataset = provision.create_dataset_and_tables(project, f"sinkinvalid_{unique_suffix}")
    facts = [_fact(i) for i in range(6)]
    run_bundle(_writer(dataset, "orders", proxy), facts)

    assert [r.rows for r in proxy.records if r.table == "orders"] == [6, 5]  # the invalid row left out
    written = _select(project, dataset, "orders")
    assert Counter(r["message_id"] for r in written) == {f"m-{i}": 1 for i in (0, 1, 3, 4, 5)}
    (letter,) = _select(project, dataset, "dead_letter")
    assert (letter["error_reason"], letter["message_id"]) == (validation.SINK_REJECTED, "m-2")
    assert "injected row error 1" in letter["error_detail"]
    (got,) = dead_letters.reassemble([letter])
    assert got.ok and got.payload is not None and b'"order_id":"O-2"' in got.payload


def test_a_request_refused_as_a_whole_is_split_until_the_bad_row_stands_alone(
    proxy: WriteApiProxy, project: str, unique_suffix: str
) -> None:
    """What bqemulator (and BigQuery, for some errors) does: INVALID_ARGUMENT for the request."""
    facts = [_fact(i) for i in range(8)]
    bad = facts[5]

    def refuse_if_bad_row_inside(table: str, rows: tuple[bytes, ...], n: int) -> InBandError | None:
        if table == "orders" and any(b"O-5" in r for r in rows):
            return InBandError(grpc.StatusCode.INVALID_ARGUMENT, "bad value")
        return None

    proxy.rule = refuse_if_bad_row_inside
    dataset = provision.create_dataset_and_tables(project, f"sinksplit_{unique_suffix}")
    run_bundle(_writer(dataset, "orders", proxy), facts)

    written = _select(project, dataset, "orders")
    assert Counter(r["message_id"] for r in written) == {f"m-{i}": 1 for i in range(8) if i != 5}
    (letter,) = _select(project, dataset, "dead_letter")
    assert (letter["message_id"], letter["event_key"]) == ("m-5", bad["event_key"])
    assert "INVALID_ARGUMENT: bad value" in letter["error_detail"]


def _no_sleep(seconds: float) -> None:
    """Backoff without waiting (module level: the DoFn is pickled by the runner)."""


def test_metrics_count_rows_written_retried_dead_lettered_and_request_bytes(
    proxy: WriteApiProxy, project: str, unique_suffix: str
) -> None:
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter

    proxy.rule = faults_in_order(Abort(grpc.StatusCode.UNAVAILABLE), RowErrors({0: FIELDS_ERROR}))
    dataset = provision.create_dataset_and_tables(project, f"sinkmetrics_{unique_suffix}")
    facts = [_fact(i) for i in range(4)]
    factory = functools.partial(bq.make_write_client, proxy.address)
    p = beam.Pipeline()
    _ = (
        p
        | beam.Create(facts)
        | beam.ParDo(sink.WriteRows(dataset, "orders", orders.PIPELINE, client_factory=factory, sleep=_no_sleep))
    )
    result = p.run()
    result.wait_until_finish()

    metrics = result.metrics().query(MetricsFilter())
    counters = {m.key.metric.name: m.committed for m in metrics["counters"]}
    assert counters["rows_written_orders"] == 3
    assert counters["rows_retried_orders"] == 4 + 3  # the whole request after UNAVAILABLE, then the valid rest
    assert counters["rows_rejected_by_bigquery"] == 1
    distributions = {m.key.metric.name: m.committed for m in metrics["distributions"]}
    for table in ("orders", "dead_letter"):
        sent = [r.size for r in proxy.records if r.table == table]
        got = distributions[f"request_bytes_{table}"]
        assert (got.count, got.sum, got.max) == (len(sent), sum(sent), max(sent)), table
