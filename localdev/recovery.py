"""Recovery times, measured, next to what the original 30-second polling design would have taken.

Pure functions over monotonic timestamps, so the arithmetic is unit-tested.

Event-driven recovery: job death -> replacement job RUNNING (measured).

Polling, on the same timeline: the original workflow launches a job and then
calls ``jobs.get`` every ``interval`` seconds, so it notices a death at the
first poll tick after it (ticks at ``launched_at + k * interval``, k >= 1),
then launches the replacement, which takes as long to reach RUNNING as ours did
(its launch-to-RUNNING time is taken from the same measured replacement).

A stalled job never reaches a terminal state (:func:`polling_detection` finds no tick that
sees one), so under polling its recovery is "never".
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from relauncher.events import TERMINAL_STATES

POLL_INTERVAL_SECONDS = 30.0


@dataclass(frozen=True)
class Recovery:
    pipeline: str
    failed_job: str
    replacement_job: str
    died_at: float  # monotonic
    failed_job_launched_at: float
    replacement_launched_at: float
    replacement_running_at: float

    @property
    def seconds(self) -> float:
        """Job death to replacement RUNNING."""
        return self.replacement_running_at - self.died_at

    @property
    def startup_seconds(self) -> float:
        """Replacement launch accepted to RUNNING (identical for both designs)."""
        return self.replacement_running_at - self.replacement_launched_at

    def polling_seconds(self, interval: float = POLL_INTERVAL_SECONDS) -> float:
        return polling_recovery(self.died_at, self.failed_job_launched_at, self.startup_seconds, interval)


def next_poll_tick(died_at: float, launched_at: float, interval: float = POLL_INTERVAL_SECONDS) -> float:
    """The first poll after the death: ticks at ``launched_at + k * interval`` for k >= 1."""
    k = max(1, math.floor((died_at - launched_at) / interval) + 1)
    return launched_at + k * interval


def polling_recovery(
    died_at: float, launched_at: float, startup_seconds: float, interval: float = POLL_INTERVAL_SECONDS
) -> float:
    """Death -> replacement RUNNING under polling: wait for the next tick, then the same startup."""
    return next_poll_tick(died_at, launched_at, interval) - died_at + startup_seconds


def polling_detection(
    states: Sequence[tuple[float, str]], launched_at: float, until: float, interval: float = POLL_INTERVAL_SECONDS
) -> float | None:
    """The poll tick at which the original workflow would see the job terminal; None if none up to ``until``.

    ``states`` are the job's own state changes ``(time, state)`` in time order (what ``jobs.get``
    would return after each); the workflow polls at ``launched_at + k * interval`` (k >= 1) and
    acts only on a terminal state.  A stalled job stays RUNNING, so no tick ever sees it end.
    """
    k = 1
    while (tick := launched_at + k * interval) <= until:
        seen = [state for at, state in states if at < tick]  # a change at the tick itself is seen next time
        if seen and seen[-1] in TERMINAL_STATES:
            return tick
        k += 1
    return None


def p50(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
