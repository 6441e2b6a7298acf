"""Fixtures for the relauncher: the Dataflow stand-in (real gRPC) and the function (real HTTP)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from google.cloud import firestore

from localdev.dataflow_standin import DataflowStandIn, RelauncherProcess
from relauncher.store import Store
from tests.relauncher.support import REGION, config, settings


@pytest.fixture(scope="module")
def standin(project: str) -> Iterator[DataflowStandIn]:
    server = DataflowStandIn(project, REGION).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def function(firestore_emulator, standin: DataflowStandIn, project: str) -> Iterator[RelauncherProcess]:
    """The function with the default policy from config/system.json (max 2, FAILED only, 1800 s)."""
    proc = RelauncherProcess(
        settings(project),
        {"FIRESTORE_EMULATOR_HOST": firestore_emulator.host, "GOOGLE_CLOUD_PROJECT": project},
        standin.endpoint,
    ).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def world(clean_firestore, standin: DataflowStandIn, project: str):
    """A clean Firestore and stand-in; returns (store, config) for seeding and reading."""
    standin.reset()
    client = firestore.Client(project=project)
    cfg = config(project)
    return Store(client, cfg.collection), cfg
