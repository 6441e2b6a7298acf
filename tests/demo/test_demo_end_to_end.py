"""The demo's own code path, shortened: fewer events, one injected failure, then every check.

Real parts throughout: the Pub/Sub, Firestore and BigQuery emulators (session
fixtures), the relauncher under functions-framework fed by a Pub/Sub push
subscription, the Dataflow stand-in over gRPC, and both pipelines as Beam
DirectRunner streaming processes.
"""

from __future__ import annotations

import io
import os

import pytest
from google.cloud import firestore

from localdev import emulators
from localdev.demo import DemoConfig, Kill, render_summary, run_demo
from pipelines import generator

pytestmark = [pytest.mark.emulators, pytest.mark.slow]


@pytest.fixture
def cloud(project, pubsub_emulator, clean_firestore, bigquery_emulator):
    return emulators.LocalCloud(project, pubsub_emulator, clean_firestore, bigquery_emulator)


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_one_failure_recovers_and_nothing_is_lost(cloud, project, unique_suffix, tmp_path):
    cfg = DemoConfig(
        project=project,
        orders=24,
        rate=30.0,
        max_retries=2,
        kills=(Kill("orders", 0.3, "relaunch"),),
        rearm_after_exhausted=False,
        suffix=f"_{unique_suffix}",
        workdir=tmp_path,
        report=False,
        stream=io.StringIO(),
    )
    result = run_demo(cfg, cloud=cloud)
    summary = render_summary(result)

    # Exact conservation, per pipeline, against what the generator planted (computed, not typed in).
    expected = generator.expected_counts(generator.generate(cfg.seed, cfg.orders))
    assert set(result.tallies) == set(expected)
    for pipeline, t in result.tallies.items():
        e = expected[pipeline]
        assert (t.published, t.distinct_facts, t.dead_letters, t.duplicates) == (
            e["published"],
            e["facts"],
            e["dead_letters"],
            e["duplicates"],
        ), summary
        assert t.missing == 0 and t.unknown == 0, summary
        assert t.ok
    assert result.conservation_ok and result.ok, summary
    assert "conservation=ok" in summary

    # One relaunch, measured, with a polling comparison on the same timeline.
    (rec,) = result.recoveries
    assert (rec.pipeline, rec.failed_job, rec.replacement_job) == (
        "orders",
        "orders-analytics-a0",
        "orders-analytics-a1",
    )
    assert rec.seconds > 0 and rec.polling_seconds() > rec.startup_seconds
    assert f"recovery_max_s={rec.seconds:.1f}" in summary

    # Its audit records in Firestore, as the relauncher wrote them.
    ref = firestore.Client(project=project).collection("pipelines").document("orders")
    record = ref.get().to_dict()
    assert (record["current_job_name"], record["attempt"], record["retries_used"]) == ("orders-analytics-a1", 1, 1)
    assert record["exhausted"] is False and record["pending_attempt"] is None
    attempts = {d.id: d.to_dict() for d in ref.collection("attempts").stream()}
    assert attempts["1"]["job_name"] == "orders-analytics-a1" and attempts["1"]["outcome"] == "launched"
    events = [d.to_dict() for d in ref.collection("events").stream()]
    relaunched = [e for e in events if e["decision"] == "relaunched"]
    assert len(relaunched) == 1
    assert relaunched[0]["job_name"] == "orders-analytics-a0" and relaunched[0]["state"] == "JOB_STATE_FAILED"
    assert attempts["1"]["trigger_event"] == relaunched[0]["event_id"]
    shipping = firestore.Client(project=project).collection("pipelines").document("shipping").get().to_dict()
    assert (shipping["attempt"], shipping["retries_used"]) == (0, 0)

    # Every process the demo started is gone (jobs' process groups, the function).
    assert result.pgids and result.pids
    for pgid in {*result.pgids, *result.pids}:
        assert _group_gone(pgid), f"process group {pgid} still alive"
