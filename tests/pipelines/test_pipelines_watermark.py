"""Dedup holds no watermark: a window's ON_TIME pane fires when the watermark passes its end.

Beam's hold rule (``apache_beam/runners/worker/bundle_processor.py``, ``Timer.set``:
``hold_timestamp = ts if is_event_time(...) else self._input_timestamp``): a processing-time
timer holds the output watermark at its input element's timestamp until it fires, an
event-time timer at its own fire time. Dataflow applies holds; the DirectRunner does not
(checked here: a processing-time timer per key leaves its panes on time under TestStream), so
the TestStream tests below prove the pane timing with dedup in the path, and
:func:`test_every_timer_in_the_graph_is_event_time` proves the rule the DirectRunner cannot
show: no timer in either pipeline can hold the watermark behind the element it guards.
"""

from __future__ import annotations

from datetime import timedelta

import apache_beam as beam
import pytest
from apache_beam.io.gcp.pubsub import PubsubMessage
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream as EventStream  # not collected as a test class
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import userstate, window
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.utils.timestamp import Timestamp
from hypothesis import given
from hypothesis import strategies as st
from pipeline_support import NOW, order

from pipelines import contracts, generator, validation
from pipelines.common.transforms import FixedClock, window_expiry
from pipelines.orders import pipeline as orders
from pipelines.shipping import pipeline as shipping

CLOCK = FixedClock(NOW)
WINDOW = 60
LATENESS = 120


def _msg(i: int, event: dict) -> PubsubMessage:
    return PubsubMessage(generator.encode(event), {}, message_id=f"m-{i}", publish_time=NOW)


def _ts(t) -> Timestamp:
    return Timestamp.from_utc_datetime(t)


def _streaming() -> PipelineOptions:
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    return options


def _panes(rows: beam.PCollection, label: str) -> beam.PCollection:
    """(window_start, pane_timing, order_count) of every revenue pane."""
    return rows | label >> beam.Map(lambda r: (r["window_start"], r["pane_timing"], r["order_count"]))


def test_on_time_pane_fires_when_the_watermark_passes_the_end_with_dedup_in_the_path() -> None:
    """Redeliveries before the window closes are dropped; the ON_TIME pane holds exactly the on-time
    events. A pane fired later (a held watermark) would also contain the element that arrives after
    the watermark passed the end; here that element makes a separate LATE pane."""
    w_start = NOW - timedelta(minutes=10)
    w_end = w_start + timedelta(seconds=WINDOW)
    on_time = [_msg(i, order(i, w_start + timedelta(seconds=5 * i), currency="EUR")) for i in range(3)]
    copies = [PubsubMessage(m.data, {}, message_id=f"copy-{m.message_id}", publish_time=NOW) for m in on_time]
    after_close = _msg(9, order(9, w_start + timedelta(seconds=50), currency="EUR"))
    stream = (
        EventStream()
        .advance_watermark_to(_ts(w_start))
        .add_elements([*on_time, *copies])
        .advance_watermark_to(_ts(w_end))  # the end itself: the window is [start, end)
        .add_elements([after_close, PubsubMessage(after_close.data, {}, "copy-late", NOW)])
        .advance_watermark_to_infinity()
    )
    start = validation.format_timestamp(w_start)
    with TestPipeline(options=_streaming()) as p:
        out = orders.expand(p | stream, WINDOW, LATENESS, CLOCK)
        assert_that(_panes(out["order_revenue"], "Panes"), equal_to([(start, "ON_TIME", 3), (start, "LATE", 4)]))


def test_an_accepted_old_event_does_not_delay_the_on_time_pane() -> None:
    """An event 20 days old (accepted: contracts.MAX_PAST_AGE is 30 days) arrives while the window is
    open. Its own window expired long ago; the current window's ON_TIME pane still fires when the
    watermark passes its end (the element after that is a LATE pane, not part of the ON_TIME one)."""
    assert timedelta(days=20) < contracts.MAX_PAST_AGE
    w_start = NOW - timedelta(minutes=10)
    w_end = w_start + timedelta(seconds=WINDOW)
    old = _msg(1, order(1, NOW - timedelta(days=20), currency="EUR"))
    current = [_msg(i, order(i, w_start + timedelta(seconds=i), currency="EUR")) for i in (2, 3)]
    after_close = _msg(4, order(4, w_start + timedelta(seconds=40), currency="EUR"))
    stream = (
        EventStream()
        .advance_watermark_to(_ts(w_start))
        .add_elements([current[0], old, current[1]])
        .advance_watermark_to(_ts(w_end + timedelta(seconds=1)))
        .add_elements([after_close])
        .advance_watermark_to_infinity()
    )
    start = validation.format_timestamp(w_start)
    with TestPipeline(options=_streaming()) as p:
        out = orders.expand(p | stream, WINDOW, LATENESS, CLOCK)
        current_panes = _panes(out["order_revenue"], "Panes") | beam.Filter(lambda pane: pane[0] == start)
        assert_that(current_panes, equal_to([(start, "ON_TIME", 2), (start, "LATE", 3)]))
        assert_that(
            out["orders"] | beam.Map(lambda r: r["message_id"]), equal_to(["m-1", "m-2", "m-3", "m-4"]), "facts"
        )


def _dofns(module) -> list[beam.DoFn]:
    p = TestPipeline()
    module.expand(p | beam.Create([]), WINDOW, LATENESS, CLOCK)
    found: list[beam.DoFn] = []

    class Visitor(beam.pipeline.PipelineVisitor):
        def visit_transform(self, node) -> None:
            if isinstance(node.transform, beam.ParDo):
                found.append(node.transform.fn)

    p.visit(Visitor())
    return found


@pytest.mark.parametrize("module", [orders, shipping])
def test_every_timer_in_the_graph_is_event_time(module) -> None:
    """Fails for the former dedup (a REAL_TIME timer per key): by Beam's hold rule such a timer holds
    the watermark at its input element's timestamp on Dataflow."""
    timers = [spec for fn in _dofns(module) for spec in userstate.get_dofn_specs(fn)[1]]
    assert timers, "the dedup step clears its state with a timer"
    assert {t.time_domain for t in timers} == {TimeDomain.WATERMARK}


@given(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.sampled_from([1, 60, 3600]),
    st.integers(min_value=0, max_value=30 * 86400),
)
def test_the_dedup_timer_never_holds_before_the_end_of_its_window(micros: int, size: int, lateness: int) -> None:
    """An event-time timer holds at its fire time: the expiry is never earlier than the window's last
    instant, so the hold cannot keep that window's ON_TIME pane (or any later window's) waiting."""
    ts = Timestamp(micros=micros)
    win = window.FixedWindows(size).assign(window.WindowFn.AssignContext(ts))[0]
    expiry = window_expiry(win, lateness)
    assert expiry >= win.max_timestamp() >= ts
    assert expiry - win.max_timestamp() == lateness
