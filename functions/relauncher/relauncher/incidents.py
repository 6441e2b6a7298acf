"""Parse Cloud Monitoring incident notifications (the alerts topic) into an :class:`Incident`.

Cloud Monitoring's Pub/Sub notification channel publishes one message per incident
notification (opened, re-notified while open, closed). The message data is the JSON
documented under "Schema structure" for webhook and Pub/Sub channels
(https://cloud.google.com/monitoring/support/notification-options, schema ``"version": "1.2"``)::

    {"version": "1.2",
     "incident": {"incident_id": "0.opqiw61fsv7p", "scoping_project_id": "acme",
                  "url": "https://console.cloud.google.com/monitoring/alerting/incidents/...",
                  "started_at": 1577840461, "ended_at": null, "state": "open",
                  "summary": "...", "observed_value": "1020", "threshold_value": "900",
                  "resource": {"type": "dataflow_job", "labels": {"job_id": "...", "job_name": "..."}},
                  "metric": {"type": "dataflow.googleapis.com/job/system_lag", "labels": {...}},
                  "policy_name": "...", "policy_user_labels": {"pipeline": "orders", "signal": "system_lag"},
                  "condition": {"name": "projects/.../conditions/...", "displayName": "..."},
                  "condition_name": "...", ...}}

``started_at``/``ended_at`` are Unix seconds (``ended_at`` null, or 0, while open); observed and
threshold values are strings in the documented example, numbers are accepted too. The alert
policies carry ``user_labels = {pipeline, signal}`` (terraform/stall_detection.tf), which is how an
incident names its pipeline and signal. Everything here is pure; anything else raises
:class:`~relauncher.events.MalformedEvent` with a reason recorded in the audit trail.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from relauncher.events import MESSAGE_PUBLISHED, JobStatus, MalformedEvent, event_body, job_from, parse_job

SCHEMA_VERSIONS = frozenset({"1.2"})
OPEN = "open"
CLOSED = "closed"
STATES = frozenset({OPEN, CLOSED})
DATAFLOW_JOB = "dataflow_job"
PUBSUB_SUBSCRIPTION = "pubsub_subscription"


@dataclass(frozen=True)
class Incident:
    """What the relauncher needs from one incident notification."""

    event_id: str
    event_type: str
    incident_id: str
    state: str  # "open" | "closed"
    started_at: dt.datetime
    ended_at: dt.datetime | None
    pipeline: str
    signal: str
    resource_type: str
    resource_labels: Mapping[str, str] = field(default_factory=dict)
    metric_type: str = ""
    observed_value: float | None = None
    threshold_value: float | None = None
    policy_name: str = ""
    condition_name: str = ""
    summary: str = ""
    url: str = ""
    project_id: str = ""

    @property
    def open(self) -> bool:
        return self.state == OPEN

    @property
    def job_id(self) -> str:
        """The Dataflow job the incident is about (dataflow_job resources only)."""
        return self.resource_labels.get("job_id", "")

    @property
    def job_name(self) -> str:
        return self.resource_labels.get("job_name", "")

    @property
    def duration_seconds(self) -> float | None:
        """How long the stall lasted (closed incidents only)."""
        if self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()

    def audit(self) -> dict[str, Any]:
        """The incident as stored in ``pipelines/{p}/incidents/{incident_id}`` and the events trail."""
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "incident_id": self.incident_id,
            "incident_state": self.state,
            "signal": self.signal,
            "metric_type": self.metric_type,
            "resource_type": self.resource_type,
            "resource_labels": dict(self.resource_labels),
            "observed_value": self.observed_value,
            "threshold_value": self.threshold_value,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "duration_seconds": self.duration_seconds,
            "policy_name": self.policy_name,
            "condition_name": self.condition_name,
            "summary": self.summary,
            "url": self.url,
        }


def is_incident(body: Mapping[str, Any]) -> bool:
    """Whether a decoded Pub/Sub message is (meant to be) an incident notification."""
    return "incident" in body


def _text(obj: Mapping[str, Any], key: str, *, required: bool = False) -> str:
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise MalformedEvent(f"incident has no {key}")
        return ""
    if not isinstance(value, str):
        raise MalformedEvent(f"incident {key} {value!r} is not a string")
    return value


def _string_map(obj: Mapping[str, Any], key: str, what: str) -> dict[str, str]:
    value = obj.get(key) or {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise MalformedEvent(f"{what} is not a map of strings")
    return dict(value)


def _unix_time(value: Any, key: str) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise MalformedEvent(f"incident {key} {value!r} is not Unix seconds")
    try:
        seconds = float(value)
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(value)
        return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise MalformedEvent(f"incident {key} {value!r} is not Unix seconds") from exc


def _number(value: Any, key: str) -> float | None:
    """A documented string value ("0.835") or a number; None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise MalformedEvent(f"incident {key} {value!r} is not a number")
    try:
        number = float(value)
    except (ValueError, OverflowError) as exc:
        raise MalformedEvent(f"incident {key} {str(value)[:40]!r} is not a number") from exc
    if not math.isfinite(number):
        raise MalformedEvent(f"incident {key} {value!r} is not a finite number")
    return number


def parse_incident(body: Mapping[str, Any], *, event_id: str, event_type: str) -> Incident:
    """An :class:`Incident` from the decoded notification JSON, or MalformedEvent with the reason."""
    version = body.get("version")
    if version not in SCHEMA_VERSIONS:
        raise MalformedEvent(f"incident notification version {version!r} is not one of {sorted(SCHEMA_VERSIONS)}")
    raw = body.get("incident")
    if not isinstance(raw, Mapping):
        raise MalformedEvent("incident is not an object")
    incident_id = _text(raw, "incident_id", required=True)
    state = _text(raw, "state", required=True).lower()
    if state not in STATES:
        raise MalformedEvent(f"incident state {raw.get('state')!r} is not open or closed")
    started_at = _unix_time(raw.get("started_at"), "started_at")
    if started_at is None:
        raise MalformedEvent("incident has no started_at")
    # Some notifications (e.g. the console's test notification) carry 0 for "not ended": read it as null.
    ended_at = None if raw.get("ended_at") in (0, "0") else _unix_time(raw.get("ended_at"), "ended_at")
    if state == CLOSED and ended_at is None:
        raise MalformedEvent("closed incident has no ended_at")
    if ended_at is not None and ended_at < started_at:
        raise MalformedEvent("incident ended_at is before started_at")
    labels = _string_map(raw, "policy_user_labels", "incident policy_user_labels")
    pipeline, signal = labels.get("pipeline", ""), labels.get("signal", "")
    if not pipeline or not signal:
        raise MalformedEvent("incident policy_user_labels do not name a pipeline and a signal")
    resource = raw.get("resource")
    if not isinstance(resource, Mapping):
        raise MalformedEvent("incident has no resource")
    resource_type = _text(resource, "type", required=True)
    resource_labels = _string_map(resource, "labels", "incident resource labels")
    metric = {} if raw.get("metric") is None else raw["metric"]
    if not isinstance(metric, Mapping):
        raise MalformedEvent("incident metric is not an object")
    condition = {} if raw.get("condition") is None else raw["condition"]
    if not isinstance(condition, Mapping):
        raise MalformedEvent("incident condition is not an object")
    condition_name = _text(raw, "condition_name") or _text(condition, "displayName") or _text(condition, "name")
    return Incident(
        event_id=event_id,
        event_type=event_type,
        incident_id=incident_id,
        state=state,
        started_at=started_at,
        ended_at=ended_at,
        pipeline=pipeline,
        signal=signal,
        resource_type=resource_type,
        resource_labels=resource_labels,
        metric_type=_text(metric, "type"),
        observed_value=_number(raw.get("observed_value"), "observed_value"),
        threshold_value=_number(raw.get("threshold_value"), "threshold_value"),
        policy_name=_text(raw, "policy_name"),
        condition_name=condition_name,
        summary=_text(raw, "summary"),
        url=_text(raw, "url"),
        project_id=_text(raw, "scoping_project_id"),
    )


def parse_cloud_event(attributes: Mapping[str, Any], data: Any) -> JobStatus | Incident:
    """Route one CloudEvent: an incident notification or a job status, else MalformedEvent.

    Both arrive on the same function: status events from the Dataflow trigger (or a Pub/Sub
    push of them), incidents from the alerts topic's ``messagePublished`` trigger. The decoded
    body decides, not the trigger: a Pub/Sub message holding ``"incident"`` is an incident
    (parsed strictly), anything else must be a Job or JobEventData.
    """
    event_id, event_type, body = event_body(attributes, data)
    if event_type == MESSAGE_PUBLISHED and is_incident(body):
        return parse_incident(body, event_id=event_id, event_type=event_type)
    return parse_job(job_from(body), event_id=event_id, event_type=event_type, fallback_time=attributes.get("time"))


def notification(
    *,
    incident_id: str,
    pipeline: str,
    signal: str,
    resource_type: str,
    resource_labels: Mapping[str, str],
    metric_type: str,
    started_at: float,
    ended_at: float | None = None,
    observed_value: float | None = None,
    threshold_value: float | None = None,
    project_id: str = "",
    policy_name: str = "",
) -> dict[str, Any]:
    """The documented notification JSON for one incident (what the local Monitoring stand-in publishes).

    Kept beside the parser so both sides of the interface change together.
    """
    state = OPEN if ended_at is None else CLOSED
    condition = f"{signal} above threshold"
    return {
        "version": "1.2",
        "incident": {
            "incident_id": incident_id,
            "scoping_project_id": project_id,
            "url": f"https://console.cloud.google.com/monitoring/alerting/incidents/{incident_id}?project={project_id}",
            "started_at": int(started_at),
            "ended_at": None if ended_at is None else int(ended_at),
            "state": state,
            "summary": f"{metric_type.rsplit('/', 1)[-1]} for {project_id} {' '.join(resource_labels.values())}"
            f" is above the threshold of {threshold_value} with a value of {observed_value}.",
            "observed_value": None if observed_value is None else str(observed_value),
            "threshold_value": None if threshold_value is None else str(threshold_value),
            "resource": {"type": resource_type, "labels": dict(resource_labels)},
            "resource_type_display_name": resource_type,
            "metric": {"type": metric_type, "displayName": metric_type.rsplit("/", 1)[-1], "labels": {}},
            "policy_name": policy_name or f"{pipeline} {signal}",
            "policy_user_labels": {"pipeline": pipeline, "signal": signal},
            "condition": {
                "name": f"projects/{project_id}/alertPolicies/{pipeline}-{signal}/conditions/0",
                "displayName": condition,
            },
            "condition_name": condition,
            "severity": "critical",
        },
    }
