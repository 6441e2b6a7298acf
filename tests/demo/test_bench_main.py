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


def test_every_figure_is_printed_once_as_name_value(monkeypatch, capsys):
    """Progress is tracked by the name=value lines: a module printing its own would double them."""
    import functools

    from bench import pipelines_bench

    monkeypatch.setattr(pipelines_bench, "EVENTS_PER_TYPE", 40)
    monkeypatch.setattr(pipelines_bench, "measure", functools.partial(pipelines_bench.measure, rounds=2))
    monkeypatch.setattr(
        bench_main,
        "MODULES",
        (("pipelines", "bench.pipelines_bench", "run"), ("orchestration cost", "cost.table", "run")),
    )
    assert bench_main.main() == 0
    names = [line.split("=", 1)[0] for line in capsys.readouterr().out.splitlines() if "=" in line and " " not in line]
    assert "orders_cost_ratio" in names and "ingest_cost_storage_write_usd_month" in names
    assert sorted(names) == sorted(set(names))
