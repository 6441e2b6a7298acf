"""Stalled jobs, pure policy: every row of the README "Decisions on incidents" table, then a hypothesis
state machine mixing status events and incidents against a model of Dataflow and the store."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from relauncher import policy
from relauncher.config import HEAL_UPDATE
from relauncher.events import TERMINAL_STATES, JobStatus
from relauncher.incidents import Incident
from relauncher.policy import (
    PipelineState,
    complete_attempt,
    decide,
    decide_incident,
    decide_status,
    fail_attempt,
    fail_heal,
)
from tests.relauncher.support import config

CFG = config()
ORDERS = CFG.pipelines["orders"]
ORDERS_UPDATE = dataclasses.replace(ORDERS, stall=dataclasses.replace(ORDERS.stall, heal_action=HEAL_UPDATE))
SUB = CFG.stall_detection.signals["oldest_unacked_message_age"]
LAG = CFG.stall_detection.signals["system_lag"]
T0 = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
NOW = T0 + dt.timedelta(minutes=10)
RUNNING = "JOB_STATE_RUNNING"
README = Path(__file__).resolve().parents[2] / "README.md"
_ids = itertools.count()


def inc(state="open", *, incident_id="i1", event_id=None, started=T0, resource="pubsub_subscription", **kw) -> Incident:
    labels = kw.pop("labels", {"subscription_id": "orders-analytics"})
    return Incident(
        event_id=event_id or f"m{next(_ids)}",
        event_type="google.cloud.pubsub.topic.v1.messagePublished",
        incident_id=incident_id,
        state=state,
        started_at=started,
        ended_at=started + dt.timedelta(minutes=25) if state == "closed" else None,
        pipeline="orders",
        signal=kw.pop("signal", SUB.name),
        resource_type=resource,
        resource_labels=labels,
        observed_value=1234.5,
        threshold_value=900.0,
        **kw,
    )


def status(state, job_id="j0", name="orders-analytics-a0", at=NOW, **kw) -> JobStatus:
    return JobStatus(f"e{next(_ids)}", "t", job_id, name, state, at, **kw)


def running(**kw) -> PipelineState:
    """The current job j0, RUNNING for an hour before the incident started."""
    fields = {"last_state": RUNNING, "running_since": T0 - dt.timedelta(hours=1), "last_state_time": T0}
    fields.update(kw)
    return PipelineState(current_job_id="j0", current_job_name="orders-analytics-a0", **fields)


def healing(pipeline=ORDERS, incident=None):
    d = decide_incident(running(), incident or inc(), pipeline, NOW, signal=SUB)
    assert d.kind == policy.HEALING
    return d.state, incident


def past_deadline(state: PipelineState) -> dt.datetime:
    return state.heal.deadline + dt.timedelta(seconds=1)


def action_token(d: policy.Decision) -> str:
    kind = d.action.kind if d.action else None
    if kind == policy.CANCEL and d.launch is not None:
        return "cancel+launch"
    if kind:
        return kind
    return "launch" if d.launch is not None else "none"


def _i7():
    state, _ = healing()
    trigger = inc(incident_id="i2", started=T0 + dt.timedelta(minutes=20))
    escalated = decide_incident(state, trigger, ORDERS, past_deadline(state), signal=SUB)
    assert escalated.kind == policy.RELAUNCHED
    return decide_incident(escalated.state, trigger, ORDERS, past_deadline(state), signal=SUB)


def _i9():
    first = inc()
    state, _ = healing(incident=first)
    return decide_incident(state, first, ORDERS, NOW + dt.timedelta(seconds=5), signal=SUB)


def _s3():
    state, _ = healing()
    drained = decide_status(state, status("JOB_STATE_DRAINED"), ORDERS, NOW)
    launched = complete_attempt(drained.state, drained.launch, "j1")
    return decide_status(launched, status(RUNNING, "j1", "orders-analytics-a1"), ORDERS, NOW)


def _s2():
    state, _ = healing(ORDERS_UPDATE)
    return decide_status(state, status("JOB_STATE_UPDATED", replaced_by_job_id="j1"), ORDERS_UPDATE, NOW)


ROWS = {
    "I1": lambda: decide_incident(running(), inc(), ORDERS, NOW, signal=SUB, seen_final=True),
    "I2": lambda: decide_incident(None, inc(), ORDERS, NOW, signal=SUB),
    "I3": lambda: (lambda s: decide_incident(s, inc(incident_id="i2"), ORDERS, past_deadline(s), signal=SUB))(
        healing()[0]
    ),
    "I4": lambda: (lambda s: decide_incident(s, inc(incident_id="i2"), ORDERS_UPDATE, past_deadline(s), signal=SUB))(
        healing(ORDERS_UPDATE)[0]
    ),
    "I5": lambda: decide_incident(running(), inc("closed"), ORDERS, NOW, signal=SUB),
    "I6": lambda: decide_incident(
        decide(running(), status("JOB_STATE_FAILED"), ORDERS).state, inc(), ORDERS, NOW, signal=SUB
    ),
    "I7": _i7,
    "I8": lambda: decide_incident(healing()[0], inc(incident_id="i2"), ORDERS, NOW, signal=SUB),
    "I9": _i9,
    "I10": lambda: decide_incident(running(last_state="JOB_STATE_CANCELLED"), inc(), ORDERS, NOW, signal=SUB),
    "I11": lambda: decide_incident(
        running(), inc(resource="dataflow_job", labels={"job_id": "j-old", "job_name": "x"}), ORDERS, NOW, signal=LAG
    ),
    "I12": lambda: decide_incident(running(), inc(signal="cpu"), ORDERS, NOW, signal=None),
    "I13": lambda: decide_incident(running(last_state="JOB_STATE_PENDING"), inc(), ORDERS, NOW, signal=SUB),
    "I14": lambda: decide_incident(
        running(running_since=T0 - dt.timedelta(seconds=SUB.duration_seconds - 1)), inc(), ORDERS, NOW, signal=SUB
    ),
    "I15": lambda: decide_incident(running(), inc(), ORDERS, NOW, signal=SUB, prior={"decision": "healing"}),
    "I16": lambda: decide_incident(
        running(last_heal_time=NOW - dt.timedelta(seconds=ORDERS.stall.cooldown_seconds - 1)),
        inc(),
        ORDERS,
        NOW,
        signal=SUB,
    ),
    "I17": lambda: decide_incident(
        running(retries_used=ORDERS.max_retries, running_since=T0 - dt.timedelta(minutes=20)),
        inc(),
        ORDERS,
        NOW,
        signal=SUB,
    ),
    "I18": lambda: decide_incident(running(), inc(), ORDERS, NOW, signal=SUB),
    "I19": lambda: decide_incident(running(), inc(), ORDERS_UPDATE, NOW, signal=SUB),
    "I20": lambda: decide_incident(
        running(
            retries_used=ORDERS.max_retries, running_since=T0 - dt.timedelta(seconds=ORDERS.healthy_period_seconds)
        ),
        inc(),
        ORDERS,
        NOW,
        signal=SUB,
    ),
    "S1": lambda: decide_status(healing()[0], status("JOB_STATE_DRAINED"), ORDERS, NOW),
    "S2": _s2,
    "S3": _s3,
    "S4": lambda: (lambda s: decide_status(s, status("JOB_STATE_DRAINING"), ORDERS, past_deadline(s)))(healing()[0]),
}


def readme_rows() -> dict[str, tuple[str, str]]:
    """Row id -> (decision, action token) from the README table."""
    text = README.read_text()
    section = text[text.index("### Decisions on incidents") : text.index("### Heal actions")]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and re.fullmatch(r"[IS]\d+", cells[0]):
            decision = re.match(r"`([^`]+)`", cells[3]).group(1)
            action = re.match(r"`([^`]+)`", cells[4]).group(1)
            rows[cells[0]] = (decision, action)
    return rows


def test_readme_table_and_scenarios_cover_the_same_rows():
    assert set(readme_rows()) == set(ROWS)


@pytest.mark.parametrize("row", sorted(ROWS))
def test_readme_decision_table_row(row):
    decision, action = readme_rows()[row]
    d = ROWS[row]()
    assert (d.kind, action_token(d)) == (decision, action), d.reason
    assert d.kind in policy.DECISIONS and d.reason


def test_heal_charges_the_budget_and_records_the_incident():
    d = decide_incident(running(), inc(), ORDERS, NOW, signal=SUB)
    assert (d.state.retries_used, d.state.attempt, d.state.last_heal_time) == (1, 0, NOW)
    assert d.state.heal.deadline == NOW + dt.timedelta(seconds=ORDERS.stall.drain_deadline_seconds)
    assert (d.action.kind, d.action.job_id) == ("drain", "j0") and not d.final
    assert d.incident_record["decision"] == policy.HEALING and d.incident_step["step"] == policy.DRAIN_REQUESTED


def test_drained_job_relaunches_without_a_second_charge_and_duplicates_resume():
    state, _ = healing()
    drained = status("JOB_STATE_DRAINED")
    d = decide_status(state, drained, ORDERS, NOW)
    assert (d.state.retries_used, d.launch.attempt, d.launch.job_name) == (1, 1, "orders-analytics-a1")
    assert d.attempt_record["trigger_incident"] == "i1"
    again = decide_status(d.state, drained, ORDERS, NOW)
    assert (again.launch, again.state) == (d.launch, None)


def test_without_a_heal_a_drained_job_is_still_ignored_policy():
    d = decide_status(running(), status("JOB_STATE_DRAINED"), ORDERS, NOW)
    assert d.kind == policy.IGNORED_POLICY and d.launch is None


def test_failed_while_draining_relaunches_once_not_twice():
    state, _ = healing()
    d = decide_status(state, status("JOB_STATE_FAILED"), ORDERS, NOW)
    assert (d.kind, d.state.retries_used) == (policy.RELAUNCHED, 1)


def test_the_replacement_running_ends_the_heal_with_its_time():
    d = _s3()
    assert d.state.heal is None and d.incident_id == "i1"
    assert d.incident_record["replacement_running_time"] == NOW
    assert d.incident_record["replacement_job_id"] == "j1"


def test_update_heal_adopts_the_replacement_then_ends_on_running():
    adopted = _s2()
    assert (adopted.state.current_job_id, adopted.state.heal.step) == ("j1", policy.UPDATE_REQUESTED)
    d = decide_status(adopted.state, status(RUNNING, "j1", replace_job_id="j0"), ORDERS_UPDATE, NOW)
    assert d.state.heal is None and d.incident_record["heal_step"] == "healed"


def test_refused_update_refunds_the_budget():
    state, _ = healing(ORDERS_UPDATE)
    released = fail_heal(state, state.heal)
    assert (released.heal, released.retries_used) == (None, 0)
    assert fail_heal(released, state.heal) == released


def test_deadline_is_checked_on_status_events_too_and_not_before_it():
    state, _ = healing()
    before = decide_status(state, status("JOB_STATE_DRAINING"), ORDERS, state.heal.deadline - dt.timedelta(seconds=1))
    assert before.kind == policy.RECORDED and before.action is None
    after = decide_status(state, status("JOB_STATE_DRAINING"), ORDERS, past_deadline(state))
    assert (after.action.kind, after.launch.attempt) == ("cancel", 1)


def test_dataflow_job_incident_for_the_current_job_heals():
    labels = {"job_id": "j0", "job_name": "orders-analytics-a0"}
    d = decide_incident(
        running(), inc(resource="dataflow_job", labels=labels, signal=LAG.name), ORDERS, NOW, signal=LAG
    )
    assert d.kind == policy.HEALING


# -- state machine ------------------------------------------------------------------------------------

TERMINAL = TERMINAL_STATES
SEEN: dict[str, int] = {}  # decisions the state machine reached (checked below: it must reach the heal paths)


class StallMachine(RuleBasedStateMachine):
    """The function modelled around the pure policy: a store (pipeline record, final events, incident
    records), Dataflow (jobs by id, one active job per name, drain/cancel/update rules) and
    at-least-once, out-of-order delivery with crashes between the claim and its requests."""

    @initialize(max_retries=st.integers(0, 3), update=st.booleans())
    def setup(self, max_retries, update):
        base = ORDERS_UPDATE if update else ORDERS
        self.pipeline = dataclasses.replace(base, max_retries=max_retries)
        self.now = T0
        self.jobs = {"j0": ["orders-analytics-a0", RUNNING]}
        self.created: dict[str, int] = {"orders-analytics-a0": 1}  # non-update creations per name
        self.state = running(running_since=T0 - dt.timedelta(hours=2))
        self.final: dict[str, bool] = {}
        self.prior: dict[str, dict] = {}
        self.queue: list[JobStatus] = []  # status events published, not yet delivered
        self.delivered: list[JobStatus | Incident] = []
        self.claims: list[int] = []
        self.ids = itertools.count(1)
        self.charged_since_reset = 0

    # -- Dataflow model -------------------------------------------------------------------------------
    def _emit(self, job_id, **kw):
        name, state = self.jobs[job_id]
        self.queue.append(status(state, job_id, name, self.now, **kw))

    def _set(self, job_id, state, **kw):
        self.jobs[job_id][1] = state
        self._emit(job_id, **kw)

    def _launch(self, name):
        for job_id, (n, s) in self.jobs.items():
            if n == name and s not in TERMINAL:
                return job_id  # ALREADY_EXISTS: the existing job is the answer
        job_id = f"j{next(self.ids)}"
        self.jobs[job_id] = [name, "JOB_STATE_PENDING"]
        self.created[name] = self.created.get(name, 0) + 1
        self._emit(job_id)
        return job_id

    def _perform(self, action: policy.HealAction):
        name, state = self.jobs[action.job_id]
        if action.kind == policy.DRAIN and state == RUNNING:
            self._set(action.job_id, "JOB_STATE_DRAINING")
        elif action.kind == policy.CANCEL and state not in TERMINAL:
            self._set(action.job_id, "JOB_STATE_CANCELLED")
        elif action.kind == policy.UPDATE and state == RUNNING:
            new = f"j{next(self.ids)}"
            self.jobs[new] = [name, "JOB_STATE_PENDING"]
            self._set(action.job_id, "JOB_STATE_UPDATED", replaced_by_job_id=new)
            self._emit(new, replace_job_id=action.job_id)

    # -- delivery ----------------------------------------------------------------------------------------
    def _deliver(self, event, crash):
        before = self.state
        seen = self.final.get(event.event_id, False)
        if isinstance(event, Incident):
            d = decide_incident(
                before,
                event,
                self.pipeline,
                self.now,
                signal=SUB,
                seen_final=seen,
                prior=self.prior.get(event.incident_id),
            )
        else:
            d = decide_status(before, event, self.pipeline, self.now, seen_final=seen)
        assert d.kind in policy.DECISIONS and d.reason  # every event is recorded with a decision and why
        SEEN[d.kind] = SEEN.get(d.kind, 0) + 1
        if d.action is not None:  # never an action on a job the record knows to be terminal
            assert d.action.job_id == before.current_job_id
            assert before.last_state not in TERMINAL
        if d.budget_reset:
            self.charged_since_reset = 0
        if d.kind == policy.HEALING and d.action is not None and d.action.kind in (policy.DRAIN, policy.UPDATE):
            self.charged_since_reset += before.heal is None  # a fallback from update to drain charges nothing
        if d.kind == policy.RELAUNCHED and d.attempt_record and "trigger_incident" not in d.attempt_record:
            self.charged_since_reset += 1
        if d.kind == policy.RELAUNCHED:
            self.claims.append(d.launch.attempt)
        if d.state is not None:
            self.state = d.state
        if d.incident_id and d.incident_record and "decision" in d.incident_record:
            self.prior.setdefault(d.incident_id, {"decision": d.incident_record["decision"]})
        self.final.setdefault(event.event_id, d.final)
        self.delivered.append(event)
        if crash:
            return
        if d.action is not None:
            self._perform(d.action)
        if d.launch is not None:
            job_id = self._launch(d.launch.job_name)
            self.state = complete_attempt(self.state, d.launch, job_id)
        self.final[event.event_id] = True

    @rule(seconds=st.integers(0, 1200))
    def tick(self, seconds):
        self.now += dt.timedelta(seconds=seconds)

    @precondition(lambda self: self.queue)
    @rule(pick=st.integers(0, 10), crash=st.booleans())
    def deliver_status(self, pick, crash):
        self._deliver(self.queue.pop(pick % len(self.queue)), crash)

    @precondition(lambda self: self.delivered)
    @rule(pick=st.integers(0, 50))
    def redeliver(self, pick):
        self._deliver(self.delivered[pick % len(self.delivered)], False)

    @rule(incident=st.integers(0, 3), closed=st.booleans(), ago=st.integers(0, 4000), crash=st.booleans())
    def incident(self, incident, closed, ago, crash):
        started = self.now - dt.timedelta(seconds=ago)
        self._deliver(inc("closed" if closed else "open", incident_id=f"i{incident}", started=started), crash)

    @rule(pick=st.integers(0, 10), to=st.sampled_from([RUNNING, "JOB_STATE_FAILED", "JOB_STATE_DRAINED"]))
    def dataflow_moves(self, pick, to):
        """Dataflow moves a job on its own: PENDING->RUNNING, RUNNING->FAILED, DRAINING->DRAINED."""
        allowed = {RUNNING: "JOB_STATE_PENDING", "JOB_STATE_FAILED": RUNNING, "JOB_STATE_DRAINED": "JOB_STATE_DRAINING"}
        movable = [j for j, (_, s) in self.jobs.items() if s == allowed[to]]
        if movable:
            self._set(movable[pick % len(movable)], to)

    @invariant()
    def budget_never_exceeded(self):
        assert 0 <= self.state.retries_used <= self.pipeline.max_retries
        assert self.charged_since_reset <= self.pipeline.max_retries

    @invariant()
    def at_most_one_launch_per_claimed_attempt(self):
        assert len(self.claims) == len(set(self.claims))
        for name, n in self.created.items():
            assert n <= 1, f"{name} launched {n} times"
        launched = {n for n in self.created if n != "orders-analytics-a0"}
        assert launched <= {self.pipeline.job_name(a) for a in self.claims}

    @invariant()
    def heal_names_the_current_or_replaced_job(self):
        heal = self.state.heal
        if heal is not None and self.state.pending is None and heal.job_id != self.state.current_job_id:
            # The current job moves away from a heal's job only by the heal's relaunch (the heal ends when
            # the replacement RUNS) or by an update; a draining job stays current until then.
            relaunched = heal.step in (policy.RELAUNCHING, policy.CANCEL_REQUESTED)
            assert relaunched or self.jobs[heal.job_id][1] == "JOB_STATE_UPDATED"


StallMachine.TestCase.settings = settings(
    max_examples=120, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestStallStateMachine = StallMachine.TestCase


def test_fail_attempt_still_refunds_under_a_heal():
    state, _ = healing()
    d = decide_status(state, status("JOB_STATE_DRAINED"), ORDERS, NOW)
    assert fail_attempt(d.state, d.launch).retries_used == 0


def test_the_state_machine_reaches_every_heal_path():
    """Guard against a vacuous machine: run it, then check it produced heals, relaunches and exhaustion."""
    SEEN.clear()
    TestStallStateMachine("runTest").runTest()
    for kind in (policy.HEALING, policy.RELAUNCHED, policy.EXHAUSTED, policy.DUPLICATE, policy.NOT_ATTRIBUTABLE):
        assert SEEN.get(kind, 0) > 0, (kind, SEEN)


def test_the_stalled_jobs_own_events_never_reset_the_budget():
    """It was RUNNING for hours, but stalled: its UPDATED/DRAINING events are no proof of health."""
    state, _ = healing(ORDERS_UPDATE)
    late = NOW + dt.timedelta(seconds=ORDERS.healthy_period_seconds * 3)
    for event in (status("JOB_STATE_DRAINING", at=late), status("JOB_STATE_UPDATED", at=late, replaced_by_job_id="j1")):
        d = decide_status(state, event, ORDERS_UPDATE, NOW)
        assert not d.budget_reset and d.state.retries_used == 1


def test_the_stalled_jobs_updated_event_past_the_deadline_adopts_and_never_drains():
    """Found by the state machine: an UPDATED event arriving after the deadline must not escalate to a
    drain of the (now terminal) updated job."""
    state, _ = healing(ORDERS_UPDATE)
    d = decide_status(state, status("JOB_STATE_UPDATED", replaced_by_job_id="j1"), ORDERS_UPDATE, past_deadline(state))
    assert (d.kind, d.action, d.state.current_job_id) == (policy.ADOPTED, None, "j1")


def test_a_heal_waiting_for_its_replacement_does_not_block_judging_the_replacement():
    """After the relaunch, an incident for the new job is judged on its own (here: it had not run the
    signal's window yet, so not attributable) rather than swallowed as part of the finished heal."""
    drained = decide_status(healing()[0], status("JOB_STATE_DRAINED"), ORDERS, NOW)
    launched = complete_attempt(drained.state, drained.launch, "j1")
    running_new = decide_status(launched, status(RUNNING, "j1", "orders-analytics-a1", at=NOW), ORDERS, NOW).state
    assert running_new.heal is None
    stalled_again = dataclasses.replace(running_new, heal=launched.heal)  # RUNNING event not yet seen
    late = NOW + dt.timedelta(seconds=ORDERS.stall.cooldown_seconds + 1)
    d = decide_incident(
        stalled_again, inc(incident_id="i9", started=NOW + dt.timedelta(seconds=60)), ORDERS, late, signal=SUB
    )
    assert d.kind == policy.NOT_ATTRIBUTABLE
