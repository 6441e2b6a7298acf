"""Shared helpers of the insight tests: a loaded dataset and an exact row-set comparison."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import insights_oracle as expected
from google.cloud import bigquery

from insights import sample, views
from localdev import provision
from pipelines import bq, system

SEED = 7
# The sample's aggregate panes are hourly windows (insights/sample.py): the views get the same grid.
WINDOW_SECONDS = 3600
ALLOWED_LATENESS_SECONDS = 2 * 3600


@dataclass
class Loaded:
    client: bigquery.Client
    project: str
    dataset: str
    rows: dict[str, list[dict[str, Any]]]  # typed rows as inserted, per logical table key
    tunables: dict[str, Any]

    def query(self, view: str) -> list[dict[str, Any]]:
        return [dict(r.items()) for r in self.client.query(f"SELECT * FROM `{self.project}.{self.dataset}.{view}`")]


def load_dataset(project: str, prefix: str, *, seed: int = SEED, replays: int = 1) -> Loaded:
    """A fresh dataset with tables and views, the sample inserted ``replays`` times (a relaunch replays it all)."""
    dataset = f"{prefix}_{uuid.uuid4().hex[:8]}"
    provision.create_dataset_and_tables(project, dataset)
    client = bq.make_client(project)
    views.create_views(
        client, project, dataset, window_seconds=WINDOW_SECONDS, allowed_lateness_seconds=ALLOWED_LATENESS_SECONDS
    )
    data = sample.generate(seed)
    for _ in range(replays):
        sample.load(client, project, dataset, data)
    rows = {key: expected.typed(r) * replays for key, r in data.rows.items()}
    return Loaded(client, project, dataset, rows, views.tunables())


def replace_facts(
    empty_dataset: tuple[bigquery.Client, str, str], rows: dict[str, list[dict[str, Any]]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Callable[[str], list[dict[str, Any]]]]:
    """Make ``rows`` (per table key: orders, shipments) the only facts of the ``empty_dataset`` fixture's
    dataset; returns the orders and shipments typed as BigQuery returns them, and a query of a view."""
    client, project, dataset = empty_dataset
    for table in ("orders", "shipments"):
        full = f"{project}.{dataset}.{system.table_name(table)}"
        client.query(f"DELETE FROM `{full}` WHERE TRUE").result()
        if rows[table]:
            assert not client.insert_rows_json(full, rows[table])

    def query(view: str) -> list[dict[str, Any]]:
        return [dict(r.items()) for r in client.query(f"SELECT * FROM `{project}.{dataset}.{view}`")]

    return expected.typed(rows["orders"]), expected.typed(rows["shipments"]), query


def _normal(value: Any) -> Any:
    """Values as comparable data: the emulator returns some NUMERIC results as FLOAT (exact at 4 places)."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, list):
        return [_normal(v) for v in value]
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    return value


def _keyed(rows: list[dict[str, Any]], key: tuple[str, ...]) -> dict[tuple, dict[str, Any]]:
    out = {}
    for row in rows:
        k = tuple(row[c] for c in key)
        assert k not in out, f"duplicate key {k}"
        out[k] = _normal(row)
    return out


def assert_same(actual: list[dict[str, Any]], wanted: list[dict[str, Any]], key: tuple[str, ...]) -> None:
    got, want = _keyed(actual, key), _keyed(wanted, key)
    assert sorted(got, key=repr) == sorted(want, key=repr), "different rows"
    for k, row in want.items():
        assert got[k] == row, f"row {k} differs"
