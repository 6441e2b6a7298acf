"""The generator is the demo's and the benchmarks' ground truth: it must be deterministic and honest."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from pipelines import contracts, generator

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def messages() -> list[generator.GeneratedMessage]:
    return generator.generate(11, 600, now=NOW)


def test_same_seed_same_stream(messages):
    again = generator.generate(11, 600, now=NOW)
    assert [m.data for m in again] == [m.data for m in messages]
    assert [m.data for m in generator.generate(12, 600, now=NOW)] != [m.data for m in messages]


def test_counts_add_up(messages):
    counts = generator.expected_counts(messages)
    for pipeline, cnt in counts.items():
        published = [m for m in messages if m.pipeline == pipeline]
        assert cnt["published"] == len(published)
        assert cnt["facts"] + cnt["dead_letters"] + cnt["duplicates"] == cnt["published"]
        assert cnt["duplicates"] > 0 and cnt["dead_letters"] > 0


def test_duplicates_are_byte_identical_copies_of_valid_messages(messages):
    originals = {m.data for m in messages if not m.duplicate and m.expected == "fact"}
    dups = [m for m in messages if m.duplicate]
    assert dups and all(d.data in originals and d.expected == "fact" for d in dups)
    distinct_facts = {m.data for m in messages if m.expected == "fact"}
    assert len(distinct_facts) == sum(1 for m in messages if m.expected == "fact" and not m.duplicate)


def test_valid_events_follow_the_contract_shape(messages):
    order_fields = {f.name for f in contracts.ORDER_EVENT_FIELDS}
    shipment_fields = {f.name for f in contracts.SHIPMENT_EVENT_FIELDS}
    for m in messages:
        if m.expected != "fact":
            assert m.planted and m.planted.startswith("invalid:")
            continue
        event = json.loads(m.data)
        assert set(event) == (order_fields if m.pipeline == "orders" else shipment_fields)
        assert datetime.fromisoformat(event["event_time"]) <= NOW
        if m.pipeline == "orders":
            total = sum(Decimal(i["unit_price"]) * i["quantity"] for i in event["items"])
            assert Decimal(event["total_amount"]) == total
            assert event["channel"] in contracts.CHANNELS
        else:
            assert event["status"] in contracts.SHIPMENT_STATUSES


def test_shipments_follow_their_orders(messages):
    order_times = {}
    for m in messages:
        if m.pipeline == "orders" and m.expected == "fact":
            e = json.loads(m.data)
            order_times[e["order_id"]] = datetime.fromisoformat(e["event_time"])
    for m in messages:
        if m.pipeline == "shipping" and m.expected == "fact":
            e = json.loads(m.data)
            if e["order_id"] in order_times:
                assert datetime.fromisoformat(e["event_time"]) >= order_times[e["order_id"]]


def test_planted_patterns_are_present():
    planted = {m.planted for m in generator.generate(3, 2000, now=NOW)}
    for pattern in (
        "fraud:velocity",
        "fraud:country_mismatch",
        "fraud:high_value_new_customer",
        "fraud:many_addresses",
        "late_delivery",
    ):
        assert pattern in planted
