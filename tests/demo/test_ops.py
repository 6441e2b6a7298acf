"""The operator CLI against the real emulators and the Dataflow stand-in."""

from __future__ import annotations

import json

import pytest
from google.cloud import firestore, pubsub_v1

from localdev import first_launch
from localdev.dataflow_standin import DataflowStandIn
from localdev.demo import DemoConfig, demo_settings
from ops import __main__ as cli
from ops.publish import publish_sample
from ops.rearm import rearm
from pipelines import generator
from relauncher.store import state_from_doc

pytestmark = pytest.mark.emulators


@pytest.fixture
def settings(project):
    return demo_settings(DemoConfig(project=project))


@pytest.fixture
def launched(clean_firestore, project, settings):
    with DataflowStandIn(project, settings["region"]) as standin:
        db = firestore.Client(project=project)
        first_launch.first_launch(settings, endpoint=standin.endpoint, db=db)
        yield standin, db


def _exhaust(db, settings, pipeline):
    """What the relauncher writes when the budget is used up (the exhausted record)."""
    ref = db.collection(settings["collection"]).document(pipeline)
    record = ref.get().to_dict()
    ref.set(
        {
            "exhausted": True,
            "retries_used": settings["pipelines"][pipeline]["max_retries"],
            "last_state": "JOB_STATE_FAILED",
            "handled_job_id": record["current_job_id"],
        },
        merge=True,
    )
    return record


def test_rearm_with_relaunch_launches_the_next_attempt_and_makes_it_current(launched, settings):
    standin, db = launched
    before = _exhaust(db, settings, "orders")
    result = rearm(db, settings, "orders", relaunch=True, endpoint=standin.endpoint, operator="test")
    assert result.launched_job_name == "orders-analytics-a1"
    assert [launch.job_name for launch in standin.launches][-1] == "orders-analytics-a1"
    ref = db.collection(settings["collection"]).document("orders")
    state = state_from_doc(ref.get().to_dict())  # the relauncher's own reader
    assert (state.current_job_id, state.current_job_name) == (result.launched_job_id, "orders-analytics-a1")
    assert (state.attempt, state.retries_used, state.exhausted, state.pending) == (1, 0, False, None)
    attempt = ref.collection("attempts").document("1").get().to_dict()
    assert attempt["outcome"] == "launched" and attempt["job_id"] == result.launched_job_id
    assert attempt["trigger_job_id"] == before["current_job_id"]
    events = [d.to_dict() for d in ref.collection("events").stream()]
    assert [e["decision"] for e in events] == ["rearmed"]
    assert "test" in events[0]["reason"]


def test_rearm_twice_never_launches_the_same_attempt_twice(launched, settings):
    standin, db = launched
    _exhaust(db, settings, "orders")
    first = rearm(db, settings, "orders", relaunch=True, endpoint=standin.endpoint)
    # Pretend the tool died after launching but before completing: restore the pending claim.
    ref = db.collection(settings["collection"]).document("orders")
    ref.set(
        {
            "pending_attempt": {
                "attempt": 1,
                "job_name": "orders-analytics-a1",
                "failed_job_id": "x",
                "trigger_event": "ops-rearm-x",
            }
        },
        merge=True,
    )
    again = rearm(db, settings, "orders", relaunch=True, endpoint=standin.endpoint)
    assert again.launched_job_id == first.launched_job_id  # ALREADY_EXISTS -> looked up, not relaunched
    assert [launch.job_name for launch in standin.launches].count("orders-analytics-a1") == 1


def test_rearm_after_stall_exhaustion_cancels_the_stalled_job_before_launching(launched, settings):
    """Stall incidents exhaust the budget while the job stays RUNNING: never launch beside it."""
    standin, db = launched
    before = _exhaust(db, settings, "orders")
    stalled = before["current_job_id"]
    standin.set_state(stalled, "JOB_STATE_RUNNING")
    result = rearm(db, settings, "orders", relaunch=True, endpoint=standin.endpoint)
    assert standin.job(stalled).current_state.name in {"JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED"}
    assert standin.update_requests == [(stalled, "JOB_STATE_CANCELLED")]
    assert "cancelled" in result.detail and result.launched_job_name == "orders-analytics-a1"


def test_rearm_after_failure_exhaustion_asks_nothing_of_the_failed_job(launched, settings):
    standin, db = launched
    failed = _exhaust(db, settings, "shipping")["current_job_id"]
    standin.set_state(failed, "JOB_STATE_FAILED")
    result = rearm(db, settings, "shipping", relaunch=True, endpoint=standin.endpoint)
    assert standin.update_requests == []
    assert result.detail == "budget reset; launched"


def test_rearm_without_relaunch_only_resets_the_budget(launched, settings):
    standin, db = launched
    _exhaust(db, settings, "shipping")
    n = len(standin.launches)
    result = rearm(db, settings, "shipping", relaunch=False)
    assert result.launched_job_id == ""
    doc = db.collection(settings["collection"]).document("shipping").get().to_dict()
    assert (doc["exhausted"], doc["retries_used"], doc["attempt"]) == (False, 0, 0)
    assert len(standin.launches) == n


def test_cli_status_and_rearm(launched, settings, monkeypatch, capsys):
    standin, db = launched
    _exhaust(db, settings, "orders")
    monkeypatch.setenv("RELAUNCHER_CONFIG", json.dumps(settings))
    assert cli.main(["--project", settings["project"], "status"]) == 0
    out = capsys.readouterr().out
    assert "pipeline orders:" in out and "EXHAUSTED" in out and "pipeline shipping:" in out
    assert (
        cli.main(
            ["--project", settings["project"], "rearm", "orders", "--relaunch", "--dataflow-endpoint", standin.endpoint]
        )
        == 0
    )
    assert "orders-analytics-a1" in capsys.readouterr().out
    assert cli.main(["--project", settings["project"], "status", "orders"]) == 0
    out = capsys.readouterr().out
    assert "current orders-analytics-a1" in out and "rearmed" in out


def test_cli_help_lists_the_subcommands(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for word in ("status", "rearm", "publish", "--project"):
        assert word in out


def test_publish_sample(pubsub_emulator, project, unique_suffix):
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    topic = publisher.topic_path(project, "orders")
    from contextlib import suppress

    from google.api_core.exceptions import AlreadyExists

    with suppress(AlreadyExists):
        publisher.create_topic(name=topic)
    sub = subscriber.subscription_path(project, f"ops-test-{unique_suffix}")
    subscriber.create_subscription(name=sub, topic=topic)
    counts = publish_sample(project, "orders", 12, seed=3)
    expected = [m for m in generator.generate(3, 12) if m.pipeline == "orders"][:12]
    assert sum(counts.values()) == len(expected) == 12
    received = []
    while len(received) < 12:
        resp = subscriber.pull(subscription=sub, max_messages=50, timeout=10)
        if not resp.received_messages:
            break
        received += [m.message.data for m in resp.received_messages]
        subscriber.acknowledge(subscription=sub, ack_ids=[m.ack_id for m in resp.received_messages])
    assert sorted(received) == sorted(m.data for m in expected)
    subscriber.delete_subscription(subscription=sub)
