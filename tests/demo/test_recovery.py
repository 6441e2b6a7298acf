"""Recovery arithmetic: event-driven measured, polling derived on the same timeline."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from localdev import recovery


def test_next_poll_tick_examples():
    assert recovery.next_poll_tick(died_at=100.0, launched_at=100.0) == 130.0
    assert recovery.next_poll_tick(died_at=129.9, launched_at=100.0) == 130.0
    assert recovery.next_poll_tick(died_at=130.0, launched_at=100.0) == 160.0
    assert recovery.next_poll_tick(died_at=175.0, launched_at=100.0, interval=30) == 190.0


def test_recovery_record():
    r = recovery.Recovery(
        "orders",
        "a0",
        "a1",
        died_at=50.0,
        failed_job_launched_at=10.0,
        replacement_launched_at=50.8,
        replacement_running_at=52.0,
    )
    assert r.seconds == pytest.approx(2.0)
    assert r.startup_seconds == pytest.approx(1.2)
    # death at 40 s after launch -> next tick at 60 s after launch (20 s later), then the same 1.2 s startup
    assert r.polling_seconds() == pytest.approx(20.0 + 1.2)


@settings(max_examples=200, deadline=None)
@given(
    launched=st.floats(0, 1e5),
    lived=st.floats(0, 1e4),
    startup=st.floats(0, 600),
    interval=st.floats(1, 300),
)
def test_polling_detects_within_one_interval(launched, lived, startup, interval):
    died = launched + lived
    tick = recovery.next_poll_tick(died, launched, interval)
    assert died < tick or tick - died == pytest.approx(0, abs=1e-6)
    assert tick - died <= interval + 1e-6
    assert recovery.polling_recovery(died, launched, startup, interval) >= startup - 1e-6


def test_p50():
    assert recovery.p50([3.0, 1.0, 2.0]) == 2.0
    assert recovery.p50([]) != recovery.p50([])  # nan when there was no recovery


def test_polling_sees_a_failed_job_at_the_next_tick_and_a_stalled_one_never():
    failed = [(10.0, "JOB_STATE_RUNNING"), (75.0, "JOB_STATE_FAILED")]
    assert recovery.polling_detection(failed, launched_at=5.0, until=1e4) == 95.0  # ticks 35, 65, 95
    assert recovery.polling_detection(failed, launched_at=5.0, until=90.0) is None  # not polled yet
    stalled = [(10.0, "JOB_STATE_RUNNING")]  # SIGSTOPped: RUNNING as far as jobs.get can tell
    assert recovery.polling_detection(stalled, launched_at=5.0, until=1e4) is None


@settings(max_examples=200, deadline=None)
@given(
    launched=st.floats(0, 1e4),
    running_after=st.floats(0, 60),
    died_after=st.floats(0, 1e3),
    interval=st.floats(1, 300),
)
def test_polling_detection_agrees_with_the_poll_tick_model(launched, running_after, died_after, interval):
    running = launched + running_after
    died = running + died_after
    ticks = (died - launched) / interval
    assume(abs(ticks - round(ticks)) > 1e-6)  # a death exactly on a tick is a float-rounding coin toss
    states = [(running, "JOB_STATE_RUNNING"), (died, "JOB_STATE_FAILED")]
    tick = recovery.polling_detection(states, launched, until=died + 2 * interval, interval=interval)
    assert tick == pytest.approx(recovery.next_poll_tick(died, launched, interval), abs=1e-6)
