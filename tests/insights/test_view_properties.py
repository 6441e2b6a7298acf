"""Every view equals its Python definition on small random datasets, where the edge cases live.

The seeded sample is large and smooth; here hypothesis builds tiny datasets with
ties everywhere (equal times, amounts, durations), single-row groups, one or two
customers per currency, duplicates and late re-publications, which is where
nearest-rank percentiles, tie-sharing quintiles, RANGE windows and the
latest-event rules differ from their near misses.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import insights_oracle as expected
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from insights_fixtures import assert_same, replace_facts

from insights import views

pytestmark = pytest.mark.emulators

T0 = datetime(2026, 3, 1, tzinfo=UTC)
STATUSES = ("CREATED", "SHIPPED", "EXCEPTION", "DELIVERED", "RETURNED")


def _ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class _Writer:
    def __init__(self) -> None:
        self.n = 0
        self.rows: dict[str, list[dict[str, Any]]] = {"orders": [], "shipments": []}

    def deliver(self, table: str, payload: dict[str, Any], published: datetime, copies: int) -> None:
        key = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        for c in range(copies):
            self.n += 1
            self.rows[table].append(
                {
                    **payload,
                    "event_key": key,
                    "message_id": f"m{self.n:05d}",
                    "publish_time": _ts(published),
                    "missing_metadata": [],
                    "attributes": None,
                    "ingest_time": _ts(published + timedelta(seconds=1 + 60 * c)),
                }
            )


order_st = st.fixed_dictionaries(
    {
        "customer": st.integers(0, 3),
        "address": st.integers(0, 4),
        "hours": st.integers(0, 24 * 20).map(lambda h: h - h % 6),  # coarse: equal times are likely
        "lines": st.lists(
            st.tuples(st.integers(0, 3), st.integers(1, 3), st.sampled_from(("1.00", "2.50", "9.99"))),
            min_size=1,
            max_size=3,
        ),
        "currency": st.sampled_from(("EUR", "USD")),
        "billing": st.sampled_from(("DE", "FR")),
        "shipping": st.sampled_from(("DE", "FR")),
        "ip": st.sampled_from((None, "DE", "RU")),
        "card": st.sampled_from((None, "DE", "NG")),
        "copies": st.integers(1, 2),
        "republish": st.booleans(),
        "late_hours": st.sampled_from((0, 0, 30)),
        "shipment": st.one_of(
            st.none(),
            st.tuples(
                st.sampled_from(("DHL", "UPS")),
                st.sampled_from(("W1", "W2")),
                st.lists(st.tuples(st.sampled_from(STATUSES), st.sampled_from((0, 6, 30, 60))), max_size=4),
            ),
        ),
    }
)


def build(orders: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    w = _Writer()
    for i, o in enumerate(orders):
        placed = T0 + timedelta(hours=o["hours"])
        items = [{"sku": f"S{s}", "quantity": q, "unit_price": p} for s, q, p in o["lines"]]
        total = sum((q * Decimal(p) for _, q, p in o["lines"]), Decimal(0))
        payload = {
            "schema_version": 1,
            "order_id": f"O{i}",
            "customer_id": f"C{o['customer']}",
            "customer_address_id": f"A{o['address']}",
            "event_time": _ts(placed),
            "items": items,
            "currency": o["currency"],
            "total_amount": f"{total:.2f}",
            "channel": "WEB",
            "payment_method": "CARD" if o["card"] else "PAYPAL",
            "card_bin_country": o["card"],
            "billing_country": o["billing"],
            "shipping_country": o["shipping"],
            "shipping_region": "R1",
            "shipping_postal_code": "10000",
            "client_ip_country": o["ip"],
        }
        published = placed + timedelta(hours=o["late_hours"])
        w.deliver("orders", payload, published, o["copies"])
        if o["republish"]:
            w.deliver("orders", {**payload, "channel": "CALL_CENTER"}, published + timedelta(minutes=5), 1)
        if o["shipment"]:
            carrier, warehouse, steps = o["shipment"]
            at = placed
            for status, gap in steps:
                at += timedelta(hours=gap)
                event = {
                    "schema_version": 1,
                    "shipment_id": f"S{i}",
                    "order_id": f"O{i}",
                    "customer_id": f"C{o['customer']}",
                    "customer_address_id": "A0",
                    "carrier": carrier,
                    "warehouse_id": warehouse,
                    "status": status,
                    "event_time": _ts(at),
                    "promised_delivery_date": (placed.date() + timedelta(days=2)).isoformat(),
                    "destination_region": "R1",
                }
                w.deliver("shipments", event, at + timedelta(hours=o["late_hours"]), o["copies"])
    return w.rows


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(orders=st.lists(order_st, min_size=1, max_size=10))
def test_views_match_their_definitions_on_small_random_data(empty_dataset, orders: list[dict[str, Any]]) -> None:
    o, s, query = replace_facts(empty_dataset, build(orders))
    cfg = views.tunables()
    hours = cfg["stuck_after_hours"]

    assert_same(query("orders_latest"), expected.orders_latest(o), ("order_id",))
    assert_same(query("sales_daily"), expected.sales_daily(o), ("day", "currency"))
    assert_same(query("product_performance"), expected.product_performance(o), ("sku", "currency"))
    assert_same(query("product_movers"), expected.product_movers(o, s, cfg["movers_window_days"]), ("sku",))
    assert_same(query("customer_segments"), expected.customer_segments(o, s, cfg), ("customer_id", "currency"))
    assert_same(query("fraud_signals"), expected.fraud_signals(o, cfg), ("order_id",))
    if s:
        assert_same(query("shipments_latest"), expected.shipments_latest(o, s, hours), ("shipment_id",))
        assert_same(
            query("fulfillment_efficiency"),
            expected.fulfillment_efficiency(o, s, hours),
            ("level", "carrier", "warehouse_id"),
        )
        assert_same(query("bottlenecks"), expected.bottlenecks(o, s, hours), ("dimension", "value"))
