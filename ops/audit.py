"""Read the relauncher's Firestore audit trail: pipelines, their events, attempts and stall incidents."""

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
    incidents: list[dict[str, Any]] = field(default_factory=list)

    @property
    def open_incidents(self) -> list[dict[str, Any]]:
        """Incidents Monitoring has not closed yet (no closed notification recorded)."""
        return [i for i in self.incidents if i.get("incident_state") != "closed"]


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
        incidents = sorted(
            ({"id": d.id, **d.to_dict()} for d in ref.collection("incidents").stream()),
            key=lambda i: i.get("started_at") or dt.datetime.min.replace(tzinfo=dt.UTC),
        )
        if snap.exists or events or attempts or incidents:
            out.append(PipelineAudit(ref.id, record, events, attempts, incidents))
    return sorted(out, key=lambda a: a.name)


def _fmt_time(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%H:%M:%S.%f")[:-3]
    return "-" if value in (None, "") else str(value)


def _event_subject(ev: dict[str, Any]) -> tuple[str, str]:
    """(what the event is about, its state): a job and its state, or an incident and open/closed."""
    if ev.get("incident_id"):
        return f"incident {ev['incident_id']}", str(ev.get("incident_state") or "-")
    return str(ev.get("job_name") or "-"), str(ev.get("state") or "-").removeprefix("JOB_STATE_")


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
        lines.extend(_render_stall(a))
        lines.append(f"  attempts ({len(a.attempts)}):")
        for att in a.attempts:
            lines.append(
                f"    #{att['n']} {att.get('job_name', '-'):<24} outcome {att.get('outcome', '-'):<10} "
                f"job {att.get('job_id', '-')}  trigger {att.get('trigger_event', att.get('trigger', '-'))}"
            )
        shown = a.events[-max_events:]
        lines.append(f"  events ({len(a.events)}, last {len(shown)}):")
        for ev in shown:
            subject, state = _event_subject(ev)
            lines.append(
                f"    {_fmt_time(ev.get('handled_time'))} {subject:<24} "
                f"{state:<10} -> {ev.get('decision', '-'):<14} {ev.get('reason', '')}"
            )
    return "\n".join(lines) if lines else "(no pipeline records)"


def _render_stall(a: PipelineAudit) -> list[str]:
    """The heal in progress (from the pipeline record) and the open incidents, for ``ops status``."""
    lines: list[str] = []
    heal = a.record.get("heal")
    if heal:
        lines.append(
            f"  heal in progress: incident {heal.get('incident_id')} {heal.get('action')}"
            f" of job {heal.get('job_id')}, step {heal.get('step')}, started {_fmt_time(heal.get('started'))},"
            f" deadline {_fmt_time(heal.get('deadline'))}"
        )
    if not a.incidents:
        return lines
    open_ = a.open_incidents
    lines.append(f"  open incidents ({len(open_)} of {len(a.incidents)}):")
    for inc in open_:
        steps = " > ".join(str(s.get("step")) for s in inc.get("steps") or [])
        lines.append(
            f"    {inc['id']} {inc.get('signal', '-')}"
            f" {inc.get('observed_value', '-')} > {inc.get('threshold_value', '-')}"
            f" since {_fmt_time(inc.get('started_at'))}: {inc.get('first_decision', '-')}"
            f" ({inc.get('heal_step', '-')}) {steps}"
        )
    return lines
