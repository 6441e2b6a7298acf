"""Firestore adapter: the claim and completion transactions, and the audit trail.

Layout (collection name from config, ``pipelines`` by default)::

    pipelines/{pipeline}                   the retry record (PipelineState + bookkeeping)
    pipelines/{pipeline}/events/{event}    every event handled, with its decision and why
    pipelines/{pipeline}/attempts/{n}      every launch attempt, with its outcome
    pipelines/{pipeline}/incidents/{id}    every stall incident: signal, values, action, each heal step
    pipelines/_unfiled/events/{event}      malformed and unmanaged events (no pipeline to file them under)

``_unfiled`` is never written as a document itself, so listing the collection
shows only real pipelines while the console still browses the subcollection.
"""

from __future__ import annotations

import datetime as dt
import threading
import urllib.parse
from collections.abc import Mapping
from typing import Any

from google.cloud import firestore

from relauncher.config import PipelineConfig, Signal
from relauncher.events import JobStatus
from relauncher.incidents import Incident
from relauncher.policy import (
    Decision,
    Heal,
    PendingAttempt,
    PipelineState,
    complete_attempt,
    decide_incident,
    decide_status,
    fail_attempt,
    fail_heal,
)

UNFILED = "_unfiled"
# Contended claims (many deliveries of one event at once) are retried by the client; allow plenty.
TRANSACTION_ATTEMPTS = 30


def doc_id(event_id: str) -> str:
    """A Firestore-safe document id for a CloudEvent id (no '/', never '.', '..' or '__x__')."""
    safe = urllib.parse.quote(event_id, safe="")
    if safe in (".", "..") or safe.startswith("__"):
        safe = "id-" + safe
    return safe[:1500]


def state_from_doc(doc: Mapping[str, Any] | None) -> PipelineState | None:
    """The policy's view of ``pipelines/{p}`` (None when the pipeline was never registered)."""
    if not doc or not doc.get("current_job_id"):
        return None
    return PipelineState(
        current_job_id=str(doc.get("current_job_id") or ""),
        current_job_name=str(doc.get("current_job_name") or ""),
        attempt=int(doc.get("attempt") or 0),
        retries_used=int(doc.get("retries_used") or 0),
        exhausted=bool(doc.get("exhausted")),
        last_state=str(doc.get("last_state") or ""),
        last_state_time=doc.get("last_state_time"),
        running_since=doc.get("running_since"),
        handled_job_id=str(doc.get("handled_job_id") or ""),
        pending=PendingAttempt.from_doc(doc.get("pending_attempt")),
        heal=Heal.from_doc(doc.get("heal")),
        last_heal_time=doc.get("last_heal_time"),
    )


def state_to_doc(state: PipelineState, pipeline: PipelineConfig) -> dict[str, Any]:
    return {
        "pipeline": pipeline.name,
        "current_job_id": state.current_job_id,
        "current_job_name": state.current_job_name,
        "attempt": state.attempt,
        "retries_used": state.retries_used,
        "max_retries": pipeline.max_retries,
        "exhausted": state.exhausted,
        "last_state": state.last_state,
        "last_state_time": state.last_state_time,
        "running_since": state.running_since,
        "handled_job_id": state.handled_job_id,
        "pending_attempt": state.pending.to_doc() if state.pending else None,
        "heal": state.heal.to_doc() if state.heal else None,
        "last_heal_time": state.last_heal_time,
        "updated_time": firestore.SERVER_TIMESTAMP,
    }


def first_launch_doc(job_id: str, job_name: str, pipeline: PipelineConfig) -> dict[str, Any]:
    """``pipelines/{p}`` as the first launch (Workflows, or the local stack) writes it: attempt 0.

    The stall fields are left out (absent reads as "no heal"): the Workflows definition writes this
    exact field set and need not know about heals.
    """
    doc = state_to_doc(PipelineState(current_job_id=job_id, current_job_name=job_name), pipeline)
    for stall_only in ("heal", "last_heal_time"):
        del doc[stall_only]
    return doc


class Store:
    """The relauncher's Firestore I/O; all decisions are taken by :func:`relauncher.policy.decide`."""

    def __init__(self, client: firestore.Client, collection: str, retention_days: int | None = None) -> None:
        self.client = client
        self.collection = client.collection(collection)
        self.retention_days = retention_days
        # One instance serves many requests on threads: serializing its own transactions per
        # pipeline avoids lock contention between them (the transactions alone keep instances
        # correct; this only spares the database a thundering herd, e.g. 50 redeliveries at once).
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def _expiry(self) -> dict[str, Any]:
        """``expire_at`` for an audit entry: terraform's Firestore TTL policy on the ``events``
        collection group deletes it after the retention (every Dataflow job in the region reaches
        the function, so ``_unfiled`` would otherwise grow forever)."""
        if not self.retention_days:
            return {}
        return {"expire_at": dt.datetime.now(dt.UTC) + dt.timedelta(days=self.retention_days)}

    def _lock(self, pipeline: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(pipeline, threading.Lock())

    def _refs(self, pipeline: str, event_id: str):
        p_ref = self.collection.document(pipeline)
        return p_ref, p_ref.collection("events").document(doc_id(event_id))

    def register_first_launch(self, pipeline: PipelineConfig, job_id: str, job_name: str) -> None:
        """Record a first launch (attempt 0, no retries used); what Workflows does in the cloud."""
        self.collection.document(pipeline.name).set(first_launch_doc(job_id, job_name, pipeline))

    def claim(self, pipeline: PipelineConfig, status: JobStatus, now: dt.datetime | None = None) -> Decision:
        """Decide and record in one transaction; a launch (or heal request), if any, is owed after the commit."""
        now = now or dt.datetime.now(dt.UTC)

        def decide_it(state: PipelineState | None, seen_final: bool, prior: Any) -> Decision:
            return decide_status(state, status, pipeline, now, seen_final=seen_final)

        return self._claim(
            pipeline, status.event_id, None, decide_it, lambda d: self._event_doc(status, pipeline.name, d)
        )

    def claim_incident(
        self, pipeline: PipelineConfig, incident: Incident, signal: Signal | None, now: dt.datetime | None = None
    ) -> Decision:
        """:meth:`claim` for an incident notification; also maintains ``incidents/{incident_id}``."""
        now = now or dt.datetime.now(dt.UTC)

        def decide_it(state: PipelineState | None, seen_final: bool, prior: Any) -> Decision:
            return decide_incident(state, incident, pipeline, now, signal=signal, seen_final=seen_final, prior=prior)

        def event_doc(decision: Decision) -> dict[str, Any]:
            return {**self._event_doc(None, pipeline.name, decision), **incident.audit()}

        return self._claim(pipeline, incident.event_id, incident, decide_it, event_doc)

    def _claim(
        self, pipeline: PipelineConfig, event_id: str, incident: Incident | None, decide_it, event_doc
    ) -> Decision:
        p_ref, e_ref = self._refs(pipeline.name, event_id)
        i_ref = p_ref.collection("incidents").document(doc_id(incident.incident_id)) if incident else None

        @firestore.transactional
        def run(txn: firestore.Transaction) -> Decision:
            p_snap = p_ref.get(transaction=txn)
            e_snap = e_ref.get(transaction=txn)
            prior = i_ref.get(transaction=txn).to_dict() if i_ref is not None else None
            seen_final = bool(e_snap.exists and e_snap.get("final"))
            decision = decide_it(state_from_doc(p_snap.to_dict()), seen_final, prior)
            if seen_final:
                return decision  # keep the original record untouched
            if decision.state is not None:
                doc = state_to_doc(decision.state, pipeline)
                doc["last_event_id"] = event_id
                doc["last_decision"] = decision.kind
                if decision.budget_reset:
                    doc["last_budget_reset_time"] = firestore.SERVER_TIMESTAMP
                txn.set(p_ref, doc, merge=True)
            if decision.attempt_record is not None:
                n = decision.launch.attempt if decision.launch else decision.state.attempt  # type: ignore[union-attr]
                record = {**decision.attempt_record, "updated_time": firestore.SERVER_TIMESTAMP}
                if decision.kind != "adopted":
                    record["time"] = firestore.SERVER_TIMESTAMP
                txn.set(p_ref.collection("attempts").document(str(n)), record, merge=True)
            self._write_incident(txn, p_ref, decision, incident, prior, event_id, first_delivery=not e_snap.exists)
            if not e_snap.exists:
                # A redelivery that resumes its own pending launch changes nothing: writing nothing
                # keeps concurrent redeliveries from contending for write locks.
                txn.set(e_ref, {**event_doc(decision), **self._expiry()})
            return decision

        with self._lock(pipeline.name):
            return run(self.client.transaction(max_attempts=TRANSACTION_ATTEMPTS))

    @staticmethod
    def _write_incident(
        txn: firestore.Transaction,
        p_ref: Any,
        decision: Decision,
        incident: Incident | None,
        prior: Mapping[str, Any] | None,
        event_id: str,
        *,
        first_delivery: bool,
    ) -> None:
        """Merge what this event adds to ``incidents/{id}``: the notification's facts, the decision's record
        and step. The incident named by the decision (a heal's) may differ from the event's own."""
        updates: dict[str, dict[str, Any]] = {}
        if incident is not None and first_delivery:
            facts = {k: v for k, v in incident.audit().items() if v is not None and k not in ("event_id", "event_type")}
            if prior is None:
                facts["first_event_id"] = incident.event_id
                facts["first_decision"] = decision.kind
                facts["first_reason"] = decision.reason
            facts["last_event_id"] = incident.event_id
            facts["notifications"] = firestore.Increment(1)
            updates[incident.incident_id] = facts
        if decision.incident_id and (decision.incident_record or decision.incident_step):
            entry = updates.setdefault(decision.incident_id, {})
            entry.update(decision.incident_record or {})
            if decision.incident_step:
                entry["steps"] = firestore.ArrayUnion([{**decision.incident_step, "event_id": event_id}])
        for iid, fields in updates.items():
            fields["updated_time"] = firestore.SERVER_TIMESTAMP
            txn.set(p_ref.collection("incidents").document(doc_id(iid)), fields, merge=True)

    @staticmethod
    def _event_doc(status: JobStatus | None, pipeline: str, decision: Decision) -> dict[str, Any]:
        doc = {
            **(status.audit() if status is not None else {}),
            "pipeline": pipeline,
            "decision": decision.kind,
            "reason": decision.reason,
            "final": decision.final,
            "budget_reset": decision.budget_reset,
            "handled_time": firestore.SERVER_TIMESTAMP,
        }
        if decision.launch is not None:
            doc["attempt"] = decision.launch.attempt
            doc["launch_job_name"] = decision.launch.job_name
        if decision.action is not None:
            doc["heal_action"] = decision.action.kind
            doc["heal_job_id"] = decision.action.job_id
        if decision.incident_id:
            doc["heal_incident_id"] = decision.incident_id
        return doc

    def finish_action(
        self, pipeline: PipelineConfig, decision: Decision, event_id: str, result: Mapping[str, Any], *, final: bool
    ) -> None:
        """After the heal's request to Dataflow: note it on the incident; the event is final unless a launch is owed."""
        p_ref, e_ref = self._refs(pipeline.name, event_id)
        action = decision.action
        assert action is not None
        step = {"step": f"{action.kind}_sent", "job_id": action.job_id, "time": dt.datetime.now(dt.UTC), **result}
        batch = self.client.batch()
        batch.set(
            p_ref.collection("incidents").document(doc_id(action.incident_id)),
            {
                "steps": firestore.ArrayUnion([{**step, "event_id": event_id}]),
                "updated_time": firestore.SERVER_TIMESTAMP,
            },
            merge=True,
        )
        e_update: dict[str, Any] = {"action_result": dict(result), "updated_time": firestore.SERVER_TIMESTAMP}
        if final:
            e_update["final"] = True
        batch.set(e_ref, e_update, merge=True)
        batch.commit()

    def fail_heal(self, pipeline: PipelineConfig, heal: Heal, event_id: str, reason: str) -> None:
        """Dataflow refused the heal's request for good: release the heal, refund the budget, record why."""
        p_ref, e_ref = self._refs(pipeline.name, event_id)
        i_ref = p_ref.collection("incidents").document(doc_id(heal.incident_id))

        @firestore.transactional
        def run(txn: firestore.Transaction) -> None:
            state = state_from_doc(p_ref.get(transaction=txn).to_dict())
            if state is not None:
                new = fail_heal(state, heal)
                if new != state:
                    txn.set(p_ref, {**state_to_doc(new, pipeline), "last_error": reason}, merge=True)
            step = {"step": "heal_failed", "time": dt.datetime.now(dt.UTC), "error": reason, "event_id": event_id}
            txn.set(i_ref, {"heal_step": "failed", "error": reason, "steps": firestore.ArrayUnion([step])}, merge=True)
            txn.set(e_ref, {"final": True, "outcome": "error", "reason": f"heal failed: {reason}"}, merge=True)

        with self._lock(pipeline.name):
            run(self.client.transaction(max_attempts=TRANSACTION_ATTEMPTS))

    def complete(
        self, pipeline: PipelineConfig, attempt: PendingAttempt, job_id: str, event_id: str, incident_id: str = ""
    ) -> None:
        """After the launch (or finding it already launched): the new job becomes current."""
        self._finish(pipeline, attempt, event_id, launched_job_id=job_id)
        if incident_id:
            step = {"step": "relaunched", "time": dt.datetime.now(dt.UTC), "job_id": job_id, "event_id": event_id}
            self.collection.document(pipeline.name).collection("incidents").document(doc_id(incident_id)).set(
                {"relaunched_job_id": job_id, "steps": firestore.ArrayUnion([step])}, merge=True
            )

    def fail(self, pipeline: PipelineConfig, attempt: PendingAttempt, event_id: str, reason: str) -> None:
        """After a permanent launch error: release the claim, refund the retry, record why."""
        self._finish(pipeline, attempt, event_id, error=reason)

    def _finish(
        self,
        pipeline: PipelineConfig,
        attempt: PendingAttempt,
        event_id: str,
        *,
        launched_job_id: str | None = None,
        error: str | None = None,
    ) -> None:
        p_ref, e_ref = self._refs(pipeline.name, event_id)
        a_ref = p_ref.collection("attempts").document(str(attempt.attempt))

        @firestore.transactional
        def run(txn: firestore.Transaction) -> None:
            p_snap, a_snap, e_snap = (ref.get(transaction=txn) for ref in (p_ref, a_ref, e_ref))
            state = state_from_doc(p_snap.to_dict())
            if state is not None:
                new = (
                    complete_attempt(state, attempt, launched_job_id)
                    if launched_job_id
                    else fail_attempt(state, attempt)
                )
                if new != state:
                    doc = state_to_doc(new, pipeline)
                    if error is not None:
                        doc["last_error"] = error
                    txn.set(p_ref, doc, merge=True)
            if launched_job_id is not None:
                a_update = {"outcome": "launched", "job_id": launched_job_id}
                e_update = {"final": True, "outcome": "launched", "launched_job_id": launched_job_id}
            else:
                a_update = {"outcome": "error", "error": error}
                e_update = {"final": True, "decision": "error", "outcome": "error", "reason": f"launch failed: {error}"}
            # Only write what changes: many concurrent redeliveries finish the same attempt.
            for ref, snap, update in ((a_ref, a_snap, a_update), (e_ref, e_snap, e_update)):
                current = snap.to_dict() or {}
                if any(current.get(k) != v for k, v in update.items()):
                    txn.set(ref, {**update, "updated_time": firestore.SERVER_TIMESTAMP}, merge=True)

        with self._lock(pipeline.name):
            run(self.client.transaction(max_attempts=TRANSACTION_ATTEMPTS))

    def record_unfiled(self, event_id: str, decision: str, reason: str, details: Mapping[str, Any]) -> None:
        """File a malformed or unmanaged event under ``{collection}/_unfiled/events``."""
        ref = self.collection.document(UNFILED).collection("events").document(doc_id(event_id or "missing-id"))
        ref.set(
            {
                **details,
                "event_id": event_id,
                "decision": decision,
                "reason": reason,
                "final": True,
                "handled_time": firestore.SERVER_TIMESTAMP,
                **self._expiry(),
            }
        )
