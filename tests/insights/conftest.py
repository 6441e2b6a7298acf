"""Fixtures for the insight views: a dataset per test module, provisioned, with the views and a seeded sample."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import insights_oracle as expected
import pytest
from google.cloud import bigquery

from insights import sample, views
from localdev import emulators, provision
from pipelines import bq

SEED = 7


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
    views.create_views(client, project, dataset)
    data = sample.generate(seed)
    for _ in range(replays):
        sample.load(client, project, dataset, data)
    rows = {key: expected.typed(r) * replays for key, r in data.rows.items()}
    return Loaded(client, project, dataset, rows, views.tunables())


@pytest.fixture(scope="module")
def loaded(bigquery_emulator: emulators.Emulator, project: str) -> Iterator[Loaded]:
    ds = load_dataset(project, "insights")
    try:
        yield ds
    finally:
        ds.client.delete_dataset(f"{project}.{ds.dataset}", delete_contents=True, not_found_ok=True)
        ds.client.close()
