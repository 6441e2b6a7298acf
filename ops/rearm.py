"""Re-arm a pipeline whose retry budget is exhausted, optionally launching its next attempt.

The relaunch follows the relauncher's own protocol, so the two can never launch
the same attempt twice: a Firestore transaction claims attempt ``n+1``
(``pending_attempt`` on the record, ``attempts/{n+1}`` with outcome
``launching``), then the launch uses the deterministic name (``ALREADY_EXISTS``
means it is already launched: look it up), then a completion transaction makes
the new job current.  If the tool dies in between, running it again resumes the
pending attempt; and the new job's own first event is adopted by the relauncher.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.cloud import firestore

from pipelines import system
from relauncher.config import parse_config
from relauncher.events import TERMINAL_STATES
from relauncher.launcher import Launcher
from relauncher.policy import PendingAttempt


@dataclass(frozen=True)
class RearmResult:
    pipeline: str
    rearmed: bool
    launched_job_id: str = ""
    launched_job_name: str = ""
    attempt: int | None = None
    detail: str = ""


def claim_rearm(
    db: firestore.Client, collection: str, pipeline: str, *, relaunch: bool, operator: str
) -> tuple[dict[str, Any] | None, str]:
    """The transaction: reset the budget; with ``relaunch`` also claim the next attempt. Returns (pending, event id)."""
    ref = db.collection(collection).document(pipeline)
    event_id = f"ops-rearm-{uuid.uuid4().hex[:12]}"

    @firestore.transactional
    def run(txn: firestore.Transaction) -> dict[str, Any] | None:
        snap = ref.get(transaction=txn)
        if not snap.exists:
            raise LookupError(f"pipeline {pipeline} has no record in {collection}/ (never launched?)")
        record = snap.to_dict()
        pending = record.get("pending_attempt")
        changes: dict[str, Any] = {
            "retries_used": 0,
            "exhausted": False,
            "last_decision": "rearmed",
            "last_event_id": event_id,
            "last_budget_reset_time": firestore.SERVER_TIMESTAMP,
            "updated_time": firestore.SERVER_TIMESTAMP,
        }
        if relaunch and not pending:
            attempt = int(record.get("attempt") or 0) + 1
            pending = PendingAttempt(
                attempt, system.job_name(pipeline, attempt), str(record.get("current_job_id") or ""), event_id
            ).to_doc()
            changes["attempt"] = attempt
            changes["pending_attempt"] = pending
            changes["handled_job_id"] = str(record.get("current_job_id") or "")
            txn.set(
                ref.collection("attempts").document(str(attempt)),
                {
                    "attempt": attempt,
                    "job_name": pending["job_name"],
                    "trigger_event": event_id,
                    "trigger_job_id": pending["failed_job_id"],
                    "outcome": "launching",
                    "time": firestore.SERVER_TIMESTAMP,
                    "updated_time": firestore.SERVER_TIMESTAMP,
                },
                merge=True,
            )
        txn.set(ref, changes, merge=True)
        txn.set(
            ref.collection("events").document(event_id),
            {
                "event_id": event_id,
                "event_type": "ops.rearm",
                "pipeline": pipeline,
                "job_id": str(record.get("current_job_id") or ""),
                "job_name": str(record.get("current_job_name") or ""),
                "state": str(record.get("last_state") or ""),
                "decision": "rearmed",
                "reason": f"retry budget reset by {operator}"
                + (f"; relaunch as {pending['job_name']}" if pending else ""),
                "final": True,
                "handled_time": firestore.SERVER_TIMESTAMP,
            },
        )
        return pending if relaunch else None

    return run(db.transaction(max_attempts=10)), event_id


def complete_rearm(
    db: firestore.Client, collection: str, pipeline: str, pending: Mapping[str, Any], job_id: str
) -> None:
    """The new job becomes current (unless the relauncher already adopted it from its first event)."""
    ref = db.collection(collection).document(pipeline)

    @firestore.transactional
    def run(txn: firestore.Transaction) -> None:
        record = ref.get(transaction=txn).to_dict() or {}
        if record.get("pending_attempt") == dict(pending):
            txn.set(
                ref,
                {
                    "pending_attempt": None,
                    "current_job_id": job_id,
                    "current_job_name": pending["job_name"],
                    "exhausted": False,
                    "last_state": "JOB_STATE_PENDING",
                    "last_state_time": None,
                    "running_since": None,
                    "updated_time": firestore.SERVER_TIMESTAMP,
                },
                merge=True,
            )
        txn.set(
            ref.collection("attempts").document(str(pending["attempt"])),
            {"outcome": "launched", "job_id": job_id, "updated_time": firestore.SERVER_TIMESTAMP},
            merge=True,
        )

    run(db.transaction(max_attempts=10))


def rearm(
    db: firestore.Client,
    settings: Mapping[str, Any],
    pipeline: str,
    *,
    relaunch: bool = False,
    endpoint: str | None = None,
    operator: str = "ops CLI",
) -> RearmResult:
    """Reset ``pipeline``'s retry budget; with ``relaunch``, launch its next attempt from the launch spec."""
    if pipeline not in settings["pipelines"]:
        raise KeyError(f"unknown pipeline {pipeline!r}; known: {sorted(settings['pipelines'])}")
    pending, _ = claim_rearm(db, settings["collection"], pipeline, relaunch=relaunch, operator=operator)
    if pending is None:
        return RearmResult(pipeline, True, detail="budget reset; nothing launched")
    config = parse_config(settings, dataflow_endpoint=endpoint)
    launcher = Launcher(config)  # the relauncher's own: ALREADY_EXISTS means this attempt is already running
    detail = "budget reset; launched"
    if stop_replaced_job(launcher, pending["failed_job_id"]):
        detail = f"budget reset; {pending['failed_job_id']} was still active (stalled), cancelled; launched"
    job = launcher.launch(config.pipelines[pipeline], pending["job_name"])
    complete_rearm(db, settings["collection"], pipeline, pending, job.id)
    return RearmResult(pipeline, True, job.id, pending["job_name"], int(pending["attempt"]), detail)


def stop_replaced_job(launcher: Launcher, job_id: str) -> bool:
    """Cancel the job the new attempt replaces if Dataflow still runs it; True if a cancel was requested.

    A budget exhausted by stall incidents leaves the stalled job RUNNING (it never failed): launching
    beside it would put two jobs on one subscription, the stalled one holding the messages it leased.
    Cancel, not drain: a stalled job does not finish a drain (README "Stalled jobs"). Repeating the
    command after a crash finds the job CANCELLING or CANCELLED and asks nothing twice.
    """
    if not job_id:
        return False
    state = launcher.job_state(job_id)
    if state is None or state in TERMINAL_STATES or state == "JOB_STATE_CANCELLING":
        return False
    return launcher.request_state(job_id, "JOB_STATE_CANCELLED") != "already-ended"
