"""Audit entries expire: the relauncher writes ``expire_at`` (handled time + audit_retention_days
from RELAUNCHER_CONFIG) on every event entry, filed or ``_unfiled``, and terraform's Firestore TTL
policy on the ``events`` collection group (terraform/firestore.tf) deletes them after it.
Against the Firestore emulator (which stores the field but does not run TTL deletions)."""

from __future__ import annotations

import datetime as dt

import pytest
from google.cloud import firestore

from localdev.dataflow_standin import DataflowStandIn
from relauncher.config import parse_config
from relauncher.handler import handle_safely
from relauncher.launcher import Launcher
from relauncher.store import UNFILED, Store
from tests.relauncher.support import REGION, job_payload, message_published, settings, status_changed

pytestmark = pytest.mark.emulators
DAYS = 7


@pytest.fixture
def deps(clean_firestore, project):
    raw = {**settings(project), "audit_retention_days": DAYS}
    with DataflowStandIn(project, REGION) as standin:
        cfg = parse_config(raw, dataflow_endpoint=standin.endpoint)
        store = Store(firestore.Client(project=project), cfg.collection, cfg.audit_retention_days)
        yield {"config": cfg, "store": store, "launcher": Launcher(cfg)}, standin


def _within_retention(doc: dict, before: dt.datetime, after: dt.datetime) -> bool:
    expire = doc["expire_at"]
    return before + dt.timedelta(days=DAYS) <= expire <= after + dt.timedelta(days=DAYS)


def test_filed_and_unfiled_entries_carry_their_expiry(deps, project) -> None:
    d, standin = deps
    assert d["config"].audit_retention_days == DAYS
    db = firestore.Client(project=project)
    collection = db.collection(d["config"].collection)
    pipeline = d["config"].pipelines["orders"]
    job = standin.add_job(pipeline.job_name(0), "JOB_STATE_RUNNING")
    d["store"].register_first_launch(pipeline, job.id, job.name)

    before = dt.datetime.now(dt.UTC)
    handle_safely(*status_changed(job_payload(job, "JOB_STATE_RUNNING"), event_id="ev-filed"), **d)
    handle_safely(*message_published(b"not an event", event_id="ev-unfiled"), **d)
    after = dt.datetime.now(dt.UTC)

    filed = collection.document("orders").collection("events").document("ev-filed").get().to_dict()
    unfiled = collection.document(UNFILED).collection("events").document("ev-unfiled").get().to_dict()
    assert _within_retention(filed, before, after)
    assert _within_retention(unfiled, before, after)


def test_without_a_retention_entries_are_kept(clean_firestore, project) -> None:
    cfg = parse_config(settings(project) | {"audit_retention_days": None})
    assert cfg.audit_retention_days is None
    store = Store(firestore.Client(project=project), cfg.collection, cfg.audit_retention_days)
    store.record_unfiled("ev-kept", "error", "test", {})
    doc = firestore.Client(project=project).collection(cfg.collection).document(UNFILED)
    assert "expire_at" not in doc.collection("events").document("ev-kept").get().to_dict()
