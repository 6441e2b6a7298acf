"""The relauncher end to end: functions-framework over real HTTP, the Firestore emulator, the stand-in over gRPC."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
import requests

from localdev.dataflow_standin import DataflowStandIn, RelauncherProcess
from relauncher.store import UNFILED, doc_id
from tests.relauncher.support import job_payload, message_published, post, settings, status_changed

pytestmark = [pytest.mark.emulators, pytest.mark.slow]

FAILED = "JOB_STATE_FAILED"
RUNNING = "JOB_STATE_RUNNING"
T0 = dt.datetime(2026, 11, 30, 22, 0, tzinfo=dt.UTC)


def seed(world, standin: DataflowStandIn, pipeline: str = "orders"):
    """The first launch (attempt 0) as Workflows records it, with a RUNNING job in the stand-in."""
    store, cfg = world
    p = cfg.pipelines[pipeline]
    job = standin.add_job(p.job_name(0), RUNNING)
    store.register_first_launch(p, job.id, job.name)
    return job


def pipeline_doc(world, pipeline: str = "orders") -> dict:
    store, _ = world
    return store.collection.document(pipeline).get().to_dict()


def event_doc(world, event_id: str, pipeline: str = "orders") -> dict:
    store, _ = world
    return store.collection.document(pipeline).collection("events").document(doc_id(event_id)).get().to_dict()


def attempt_doc(world, n: int, pipeline: str = "orders") -> dict:
    store, _ = world
    return store.collection.document(pipeline).collection("attempts").document(str(n)).get().to_dict()


def unfiled_doc(world, event_id: str) -> dict | None:
    store, _ = world
    return store.collection.document(UNFILED).collection("events").document(doc_id(event_id)).get().to_dict()


def fail(function, job, at=T0, mode="binary", event_id=None):
    attrs, data = status_changed(job_payload(job, FAILED, at=at), event_id)
    response = post(function.url, attrs, data, mode)
    return attrs["id"], response


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_failure_relaunches_once(function, standin, world, mode):
    job = seed(world, standin)
    event_id, response = fail(function, job, mode=mode)
    assert response.status_code == 200, response.text

    assert [launch.job_name for launch in standin.launches] == ["orders-analytics-a1"]
    new_id = standin.launches[0].job_id
    doc = pipeline_doc(world)
    assert doc["current_job_id"] == new_id
    assert doc["current_job_name"] == "orders-analytics-a1"
    assert (doc["attempt"], doc["retries_used"], doc["exhausted"], doc["pending_attempt"]) == (1, 1, False, None)
    ev = event_doc(world, event_id)
    assert (ev["decision"], ev["final"], ev["launched_job_id"]) == ("relaunched", True, new_id)
    attempt = attempt_doc(world, 1)
    assert (attempt["outcome"], attempt["job_id"], attempt["trigger_event"]) == ("launched", new_id, event_id)
    # The launch used the configured spec with this attempt's name and the managed label.
    request = standin.launches[0].request["launchParameter"]
    _, cfg = world
    expected = cfg.pipelines["orders"].launch_parameter
    assert request["containerSpecGcsPath"] == expected["containerSpecGcsPath"]
    assert request["parameters"] == expected["parameters"]
    assert standin.job(new_id).labels[cfg.managed_label_key] == cfg.managed_label_value


@pytest.mark.parametrize("shape", ["job", "job_event_data"])
def test_pubsub_wrapped_events_relaunch(function, standin, world, shape):
    job = seed(world, standin)
    payload = job_payload(job, FAILED, at=T0)
    attrs, data = message_published(payload if shape == "job" else {"payload": payload})
    assert post(function.url, attrs, data).status_code == 200
    assert [launch.job_name for launch in standin.launches] == ["orders-analytics-a1"]
    assert event_doc(world, attrs["id"])["decision"] == "relaunched"


def test_fifty_concurrent_deliveries_of_one_event_launch_once(function, standin, world):
    job = seed(world, standin)
    attrs, data = status_changed(job_payload(job, FAILED, at=T0))
    with ThreadPoolExecutor(max_workers=50) as pool:
        codes = list(pool.map(lambda _: post(function.url, attrs, data).status_code, range(50)))
    assert codes == [200] * 50
    assert len(standin.launches) == 1
    doc = pipeline_doc(world)
    assert (doc["retries_used"], doc["attempt"], doc["pending_attempt"]) == (1, 1, None)
    assert doc["current_job_id"] == standin.launches[0].job_id


def test_two_different_failure_events_for_one_job_launch_once(function, standin, world):
    job = seed(world, standin)
    first, r1 = fail(function, job)
    second, r2 = fail(function, job, at=T0 + dt.timedelta(seconds=1))
    assert (r1.status_code, r2.status_code) == (200, 200)
    assert len(standin.launches) == 1
    assert event_doc(world, first)["decision"] == "relaunched"
    assert event_doc(world, second)["decision"] == "duplicate"
    assert pipeline_doc(world)["retries_used"] == 1


def test_redelivered_event_is_a_duplicate_and_keeps_its_record(function, standin, world):
    job = seed(world, standin)
    event_id, _ = fail(function, job)
    _, again = fail(function, job, event_id=event_id)
    assert again.status_code == 200
    assert len(standin.launches) == 1
    assert event_doc(world, event_id)["decision"] == "relaunched"


def test_stale_events_launch_nothing(function, standin, world):
    job = seed(world, standin)
    fail(function, job)
    assert len(standin.launches) == 1
    # A late RUNNING event of the replaced job, and a failure of a job that is not current.
    attrs, data = status_changed(job_payload(job, RUNNING, at=T0 - dt.timedelta(minutes=5)))
    assert post(function.url, attrs, data).status_code == 200
    assert event_doc(world, attrs["id"])["decision"] == "ignored-stale"
    other = standin.add_job("orders-analytics-a7", RUNNING)
    other_id, _ = fail(function, other)
    assert event_doc(world, other_id)["decision"] == "ignored-stale"
    # An event for the current job that is older than its recorded state.
    current = standin.job(pipeline_doc(world)["current_job_id"])
    attrs, data = status_changed(job_payload(current, RUNNING, at=T0 + dt.timedelta(minutes=10)))
    post(function.url, attrs, data)
    attrs, data = status_changed(job_payload(current, "JOB_STATE_PENDING", at=T0 + dt.timedelta(minutes=9)))
    post(function.url, attrs, data)
    assert event_doc(world, attrs["id"])["decision"] == "ignored-stale"
    assert pipeline_doc(world)["last_state"] == RUNNING
    assert len(standin.launches) == 1


def test_three_failures_with_max_two_relaunch_twice_then_exhaust(function, standin, world):
    job = seed(world, standin)
    decisions = []
    at = T0
    for _ in range(3):
        event_id, response = fail(function, job, at=at)
        assert response.status_code == 200
        decisions.append(event_doc(world, event_id)["decision"])
        job = standin.job(pipeline_doc(world)["current_job_id"])
        at += dt.timedelta(minutes=1)  # well inside the healthy period: no budget reset
    assert decisions == ["relaunched", "relaunched", "exhausted"]
    assert [launch.job_name for launch in standin.launches] == ["orders-analytics-a1", "orders-analytics-a2"]
    doc = pipeline_doc(world)
    assert (doc["exhausted"], doc["retries_used"], doc["attempt"]) == (True, 2, 2)
    _, cfg = world
    alerts = [e for e in function.log_entries() if e.get("message") == cfg.exhausted_log_message]
    assert any(
        e["severity"] == "ERROR" and e["pipeline"] == "orders" and e["job_id"] == job.id and e["attempt"] == 2
        for e in alerts
    )


@pytest.mark.parametrize("state", ["JOB_STATE_CANCELLED", "JOB_STATE_DRAINED"])
def test_stopped_by_a_person_is_not_relaunched(function, standin, world, state):
    job = seed(world, standin)
    attrs, data = status_changed(job_payload(job, state, at=T0))
    assert post(function.url, attrs, data).status_code == 200
    assert standin.launches == []
    assert event_doc(world, attrs["id"])["decision"] == "ignored-policy"
    doc = pipeline_doc(world)
    assert (doc["last_state"], doc["retries_used"]) == (state, 0)


def test_updated_job_is_never_relaunched_and_its_replacement_is_adopted(function, standin, world):
    job = seed(world, standin)
    replacement = standin.add_job(job.name, RUNNING)
    attrs, data = status_changed(job_payload(job, "JOB_STATE_UPDATED", at=T0, replacedByJobId=replacement.id))
    assert post(function.url, attrs, data).status_code == 200
    assert standin.launches == []
    assert event_doc(world, attrs["id"])["decision"] == "adopted"
    assert pipeline_doc(world)["current_job_id"] == replacement.id
    # The replacement's failure is then handled like any current job's.
    fail(function, replacement, at=T0 + dt.timedelta(minutes=1))
    assert [launch.job_name for launch in standin.launches] == ["orders-analytics-a1"]


def test_updated_without_replacement_id_is_recorded_only(function, standin, world):
    job = seed(world, standin)
    attrs, data = status_changed(job_payload(job, "JOB_STATE_UPDATED", at=T0))
    post(function.url, attrs, data)
    assert standin.launches == []
    assert event_doc(world, attrs["id"])["decision"] == "ignored-policy"


def test_healthy_period_resets_the_budget(function, standin, world):
    _, cfg = world
    healthy = dt.timedelta(seconds=cfg.pipelines["orders"].healthy_period_seconds)
    job = seed(world, standin)
    fail(function, job, at=T0)
    a1 = standin.job(pipeline_doc(world)["current_job_id"])
    attrs, data = status_changed(job_payload(a1, RUNNING, at=T0 + dt.timedelta(minutes=1)))
    post(function.url, attrs, data)
    assert pipeline_doc(world)["retries_used"] == 1
    # a1 fails after staying RUNNING longer than the healthy period: the budget re-arms first.
    event_id, _ = fail(function, a1, at=T0 + dt.timedelta(minutes=1) + healthy + dt.timedelta(seconds=1))
    ev = event_doc(world, event_id)
    assert (ev["decision"], ev["budget_reset"]) == ("relaunched", True)
    doc = pipeline_doc(world)
    assert (doc["retries_used"], doc["attempt"]) == (1, 2)
    assert "last_budget_reset_time" in doc
    # a2 fails quickly: no reset, the budget is charged again.
    a2 = standin.job(doc["current_job_id"])
    attrs, data = status_changed(job_payload(a2, RUNNING, at=T0 + healthy + dt.timedelta(minutes=5)))
    post(function.url, attrs, data)
    event_id, _ = fail(function, a2, at=T0 + healthy + dt.timedelta(minutes=6))
    assert event_doc(world, event_id)["budget_reset"] is False
    assert pipeline_doc(world)["retries_used"] == 2
    assert len(standin.launches) == 3


def test_launch_already_exists_is_treated_as_launched(function, standin, world):
    """A job with the attempt's name already active (e.g. launched just before a crash) is adopted, not relaunched."""
    job = seed(world, standin)
    existing = standin.add_job("orders-analytics-a1", "JOB_STATE_PENDING")
    event_id, response = fail(function, job)
    assert response.status_code == 200
    assert standin.launches == []
    assert standin.requests_seen == 1
    assert pipeline_doc(world)["current_job_id"] == existing.id
    assert event_doc(world, event_id)["launched_job_id"] == existing.id


def test_transient_launch_error_is_retried_by_redelivery(function, standin, world):
    job = seed(world, standin)
    standin.fail_next_launches(1, grpc.StatusCode.UNAVAILABLE, "backend unavailable")
    event_id, response = fail(function, job)
    assert response.status_code == 500  # Eventarc retries
    assert standin.launches == []
    assert pipeline_doc(world)["pending_attempt"]["attempt"] == 1
    _, response = fail(function, job, event_id=event_id)  # the redelivery
    assert response.status_code == 200
    assert len(standin.launches) == 1
    doc = pipeline_doc(world)
    assert (doc["retries_used"], doc["pending_attempt"]) == (1, None)


def test_permanent_launch_error_is_recorded_and_acknowledged(function, standin, world):
    job = seed(world, standin)
    standin.fail_next_launches(1, grpc.StatusCode.NOT_FOUND, "template file not found")
    event_id, response = fail(function, job)
    assert response.status_code == 200
    assert standin.launches == []
    ev = event_doc(world, event_id)
    assert ev["decision"] == "error" and "template file not found" in ev["reason"]
    assert attempt_doc(world, 1)["outcome"] == "error"
    doc = pipeline_doc(world)
    assert (doc["retries_used"], doc["pending_attempt"]) == (0, None)
    _, again = fail(function, job, event_id=event_id)
    assert again.status_code == 200 and standin.launches == []


def test_unmanaged_job_is_acknowledged_and_filed(function, standin, world):
    job = standin.add_job("someone-elses-batch-job", RUNNING)
    attrs, data = status_changed(job_payload(job, FAILED, at=T0))
    assert post(function.url, attrs, data).status_code == 200
    assert standin.launches == []
    assert unfiled_doc(world, attrs["id"])["decision"] == "unmanaged"


def test_crash_between_claim_and_launch_then_redelivery_launches_once(firestore_emulator, standin, world, project):
    """kill -9 of the function while its launch is held in the stand-in; the redelivery finishes the attempt."""
    proc = RelauncherProcess(
        settings(project), {"FIRESTORE_EMULATOR_HOST": firestore_emulator.host}, standin.endpoint
    ).start()
    try:
        job = seed(world, standin)
        standin.hold_launches()
        attrs, data = status_changed(job_payload(job, FAILED, at=T0))
        outcome: dict = {}

        def deliver() -> None:
            try:
                outcome["status"] = post(proc.url, attrs, data).status_code
            except requests.RequestException as exc:
                outcome["error"] = exc

        sender = threading.Thread(target=deliver)
        sender.start()
        assert standin.wait_for_requests(1)
        claimed = pipeline_doc(world)
        assert (claimed["retries_used"], claimed["pending_attempt"]["attempt"]) == (1, 1)
        proc.kill()
        sender.join(30)
        assert "error" in outcome  # the delivery failed: Eventarc will redeliver
        assert standin.wait_for_abandoned(1)
        standin.release_launches()
        assert standin.launches == []

        proc.start()
        response = post(proc.url, attrs, data)
        assert response.status_code == 200
        assert [launch.job_name for launch in standin.launches] == ["orders-analytics-a1"]
        doc = pipeline_doc(world)
        assert (doc["retries_used"], doc["attempt"], doc["pending_attempt"]) == (1, 1, None)
        assert doc["current_job_id"] == standin.launches[0].job_id
    finally:
        standin.release_launches()
        proc.stop()


def test_other_pipeline_is_independent(function, standin, world):
    orders = seed(world, standin, "orders")
    shipping = seed(world, standin, "shipping")
    fail(function, orders)
    fail(function, shipping)
    assert sorted(launch.job_name for launch in standin.launches) == ["orders-analytics-a1", "shipping-analytics-a1"]
    assert pipeline_doc(world, "shipping")["retries_used"] == 1


def test_unregistered_pipeline_adopts_the_failed_job(function, standin, world):
    """No first-launch record (e.g. Firestore wiped): the failing job is adopted as current and relaunched."""
    job = standin.add_job("orders-analytics-a4", RUNNING)
    event_id, _ = fail(function, job)
    assert [launch.job_name for launch in standin.launches] == ["orders-analytics-a5"]
    assert "no pipeline record" in event_doc(world, event_id)["reason"]


def test_event_ids_that_are_not_document_ids(function, standin, world):
    job = seed(world, standin)
    event_id, response = fail(function, job, event_id=f"projects/x/events/{uuid.uuid4().hex}")
    assert response.status_code == 200
    assert event_doc(world, event_id)["event_id"] == event_id
