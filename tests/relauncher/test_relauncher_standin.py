"""The Dataflow stand-in over real gRPC with the real client, and its Pub/Sub events pushed to the function."""

from __future__ import annotations

import json
import threading
import time
import uuid

import grpc
import pytest
from google.api_core import exceptions as gexc
from google.cloud import dataflow_v1beta3 as dataflow
from google.cloud import pubsub_v1

from localdev.dataflow_standin import DataflowStandIn, RelauncherProcess
from relauncher.launcher import Launcher, PermanentLaunchError, launch_parameter
from tests.relauncher.support import REGION, config, settings

ACTIVE = dataflow.ListJobsRequest.Filter.ACTIVE
TERMINATED = dataflow.ListJobsRequest.Filter.TERMINATED
ALL = dataflow.ListJobsRequest.Filter.ALL


@pytest.fixture
def server(project):
    with DataflowStandIn(project, REGION) as s:
        yield s


def launch(flex, project, name, pipeline="orders"):
    param = launch_parameter(config(project).pipelines[pipeline], name)
    request = dataflow.LaunchFlexTemplateRequest(project_id=project, location=REGION, launch_parameter=param)
    return flex.launch_flex_template(request=request, retry=None).job


def names(jobs_client, project, flt):
    request = dataflow.ListJobsRequest(project_id=project, location=REGION, filter=flt)
    return sorted(j.name for j in jobs_client.list_jobs(request=request))


def test_launch_creates_a_pending_streaming_job_with_the_template_labels(server, clients, project):
    flex, jobs = clients
    hooked = []
    server.on_launch = lambda job, param: hooked.append((job.id, param))
    job = launch(flex, project, "orders-analytics-a0")
    assert (job.name, job.type_, job.current_state) == (
        "orders-analytics-a0",
        dataflow.JobType.JOB_TYPE_STREAMING,
        dataflow.JobState.JOB_STATE_PENDING,
    )
    cfg = config(project)
    assert job.labels[cfg.managed_label_key] == cfg.managed_label_value
    got = jobs.get_job(request=dataflow.GetJobRequest(project_id=project, job_id=job.id, location=REGION))
    assert got.id == job.id
    assert hooked == [
        (
            job.id,
            json.loads(
                dataflow.LaunchFlexTemplateParameter.to_json(launch_parameter(cfg.pipelines["orders"], job.name))
            ),
        )
    ]
    assert [(lnch.job_name, lnch.job_id) for lnch in server.launches] == [(job.name, job.id)]


def test_active_name_is_refused_like_dataflow_and_free_again_when_terminal(server, clients, project):
    flex, jobs = clients
    first = launch(flex, project, "orders-analytics-a1")
    with pytest.raises(gexc.AlreadyExists, match="There is already an active job named orders-analytics-a1"):
        launch(flex, project, "orders-analytics-a1")
    server.set_state(first.id, "JOB_STATE_FAILED")
    second = launch(flex, project, "orders-analytics-a1")
    assert second.id != first.id
    assert names(jobs, project, ACTIVE) == ["orders-analytics-a1"]
    assert names(jobs, project, TERMINATED) == ["orders-analytics-a1"]
    assert names(jobs, project, ALL) == ["orders-analytics-a1", "orders-analytics-a1"]


@pytest.mark.parametrize(
    ("requested", "transitional"),
    [("JOB_STATE_CANCELLED", "JOB_STATE_CANCELLING"), ("JOB_STATE_DRAINED", "JOB_STATE_DRAINING")],
)
def test_update_job_requested_state(server, clients, project, requested, transitional):
    flex, jobs = clients
    job = launch(flex, project, "orders-analytics-a0")
    server.set_state(job.id, "JOB_STATE_RUNNING")
    request = dataflow.UpdateJobRequest(
        project_id=project, job_id=job.id, location=REGION, job=dataflow.Job(requested_state=requested)
    )
    assert jobs.update_job(request=request).current_state == dataflow.JobState[transitional]
    assert server.job(job.id).current_state == dataflow.JobState[requested]
    with pytest.raises(gexc.FailedPrecondition):
        jobs.update_job(request=request)


def test_injected_failures(server, clients, project):
    flex, _ = clients
    server.fail_next_launches(2, grpc.StatusCode.PERMISSION_DENIED, "no access to the template")
    for _ in range(2):
        with pytest.raises(gexc.PermissionDenied, match="no access"):
            launch(flex, project, "orders-analytics-a0")
    assert launch(flex, project, "orders-analytics-a0").name == "orders-analytics-a0"
    assert server.requests_seen == 3 and len(server.launches) == 1


def test_held_launch_runs_on_release(server, clients, project):
    flex, _ = clients
    server.hold_launches()
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("job", launch(flex, project, "orders-analytics-a0")))
    t.start()
    assert server.wait_for_requests(1)
    assert server.launches == []
    server.release_launches()
    t.join(30)
    assert result["job"].name == "orders-analytics-a0" and len(server.launches) == 1


def test_held_launch_whose_caller_left_is_not_performed(server, clients, project):
    flex, _ = clients
    server.hold_launches()
    param = launch_parameter(config(project).pipelines["orders"], "orders-analytics-a0")
    request = dataflow.LaunchFlexTemplateRequest(project_id=project, location=REGION, launch_parameter=param)
    with pytest.raises(gexc.DeadlineExceeded):
        flex.launch_flex_template(request=request, retry=None, timeout=0.5)
    assert server.wait_for_abandoned(1)
    server.release_launches()
    assert server.launches == []


def test_launcher_adapter_against_the_standin(server, project):
    cfg = config(project)
    cfg = type(cfg)(**{**cfg.__dict__, "dataflow_endpoint": server.endpoint})
    launcher = Launcher(cfg)
    orders = cfg.pipelines["orders"]
    first = launcher.launch(orders, "orders-analytics-a3")
    again = launcher.launch(orders, "orders-analytics-a3")  # ALREADY_EXISTS -> the active job, found by name
    assert first.id == again.id and (first.already_existed, again.already_existed) == (False, True)
    assert len(server.launches) == 1 and server.requests_seen == 2
    server.set_state(first.id, "JOB_STATE_FAILED")  # a terminated job's name is free: never adopted
    assert launcher.launch(orders, "orders-analytics-a3").id != first.id
    server.fail_next_launches(1, grpc.StatusCode.INVALID_ARGUMENT, "bad parameter")
    with pytest.raises(PermanentLaunchError, match="bad parameter"):
        launcher.launch(orders, "orders-analytics-a4")
    server.fail_next_launches(1, grpc.StatusCode.UNAVAILABLE, "try later")
    with pytest.raises(gexc.ServiceUnavailable):
        launcher.launch(orders, "orders-analytics-a4")


@pytest.mark.emulators
@pytest.mark.slow
def test_status_events_pushed_through_pubsub_heal_the_pipeline(pubsub_emulator, firestore_emulator, world, project):
    """Stand-in -> Pub/Sub emulator -> push subscription -> functions-framework -> relaunch, as Eventarc wires it."""
    store, cfg = world
    topic = f"dataflow-job-events-{uuid.uuid4().hex[:6]}"
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    topic_path = publisher.create_topic(name=publisher.topic_path(project, topic)).name
    with DataflowStandIn(project, REGION, events_topic=topic) as dataflow_standin:
        fn = RelauncherProcess(
            settings(project), {"FIRESTORE_EMULATOR_HOST": firestore_emulator.host}, dataflow_standin.endpoint
        ).start()
        sub_path = subscriber.subscription_path(project, topic)
        try:
            subscriber.create_subscription(
                request={"name": sub_path, "topic": topic_path, "push_config": {"push_endpoint": fn.url}}
            )
            first = dataflow_standin.add_job("orders-analytics-a0", "JOB_STATE_RUNNING")
            store.register_first_launch(cfg.pipelines["orders"], first.id, first.name)
            dataflow_standin.set_state(first.id, "JOB_STATE_FAILED")
            doc = {}
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                doc = store.collection.document("orders").get().to_dict()
                if doc["current_job_name"] == "orders-analytics-a1" and not doc["pending_attempt"]:
                    break
                time.sleep(0.2)
            assert [lnch.job_name for lnch in dataflow_standin.launches] == ["orders-analytics-a1"]
            assert (doc["current_job_id"], doc["retries_used"]) == (dataflow_standin.launches[0].job_id, 1)
            events = [e.to_dict() for e in store.collection.document("orders").collection("events").stream()]
            assert [(e["event_type"], e["decision"]) for e in events] == [
                ("google.cloud.pubsub.topic.v1.messagePublished", "relaunched")
            ]
        finally:
            subscriber.delete_subscription(request={"subscription": sub_path})
            publisher.delete_topic(request={"topic": topic_path})
            fn.stop()
