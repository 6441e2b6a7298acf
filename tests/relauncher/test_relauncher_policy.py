"""The pure decision function: every rule, then state-machine properties with hypothesis."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relauncher import policy
from relauncher.events import JOB_STATES, TERMINAL_STATES, JobStatus
from relauncher.policy import PendingAttempt, PipelineState, complete_attempt, decide, fail_attempt, pipeline_for
from tests.relauncher.support import config

CFG = config()
ORDERS = CFG.pipelines["orders"]
T0 = dt.datetime(2026, 11, 30, 22, 0, tzinfo=dt.UTC)
_ids = itertools.count()


def ev(job_id="j0", state="JOB_STATE_FAILED", at=T0, name="orders-analytics-a0", event_id=None, **kw) -> JobStatus:
    return JobStatus(
        event_id=event_id or f"e{next(_ids)}",
        event_type="t",
        job_id=job_id,
        job_name=name,
        state=state,
        state_time=at,
        **kw,
    )


def base(**kw) -> PipelineState:
    return PipelineState(current_job_id="j0", current_job_name="orders-analytics-a0", **kw)


def test_failure_of_current_job_claims_attempt_one():
    d = decide(base(), ev(), ORDERS)
    assert d.kind == policy.RELAUNCHED
    assert d.launch == PendingAttempt(1, "orders-analytics-a1", "j0", d.launch.trigger_event)
    assert (d.state.attempt, d.state.retries_used, d.state.pending, d.state.handled_job_id) == (1, 1, d.launch, "j0")
    assert d.attempt_record["outcome"] == "launching" and not d.final


def test_seen_final_event_is_duplicate_and_changes_nothing():
    d = decide(base(), ev(), ORDERS, seen_final=True)
    assert (d.kind, d.state, d.launch) == (policy.DUPLICATE, None, None)


def test_any_event_of_the_failed_job_resumes_a_pending_attempt():
    claimed = decide(base(), ev(), ORDERS).state
    again = decide(claimed, ev(), ORDERS)
    assert (again.kind, again.launch, again.state) == (policy.DUPLICATE, claimed.pending, None)
    late_running = decide(claimed, ev(state="JOB_STATE_RUNNING", at=T0 - dt.timedelta(minutes=1)), ORDERS)
    assert (late_running.kind, late_running.launch) == (policy.IGNORED_STALE, claimed.pending)


def test_event_of_the_launched_job_completes_the_pending_attempt():
    claimed = decide(base(), ev(), ORDERS).state
    d = decide(claimed, ev("j1", "JOB_STATE_RUNNING", name="orders-analytics-a1"), ORDERS)
    assert d.kind == policy.ADOPTED
    assert (d.state.current_job_id, d.state.pending, d.state.last_state) == ("j1", None, "JOB_STATE_RUNNING")
    assert d.attempt_record == {"outcome": "launched", "job_id": "j1"}


def test_other_jobs_are_stale_while_an_attempt_is_pending():
    claimed = decide(base(), ev(), ORDERS).state
    d = decide(claimed, ev("jx", name="orders-analytics-a9"), ORDERS)
    assert (d.kind, d.launch, d.state) == (policy.IGNORED_STALE, None, None)


def test_completion_is_idempotent_and_makes_the_new_job_current():
    claimed = decide(base(), ev(), ORDERS).state
    done = complete_attempt(claimed, claimed.pending, "j1")
    assert (done.current_job_id, done.current_job_name, done.pending) == ("j1", "orders-analytics-a1", None)
    assert complete_attempt(done, claimed.pending, "j1") == done


def test_permanent_launch_failure_refunds_the_retry():
    claimed = decide(base(), ev(), ORDERS).state
    failed = fail_attempt(claimed, claimed.pending)
    assert (failed.retries_used, failed.pending, failed.attempt) == (0, None, 1)
    assert decide(failed, ev(), ORDERS).kind == policy.DUPLICATE  # no retry storm


def test_second_failure_event_of_handled_job_is_duplicate():
    state = complete_attempt(*(lambda s: (s, s.pending))(decide(base(), ev(), ORDERS).state), "j1")
    d = decide(state, ev(), ORDERS)
    assert (d.kind, d.launch, d.state) == (policy.DUPLICATE, None, None)


def test_non_current_job_is_stale():
    d = decide(base(), ev("old", name="orders-analytics-a0"), ORDERS)
    assert (d.kind, d.state) == (policy.IGNORED_STALE, None)


def test_older_event_for_current_job_is_stale_but_terminal_wins():
    state = base(last_state="JOB_STATE_RUNNING", last_state_time=T0)
    older = decide(state, ev(state="JOB_STATE_PENDING", at=T0 - dt.timedelta(seconds=1)), ORDERS)
    assert older.kind == policy.IGNORED_STALE
    older_failure = decide(state, ev(at=T0 - dt.timedelta(seconds=1)), ORDERS)
    assert older_failure.kind == policy.RELAUNCHED


def test_events_after_a_terminal_state_launch_nothing():
    state = base(last_state="JOB_STATE_CANCELLED", last_state_time=T0, handled_job_id="j0")
    assert decide(state, ev(state="JOB_STATE_CANCELLED"), ORDERS).kind == policy.DUPLICATE
    assert decide(state, ev(state="JOB_STATE_FAILED", at=T0 + dt.timedelta(1)), ORDERS).kind == policy.IGNORED_STALE


@pytest.mark.parametrize("state", sorted(TERMINAL_STATES - {"JOB_STATE_FAILED", "JOB_STATE_UPDATED"}))
def test_other_terminal_states_follow_the_policy(state):
    d = decide(base(), ev(state=state), ORDERS)
    assert (d.kind, d.launch, d.state.last_state) == (policy.IGNORED_POLICY, None, state)


def test_relaunch_on_is_configurable():
    fighty = dataclasses.replace(ORDERS, relaunch_on=frozenset({"JOB_STATE_FAILED", "JOB_STATE_CANCELLED"}))
    assert decide(base(), ev(state="JOB_STATE_CANCELLED"), fighty).kind == policy.RELAUNCHED


def test_updated_is_never_relaunched_even_if_configured():
    reckless = dataclasses.replace(ORDERS, relaunch_on=frozenset({"JOB_STATE_FAILED", "JOB_STATE_UPDATED"}))
    for pipeline in (ORDERS, reckless):
        d = decide(base(), ev(state="JOB_STATE_UPDATED", replaced_by_job_id="j9"), pipeline)
        assert (d.kind, d.launch, d.state.current_job_id) == (policy.ADOPTED, None, "j9")
        d = decide(base(), ev(state="JOB_STATE_UPDATED"), pipeline)
        assert (d.kind, d.launch, d.state.current_job_id) == (policy.IGNORED_POLICY, None, "j0")


def test_replacement_announcing_what_it_replaces_is_adopted():
    d = decide(base(), ev("j9", "JOB_STATE_RUNNING", replace_job_id="j0"), ORDERS)
    assert (d.kind, d.state.current_job_id, d.state.last_state) == (policy.ADOPTED, "j9", "JOB_STATE_RUNNING")


@pytest.mark.parametrize("state", ["JOB_STATE_PENDING", "JOB_STATE_QUEUED", "JOB_STATE_RUNNING", "JOB_STATE_DRAINING"])
def test_non_terminal_states_are_recorded(state):
    d = decide(base(), ev(state=state), ORDERS)
    assert (d.kind, d.launch, d.state.last_state, d.state.last_state_time) == (policy.RECORDED, None, state, T0)


def test_running_since_is_kept_across_repeated_running_events():
    first = decide(base(), ev(state="JOB_STATE_RUNNING", at=T0), ORDERS).state
    second = decide(first, ev(state="JOB_STATE_RUNNING", at=T0 + dt.timedelta(minutes=5)), ORDERS).state
    assert second.running_since == T0


def test_exhausted_after_max_retries():
    state = base(retries_used=ORDERS.max_retries, attempt=2)
    d = decide(state, ev(), ORDERS)
    assert (d.kind, d.launch, d.state.exhausted, d.state.retries_used) == (policy.EXHAUSTED, None, True, 2)


def test_healthy_period_resets_before_deciding():
    healthy = dt.timedelta(seconds=ORDERS.healthy_period_seconds)
    state = base(retries_used=ORDERS.max_retries, last_state="JOB_STATE_RUNNING", running_since=T0, last_state_time=T0)
    d = decide(state, ev(at=T0 + healthy), ORDERS)
    assert (d.kind, d.budget_reset, d.state.retries_used) == (policy.RELAUNCHED, True, 1)
    early = decide(state, ev(at=T0 + healthy - dt.timedelta(seconds=1)), ORDERS)
    assert (early.kind, early.budget_reset) == (policy.EXHAUSTED, False)
    running = decide(state, ev(state="JOB_STATE_RUNNING", at=T0 + healthy), ORDERS)
    assert (running.kind, running.budget_reset, running.state.retries_used) == (policy.RECORDED, True, 0)


def test_unregistered_pipeline_adopts_the_events_job():
    d = decide(None, ev("j4", name="orders-analytics-a4"), ORDERS)
    assert (d.kind, d.launch.job_name) == (policy.RELAUNCHED, "orders-analytics-a5")
    assert d.reason.startswith("no pipeline record")


@pytest.mark.parametrize(
    ("name", "labels", "expected"),
    [
        ("orders-analytics-a0", {}, "orders"),
        ("shipping-analytics-a12", {}, "shipping"),
        ("orders-analytics-a1x", {}, None),
        ("orders-analytics", {}, None),
        ("adhoc", {CFG.managed_label_key: CFG.managed_label_value, "pipeline": "shipping"}, "shipping"),
        ("orders-analytics-manual", {CFG.managed_label_key: CFG.managed_label_value}, "orders"),
        ("adhoc", {CFG.managed_label_key: "someone-else", "pipeline": "orders"}, None),
        ("adhoc", {CFG.managed_label_key: CFG.managed_label_value}, None),
        ("wordcount", {}, None),
    ],
)
def test_pipeline_identification(name, labels, expected):
    found = pipeline_for(ev(name=name, labels=labels), CFG)
    assert (found.name if found else None) == expected


# -- properties ----------------------------------------------------------------------------------

ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(["fail", "fail", "redeliver", "running", "old", "complete", "other", "crash"]),
        st.integers(min_value=1, max_value=4000),  # seconds that pass before the action
        st.sampled_from(JOB_STATES),
    ),
    max_size=40,
)


class World:
    """A model of the store and Dataflow around :func:`decide`: events recorded, launches idempotent by name."""

    def __init__(self, pipeline):
        self.pipeline = pipeline
        self.state = base()
        self.now = T0
        self.final: dict[str, bool] = {}
        self.sent: list[JobStatus] = []
        self.launched: dict[str, str] = {}  # job name -> job id: Dataflow refuses a second active name
        self.claims: list[tuple[int, str]] = []  # (attempt, failed job) per RELAUNCHED decision
        self.since_reset = 0
        self.old_jobs = ["j-old"]

    def deliver(self, status: JobStatus, *, crash: bool = False) -> policy.Decision:
        d = decide(self.state, status, self.pipeline, seen_final=self.final.get(status.event_id, False))
        if d.budget_reset:
            self.since_reset = 0
        if d.state is not None:
            self.state = d.state
        self.final.setdefault(status.event_id, d.final)
        if d.kind == policy.RELAUNCHED:
            self.claims.append((d.launch.attempt, status.job_id))
            self.since_reset += 1
        if d.launch is not None and not crash:
            job_id = self.launched.setdefault(d.launch.job_name, f"job-{d.launch.job_name}")
            self.state = complete_attempt(self.state, d.launch, job_id)
            self.final[status.event_id] = True
        return d


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions=ACTIONS, max_retries=st.integers(min_value=0, max_value=3))
def test_relaunch_state_machine_properties(actions, max_retries):
    pipeline = dataclasses.replace(ORDERS, max_retries=max_retries, healthy_period_seconds=1800)
    w = World(pipeline)
    for action, seconds, state in actions:
        w.now += dt.timedelta(seconds=seconds)
        current = w.state.current_job_id
        name = w.state.current_job_name
        if action in ("fail", "crash"):
            status = ev(current, "JOB_STATE_FAILED", w.now, name)
        elif action == "running":
            status = ev(current, "JOB_STATE_RUNNING", w.now, name)
        elif action == "other":
            status = ev(current, state, w.now, name)
        elif action == "old":
            status = ev(w.old_jobs[-1], state, w.now - dt.timedelta(hours=1), "orders-analytics-a0")
        elif action == "redeliver" and w.sent:
            status = w.sent[seconds % len(w.sent)]
        elif action == "complete" and w.state.pending is not None:
            status = w.sent[-1]  # redelivery of the interrupted event finishes the attempt
        else:
            continue
        before = w.state
        d = w.deliver(status, crash=action == "crash")
        w.sent.append(status)

        # Budget: never more relaunches between resets than max_retries; the counter matches.
        assert w.since_reset <= max_retries
        assert 0 <= w.state.retries_used <= max_retries
        # At most one claim per failed job, attempt numbers strictly increase, names are deterministic.
        failed_jobs = [job for _, job in w.claims]
        assert len(failed_jobs) == len(set(failed_jobs))
        attempts = [a for a, _ in w.claims]
        assert attempts == sorted(set(attempts))
        # Exhausted only with the budget used up; nothing launched then.
        if d.kind == policy.EXHAUSTED:
            assert d.launch is None and w.state.retries_used == max_retries
        # A launch is only ever for the pending attempt of the state the decision was taken on.
        if d.launch is not None and d.kind != policy.RELAUNCHED:
            assert d.launch == before.pending
        # Decisions never touch state when the event was already handled.
        if w.final.get(status.event_id) and d.kind == policy.DUPLICATE and before.pending is None:
            assert d.state is None or d.state == before
    # Every launch attempt corresponds to exactly one claim: Dataflow saw no extra names.
    assert set(w.launched) <= {pipeline.job_name(a) for a, _ in w.claims}
