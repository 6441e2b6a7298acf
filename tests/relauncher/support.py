"""Builders shared by the relauncher tests: configuration, CloudEvents, HTTP delivery."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from typing import Any

import requests
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent

from localdev.dataflow_standin import job_json, status_changed_attributes
from pipelines import system
from relauncher.config import Config, parse_config

REGION = "europe-west1"
DEPLOYMENT = {
    "bucket": "test-bucket",
    "worker_service_account": "dataflow-worker@test-project.iam.gserviceaccount.com",
    "subnetwork": "regions/europe-west1/subnetworks/dataflow",
    "max_workers": 3,
    "window_seconds": 60,
    "allowed_lateness_seconds": 120,
    "orders_image": "europe-west1-docker.pkg.dev/test-project/analytics/orders:test",
    "shipping_image": "europe-west1-docker.pkg.dev/test-project/analytics/shipping:test",
}
MESSAGE_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"


def settings(project: str, **pipeline_overrides: Any) -> dict[str, Any]:
    """RELAUNCHER_CONFIG from the source of truth, with optional per-pipeline overrides for all pipelines."""
    cfg = system.relauncher_settings(DEPLOYMENT, project=project, region=REGION)
    for p in cfg["pipelines"].values():
        p.update(pipeline_overrides)
    return cfg


def config(project: str = "test-project", **pipeline_overrides: Any) -> Config:
    return parse_config(settings(project, **pipeline_overrides))


def rfc3339(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def job_payload(job: Any, state: str, *, at: dt.datetime | None = None, **extra: Any) -> dict[str, Any]:
    """Job REST JSON for ``job`` (a stand-in Job or a dict) in ``state`` at time ``at``."""
    body = dict(job) if isinstance(job, dict) else job_json(job)
    body["currentState"] = state
    body["currentStateTime"] = rfc3339(at or dt.datetime.now(dt.UTC))
    body.update(extra)
    return body


def status_changed(payload: dict[str, Any], event_id: str | None = None) -> tuple[dict[str, str], Any]:
    """Attributes and data of an Eventarc Dataflow ``statusChanged`` CloudEvent."""
    job_id = str(payload.get("id", "unknown"))
    attrs = status_changed_attributes(str(payload.get("projectId", "p")), REGION, job_id, event_id)
    return {**attrs, "datacontenttype": "application/json"}, {"payload": payload}


def message_published(inner: Any, event_id: str | None = None) -> tuple[dict[str, str], Any]:
    """A Pub/Sub ``messagePublished`` CloudEvent whose message data is ``inner`` as JSON (or raw bytes)."""
    event_id = event_id or str(uuid.uuid4().int % 10**16)
    raw = inner if isinstance(inner, bytes) else json.dumps(inner).encode()
    attrs = {
        "id": event_id,
        "type": MESSAGE_PUBLISHED,
        "source": "//pubsub.googleapis.com/projects/test-project/topics/dataflow-job-events",
        "datacontenttype": "application/json",
    }
    data = {
        "message": {"data": base64.b64encode(raw).decode(), "messageId": event_id, "attributes": {}},
        "subscription": "projects/test-project/subscriptions/relauncher",
    }
    return attrs, data


def post(url: str, attrs: dict[str, str], data: Any, mode: str = "binary", timeout: float = 120) -> requests.Response:
    """Deliver a CloudEvent over HTTP in binary or structured content mode."""
    event = CloudEvent(attrs, data)
    headers, body = (to_binary if mode == "binary" else to_structured)(event)
    return requests.post(url, headers=headers, data=body, timeout=timeout)


def post_raw(url: str, headers: dict[str, str], body: bytes, timeout: float = 60) -> requests.Response:
    return requests.post(url, headers=headers, data=body, timeout=timeout)


def incident_event(
    job: Any,
    *,
    incident_id: str = "0.stall1",
    state: str = "open",
    started_at: dt.datetime,
    signal: str = "oldest_unacked_message_age",
    pipeline: str = "orders",
    event_id: str | None = None,
) -> tuple[dict[str, str], Any]:
    """A Cloud Monitoring incident notification, as the alerts topic's messagePublished CloudEvent delivers it."""
    from relauncher.incidents import notification

    spec = system.system()["stall_detection"]["signals"][signal]
    if spec["resource_type"] == "dataflow_job":
        labels = {"project_id": "test-project", "job_id": job.id, "job_name": job.name, "region": REGION}
    else:
        labels = {
            "project_id": "test-project",
            "subscription_id": system.system()["pipelines"][pipeline]["subscription"],
        }
    body = notification(
        incident_id=incident_id,
        pipeline=pipeline,
        signal=signal,
        resource_type=spec["resource_type"],
        resource_labels=labels,
        metric_type=spec["metric_type"],
        started_at=started_at.timestamp(),
        ended_at=(started_at + dt.timedelta(minutes=25)).timestamp() if state == "closed" else None,
        observed_value=spec["threshold_seconds"] * 1.5,
        threshold_value=spec["threshold_seconds"],
        project_id="test-project",
    )
    return message_published(body, event_id)
