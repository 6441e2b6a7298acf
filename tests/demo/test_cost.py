"""The orchestration cost model: its figures follow from its prices and assumptions."""

from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cost import ingest, model, prices, table
from pipelines import tables


def test_polling_estimate_reproduces_the_articles_17_to_18_usd():
    """The original design's authors estimated 17 to 18 USD/month; our step model lands inside that range."""
    figures = model.compare()
    assert 17.0 <= figures["polling_cost_free_tier_usd_month"] <= 18.0


def test_polling_steps_are_polls_times_steps_per_poll():
    a = model.PollingAssumptions()
    polls = a.pipelines * a.days_per_month * 86_400 / a.poll_interval_seconds
    (item,) = model.polling_usage(a).items
    assert item.quantity == pytest.approx(polls * a.steps_per_poll)
    assert item.usd() == pytest.approx(item.quantity / 1_000 * prices.WORKFLOWS_INTERNAL_STEP.usd)


def test_halving_the_poll_interval_doubles_the_polling_cost():
    base = model.polling_usage(model.PollingAssumptions()).usd()
    fast = model.polling_usage(model.PollingAssumptions(poll_interval_seconds=15)).usd()
    assert fast == pytest.approx(2 * base)


def test_event_driven_cost_is_the_sum_of_its_line_items_and_grows_with_failures():
    calm = model.event_driven_usage(model.EventDrivenAssumptions(failures_per_pipeline_month=0))
    stormy = model.event_driven_usage(model.EventDrivenAssumptions(failures_per_pipeline_month=100))
    assert calm.usd() == pytest.approx(sum(i.usd() for i in calm.items))
    assert stormy.usd() > calm.usd()


def test_ratio_and_headline_lines():
    f = model.compare()
    assert f["orchestration_cost_ratio"] == pytest.approx(f["polling_cost_usd_month"] / f["eventdriven_cost_usd_month"])
    # Even at a hundred failures per pipeline per month, events stay far cheaper than polling.
    heavy = model.compare(event_driven=model.EventDrivenAssumptions(failures_per_pipeline_month=100))
    assert heavy["orchestration_cost_ratio"] > 10


def test_free_tier_only_lowers_costs():
    for est in (
        model.polling_usage(model.PollingAssumptions()),
        model.event_driven_usage(model.EventDrivenAssumptions()),
    ):
        assert est.usd(with_free_tier=True) <= est.usd()


@pytest.mark.parametrize("price", prices.ALL, ids=lambda p: p.name)
def test_every_price_names_its_source_and_date(price: prices.Price):
    assert price.source.startswith("https://cloud.google.com/")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", price.checked)
    assert price.usd >= 0 and price.per > 0


def test_assumptions_table_lists_every_field():
    names = {(d, n) for d, n, _ in model.assumptions_table()}
    for f in dataclasses.fields(model.PollingAssumptions):
        assert ("polling", f.name) in names
    for f in dataclasses.fields(model.EventDrivenAssumptions):
        assert ("event-driven", f.name) in names


# -- BigQuery ingestion, both sinks (cost/ingest.py) ------------------------------------------------

MIB, GIB, TIB = 2**20, 2**30, 2**40


def _volume(table: str, rows: float, json_bytes: float, logical: float) -> ingest.TableVolume:
    return ingest.TableVolume(table, rows, json_bytes, ingest.insertall_billed_bytes(int(json_bytes)), logical)


def test_ingest_prices_are_the_published_ones():
    """pricing#data_ingestion_pricing: $0.01 per 200 MiB; $0.025 per GiB with the first 2 TiB free."""
    assert prices.BIGQUERY_STREAMING_INSERT.cost(200) == pytest.approx(0.01)
    assert prices.BIGQUERY_STORAGE_WRITE.cost(1) == pytest.approx(0.025)
    assert prices.BIGQUERY_STORAGE_WRITE.cost(2 * 1024, with_free_tier=True) == 0
    assert prices.BIGQUERY_STORAGE_WRITE.cost(2 * 1024 + 1, with_free_tier=True) == pytest.approx(0.025)


@given(size=st.integers(min_value=0, max_value=10 * MIB))
def test_insertall_bills_at_least_1_kb_per_row(size: int):
    billed = ingest.insertall_billed_bytes(size)
    assert billed >= ingest.INSERTALL_MIN_ROW_BYTES and billed >= size
    assert billed == size or size < ingest.INSERTALL_MIN_ROW_BYTES


def test_the_1_kb_minimum_raises_small_rows_cost():
    """A million 300-byte rows cost as a million 1 KB rows under insertAll, not by their bytes."""
    small = _volume("order_revenue", 1_000_000, 300, 140)
    cost = ingest.costs([small])["ingest_cost_insertall_usd_month"]
    assert cost == pytest.approx(1_000_000 * 1_024 / MIB / 200 * 0.01)
    assert cost > 1_000_000 * 300 / MIB / 200 * 0.01 * 3
    # Rows above 1 KB are billed by their size.
    big = _volume("dead_letter", 1_000_000, 3_000, 2_500)
    assert ingest.costs([big])["ingest_cost_insertall_usd_month"] == pytest.approx(1_000_000 * 3_000 / MIB / 200 * 0.01)


def test_storage_write_free_tier_is_applied_once_over_all_tables():
    """1.5 TiB in each of two tables: 3 TiB in all, 1 TiB billable (not 0, as a per-table allowance gives)."""
    rows = 1.5 * TIB / 1_000
    volumes = [_volume("orders", rows, 2_000, 1_000), _volume("shipments", rows, 2_000, 1_000)]
    figures = ingest.costs(volumes)
    assert figures["ingest_storage_write_gib_month"] == pytest.approx(3 * 1024)
    assert figures["ingest_cost_storage_write_usd_month"] == pytest.approx(3 * 1024 * 0.025)
    assert figures["ingest_cost_storage_write_free_tier_usd_month"] == pytest.approx(1 * 1024 * 0.025)


def test_logical_size_follows_bigquerys_data_size_rules():
    """Data size calculation: INT64/TIMESTAMP/DATE 8, NUMERIC 16, BOOL 1, STRING 2 + UTF-8 bytes, NULL 0,
    RECORD the sum of its fields, REPEATED the sum of its values."""
    from pipelines.contracts import Field

    item = Field("item", "RECORD", "REPEATED", fields=(Field("sku", "STRING"), Field("n", "INT64")))
    fields = (
        Field("id", "STRING"),
        Field("at", "TIMESTAMP"),
        Field("day", "DATE"),
        Field("amount", "NUMERIC"),
        Field("ok", "BOOL"),
        Field("note", "STRING", "NULLABLE"),
        item,
    )
    row = {"id": "é1", "at": "2026-12-01T00:00:00Z", "day": "2026-12-01", "amount": "1.5", "ok": True, "note": None}
    row["item"] = [{"sku": "SKU-1", "n": 2}, {"sku": "S", "n": 1}]
    expected = (2 + 3) + 8 + 8 + 16 + 1 + 0 + ((2 + 5) + 8) + ((2 + 1) + 8)
    assert ingest.logical_bytes(fields, row) == expected


def test_measured_volume_follows_the_stated_rate_and_the_demo_mix():
    base = {v.table: v for v in ingest.measure()}
    double = {v.table: v for v in ingest.measure(ingest.IngestAssumptions(orders_per_day=20_000))}
    a = ingest.IngestAssumptions()
    # Every table the pipelines write is measured, with rows of the measured sizes.
    assert set(base) == {t.key for t in tables.TABLES}
    assert all(v.rows > 0 and v.json_bytes > 0 and v.logical_bytes > 0 for v in base.values())
    # Order facts per month are the stated volume, give or take the demo mix's invalid orders
    # (dead letters instead) and duplicates (written again: at-least-once).
    stated = a.orders_per_day * a.days_per_month
    assert 0.95 * stated <= base["orders"].rows <= 1.05 * stated
    # Facts and dead letters scale with the volume; aggregate rows at most (one pane per window and key).
    for key in ("orders", "shipments", "dead_letter"):
        assert double[key].rows == pytest.approx(2 * base[key].rows)
    for key in ("order_revenue", "sku_sales", "shipment_status", "late_shipments"):
        assert base[key].rows <= double[key].rows <= 2 * base[key].rows
    # One currency in the demo: one revenue row per window, whatever the volume.
    windows = a.days_per_month * 86_400 / a.window_seconds
    assert base["order_revenue"].rows == pytest.approx(windows, rel=0.01)
    # insertAll's per-row minimum makes it bill more bytes than the rows' data size, for every table.
    assert all(v.insertall_bytes >= max(v.json_bytes, ingest.INSERTALL_MIN_ROW_BYTES) for v in base.values())
    assert all(v.logical_bytes < v.insertall_bytes for v in base.values())


def test_ingest_figures_reach_the_table_and_make_bench():
    text = table.render()
    figures = table.run()
    for name in ("ingest_cost_insertall_usd_month", "ingest_cost_storage_write_usd_month"):
        assert name in figures and figures[name] > 0
    assert figures["ingest_cost_insertall_usd_month"] > figures["ingest_cost_storage_write_usd_month"]
    assert "insertAll (1 KB minimum per row)" in text and "Storage Write API" in text
    for v in ingest.measure():
        assert v.table in text
