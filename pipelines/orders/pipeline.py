"""Orders: validated order facts, dead letters, revenue per currency and sales per SKU per event-time window."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal

import apache_beam as beam

from pipelines.common.job import build_job
from pipelines.common.options import AnalyticsOptions
from pipelines.common.transforms import (
    DEAD_LETTER,
    DropRedeliveries,
    ParseAndValidate,
    WindowedSums,
    utc_now,
)

PIPELINE = "orders"  # config/system.json pipeline name
REVENUE_KEYS = ("currency",)
REVENUE_VALUES = ("revenue", "order_count")
SKU_KEYS = ("sku", "currency")
SKU_VALUES = ("units", "revenue")


def revenue_key_values(row: dict) -> Iterable[tuple[tuple, tuple]]:
    """One order -> ((currency,), (total_amount, 1))."""
    yield (row["currency"],), (Decimal(row["total_amount"]), 1)


def sku_key_values(row: dict) -> Iterable[tuple[tuple, tuple]]:
    """One order -> per line ((sku, currency), (quantity, quantity * unit_price))."""
    for item in row["items"]:
        q = item["quantity"]
        yield (item["sku"], row["currency"]), (q, q * Decimal(item["unit_price"]))


def expand(
    messages: beam.PCollection,
    window_seconds: int,
    allowed_lateness_seconds: int,
    clock: Callable[[], datetime] = utc_now,
    job_name: str | None = None,
) -> dict[str, beam.PCollection]:
    """Messages -> {table key: rows}; no I/O, so tests drive it with TestStream and assert_that.

    ``job_name`` is the fallback name written on aggregate rows when the worker's environment
    does not say which job it is (see pipelines/common/job_identity.py).
    """
    parsed = messages | "ParseAndValidate" >> beam.ParDo(ParseAndValidate(PIPELINE, clock)).with_outputs(
        DEAD_LETTER, main="facts"
    )
    facts = parsed.facts
    distinct = facts | "DropRedeliveries" >> DropRedeliveries(PIPELINE, window_seconds, allowed_lateness_seconds)
    revenue = distinct | "RevenueByWindow" >> WindowedSums(
        PIPELINE, REVENUE_KEYS, REVENUE_VALUES, revenue_key_values, clock, job_name
    )
    sku_sales = distinct | "SkuSalesByWindow" >> WindowedSums(
        PIPELINE, SKU_KEYS, SKU_VALUES, sku_key_values, clock, job_name
    )
    return {
        "orders": facts,
        "dead_letter": parsed[DEAD_LETTER],
        "order_revenue": revenue,
        "sku_sales": sku_sales,
    }


TABLES = ("orders", "dead_letter", "order_revenue", "sku_sales")  # the tables this job writes


def build(p: beam.Pipeline, options: AnalyticsOptions) -> dict[str, beam.PCollection]:
    """The whole job: read the subscription, transform, write every output to its table."""
    return build_job(p, options, PIPELINE, expand, TABLES)
