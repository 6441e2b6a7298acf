"""Fixtures for the insight views: a dataset per test module, provisioned, with the views (and a seeded sample)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from insights_fixtures import Loaded, load_dataset

from insights import views
from localdev import emulators, provision
from pipelines import bq


@pytest.fixture(scope="module")
def loaded(bigquery_emulator: emulators.Emulator, project: str) -> Iterator[Loaded]:
    ds = load_dataset(project, "insights")
    try:
        yield ds
    finally:
        ds.client.delete_dataset(f"{project}.{ds.dataset}", delete_contents=True, not_found_ok=True)
        ds.client.close()


@pytest.fixture(scope="module")
def empty_dataset(bigquery_emulator: emulators.Emulator, project: str) -> Iterator[tuple[Any, str, str]]:
    """(client, project, dataset): tables and views, no rows; tests fill it with ``replace_facts``."""
    dataset = f"props_{uuid.uuid4().hex[:8]}"
    provision.create_dataset_and_tables(project, dataset)
    client = bq.make_client(project)
    views.create_views(client, project, dataset)
    try:
        yield client, project, dataset
    finally:
        client.delete_dataset(f"{project}.{dataset}", delete_contents=True, not_found_ok=True)
        client.close()
