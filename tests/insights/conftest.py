"""Fixtures for the insight views: a dataset per test module, provisioned, with the views and a seeded sample."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from insights_fixtures import Loaded, load_dataset

from localdev import emulators


@pytest.fixture(scope="module")
def loaded(bigquery_emulator: emulators.Emulator, project: str) -> Iterator[Loaded]:
    ds = load_dataset(project, "insights")
    try:
        yield ds
    finally:
        ds.client.delete_dataset(f"{project}.{ds.dataset}", delete_contents=True, not_found_ok=True)
        ds.client.close()
