"""The per-window aggregates as the pipelines define them, computed from fact rows in plain Python.

The pipelines' own key/value functions (``pipelines/<name>/pipeline.py``) and Beam's
fixed-window arithmetic, applied to deduplicated fact rows: the independent answer that
``localdev/aggregates_check.py`` holds the ``*_by_window_current`` views against, that the
insight tests use as their oracle, and that the report's sample streams panes from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pipelines import system, validation
from pipelines.orders import pipeline as orders
from pipelines.shipping import pipeline as shipping

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROS = timedelta(microseconds=1)
FACT_TABLES = {orders.PIPELINE: "orders", shipping.PIPELINE: "shipments"}  # pipeline -> logical fact table


@dataclass(frozen=True)
class Aggregate:
    """One aggregate table as the pipeline defines it: its key and value fields and how a fact feeds it."""

    table: str  # logical key in config/system.json, e.g. order_revenue
    key_fields: tuple[str, ...]
    value_fields: tuple[str, ...]
    key_values: Callable[[dict], Iterable[tuple[tuple, tuple]]]

    @property
    def view(self) -> str:
        return f"{system.table_name(self.table)}_current"


AGGREGATES: dict[str, tuple[Aggregate, ...]] = {
    orders.PIPELINE: (
        Aggregate("order_revenue", orders.REVENUE_KEYS, orders.REVENUE_VALUES, orders.revenue_key_values),
        Aggregate("sku_sales", orders.SKU_KEYS, orders.SKU_VALUES, orders.sku_key_values),
    ),
    shipping.PIPELINE: (
        Aggregate("shipment_status", shipping.STATUS_KEYS, shipping.STATUS_VALUES, shipping.status_key_values),
        Aggregate("late_shipments", shipping.LATE_KEYS, shipping.LATE_VALUES, shipping.late_key_values),
    ),
}


def window_start(event_time: datetime, window_seconds: int) -> datetime:
    """Beam's FixedWindows(window_seconds) start for an event time (exact, in microseconds)."""
    micros = (event_time - EPOCH) // MICROS
    return EPOCH + (micros - micros % (window_seconds * 1_000_000)) * MICROS


def _as_datetime(value: datetime | str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value


def _as_pipeline_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A fact row (as BigQuery returns it, or as inserted) in the text form the key/value functions take."""
    out = dict(row)
    for name, value in row.items():
        if isinstance(value, datetime):
            out[name] = validation.format_timestamp(value)
        elif isinstance(value, date):
            out[name] = value.isoformat()
    return out


def expected_windows(
    aggregate: Aggregate, facts: Iterable[Mapping[str, Any]], window_seconds: int
) -> dict[tuple, dict[str, Any]]:
    """{(window_start, *key): {value field: sum}} over the facts, one per ``event_key``."""
    seen: set[str] = set()
    sums: dict[tuple, list[Any]] = {}
    for row in facts:
        if row["event_key"] in seen:
            continue
        seen.add(row["event_key"])
        start = window_start(_as_datetime(row["event_time"]), window_seconds)
        for key, values in aggregate.key_values(_as_pipeline_row(row)):
            acc = sums.setdefault((start, *key), [0] * len(values))
            for i, v in enumerate(values):
                acc[i] += v
    return {k: dict(zip(aggregate.value_fields, v, strict=True)) for k, v in sums.items()}
