"""Read the relauncher's Firestore audit trail: pipelines, their events and their attempts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from google.cloud import firestore

UNFILED = "_unfiled"


@dataclass
class PipelineAudit:
    name: str
    record: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)


def _when(doc: dict[str, Any]) -> dt.datetime:
    for key in ("handled_time", "time", "updated_time", "state_time"):
        value = doc.get(key)
        if isinstance(value, dt.datetime):
            return value
    return dt.datetime.min.replace(tzinfo=dt.UTC)


def read_audit(db: firestore.Client, collection: str, pipelines: list[str] | None = None) -> list[PipelineAudit]:
    """Every pipeline record (or the named ones) with its events and attempts, oldest first."""
    coll = db.collection(collection)
    refs = [coll.document(p) for p in pipelines] if pipelines else list(coll.list_documents())
    out = []
    for ref in refs:
        if ref.id == UNFILED:
            continue
        snap = ref.get()
        record = snap.to_dict() or {}
        events = sorted(({"id": d.id, **d.to_dict()} for d in ref.collection("events").stream()), key=_when)
        attempts = sorted(
            ({"n": int(d.id), **d.to_dict()} for d in ref.collection("attempts").stream() if d.id.isdigit()),
            key=lambda a: a["n"],
        )
        if snap.exists or events or attempts:
            out.append(PipelineAudit(ref.id, record, events, attempts))
    return sorted(out, key=lambda a: a.name)


def _fmt_time(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%H:%M:%S.%f")[:-3]
    return "-" if value in (None, "") else str(value)


def render_audit(audits: list[PipelineAudit], *, max_events: int = 20) -> str:
    """A plain-text view of the audit trail, as an operator would read it in the console."""
    lines: list[str] = []
    for a in audits:
        r = a.record
        state = "EXHAUSTED" if r.get("exhausted") else (r.get("last_state") or "-")
        lines.append(
            f"pipeline {a.name}: current {r.get('current_job_name', '-')} ({r.get('current_job_id', '-')}), "
            f"state {state}, attempt {r.get('attempt', '-')}, retries used {r.get('retries_used', '-')}"
            f"/{r.get('max_retries', '-')}"
        )
        if r.get("pending_attempt"):
            lines.append(f"  pending attempt: {r['pending_attempt']}")
        lines.append(f"  attempts ({len(a.attempts)}):")
        for att in a.attempts:
            lines.append(
                f"    #{att['n']} {att.get('job_name', '-'):<24} outcome {att.get('outcome', '-'):<10} "
                f"job {att.get('job_id', '-')}  trigger {att.get('trigger_event', att.get('trigger', '-'))}"
            )
        shown = a.events[-max_events:]
        lines.append(f"  events ({len(a.events)}, last {len(shown)}):")
        for ev in shown:
            lines.append(
                f"    {_fmt_time(ev.get('handled_time'))} {ev.get('job_name', '-'):<24} "
                f"{str(ev.get('state', '-')).removeprefix('JOB_STATE_'):<10} -> {ev.get('decision', '-'):<14} "
                f"{ev.get('reason', '')}"
            )
    return "\n".join(lines) if lines else "(no pipeline records)"
