"""workflows/first_launch.yaml: structure, and behaviour against real Firestore and Dataflow parts.

Cloud Workflows cannot run locally, so ``workflows_runtime`` interprets the definition (the
subset it uses, documented there). Its connector calls are served by real parts: Firestore
calls go to the Firestore emulator's REST API, Dataflow calls to the Dataflow stand-in over
gRPC through the official client (a REST body that does not parse as the API's message fails,
as Dataflow would refuse it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import requests
import yaml
from google.api_core import exceptions as gexc
from google.cloud import dataflow_v1beta3 as dataflow
from google.cloud import firestore
from google.cloud.dataflow_v1beta3.services.flex_templates_service.transports import FlexTemplatesServiceGrpcTransport
from google.cloud.dataflow_v1beta3.services.jobs_v1_beta3.transports import JobsV1Beta3GrpcTransport

from localdev.dataflow_standin import DataflowStandIn
from pipelines import system
from relauncher.config import Config, parse_config
from relauncher.launcher import Launcher, launch_parameter
from relauncher.policy import PendingAttempt, PipelineState
from relauncher.store import first_launch_doc, state_from_doc, state_to_doc
from tests.terraform.workflows_runtime import Runtime, WorkflowError, http_error

WORKFLOW = Path(__file__).resolve().parents[2] / "workflows" / "first_launch.yaml"
REGION = "europe-west1"
DEPLOYMENT: dict[str, Any] = {
    "bucket": "test-ecommerce-analytics",
    "worker_service_account": "ecommerce-dataflow-worker@test-project.iam.gserviceaccount.com",
    "subnetwork": f"regions/{REGION}/subnetworks/ecommerce-analytics-dataflow",
    "max_workers": 2,
    "window_seconds": 60,
    "allowed_lateness_seconds": 120,
    **{f"{n}_image": f"{REGION}-docker.pkg.dev/test-project/analytics/{n}:t" for n in system.pipeline_names()},
}


def definition() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text())


def settings(project: str) -> dict[str, Any]:
    return system.relauncher_settings(DEPLOYMENT, project=project, region=REGION)


def relauncher_config(project: str) -> Config:
    return parse_config(settings(project))


# -- connectors backed by real parts ----------------------------------------------------------------


class Connectors:
    """The Workflows connectors the definition calls, served by the emulator and the stand-in."""

    def __init__(self, firestore_host: str, standin: DataflowStandIn) -> None:
        self.firestore = f"http://{firestore_host}/v1/"
        self.channel = grpc.insecure_channel(standin.endpoint)
        flex_transport = FlexTemplatesServiceGrpcTransport(channel=self.channel)
        self.flex = dataflow.FlexTemplatesServiceClient(transport=flex_transport)
        self.jobs = dataflow.JobsV1Beta3Client(transport=JobsV1Beta3GrpcTransport(channel=self.channel))

    def close(self) -> None:
        self.channel.close()

    def table(self) -> dict[str, Any]:
        prefix = "googleapis.dataflow.v1b3.projects.locations."
        return {
            "googleapis.firestore.v1.projects.databases.documents.get": self.document_get,
            "googleapis.firestore.v1.projects.databases.documents.commit": self.document_commit,
            prefix + "flexTemplates.launch": self.launch,
            prefix + "jobs.get": self.job_get,
            prefix + "jobs.list": self.job_list,
        }

    # Firestore REST (the emulator's own endpoint; "Bearer owner" is the emulator's admin token).
    def _firestore(self, method: str, name: str, body: Any = None) -> Any:
        response = requests.request(
            method, self.firestore + name, json=body, headers={"Authorization": "Bearer owner"}, timeout=10
        )
        if response.status_code >= 400:
            raise http_error(response.status_code, response.text)
        return response.json()

    def document_get(self, args: dict[str, Any]) -> Any:
        return self._firestore("GET", args["name"])

    def document_commit(self, args: dict[str, Any]) -> Any:
        return self._firestore("POST", args["database"] + "/documents:commit", args["body"])

    # Dataflow: REST JSON in and out, gRPC to the stand-in in between.
    @staticmethod
    def _rest(message: Any) -> dict[str, Any]:
        return json.loads(type(message).to_json(message, use_integers_for_enums=False))

    def _dataflow(self, call, request):
        try:
            return call(request=request, retry=None, timeout=10)
        except gexc.GoogleAPICallError as exc:
            raise http_error(int(exc.code), exc.message) from None

    def launch(self, args: dict[str, Any]) -> Any:
        param = dataflow.LaunchFlexTemplateParameter.from_json(json.dumps(args["body"]["launchParameter"]))
        request = dataflow.LaunchFlexTemplateRequest(
            project_id=args["projectId"], location=args["location"], launch_parameter=param
        )
        return self._rest(self._dataflow(self.flex.launch_flex_template, request))

    def job_get(self, args: dict[str, Any]) -> Any:
        request = dataflow.GetJobRequest(project_id=args["projectId"], location=args["location"], job_id=args["jobId"])
        return self._rest(self._dataflow(self.jobs.get_job, request))

    def job_list(self, args: dict[str, Any]) -> Any:
        request = dataflow.ListJobsRequest(
            project_id=args["projectId"],
            location=args["location"],
            filter=dataflow.ListJobsRequest.Filter[args["filter"]],
            page_token=args.get("pageToken", ""),
        )
        pager = self._dataflow(self.jobs.list_jobs, request)
        return {"jobs": [self._rest(job) for job in pager.jobs], "nextPageToken": pager.next_page_token}


@pytest.fixture(scope="module")
def standin(project: str) -> Iterator[DataflowStandIn]:
    server = DataflowStandIn(project, REGION).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def world(clean_firestore, firestore_emulator, standin: DataflowStandIn, project: str) -> Iterator[dict[str, Any]]:
    """A clean Firestore and stand-in, connectors to both, and a Firestore client for reading."""
    standin.reset()
    connectors = Connectors(firestore_emulator.host, standin)
    try:
        yield {"connectors": connectors, "standin": standin, "db": firestore.Client(project=project)}
    finally:
        connectors.close()


def run_first_launch(world: dict[str, Any], project: str) -> tuple[Runtime, Any]:
    """One execution; returns the runtime (its recorded calls) and the result or the raised error."""
    runtime = Runtime(definition(), {"LAUNCH_CONFIG": json.dumps(settings(project))}, world["connectors"].table())
    try:
        return runtime, runtime.run()
    except WorkflowError as exc:
        return runtime, exc


def record(world: dict[str, Any], project: str, pipeline: str) -> dict[str, Any] | None:
    snap = world["db"].collection(settings(project)["collection"]).document(pipeline).get()
    return snap.to_dict() if snap.exists else None


# -- structure --------------------------------------------------------------------------------------


def test_definition_runs_one_isolated_parallel_branch_per_pipeline(project: str) -> None:
    wf = definition()
    steps = {name: body for step in wf["main"]["steps"] for name, body in step.items()}
    parallel = steps["launch_pipelines"]["parallel"]
    assert parallel["shared"] == ["results"]
    runtime = Runtime(wf, {"LAUNCH_CONFIG": json.dumps(settings(project))}, {})
    scope = {"config": settings(project)}
    branches = runtime.evaluate(parallel["for"]["in"], scope)
    assert sorted(branches) == system.pipeline_names() and len(branches) == 2
    branch = {name: body for step in parallel["for"]["steps"] for name, body in step.items()}
    launch_one = branch["launch_one"]
    assert launch_one["try"]["call"] == "launch_pipeline", "each branch's work must sit inside try"
    assert launch_one["except"]["steps"], "a branch's exception is handled inside the branch"
    # The outcome the except block sets must exist before it (except-block variables are local).
    names = list(branch)
    assert names.index("declare_outcome") < names.index("launch_one")


def test_definition_calls_only_documented_connectors() -> None:
    calls = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("call"), str):
                calls.add(node["call"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    wf = definition()
    walk(wf)
    assert calls - set(wf) == {
        "googleapis.firestore.v1.projects.databases.documents.get",
        "googleapis.firestore.v1.projects.databases.documents.commit",
        "googleapis.dataflow.v1b3.projects.locations.flexTemplates.launch",
        "googleapis.dataflow.v1b3.projects.locations.jobs.get",
        "googleapis.dataflow.v1b3.projects.locations.jobs.list",
    }


# -- behaviour --------------------------------------------------------------------------------------


@pytest.mark.emulators
def test_first_launch_starts_every_pipeline_and_registers_it_for_the_relauncher(world, project: str) -> None:
    _, result = run_first_launch(world, project)
    assert not isinstance(result, WorkflowError), result
    cfg = relauncher_config(project)
    jobs = {job.name: job for job in world["standin"].jobs()}
    assert set(jobs) == {p.job_name(0) for p in cfg.pipelines.values()}
    for name, pipeline in cfg.pipelines.items():
        job = jobs[pipeline.job_name(0)]
        assert result[name] == {"status": "launched", "job_id": job.id, "job_name": job.name}
        doc = record(world, project, name)
        # The relauncher reads it as a first launch: attempt 0, nothing used, this job current.
        assert state_from_doc(doc) == PipelineState(current_job_id=job.id, current_job_name=job.name)
        expected = first_launch_doc(job.id, job.name, pipeline)
        assert set(doc) == set(expected)
        assert {k: v for k, v in doc.items() if k != "updated_time"} == {
            k: v for k, v in expected.items() if k != "updated_time"
        }
        assert doc["updated_time"] is not None


@pytest.mark.emulators
def test_launch_requests_equal_the_relaunchers_for_the_same_configuration(world, project: str) -> None:
    """What reaches Dataflow from the workflow is byte-for-byte what the relauncher sends for attempt 0."""
    standin: DataflowStandIn = world["standin"]
    runtime, result = run_first_launch(world, project)
    assert not isinstance(result, WorkflowError), result
    from_workflow = {launch.job_name: launch.request for launch in standin.launches}
    bodies = [args["body"] for name, args in runtime.calls if name.endswith("flexTemplates.launch")]

    standin.reset()
    cfg = relauncher_config(project)
    launcher = Launcher(cfg, world["connectors"].flex, world["connectors"].jobs)
    for pipeline in cfg.pipelines.values():
        launcher.launch(pipeline, pipeline.job_name(0))
    from_relauncher = {launch.job_name: launch.request for launch in standin.launches}

    assert from_workflow == from_relauncher
    assert len(from_workflow) == len(cfg.pipelines)
    # And the REST body the workflow builds is the configured launch parameter plus the job name.
    for name, pipeline in cfg.pipelines.items():
        expected = {**settings(project)["pipelines"][name]["launch_parameter"], "jobName": pipeline.job_name(0)}
        assert {"launchParameter": expected} in bodies
        param = launch_parameter(pipeline, pipeline.job_name(0))
        rest = json.loads(dataflow.LaunchFlexTemplateParameter.to_json(param))
        assert from_relauncher[pipeline.job_name(0)]["launchParameter"] == rest


@pytest.mark.emulators
def test_running_it_again_launches_nothing(world, project: str) -> None:
    standin: DataflowStandIn = world["standin"]
    _, first = run_first_launch(world, project)
    requests_after_first = standin.requests_seen
    docs = {name: record(world, project, name) for name in first}
    _, second = run_first_launch(world, project)
    assert not isinstance(second, WorkflowError), second
    assert {r["status"] for r in second.values()} == {"already_active"}
    assert {name: r["job_id"] for name, r in second.items()} == {name: r["job_id"] for name, r in first.items()}
    assert standin.requests_seen == requests_after_first
    assert {name: record(world, project, name) for name in first} == docs, "records are left alone"


@pytest.mark.emulators
def test_a_failing_branch_does_not_stop_the_other(world, project: str) -> None:
    standin: DataflowStandIn = world["standin"]
    standin.fail_next_launches(1, grpc.StatusCode.PERMISSION_DENIED, "injected: no permission")
    _, result = run_first_launch(world, project)
    assert isinstance(result, WorkflowError), "the execution reports the failed branch"
    outcomes = result.value
    failed = [name for name, o in outcomes.items() if o["status"] == "error"]
    launched = [name for name, o in outcomes.items() if o["status"] == "launched"]
    assert len(failed) == 1 and len(launched) == len(outcomes) - 1 >= 1
    assert outcomes[failed[0]]["error"]["code"] == 403
    assert record(world, project, failed[0]) is None
    for name in launched:
        assert record(world, project, name)["current_job_id"] == outcomes[name]["job_id"]
    assert {job.name for job in standin.jobs()} == {outcomes[name]["job_name"] for name in launched}


@pytest.mark.emulators
def test_an_already_active_first_attempt_is_adopted_not_launched_twice(world, project: str) -> None:
    """Dataflow refuses a second active job of the same name (409): the workflow records that job."""
    standin: DataflowStandIn = world["standin"]
    cfg = relauncher_config(project)
    name = sorted(cfg.pipelines)[0]
    standin.add_job("someone-elses-streaming-job", "JOB_STATE_RUNNING")
    existing = standin.add_job(cfg.pipelines[name].job_name(0), "JOB_STATE_RUNNING")
    _, result = run_first_launch(world, project)
    assert not isinstance(result, WorkflowError), result
    assert result[name]["job_id"] == existing.id
    assert record(world, project, name)["current_job_id"] == existing.id
    assert [j.id for j in standin.jobs() if j.name == existing.name] == [existing.id]


@pytest.mark.emulators
def test_a_finished_recorded_job_is_replaced_by_a_fresh_first_attempt(world, project: str) -> None:
    standin: DataflowStandIn = world["standin"]
    _, first = run_first_launch(world, project)
    for outcome in first.values():
        standin.set_state(outcome["job_id"], "JOB_STATE_CANCELLED")
    _, second = run_first_launch(world, project)
    assert not isinstance(second, WorkflowError), second
    for name, outcome in second.items():
        assert outcome["status"] == "launched"
        assert outcome["job_id"] != first[name]["job_id"]
        assert outcome["job_name"] == first[name]["job_name"]
        assert record(world, project, name)["current_job_id"] == outcome["job_id"]


# -- scoping, and re-runs while the relauncher owns the pipeline -----------------------------------


def test_runtime_keeps_a_variable_first_set_in_except_local_to_it() -> None:
    """Guard for the interpreter itself: Cloud Workflows' except-block scoping (see _try)."""
    steps = [
        {"declared": {"assign": [{"seen": "before"}]}},
        {
            "fail": {
                "try": {"raise": "boom"},
                "except": {"as": "e", "steps": [{"set": {"assign": [{"seen": "${e}"}, {"fresh": "${e}"}]}}]},
            }
        },
    ]
    visible = Runtime({"main": {"steps": [*steps, {"out": {"return": "${seen}"}}]}}, {}, {})
    assert visible.run() == "boom", "an outer variable assigned in except keeps the value"
    hidden = Runtime({"main": {"steps": [*steps, {"out": {"return": "${fresh}"}}]}}, {}, {})
    with pytest.raises(WorkflowError, match="undefined variable fresh"):
        hidden.run()


def _pending(pipeline: Any, failed_job_id: str) -> dict[str, Any]:
    """The relauncher claimed attempt 1 and has not completed it yet."""
    return {"pending": PendingAttempt(1, pipeline.job_name(1), failed_job_id, "event-1")}


def _exhausted(pipeline: Any, failed_job_id: str) -> dict[str, Any]:
    """The relauncher used up the budget and gave up."""
    return {"attempt": pipeline.max_retries, "retries_used": pipeline.max_retries, "exhausted": True}


def _relauncher_owns(world: dict[str, Any], project: str, extra: Any) -> dict[str, dict[str, Any]]:
    """First launch, then every job fails and the relauncher writes its record (``extra`` fields)."""
    _, first = run_first_launch(world, project)
    cfg = relauncher_config(project)
    collection = world["db"].collection(settings(project)["collection"])
    for name, outcome in first.items():
        world["standin"].set_state(outcome["job_id"], "JOB_STATE_FAILED")
        owned = PipelineState(
            current_job_id=outcome["job_id"],
            current_job_name=outcome["job_name"],
            last_state="JOB_STATE_FAILED",
            handled_job_id=outcome["job_id"],
            **extra(cfg.pipelines[name], outcome["job_id"]),
        )
        collection.document(name).set(state_to_doc(owned, cfg.pipelines[name]))
    return first


@pytest.mark.emulators
@pytest.mark.parametrize(
    ("extra", "status"), [(_pending, "relaunch_pending"), (_exhausted, "exhausted")], ids=["pending", "exhausted"]
)
def test_a_rerun_while_the_relauncher_owns_the_pipeline_launches_and_writes_nothing(
    world, project: str, extra: Any, status: str
) -> None:
    standin: DataflowStandIn = world["standin"]
    first = _relauncher_owns(world, project, extra)
    requests_before = standin.requests_seen
    docs = {name: record(world, project, name) for name in first}

    runtime, second = run_first_launch(world, project)

    assert not isinstance(second, WorkflowError), second
    assert {r["status"] for r in second.values()} == {status}
    assert standin.requests_seen == requests_before, "no launch while the relauncher owns the pipeline"
    assert not [name for name, _ in runtime.calls if name.endswith(("flexTemplates.launch", "documents.commit"))]
    assert {name: record(world, project, name) for name in first} == docs, "its record is left alone"
    assert {job.name for job in standin.jobs()} == {o["job_name"] for o in first.values()}


@pytest.mark.emulators
def test_a_record_written_between_read_and_write_is_not_overwritten(world, project: str) -> None:
    """The record write carries a currentDocument.updateTime precondition (Firestore REST Write)."""
    connectors: Connectors = world["connectors"]
    _, first = run_first_launch(world, project)
    for outcome in first.values():
        world["standin"].set_state(outcome["job_id"], "JOB_STATE_FAILED")
    collection = world["db"].collection(settings(project)["collection"])
    table = connectors.table()
    read = table["googleapis.firestore.v1.projects.databases.documents.get"]

    def read_then_relauncher_writes(args: dict[str, Any]) -> Any:
        # A real concurrent write to the emulator, right after the workflow's read: the relauncher
        # claiming attempt 1 for the failed job (its transaction commits in that gap).
        doc = read(args)
        name = args["name"].rsplit("/", 1)[1]
        collection.document(name).update(
            {"pending_attempt": {"attempt": 1, "job_name": "x", "failed_job_id": "y", "trigger_event": "z"}}
        )
        return doc

    table["googleapis.firestore.v1.projects.databases.documents.get"] = read_then_relauncher_writes
    runtime = Runtime(definition(), {"LAUNCH_CONFIG": json.dumps(settings(project))}, table)
    with pytest.raises(WorkflowError) as raised:
        runtime.run()
    outcomes = raised.value.value
    assert {o["status"] for o in outcomes.values()} == {"error"}
    assert {o["error"]["code"] for o in outcomes.values()} == {400}
    assert all("FAILED_PRECONDITION" in o["error"]["message"] for o in outcomes.values())
    for name in first:
        doc = record(world, project, name)
        assert doc["pending_attempt"]["attempt"] == 1, "the relauncher's claim survives"
        assert doc["current_job_id"] == first[name]["job_id"]
