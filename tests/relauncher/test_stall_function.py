"""Stalled jobs end to end: the function over real HTTP (functions-framework), the Firestore emulator, and
the Dataflow stand-in over gRPC with Dataflow's drain/cancel/update semantics."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from google.cloud import pubsub_v1

from localdev.dataflow_standin import DataflowStandIn, RelauncherProcess
from relauncher.config import parse_config
from relauncher.incidents import notification
from relauncher.store import doc_id
from tests.relauncher.support import incident_event, job_payload, post, settings, status_changed

pytestmark = [pytest.mark.emulators, pytest.mark.slow]

RUNNING = "JOB_STATE_RUNNING"
NOW = dt.datetime.now(dt.UTC)


def seed_running(world, standin: DataflowStandIn, url: str, pipeline: str = "orders", ran=dt.timedelta(hours=2)):
    """Attempt 0 registered and RUNNING for ``ran`` (its RUNNING status event delivered)."""
    store, cfg = world
    p = cfg.pipelines[pipeline]
    job = standin.add_job(p.job_name(0), RUNNING)
    store.register_first_launch(p, job.id, job.name)
    attrs, data = status_changed(job_payload(job, RUNNING, at=NOW - ran))
    assert post(url, attrs, data).status_code == 200
    return job


def stall_process(firestore_emulator, standin: DataflowStandIn, project: str, **stall) -> RelauncherProcess:
    """The function with the configured settings, every pipeline's ``stall`` block updated with ``stall``."""
    cfg = settings(project)
    for p in cfg["pipelines"].values():
        p["stall"].update(stall)
    env = {"FIRESTORE_EMULATOR_HOST": firestore_emulator.host}
    return RelauncherProcess(cfg, env, standin.endpoint).start()


@pytest.fixture(scope="module")
def update_function(firestore_emulator, standin, project):
    """The function with ``heal_action: update`` for every pipeline."""
    proc = stall_process(firestore_emulator, standin, project, heal_action="update")
    try:
        yield proc
    finally:
        proc.stop()


def docs(world, pipeline="orders"):
    store, _ = world
    ref = store.collection.document(pipeline)
    return ref, ref.get().to_dict()


def incident_doc(world, incident_id, pipeline="orders"):
    ref, _ = docs(world, pipeline)
    return ref.collection("incidents").document(doc_id(incident_id)).get().to_dict()


def deliver_status(url, standin, job_id, at=None):
    job = standin.job(job_id)
    state = job.current_state.name
    attrs, data = status_changed(job_payload(job, state, at=at or dt.datetime.now(dt.UTC)))
    response = post(url, attrs, data)
    assert response.status_code == 200, response.text
    return attrs["id"]


def test_thirty_concurrent_deliveries_of_one_incident_heal_once(function, standin, world):
    job = seed_running(world, standin, function.url)
    started = NOW - dt.timedelta(minutes=1)
    # 15 redeliveries of one message and 15 re-notifications (distinct messages) of the same incident.
    same = incident_event(job, started_at=started, event_id="m-same")
    events = [same] * 15 + [incident_event(job, started_at=started) for _ in range(15)]
    with ThreadPoolExecutor(max_workers=30) as pool:
        codes = list(pool.map(lambda e: post(function.url, *e).status_code, events))
    assert codes == [200] * 30

    drains = [r for r in standin.update_requests if r[1] == "JOB_STATE_DRAINED"]
    assert {job_id for job_id, _ in drains} == {job.id}
    _, record = docs(world)
    assert (record["retries_used"], record["heal"]["step"], record["heal"]["job_id"]) == (1, "drain_requested", job.id)
    assert standin.job(job.id).current_state.name == "JOB_STATE_DRAINED"  # the stand-in drained it
    ref, _ = docs(world)
    decisions = [d.to_dict()["decision"] for d in ref.collection("events").stream() if d.to_dict().get("incident_id")]
    assert sorted(set(decisions)) == ["duplicate", "healing"] and decisions.count("healing") == 1
    assert len(decisions) == 16  # every distinct message recorded once

    # The drained job's terminal status event launches attempt 1, once.
    deliver_status(function.url, standin, job.id)
    deliver_status(function.url, standin, job.id)
    assert [launch.job_name for launch in standin.launches] == ["orders-analytics-a1"]
    new_id = standin.launches[0].job_id
    _, record = docs(world)
    assert (record["current_job_id"], record["attempt"], record["retries_used"]) == (new_id, 1, 1)

    # The replacement reaches RUNNING: the heal ends, its time is in the incident's audit.
    standin.set_state(new_id, RUNNING)
    deliver_status(function.url, standin, new_id)
    _, record = docs(world)
    assert record["heal"] is None
    audit = incident_doc(world, "0.stall1")
    assert audit["signal"] == "oldest_unacked_message_age" and audit["threshold_value"] == 900.0
    assert audit["observed_value"] == 1350.0 and audit["first_decision"] == "healing"
    assert (audit["heal_step"], audit["replacement_job_id"]) == ("healed", new_id)
    assert audit["replacement_running_time"] is not None and audit["notifications"] == 16
    steps = [s["step"] for s in audit["steps"]]
    for step in ("drain_requested", "drain_sent", "relaunching", "relaunched", "replacement_running"):
        assert step in steps, steps

    # Monitoring closes the incident: recorded with its duration, nothing done.
    closed = incident_event(job, state="closed", started_at=started)
    assert post(function.url, *closed).status_code == 200
    audit = incident_doc(world, "0.stall1")
    assert (audit["incident_state"], audit["duration_seconds"]) == ("closed", 1500.0)
    assert len(standin.launches) == 1


@pytest.mark.parametrize("ending", ["drain-finishes", "deadline-cancels"])
def test_crash_between_drain_request_and_relaunch_resumes_once(firestore_emulator, standin, world, project, ending):
    """kill -9 of the function while its drain request is held in the stand-in (a real crash of the
    process; the held request then reaches Dataflow anyway, the worst case). The event was not
    acknowledged, so it is redelivered to a fresh process:

    * ``drain-finishes``: the redelivery re-requests the drain (idempotent), the drain ends, and the
      DRAINED status event launches attempt 1;
    * ``deadline-cancels``: the drain is wedged (held) and the deadline (0 s here) has passed, so the
      redelivery cancels the job and launches attempt 1 at once.
    """
    escalate = ending == "deadline-cancels"
    proc = stall_process(firestore_emulator, standin, project, drain_deadline_seconds=0 if escalate else 600)
    try:
        job = seed_running(world, standin, proc.url)
        standin.hold_drains()
        standin.hold_updates()
        trigger = incident_event(job, started_at=NOW - dt.timedelta(minutes=1), event_id="m-trigger")
        outcome: dict = {}

        def deliver() -> None:
            try:
                outcome["status"] = post(proc.url, *trigger).status_code
            except requests.RequestException as exc:
                outcome["error"] = exc

        sender = threading.Thread(target=deliver)
        sender.start()
        assert standin.wait_for_update_requests(1)
        _, claimed = docs(world)
        assert (claimed["retries_used"], claimed["heal"]["step"]) == (1, "drain_requested")
        proc.kill()
        sender.join(30)
        assert "error" in outcome  # not acknowledged: Pub/Sub / Eventarc redeliver it
        standin.release_updates()
        assert standin.wait_for_job_state(job.id, "JOB_STATE_DRAINING")
        ref, _ = docs(world)
        assert ref.collection("events").document("m-trigger").get().to_dict()["final"] is False

        proc.start()
        assert post(proc.url, *trigger).status_code == 200
        if escalate:  # past the deadline: the wedged drain is cancelled and attempt 1 launched at once
            assert standin.job(job.id).current_state.name == "JOB_STATE_CANCELLED"
            expected_requests = ["JOB_STATE_DRAINED", "JOB_STATE_CANCELLED"]
        else:  # the drain was requested again (idempotent); it finishes, and its DRAINED event relaunches
            assert standin.launches == []
            assert ref.collection("events").document("m-trigger").get().to_dict()["final"] is True
            assert standin.finish_drain(job.id) is not None
            deliver_status(proc.url, standin, job.id)
            expected_requests = ["JOB_STATE_DRAINED", "JOB_STATE_DRAINED"]
        assert [launch.job_name for launch in standin.launches] == ["orders-analytics-a1"]
        # More redeliveries and the cancelled job's own event change nothing.
        assert post(proc.url, *trigger).status_code == 200
        deliver_status(proc.url, standin, job.id)
        assert len(standin.launches) == 1
        _, record = docs(world)
        assert (record["retries_used"], record["attempt"], record["pending_attempt"]) == (1, 1, None)
        assert record["current_job_id"] == standin.launches[0].job_id
        steps = [s["step"] for s in incident_doc(world, "0.stall1")["steps"]]
        assert "relaunched" in steps
        assert ("cancel_sent" in steps) == escalate and ("relaunching" in steps) != escalate
        assert [s for _, s in standin.update_requests] == expected_requests
    finally:
        standin.release_updates()
        standin.hold_drains(False)
        proc.stop()


def test_update_heal_replaces_the_job_in_place(update_function, standin, world):
    proc = update_function
    job = seed_running(world, standin, proc.url)
    attrs, data = incident_event(job, signal="system_lag", started_at=NOW - dt.timedelta(minutes=1))
    assert post(proc.url, attrs, data).status_code == 200
    launch = standin.launches[0]
    assert launch.job_name == "orders-analytics-a0" and launch.request["launchParameter"]["update"] is True
    old = standin.job(job.id)
    assert (old.current_state.name, old.replaced_by_job_id) == ("JOB_STATE_UPDATED", launch.job_id)
    assert standin.job(launch.job_id).replace_job_id == job.id
    deliver_status(proc.url, standin, job.id)  # UPDATED with replacedByJobId: adopted
    _, record = docs(world)
    assert (record["current_job_id"], record["retries_used"], record["attempt"]) == (launch.job_id, 1, 0)
    standin.set_state(launch.job_id, RUNNING)
    deliver_status(proc.url, standin, launch.job_id)
    _, record = docs(world)
    assert record["heal"] is None
    assert incident_doc(world, "0.stall1")["replacement_job_id"] == launch.job_id


def test_refused_update_refunds_the_budget(update_function, standin, world):
    proc = update_function
    job = seed_running(world, standin, proc.url)
    standin.refuse_next_updates(1)
    assert post(proc.url, *incident_event(job, started_at=NOW - dt.timedelta(minutes=1))).status_code == 200
    assert standin.launches == [] and standin.job(job.id).current_state.name == RUNNING
    _, record = docs(world)
    assert (record["retries_used"], record["heal"]) == (0, None)
    assert "compatib" in record["last_error"]
    assert incident_doc(world, "0.stall1")["heal_step"] == "failed"
    assert any(e.get("message") == "heal update refused" for e in proc.log_entries())


def test_incident_for_a_job_that_just_started_is_not_attributable(function, standin, world):
    store, cfg = world
    job = standin.add_job("orders-analytics-a0", RUNNING)
    store.register_first_launch(cfg.pipelines["orders"], job.id, job.name)
    attrs, data = status_changed(job_payload(job, RUNNING, at=NOW - dt.timedelta(seconds=30)))
    post(function.url, attrs, data)
    event = incident_event(job, started_at=NOW)
    assert post(function.url, *event).status_code == 200
    ref, record = docs(world)
    assert record["heal"] is None and record["retries_used"] == 0 and standin.update_requests == []
    assert ref.collection("events").document(doc_id(event[0]["id"])).get().to_dict()["decision"] == "not-attributable"


def test_exhausted_budget_logs_the_same_error_line(function, standin, world):
    _, cfg = world
    # RUNNING 20 minutes: longer than the signal's window, shorter than the healthy period (no reset).
    job = seed_running(world, standin, function.url, ran=dt.timedelta(minutes=20))
    ref, _ = docs(world)
    ref.set({"retries_used": cfg.pipelines["orders"].max_retries}, merge=True)
    attrs, data = incident_event(job, started_at=NOW - dt.timedelta(minutes=1))
    assert post(function.url, attrs, data).status_code == 200
    assert standin.update_requests == []
    _, record = docs(world)
    assert record["exhausted"] is True
    entries = [e for e in function.log_entries() if e.get("event_id") == attrs["id"]]
    assert [e["message"] for e in entries if e.get("severity") == "ERROR"] == [cfg.exhausted_log_message]


def test_incident_for_an_unknown_pipeline_and_garbage_are_recorded_not_crashing(function, standin, world):
    job = standin.add_job("orders-analytics-a0", RUNNING)
    attrs, data = incident_event(job, started_at=NOW)
    body = json.loads(base64.b64decode(data["message"]["data"]))
    body["incident"]["policy_user_labels"]["pipeline"] = "returns"
    data["message"]["data"] = base64.b64encode(json.dumps(body).encode()).decode()
    assert post(function.url, attrs, data).status_code == 200
    store, _ = world
    unfiled = store.collection.document("_unfiled").collection("events")
    assert unfiled.document(doc_id(attrs["id"])).get().to_dict()["decision"] == "unmanaged"
    body["version"] = "9"
    data["message"]["data"] = base64.b64encode(json.dumps(body).encode()).decode()
    attrs = {**attrs, "id": "m-garbage"}
    assert post(function.url, attrs, data).status_code == 200
    assert unfiled.document("m-garbage").get().to_dict()["decision"] == "error"


def test_ops_status_shows_heals_in_progress_and_open_incidents(function, standin, world):
    from ops.audit import read_audit, render_audit

    store, _ = world
    job = seed_running(world, standin, function.url)
    standin.hold_drains()
    try:
        started = NOW - dt.timedelta(minutes=1)
        assert post(function.url, *incident_event(job, started_at=started)).status_code == 200
        text = render_audit(read_audit(store.client, store.collection.id, ["orders"]))
        assert f"heal in progress: incident 0.stall1 drain_then_relaunch of job {job.id}, step drain_requested" in text
        assert "open incidents (1 of 1):" in text and "0.stall1 oldest_unacked_message_age 1350.0 > 900.0" in text
        assert "drain_requested > drain_sent" in text
        assert re.search(r"incident 0\.stall1 +open +-> healing", text)  # the event names its incident
        assert post(function.url, *incident_event(job, state="closed", started_at=started)).status_code == 200
        text = render_audit(read_audit(store.client, store.collection.id, ["orders"]))
        assert "open incidents (0 of 1):" in text
    finally:
        standin.hold_drains(False)


def _wait_for(read, done, what: str, timeout: float = 60.0):
    """Poll Firestore until ``done(read())`` (the loop's bound is a hang guard, not an assertion on time)."""
    deadline = time.monotonic() + timeout
    value = read()
    while not done(value):
        assert time.monotonic() < deadline, f"never reached: {what}; last {value}"
        time.sleep(0.2)
        value = read()
    return value


def test_incident_pushed_through_the_alerts_topic_heals_through_the_whole_loop(
    pubsub_emulator, firestore_emulator, world, project
):
    """Monitoring's notification JSON on an alerts topic -> push subscription -> function -> UpdateJob drain
    on the stand-in -> DRAINING/DRAINED published on the job-events topic -> push -> relaunch of attempt 1
    -> its RUNNING event ends the heal. Both triggers reach one function, routed by the message body."""
    store, _ = world
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    suffix = uuid.uuid4().hex[:6]
    topics = {kind: publisher.topic_path(project, f"{kind}-{suffix}") for kind in ("job-events", "alerts")}
    cfg = settings(project)
    cfg["stall_detection"]["signals"]["oldest_unacked_message_age"]["duration_seconds"] = 1
    with DataflowStandIn(project, "europe-west1", events_topic=topics["job-events"]) as standin:
        fn = RelauncherProcess(cfg, {"FIRESTORE_EMULATOR_HOST": firestore_emulator.host}, standin.endpoint).start()
        subs = []
        try:
            for path in topics.values():
                publisher.create_topic(name=path)
                sub = subscriber.subscription_path(project, path.rsplit("/", 1)[-1])
                subscriber.create_subscription(
                    request={"name": sub, "topic": path, "push_config": {"push_endpoint": fn.url}}
                )
                subs.append(sub)
            first = standin.add_job("orders-analytics-a0", "JOB_STATE_PENDING")
            store.register_first_launch(parse_config(cfg).pipelines["orders"], first.id, first.name)
            standin.set_state(first.id, RUNNING)
            pipeline_ref = store.collection.document("orders")
            record = _wait_for(lambda: pipeline_ref.get().to_dict(), lambda d: d.get("running_since"), "a0 RUNNING")

            started = record["running_since"] + dt.timedelta(seconds=2)
            body = notification(
                incident_id="0.pushed",
                pipeline="orders",
                signal="oldest_unacked_message_age",
                resource_type="pubsub_subscription",
                resource_labels={"project_id": project, "subscription_id": "orders-analytics"},
                metric_type="pubsub.googleapis.com/subscription/oldest_unacked_message_age",
                started_at=started.timestamp() + 1,
                observed_value=1500,
                threshold_value=900,
                project_id=project,
            )
            publisher.publish(topics["alerts"], json.dumps(body).encode()).result(timeout=30)

            record = _wait_for(
                lambda: pipeline_ref.get().to_dict(),
                lambda d: d["current_job_name"] == "orders-analytics-a1" and not d["pending_attempt"],
                "attempt 1 launched",
            )
            assert [launch.job_name for launch in standin.launches] == ["orders-analytics-a1"]
            assert standin.job(first.id).current_state.name == "JOB_STATE_DRAINED"
            standin.set_state(record["current_job_id"], RUNNING)
            record = _wait_for(lambda: pipeline_ref.get().to_dict(), lambda d: d["heal"] is None, "heal ended")
            assert record["retries_used"] == 1
            audit = incident_doc(world, "0.pushed")
            assert audit["heal_step"] == "healed" and audit["replacement_job_id"] == record["current_job_id"]
            events = [e.to_dict() for e in pipeline_ref.collection("events").stream()]
            assert [e["decision"] for e in events if e.get("incident_id")] == ["healing"]
            assert {e["state"] for e in events if e.get("state")} >= {"JOB_STATE_DRAINING", "JOB_STATE_DRAINED"}
        finally:
            for sub in subs:
                subscriber.delete_subscription(request={"subscription": sub})
            for path in topics.values():
                with contextlib.suppress(Exception):
                    publisher.delete_topic(request={"topic": path})
            fn.stop()
