"""Handle one CloudEvent: parse, claim in a transaction, heal request, launch, complete.

Job-status events and incident notifications (the alerts topic) take the same path;
a heal's request to Dataflow (drain, cancel, update) is performed after the claim like
a launch, and the event stays non-final until it was sent, so a crash resumes it.

Order matters for exactly-once: the claim (decision + counter + pending attempt)
commits before the launch, and the launch uses the attempt's deterministic name.
A crash after the claim leaves a pending attempt that the redelivered event
resumes; a crash after the launch makes the resumed launch find the job by name.
Transient errors propagate (HTTP 500, Eventarc retries); permanent ones are
recorded and acknowledged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.api_core import exceptions as gexc

from relauncher import logs
from relauncher.config import Config, PipelineConfig
from relauncher.events import MalformedEvent
from relauncher.incidents import Incident, parse_cloud_event
from relauncher.launcher import Launcher, PermanentLaunchError, is_transient
from relauncher.policy import CANCEL, DRAIN, ERROR, EXHAUSTED, UNMANAGED, Decision, pipeline_for
from relauncher.store import Store

RAW_PREVIEW_CHARS = 500


@dataclass(frozen=True)
class Outcome:
    """What happened to one event (returned for tests and logged)."""

    decision: str
    reason: str
    pipeline: str | None = None
    launched_job_id: str | None = None


def _preview(data: Any) -> str:
    if isinstance(data, bytes | bytearray):
        text = data.decode("utf-8", errors="replace")
    elif isinstance(data, str):
        text = data
    else:
        try:
            text = json.dumps(data, default=str)
        except (TypeError, ValueError):
            text = repr(data)
    return text[:RAW_PREVIEW_CHARS]


def handle(attributes: Mapping[str, Any], data: Any, *, config: Config, store: Store, launcher: Launcher) -> Outcome:
    """Handle one event end to end; raise only for transient errors."""
    event_id = str(attributes.get("id") or "")
    try:
        event = parse_cloud_event(attributes, data)
    except MalformedEvent as exc:
        reason = f"malformed event: {exc}"
        store.record_unfiled(
            event_id, ERROR, reason, {"event_type": str(attributes.get("type") or ""), "raw": _preview(data)}
        )
        logs.warning(reason, event_id=event_id, decision=ERROR)
        return Outcome(ERROR, reason)

    if isinstance(event, Incident):
        pipeline = config.pipelines.get(event.pipeline)
        if pipeline is None:
            reason = f"incident {event.incident_id} names pipeline {event.pipeline!r}, which is not configured"
            store.record_unfiled(event_id, UNMANAGED, reason, event.audit())
            logs.warning(reason, event_id=event_id, decision=UNMANAGED)
            return Outcome(UNMANAGED, reason)
        signal = config.stall_detection.signals.get(event.signal)
        decision: Decision = store.claim_incident(pipeline, event, signal)
        fields = {
            "event_id": event_id,
            "pipeline": pipeline.name,
            "incident_id": event.incident_id,
            "incident_state": event.state,
            "signal": event.signal,
            "decision": decision.kind,
            "reason": decision.reason,
        }
        current = decision.state.current_job_id if decision.state else None
    else:
        status = event
        found = pipeline_for(status, config)
        if found is None:
            reason = f"job {status.job_name} is not a managed pipeline job"
            store.record_unfiled(event_id, UNMANAGED, reason, status.audit())
            logs.info(reason, event_id=event_id, job=status.job_name, job_id=status.job_id, decision=UNMANAGED)
            return Outcome(UNMANAGED, reason)
        pipeline = found
        decision = store.claim(pipeline, status)
        fields = {
            "event_id": event_id,
            "pipeline": pipeline.name,
            "job": status.job_name,
            "job_id": status.job_id,
            "state": status.state,
            "decision": decision.kind,
            "reason": decision.reason,
        }
        current = status.job_id
    if decision.kind == EXHAUSTED:
        attempt = decision.state.attempt if decision.state else None
        logs.error(config.exhausted_log_message, **fields, attempt=attempt, current_job_id=current)
    else:
        logs.info(f"{pipeline.name}: {decision.kind}", **fields)
    if decision.action is not None and not _perform_action(decision, pipeline, event_id, fields, store, launcher):
        return Outcome(ERROR, "heal request refused", pipeline.name)
    if decision.launch is None:
        return Outcome(decision.kind, decision.reason, pipeline.name)

    attempt = decision.launch
    try:
        job = launcher.launch(pipeline, attempt.job_name)
    except PermanentLaunchError as exc:
        store.fail(pipeline, attempt, event_id, str(exc))
        logs.error(
            "relaunch failed permanently",
            **fields,
            attempt=attempt.attempt,
            launch_job_name=attempt.job_name,
            error=str(exc),
        )
        return Outcome(ERROR, f"launch failed: {exc}", pipeline.name)
    store.complete(pipeline, attempt, job.id, event_id, incident_id=decision.incident_id)
    logs.info(
        f"{pipeline.name}: launched {attempt.job_name}",
        **fields,
        attempt=attempt.attempt,
        launched_job_id=job.id,
        already_existed=job.already_existed,
    )
    return Outcome(decision.kind, decision.reason, pipeline.name, job.id)


def _perform_action(
    decision: Decision,
    pipeline: PipelineConfig,
    event_id: str,
    fields: dict[str, Any],
    store: Store,
    launcher: Launcher,
) -> bool:
    """Send the heal's request to Dataflow and note it; False if Dataflow refused it for good."""
    action = decision.action
    assert action is not None
    if action.kind in (DRAIN, CANCEL):
        requested = "JOB_STATE_DRAINED" if action.kind == DRAIN else "JOB_STATE_CANCELLED"
        result: dict[str, Any] = {
            "requested_state": requested,
            "job_state": launcher.request_state(action.job_id, requested),
        }
    else:
        try:
            replacement = launcher.launch_update(pipeline, action.job_name, action.job_id)
        except PermanentLaunchError as exc:
            heal = decision.state.heal if decision.state else None
            if heal is not None:
                store.fail_heal(pipeline, heal, event_id, str(exc))
            logs.error("heal update refused", **fields, heal_job_id=action.job_id, error=str(exc))
            return False
        result = {"replacement_job_id": replacement.id if replacement else None, "skipped": replacement is None}
    store.finish_action(pipeline, decision, event_id, result, final=decision.launch is None)
    logs.info(f"{pipeline.name}: {action.kind} sent", **fields, heal_job_id=action.job_id, **result)
    return True


def handle_safely(attributes: Mapping[str, Any], data: Any, **deps: Any) -> Outcome:
    """:func:`handle`, turning permanent API errors into acknowledged, logged outcomes."""
    try:
        return handle(attributes, data, **deps)
    except gexc.GoogleAPICallError as exc:
        if is_transient(exc):
            logs.warning("transient error: event will be retried", event_id=attributes.get("id"), error=str(exc))
            raise
        # E.g. Firestore PERMISSION_DENIED: retrying cannot help; alert through the ERROR log instead.
        logs.error("permanent error: event acknowledged", event_id=attributes.get("id"), error=str(exc))
        return Outcome(ERROR, str(exc))
