"""The relaunch decision: a pure function of (pipeline record, event, pipeline policy).

No I/O here, so every rule is unit- and property-tested without emulators.
The store runs :func:`decide_status` / :func:`decide_incident` inside a Firestore
transaction and writes back the state they return; the handler then performs the
heal action (drain, cancel, update) and the launch the decision asks for.

Stalled jobs (README "Stalled jobs"): an open incident for the current RUNNING job
starts a heal (``PipelineState.heal``) charged to the same retry budget as a failure.
Cloud Functions has no timer, so a heal's deadline is checked on the pipeline's next
event (the incident's re-notification, or any status event).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from relauncher.config import HEAL_UPDATE, Config, PipelineConfig, Signal
from relauncher.events import TERMINAL_STATES, JobStatus
from relauncher.incidents import DATAFLOW_JOB, Incident

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
HEALING = "healing"  # a stalled job's heal started: drain (or update) requested
NOT_ATTRIBUTABLE = "not-attributable"  # the incident cannot be pinned on the current job

DECISIONS = (
    RELAUNCHED,
    DUPLICATE,
    IGNORED_STALE,
    IGNORED_POLICY,
    EXHAUSTED,
    RECORDED,
    ADOPTED,
    UNMANAGED,
    ERROR,
    HEALING,
    NOT_ATTRIBUTABLE,
)

# Heal steps (PipelineState.heal.step and the incident's audit steps).
DRAIN_REQUESTED = "drain_requested"  # waiting for the job to end (DRAINED), or the deadline
UPDATE_REQUESTED = "update_requested"  # waiting for UPDATED (replacement adopted), or the deadline
CANCEL_REQUESTED = "cancel_requested"  # deadline passed: cancelled, attempt n+1 claimed
RELAUNCHING = "relaunching"  # the job ended: attempt n+1 claimed
WAITING_STEPS = (DRAIN_REQUESTED, UPDATE_REQUESTED)  # a request was sent; the job's answer is awaited
# Heal actions the handler performs after the commit.
DRAIN, CANCEL, UPDATE = "drain", "cancel", "update"


@dataclass(frozen=True)
class Heal:
    """A heal in progress (``pipelines/{p}.heal``), from the incident until the replacement RUNS."""

    incident_id: str
    job_id: str  # the stalled job
    job_name: str
    action: str  # the pipeline's stall.heal_action when it started
    step: str
    trigger_event: str  # the event whose handling owes the current step's request
    started: dt.datetime
    deadline: dt.datetime | None = None

    def to_doc(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any] | None) -> Heal | None:
        if not doc:
            return None
        return cls(**{f.name: doc.get(f.name) for f in dataclasses.fields(cls)})

    def request(self, kind: str) -> HealAction:
        """The request of ``kind`` (drain, cancel, update) this heal owes Dataflow for its stalled job."""
        return HealAction(kind, self.job_id, self.job_name, self.incident_id)


@dataclass(frozen=True)
class HealAction:
    """A request to Dataflow owed after the commit: drain/cancel ``job_id``, or update ``job_name``."""

    kind: str
    job_id: str
    job_name: str
    incident_id: str


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
    heal: Heal | None = None
    last_heal_time: dt.datetime | None = None


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
    action: HealAction | None = None
    incident_id: str = ""  # the incident whose audit record this decision adds to
    incident_record: Mapping[str, Any] | None = None  # fields merged into incidents/{incident_id}
    incident_step: Mapping[str, Any] | None = None  # appended to incidents/{incident_id}.steps

    @property
    def final(self) -> bool:
        return self.launch is None and self.action is None


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


# -- stalled jobs -----------------------------------------------------------------------------------


def _seconds(a: dt.datetime, b: dt.datetime) -> float:
    return (a - b).total_seconds()


def _relaunch_claim(
    state: PipelineState, pipeline: PipelineConfig, heal: Heal, event_id: str, step: str, why: str, now: dt.datetime
) -> Decision:
    """Claim attempt n+1 for a heal (its budget was charged when the heal started)."""
    attempt = state.attempt + 1
    claim = PendingAttempt(attempt, pipeline.job_name(attempt), heal.job_id, event_id)
    new_heal = dataclasses.replace(heal, step=step, trigger_event=event_id)
    new = dataclasses.replace(state, attempt=attempt, handled_job_id=heal.job_id, pending=claim, heal=new_heal)
    action = heal.request(CANCEL) if step == CANCEL_REQUESTED else None
    return Decision(
        RELAUNCHED,
        f"{why}; heal of incident {heal.incident_id}: relaunch as {claim.job_name}",
        state=new,
        launch=claim,
        action=action,
        attempt_record={
            "attempt": attempt,
            "job_name": claim.job_name,
            "trigger_event": event_id,
            "trigger_job_id": heal.job_id,
            "trigger_incident": heal.incident_id,
            "outcome": "launching",
        },
        incident_id=heal.incident_id,
        incident_record={"heal_step": step, "relaunch_job_name": claim.job_name, "attempt": attempt},
        incident_step={"step": step, "time": now, "job_id": heal.job_id, "launch_job_name": claim.job_name},
    )


def _escalation(state: PipelineState, pipeline: PipelineConfig, event_id: str, now: dt.datetime) -> Decision | None:
    """The heal's deadline passed with the stalled job still current and not ended: escalate.

    A drain that did not finish is cancelled and attempt n+1 launched; an update that did not
    take effect falls back to drain-then-relaunch with a fresh deadline.
    """
    heal = state.heal
    if heal is None or state.pending is not None or heal.deadline is None or now < heal.deadline:
        return None
    if state.current_job_id != heal.job_id or state.last_state in TERMINAL_STATES:
        return None
    late = f"deadline {pipeline.stall.drain_deadline_seconds:.0f}s passed at {heal.deadline.isoformat()}"
    if heal.step == DRAIN_REQUESTED:
        return _relaunch_claim(state, pipeline, heal, event_id, CANCEL_REQUESTED, f"drain not finished: {late}", now)
    if heal.step == UPDATE_REQUESTED:
        deadline = now + dt.timedelta(seconds=pipeline.stall.drain_deadline_seconds)
        new_heal = dataclasses.replace(heal, step=DRAIN_REQUESTED, trigger_event=event_id, deadline=deadline)
        return Decision(
            HEALING,
            f"update did not replace job {heal.job_id}: {late}; draining it instead",
            state=dataclasses.replace(state, heal=new_heal),
            action=heal.request(DRAIN),
            incident_id=heal.incident_id,
            incident_record={"heal_step": DRAIN_REQUESTED},
            incident_step={"step": DRAIN_REQUESTED, "time": now, "job_id": heal.job_id, "why": "update deadline"},
        )
    return None


def _closed_record(incident: Incident) -> dict[str, Any]:
    return {
        "incident_state": incident.state,
        "ended_at": incident.ended_at,
        "duration_seconds": incident.duration_seconds,
    }


def decide_incident(
    state: PipelineState | None,
    incident: Incident,
    pipeline: PipelineConfig,
    now: dt.datetime,
    *,
    signal: Signal | None = None,
    seen_final: bool = False,
    prior: Mapping[str, Any] | None = None,
) -> Decision:
    """Decide what one incident notification means for its pipeline (README "Decisions on incidents").

    ``signal`` is the configured signal the incident names (None: not configured); ``prior``
    the incident's audit record (``incidents/{incident_id}``) read in the same transaction.
    """
    iid = incident.incident_id
    if seen_final:
        return Decision(DUPLICATE, f"event {incident.event_id} was already handled", incident_id=iid)
    if state is None:
        return Decision(NOT_ATTRIBUTABLE, "no pipeline record: no current job to attribute it to", incident_id=iid)
    escalated = _escalation(state, pipeline, incident.event_id, now)
    if escalated is not None:
        return escalated
    if not incident.open:
        return Decision(
            RECORDED,
            f"incident closed: the stall lasted {incident.duration_seconds:.0f}s",
            incident_id=iid,
            incident_record=_closed_record(incident),
            incident_step={"step": "closed", "time": now, "ended_at": incident.ended_at},
        )
    # A heal blocks new ones while its stalled job is still current; once the job was replaced (relaunch
    # or update) the heal only waits for the replacement's RUNNING, and the rules below judge the new job.
    heal = state.heal if state.heal is not None and state.heal.job_id == state.current_job_id else None
    if state.pending is not None:
        pending = state.pending
        if pending.trigger_event == incident.event_id:
            cancel = heal is not None and heal.step == CANCEL_REQUESTED and heal.job_id == pending.failed_job_id
            action = heal.request(CANCEL) if cancel and heal else None
            why = f"redelivery: resuming attempt {pending.attempt} ({pending.job_name})"
            return Decision(DUPLICATE, why, launch=pending, action=action, incident_id=iid)
        return Decision(IGNORED_STALE, f"a relaunch ({pending.job_name}) is pending: nothing done", incident_id=iid)
    if heal is not None:
        if heal.incident_id == iid and heal.trigger_event == incident.event_id and heal.step in WAITING_STEPS:
            kind = DRAIN if heal.step == DRAIN_REQUESTED else UPDATE
            return Decision(
                DUPLICATE,
                f"redelivery: re-requesting {kind} of job {heal.job_id}",
                action=heal.request(kind),
                incident_id=iid,
            )
        return Decision(
            DUPLICATE,
            f"heal of incident {heal.incident_id} ({heal.step}) in progress: nothing more done",
            incident_id=iid,
        )
    if state.last_state in TERMINAL_STATES:
        return Decision(
            IGNORED_STALE, f"current job already {state.last_state}: never act on a terminal job", incident_id=iid
        )
    if incident.resource_type == DATAFLOW_JOB:
        about = incident.job_id or incident.job_name
        if about not in (state.current_job_id, state.current_job_name) or (
            incident.job_id and incident.job_id != state.current_job_id
        ):
            return Decision(
                IGNORED_STALE,
                f"incident is about job {about}, not the current job {state.current_job_id}",
                incident_id=iid,
            )
    if signal is None:
        return Decision(NOT_ATTRIBUTABLE, f"signal {incident.signal!r} is not configured", incident_id=iid)
    window = signal.duration_seconds
    if state.last_state != RUNNING or state.running_since is None:
        return Decision(
            NOT_ATTRIBUTABLE, f"current job is {state.last_state or 'not yet reported'}, not RUNNING", incident_id=iid
        )
    ran = _seconds(incident.started_at, state.running_since)
    if ran < window:
        return Decision(
            NOT_ATTRIBUTABLE,
            f"current job had run {ran:.0f}s < the signal's {window:.0f}s window when the incident started:"
            " it may be another job's stall",
            incident_id=iid,
        )
    if prior and prior.get("decision") in (HEALING, EXHAUSTED, RELAUNCHED):
        return Decision(DUPLICATE, f"incident {iid} was already handled ({prior['decision']})", incident_id=iid)
    cooldown = pipeline.stall.cooldown_seconds
    if state.last_heal_time is not None and _seconds(now, state.last_heal_time) < cooldown:
        return Decision(
            DUPLICATE,
            f"re-opened {_seconds(now, state.last_heal_time):.0f}s after the last heal,"
            f" within the {cooldown:.0f}s cooldown",
            incident_id=iid,
        )

    reset = ran >= pipeline.healthy_period_seconds and state.retries_used > 0
    retries = 0 if reset else state.retries_used
    prefix = f"healthy for {ran:.0f}s >= {pipeline.healthy_period_seconds:.0f}s: retry budget reset; " if reset else ""
    stalled = f"{incident.signal} {incident.observed_value} > {incident.threshold_value} for {window:.0f}s"
    record = {
        "pipeline": pipeline.name,
        "job_id": state.current_job_id,
        "job_name": state.current_job_name,
        "action": pipeline.stall.heal_action,
    }
    if retries >= pipeline.max_retries:
        new = dataclasses.replace(state, exhausted=True, retries_used=retries)
        why = f"{prefix}stalled ({stalled}): {retries} of {pipeline.max_retries} relaunches used; not healed"
        return Decision(
            EXHAUSTED,
            why,
            state=new,
            budget_reset=reset,
            incident_id=iid,
            incident_record={**record, "decision": EXHAUSTED, "reason": why},
            incident_step={"step": "exhausted", "time": now, "job_id": state.current_job_id},
        )
    update = pipeline.stall.heal_action == HEAL_UPDATE
    step = UPDATE_REQUESTED if update else DRAIN_REQUESTED
    heal = Heal(
        incident_id=iid,
        job_id=state.current_job_id,
        job_name=state.current_job_name,
        action=pipeline.stall.heal_action,
        step=step,
        trigger_event=incident.event_id,
        started=now,
        deadline=now + dt.timedelta(seconds=pipeline.stall.drain_deadline_seconds),
    )
    new = dataclasses.replace(state, retries_used=retries + 1, heal=heal, last_heal_time=now)
    verb = "update in place" if update else "drain, then relaunch"
    why = f"{prefix}stalled ({stalled}): heal {retries + 1} of {pipeline.max_retries}: {verb}"
    return Decision(
        HEALING,
        why,
        state=new,
        budget_reset=reset,
        action=heal.request(UPDATE if update else DRAIN),
        incident_id=iid,
        incident_record={**record, "decision": HEALING, "reason": why, "heal_step": step, "deadline": heal.deadline},
        incident_step={"step": step, "time": now, "job_id": heal.job_id},
    )


def decide_status(
    state: PipelineState | None,
    status: JobStatus,
    pipeline: PipelineConfig,
    now: dt.datetime,
    *,
    seen_final: bool = False,
) -> Decision:
    """:func:`decide`, with a heal in progress taken into account.

    The stalled job's terminal event (DRAINED, CANCELLED, or FAILED while draining) claims
    attempt n+1 without charging the budget again; a passed deadline escalates; the
    replacement's RUNNING event ends the heal (its time goes into the incident's audit).
    """
    heal = state.heal if state is not None else None
    if seen_final or state is None or heal is None:
        return decide(state, status, pipeline, seen_final=seen_final)
    if state.pending is None and status.job_id == heal.job_id == state.current_job_id:
        ends = status.terminal and status.state != UPDATED and state.last_state not in TERMINAL_STATES
        if ends and heal.step in WAITING_STEPS:
            recorded = _record(state, status)
            return _relaunch_claim(recorded, pipeline, heal, status.event_id, RELAUNCHING, f"job {status.state}", now)
    if state.pending is not None and heal.step == CANCEL_REQUESTED and state.pending.trigger_event == status.event_id:
        pending = state.pending
        why = f"redelivery: resuming the cancel of {heal.job_id} and attempt {pending.attempt}"
        return Decision(DUPLICATE, why, launch=pending, action=heal.request(CANCEL))
    # An event that shows the stalled job ending (e.g. UPDATED) is that job's answer: never escalate on it.
    ending = status.job_id == heal.job_id and status.terminal
    escalated = None if ending else _escalation(state, pipeline, status.event_id, now)
    if escalated is not None:
        return escalated
    # The stalled job's RUNNING time says nothing about health: never reset the budget on its events.
    basis = dataclasses.replace(state, running_since=None) if status.job_id == heal.job_id else state
    decision = decide(basis, status, pipeline)
    new = decision.state
    if new is None or new.heal is None or new.current_job_id == new.heal.job_id or status.job_id != new.current_job_id:
        return decision
    if status.state == RUNNING:
        done = dataclasses.replace(new, heal=None)
        return dataclasses.replace(
            decision,
            state=done,
            reason=f"{decision.reason}; heal of incident {heal.incident_id} done: replacement RUNNING",
            incident_id=heal.incident_id,
            incident_record={
                "heal_step": "healed",
                "replacement_job_id": status.job_id,
                "replacement_job_name": status.job_name,
                "replacement_running_time": status.state_time,
            },
            incident_step={"step": "replacement_running", "time": now, "job_id": status.job_id},
        )
    if status.terminal or decision.kind in (RELAUNCHED, EXHAUSTED):
        return dataclasses.replace(
            decision,
            state=dataclasses.replace(new, heal=None),
            incident_id=heal.incident_id,
            incident_record={"heal_step": "replacement_ended", "replacement_job_id": status.job_id},
            incident_step={"step": "replacement_ended", "time": now, "job_id": status.job_id, "state": status.state},
        )
    return decision


def fail_heal(state: PipelineState, heal: Heal) -> PipelineState:
    """The record after Dataflow refused the heal's request for good (e.g. an incompatible update):
    the heal is released and its budget refunded, like :func:`fail_attempt`."""
    if state.heal != heal:
        return state
    return dataclasses.replace(state, heal=None, retries_used=max(0, state.retries_used - 1))
