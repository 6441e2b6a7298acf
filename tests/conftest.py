"""Shared fixtures: the real emulators, started once per test session on free ports.

Every emulator is stopped (its whole process group) when the session ends, also on failure.
Tests isolate themselves by unique names (topics, datasets) or by clearing Firestore.
"""

from __future__ import annotations

import os
import urllib.request
import uuid
from collections.abc import Iterator

import pytest

from localdev import emulators

PROJECT = "test-project"


def _set_env(values: dict[str, str]) -> dict[str, str | None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    return old


def _restore_env(old: dict[str, str | None]) -> None:
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def project() -> str:
    return PROJECT


@pytest.fixture(scope="session")
def pubsub_emulator() -> Iterator[emulators.Emulator]:
    emu = emulators.start_pubsub(PROJECT)
    old = _set_env({"PUBSUB_EMULATOR_HOST": emu.host, "GOOGLE_CLOUD_PROJECT": PROJECT})
    try:
        yield emu
    finally:
        _restore_env(old)
        emu.stop()


@pytest.fixture(scope="session")
def firestore_emulator() -> Iterator[emulators.Emulator]:
    emu = emulators.start_firestore(PROJECT)
    old = _set_env({"FIRESTORE_EMULATOR_HOST": emu.host, "GOOGLE_CLOUD_PROJECT": PROJECT})
    try:
        yield emu
    finally:
        _restore_env(old)
        emu.stop()


@pytest.fixture(scope="session")
def bigquery_emulator() -> Iterator[emulators.Emulator]:
    emu = emulators.start_bigquery(PROJECT)
    old = _set_env(
        {
            "BIGQUERY_EMULATOR_HOST": emu.host,
            "BIGQUERY_STORAGE_EMULATOR_HOST": emu.grpc_host or "",
            "GOOGLE_CLOUD_PROJECT": PROJECT,
        }
    )
    try:
        yield emu
    finally:
        _restore_env(old)
        emu.stop()


@pytest.fixture
def clean_firestore(firestore_emulator: emulators.Emulator) -> emulators.Emulator:
    """The Firestore emulator with every document deleted (emulator-only REST endpoint)."""
    req = urllib.request.Request(
        f"http://{firestore_emulator.host}/emulator/v1/projects/{PROJECT}/databases/(default)/documents",
        method="DELETE",
    )
    urllib.request.urlopen(req, timeout=10).close()
    return firestore_emulator


@pytest.fixture
def unique_suffix() -> str:
    return uuid.uuid4().hex[:8]
