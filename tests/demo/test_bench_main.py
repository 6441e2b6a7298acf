"""``python -m bench``: keeps going when a module is missing or fails, and says so."""

from __future__ import annotations

import bench.__main__ as bench_main
from cost import ingest, model


def test_missing_and_failing_modules_are_reported_and_the_rest_still_runs(monkeypatch, capsys):
    monkeypatch.setattr(
        bench_main,
        "MODULES",
        (
            ("absent", "bench.no_such_module_here", "run"),
            ("broken", "json", "loads"),  # json.loads() without arguments raises TypeError
            ("orchestration cost", "cost.table", "run"),
        ),
    )
    assert bench_main.main() == 1
    out = capsys.readouterr().out
    assert "MISSING: bench.no_such_module_here" in out
    assert "FAILED (TypeError" in out
    lines = dict(line.split("=", 1) for line in out.splitlines() if "=" in line and " " not in line)
    assert {"polling_cost_usd_month", "eventdriven_cost_usd_month", "orchestration_cost_ratio"} <= set(lines)
    assert float(lines["orchestration_cost_ratio"]) > 1


def test_all_present_modules_succeed(monkeypatch, capsys):
    monkeypatch.setattr(bench_main, "MODULES", (("orchestration cost", "cost.table", "run"),))
    assert bench_main.main() == 0
    figures = len(model.compare()) + len(ingest.costs(ingest.measure()))  # orchestration and ingestion
    assert f"ok, {figures} figures" in capsys.readouterr().out
