"""LocalDataflow acting on real local processes: drain, cancel and update through the real Dataflow client.

The jobs here are real process groups (a shell script with a child, in its own session), not
Beam pipelines: what is tested is process control (SIGSTOP, graceful stop, kill of a stopped
group) and the states the stand-in reports for it, which do not depend on what the process
computes.  The demo's end-to-end test runs the same paths with the real DirectRunner pipelines.
The state sequences are those of the Dataflow stand-in (localdev/dataflow_standin.py cites
Dataflow's documentation for them).
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from localdev import emulators
from localdev.demo import DemoConfig, demo_settings
from localdev.local_jobs import LocalDataflow, LocalJobRunner
from relauncher.config import parse_config
from relauncher.launcher import Launcher

pytestmark = pytest.mark.emulators

# A stand-in job process: a parent and a child in one process group, ready at once, running until stopped.
FAKE_JOB = """#!/bin/sh
sleep 600 &
echo "Running pipeline with DirectRunner"
wait
"""


@pytest.fixture
def local(project, pubsub_emulator, unique_suffix, tmp_path):
    script = tmp_path / "fake-job"
    script.write_text(FAKE_JOB)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    from google.cloud import pubsub_v1

    topic = pubsub_v1.PublisherClient().create_topic(name=f"projects/{project}/topics/events-{unique_suffix}").name
    standin = LocalDataflow(project, "europe-west1", events_topic=topic).start()
    runner = LocalJobRunner(standin, {}, log_dir=tmp_path / "jobs", python=str(script), ready_after_seconds=30)
    launcher = Launcher(parse_config(demo_settings(DemoConfig(project=project)), standin.endpoint))
    try:
        yield standin, runner, launcher
    finally:
        runner.stop_all()
        standin.stop()


def _states(standin: LocalDataflow, job_id: str) -> list[str]:
    """Every state the stand-in published for ``job_id``, in order."""
    return [e["data"]["payload"]["currentState"] for e in standin.published if e["data"]["payload"]["id"] == job_id]


def _eventually(predicate, timeout: float = 30.0) -> bool:
    """Wait for an asynchronous outcome (the final state is published when the process has ended)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _ended(standin: LocalDataflow, job_id: str, state: str) -> bool:
    return _eventually(lambda: standin.job(job_id).current_state.name == state)


def _group_gone(pgid: int) -> bool:
    return not emulators.live_group_members(pgid)


def _start(runner: LocalJobRunner, launcher: Launcher, name: str):
    job = launcher.launch(launcher.config.pipelines["orders"], name)
    local = runner.jobs[job.id]
    assert local.running.wait(30), local.process.log_tail()
    return job, local


def _stopped(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("T", "t")


def test_a_drained_live_job_stops_its_process_and_ends_drained(local):
    standin, runner, launcher = local
    job, proc = _start(runner, launcher, "orders-analytics-a0")
    pgid = proc.process.proc.pid
    assert launcher.request_state(job.id, "JOB_STATE_DRAINED") == "JOB_STATE_DRAINING"
    assert proc.done.wait(30)
    assert _ended(standin, job.id, "JOB_STATE_DRAINED")
    assert _states(standin, job.id) == ["JOB_STATE_RUNNING", "JOB_STATE_DRAINING", "JOB_STATE_DRAINED"]
    assert _group_gone(pgid)


def test_a_stalled_job_never_drains_and_a_cancel_kills_its_stopped_group(local):
    standin, runner, launcher = local
    job, proc = _start(runner, launcher, "orders-analytics-a0")
    pgid = proc.process.proc.pid
    runner.freeze(job.id)
    members = emulators.live_group_members(pgid)
    assert len(members) >= 2 and all(_stopped(pid) for pid in members)  # the whole group, child included

    assert launcher.request_state(job.id, "JOB_STATE_DRAINED") == "JOB_STATE_DRAINING"
    # A stopped process cannot finish its work: the drain is left pending, the process stays stopped.
    assert standin.job(job.id).current_state.name == "JOB_STATE_DRAINING"
    assert proc.process.alive() and all(_stopped(pid) for pid in emulators.live_group_members(pgid))

    assert launcher.request_state(job.id, "JOB_STATE_CANCELLED") == "JOB_STATE_CANCELLING"
    assert proc.done.wait(30)
    assert _ended(standin, job.id, "JOB_STATE_CANCELLED")
    assert _states(standin, job.id) == [
        "JOB_STATE_RUNNING",
        "JOB_STATE_DRAINING",
        "JOB_STATE_CANCELLING",
        "JOB_STATE_CANCELLED",
    ]
    assert _group_gone(pgid) and proc.end_state == "stopped"  # no FAILED event for a cancelled job


def test_an_update_launch_starts_the_replacement_and_ends_the_old_process(local):
    standin, runner, launcher = local
    old, old_proc = _start(runner, launcher, "orders-analytics-a0")
    pgid = old_proc.process.proc.pid
    new = launcher.launch_update(launcher.config.pipelines["orders"], "orders-analytics-a0", old.id)
    assert new is not None and new.id != old.id
    new_proc = runner.jobs[new.id]
    assert new_proc.running.wait(30) and new_proc.process.alive()
    assert old_proc.done.wait(30) and _group_gone(pgid)
    assert _states(standin, old.id) == ["JOB_STATE_RUNNING", "JOB_STATE_UPDATED"]
    assert standin.job(old.id).replaced_by_job_id == new.id
    assert standin.job(new.id).replace_job_id == old.id
    assert old_proc.end_state == "stopped"
    assert os.getpgid(new_proc.process.proc.pid) == new_proc.process.proc.pid
