"""Beam transforms both pipelines share: read, parse+validate with a dead-letter output, dedup, windowing.

The shape of every pipeline::

    ReadMessages -> ParseAndValidate --(main)--------> fact rows ------> fact table (every delivery)
                                     \\--(dead_letter)-> dead-letter table
                    fact rows -> DropRedeliveries (windows, then dedup) -> WindowedSums -> aggregate tables

Two dedup layers, because Pub/Sub and relaunches deliver at least once:

1. In the pipeline, :class:`DropRedeliveries` drops a repeated ``event_key`` within its
   event-time window, for as long as the window accepts data, so live windows count each
   event once. Its state is cleared by an event-time timer, which holds no watermark back
   (see :class:`_DropRepeatedKeys`).
2. The fact tables keep every delivery with its ``event_key``; the base views deduplicate
   on it, and the ``*_by_window_current`` views compute every window's value from the
   deduplicated facts. That covers what in-pipeline state cannot: a relaunched job
   starts with empty state (README, "Aggregates across relaunches").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import apache_beam as beam
from apache_beam.coders import BooleanCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms import trigger, userstate, window
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.utils.timestamp import Duration, Timestamp
from apache_beam.utils.windowed_value import PaneInfoTiming

from pipelines import validation
from pipelines.common import job_identity

DEAD_LETTER = "dead_letter"

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


class FixedClock:
    """A clock that always says ``at``: makes time bounds and ``emitted_at`` deterministic in tests."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


class ReadMessages(beam.PTransform):
    """Pub/Sub messages from a subscription, with attributes and whatever message id and publish time
    the runner fills in (Dataflow's native source may leave them empty: README "What Dataflow fills").

    A subscription, never a topic: it outlives the job, so a relaunch resumes at the
    first unacknowledged message instead of at "now".
    """

    def __init__(self, subscription: str) -> None:
        super().__init__()
        self.subscription = subscription

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        return pbegin | "ReadFromPubSub" >> beam.io.ReadFromPubSub(subscription=self.subscription, with_attributes=True)


class ParseAndValidate(beam.DoFn):
    """Message -> fact row (main output, timestamped with its event_time) or dead-letter row (tagged).

    Never raises on input: a contract violation is an InvalidEvent with its reason, and
    any other exception (a bug meeting an input nobody foresaw) is dead-lettered as
    ``unexpected_error`` and logged, so a poison message cannot stall the job.  A message
    without a message id or publish time is processed like any other; its row names what
    was missing and ``messages_without_metadata`` counts it.
    """

    def __init__(self, pipeline: str, clock: Callable[[], datetime] = utc_now) -> None:
        self.pipeline = pipeline
        self.clock = clock
        self.validate = validation.VALIDATORS[pipeline]
        self.read = Metrics.counter(pipeline, "read")
        self.valid = Metrics.counter(pipeline, "valid")
        self.dead_lettered = Metrics.counter(pipeline, "dead_lettered")
        self.without_metadata = Metrics.counter(pipeline, "messages_without_metadata")

    def process(self, message: Any) -> Iterable[Any]:
        self.read.inc()
        now = self.clock()
        try:
            event = self.validate(message.data, now)
            row = validation.to_fact_row(event, message, now)
            ts = datetime.fromisoformat(row["event_time"]).timestamp()
        except validation.InvalidEvent as e:
            yield self._dead_letter(message, e, now)
            return
        except Exception as e:
            log.exception(
                "unexpected error validating a message",
                extra={"pipeline": self.pipeline, "message_id": getattr(message, "message_id", None)},
            )
            error = validation.InvalidEvent(validation.UNEXPECTED_ERROR, None, f"{type(e).__name__}: {e}")
            yield self._dead_letter(_as_message(message), error, now)
            return
        self.valid.inc()
        if row["missing_metadata"]:
            self.without_metadata.inc()
        yield window.TimestampedValue(row, ts)

    def _dead_letter(self, message: Any, error: validation.InvalidEvent, now: datetime) -> beam.pvalue.TaggedOutput:
        row = validation.to_dead_letter_row(self.pipeline, message, error, now)
        self.dead_lettered.inc()
        if row["missing_metadata"]:
            self.without_metadata.inc()
        return beam.pvalue.TaggedOutput(DEAD_LETTER, row)


class _Raw:
    """Stand-in message for an element that is not a PubsubMessage (only reachable through a bug)."""

    def __init__(self, element: Any) -> None:
        self.data = element if isinstance(element, bytes) else repr(element).encode()
        self.attributes = None
        self.message_id = None
        self.publish_time = None


def _as_message(element: Any) -> Any:
    return element if hasattr(element, "data") and isinstance(element.data, bytes | None) else _Raw(element)


class _DropRepeatedKeys(beam.DoFn):
    """Stateful, per (event_key, window): emits the first copy, drops the rest until the window expires.

    Why keyed per window and cleared by an *event-time* timer: in the Python SDK a timer
    holds the output watermark until it fires, at its own fire time when it is an
    event-time timer and at the *input element's timestamp* otherwise
    (``apache_beam/runners/worker/bundle_processor.py``, ``Timer.set``:
    ``hold_timestamp = ts if is_event_time(...) else self._input_timestamp``; the same rule is
    checked in /work/shared/README.md). A processing-time timer per key therefore kept every
    window's ON_TIME pane waiting on Dataflow for the timer's delay, and a trickle of accepted
    old events pinned the watermark in the past. This timer fires at the window's expiry
    (``max_timestamp + allowed lateness``, the instant after which Beam drops the window's
    data anyway), so its hold is never earlier than the end of the window it guards: the
    downstream ON_TIME pane fires as soon as the watermark passes the window's end.

    Duplicates carry the same payload, hence the same event time and the same window, so
    per-window state sees every copy that could still change an aggregate. What it cannot
    see (a copy after a relaunch, which starts with empty state) the views deduplicate.
    """

    SEEN = userstate.ReadModifyWriteStateSpec("seen", BooleanCoder())
    EXPIRE = userstate.TimerSpec("expire", TimeDomain.WATERMARK)

    def __init__(self, pipeline: str, allowed_lateness_seconds: int) -> None:
        self.allowed_lateness_seconds = allowed_lateness_seconds
        self.duplicates = Metrics.counter(pipeline, "duplicates_dropped")

    def process(
        self,
        element: tuple[str, Any],
        win: window.BoundedWindow = beam.DoFn.WindowParam,
        seen: userstate.ReadModifyWriteRuntimeState = beam.DoFn.StateParam(SEEN),  # noqa: B008 - Beam's idiom
        expire: userstate.RuntimeTimer = beam.DoFn.TimerParam(EXPIRE),  # noqa: B008
    ) -> Iterable[Any]:
        if seen.read():
            self.duplicates.inc()
            return
        seen.write(True)
        expire.set(window_expiry(win, self.allowed_lateness_seconds))
        yield element[1]

    @userstate.on_timer(EXPIRE)
    def forget_key(
        self,
        seen: userstate.ReadModifyWriteRuntimeState = beam.DoFn.StateParam(SEEN),  # noqa: B008
    ) -> None:
        seen.clear()


def window_expiry(win: window.BoundedWindow, allowed_lateness_seconds: int) -> Timestamp:
    """The last event time at which ``win`` still accepts data: Beam's garbage-collection time of the window."""
    return win.max_timestamp() + Duration(seconds=allowed_lateness_seconds)


class DropRedeliveries(beam.PTransform):
    """Fact rows -> the same rows in their event-time windows (:func:`event_time_windows`), each
    ``event_key`` once per window (element timestamps are kept)."""

    def __init__(self, pipeline: str, window_seconds: int, allowed_lateness_seconds: int) -> None:
        super().__init__()
        self.pipeline = pipeline
        self.window_seconds = window_seconds
        self.allowed_lateness_seconds = allowed_lateness_seconds

    def expand(self, rows: beam.PCollection) -> beam.PCollection:
        return (
            rows
            | "Window" >> event_time_windows(self.window_seconds, self.allowed_lateness_seconds)
            # A str key gets a deterministic coder, which keyed state requires.
            | "KeyByEventKey" >> beam.Map(lambda row: (row["event_key"], row)).with_output_types(tuple[str, dict])
            | "DropRepeatedKeys" >> beam.ParDo(_DropRepeatedKeys(self.pipeline, self.allowed_lateness_seconds))
        )


def event_time_windows(window_seconds: int, allowed_lateness_seconds: int) -> beam.WindowInto:
    """Fixed event-time windows: one ON_TIME pane when the watermark passes the end, then a LATE pane
    per late element within the allowed lateness, accumulating, so the latest pane is the full answer.

    Data later than that is not counted in the aggregate (Beam drops it from the window) but is
    never lost: its fact row was written before the window (see the README).
    """
    return beam.WindowInto(
        window.FixedWindows(window_seconds),
        trigger=trigger.AfterWatermark(late=trigger.AfterCount(1)),
        accumulation_mode=trigger.AccumulationMode.ACCUMULATING,
        allowed_lateness=Duration(seconds=allowed_lateness_seconds),
    )


class SumTuples(beam.CombineFn):
    """Element-wise sum of equal-length tuples of numbers (ints and Decimals stay exact)."""

    def create_accumulator(self) -> tuple:
        return ()

    def add_input(self, acc: tuple, value: tuple) -> tuple:
        return tuple(a + v for a, v in zip(acc, value, strict=True)) if acc else tuple(value)

    def merge_accumulators(self, accs: Iterable[tuple]) -> tuple:
        out: tuple = ()
        for acc in accs:
            out = self.add_input(out, acc) if acc else out
        return out

    def extract_output(self, acc: tuple) -> tuple:
        return acc


class ToWindowRows(beam.DoFn):
    """(key tuple, sums tuple) of one pane -> an aggregate row: window, pane and job (contracts.WINDOW_FIELDS)."""

    def __init__(
        self,
        pipeline: str,
        key_fields: tuple[str, ...],
        value_fields: tuple[str, ...],
        clock: Callable[[], datetime] = utc_now,
        job_name: str | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.key_fields = key_fields
        self.value_fields = value_fields
        self.clock = clock
        self.job_name = job_name
        self.job: dict[str, Any] = {}

    def setup(self) -> None:
        # On the worker: Dataflow's JOB_ID / JOB_NAME environment (see pipelines/common/job_identity.py).
        self.job = job_identity.current(self.pipeline, self.job_name).row_fields()

    def process(
        self,
        element: tuple[tuple, tuple],
        win: window.BoundedWindow = beam.DoFn.WindowParam,
        pane: Any = beam.DoFn.PaneInfoParam,
    ) -> Iterable[dict]:
        key, sums = element
        row: dict[str, Any] = {
            "window_start": validation.format_timestamp(win.start.to_utc_datetime(has_tz=True)),
            "window_end": validation.format_timestamp(win.end.to_utc_datetime(has_tz=True)),
            "pane_timing": PaneInfoTiming.to_string(pane.timing),
            "pane_index": pane.index,
            "emitted_at": validation.format_timestamp(self.clock()),
            **self.job,
        }
        row.update(zip(self.key_fields, key, strict=True))
        for name, value in zip(self.value_fields, sums, strict=True):
            row[name] = str(value) if isinstance(value, Decimal) else value
        yield row


class WindowedSums(beam.PTransform):
    """Windowed rows (from :class:`DropRedeliveries`) -> (key, values) -> per-window sums -> aggregate rows."""

    def __init__(
        self,
        pipeline: str,
        key_fields: tuple[str, ...],
        value_fields: tuple[str, ...],
        key_values: Callable[[dict], Iterable[tuple[tuple, tuple]]],
        clock: Callable[[], datetime] = utc_now,
        job_name: str | None = None,
    ) -> None:
        super().__init__()
        self.pipeline = pipeline
        self.key_fields = key_fields
        self.value_fields = value_fields
        self.key_values = key_values
        self.clock = clock
        self.job_name = job_name

    def expand(self, rows: beam.PCollection) -> beam.PCollection:
        return (
            rows
            | "KeyValues" >> beam.FlatMap(self.key_values)
            | "Sum" >> beam.CombinePerKey(SumTuples())
            | "ToRows"
            >> beam.ParDo(ToWindowRows(self.pipeline, self.key_fields, self.value_fields, self.clock, self.job_name))
        )
