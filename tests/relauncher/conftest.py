"""Fixtures for the relauncher: the Dataflow stand-in (real gRPC) and the function (real HTTP)."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from google.cloud import dataflow_v1beta3 as dataflow
from google.cloud import firestore
from google.cloud.dataflow_v1beta3.services.flex_templates_service.transports import FlexTemplatesServiceGrpcTransport
from google.cloud.dataflow_v1beta3.services.jobs_v1_beta3.transports import JobsV1Beta3GrpcTransport

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


@pytest.fixture
def clients(server):
    """Real Dataflow clients on a plain channel to the test module's ``server`` fixture (a stand-in)."""
    channel = grpc.insecure_channel(server.endpoint)
    yield (
        dataflow.FlexTemplatesServiceClient(transport=FlexTemplatesServiceGrpcTransport(channel=channel)),
        dataflow.JobsV1Beta3Client(transport=JobsV1Beta3GrpcTransport(channel=channel)),
    )
    channel.close()
