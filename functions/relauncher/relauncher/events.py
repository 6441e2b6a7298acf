"""Parse the CloudEvents that reach the function into a :class:`JobStatus`.

Two shapes arrive (checked against googleapis/google-cloudevents,
``proto/google/events/cloud/dataflow/v1beta3``):

* ``google.cloud.dataflow.job.v1beta3.statusChanged`` (Eventarc, Dataflow direct
  events): ``data`` is ``JobEventData`` JSON, ``{"payload": <Job>}``.
* ``google.cloud.pubsub.topic.v1.messagePublished`` (a Pub/Sub push, the local
  stack, log-sink routes): ``data.message.data`` is base64 of either the Job JSON
  or the ``JobEventData`` JSON.

Everything here is pure: a malformed event raises :class:`MalformedEvent` with a
reason an operator can read in the audit trail.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

STATUS_CHANGED = "google.cloud.dataflow.job.v1beta3.statusChanged"
MESSAGE_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"

# google.dataflow.v1beta3.JobState, by number (proto JSON may carry either form).
JOB_STATES = (
    "JOB_STATE_UNKNOWN",
    "JOB_STATE_STOPPED",
    "JOB_STATE_RUNNING",
    "JOB_STATE_DONE",
    "JOB_STATE_FAILED",
    "JOB_STATE_CANCELLED",
    "JOB_STATE_UPDATED",
    "JOB_STATE_DRAINING",
    "JOB_STATE_DRAINED",
    "JOB_STATE_PENDING",
    "JOB_STATE_CANCELLING",
    "JOB_STATE_QUEUED",
    "JOB_STATE_RESOURCE_CLEANING_UP",
)
# A job never leaves these states; its name is free again for a new launch.
TERMINAL_STATES = frozenset(
    {"JOB_STATE_DONE", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_UPDATED", "JOB_STATE_DRAINED"}
)


class MalformedEvent(ValueError):
    """The event cannot be understood; acknowledged and recorded with this reason, never retried."""


@dataclass(frozen=True)
class JobStatus:
    """What the relauncher needs from one job-status event."""

    event_id: str
    event_type: str
    job_id: str
    job_name: str
    state: str
    state_time: dt.datetime | None
    project_id: str = ""
    location: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    replaced_by_job_id: str = ""
    replace_job_id: str = ""

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    def audit(self) -> dict[str, Any]:
        """The event as stored in the audit trail."""
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "job_id": self.job_id,
            "job_name": self.job_name,
            "state": self.state,
            "state_time": self.state_time,
        }


def parse_state(value: Any) -> str:
    """A JobState name from its JSON form (name or number)."""
    if isinstance(value, bool):
        raise MalformedEvent(f"job state {value!r} is not a JobState")
    if isinstance(value, int):
        if 0 <= value < len(JOB_STATES):
            return JOB_STATES[value]
        raise MalformedEvent(f"job state {value} is not a JobState number")
    if isinstance(value, str) and value in JOB_STATES:
        return value
    if value is None or value == "":
        raise MalformedEvent("job has no currentState")
    raise MalformedEvent(f"job state {value!r} is not a JobState")


def parse_time(value: Any) -> dt.datetime | None:
    """An aware UTC datetime from an RFC 3339 string (or a {seconds, nanos} object); None if absent."""
    if value in (None, ""):
        return None
    try:
        if isinstance(value, Mapping):
            seconds = int(value.get("seconds", 0)) + int(value.get("nanos", 0)) / 1e9
            return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
        if isinstance(value, str):
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=dt.UTC)
            return parsed.astimezone(dt.UTC)
    except (TypeError, ValueError, OverflowError) as exc:
        raise MalformedEvent(f"currentStateTime {value!r} is not a timestamp") from exc
    raise MalformedEvent(f"currentStateTime {value!r} is not a timestamp")


def _as_object(data: Any, what: str) -> Mapping[str, Any]:
    if isinstance(data, bytes | bytearray):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedEvent(f"{what} is not UTF-8") from exc
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise MalformedEvent(f"{what} is not JSON") from exc
    if not isinstance(data, Mapping):
        raise MalformedEvent(f"{what} is not a JSON object")
    return data


def _unwrap_pubsub(data: Any) -> Mapping[str, Any]:
    body = _as_object(data, "event data")
    message = body.get("message")
    if not isinstance(message, Mapping):
        raise MalformedEvent("messagePublished event has no message")
    encoded = message.get("data")
    if not encoded or not isinstance(encoded, str):
        raise MalformedEvent("Pub/Sub message has no data")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedEvent("Pub/Sub message data is not base64") from exc
    return _as_object(raw, "Pub/Sub message data")


def job_from(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """The Job object: JobEventData's payload, or the body itself when it already is a Job."""
    if "payload" in body:
        payload = body["payload"]
        if not isinstance(payload, Mapping):
            raise MalformedEvent("JobEventData payload is not an object")
        return payload
    if "id" in body or "currentState" in body:
        return body
    raise MalformedEvent("event data holds neither a JobEventData payload nor a Job")


def parse_job(job: Mapping[str, Any], *, event_id: str, event_type: str, fallback_time: Any = None) -> JobStatus:
    """A :class:`JobStatus` from Dataflow Job REST JSON."""
    job_id = job.get("id")
    if not job_id or not isinstance(job_id, str):
        raise MalformedEvent("job has no id")
    name = job.get("name")
    if not name or not isinstance(name, str):
        raise MalformedEvent("job has no name")
    labels = job.get("labels") or {}
    if not isinstance(labels, Mapping) or not all(isinstance(v, str) for v in labels.values()):
        raise MalformedEvent("job labels are not a map of strings")
    state = parse_state(job.get("currentState"))
    state_time = parse_time(job.get("currentStateTime")) or _fallback(fallback_time)
    return JobStatus(
        event_id=event_id,
        event_type=event_type,
        job_id=job_id,
        job_name=name,
        state=state,
        state_time=state_time,
        project_id=str(job.get("projectId") or ""),
        location=str(job.get("location") or ""),
        labels=dict(labels),
        replaced_by_job_id=str(job.get("replacedByJobId") or ""),
        replace_job_id=str(job.get("replaceJobId") or ""),
    )


def _fallback(value: Any) -> dt.datetime | None:
    try:
        return parse_time(value)
    except MalformedEvent:
        return None


def event_body(attributes: Mapping[str, Any], data: Any) -> tuple[str, str, Mapping[str, Any]]:
    """The event id, type and decoded JSON body of a CloudEvent (Pub/Sub messages unwrapped)."""
    event_id = str(attributes.get("id") or "")
    event_type = str(attributes.get("type") or "")
    if not event_id:
        raise MalformedEvent("event has no id")
    if event_type == STATUS_CHANGED:
        body = _as_object(data, "event data")
    elif event_type == MESSAGE_PUBLISHED:
        body = _unwrap_pubsub(data)
    else:
        raise MalformedEvent(f"unsupported event type {event_type!r}")
    return event_id, event_type, body


def parse_event(attributes: Mapping[str, Any], data: Any) -> JobStatus:
    """Turn a CloudEvent (its attributes and data) into a :class:`JobStatus`, or raise MalformedEvent."""
    event_id, event_type, body = event_body(attributes, data)
    return parse_job(job_from(body), event_id=event_id, event_type=event_type, fallback_time=attributes.get("time"))
