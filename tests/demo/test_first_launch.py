"""The local first launch against the real Firestore emulator and the Dataflow stand-in over gRPC."""

from __future__ import annotations

import pytest
from google.cloud import firestore

from localdev import first_launch
from localdev.dataflow_standin import DataflowStandIn
from localdev.demo import DemoConfig, demo_settings
from relauncher.config import parse_config
from relauncher.store import first_launch_doc, state_from_doc

pytestmark = pytest.mark.emulators


@pytest.fixture
def settings(project):
    return demo_settings(DemoConfig(project=project))


@pytest.fixture
def standin(project, settings):
    with DataflowStandIn(project, settings["region"]) as s:
        yield s


def test_launches_every_pipeline_once_and_records_what_the_relauncher_reads(
    clean_firestore, project, settings, standin
):
    db = firestore.Client(project=project)
    results = first_launch.first_launch(settings, endpoint=standin.endpoint, db=db)
    assert {r.outcome for r in results.values()} == {"launched"}
    assert sorted(launch.job_name for launch in standin.launches) == sorted(
        f"{p['job_name_prefix']}-a0" for p in settings["pipelines"].values()
    )
    config = parse_config(settings)
    for name, result in results.items():
        doc = db.collection(settings["collection"]).document(name).get().to_dict()
        expected = first_launch_doc(result.job_id, result.job_name, config.pipelines[name])
        assert set(doc) == set(expected)  # same field names as the relauncher's own writer
        assert {k: v for k, v in doc.items() if k != "updated_time"} == {
            k: v for k, v in expected.items() if k != "updated_time"
        }
        state = state_from_doc(doc)
        assert (state.current_job_id, state.attempt, state.retries_used, state.exhausted) == (
            result.job_id,
            0,
            0,
            False,
        )
    # The launch carries the rendered spec: template path, parameters, labels.
    launched = {launch.job_name: launch.request for launch in standin.launches}
    for p in settings["pipelines"].values():
        param = launched[f"{p['job_name_prefix']}-a0"]["launchParameter"]
        assert param["containerSpecGcsPath"] == p["launch_parameter"]["containerSpecGcsPath"]
        assert param["parameters"] == p["launch_parameter"]["parameters"]


def test_a_second_run_launches_nothing_while_jobs_are_active(clean_firestore, project, settings, standin):
    db = firestore.Client(project=project)
    first_launch.first_launch(settings, endpoint=standin.endpoint, db=db)
    again = first_launch.first_launch(settings, endpoint=standin.endpoint, db=db)
    assert {r.outcome for r in again.values()} == {"skipped"}
    assert len(standin.launches) == len(settings["pipelines"])


def test_already_exists_is_treated_as_launched(clean_firestore, project, settings, standin):
    """A job named <prefix>-a0 already active (e.g. a first launch interrupted before its write): adopt it."""
    db = firestore.Client(project=project)
    existing = standin.add_job("orders-analytics-a0")
    results = first_launch.first_launch(settings, endpoint=standin.endpoint, db=db)
    assert results["orders"].outcome == "launched"
    assert results["orders"].job_id == existing.id
    assert [launch.job_name for launch in standin.launches] == ["shipping-analytics-a0"]


def test_one_branch_failing_does_not_stop_the_other(clean_firestore, project, settings, standin):
    import grpc

    db = firestore.Client(project=project)
    standin.fail_next_launches(1, grpc.StatusCode.PERMISSION_DENIED, "no")
    results = first_launch.first_launch(settings, endpoint=standin.endpoint, db=db)
    assert sorted(r.outcome for r in results.values()) == ["error", "launched"]
    assert len(standin.launches) == 1


@pytest.mark.parametrize(
    "owned",
    [
        {"pending_attempt": {"attempt": 1, "job_name": "x-a1", "failed_job_id": "j", "trigger_event": "e"}},
        {"exhausted": True},
    ],
    ids=["pending_attempt", "exhausted"],
)
def test_a_pipeline_the_relauncher_owns_is_left_alone(clean_firestore, project, settings, standin, owned):
    """As workflows/first_launch.yaml: no "-a0" beside a relaunch, no overwrite of the relauncher's record."""
    db = firestore.Client(project=project)
    first = first_launch.first_launch(settings, endpoint=standin.endpoint, db=db)
    ref = db.collection(settings["collection"]).document("orders")
    standin.set_state(first["orders"].job_id, "JOB_STATE_FAILED")
    ref.update(owned)
    before = ref.get().to_dict()
    again = first_launch.first_launch(settings, endpoint=standin.endpoint, db=db)
    assert again["orders"].outcome == "skipped"
    assert ref.get().to_dict() == before
    assert [launch.job_name for launch in standin.launches].count("orders-analytics-a0") == 1
