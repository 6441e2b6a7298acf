"""Dataflow adapter: launch one attempt from the flex template, idempotently.

The deterministic job name is the idempotency key. Dataflow refuses a launch
whose name equals an active job's name (gRPC ``ALREADY_EXISTS``, "There is
already an active job named ..."): that answer means "this attempt is already
launched", so the job is looked up by name instead of launched again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

import grpc
from google.api_core import exceptions as gexc
from google.cloud import dataflow_v1beta3 as dataflow
from google.cloud.dataflow_v1beta3.services.flex_templates_service.transports import FlexTemplatesServiceGrpcTransport
from google.cloud.dataflow_v1beta3.services.jobs_v1_beta3.transports import JobsV1Beta3GrpcTransport

from relauncher.config import Config, PipelineConfig

# Worth a retry by Eventarc: the same request may well succeed later.
TRANSIENT = (
    gexc.ServiceUnavailable,
    gexc.DeadlineExceeded,
    gexc.Aborted,
    gexc.InternalServerError,
    gexc.TooManyRequests,
    gexc.Unknown,
)
LAUNCH_TIMEOUT_SECONDS = 60.0


class PermanentLaunchError(Exception):
    """The launch can never succeed as configured (bad template, permission, argument)."""


class TransientLaunchError(Exception):
    """The launch may succeed on a retry (e.g. the name's job is not visible yet)."""


@dataclass(frozen=True)
class LaunchedJob:
    id: str
    name: str
    already_existed: bool = False


def launch_parameter(pipeline: PipelineConfig, job_name: str) -> dataflow.LaunchFlexTemplateParameter:
    """The configured REST-JSON launch parameter as a proto message, with this attempt's job name."""
    param = dataflow.LaunchFlexTemplateParameter.from_json(json.dumps(dict(pipeline.launch_parameter)))
    param.job_name = job_name
    return param


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TRANSIENT)


def dataflow_clients(endpoint: str | None) -> tuple[dataflow.FlexTemplatesServiceClient, dataflow.JobsV1Beta3Client]:
    """Regional Dataflow clients, or clients on a plain gRPC channel to a local endpoint.

    Local runs: the Dataflow stand-in speaks plain gRPC on loopback; a transport built
    on an explicit channel uses no credentials at all (the anonymous equivalent).
    """
    if not endpoint:
        return dataflow.FlexTemplatesServiceClient(), dataflow.JobsV1Beta3Client()
    channel = grpc.insecure_channel(endpoint)
    return (
        dataflow.FlexTemplatesServiceClient(transport=FlexTemplatesServiceGrpcTransport(channel=channel)),
        dataflow.JobsV1Beta3Client(transport=JobsV1Beta3GrpcTransport(channel=channel)),
    )


class Launcher:
    """Thin wrapper over the flex-template and jobs clients (regional, or a local endpoint)."""

    def __init__(
        self,
        config: Config,
        flex: dataflow.FlexTemplatesServiceClient | None = None,
        jobs: dataflow.JobsV1Beta3Client | None = None,
    ) -> None:
        self.config = config
        if flex is None or jobs is None:
            flex, jobs = dataflow_clients(config.dataflow_endpoint)
        self.flex = flex
        self.jobs = jobs

    def job_state(self, job_id: str) -> str | None:
        """The job's current state name (``JOB_STATE_RUNNING`` ...), or None if Dataflow does not know it."""
        request = dataflow.GetJobRequest(project_id=self.config.project, location=self.config.region, job_id=job_id)
        try:
            job = self.jobs.get_job(request=request, timeout=LAUNCH_TIMEOUT_SECONDS)
        except gexc.NotFound:
            return None
        return dataflow.JobState(job.current_state).name

    def find_by_name(self, job_name: str, *, active_only: bool) -> LaunchedJob | None:
        """The job with this name (an active one, or any when ``active_only`` is False)."""
        flt = dataflow.ListJobsRequest.Filter.ACTIVE if active_only else dataflow.ListJobsRequest.Filter.ALL
        request = dataflow.ListJobsRequest(
            project_id=self.config.project, location=self.config.region, filter=flt, name=job_name
        )
        jobs: Iterable[dataflow.Job] = self.jobs.list_jobs(request=request, retry=None, timeout=LAUNCH_TIMEOUT_SECONDS)
        for job in jobs:
            if job.name == job_name:
                return LaunchedJob(job.id, job.name, already_existed=True)
        return None

    def launch(self, pipeline: PipelineConfig, job_name: str) -> LaunchedJob:
        """Launch ``job_name`` once: if a job of that name is already active, that job is the answer.

        A resumed attempt is launched the same way: Dataflow's refusal of a second
        active name is the atomic check. (Looking names up among terminated jobs
        too would adopt a dead job from a previous deployment that reused the name.)
        Raises :class:`PermanentLaunchError` for errors no retry can fix; transient
        API errors propagate unchanged so that the event is redelivered.
        """
        try:
            return self._launch_flex(pipeline, job_name, update=False)
        except gexc.AlreadyExists:
            existing = self.find_by_name(job_name, active_only=True)
            if existing is None:
                raise TransientLaunchError(f"{job_name} reported as active but not listed yet") from None
            return existing

    def _launch_flex(self, pipeline: PipelineConfig, job_name: str, *, update: bool) -> LaunchedJob:
        """One LaunchFlexTemplate call. ALREADY_EXISTS and transient errors propagate unchanged; every
        other refusal, and a launch parameter that does not parse, is a :class:`PermanentLaunchError`."""
        try:
            param = launch_parameter(pipeline, job_name)
            param.update = update
            request = dataflow.LaunchFlexTemplateRequest(
                project_id=self.config.project, location=self.config.region, launch_parameter=param
            )
            response = self.flex.launch_flex_template(request=request, retry=None, timeout=LAUNCH_TIMEOUT_SECONDS)
            return LaunchedJob(response.job.id, response.job.name or job_name)
        except (gexc.AlreadyExists, *TRANSIENT):
            raise
        except gexc.GoogleAPICallError as exc:
            raise PermanentLaunchError(f"{type(exc).__name__}: {exc.message}") from exc
        except ValueError as exc:  # launch_parameter does not parse: a configuration error
            raise PermanentLaunchError(f"invalid launch parameter: {exc}") from exc

    def request_state(self, job_id: str, requested: str) -> str:
        """Ask Dataflow to drain (``JOB_STATE_DRAINED``) or cancel (``JOB_STATE_CANCELLED``) a job.

        The REST way to stop a job: "To cancel the job, set the job state to JOB_STATE_CANCELLED.
        To drain the job, set the job state to JOB_STATE_DRAINED"
        (https://cloud.google.com/dataflow/docs/guides/stopping-a-pipeline). Returns the job's state
        after the request (DRAINING / CANCELLING), or ``"already-ended"`` when Dataflow refuses because
        the job is terminal (FAILED_PRECONDITION) or unknown: its terminal status event drives the heal.
        Transient errors propagate (the event is redelivered and the request repeated).
        """
        request = dataflow.UpdateJobRequest(
            project_id=self.config.project,
            location=self.config.region,
            job_id=job_id,
            job=dataflow.Job(requested_state=dataflow.JobState[requested]),
        )
        try:
            job = self.jobs.update_job(request=request, retry=None, timeout=LAUNCH_TIMEOUT_SECONDS)
        except (gexc.FailedPrecondition, gexc.NotFound):
            return "already-ended"
        return dataflow.JobState(job.current_state).name

    def launch_update(self, pipeline: PipelineConfig, job_name: str, old_job_id: str) -> LaunchedJob | None:
        """Replace the running job ``job_name`` in place (flex-template launch with ``update: true``).

        Dataflow keeps the name and gives the replacement a new id; the old job ends
        ``JOB_STATE_UPDATED`` with ``replacedByJobId`` (the policy adopts it). A redelivered request
        must not update the replacement again, so the old job is looked up first: if it is no longer
        RUNNING, nothing is launched (None). Refusals (no running job, incompatible update) raise
        :class:`PermanentLaunchError`.
        """
        if self.job_state(old_job_id) != "JOB_STATE_RUNNING":
            return None
        return self._launch_flex(pipeline, job_name, update=True)
