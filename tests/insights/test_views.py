"""Every view, on the seeded sample in the BigQuery emulator, against the same answer computed in Python.

The sample (insights/sample.py) contains redeliveries, corrected re-publications,
late and out-of-order events, stuck shipments, exceptions, returns and fraud-like
orders; insights_oracle.py recomputes each view from the inserted rows.
"""

from __future__ import annotations

import insights_oracle as expected
import pytest
from insights_fixtures import ALLOWED_LATENESS_SECONDS, WINDOW_SECONDS, Loaded, assert_same

from insights import views
from pipelines import window_aggregates

pytestmark = pytest.mark.emulators


def test_sample_has_the_hard_cases(loaded: Loaded) -> None:
    """Guards the proof itself: without duplicates and late events the tests below would prove little."""
    orders, shipments = loaded.rows["orders"], loaded.rows["shipments"]
    assert len(orders) > len({r["event_key"] for r in orders}) > len({r["order_id"] for r in orders})
    assert len(shipments) > len({r["event_key"] for r in shipments})
    assert any((r["publish_time"] - r["event_time"]).total_seconds() > 3600 for r in orders)
    assert any((r["publish_time"] - r["event_time"]).total_seconds() > 3600 for r in shipments)
    assert expected.stuck_shipments(orders, shipments, loaded.tunables["stuck_after_hours"])
    flagged = expected.fraud_signals(orders, loaded.tunables)
    for flag in [k for k in flagged[0] if k.startswith("flag_")]:
        assert any(r[flag] for r in flagged), flag
    assert any(r["needs_review"] for r in flagged)


def test_data_as_of(loaded: Loaded) -> None:
    (row,) = loaded.query("data_as_of")
    assert row["as_of"] == expected.data_as_of(loaded.rows["orders"], loaded.rows["shipments"])


@pytest.mark.parametrize(
    ("view", "table", "key", "oracle"),
    [
        ("orders_deduplicated", "orders", ("event_key",), expected.deduplicated),
        ("shipment_events_deduplicated", "shipments", ("event_key",), expected.deduplicated),
        ("orders_latest", "orders", ("order_id",), expected.orders_latest),
        ("shipment_status_reached", "shipments", ("shipment_id", "status"), expected.shipment_status_reached),
    ],
)
def test_fact_base_views(loaded: Loaded, view: str, table: str, key: tuple[str, ...], oracle) -> None:
    assert_same(loaded.query(view), oracle(loaded.rows[table]), key)


def test_shipments_latest(loaded: Loaded) -> None:
    want = expected.shipments_latest(
        loaded.rows["orders"], loaded.rows["shipments"], loaded.tunables["stuck_after_hours"]
    )
    assert_same(loaded.query("shipments_latest"), want, ("shipment_id",))


@pytest.mark.parametrize(
    ("pipeline", "table"),
    [
        ("orders", "order_revenue"),
        ("orders", "sku_sales"),
        ("shipping", "shipment_status"),
        ("shipping", "late_shipments"),
    ],
)
def test_aggregate_current_views_are_the_facts_with_the_latest_pane_beside(
    loaded: Loaded, pipeline: str, table: str
) -> None:
    """Values from the deduplicated facts (the sample is loaded with redeliveries), whatever the panes
    say; the latest pane and its job beside them; final once the data is past end plus lateness."""
    (aggregate,) = [a for a in window_aggregates.AGGREGATES[pipeline] if a.table == table]
    panes, facts = loaded.rows[table], loaded.rows[window_aggregates.FACT_TABLES[pipeline]]
    assert len({r["pane_index"] for r in panes}) > 1, "the sample must have several panes per window"
    as_of = expected.data_as_of(loaded.rows["orders"], loaded.rows["shipments"])
    want = expected.current_windows(facts, panes, aggregate, WINDOW_SECONDS, ALLOWED_LATENESS_SECONDS, as_of)
    assert {r["is_final"] for r in want} == {True, False}, "the sample must have final and provisional windows"
    agrees = {r["stream_agrees"] for r in want if r["stream_pane_index"] is not None}
    assert agrees == {True, False}, "the sample must have windows a relaunched job's pane gets wrong, and others"
    assert_same(loaded.query(aggregate.view), want, ("window_start", *aggregate.key_fields))


def test_sales_hourly(loaded: Loaded) -> None:
    assert_same(loaded.query("sales_hourly"), expected.sales_hourly(loaded.rows["orders"]), ("hour_start", "currency"))


def test_sales_daily(loaded: Loaded) -> None:
    want = expected.sales_daily(loaded.rows["orders"])
    assert any(r["orders"] and r["revenue_change_pct"] is not None for r in want)
    assert_same(loaded.query("sales_daily"), want, ("day", "currency"))


def test_product_performance(loaded: Loaded) -> None:
    want = expected.product_performance(loaded.rows["orders"])
    assert_same(loaded.query("product_performance"), want, ("sku", "currency"))


def test_product_movers(loaded: Loaded) -> None:
    days = loaded.tunables["movers_window_days"]
    want = expected.product_movers(loaded.rows["orders"], loaded.rows["shipments"], days)
    assert {r["units_change"] for r in want} != {0}
    assert_same(loaded.query("product_movers"), want, ("sku",))


def test_customer_segments(loaded: Loaded) -> None:
    want = expected.customer_segments(loaded.rows["orders"], loaded.rows["shipments"], loaded.tunables)
    assert len({r["segment"] for r in want}) >= 4, "the sample should spread customers over segments"
    assert_same(loaded.query("customer_segments"), want, ("customer_id", "currency"))


def test_fulfillment_efficiency(loaded: Loaded) -> None:
    want = expected.fulfillment_efficiency(
        loaded.rows["orders"], loaded.rows["shipments"], loaded.tunables["stuck_after_hours"]
    )
    assert_same(loaded.query("fulfillment_efficiency"), want, ("level", "carrier", "warehouse_id"))


def test_stuck_shipments(loaded: Loaded) -> None:
    hours = loaded.tunables["stuck_after_hours"]
    want = expected.stuck_shipments(loaded.rows["orders"], loaded.rows["shipments"], hours)
    assert_same(loaded.query("stuck_shipments"), want, ("shipment_id",))


def test_bottlenecks(loaded: Loaded) -> None:
    want = expected.bottlenecks(loaded.rows["orders"], loaded.rows["shipments"], loaded.tunables["stuck_after_hours"])
    assert_same(loaded.query("bottlenecks"), want, ("dimension", "value"))


def test_fraud_signals(loaded: Loaded) -> None:
    want = expected.fraud_signals(loaded.rows["orders"], loaded.tunables)
    assert_same(loaded.query("fraud_signals"), want, ("order_id",))


def test_create_views_again_updates_in_place(loaded: Loaded) -> None:
    """Re-running the deployment (a new release) keeps every view answering the same."""
    before = loaded.query("fraud_signals")
    names = views.create_views(loaded.client, loaded.project, loaded.dataset)
    assert names == [v.name for v in views.deployment_order()]
    assert_same(loaded.query("fraud_signals"), before, ("order_id",))
