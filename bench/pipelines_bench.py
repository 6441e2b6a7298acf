"""CPU cost per event of the pipelines' hot path, against a bare ``orjson.loads`` and against faithful peers.

Per pipeline, over the same generated payloads, every candidate is timed in each
of ``ROUNDS`` interleaved rounds (CPU time, ``time.process_time``; a first round is a
warm-up that is not kept).  A round is ``SLICES`` steps: in each, every candidate runs
on the same slice of the events, back to back, in an order that rotates at every step:

- ``floor``: a bare ``orjson.loads`` of each payload;
- ``full``: parse + validate + to-row (``validation.validate_*`` then
  ``validation.to_fact_row``, exactly what ``ParseAndValidate`` does per message);
- ``project``: ``validation.validate_*`` alone;
- each faithful peer of ``bench.peers`` (pydantic v2, msgspec), which do what
  ``project`` does.

A ratio is the median over rounds of the per-round ratio, printed with its
spread (min..max): a burst of load on a shared machine lands on the candidates of
one step together (milliseconds apart), not on one side of the comparison.  Targets:
``orders_cost_ratio`` (full / floor) <= 3.0; ``*_vs_best_peer_ratio``
(project / fastest faithful peer in the same round) < 1.0.

    python -m bench.pipelines_bench
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import orjson

from bench import peers, variants
from pipelines import generator, validation

EVENTS_PER_TYPE = 20_000  # per candidate per round
ROUNDS = 41  # kept rounds; one more runs first as a warm-up
WARMUP_ROUNDS = 1
SLICES = 10  # steps per round; each candidate runs on EVENTS_PER_TYPE / SLICES events per step


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
        for m in generator.generate(seed, max(n, 100), now=now, invalid_rate=0.0, duplicate_rate=0.0):
            out[m.pipeline].append(m.data)
        seed += 1
    return {k: v[:n] for k, v in out.items()}


def interleaved(
    candidates: dict[str, Callable[[int, int], None]], n: int, rounds: int, warmup: int, slices: int = 1
) -> dict[str, list[float]]:
    """CPU seconds of every candidate over the ``n`` events, in each kept round.

    Each candidate is called with the bounds ``(lo, hi)`` of one slice of the events; all
    candidates run on a slice back to back before the next slice, the order rotating at every
    step, so two sides of a ratio are never more than a slice apart in time.  The collector is off
    while timing and runs between steps (as ``timeit`` does), so no candidate pays for another's
    garbage.
    """
    names = list(candidates)
    bounds = [(n * i // slices, n * (i + 1) // slices) for i in range(slices)]
    kept: dict[str, list[float]] = {name: [] for name in names}
    step = 0
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(warmup + rounds):
            total = dict.fromkeys(names, 0.0)
            for lo, hi in bounds:
                shift = step % len(names)
                step += 1
                for name in names[shift:] + names[:shift]:
                    started = time.process_time()
                    candidates[name](lo, hi)
                    total[name] += time.process_time() - started
                gc.collect()
            if r >= warmup:
                for name in names:
                    kept[name].append(total[name])
    finally:
        if was_enabled:
            gc.enable()
    return kept


def spread(per_round: list[float]) -> dict[str, float]:
    """Median, min and max of per-round ratios."""
    return {"median": statistics.median(per_round), "min": min(per_round), "max": max(per_round)}


def measure(pipeline: str, payloads: list[bytes], now: datetime, rounds: int = ROUNDS) -> dict[str, dict]:
    """Per-round times of every candidate, and the ratios built from them (see the module docstring)."""
    check = [(f"generated #{i}", p) for i, p in enumerate(payloads)]
    check += [(case.label, case.data) for case in variants.CASES[pipeline](now)]
    faithful = peers.faithful_peers(pipeline, check, now)
    validate = validation.VALIDATORS[pipeline]
    to_row = validation.to_fact_row
    loads = orjson.loads
    # Distinct publish times per message, as Pub/Sub gives them; one ingest time per call site, as the DoFn.
    messages = [_Message(p, str(i), now - timedelta(microseconds=i)) for i, p in enumerate(payloads)]

    def floor(lo: int, hi: int) -> None:
        for p in payloads[lo:hi]:
            loads(p)

    def full(lo: int, hi: int) -> None:
        for m in messages[lo:hi]:
            to_row(validate(m.data, now), m, now)

    def project(lo: int, hi: int) -> None:
        for p in payloads[lo:hi]:
            validate(p, now)

    def peer_run(peer_validate: Callable[[bytes, datetime], object]) -> Callable[[int, int], None]:
        def run(lo: int, hi: int) -> None:
            for p in payloads[lo:hi]:
                peer_validate(p, now)

        return run

    candidates = {"floor": floor, "full": full, "project": project}
    candidates |= {peer.name: peer_run(peer.validate) for peer in faithful}
    n = len(payloads)
    t = interleaved(candidates, n, rounds, WARMUP_ROUNDS, SLICES)
    out: dict[str, dict] = {
        "cost": spread([f / b for f, b in zip(t["full"], t["floor"], strict=True)]),
        "events_per_s": {"median": n / statistics.median(t["full"])},
        "us": {name: statistics.median(v) / n * 1e6 for name, v in t.items()},
        "to_floor": {name: spread([x / b for x, b in zip(v, t["floor"], strict=True)]) for name, v in t.items()},
    }
    if faithful:
        best = [min(t[peer.name][r] for peer in faithful) for r in range(rounds)]
        out["vs_best_peer"] = spread([p / b for p, b in zip(t["project"], best, strict=True)])
    return out


def _fmt(s: dict[str, float]) -> str:
    return f"{s['median']:.2f}x ({s['min']:.2f}..{s['max']:.2f})"


def _print(name: str, r: dict[str, dict]) -> None:
    print(f"{name}: median of {ROUNDS} interleaved rounds of {EVENTS_PER_TYPE:,} events (min..max over rounds)")
    print(f"  {'candidate':<26}{'us/event':>10}  {'vs orjson.loads':>24}")
    labels = {"floor": "orjson.loads (floor)", "full": "parse+validate+row", "project": "parse+validate (project)"}
    for candidate, us in r["us"].items():
        print(f"  {labels.get(candidate, candidate + ' (peer)'):<26}{us:>10.2f}  {_fmt(r['to_floor'][candidate]):>24}")
    if "vs_best_peer" in r:
        print(f"  project / fastest faithful peer: {_fmt(r['vs_best_peer'])}")
    else:
        print("  no faithful peer: nothing to compare with")


def _figures(prefix: str, r: dict[str, dict]) -> dict[str, float | str]:
    figures: dict[str, float | str] = {
        f"{prefix}_cost_ratio": round(r["cost"]["median"], 3),
        f"{prefix}_cost_ratio_spread": f"{r['cost']['min']:.2f}..{r['cost']['max']:.2f}",
    }
    if "vs_best_peer" in r:
        s = r["vs_best_peer"]
        figures[f"{prefix}_vs_best_peer_ratio"] = round(s["median"], 3)
        figures[f"{prefix}_vs_best_peer_ratio_spread"] = f"{s['min']:.2f}..{s['max']:.2f}"
    figures[f"{prefix}_events_per_s"] = round(r["events_per_s"]["median"], 1)
    return figures


def run() -> dict[str, float | str]:
    now = datetime.now(UTC).replace(microsecond=0)
    payloads = _payloads(EVENTS_PER_TYPE, now)
    orders = measure("orders", payloads["orders"], now)
    shipments = measure("shipping", payloads["shipping"], now)
    _print("orders", orders)
    _print("shipments", shipments)
    print("targets: orders_cost_ratio <= 3.0; *_vs_best_peer_ratio < 1.0")
    return {**_figures("orders", orders), **_figures("shipments", shipments)}


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name}={value}")
