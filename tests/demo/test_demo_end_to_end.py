"""The demo's own code path, shortened: fewer events, one injected failure, one stall, then every check.

Real parts throughout: the Pub/Sub, Firestore and BigQuery emulators (session
fixtures), the relauncher under functions-framework fed by a Pub/Sub push
subscription, the Dataflow stand-in over gRPC, and both pipelines as Beam
DirectRunner streaming processes; for the stall, the local Cloud Monitoring stand-in
publishing incidents to the alerts topic, pushed to the same function.
"""

from __future__ import annotations

import io
import os

import pytest
from google.cloud import firestore

from localdev import emulators
from localdev.demo import DemoConfig, Kill, Stall, render_summary, run_demo
from pipelines import generator, system

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


def test_one_failure_and_one_stall_recover_and_nothing_is_lost(cloud, project, unique_suffix, tmp_path):
    cfg = DemoConfig(
        project=project,
        orders=24,
        rate=5.0,  # slow enough that the stream goes on after the stall: the backlog is what Monitoring sees
        max_retries=2,
        kills=(Kill("orders", 0.2, "relaunch"),),
        stall=Stall("orders", 0.6),
        rearm_after_exhausted=False,
        suffix=f"_{unique_suffix}",
        workdir=tmp_path,
        report=False,
        stream=io.StringIO(),
    )
    result = run_demo(cfg, cloud=cloud)
    summary = render_summary(result) + "\n\nTimeline:\n" + cfg.stream.getvalue()

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

    # The stall: a1 stopped (RUNNING, no event), an incident from the Monitoring stand-in, a2 launched.
    st = result.stall
    assert st is not None and (st.pipeline, st.job_name, st.replacement) == (
        "orders",
        "orders-analytics-a1",
        "orders-analytics-a2",
    ), summary
    assert 0 < st.detect_seconds < st.recovery_seconds, summary
    assert (
        f"stuck_recovery_s={st.recovery_seconds:.1f}" in summary
        and f"stuck_detect_s={st.detect_seconds:.1f}" in summary
    )
    # The original design polls the stalled job's own states and never sees one terminal.
    assert st.polling_tick is None and "polling_stuck_recovery=never" in summary

    # The audit in Firestore, as the relauncher wrote it.
    ref = firestore.Client(project=project).collection("pipelines").document("orders")
    record = ref.get().to_dict()
    assert (record["current_job_name"], record["attempt"], record["retries_used"]) == ("orders-analytics-a2", 2, 2)
    assert record["exhausted"] is False and record["pending_attempt"] is None
    attempts = {d.id: d.to_dict() for d in ref.collection("attempts").stream()}
    assert attempts["1"]["job_name"] == "orders-analytics-a1" and attempts["1"]["outcome"] == "launched"
    assert attempts["2"]["job_name"] == "orders-analytics-a2" and attempts["2"]["outcome"] == "launched"
    events = [d.to_dict() for d in ref.collection("events").stream()]
    failed = [e for e in events if e["decision"] == "relaunched" and e.get("state") == "JOB_STATE_FAILED"]
    assert len(failed) == 1 and failed[0]["job_name"] == "orders-analytics-a0"
    assert attempts["1"]["trigger_event"] == failed[0]["event_id"]
    # The incident with its heal: drain requested (never finished: the process is stopped), cancelled at
    # the re-notification after the drain deadline, attempt 2 launched, replacement RUNNING.
    incidents = {d.id: d.to_dict() for d in ref.collection("incidents").stream()}
    incident = next(i for i in incidents.values() if i["incident_id"] == st.incident_id)
    assert (incident["signal"], incident["first_decision"]) == ("oldest_unacked_message_age", "healing")
    assert incident["resource_labels"]["subscription_id"] == f"orders-analytics_{unique_suffix}"
    threshold = system.system()["stall_detection"]["signals"]["oldest_unacked_message_age"]["threshold_seconds"]
    notices = sorted((e for e in events if e.get("incident_id") == st.incident_id), key=lambda e: e["handled_time"])
    opened = notices[0]  # the incident as it opened: the stalled job's backlog above the (scaled) threshold
    assert (opened["incident_state"], opened["decision"]) == ("open", "healing"), notices
    assert opened["observed_value"] > opened["threshold_value"] == pytest.approx(threshold * cfg.stall_scale)
    # Its re-notification after the drain deadline is what cancels the stopped job and relaunches.
    assert [e["decision"] for e in notices if e["incident_state"] == "open"][1] == "relaunched", notices
    assert incident["relaunch_job_name"] == "orders-analytics-a2" and incident["heal_step"] == "healed"
    assert incident["replacement_job_name"] == "orders-analytics-a2" and incident["replacement_running_time"]
    steps = [s["step"] for s in sorted(incident["steps"], key=lambda s: s["time"])]
    for before, after in [("drain_requested", "cancel_requested"), ("cancel_requested", "replacement_running")]:
        assert before in steps and after in steps and steps.index(before) < steps.index(after), steps
    assert attempts["2"]["trigger_incident"] == st.incident_id
    shipping = firestore.Client(project=project).collection("pipelines").document("shipping").get().to_dict()
    assert (shipping["attempt"], shipping["retries_used"]) == (0, 0)

    # Every process the demo started is gone (jobs' process groups, the function).
    assert result.pgids and result.pids
    for pgid in {*result.pgids, *result.pids}:
        assert _group_gone(pgid), f"process group {pgid} still alive"
