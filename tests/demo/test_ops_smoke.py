"""``python -m ops smoke`` against the local stack: the emulators, the relauncher under
functions-framework fed by a push subscription, the Dataflow stand-in over gRPC, and both pipelines
as Beam DirectRunner streaming processes (the demo's own setup). The cloud-only probe of the
function and its Eventarc trigger (REST) is not exercised here: there is no cloud.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import re

import pytest
from google.cloud import bigquery

from localdev import emulators
from localdev.demo import EVENTS_TOPIC, Demo, DemoConfig
from ops import __main__ as cli
from ops import smoke
from pipelines import bq, system, validation

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
VALIDATORS = {"orders": validation.validate_order, "shipping": validation.validate_shipment}


def test_test_events_are_valid_or_invalid_as_the_pipelines_judge_them() -> None:
    events = smoke.smoke_events("run1", NOW)
    assert {e.pipeline for e in events} == set(system.pipeline_names())
    for e in events:
        if e.expected == "fact":
            VALIDATORS[e.pipeline](e.data, now=NOW)
        else:
            with pytest.raises(validation.InvalidEvent):
                VALIDATORS[e.pipeline](e.data, now=NOW)
    for pipeline in system.pipeline_names():
        assert {e.expected for e in events if e.pipeline == pipeline} == {"fact", "dead_letter"}
    # Unique per run: an earlier run's rows can never answer for this one.
    assert not {e.key for e in events} & {e.key for e in smoke.smoke_events("run2", NOW)}
    assert len({e.key for e in events}) == len(events)


def test_an_event_counts_only_where_it_was_expected() -> None:
    valid, invalid = smoke.smoke_events("r", NOW)[:2]
    checks = smoke.outcome_checks([valid, invalid], {valid.key: "dead_letter"})
    assert [c.ok for c in checks] == [False, False]
    checks = smoke.outcome_checks([valid, invalid], {valid.key: "fact", invalid.key: "dead_letter"})
    assert [c.ok for c in checks] == [True, True]


def test_missing_message_metadata_is_reported_not_failed() -> None:
    valid, invalid = smoke.smoke_events("r", NOW)[:2]
    complete = smoke.metadata_check([valid, invalid], {valid.key: [], invalid.key: []})
    assert complete.ok and complete.detail == "message_id and publish_time present on all 2 test events"
    lacking = smoke.metadata_check([valid, invalid], {invalid.key: ["publish_time", "message_id"]})
    assert lacking.ok
    assert lacking.detail.startswith("missing on 1 of 2 test events (message_id, publish_time)")


@pytest.fixture
def cloud(project, pubsub_emulator, clean_firestore, bigquery_emulator):
    return emulators.LocalCloud(project, pubsub_emulator, clean_firestore, bigquery_emulator)


def _smoke(demo: Demo, suffix: str) -> tuple[int, str]:
    argv = [
        "--project",
        demo.cfg.project,
        "smoke",
        "--region",
        demo.cfg.region,
        "--timeout",
        "240",
        "--dataflow-endpoint",
        demo.standin.endpoint,
        "--local-relauncher-url",
        demo.function.url,
        "--local-events-subscription",
        f"{EVENTS_TOPIC}{suffix}-to-relauncher",
        "--name-suffix",
        suffix,
    ]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = cli.main(argv)
    return rc, out.getvalue()


@pytest.mark.emulators
@pytest.mark.slow
def test_smoke_fails_before_the_first_launch_and_passes_after_it(cloud, project, unique_suffix, tmp_path) -> None:
    suffix = f"_{unique_suffix}"
    cfg = DemoConfig(project=project, suffix=suffix, workdir=tmp_path, report=False, stream=io.StringIO())
    demo = Demo(cfg, cloud)
    try:
        demo.setup()

        rc, text = _smoke(demo, suffix)
        lines = text.splitlines()
        assert rc == 1, text
        for pipeline in system.pipeline_names():
            assert f"FAIL  {pipeline} job is running: no first launch recorded (run the first-launch workflow)" in lines
            assert any(line.startswith(f"PASS  {pipeline} topic and subscription exist") for line in lines)
        assert any(line.startswith("PASS  relauncher function is active") for line in lines)
        assert any(line.startswith("PASS  relauncher trigger receives Dataflow job events") for line in lines)
        assert any(line.startswith("FAIL  test events: not published") for line in lines)

        demo.launch()
        rc, text = _smoke(demo, suffix)
        lines = text.splitlines()
        assert rc == 0, text
        assert not [line for line in lines if line.startswith("FAIL")]
        events = smoke.smoke_events("x", NOW)
        outcome_lines = [line for line in lines if " event becomes a " in line]
        assert len(outcome_lines) == len(events) and all(line.startswith("PASS") for line in outcome_lines)
        # The emulator always fills message_id and publish_time; smoke reports what it found.
        assert f"PASS  message metadata: message_id and publish_time present on all {len(events)} test events" in lines
        n_checks = sum(line.startswith(("PASS", "FAIL")) for line in lines) - 1  # minus the "published" line
        assert lines[-1] == f"smoke: {n_checks} passed, 0 failed"

        # The rows carry the run's marker attribute, so they can be told apart from real traffic.
        run_id = re.search(rf"attribute {smoke.MARK_ATTRIBUTE}=(\w+)", text).group(1)
        client = bq.make_client(project)
        rows = client.query(
            f"SELECT attributes FROM `{project}.{system.dataset()}{suffix}.{system.table_name('dead_letter')}`"
            " WHERE attributes LIKE @mark",
            job_config=bigquery.QueryJobConfig(
                query_parameters=[bigquery.ScalarQueryParameter("mark", "STRING", f"%{run_id}%")]
            ),
        ).result()
        assert len(list(rows)) == sum(e.expected == "dead_letter" for e in events)
    finally:
        demo.stop()
