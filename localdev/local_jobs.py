"""Local Dataflow jobs: each launched job is a Beam DirectRunner streaming process.

The Dataflow stand-in (``localdev.dataflow_standin``) accepts flex-template
launches; :class:`LocalJobRunner` makes them real.  For every accepted launch it
starts ``python -m pipelines.<template>.main`` with the launch parameters as
pipeline options, in its own process group, and reports the job's life back to
the stand-in, which publishes Eventarc-shaped status events:

- RUNNING once the process is up (it has printed its ready line, or has stayed
  alive ``ready_after_seconds``);
- FAILED when the process exits on its own or is killed (non-zero exit, signal);
- through the API (:class:`LocalDataflow`, on the stand-in's hooks): a drain stops the
  process gracefully and reports DRAINED when it has exited, but a *stalled* process
  (stopped with SIGSTOP, :meth:`LocalJobRunner.freeze`) cannot finish its work, so its job
  stays DRAINING, as a wedged Dataflow job's drain does; a cancel kills the process group
  (SIGKILL, which also ends a stopped process) and reports CANCELLED; an update launch
  starts the replacement and ends the old process (its job is already UPDATED).

The template is the file stem of ``containerSpecGcsPath``
(``gs://bucket/templates/orders.json`` -> ``pipelines.orders.main``), the same
name ``config/system.json`` gives it.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.cloud import dataflow_v1beta3 as dataflow

from localdev.dataflow_standin import DataflowStandIn
from localdev.emulators import ManagedProcess, live_group_members
from pipelines import system
from pipelines.common import job_identity

REPO = Path(__file__).resolve().parents[1]
# Beam's DirectRunner logs this once the streaming pipeline is built and about to execute.
DEFAULT_READY_PATTERN = r"Running pipeline with DirectRunner|pipeline started|Starting the pipeline"


def template_of(launch_parameter: Mapping[str, Any]) -> str:
    """The pipeline template a launch refers to: the stem of its container spec path."""
    path = str(launch_parameter.get("containerSpecGcsPath") or "")
    stem = path.rsplit("/", 1)[-1].removesuffix(".json")
    templates = {p["template"] for p in system.system()["pipelines"].values()}
    if stem not in templates:
        raise ValueError(f"unknown template {stem!r} in containerSpecGcsPath {path!r}")
    return stem


def pipeline_of_template(template: str) -> str:
    for name, p in system.system()["pipelines"].items():
        if p["template"] == template:
            return name
    raise ValueError(f"no pipeline uses template {template!r}")


def job_argv(python: str, launch_parameter: Mapping[str, Any], extra_args: list[str]) -> list[str]:
    """The command line of one local job: the template's main module with the launch parameters as options."""
    argv = [python, "-m", f"pipelines.{template_of(launch_parameter)}.main", "--runner", "DirectRunner", "--streaming"]
    for key, value in sorted((launch_parameter.get("parameters") or {}).items()):
        argv += [f"--{key}", str(value)]
    return argv + list(extra_args)


@dataclass
class LocalJob:
    job_id: str
    job_name: str
    pipeline: str
    argv: list[str]
    process: ManagedProcess
    launched_at: float  # monotonic
    running_at: float | None = None
    ended_at: float | None = None
    killed_at: float | None = None
    end_state: str | None = None
    exit_code: int | None = None
    stopping: bool = False  # cancelled or shut down: no FAILED event when it ends
    frozen_at: float | None = None  # monotonic time of the SIGSTOP that stalled it (never resumed)
    states: list[tuple[float, str]] = field(default_factory=list)  # (monotonic, state) the job itself reported
    done: threading.Event = field(default_factory=threading.Event)
    running: threading.Event = field(default_factory=threading.Event)


Listener = Callable[[str, LocalJob], None]  # (what happened: "launched"|"running"|"ended", job)


class LocalJobRunner:
    """Runs the stand-in's launches as local processes and reports their states back to it."""

    def __init__(
        self,
        standin: DataflowStandIn,
        env: Mapping[str, str],
        *,
        log_dir: Path,
        python: str = sys.executable,
        extra_args: list[str] | None = None,
        ready_pattern: str = DEFAULT_READY_PATTERN,
        ready_after_seconds: float = 15.0,
        listener: Listener | None = None,
    ) -> None:
        self.standin = standin
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.log_dir = log_dir
        self.python = python
        self.extra_args = extra_args if extra_args is not None else ["--direct_num_workers", "1"]
        self.ready = re.compile(ready_pattern)
        self.ready_after_seconds = ready_after_seconds
        self.listener = listener
        self.jobs: dict[str, LocalJob] = {}
        self._lock = threading.Lock()
        self._closed = False
        standin.on_launch = self.on_launch
        if isinstance(standin, LocalDataflow):
            standin.runner = self

    # -- stand-in hook -------------------------------------------------------------------------------
    def on_launch(self, job: dataflow.Job, launch_parameter: dict[str, Any]) -> None:
        """Called by the stand-in for every accepted launch: start the job's process."""
        template = template_of(launch_parameter)
        argv = job_argv(self.python, launch_parameter, self.extra_args)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        # Dataflow runs the SDK harness with JOB_ID and JOB_NAME set (pipelines/common/job_identity.py).
        env = {**self.env, job_identity.JOB_ID_VARIABLE: job.id, job_identity.JOB_NAME_VARIABLE: job.name}
        process = ManagedProcess(
            f"job-{job.name}", argv, env=env, log_path=self.log_dir / f"{job.name}-{job.id[-6:]}.log"
        )
        local = LocalJob(job.id, job.name, pipeline_of_template(template), argv, process, time.monotonic())
        with self._lock:
            if self._closed:
                return
            self.jobs[job.id] = local
            process.start()
        self._notify("launched", local)
        threading.Thread(target=self._watch, args=(local,), name=f"watch-{job.name}", daemon=True).start()

    # -- control -------------------------------------------------------------------------------------
    def kill(self, job_id: str) -> LocalJob:
        """Kill the job's whole process group with SIGKILL: a crash, reported as JOB_STATE_FAILED."""
        job = self.jobs[job_id]
        job.killed_at = time.monotonic()
        _kill_group(job)
        return job

    def freeze(self, job_id: str, timeout: float = 10.0) -> LocalJob:
        """Stall the job: SIGSTOP its whole process group and wait until every member is stopped.

        The process keeps its subscription and its state RUNNING, but pulls and writes nothing,
        like a Dataflow job retrying a bundle forever; it is never resumed (only cancel ends it).
        """
        job = self.jobs[job_id]
        proc = job.process.proc
        assert proc is not None
        os.killpg(proc.pid, signal.SIGSTOP)
        deadline = time.monotonic() + timeout
        while not _group_stopped(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        job.frozen_at = time.monotonic()
        return job

    def drain(self, job_id: str) -> bool:
        """Stop the job's process gracefully (SIGTERM, then SIGKILL); False if it cannot drain (stalled).

        The DirectRunner has no drain of its own: this stands for "stop pulling, finish, exit"
        and is faithful when nothing pulled is still unwritten (the demo drains only stalled
        jobs, which never finish: their drain stays DRAINING until the relauncher cancels).
        """
        job = self.jobs.get(job_id)
        if job is None or job.frozen_at is not None:
            return False
        job.stopping = True
        job.process.stop(timeout=5)
        job.done.wait(10)
        return True

    def cancel(self, job_id: str) -> None:
        """End the process of a job cancelled through the API or replaced by an update (state set by the caller).

        A stalled (stopped) process cannot act on SIGTERM, so its group is killed at once.
        """
        job = self.jobs.get(job_id)
        if job is None:
            return
        job.stopping = True
        if job.frozen_at is not None:
            _kill_group(job)
        job.process.stop(timeout=5)
        job.done.wait(10)

    def current(self, pipeline: str) -> LocalJob | None:
        """The pipeline's newest job whose process is still alive."""
        alive = [j for j in self.jobs.values() if j.pipeline == pipeline and j.ended_at is None]
        return max(alive, key=lambda j: j.launched_at) if alive else None

    def wait_running(self, pipeline: str, *, after: float, timeout: float) -> LocalJob | None:
        """Wait for a job of ``pipeline`` launched after ``after`` (monotonic) to be RUNNING."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for job in list(self.jobs.values()):
                if job.pipeline == pipeline and job.launched_at >= after and job.running.is_set():
                    return job
            time.sleep(0.1)
        return None

    def stop_all(self) -> None:
        """Stop every job's process group (no events: the system is shutting down)."""
        with self._lock:
            self._closed = True
            jobs = list(self.jobs.values())
        for job in jobs:
            job.stopping = True
            if job.frozen_at is not None:  # SIGTERM cannot reach it
                _kill_group(job)
        for job in jobs:
            job.process.stop(timeout=5)
            job.done.wait(5)

    def alive_pids(self) -> list[int]:
        return [j.process.proc.pid for j in self.jobs.values() if j.process.alive() and j.process.proc is not None]

    # -- internals -----------------------------------------------------------------------------------
    def _notify(self, what: str, job: LocalJob) -> None:
        if self.listener is not None:
            with contextlib.suppress(Exception):
                self.listener(what, job)

    def _is_ready(self, job: LocalJob) -> bool:
        if time.monotonic() - job.launched_at >= self.ready_after_seconds:
            return True
        path = job.process.log_path
        if path is None or not path.exists():
            return False
        return bool(self.ready.search(path.read_text(errors="replace")))

    def _watch(self, job: LocalJob) -> None:
        proc = job.process.proc
        assert proc is not None
        while proc.poll() is None and not job.stopping and not self._is_ready(job):
            time.sleep(0.1)
        if proc.poll() is None and not job.stopping:
            job.running_at = time.monotonic()
            self._set_state(job, "JOB_STATE_RUNNING")
            job.running.set()
            self._notify("running", job)
        while proc.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.5)
        job.exit_code = proc.returncode
        job.ended_at = time.monotonic()
        # The leader is gone; sweep any children left in its group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        if not job.stopping:
            job.end_state = "JOB_STATE_FAILED"
            self._set_state(job, "JOB_STATE_FAILED")
        else:
            job.end_state = "stopped"
        job.done.set()
        self._notify("ended", job)

    def _set_state(self, job: LocalJob, state: str) -> None:
        job.states.append((time.monotonic(), state))
        try:
            self.standin.set_state(job.job_id, state)
        except Exception as exc:  # the events topic may be gone during shutdown
            if not self._closed:
                print(f"could not publish {state} for {job.job_name}: {exc}", file=sys.stderr)


def _kill_group(job: LocalJob) -> None:
    """SIGKILL the job's whole process group (it also ends a stopped, stalled one)."""
    if job.process.proc is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(job.process.proc.pid, signal.SIGKILL)


def _group_stopped(pgid: int) -> bool:
    """Whether every live member of process group ``pgid`` is stopped (state ``T``)."""
    members = live_group_members(pgid)
    for pid in members:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state not in ("T", "t"):
            return False
    return True


class LocalDataflow(DataflowStandIn):
    """The stand-in whose drain, cancel and update act on the jobs' real local processes.

    It overrides the stand-in's hooks (``localdev.dataflow_standin``); each runs on its own
    thread, so UpdateJob answers at once with the transitional state, as Dataflow does, and the
    final state is published when the process has really ended.
    """

    runner: LocalJobRunner | None = None

    def _local(self, job_id: str) -> LocalJob | None:
        return self.runner.jobs.get(job_id) if self.runner is not None else None

    def _on_drain_requested(self, job: dataflow.Job) -> None:
        local = self._local(job.id)
        if local is None:
            super()._on_drain_requested(job)
        elif local.frozen_at is None:
            _background(f"drain-{job.name}", self._drain, job.id)
        # else: a stalled process never finishes its work; the job stays DRAINING until cancelled

    def _drain(self, job_id: str) -> None:
        assert self.runner is not None
        if self.runner.drain(job_id):
            self.finish_drain(job_id)

    def _on_cancel_requested(self, job: dataflow.Job) -> None:
        if self._local(job.id) is None:
            super()._on_cancel_requested(job)
        else:
            _background(f"cancel-{job.name}", self._cancel, job.id)

    def _cancel(self, job_id: str) -> None:
        assert self.runner is not None
        self.runner.cancel(job_id)
        self.finish_cancel(job_id)

    def _on_update_launch(self, old_job: dataflow.Job, new_job: dataflow.Job) -> None:
        if self.runner is not None and self._local(old_job.id) is not None:
            _background(f"replaced-{old_job.name}", self.runner.cancel, old_job.id)


def _background(name: str, target: Callable[..., Any], *args: Any) -> None:
    threading.Thread(target=target, args=args, name=name, daemon=True).start()
