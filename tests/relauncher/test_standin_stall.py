"""The Dataflow stand-in's stop and update semantics (what healing a stalled job relies on), over real gRPC
with the real client, plus the hooks LocalDataflow overrides."""

from __future__ import annotations

import dataclasses

import pytest
from google.api_core import exceptions as gexc
from google.cloud import dataflow_v1beta3 as dataflow

from localdev.dataflow_standin import DataflowStandIn
from relauncher.launcher import Launcher, PermanentLaunchError, launch_parameter
from tests.relauncher.support import REGION, config

RUNNING = "JOB_STATE_RUNNING"


class Recording(DataflowStandIn):
    """A subclass as LocalDataflow writes one: records each hook, then lets the default finish the job."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[str, str]] = []

    def _on_drain_requested(self, job):
        self.calls.append(("drain", job.current_state.name))
        super()._on_drain_requested(job)

    def _on_cancel_requested(self, job):
        self.calls.append(("cancel", job.current_state.name))
        super()._on_cancel_requested(job)

    def _on_update_launch(self, old_job, new_job):
        self.calls.append(("update", f"{old_job.current_state.name}->{new_job.replace_job_id == old_job.id}"))


@pytest.fixture
def server(project):
    with Recording(project, REGION) as s:
        yield s


def request_state(jobs, project, job_id, state):
    request = dataflow.UpdateJobRequest(
        project_id=project, job_id=job_id, location=REGION, job=dataflow.Job(requested_state=state)
    )
    return jobs.update_job(request=request)


def update_launch(flex, project, name):
    param = launch_parameter(config(project).pipelines["orders"], name)
    param.update = True
    request = dataflow.LaunchFlexTemplateRequest(project_id=project, location=REGION, launch_parameter=param)
    return flex.launch_flex_template(request=request, retry=None).job


def test_drain_goes_draining_then_drained_and_calls_the_hook(server, clients, project):
    _, jobs = clients
    job = server.add_job("orders-analytics-a0", RUNNING)
    answer = request_state(jobs, project, job.id, "JOB_STATE_DRAINED")
    assert answer.current_state.name == "JOB_STATE_DRAINING"
    assert answer.requested_state.name == "JOB_STATE_DRAINED"
    assert server.calls == [("drain", "JOB_STATE_DRAINING")]
    assert server.job(job.id).current_state.name == "JOB_STATE_DRAINED"
    with pytest.raises(gexc.FailedPrecondition, match="terminal"):
        request_state(jobs, project, job.id, "JOB_STATE_CANCELLED")


def test_cancel_goes_cancelling_then_cancelled(server, clients, project):
    _, jobs = clients
    job = server.add_job("orders-analytics-a0", RUNNING)
    assert request_state(jobs, project, job.id, "JOB_STATE_CANCELLED").current_state.name == "JOB_STATE_CANCELLING"
    assert server.calls == [("cancel", "JOB_STATE_CANCELLING")]
    assert server.job(job.id).current_state.name == "JOB_STATE_CANCELLED"


def test_held_drain_never_finishes_and_can_still_be_cancelled(server, clients, project):
    _, jobs = clients
    server.hold_drains()
    job = server.add_job("orders-analytics-a0", RUNNING)
    request_state(jobs, project, job.id, "JOB_STATE_DRAINED")
    # A repeated drain request is answered with the draining job (a retry must not fail), no second hook call.
    assert request_state(jobs, project, job.id, "JOB_STATE_DRAINED").current_state.name == "JOB_STATE_DRAINING"
    assert server.calls == [("drain", "JOB_STATE_DRAINING")]
    assert server.job(job.id).current_state.name == "JOB_STATE_DRAINING"
    # DRAINING may go to CANCELLED (JobState docs): the deadline's escalation.
    request_state(jobs, project, job.id, "JOB_STATE_CANCELLED")
    assert server.job(job.id).current_state.name == "JOB_STATE_CANCELLED"
    assert server.finish_drain(job.id) is None  # a cancelled job never becomes DRAINED


def test_only_a_running_job_can_be_drained(server, clients, project):
    _, jobs = clients
    job = server.add_job("orders-analytics-a0", "JOB_STATE_PENDING")
    with pytest.raises(gexc.FailedPrecondition, match="only a running job"):
        request_state(jobs, project, job.id, "JOB_STATE_DRAINED")
    with pytest.raises(gexc.InvalidArgument):
        request_state(jobs, project, job.id, "JOB_STATE_DONE")


def test_update_launch_replaces_the_running_job_of_that_name(server, clients, project):
    flex, _ = clients
    old = server.add_job("orders-analytics-a0", RUNNING)
    new = update_launch(flex, project, "orders-analytics-a0")
    assert (new.name, new.replace_job_id, new.current_state.name) == (
        "orders-analytics-a0",
        old.id,
        "JOB_STATE_PENDING",
    )
    replaced = server.job(old.id)
    assert (replaced.current_state.name, replaced.replaced_by_job_id) == ("JOB_STATE_UPDATED", new.id)
    assert server.calls == [("update", "JOB_STATE_UPDATED->True")]


def test_update_without_a_running_job_or_incompatible_is_refused(server, clients, project):
    flex, _ = clients
    with pytest.raises(gexc.NotFound, match="running job"):
        update_launch(flex, project, "orders-analytics-a0")
    old = server.add_job("orders-analytics-a0", RUNNING)
    server.refuse_next_updates(1)
    with pytest.raises(gexc.FailedPrecondition, match="compatib"):
        update_launch(flex, project, "orders-analytics-a0")
    assert server.job(old.id).current_state.name == RUNNING  # the prior job keeps running
    assert [j.name for j in server.jobs()] == ["orders-analytics-a0"]


def test_launcher_heal_requests_against_the_standin(server, project):
    launcher = Launcher(dataclasses.replace(config(project), dataflow_endpoint=server.endpoint))
    job = server.add_job("orders-analytics-a0", RUNNING)
    assert launcher.request_state(job.id, "JOB_STATE_CANCELLED") == "JOB_STATE_CANCELLING"
    assert launcher.request_state(job.id, "JOB_STATE_DRAINED") == "already-ended"
    pipeline = launcher.config.pipelines["orders"]
    running = server.add_job("orders-analytics-a1", RUNNING)
    replacement = launcher.launch_update(pipeline, "orders-analytics-a1", running.id)
    assert server.job(replacement.id).replace_job_id == running.id
    assert launcher.launch_update(pipeline, "orders-analytics-a1", running.id) is None  # never twice
    server.set_state(replacement.id, RUNNING)
    server.refuse_next_updates(1)
    with pytest.raises(PermanentLaunchError, match="compatib"):
        launcher.launch_update(pipeline, "orders-analytics-a1", replacement.id)
