"""CPU cost per event of the pipelines' hot path, relative to a bare ``orjson.loads``.

For 100,000 generated events per type: CPU time (``time.process_time``) of
parse + validate + to-row (``validation.validate_* `` then ``validation.to_fact_row``,
exactly what ``ParseAndValidate`` does per message) against a bare ``orjson.loads``
of the same payloads, measured in the same run, so the ratio does not depend on the
machine.  Target: orders <= 3.0x.

    python -m bench.pipelines_bench
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import orjson

from pipelines import generator, validation

EVENTS_PER_TYPE = 100_000
ROUNDS = 3  # best of: the least disturbed measurement of each side


class _Message:
    """What ParseAndValidate receives from ReadFromPubSub (PubsubMessage's fields), built outside the timing."""

    __slots__ = ("attributes", "data", "message_id", "publish_time")

    def __init__(self, data: bytes, message_id: str, publish_time: datetime) -> None:
        self.data = data
        self.attributes = {"source": "generator"}
        self.message_id = message_id
        self.publish_time = publish_time


def _payloads(n: int, now: datetime) -> dict[str, list[bytes]]:
    """``n`` valid payloads per pipeline from the seeded generator (repeated if it yields fewer)."""
    out: dict[str, list[bytes]] = {"orders": [], "shipping": []}
    seed = 1
    while min(len(v) for v in out.values()) < n:
        for m in generator.generate(seed, 20_000, now=now, invalid_rate=0.0, duplicate_rate=0.0):
            out[m.pipeline].append(m.data)
        seed += 1
    return {k: v[:n] for k, v in out.items()}


def _cpu(fn: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        gc.collect()
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def measure(pipeline: str, payloads: list[bytes], now: datetime) -> dict[str, float]:
    validate = validation.VALIDATORS[pipeline]
    to_row = validation.to_fact_row
    loads = orjson.loads
    # Distinct publish times per message, as Pub/Sub gives them; one ingest time per call site, as the DoFn.
    messages = [_Message(p, str(i), now - timedelta(microseconds=i)) for i, p in enumerate(payloads)]

    def bare() -> None:
        for p in payloads:
            loads(p)

    def full() -> None:
        for m in messages:
            to_row(validate(m.data, now), m, now)

    base, cost = _cpu(bare), _cpu(full)
    n = len(payloads)
    return {
        "bare_us": base / n * 1e6,
        "full_us": cost / n * 1e6,
        "ratio": cost / base,
        "events_per_s": n / cost,
    }


def run() -> dict[str, float]:
    now = datetime.now(UTC).replace(microsecond=0)
    payloads = _payloads(EVENTS_PER_TYPE, now)
    orders = measure("orders", payloads["orders"], now)
    shipments = measure("shipping", payloads["shipping"], now)
    print(f"Pipelines hot path, {EVENTS_PER_TYPE:,} events per type (CPU time, best of {ROUNDS})")
    print(f"{'events':<10} {'orjson.loads us':>16} {'parse+validate+row us':>22} {'ratio':>7} {'events/s':>10}")
    for name, r in (("orders", orders), ("shipments", shipments)):
        print(f"{name:<10} {r['bare_us']:>16.2f} {r['full_us']:>22.2f} {r['ratio']:>6.2f}x {r['events_per_s']:>10,.0f}")
    print("target: orders ratio <= 3.0")
    results = {
        "orders_cost_ratio": round(orders["ratio"], 3),
        "shipments_cost_ratio": round(shipments["ratio"], 3),
        "orders_events_per_s": round(orders["events_per_s"], 1),
        "shipments_events_per_s": round(shipments["events_per_s"], 1),
    }
    for k, v in results.items():
        print(f"{k}={v}")
    return results


if __name__ == "__main__":
    run()
