"""Handle one CloudEvent: parse, claim in a transaction, launch, complete.

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
from relauncher.config import Config
from relauncher.events import MalformedEvent, parse_event
from relauncher.launcher import Launcher, PermanentLaunchError, is_transient
from relauncher.policy import ERROR, EXHAUSTED, UNMANAGED, Decision, pipeline_for
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
        status = parse_event(attributes, data)
    except MalformedEvent as exc:
        reason = f"malformed event: {exc}"
        store.record_unfiled(
            event_id, ERROR, reason, {"event_type": str(attributes.get("type") or ""), "raw": _preview(data)}
        )
        logs.warning(reason, event_id=event_id, decision=ERROR)
        return Outcome(ERROR, reason)

    pipeline = pipeline_for(status, config)
    if pipeline is None:
        reason = f"job {status.job_name} is not a managed pipeline job"
        store.record_unfiled(event_id, UNMANAGED, reason, status.audit())
        logs.info(reason, event_id=event_id, job=status.job_name, job_id=status.job_id, decision=UNMANAGED)
        return Outcome(UNMANAGED, reason)

    decision: Decision = store.claim(pipeline, status)
    fields = {
        "event_id": event_id,
        "pipeline": pipeline.name,
        "job": status.job_name,
        "job_id": status.job_id,
        "state": status.state,
        "decision": decision.kind,
        "reason": decision.reason,
    }
    if decision.kind == EXHAUSTED:
        attempt = decision.state.attempt if decision.state else None
        logs.error(config.exhausted_log_message, **fields, attempt=attempt)
    else:
        logs.info(f"{pipeline.name}: {decision.kind}", **fields)
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
    store.complete(pipeline, attempt, job.id, event_id)
    logs.info(
        f"{pipeline.name}: launched {attempt.job_name}",
        **fields,
        attempt=attempt.attempt,
        launched_job_id=job.id,
        already_existed=job.already_existed,
    )
    return Outcome(decision.kind, decision.reason, pipeline.name, job.id)


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
