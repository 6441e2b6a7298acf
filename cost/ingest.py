"""BigQuery ingestion cost of the pipelines' rows, for both sinks, at the demo's event mix.

The rows are measured, not guessed: a sample of the demo's seeded event stream
(``pipelines.generator.generate`` with the demo's seed and default rates) goes through the
pipelines' own validation (``validation.VALIDATORS``, ``to_fact_row``, ``to_dead_letter_row``),
and the aggregate rows come from the pipelines' own key functions and pane-row builder
(``window_aggregates.AGGREGATES``, ``transforms.ToWindowRows``), every table as it is written.
The stated monthly volume (orders per day, the month length of :mod:`cost.model`) scales the
sample: fact and dead-letter rows in proportion to orders, aggregate rows per event-time window
at the stated rate (the sample's facts are spread over the time the stated rate needs for them,
so each window holds as many facts as it would in production).

Two ways to send the same rows, priced at https://cloud.google.com/bigquery/pricing (data
ingestion; checked 2026-12-01, see :mod:`cost.prices`):

- ``tabledata.insertAll`` (streaming inserts, today's sink): billed per byte of the rows as sent,
  JSON, "individual rows are calculated using a 1 KB minimum". The size of a row is taken as the
  JSON the client library sends for it (``json.dumps`` of the row, as ``insert_rows_json`` does).
- Storage Write API: billed per GiB with the first 2 TiB a month free (per billing account, so
  the allowance is subtracted once from the total, never per table). Rows are counted at their
  BigQuery data size ("Data size calculation": each column by its type, NULL as 0), not at their
  wire size: https://cloud.google.com/bigquery/docs/storage_overview#data_type_sizes.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from cost import prices
from cost.model import DAYS_PER_MONTH
from pipelines import contracts, generator, system, tables, validation, window_aggregates

# insertAll counts a row as at least 1 KB; BigQuery's billing units are binary (MiB, GiB, TiB).
INSERTALL_MIN_ROW_BYTES = 1_024
# Bytes per value by BigQuery type (Data size calculation); STRING and BYTES: 2 + their length.
TYPE_BYTES = {
    "INT64": 8,
    "INTEGER": 8,
    "FLOAT64": 8,
    "FLOAT": 8,
    "NUMERIC": 16,
    "BIGNUMERIC": 32,
    "BOOL": 1,
    "BOOLEAN": 1,
    "DATE": 8,
    "DATETIME": 8,
    "TIME": 8,
    "TIMESTAMP": 8,
    "INTERVAL": 16,
}
# A realistic Dataflow job id (YYYY-MM-DD_HH_MM_SS-<19 digits>) for the job fields of aggregate rows.
SAMPLE_JOB_ID = "2026-12-01_08_00_00-1234567890123456789"
SAMPLE_NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class IngestAssumptions:
    orders_per_day: float = 10_000.0  # the stated volume: a mid-size shop
    days_per_month: float = DAYS_PER_MONTH
    sample_orders: int = 2_000  # orders in the measured sample (their shipments and bad messages follow)
    seed: int = 42  # the demo's seed (localdev/demo.py DemoConfig.seed)
    window_seconds: int = 60  # terraform var.window_seconds default
    panes_per_window: float = 1.0  # ON_TIME only; early or late panes add rows


@dataclass(frozen=True)
class TableVolume:
    """One table's monthly rows and their sizes, as each sink is billed for them."""

    table: str  # logical key in config/system.json
    rows: float  # per month
    json_bytes: float  # mean JSON size of one row as insertAll sends it
    insertall_bytes: float  # mean billed size under insertAll (1 KB minimum per row)
    logical_bytes: float  # mean BigQuery data size of one row (Storage Write API)


class _Message:
    """What ParseAndValidate reads from a PubsubMessage: data, attributes, id and publish time."""

    def __init__(self, m: generator.GeneratedMessage, message_id: str, publish_time: datetime) -> None:
        self.data = m.data
        self.attributes = m.attributes
        self.message_id = message_id
        self.publish_time = publish_time


def insertall_billed_bytes(json_bytes: int) -> int:
    """A row's billed size under tabledata.insertAll: its size, at least 1 KB."""
    return max(INSERTALL_MIN_ROW_BYTES, json_bytes)


def json_bytes(row: Mapping[str, Any]) -> int:
    """The row as google-cloud-bigquery's insert_rows_json puts it in the request body."""
    return len(json.dumps(row, default=str).encode())


def _value_bytes(field: contracts.Field, value: Any) -> int:
    if value is None:
        return 0
    if field.type in ("RECORD", "STRUCT"):
        return sum(_value_bytes(f, value.get(f.name)) for f in field.fields)
    if field.type in ("STRING", "BYTES", "JSON"):
        text = value if isinstance(value, (str, bytes)) else json.dumps(value)
        return 2 + len(text.encode() if isinstance(text, str) else text)
    return TYPE_BYTES[field.type]


def logical_bytes(fields: Sequence[contracts.Field], row: Mapping[str, Any]) -> int:
    """BigQuery's data size of a row: each column by type, NULL 0, repeated fields summed."""
    total = 0
    for f in fields:
        value = row.get(f.name)
        if f.mode == "REPEATED":
            total += sum(_value_bytes(f, v) for v in value or [])
        else:
            total += _value_bytes(f, value)
    return total


def _volume(table: str, rows: Sequence[Mapping[str, Any]], rows_per_month: float) -> TableVolume:
    fields = tables.BY_KEY[table].fields
    sizes = [json_bytes(r) for r in rows]
    n = max(len(rows), 1)
    return TableVolume(
        table=table,
        rows=rows_per_month,
        json_bytes=sum(sizes) / n,
        insertall_bytes=sum(insertall_billed_bytes(s) for s in sizes) / n,
        logical_bytes=sum(logical_bytes(fields, r) for r in rows) / n,
    )


def _pane_rows(pipeline: str, facts: list[dict], a: IngestAssumptions) -> dict[str, list[dict]]:
    """Aggregate rows of ``facts`` as ToWindowRows writes them (one ON_TIME pane per window and key)."""
    from apache_beam.transforms.window import IntervalWindow
    from apache_beam.utils.timestamp import Timestamp
    from apache_beam.utils.windowed_value import PaneInfo, PaneInfoTiming

    from pipelines.common.transforms import ToWindowRows

    out: dict[str, list[dict]] = {}
    pane = PaneInfo(True, True, PaneInfoTiming.ON_TIME, 0, 0)
    for agg in window_aggregates.AGGREGATES[pipeline]:
        to_rows = ToWindowRows(pipeline, agg.key_fields, agg.value_fields, clock=lambda: SAMPLE_NOW)
        to_rows.job = {"job_id": SAMPLE_JOB_ID, "job_name": system.job_name(pipeline, 1), "job_attempt": 1}
        rows = []
        for (start, *key), values in window_aggregates.expected_windows(agg, facts, a.window_seconds).items():
            begin = Timestamp.from_utc_datetime(start)
            win = IntervalWindow(begin, begin + a.window_seconds)
            sums = tuple(values[name] for name in agg.value_fields)
            sums = tuple(Decimal(v) if isinstance(v, str) else v for v in sums)
            rows.extend(to_rows.process((tuple(key), sums), win=win, pane=pane))
        out[agg.table] = rows
    return out


def _spread(facts: list[dict], per_day: float, rng: random.Random) -> tuple[list[dict], float]:
    """The facts at the stated rate: event times spread uniformly over the days they take at it."""
    days = len(facts) / per_day
    out = []
    for row in facts:
        moved = dict(row)
        at = SAMPLE_NOW - timedelta(days=days * rng.random())
        moved["event_time"] = validation.format_timestamp(at)
        out.append(moved)
    return out, days


@cache
def measure(a: IngestAssumptions = IngestAssumptions()) -> tuple[TableVolume, ...]:
    """Every table's monthly rows and row sizes at the stated volume, from the measured sample."""
    messages = generator.generate(a.seed, a.sample_orders, now=SAMPLE_NOW)
    rows: dict[str, list[dict]] = {}
    facts: dict[str, list[dict]] = {p: [] for p in window_aggregates.FACT_TABLES}
    for i, m in enumerate(messages):
        message = _Message(m, str(10_000_000_000 + i), SAMPLE_NOW)
        try:
            row = validation.to_fact_row(validation.VALIDATORS[m.pipeline](m.data, SAMPLE_NOW), message, SAMPLE_NOW)
        except validation.InvalidEvent as e:
            rows.setdefault("dead_letter", []).append(validation.to_dead_letter_row(m.pipeline, message, e, SAMPLE_NOW))
            continue
        rows.setdefault(window_aggregates.FACT_TABLES[m.pipeline], []).append(row)
        facts[m.pipeline].append(row)
    scale = a.orders_per_day * a.days_per_month / a.sample_orders  # sample rows -> rows per month
    volumes = [_volume(table, sample, len(sample) * scale) for table, sample in sorted(rows.items())]
    rng = random.Random(a.seed)
    for pipeline, pipeline_facts in sorted(facts.items()):
        per_day = len(pipeline_facts) * scale / a.days_per_month
        distinct = list({r["event_key"]: r for r in pipeline_facts}.values())  # DropRedeliveries
        spread, days = _spread(distinct, per_day, rng)
        for table, sample in sorted(_pane_rows(pipeline, spread, a).items()):
            per_month = len(sample) * a.panes_per_window * a.days_per_month / days
            volumes.append(_volume(table, sample, per_month))
    return tuple(volumes)


def costs(volumes: Iterable[TableVolume]) -> dict[str, float]:
    """Monthly USD for each sink, list price and with the Storage Write API's free 2 TiB."""
    volumes = list(volumes)
    insertall = sum(v.rows * v.insertall_bytes for v in volumes)
    storage_write = sum(v.rows * v.logical_bytes for v in volumes)
    return {
        "ingest_rows_month": sum(v.rows for v in volumes),
        "ingest_insertall_gib_month": insertall / 2**30,
        "ingest_storage_write_gib_month": storage_write / 2**30,
        "ingest_cost_insertall_usd_month": prices.BIGQUERY_STREAMING_INSERT.cost(insertall / 2**20),
        "ingest_cost_storage_write_usd_month": prices.BIGQUERY_STORAGE_WRITE.cost(storage_write / 2**30),
        "ingest_cost_storage_write_free_tier_usd_month": prices.BIGQUERY_STORAGE_WRITE.cost(
            storage_write / 2**30, with_free_tier=True
        ),
    }


def assumptions_table() -> list[tuple[str, str, object]]:
    return [("ingest", k, v) for k, v in asdict(IngestAssumptions()).items()]
