"""The first launch, locally: what ``workflows/first_launch.yaml`` does in the cloud.

For every pipeline, in parallel (one pipeline's failure does not stop the
other): read ``pipelines/{name}`` from Firestore; if it names a current job that
Dataflow still reports as active, launch nothing; otherwise launch
``<prefix>-a0`` from the rendered launch parameter with the real Dataflow client
(pointed at the local stand-in) and write the retry record with attempt 0 and
no retries used, with the field names the relauncher reads
(``functions/relauncher/relauncher/store.py``; a test keeps them equal).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.api_core import exceptions as gexc
from google.cloud import dataflow_v1beta3 as dataflow
from google.cloud import firestore
from google.cloud.dataflow_v1beta3.services.flex_templates_service.transports import FlexTemplatesServiceGrpcTransport
from google.cloud.dataflow_v1beta3.services.jobs_v1_beta3.transports import JobsV1Beta3GrpcTransport

from pipelines import system

ACTIVE_STATES = frozenset(
    {
        "JOB_STATE_RUNNING",
        "JOB_STATE_PENDING",
        "JOB_STATE_QUEUED",
        "JOB_STATE_DRAINING",
        "JOB_STATE_CANCELLING",
        "JOB_STATE_RESOURCE_CLEANING_UP",
        "JOB_STATE_STOPPED",
    }
)


@dataclass(frozen=True)
class FirstLaunchResult:
    pipeline: str
    outcome: str  # "launched" | "skipped" | "error"
    job_id: str = ""
    job_name: str = ""
    detail: str = ""


def dataflow_clients(endpoint: str | None) -> tuple[dataflow.FlexTemplatesServiceClient, dataflow.JobsV1Beta3Client]:
    """Regional clients, or clients on a plain gRPC channel to a local endpoint (no credentials)."""
    if not endpoint:
        return dataflow.FlexTemplatesServiceClient(), dataflow.JobsV1Beta3Client()
    channel = grpc.insecure_channel(endpoint)
    return (
        dataflow.FlexTemplatesServiceClient(transport=FlexTemplatesServiceGrpcTransport(channel=channel)),
        dataflow.JobsV1Beta3Client(transport=JobsV1Beta3GrpcTransport(channel=channel)),
    )


def first_launch_record(pipeline: str, job_id: str, job_name: str, max_retries: int) -> dict[str, Any]:
    """``pipelines/{p}`` right after the first launch: attempt 0, no retries used, not exhausted."""
    return {
        "pipeline": pipeline,
        "current_job_id": job_id,
        "current_job_name": job_name,
        "attempt": 0,
        "retries_used": 0,
        "max_retries": max_retries,
        "exhausted": False,
        "last_state": "",
        "last_state_time": None,
        "running_since": None,
        "handled_job_id": "",
        "pending_attempt": None,
        "updated_time": firestore.SERVER_TIMESTAMP,
    }


def build_launch_request(
    project: str, region: str, launch_parameter: Mapping[str, Any], job_name: str
) -> dataflow.LaunchFlexTemplateRequest:
    param = dataflow.LaunchFlexTemplateParameter.from_json(json.dumps(dict(launch_parameter)))
    param.job_name = job_name
    return dataflow.LaunchFlexTemplateRequest(project_id=project, location=region, launch_parameter=param)


def _state_name(job: dataflow.Job) -> str:
    return dataflow.JobState(job.current_state).name


def launch_one(
    name: str,
    settings: Mapping[str, Any],
    db: firestore.Client,
    flex: dataflow.FlexTemplatesServiceClient,
    jobs: dataflow.JobsV1Beta3Client,
) -> FirstLaunchResult:
    """One branch of the first launch: skip an active current job, else launch attempt 0 and record it."""
    project, region = settings["project"], settings["region"]
    p = settings["pipelines"][name]
    ref = db.collection(settings["collection"]).document(name)
    record = ref.get().to_dict() or {}
    current = record.get("current_job_id")
    if current:
        try:
            job = jobs.get_job(request=dataflow.GetJobRequest(project_id=project, location=region, job_id=current))
            if _state_name(job) in ACTIVE_STATES:
                return FirstLaunchResult(name, "skipped", current, job.name, f"current job is {_state_name(job)}")
        except gexc.NotFound:
            pass
    job_name = system.job_name(name, 0)
    request = build_launch_request(project, region, p["launch_parameter"], job_name)
    try:
        job = flex.launch_flex_template(request=request).job
    except gexc.AlreadyExists:
        listed = jobs.list_jobs(
            request=dataflow.ListJobsRequest(
                project_id=project, location=region, filter=dataflow.ListJobsRequest.Filter.ACTIVE, name=job_name
            )
        )
        job = next((j for j in listed if j.name == job_name), None)
        if job is None:
            return FirstLaunchResult(name, "error", "", job_name, "ALREADY_EXISTS but not listed")
    ref.set(first_launch_record(name, job.id, job.name or job_name, int(p["max_retries"])))
    return FirstLaunchResult(name, "launched", job.id, job.name or job_name)


def first_launch(
    settings: Mapping[str, Any], *, endpoint: str | None = None, db: firestore.Client | None = None
) -> dict[str, FirstLaunchResult]:
    """Launch every pipeline in parallel threads; ``settings`` is ``relauncher_settings(...)``."""
    db = db or firestore.Client(project=settings["project"])
    flex, jobs = dataflow_clients(endpoint)
    results: dict[str, FirstLaunchResult] = {}

    def branch(name: str) -> None:
        try:
            results[name] = launch_one(name, settings, db, flex, jobs)
        except Exception as exc:  # one branch's failure must not stop the other (as in the workflow)
            results[name] = FirstLaunchResult(name, "error", detail=f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=branch, args=(n,), name=f"first-launch-{n}") for n in settings["pipelines"]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return dict(sorted(results.items()))
