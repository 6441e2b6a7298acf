"""Shipping: validated shipment status facts, dead letters, status counts and late deliveries per window."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

import apache_beam as beam

from pipelines import validation
from pipelines.common.job import build_job
from pipelines.common.options import AnalyticsOptions
from pipelines.common.transforms import (
    DEAD_LETTER,
    DropRedeliveries,
    ParseAndValidate,
    WindowedSums,
    utc_now,
)

PIPELINE = "shipping"  # config/system.json pipeline name
STATUS_KEYS = ("carrier", "warehouse_id", "status")
STATUS_VALUES = ("shipment_count",)
LATE_KEYS = ("carrier", "warehouse_id")
LATE_VALUES = ("delivered_count", "late_count")


def status_key_values(row: dict) -> Iterable[tuple[tuple, tuple]]:
    """One status event -> ((carrier, warehouse, status), (1,))."""
    yield (row["carrier"], row["warehouse_id"], row["status"]), (1,)


def late_key_values(row: dict) -> Iterable[tuple[tuple, tuple]]:
    """A DELIVERED event -> ((carrier, warehouse), (1, 1 if delivered after the promised date else 0))."""
    if row["status"] == "DELIVERED":
        yield (row["carrier"], row["warehouse_id"]), (1, int(validation.is_late_delivery(row)))


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
    status = distinct | "StatusByWindow" >> WindowedSums(
        PIPELINE, STATUS_KEYS, STATUS_VALUES, status_key_values, clock, job_name
    )
    late = distinct | "LateDeliveriesByWindow" >> WindowedSums(
        PIPELINE, LATE_KEYS, LATE_VALUES, late_key_values, clock, job_name
    )
    return {
        "shipments": facts,
        "dead_letter": parsed[DEAD_LETTER],
        "shipment_status": status,
        "late_shipments": late,
    }


TABLES = ("shipments", "dead_letter", "shipment_status", "late_shipments")  # the tables this job writes


def build(p: beam.Pipeline, options: AnalyticsOptions) -> dict[str, beam.PCollection]:
    """The whole job: read the subscription, transform, write every output to its table."""
    return build_job(p, options, PIPELINE, expand, TABLES)
