"""The relaunch decision: a pure function of (pipeline record, event, pipeline policy).

No I/O here, so every rule is unit- and property-tested without emulators.
The store runs :func:`decide` inside a Firestore transaction and writes back the
state it returns; the launcher then performs the launch the decision asks for.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from relauncher.config import Config, PipelineConfig
from relauncher.events import TERMINAL_STATES, JobStatus

RUNNING = "JOB_STATE_RUNNING"
FAILED = "JOB_STATE_FAILED"
UPDATED = "JOB_STATE_UPDATED"
PENDING = "JOB_STATE_PENDING"
NOT_STARTED = frozenset({PENDING, "JOB_STATE_QUEUED", "JOB_STATE_STOPPED"})

# Decisions recorded in pipelines/{p}/events/{id}.decision.
RELAUNCHED = "relaunched"  # a new attempt was claimed and launched
DUPLICATE = "duplicate"  # this failure was already handled (or is being: the launch is resumed)
IGNORED_STALE = "ignored-stale"  # not the current job, or older than what is recorded
IGNORED_POLICY = "ignored-policy"  # terminal, but the policy says do not relaunch
EXHAUSTED = "exhausted"  # retry budget used up: nothing launched, operators alerted
RECORDED = "recorded"  # non-terminal state recorded on the pipeline
ADOPTED = "adopted"  # a replacement job (update, or our own launch) became the current job
UNMANAGED = "unmanaged"  # not one of our pipelines' jobs
ERROR = "error"  # malformed event or permanent launch error

DECISIONS = (RELAUNCHED, DUPLICATE, IGNORED_STALE, IGNORED_POLICY, EXHAUSTED, RECORDED, ADOPTED, UNMANAGED, ERROR)


@dataclass(frozen=True)
class PendingAttempt:
    """A claimed launch not yet known to have happened (claim committed, completion not yet)."""

    attempt: int
    job_name: str
    failed_job_id: str
    trigger_event: str

    def to_doc(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any] | None) -> PendingAttempt | None:
        if not doc:
            return None
        return cls(int(doc["attempt"]), str(doc["job_name"]), str(doc["failed_job_id"]), str(doc["trigger_event"]))


@dataclass(frozen=True)
class PipelineState:
    """The durable retry record of one pipeline (``pipelines/{pipeline}``)."""

    current_job_id: str
    current_job_name: str
    attempt: int = 0
    retries_used: int = 0
    exhausted: bool = False
    last_state: str = ""
    last_state_time: dt.datetime | None = None
    running_since: dt.datetime | None = None
    handled_job_id: str = ""  # the last job whose terminal state was acted upon
    pending: PendingAttempt | None = None


@dataclass(frozen=True)
class Decision:
    """What to record and do for one event.

    ``state`` is the new pipeline record (None: leave it alone); ``launch`` the
    attempt to launch after the commit (new or resumed); ``attempt_record`` the
    fields to merge into ``attempts/{n}``; ``final`` whether the event's handling
    is finished once the transaction commits (False while a launch is owed).
    """

    kind: str
    reason: str
    state: PipelineState | None = None
    launch: PendingAttempt | None = None
    attempt_record: Mapping[str, Any] | None = None
    budget_reset: bool = False

    @property
    def final(self) -> bool:
        return self.launch is None


def pipeline_for(status: JobStatus, config: Config) -> PipelineConfig | None:
    """The configured pipeline a job belongs to, or None for an unmanaged job.

    A job is managed when its name is ``<prefix>-a<digits>`` of a pipeline, or
    when it carries the managed label and names its pipeline (label ``pipeline``)
    or starts with a pipeline's prefix.
    """
    for pipeline in config.pipelines.values():
        if pipeline.attempt_of(status.job_name) is not None:
            return pipeline
    if status.labels.get(config.managed_label_key) != config.managed_label_value:
        return None
    by_label = config.pipelines.get(status.labels.get("pipeline", ""))
    if by_label is not None:
        return by_label
    for pipeline in config.pipelines.values():
        if status.job_name.startswith(pipeline.job_name_prefix + "-"):
            return pipeline
    return None


def initial_state(status: JobStatus, pipeline: PipelineConfig) -> PipelineState:
    """The record for a pipeline nobody registered: adopt the event's job as the current one."""
    return PipelineState(
        current_job_id=status.job_id,
        current_job_name=status.job_name,
        attempt=pipeline.attempt_of(status.job_name) or 0,
    )


def _older(a: dt.datetime | None, b: dt.datetime | None) -> bool:
    return a is not None and b is not None and a < b


def healthy_for(state: PipelineState, status: JobStatus) -> float | None:
    """Seconds the current job had been RUNNING when this event happened (None if unknown)."""
    if state.running_since is None or status.state_time is None:
        return None
    return (status.state_time - state.running_since).total_seconds()


def _record(state: PipelineState, status: JobStatus, **changes: Any) -> PipelineState:
    """The state with this event's job state recorded (plus changes)."""
    running_since = state.running_since
    if status.state == RUNNING:
        running_since = state.running_since if state.last_state == RUNNING and running_since else status.state_time
    elif status.state in TERMINAL_STATES or status.state in NOT_STARTED:
        running_since = None
    base = dict(last_state=status.state, last_state_time=status.state_time or state.last_state_time)
    base["running_since"] = running_since
    base.update(changes)
    return dataclasses.replace(state, **base)


def _adopt(state: PipelineState, job_id: str, job_name: str, status: JobStatus | None = None) -> PipelineState:
    """Make another job the current one (its own state is recorded when its events arrive)."""
    adopted = dataclasses.replace(
        state,
        current_job_id=job_id,
        current_job_name=job_name,
        exhausted=False,
        last_state="",
        last_state_time=None,
        running_since=None,
    )
    return _record(adopted, status) if status is not None else adopted


def decide(
    state: PipelineState | None,
    status: JobStatus,
    pipeline: PipelineConfig,
    *,
    seen_final: bool = False,
) -> Decision:
    """Decide what one job-status event means for its pipeline.

    ``state`` is the record read in the same transaction (None if absent);
    ``seen_final`` says this event id was already handled to completion.
    """
    if seen_final:
        return Decision(DUPLICATE, f"event {status.event_id} was already handled")
    prefix = ""
    if state is None:
        state = initial_state(status, pipeline)
        prefix = "no pipeline record: adopted this job as current; "

    pending = state.pending
    if pending is not None:
        if status.job_id == pending.failed_job_id:
            kind = DUPLICATE if status.state in pipeline.relaunch_on else IGNORED_STALE
            why = f"{prefix}attempt {pending.attempt} ({pending.job_name}) is pending: resuming its launch"
            return Decision(kind, why, launch=pending)
        if status.job_name == pending.job_name:
            new = _adopt(complete_attempt(state, pending, status.job_id), status.job_id, status.job_name, status)
            return Decision(
                ADOPTED,
                f"{prefix}event of the job launched for attempt {pending.attempt}: adopted as current",
                state=new,
                attempt_record={"outcome": "launched", "job_id": status.job_id},
            )
        return Decision(IGNORED_STALE, f"{prefix}a relaunch ({pending.job_name}) is in flight; job is not current")

    if status.job_id != state.current_job_id:
        if status.replace_job_id and status.replace_job_id == state.current_job_id:
            new = _adopt(state, status.job_id, status.job_name, status)
            return Decision(ADOPTED, f"{prefix}job replaces current job {state.current_job_id}: adopted", state=new)
        if status.job_id == state.handled_job_id and status.state in pipeline.relaunch_on:
            return Decision(DUPLICATE, f"{prefix}failure of job {status.job_id} was already handled")
        return Decision(IGNORED_STALE, f"{prefix}job {status.job_id} is not the current job {state.current_job_id}")

    # The event is about the current job.
    if state.last_state in TERMINAL_STATES:
        if status.state == state.last_state:
            return Decision(DUPLICATE, f"{prefix}job already {state.last_state}; handled")
        return Decision(IGNORED_STALE, f"{prefix}job already reached terminal {state.last_state}")
    if _older(status.state_time, state.last_state_time) and not status.terminal:
        return Decision(IGNORED_STALE, f"{prefix}state time older than recorded {state.last_state} time")

    healthy = healthy_for(state, status)
    reset = healthy is not None and healthy >= pipeline.healthy_period_seconds and state.retries_used > 0
    retries = 0 if reset else state.retries_used
    if reset:
        prefix += f"healthy for {healthy:.0f}s >= {pipeline.healthy_period_seconds:.0f}s: retry budget reset; "

    if status.state == UPDATED:  # a replacement already runs: never relaunch, whatever relaunch_on says
        if status.replaced_by_job_id:
            new = _adopt(
                _record(state, status, retries_used=retries, handled_job_id=status.job_id),
                status.replaced_by_job_id,
                status.job_name,
            )
            return Decision(
                ADOPTED,
                f"{prefix}job was updated: replacement {status.replaced_by_job_id} adopted; never relaunched",
                state=new,
                budget_reset=reset,
            )
        new = _record(state, status, retries_used=retries, handled_job_id=status.job_id)
        return Decision(
            IGNORED_POLICY,
            f"{prefix}job was updated (replacement not named in the event); never relaunched",
            state=new,
            budget_reset=reset,
        )
    if status.state in pipeline.relaunch_on:
        if retries >= pipeline.max_retries:
            new = _record(state, status, exhausted=True, retries_used=retries, handled_job_id=status.job_id)
            return Decision(
                EXHAUSTED,
                f"{prefix}{status.state}: {retries} of {pipeline.max_retries} relaunches used",
                state=new,
                budget_reset=reset,
            )
        attempt = state.attempt + 1
        claim = PendingAttempt(attempt, pipeline.job_name(attempt), status.job_id, status.event_id)
        new = _record(
            state, status, attempt=attempt, retries_used=retries + 1, handled_job_id=status.job_id, pending=claim
        )
        return Decision(
            RELAUNCHED,
            f"{prefix}{status.state}: relaunch {retries + 1} of {pipeline.max_retries} as {claim.job_name}",
            state=new,
            launch=claim,
            attempt_record={
                "attempt": attempt,
                "job_name": claim.job_name,
                "trigger_event": status.event_id,
                "trigger_job_id": status.job_id,
                "outcome": "launching",
            },
            budget_reset=reset,
        )
    if status.terminal:
        new = _record(state, status, retries_used=retries, handled_job_id=status.job_id)
        return Decision(
            IGNORED_POLICY,
            f"{prefix}{status.state} is not in relaunch_on {sorted(pipeline.relaunch_on)}: stopped on purpose",
            state=new,
            budget_reset=reset,
        )
    new = _record(state, status, retries_used=retries)
    return Decision(RECORDED, f"{prefix}{status.state} recorded", state=new, budget_reset=reset)


def complete_attempt(state: PipelineState, attempt: PendingAttempt, job_id: str) -> PipelineState:
    """The record once the attempt's job is known to exist: it becomes the current job.

    Idempotent: if the attempt is no longer pending (completed by a concurrent
    handler, or by the new job's own event) the state is returned unchanged.
    """
    if state.pending != attempt:
        return state
    return dataclasses.replace(
        state,
        pending=None,
        current_job_id=job_id,
        current_job_name=attempt.job_name,
        exhausted=False,
        last_state=PENDING,
        last_state_time=None,
        running_since=None,
    )


def fail_attempt(state: PipelineState, attempt: PendingAttempt) -> PipelineState:
    """The record after a permanent launch error: the claim is released and the retry refunded.

    Nothing was launched, so the budget is not charged; the failed job stays the
    (handled) current job, so redeliveries are duplicates and no retry storm follows.
    """
    if state.pending != attempt:
        return state
    return dataclasses.replace(state, pending=None, retries_used=max(0, state.retries_used - 1))
