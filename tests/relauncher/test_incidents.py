"""The incident parser: real-shaped Cloud Monitoring notifications (open/closed, all three signals) and
malformed ones, routed from the same ``messagePublished`` CloudEvents the alerts trigger delivers.

The payloads follow the documented Pub/Sub / webhook schema, version 1.2
(https://cloud.google.com/monitoring/support/notification-options): ``started_at``/``ended_at`` in Unix
seconds, values as strings, the policy's user labels naming pipeline and signal.
"""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relauncher.events import JobStatus, MalformedEvent
from relauncher.incidents import Incident, notification, parse_cloud_event
from tests.relauncher.support import job_payload, message_published, status_changed

STARTED = 1796162400  # 2026-12-01T22:00:00Z
ENDED = STARTED + 1500

SUBSCRIPTION_OPEN = {
    "version": "1.2",
    "incident": {
        "incident_id": "0.opqiw61fsv7p",
        "scoping_project_id": "acme-shop",
        "scoping_project_number": 12345,
        "url": "https://console.cloud.google.com/monitoring/alerting/incidents/0.opqiw61fsv7p?project=acme-shop",
        "started_at": STARTED,
        "ended_at": None,
        "state": "open",
        "resource_id": "",
        "resource_name": "acme-shop orders-analytics",
        "resource_display_name": "orders-analytics",
        "resource_type_display_name": "Cloud Pub/Sub Subscription",
        "resource": {
            "type": "pubsub_subscription",
            "labels": {"project_id": "acme-shop", "subscription_id": "orders-analytics"},
        },
        "metric": {
            "type": "pubsub.googleapis.com/subscription/oldest_unacked_message_age",
            "displayName": "Oldest unacked message age",
            "labels": {},
        },
        "metadata": {"system_labels": {}, "user_labels": {}},
        "policy_name": "orders: oldest unacked message age",
        "policy_user_labels": {"pipeline": "orders", "signal": "oldest_unacked_message_age"},
        "documentation": {"content": "The orders subscription is not consumed.", "mime_type": "text/markdown"},
        "condition": {
            "name": "projects/acme-shop/alertPolicies/1234567890123456789/conditions/1234567890123456789",
            "displayName": "Oldest unacked message age above 900 s",
            "conditionThreshold": {"thresholdValue": 900, "duration": "600s", "comparison": "COMPARISON_GT"},
        },
        "condition_name": "Oldest unacked message age above 900 s",
        "threshold_value": "900",
        "observed_value": "1234.5",
        "summary": "Oldest unacked message age for acme-shop orders-analytics is above the threshold of 900 with "
        "a value of 1234.5.",
        "severity": "critical",
    },
}


def _dataflow(signal: str, metric: str, *, closed: bool = False) -> dict:
    body = copy.deepcopy(SUBSCRIPTION_OPEN)
    inc = body["incident"]
    inc.update(
        incident_id=f"0.{signal}",
        resource={
            "type": "dataflow_job",
            "labels": {
                "project_id": "acme-shop",
                "job_id": "2026-12-01_13_00_00-1234567890",
                "job_name": "orders-analytics-a0",
                "region": "europe-west1",
            },
        },
        metric={"type": f"dataflow.googleapis.com/job/{metric}", "labels": {}},
        policy_user_labels={"pipeline": "orders", "signal": signal},
        observed_value="1000",
    )
    if closed:
        inc.update(state="closed", ended_at=ENDED)
    return body


def _closed(body: dict) -> dict:
    body = copy.deepcopy(body)
    body["incident"].update(state="closed", ended_at=ENDED)
    return body


def _with(body: dict, **changes) -> dict:
    body = copy.deepcopy(body)
    for key, value in changes.items():
        if value is _DROP:
            body["incident"].pop(key, None)
        else:
            body["incident"][key] = value
    return body


_DROP = object()
UTC = dt.UTC


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            SUBSCRIPTION_OPEN,
            {
                "incident_id": "0.opqiw61fsv7p",
                "state": "open",
                "signal": "oldest_unacked_message_age",
                "pipeline": "orders",
                "resource_type": "pubsub_subscription",
                "job_id": "",
                "observed_value": 1234.5,
                "threshold_value": 900.0,
                "ended_at": None,
                "duration_seconds": None,
                "condition_name": "Oldest unacked message age above 900 s",
            },
            id="subscription-open",
        ),
        pytest.param(
            _closed(SUBSCRIPTION_OPEN),
            {"state": "closed", "ended_at": dt.datetime.fromtimestamp(ENDED, UTC), "duration_seconds": 1500.0},
            id="subscription-closed",
        ),
        pytest.param(
            _dataflow("data_watermark_age", "data_watermark_age"),
            {
                "signal": "data_watermark_age",
                "resource_type": "dataflow_job",
                "job_id": "2026-12-01_13_00_00-1234567890",
                "job_name": "orders-analytics-a0",
                "metric_type": "dataflow.googleapis.com/job/data_watermark_age",
                "observed_value": 1000.0,
            },
            id="watermark-open",
        ),
        pytest.param(
            _dataflow("data_watermark_age", "data_watermark_age", closed=True),
            {"state": "closed", "duration_seconds": 1500.0},
            id="watermark-closed",
        ),
        pytest.param(
            _dataflow("system_lag", "system_lag"),
            {"signal": "system_lag", "state": "open", "started_at": dt.datetime.fromtimestamp(STARTED, UTC)},
            id="system-lag-open",
        ),
        pytest.param(
            _dataflow("system_lag", "system_lag", closed=True),
            {"signal": "system_lag", "state": "closed", "duration_seconds": 1500.0},
            id="system-lag-closed",
        ),
        pytest.param(
            _with(SUBSCRIPTION_OPEN, observed_value=1234.5, threshold_value=900, state="OPEN"),
            {"observed_value": 1234.5, "threshold_value": 900.0, "state": "open"},
            id="numbers-and-upper-case-state",
        ),
        pytest.param(_with(SUBSCRIPTION_OPEN, ended_at=0), {"ended_at": None, "state": "open"}, id="open-ended-at-0"),
        pytest.param(
            _with(SUBSCRIPTION_OPEN, condition_name=_DROP, observed_value=_DROP),
            {"condition_name": "Oldest unacked message age above 900 s", "observed_value": None},
            id="optional-fields-absent",
        ),
    ],
)
def test_real_shaped_notifications_parse(body, expected):
    attrs, data = message_published(body, event_id="m-1")
    incident = parse_cloud_event(attrs, data)
    assert isinstance(incident, Incident)
    assert incident.event_id == "m-1"
    for key, value in expected.items():
        assert getattr(incident, key) == value, key


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param({**SUBSCRIPTION_OPEN, "version": "1.1"}, "version", id="unknown-version"),
        pytest.param({**SUBSCRIPTION_OPEN, "version": "test"}, "version", id="console-test-notification"),
        pytest.param(_with(SUBSCRIPTION_OPEN, state="closed", ended_at=0), "no ended_at", id="closed-ended-at-0"),
        pytest.param({"version": "1.2", "incident": "open"}, "not an object", id="incident-not-object"),
        pytest.param(_with(SUBSCRIPTION_OPEN, incident_id=_DROP), "incident_id", id="no-id"),
        pytest.param(_with(SUBSCRIPTION_OPEN, state="acknowledged"), "open or closed", id="unknown-state"),
        pytest.param(_with(SUBSCRIPTION_OPEN, started_at=_DROP), "started_at", id="no-start"),
        pytest.param(_with(SUBSCRIPTION_OPEN, started_at="yesterday"), "Unix seconds", id="start-not-seconds"),
        pytest.param(_with(SUBSCRIPTION_OPEN, started_at=True), "Unix seconds", id="start-bool"),
        pytest.param(_with(SUBSCRIPTION_OPEN, state="closed"), "no ended_at", id="closed-without-end"),
        pytest.param(_with(SUBSCRIPTION_OPEN, ended_at=STARTED - 1), "before", id="ends-before-start"),
        pytest.param(_with(SUBSCRIPTION_OPEN, policy_user_labels=_DROP), "pipeline and a signal", id="no-labels"),
        pytest.param(
            _with(SUBSCRIPTION_OPEN, policy_user_labels={"pipeline": "orders"}), "pipeline and a signal", id="no-signal"
        ),
        pytest.param(_with(SUBSCRIPTION_OPEN, policy_user_labels={"pipeline": 3}), "map of strings", id="label-type"),
        pytest.param(_with(SUBSCRIPTION_OPEN, resource=_DROP), "resource", id="no-resource"),
        pytest.param(_with(SUBSCRIPTION_OPEN, resource={"labels": {}}), "type", id="resource-without-type"),
        pytest.param(_with(SUBSCRIPTION_OPEN, observed_value="high"), "number", id="value-not-number"),
        pytest.param(_with(SUBSCRIPTION_OPEN, observed_value="NaN"), "finite", id="value-nan"),
        # Found by the fuzz test below: an integer too large for a float crashed the parser.
        pytest.param(_with(SUBSCRIPTION_OPEN, observed_value=10**400), "not a number", id="value-huge-int"),
        pytest.param(_with(SUBSCRIPTION_OPEN, started_at=10**400), "Unix seconds", id="start-huge-int"),
        pytest.param(_with(SUBSCRIPTION_OPEN, metric=[]), "metric", id="metric-not-object"),
    ],
)
def test_malformed_notifications_are_refused_with_a_reason(body, reason):
    attrs, data = message_published(body)
    with pytest.raises(MalformedEvent, match=reason):
        parse_cloud_event(attrs, data)


def test_job_status_messages_still_route_to_job_statuses():
    job = {"id": "j1", "name": "orders-analytics-a0", "currentState": "JOB_STATE_FAILED"}
    attrs, data = message_published({"payload": job_payload(job, "JOB_STATE_FAILED")})
    assert isinstance(parse_cloud_event(attrs, data), JobStatus)
    attrs, data = status_changed(job_payload(job, "JOB_STATE_RUNNING"))
    assert parse_cloud_event(attrs, data).state == "JOB_STATE_RUNNING"


def test_a_message_neither_incident_nor_job_is_malformed():
    attrs, data = message_published({"alert": {"state": "open"}})
    with pytest.raises(MalformedEvent, match="neither"):
        parse_cloud_event(attrs, data)


def test_the_notification_builder_round_trips_through_the_parser():
    """``notification`` is what the local Monitoring stand-in publishes: it must parse to what it says."""
    body = notification(
        incident_id="i-1",
        pipeline="shipping",
        signal="system_lag",
        resource_type="dataflow_job",
        resource_labels={"job_id": "j9", "job_name": "shipping-analytics-a2"},
        metric_type="dataflow.googleapis.com/job/system_lag",
        started_at=STARTED,
        ended_at=ENDED,
        observed_value=1000,
        threshold_value=900,
        project_id="p",
    )
    attrs, data = message_published(json.loads(json.dumps(body)))
    incident = parse_cloud_event(attrs, data)
    assert (incident.pipeline, incident.signal, incident.job_id, incident.state) == (
        "shipping",
        "system_lag",
        "j9",
        "closed",
    )
    assert (incident.observed_value, incident.threshold_value, incident.duration_seconds) == (1000.0, 900.0, 1500.0)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    field=st.sampled_from(sorted(SUBSCRIPTION_OPEN["incident"])),
    value=JSONISH,
)
def test_any_field_replaced_by_any_json_parses_or_is_malformed(field, value):
    """Open-ended input: an incident with one field replaced by arbitrary JSON never crashes the parser."""
    attrs, data = message_published(_with(SUBSCRIPTION_OPEN, **{field: value}))
    try:
        incident = parse_cloud_event(attrs, data)
    except MalformedEvent:
        return
    assert isinstance(incident, Incident) and incident.state in ("open", "closed")


@settings(max_examples=200, deadline=None)
@given(body=JSONISH)
def test_any_json_as_the_incident_parses_or_is_malformed(body):
    attrs, data = message_published({"version": "1.2", "incident": body})
    try:
        incident = parse_cloud_event(attrs, data)
    except MalformedEvent:
        return
    assert isinstance(incident, Incident)
