"""How the pipelines bench builds its figures (interleaving, spreads, refusing peers); no timing is asserted."""

from __future__ import annotations

from datetime import UTC, datetime

import bench.__main__ as bench_main
from bench import peers, pipelines_bench

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def test_rounds_interleave_slice_by_slice_with_a_rotating_order_and_drop_the_warm_up() -> None:
    calls: list[tuple[str, int, int]] = []
    candidates = {name: (lambda lo, hi, name=name: calls.append((name, lo, hi))) for name in ("floor", "full", "peer")}
    kept = pipelines_bench.interleaved(candidates, n=10, rounds=2, warmup=1, slices=2)
    order = [name for name, _, _ in calls]
    assert order == [
        *("floor", "full", "peer"),  # warm-up round (slices 1 and 2), not kept
        *("full", "peer", "floor"),
        *("peer", "floor", "full"),  # kept round 1
        *("floor", "full", "peer"),
        *("full", "peer", "floor"),  # kept round 2
        *("peer", "floor", "full"),
    ]
    # every candidate sees the same slice in a step, and a round covers all events once
    assert [(lo, hi) for _, lo, hi in calls] == [(0, 5)] * 3 + [(5, 10)] * 3 + [(0, 5)] * 3 + [(5, 10)] * 3 + [
        (0, 5)
    ] * 3 + [(5, 10)] * 3
    assert {name: len(times) for name, times in kept.items()} == {"floor": 2, "full": 2, "peer": 2}


def test_spread_is_the_median_and_the_extremes_of_the_per_round_ratios() -> None:
    assert pipelines_bench.spread([3.0, 1.0, 2.0, 10.0, 2.5]) == {"median": 2.5, "min": 1.0, "max": 10.0}


def test_figures_keep_their_names_and_add_spreads_and_the_peer_ratio() -> None:
    payloads = pipelines_bench._payloads(40, NOW)["orders"]
    figures = pipelines_bench._figures("orders", pipelines_bench.measure("orders", payloads, NOW, rounds=2))
    assert list(figures) == [
        "orders_cost_ratio",
        "orders_cost_ratio_spread",
        "orders_vs_best_peer_ratio",
        "orders_vs_best_peer_ratio_spread",
        "orders_events_per_s",
    ]
    low, high = (float(x) for x in figures["orders_cost_ratio_spread"].split(".."))
    assert low <= round(figures["orders_cost_ratio"], 2) <= high


def test_no_faithful_peer_means_no_peer_ratio(monkeypatch, capsys) -> None:
    def accepts_everything(data: bytes, now: datetime) -> dict:
        return {}

    monkeypatch.setitem(peers.PEERS, "shipping", (peers.Peer("lenient", accepts_everything, dict),))
    payloads = pipelines_bench._payloads(20, NOW)["shipping"]
    figures = pipelines_bench._figures("shipments", pipelines_bench.measure("shipping", payloads, NOW, rounds=1))
    assert "shipments_vs_best_peer_ratio" not in figures and "shipments_cost_ratio" in figures
    assert "REFUSED to time shipping/lenient" in capsys.readouterr().out


def _fake_run() -> dict[str, float | str]:
    return {"x_ratio": 1.5, "x_ratio_spread": "1.40..1.60", "x_per_s": 10.0}


def test_the_summary_shows_each_spread_beside_its_ratio(monkeypatch, capsys) -> None:
    monkeypatch.setattr(bench_main, "MODULES", (("fake", __name__, "_fake_run"),))
    assert bench_main.main() == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith("x_") and "=" not in line]
    assert rows == [["x_ratio", "1.5", "1.40..1.60"], ["x_per_s", "10"]]
    assert "x_ratio=1.5" in out and "x_ratio_spread=1.40..1.60" in out
