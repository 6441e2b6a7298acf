"""Shared helpers for the pipeline tests: valid events, near-valid mutations, expected aggregates."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pipelines import contracts, generator, validation

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)


def order(i: int, t: datetime, **overrides: object) -> dict:
    """A valid order event number ``i`` at ``t`` (the generator's builder: one definition of 'valid')."""
    items = [("SKU-0001", 1 + i % 3, Decimal("4.99")), (f"SKU-{2 + i % 4:04d}", 2, Decimal("12.50"))]
    event = generator.order_event(f"O-{i}", f"C-{i % 5}", f"A-{i % 5}", t, items, currency=("EUR", "USD")[i % 2])
    event.update(overrides)
    return event


def shipment(i: int, t: datetime, status: str, promised: str, **overrides: object) -> dict:
    base = order(i, t)
    event = generator.shipment_event(
        f"S-{i}",
        base,
        status,
        t,
        carrier=("DHL", "UPS")[i % 2],
        warehouse_id=("WH-AMS", "WH-BER")[i % 2],
        promised_delivery_date=datetime.fromisoformat(promised).date(),
    )
    event.update(overrides)
    return event


def window_start(event_time: str, window_seconds: int) -> str:
    ts = int(datetime.fromisoformat(event_time).timestamp())
    return validation.format_timestamp(datetime.fromtimestamp(ts - ts % window_seconds, UTC))


def window_end(start: str, window_seconds: int) -> str:
    return validation.format_timestamp(datetime.fromisoformat(start) + timedelta(seconds=window_seconds))


def expected_aggregates(pipeline: str, facts: Iterable[dict], window_seconds: int) -> dict[str, dict[tuple, dict]]:
    """{table key: {(window_start, *key): sums}} computed independently of the pipeline, over distinct facts."""
    distinct = {f["event_key"]: f for f in facts}.values()
    out: dict[str, dict[tuple, dict]] = defaultdict(dict)

    def add(table: str, key: tuple, values: dict) -> None:
        cur = out[table].setdefault(key, dict.fromkeys(values, 0))
        for k, v in values.items():
            cur[k] += v

    for f in distinct:
        w = window_start(f["event_time"], window_seconds)
        if pipeline == "orders":
            add("order_revenue", (w, f["currency"]), {"revenue": Decimal(f["total_amount"]), "order_count": 1})
            for item in f["items"]:
                q = item["quantity"]
                add(
                    "sku_sales",
                    (w, item["sku"], f["currency"]),
                    {"units": q, "revenue": q * Decimal(item["unit_price"])},
                )
        else:
            add("shipment_status", (w, f["carrier"], f["warehouse_id"], f["status"]), {"shipment_count": 1})
            if f["status"] == "DELIVERED":
                late = int(f["event_time"][:10] > f["promised_delivery_date"])
                add("late_shipments", (w, f["carrier"], f["warehouse_id"]), {"delivered_count": 1, "late_count": late})
    return dict(out)


AGGREGATE_KEYS = {
    "order_revenue": ("currency",),
    "sku_sales": ("sku", "currency"),
    "shipment_status": ("carrier", "warehouse_id", "status"),
    "late_shipments": ("carrier", "warehouse_id"),
}


def latest_panes(table: str, rows: Iterable[dict]) -> dict[tuple, dict]:
    """Aggregate rows -> {(window_start, *key): sums of the highest pane}: what the views read."""
    best: dict[tuple, dict] = {}
    keys = AGGREGATE_KEYS[table]
    for r in rows:
        start = r["window_start"]
        start = validation.format_timestamp(start) if isinstance(start, datetime) else start
        k = (start, *(r[n] for n in keys))
        if k not in best or r["pane_index"] > best[k]["pane_index"]:
            best[k] = r
    skip = {f.name for f in contracts.WINDOW_FIELDS} | set(keys)
    return {
        k: {n: (Decimal(v) if n == "revenue" else v) for n, v in r.items() if n not in skip} for k, r in best.items()
    }


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def run_bundle(fn: Any, rows: list[dict]) -> None:
    """Drive a sink DoFn through its lifecycle as a runner does for one bundle."""
    fn.setup()
    fn.start_bundle()
    for r in rows:
        fn.process(r)
    fn.finish_bundle()
    fn.teardown()


def start_streaming_job(
    pipeline: str, subscription: str, dataset: str, window_seconds: int, env: dict[str, str] | None = None
) -> Any:
    """``python -m pipelines.<name>.main`` on the DirectRunner, streaming, as a developer runs it locally."""
    import os
    import sys
    from pathlib import Path

    from localdev.emulators import ManagedProcess

    repo = Path(__file__).resolve().parents[2]
    return ManagedProcess(
        f"{pipeline}-job",
        [
            sys.executable,
            "-m",
            f"pipelines.{pipeline}.main",
            "--runner=DirectRunner",
            "--streaming",
            f"--input_subscription={subscription}",
            f"--output_dataset={dataset}",
            f"--window_seconds={window_seconds}",
            "--allowed_lateness_seconds=3600",
        ],
        env={**os.environ, "PYTHONPATH": str(repo), **(env or {})},
    ).start()
