"""A local Dataflow stand-in: a real gRPC server speaking the subset of the Dataflow API we use.

The google-cloud-dataflow-client package ships message classes but no servicer
stubs, so the methods are registered with grpc's generic handlers using the
proto-plus classes' ``serialize``/``deserialize``. The relauncher (and the demo)
talk to it through the ordinary client, pointed at ``.endpoint``.

Behaviour that matters for correctness mirrors Dataflow: a flex-template launch
whose job name equals an *active* job's name is refused with ``ALREADY_EXISTS``
("There is already an active job named ..."); a name is free again once its job
is terminal. Every state change can be published to Pub/Sub as the
``JobEventData`` JSON Eventarc delivers for ``statusChanged``.

Stopping and updating jobs follows Dataflow's documented state machine:

* ``UpdateJob`` with ``requested_state`` ``JOB_STATE_DRAINED`` drains a running job (the REST
  way to drain, https://cloud.google.com/dataflow/docs/guides/stopping-a-pipeline): the job goes
  ``JOB_STATE_DRAINING`` and later ``JOB_STATE_DRAINED`` ("may only be set by the Cloud Dataflow
  service, and only as a transition from JOB_STATE_DRAINING"; DRAINING "may be set via a Cloud
  Dataflow UpdateJob call, but only as a transition from JOB_STATE_RUNNING", google.dataflow.v1beta3
  JobState). ``JOB_STATE_CANCELLED`` goes ``JOB_STATE_CANCELLING`` then ``JOB_STATE_CANCELLED``
  (CANCELLING: "explicitly cancelled and is in the process of stopping"). A requested state on a
  terminal job is refused (``FAILED_PRECONDITION``); both transitional states are published.
* A flex-template launch with ``update: true`` replaces the active job of that name
  (https://cloud.google.com/dataflow/docs/guides/updating-a-pipeline: "The Dataflow service
  retains the job name, but runs the replacement job with an updated jobId"): the new job carries
  ``replace_job_id``, the old one ends ``JOB_STATE_UPDATED`` with ``replaced_by_job_id``. Without an
  active job of that name the update is refused; an injected incompatible update is refused and the
  prior job keeps running ("If the compatibility check fails, your prior job continues running").

Subclasses act on real processes through the hooks :meth:`_on_drain_requested`,
:meth:`_on_cancel_requested` and :meth:`_on_update_launch` (see ``localdev.local_jobs``).

Fault injection for tests: :meth:`fail_next_launches`, :meth:`hold_launches` and
:meth:`release_launches` (a held launch whose caller has gone away is not performed,
so a crash between claim and launch can be produced for real); :meth:`hold_drains` (a drain
that never completes, as a wedged job's), :meth:`refuse_next_updates` (incompatible update).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.cloud import dataflow_v1beta3 as dataflow
from google.protobuf import timestamp_pb2

from localdev.emulators import ManagedProcess, free_port

JobState = dataflow.JobState
TERMINAL = frozenset(
    {
        JobState.JOB_STATE_DONE,
        JobState.JOB_STATE_FAILED,
        JobState.JOB_STATE_CANCELLED,
        JobState.JOB_STATE_UPDATED,
        JobState.JOB_STATE_DRAINED,
    }
)
STATUS_CHANGED = "google.cloud.dataflow.job.v1beta3.statusChanged"
FLEX_SERVICE = "google.dataflow.v1beta3.FlexTemplatesService"
JOBS_SERVICE = "google.dataflow.v1beta3.JobsV1Beta3"
LaunchHook = Callable[[dataflow.Job, dict[str, Any]], None]


def job_json(job: dataflow.Job) -> dict[str, Any]:
    """Job as REST JSON (camelCase, enum names), the form inside ``JobEventData.payload``."""
    return json.loads(dataflow.Job.to_json(job, use_integers_for_enums=False))


def status_changed_attributes(project: str, region: str, job_id: str, event_id: str | None = None) -> dict[str, str]:
    """CloudEvent attributes of a Dataflow ``statusChanged`` event, as Eventarc sets them for a job."""
    return {
        "id": event_id or uuid.uuid4().hex,
        "type": STATUS_CHANGED,
        "source": f"//dataflow.googleapis.com/projects/{project}/locations/{region}",
        "subject": f"jobs/{job_id}",
        "job": job_id,
    }


def job_event_data(job: dataflow.Job) -> dict[str, Any]:
    """``google.events.cloud.dataflow.v1beta3.JobEventData`` JSON for one job."""
    return {"payload": job_json(job)}


def _state(value: JobState | str | int) -> JobState:
    if isinstance(value, str):
        return JobState[value if value.startswith("JOB_STATE_") else f"JOB_STATE_{value}"]
    return JobState(value)


@dataclass
class Launch:
    job_name: str
    job_id: str
    request: dict[str, Any]
    time: dt.datetime


@dataclass
class _Faults:
    fail_count: int = 0
    fail_code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE
    fail_message: str = ""
    held: bool = False
    release: threading.Event = field(default_factory=threading.Event)
    drains_held: bool = False
    updates_held: bool = False
    updates_release: threading.Event = field(default_factory=threading.Event)
    refuse_updates: int = 0
    refuse_message: str = ""


class DataflowStandIn:
    """In-process gRPC server: FlexTemplatesService.LaunchFlexTemplate and JobsV1Beta3 Get/List/Update."""

    def __init__(self, project: str, region: str, events_topic: str | None = None) -> None:
        self.project = project
        self.region = region
        self.events_topic = events_topic
        self.on_launch: LaunchHook | None = None
        self.launches: list[Launch] = []
        self.requests_seen = 0  # every LaunchFlexTemplate call, accepted or not
        self.update_requests: list[tuple[str, str]] = []  # every UpdateJob call: (job id, requested state)
        self.abandoned = 0  # held launches whose caller went away (not performed)
        self.published: list[dict[str, Any]] = []
        self._jobs: dict[str, dataflow.Job] = {}
        self._lock = threading.RLock()
        self._seen = threading.Condition(self._lock)
        self._faults = _Faults()
        self._server: grpc.Server | None = None
        self._publisher = None
        self.port: int | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> DataflowStandIn:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=128, thread_name_prefix="dataflow-standin"))
        flex = {
            "LaunchFlexTemplate": grpc.unary_unary_rpc_method_handler(
                self._launch_flex_template,
                request_deserializer=dataflow.LaunchFlexTemplateRequest.deserialize,
                response_serializer=dataflow.LaunchFlexTemplateResponse.serialize,
            )
        }
        jobs = {
            "GetJob": grpc.unary_unary_rpc_method_handler(
                self._get_job,
                request_deserializer=dataflow.GetJobRequest.deserialize,
                response_serializer=dataflow.Job.serialize,
            ),
            "ListJobs": grpc.unary_unary_rpc_method_handler(
                self._list_jobs,
                request_deserializer=dataflow.ListJobsRequest.deserialize,
                response_serializer=dataflow.ListJobsResponse.serialize,
            ),
            "UpdateJob": grpc.unary_unary_rpc_method_handler(
                self._update_job,
                request_deserializer=dataflow.UpdateJobRequest.deserialize,
                response_serializer=dataflow.Job.serialize,
            ),
        }
        server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(FLEX_SERVICE, flex),
                grpc.method_handlers_generic_handler(JOBS_SERVICE, jobs),
            )
        )
        self.port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self._server = server
        return self

    @property
    def endpoint(self) -> str:
        if self.port is None:
            raise RuntimeError("DataflowStandIn is not started")
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.release_launches()
        self.release_updates()
        if self._server is not None:
            self._server.stop(grace=None).wait(10)
            self._server = None
        if self._publisher is not None:
            with contextlib.suppress(Exception):
                self._publisher.stop()
            self._publisher = None

    def __enter__(self) -> DataflowStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget every job, launch and fault (tests reuse one server)."""
        with self._lock:
            self.release_launches()
            self._jobs.clear()
            self.launches.clear()
            self.published.clear()
            self.requests_seen = 0
            self.update_requests.clear()
            self.abandoned = 0
            self._faults.updates_release.set()
            self._faults = _Faults()

    # -- fault injection ---------------------------------------------------------------------------
    def fail_next_launches(self, n: int, code: grpc.StatusCode, message: str = "injected failure") -> None:
        with self._lock:
            self._faults.fail_count = n
            self._faults.fail_code = code
            self._faults.fail_message = message

    def hold_launches(self) -> None:
        """Block LaunchFlexTemplate calls until :meth:`release_launches`."""
        with self._lock:
            self._faults.held = True
            self._faults.release.clear()

    def release_launches(self) -> None:
        with self._lock:
            self._faults.held = False
            self._faults.release.set()

    def hold_drains(self, held: bool = True) -> None:
        """Drains requested while held stay ``JOB_STATE_DRAINING`` forever (until :meth:`finish_drain`)."""
        with self._lock:
            self._faults.drains_held = held

    def hold_updates(self) -> None:
        """Block UpdateJob calls until :meth:`release_updates`; a held request is then performed even if
        its caller went away (a request that reached Dataflow takes effect: the worse case for a crash)."""
        with self._lock:
            self._faults.updates_held = True
            self._faults.updates_release.clear()

    def release_updates(self) -> None:
        with self._lock:
            self._faults.updates_held = False
            self._faults.updates_release.set()

    def wait_for_job_state(self, job_id: str, state: str, timeout: float = 30.0) -> bool:
        """Wait until the job is in ``state`` (e.g. after a held request was released)."""
        with self._seen:
            return self._seen.wait_for(lambda: self._jobs[job_id].current_state == _state(state), timeout)

    def wait_for_update_requests(self, n: int, timeout: float = 30.0) -> bool:
        """Wait until ``n`` UpdateJob calls have arrived (held or not)."""
        with self._seen:
            return self._seen.wait_for(lambda: len(self.update_requests) >= n, timeout)

    def refuse_next_updates(self, n: int, message: str = "") -> None:
        """The next ``n`` launches with ``update: true`` fail Dataflow's compatibility check."""
        with self._lock:
            self._faults.refuse_updates = n
            self._faults.refuse_message = message

    def wait_for_requests(self, n: int, timeout: float = 30.0) -> bool:
        """Wait until ``n`` LaunchFlexTemplate calls have arrived (held or not)."""
        with self._seen:
            return self._seen.wait_for(lambda: self.requests_seen >= n, timeout)

    def wait_for_abandoned(self, n: int, timeout: float = 30.0) -> bool:
        """Wait until ``n`` held launches were dropped because their caller went away."""
        with self._seen:
            return self._seen.wait_for(lambda: self.abandoned >= n, timeout)

    # -- job state ---------------------------------------------------------------------------------
    def job(self, job_id: str) -> dataflow.Job:
        with self._lock:
            return _copy(self._jobs[job_id])

    def jobs(self) -> list[dataflow.Job]:
        with self._lock:
            return [_copy(j) for j in self._jobs.values()]

    def add_job(
        self, name: str, state: JobState | str = JobState.JOB_STATE_RUNNING, labels: dict[str, str] | None = None
    ) -> dataflow.Job:
        """Create a job directly (e.g. the first launch in a test), without publishing an event."""
        with self._lock:
            job = self._new_job(name, labels or {})
            job.current_state = _state(state)
            return _copy(job)

    def set_state(self, job_id: str, state: JobState | str | int, **fields: Any) -> dataflow.Job:
        """Change a job's state (and time); publish the status-changed event if a topic is set.

        Extra ``fields`` (e.g. ``replaced_by_job_id``) are set on the job too.
        """
        with self._lock:
            job = self._jobs[job_id]
            job.current_state = _state(state)
            job.current_state_time = _now_ts()
            for key, value in fields.items():
                setattr(job, key, value)
            snapshot = _copy(job)
            self._seen.notify_all()
        self._publish(snapshot)
        return snapshot

    def _new_job(self, name: str, labels: dict[str, str]) -> dataflow.Job:
        job = dataflow.Job(
            id=_job_id(),
            project_id=self.project,
            name=name,
            location=self.region,
            type_=dataflow.JobType.JOB_TYPE_STREAMING,
            current_state=JobState.JOB_STATE_PENDING,
            labels=labels,
        )
        job.current_state_time = _now_ts()
        job.create_time = job.current_state_time
        self._jobs[job.id] = job
        return job

    def _active_named(self, name: str) -> dataflow.Job | None:
        for job in self._jobs.values():
            if job.name == name and job.current_state not in TERMINAL:
                return job
        return None

    def _publish(self, job: dataflow.Job) -> None:
        if not self.events_topic:
            return
        from google.cloud import pubsub_v1  # only needed when events are published

        if self._publisher is None:
            self._publisher = pubsub_v1.PublisherClient()
        topic = (
            self.events_topic
            if self.events_topic.startswith("projects/")
            else self._publisher.topic_path(self.project, self.events_topic)
        )
        data = json.dumps(job_event_data(job)).encode()
        attributes = status_changed_attributes(self.project, self.region, job.id)
        self._publisher.publish(topic, data, **attributes).result(timeout=30)
        self.published.append({"data": json.loads(data), "attributes": attributes})

    # -- hooks for subclasses (LocalDataflow acts on real local processes) ------------------------------
    def _on_drain_requested(self, job: dataflow.Job) -> None:
        """Called after ``job`` entered ``JOB_STATE_DRAINING`` (event published), outside the lock.

        Override to stop the job's work (e.g. stop its process reading input), then call
        :meth:`finish_drain` when it has finished; not calling it leaves the job DRAINING, as a
        wedged job's drain. The default finishes at once unless :meth:`hold_drains` is set.
        """
        with self._lock:
            held = self._faults.drains_held
        if not held:
            self.finish_drain(job.id)

    def _on_cancel_requested(self, job: dataflow.Job) -> None:
        """Called after ``job`` entered ``JOB_STATE_CANCELLING`` (event published), outside the lock.

        Override to kill the job's process, then call :meth:`finish_cancel`. The default finishes at once.
        """
        self.finish_cancel(job.id)

    def _on_update_launch(self, old_job: dataflow.Job, new_job: dataflow.Job) -> None:
        """Called after an ``update: true`` launch: ``old_job`` is ``JOB_STATE_UPDATED`` (replaced by
        ``new_job``, which is PENDING; :attr:`on_launch` has run for it). Override to stop the old
        job's process. The default does nothing.
        """

    def finish_drain(self, job_id: str) -> dataflow.Job | None:
        """A draining job has finished its in-flight work: ``JOB_STATE_DRAINED`` (None if it is no longer draining)."""
        return self._finish(job_id, JobState.JOB_STATE_DRAINING, JobState.JOB_STATE_DRAINED)

    def finish_cancel(self, job_id: str) -> dataflow.Job | None:
        """A cancelling job has stopped: ``JOB_STATE_CANCELLED`` (None if it is no longer cancelling)."""
        return self._finish(job_id, JobState.JOB_STATE_CANCELLING, JobState.JOB_STATE_CANCELLED)

    def _finish(self, job_id: str, expected: JobState, final: JobState) -> dataflow.Job | None:
        with self._lock:
            if self._jobs[job_id].current_state != expected:
                return None
            return self.set_state(job_id, final)

    # -- RPC handlers --------------------------------------------------------------------------------
    def _launch_flex_template(
        self, request: dataflow.LaunchFlexTemplateRequest, context: grpc.ServicerContext
    ) -> dataflow.LaunchFlexTemplateResponse:
        with self._seen:
            self.requests_seen += 1
            self._seen.notify_all()
            faults = self._faults
        if faults.held:
            while not faults.release.wait(0.05):
                if not context.is_active():
                    with self._seen:
                        self.abandoned += 1
                        self._seen.notify_all()
                    context.abort(grpc.StatusCode.CANCELLED, "caller went away; launch not performed")
            if not context.is_active():
                with self._seen:
                    self.abandoned += 1
                    self._seen.notify_all()
                context.abort(grpc.StatusCode.CANCELLED, "caller went away; launch not performed")
        param = request.launch_parameter
        name = param.job_name
        with self._lock:
            if self._faults.fail_count > 0:
                self._faults.fail_count -= 1
                context.abort(self._faults.fail_code, self._faults.fail_message)
            if not name:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "launch_parameter.job_name is required")
            if not param.container_spec_gcs_path and not param.container_spec:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a container spec or its GCS path is required")
            active = self._active_named(name)
            replaced: dataflow.Job | None = None
            if param.update:
                replaced = self._check_update(name, active, context)
            elif active is not None:
                context.abort(
                    grpc.StatusCode.ALREADY_EXISTS,
                    f"There is already an active job named {name}. If you want to submit a second job, "
                    "try again by setting a different name.",
                )
            job = self._new_job(name, dict(param.environment.additional_user_labels))
            if replaced is not None:
                job.replace_job_id = replaced.id
            snapshot = _copy(job)
            request_dict = json.loads(dataflow.LaunchFlexTemplateRequest.to_json(request))
            self.launches.append(Launch(name, job.id, request_dict, dt.datetime.now(dt.UTC)))
        old_snapshot = None
        if replaced is not None:
            old_snapshot = self.set_state(replaced.id, JobState.JOB_STATE_UPDATED, replaced_by_job_id=snapshot.id)
        if self.on_launch is not None:
            self.on_launch(snapshot, json.loads(dataflow.LaunchFlexTemplateParameter.to_json(param)))
        if old_snapshot is not None:
            self._on_update_launch(old_snapshot, snapshot)
        return dataflow.LaunchFlexTemplateResponse(job=snapshot)

    def _check_update(self, name: str, active: dataflow.Job | None, context: grpc.ServicerContext) -> dataflow.Job:
        """The running job an ``update: true`` launch replaces, or abort as Dataflow refuses it.

        Called with the lock held. The refusal texts are ours; the codes follow the documented
        outcomes (no job to update; compatibility check failed, the prior job keeps running).
        """
        if active is None or active.current_state != JobState.JOB_STATE_RUNNING:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Could not find a running job named {name} to update.")
        if self._faults.refuse_updates > 0:
            self._faults.refuse_updates -= 1
            context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                self._faults.refuse_message
                or f"The new job is not compatible with {active.id}: the compatibility check failed; "
                "the prior job continues running.",
            )
        return active

    def _get_job(self, request: dataflow.GetJobRequest, context: grpc.ServicerContext) -> dataflow.Job:
        with self._lock:
            job = self._jobs.get(request.job_id)
            if job is None:
                context.abort(grpc.StatusCode.NOT_FOUND, f"job {request.job_id} not found")
            return _copy(job)

    def _list_jobs(self, request: dataflow.ListJobsRequest, context: grpc.ServicerContext) -> dataflow.ListJobsResponse:
        flt = request.filter
        with self._lock:
            jobs = list(self._jobs.values())
        if flt == dataflow.ListJobsRequest.Filter.ACTIVE:
            jobs = [j for j in jobs if j.current_state not in TERMINAL]
        elif flt == dataflow.ListJobsRequest.Filter.TERMINATED:
            jobs = [j for j in jobs if j.current_state in TERMINAL]
        if request.name:
            jobs = [j for j in jobs if j.name == request.name]
        return dataflow.ListJobsResponse(jobs=[_copy(j) for j in jobs])

    def _update_job(self, request: dataflow.UpdateJobRequest, context: grpc.ServicerContext) -> dataflow.Job:
        """Drain or cancel; returns the job in its transitional state (DRAINING / CANCELLING).

        Requesting the state a job is already moving to is answered with the job, unchanged
        (a retried request must not fail); a drain of a job that is not RUNNING, or any request
        on a terminal job, is refused.
        """
        requested = request.job.requested_state
        with self._seen:
            self.update_requests.append((request.job_id, requested.name))
            self._seen.notify_all()
            faults = self._faults
        if faults.updates_held:
            faults.updates_release.wait()
        transitional = {
            JobState.JOB_STATE_DRAINED: JobState.JOB_STATE_DRAINING,
            JobState.JOB_STATE_DRAINING: JobState.JOB_STATE_DRAINING,
            JobState.JOB_STATE_CANCELLED: JobState.JOB_STATE_CANCELLING,
        }.get(requested)
        if transitional is None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"unsupported requested_state {requested.name}")
        with self._lock:
            job = self._jobs.get(request.job_id)
            if job is None:
                context.abort(grpc.StatusCode.NOT_FOUND, f"job {request.job_id} not found")
            state = job.current_state
            if state in TERMINAL:
                context.abort(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"job {request.job_id} is already in terminal state {state.name}",
                )
            if state == transitional or (
                state == JobState.JOB_STATE_CANCELLING and requested != JobState.JOB_STATE_CANCELLED
            ):
                return _copy(job)
            if transitional == JobState.JOB_STATE_DRAINING and state != JobState.JOB_STATE_RUNNING:
                context.abort(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"job {request.job_id} is {state.name}: only a running job can be drained",
                )
            job.requested_state = requested
            snapshot = self.set_state(request.job_id, transitional)
        if transitional == JobState.JOB_STATE_DRAINING:
            self._on_drain_requested(snapshot)
        else:
            self._on_cancel_requested(snapshot)
        return snapshot


def _copy(job: dataflow.Job) -> dataflow.Job:
    """A detached copy (proto-plus wrappers share their protobuf; callers must not mutate ours)."""
    return dataflow.Job.deserialize(dataflow.Job.serialize(job))


def _job_id() -> str:
    """A Dataflow-like job id: date, time and a random suffix."""
    now = dt.datetime.now(dt.UTC)
    return f"{now:%Y-%m-%d_%H_%M_%S}-{uuid.uuid4().int % 10**19:019d}"


def _now_ts() -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(time.time_ns())
    return ts


FUNCTION_DIR = Path(__file__).resolve().parents[1] / "functions" / "relauncher"


class RelauncherProcess:
    """The relauncher served by functions-framework in its own process group, as Cloud Functions would.

    ``settings`` is the ``RELAUNCHER_CONFIG`` structure (``pipelines.system.relauncher_settings``);
    ``env`` adds e.g. ``FIRESTORE_EMULATOR_HOST``. :meth:`kill` is a real ``kill -9`` of the
    whole group (gunicorn master and worker), for crash tests.
    """

    def __init__(
        self, settings: dict[str, Any], env: dict[str, str], dataflow_endpoint: str | None = None, threads: int = 32
    ) -> None:
        self.settings = settings
        self.env = env
        self.dataflow_endpoint = dataflow_endpoint
        self.threads = threads
        self.port: int | None = None
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 60.0) -> RelauncherProcess:
        self.port = free_port()
        env = {
            **os.environ,
            **self.env,
            "RELAUNCHER_CONFIG": json.dumps(self.settings),
            "THREADS": str(self.threads),
            "PYTHONUNBUFFERED": "1",
        }
        if self.dataflow_endpoint:
            env["DATAFLOW_ENDPOINT"] = self.dataflow_endpoint
        exe = Path(sys.executable).with_name("functions-framework")
        argv = [str(exe), "--target", "relaunch", "--source", str(FUNCTION_DIR / "main.py")]
        argv += ["--host", "127.0.0.1", "--port", str(self.port)]
        log_path = self.process.log_path if self.process is not None else None  # keep one log across restarts
        self.process = ManagedProcess("relauncher", argv, env=env, log_path=log_path).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.process.alive():
                raise RuntimeError(f"relauncher exited early:\n{self.process.log_tail()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return self
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"relauncher did not listen within {timeout}s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL the whole process group: no cleanup, no graceful shutdown."""
        if self.process is not None and self.process.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.proc.pid, signal.SIGKILL)
            self.process.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def log(self) -> str:
        if self.process is None or self.process.log_path is None or not self.process.log_path.exists():
            return ""
        return self.process.log_path.read_text(errors="replace")

    def log_entries(self) -> list[dict[str, Any]]:
        """The function's structured log lines (one JSON object each), other output skipped."""
        entries = []
        for line in self.log().splitlines():
            if line.startswith("{"):
                with contextlib.suppress(json.JSONDecodeError):
                    entries.append(json.loads(line))
        return entries
