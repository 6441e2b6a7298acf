"""Do the aggregates users read equal the deduplicated facts? The check ``make demo`` prints per pipeline.

Independent of the views it checks: it reads the raw fact rows, keeps one row per
``event_key``, puts each event in the pipelines' fixed event-time window, sums with the
pipelines' own key/value functions (``pipelines/window_aggregates.py``), and compares every
window and key with the ``*_by_window_current`` views, both ways (a window missing on
either side is a mismatch). Prints one line per pipeline::

    aggregates_match_facts=ok pipeline=orders windows=57 final=41 pane_jobs=2

``windows`` counts window-and-key rows compared, ``final`` those the view marks final, and
``pane_jobs`` the distinct jobs whose panes are in the pipeline's aggregate tables (2 or more
after a relaunch: the case this check exists for).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from google.cloud import bigquery

from pipelines import bq, system
from pipelines.window_aggregates import AGGREGATES, FACT_TABLES, Aggregate, expected_windows


@dataclass
class CheckResult:
    pipeline: str
    windows: int = 0
    final: int = 0
    pane_jobs: int = 0
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def line(self) -> str:
        status = "ok" if self.ok else "FAILED"
        extra = f" mismatches={len(self.mismatches)}" if self.mismatches else ""
        return (
            f"aggregates_match_facts={status} pipeline={self.pipeline} windows={self.windows} "
            f"final={self.final} pane_jobs={self.pane_jobs}{extra}"
        )


def _number(value: Any) -> Any:
    """The emulator returns some NUMERIC results as FLOAT (exact at the few places money has)."""
    return Decimal(repr(value)) if isinstance(value, float) else value


def compare(
    aggregate: Aggregate, expected: Mapping[tuple, Mapping[str, Any]], view_rows: Iterable[Mapping[str, Any]]
) -> tuple[list[str], int]:
    """(mismatch descriptions, rows marked final): every expected window and key, and nothing else."""
    got: dict[tuple, Mapping[str, Any]] = {}
    final = 0
    for row in view_rows:
        got[(row["window_start"], *(row[k] for k in aggregate.key_fields))] = row
        final += bool(row.get("is_final"))
    problems = [f"{aggregate.view}: no row for {k}" for k in expected.keys() - got.keys()]
    problems += [f"{aggregate.view}: row {k} has no facts" for k in got.keys() - expected.keys()]
    for k in expected.keys() & got.keys():
        for name, want in expected[k].items():
            if _number(got[k][name]) != want:
                problems.append(f"{aggregate.view}: {k} {name}={got[k][name]} but the facts say {want}")
    return problems, final


def _rows(client: bigquery.Client, sql: str) -> list[dict[str, Any]]:
    return [dict(r.items()) for r in client.query(sql).result()]


def check_pipeline(client: bigquery.Client, dataset: str, pipeline: str, window_seconds: int) -> CheckResult:
    """Compare the pipeline's ``*_current`` views with its facts; ``dataset`` is ``project.dataset``."""
    result = CheckResult(pipeline)
    facts = _rows(client, f"SELECT * FROM `{dataset}.{system.table_name(FACT_TABLES[pipeline])}`")
    jobs: set[str] = set()
    for aggregate in AGGREGATES[pipeline]:
        expected = expected_windows(aggregate, facts, window_seconds)
        problems, final = compare(aggregate, expected, _rows(client, f"SELECT * FROM `{dataset}.{aggregate.view}`"))
        result.mismatches += problems
        result.windows += len(expected)
        result.final += final
        panes = _rows(client, f"SELECT DISTINCT job_name FROM `{dataset}.{system.table_name(aggregate.table)}`")
        jobs |= {r["job_name"] for r in panes if r["job_name"]}
    result.pane_jobs = len(jobs)
    return result


def check_all(client: bigquery.Client, dataset: str, window_seconds: int) -> list[CheckResult]:
    return [check_pipeline(client, dataset, p, window_seconds) for p in system.pipeline_names()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m localdev.aggregates_check", description=__doc__.split("\n\n")[0])
    ap.add_argument("--project", required=True)
    ap.add_argument("--dataset", default=None, help="defaults to the dataset in config/system.json")
    ap.add_argument("--window_seconds", type=int, required=True, help="the jobs' window length")
    args = ap.parse_args(argv)
    results = check_all(
        bq.make_client(args.project), f"{args.project}.{args.dataset or system.dataset()}", args.window_seconds
    )
    for r in results:
        print(r.line())
        for problem in r.mismatches[:20]:
            print(f"  {problem}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
