"""Beam transforms both pipelines share: read, parse+validate with a dead-letter output, dedup, windowing.

The shape of every pipeline::

    ReadMessages -> ParseAndValidate --(main)--------> fact rows ------> fact table (every delivery)
                                     \\--(dead_letter)-> dead-letter table
                    fact rows -> DropRedeliveries -> WindowInto -> CombinePerKey -> ToWindowRows -> aggregate tables

Two dedup layers, because Pub/Sub and relaunches deliver at least once:

1. In the pipeline, :class:`DropRedeliveries` drops a repeated ``event_key`` for
   ``DEDUP_SECONDS`` of processing time *before* the aggregates, so live windows
   count each event once (redeliveries and publisher retries arrive within minutes).
2. The fact tables keep every delivery with its ``event_key`` (and use it as the
   streaming insert id); the base views deduplicate on it.  That also covers what
   in-pipeline state cannot: a relaunched job starts with empty state.
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

DEAD_LETTER = "dead_letter"
# How long the pipeline remembers an event_key: covers Pub/Sub redelivery after a missed ack
# deadline and publisher retries; older duplicates are left to the views.
DEDUP_SECONDS = 10 * 60

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
    """Stateful: emits the first value per key, drops repeats until a processing-time timer forgets the key."""

    SEEN = userstate.BagStateSpec("seen", BooleanCoder())
    FORGET = userstate.TimerSpec("forget", TimeDomain.REAL_TIME)

    def __init__(self, pipeline: str, ttl_seconds: int) -> None:
        self.ttl_seconds = ttl_seconds
        self.duplicates = Metrics.counter(pipeline, "duplicates_dropped")

    def process(
        self,
        element: tuple[str, Any],
        seen: userstate.AccumulatingRuntimeState = beam.DoFn.StateParam(SEEN),  # noqa: B008 - Beam's idiom
        forget: userstate.RuntimeTimer = beam.DoFn.TimerParam(FORGET),  # noqa: B008
    ) -> Iterable[Any]:
        if any(seen.read()):
            self.duplicates.inc()
            return
        seen.add(True)
        forget.set(Timestamp.now() + Duration(seconds=self.ttl_seconds))
        yield element[1]

    @userstate.on_timer(FORGET)
    def forget_key(
        self,
        seen: userstate.AccumulatingRuntimeState = beam.DoFn.StateParam(SEEN),  # noqa: B008
    ) -> None:
        seen.clear()


class DropRedeliveries(beam.PTransform):
    """Fact rows with each ``event_key`` once per ``ttl_seconds`` (element timestamps are kept)."""

    def __init__(self, pipeline: str, ttl_seconds: int = DEDUP_SECONDS) -> None:
        super().__init__()
        self.pipeline = pipeline
        self.ttl_seconds = ttl_seconds

    def expand(self, rows: beam.PCollection) -> beam.PCollection:
        return (
            rows
            # A str key gets a deterministic coder, which keyed state requires.
            | "KeyByEventKey" >> beam.Map(lambda row: (row["event_key"], row)).with_output_types(tuple[str, dict])
            | "DropRepeatedKeys" >> beam.ParDo(_DropRepeatedKeys(self.pipeline, self.ttl_seconds))
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
    """(key tuple, sums tuple) of one pane -> an aggregate row with its window and pane (contracts.WINDOW_FIELDS)."""

    def __init__(
        self, key_fields: tuple[str, ...], value_fields: tuple[str, ...], clock: Callable[[], datetime] = utc_now
    ) -> None:
        self.key_fields = key_fields
        self.value_fields = value_fields
        self.clock = clock

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
        }
        row.update(zip(self.key_fields, key, strict=True))
        for name, value in zip(self.value_fields, sums, strict=True):
            row[name] = str(value) if isinstance(value, Decimal) else value
        yield row


class WindowedSums(beam.PTransform):
    """Rows -> (key, values) -> per-window sums -> aggregate rows."""

    def __init__(
        self,
        key_fields: tuple[str, ...],
        value_fields: tuple[str, ...],
        key_values: Callable[[dict], Iterable[tuple[tuple, tuple]]],
        window_seconds: int,
        allowed_lateness_seconds: int,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        super().__init__()
        self.key_fields = key_fields
        self.value_fields = value_fields
        self.key_values = key_values
        self.window_seconds = window_seconds
        self.allowed_lateness_seconds = allowed_lateness_seconds
        self.clock = clock

    def expand(self, rows: beam.PCollection) -> beam.PCollection:
        return (
            rows
            | "KeyValues" >> beam.FlatMap(self.key_values)
            | "Window" >> event_time_windows(self.window_seconds, self.allowed_lateness_seconds)
            | "Sum" >> beam.CombinePerKey(SumTuples())
            | "ToRows" >> beam.ParDo(ToWindowRows(self.key_fields, self.value_fields, self.clock))
        )
