"""Parsing CloudEvents into JobStatus, and the function's configuration and packaging."""

from __future__ import annotations

import ast
import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines import system
from relauncher.config import ConfigError, load_config
from relauncher.events import JOB_STATES, MalformedEvent, parse_event, parse_state, parse_time
from tests.relauncher.support import DEPLOYMENT, REGION, message_published, status_changed

ROOT = Path(__file__).resolve().parents[2]
FUNCTION_DIR = ROOT / "functions" / "relauncher"
JOB = {
    "id": "2026-11-30_22_00_00-123",
    "projectId": "test-project",
    "name": "orders-analytics-a0",
    "type": "JOB_TYPE_STREAMING",
    "currentState": "JOB_STATE_FAILED",
    "currentStateTime": "2026-11-30T22:00:00.123456789Z",
    "location": REGION,
    "labels": {"managed-by": "ecommerce-relauncher", "pipeline": "orders"},
    "replacedByJobId": "",
}


def test_status_changed_event():
    attrs, data = status_changed(JOB, "ev-1")
    status = parse_event(attrs, data)
    assert (status.event_id, status.job_id, status.job_name, status.state) == (
        "ev-1",
        JOB["id"],
        JOB["name"],
        "JOB_STATE_FAILED",
    )
    assert status.state_time == dt.datetime(2026, 11, 30, 22, 0, 0, 123456, tzinfo=dt.UTC)
    assert status.labels == JOB["labels"] and status.location == REGION and status.terminal


@pytest.mark.parametrize("wrap", [lambda job: job, lambda job: {"payload": job}], ids=["job", "job-event-data"])
def test_pubsub_message_with_job_or_job_event_data(wrap):
    attrs, data = message_published(wrap(JOB), "123")
    status = parse_event(attrs, data)
    assert (status.event_id, status.job_id, status.state) == ("123", JOB["id"], "JOB_STATE_FAILED")


def test_data_may_arrive_as_json_bytes_or_text():
    attrs, data = status_changed(JOB, "e")
    for raw in (json.dumps(data), json.dumps(data).encode()):
        assert parse_event(attrs, raw).job_id == JOB["id"]


@given(st.integers(min_value=0, max_value=len(JOB_STATES) - 1))
@settings(max_examples=30)
def test_states_by_number_or_name_agree(number):
    assert parse_state(number) == parse_state(JOB_STATES[number]) == JOB_STATES[number]


def test_missing_state_time_falls_back_to_the_event_time():
    attrs, data = status_changed({**JOB, "currentStateTime": None}, "e")
    attrs["time"] = "2026-11-30T23:00:00Z"
    assert parse_event(attrs, data).state_time == dt.datetime(2026, 11, 30, 23, tzinfo=dt.UTC)


def test_timestamp_object_form():
    expected = dt.datetime(2026, 11, 30, 22, tzinfo=dt.UTC)
    assert parse_time({"seconds": int(expected.timestamp()), "nanos": 0}) == expected


@given(st.binary(max_size=200))
@settings(max_examples=100)
def test_arbitrary_pubsub_bytes_parse_or_are_malformed(raw):
    attrs, data = message_published(raw, "1")
    try:
        parse_event(attrs, data)
    except MalformedEvent as exc:
        assert str(exc)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda c: st.lists(c) | st.dictionaries(st.text(max_size=8), c),
        max_leaves=20,
    )
)
@settings(max_examples=100)
def test_arbitrary_json_data_parse_or_are_malformed(data):
    try:
        parse_event({"id": "1", "type": "google.cloud.dataflow.job.v1beta3.statusChanged"}, data)
    except MalformedEvent as exc:
        assert str(exc)


def test_config_from_env_matches_the_source_of_truth():
    raw = system.relauncher_settings(DEPLOYMENT, project="p", region=REGION)
    cfg = load_config({"RELAUNCHER_CONFIG": json.dumps(raw), "DATAFLOW_ENDPOINT": "127.0.0.1:1"})
    assert cfg.dataflow_endpoint == "127.0.0.1:1"
    for name in system.pipeline_names():
        p = cfg.pipelines[name]
        relaunch = system.system()["pipelines"][name]["relaunch"]
        assert (p.max_retries, set(p.relaunch_on), p.healthy_period_seconds) == (
            relaunch["max_retries"],
            set(relaunch["relaunch_on"]),
            relaunch["healthy_period_seconds"],
        )
        for attempt in (0, 1, 17):
            assert p.job_name(attempt) == system.job_name(name, attempt)
            assert p.attempt_of(system.job_name(name, attempt)) == attempt
    assert cfg.exhausted_log_message == system.system()["relauncher"]["exhausted_log_message"]


@pytest.mark.parametrize("env", [{}, {"RELAUNCHER_CONFIG": "{"}, {"RELAUNCHER_CONFIG": "{}"}])
def test_bad_config_fails_loudly(env):
    with pytest.raises(ConfigError):
        load_config(env)


def test_function_requirements_pin_the_root_versions():
    def pins(path: Path) -> dict[str, str]:
        lines = [line.strip() for line in path.read_text().splitlines()]
        return {n.lower(): v for n, v in (line.split("==") for line in lines if line and not line.startswith("#"))}

    root, function = pins(ROOT / "requirements.txt"), pins(FUNCTION_DIR / "requirements.txt")
    assert function and all(root.get(name) == version for name, version in function.items())


def test_function_is_deployable_alone():
    """The function directory imports nothing from the rest of the repository."""
    for path in FUNCTION_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            for name in names:
                assert name.split(".")[0] not in {"pipelines", "localdev", "tests", "bench"}, (path, name)
    assert "def relaunch(" in (FUNCTION_DIR / "main.py").read_text()


def test_logs_are_one_json_object_per_line_as_cloud_logging_reads_them(capsys):
    from relauncher import logs

    when = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    logs.error("RELAUNCH_RETRIES_EXHAUSTED", pipeline="orders", job="orders-analytics-a2", attempt=2, at=when)
    logs.info("multi\nline")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert (first["severity"], first["message"], first["pipeline"], first["attempt"]) == (
        "ERROR",
        "RELAUNCH_RETRIES_EXHAUSTED",
        "orders",
        2,
    )
    assert first["at"] == when.isoformat() and second["message"] == "multi\nline"
