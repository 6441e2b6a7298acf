"""Pure cost model: usage per month from stated assumptions, priced with :mod:`cost.prices`.

The original design keeps one Workflows execution per pipeline alive forever,
polling ``jobs.get`` every 30 seconds, so it pays for steps whether or not
anything happens.  This design pays only when a job changes state: one
function invocation and a few Firestore operations per status event, plus one
Workflows run for the first launch.  Every assumption is a named field so the
README table and ``make bench`` show exactly what was assumed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from cost import prices
from cost.prices import Price

DAYS_PER_MONTH = 365.25 / 12  # average month length in days


@dataclass(frozen=True)
class PollingAssumptions:
    pipelines: int = 2
    poll_interval_seconds: float = 30.0
    # One iteration of the original status-check subworkflow: call it, jobs.get, assign the state,
    # switch on it, sys.sleep, return, loop back.  ~10 internal steps per poll is also what the
    # article's own "17 to 18 USD per month" implies (17.5 USD / 0.01 USD * 1000 / 175k polls).
    steps_per_poll: int = 10
    days_per_month: float = DAYS_PER_MONTH


@dataclass(frozen=True)
class EventDrivenAssumptions:
    pipelines: int = 2
    failures_per_pipeline_month: float = 4.0  # pessimistic: a streaming job failing weekly
    deploys_per_pipeline_month: float = 2.0  # each update ends a job (UPDATED) and starts another
    status_events_per_job: float = 5.0  # e.g. QUEUED, PENDING, RUNNING, CANCELLING/DRAINING, terminal
    delivery_factor: float = 1.5  # at-least-once delivery: duplicates and retries
    function_seconds_per_event: float = 1.0  # billed time, includes the launch call on relaunches
    function_vcpu: float = 1.0
    function_gib: float = 0.5
    firestore_reads_per_event: float = 3.0  # pipeline doc, event doc, attempt doc
    firestore_writes_per_event: float = 3.0  # event doc, pipeline doc, attempt doc
    firestore_extra_writes_per_relaunch: float = 2.0  # completion transaction
    event_bytes: float = 2_048.0
    first_launch_runs_per_month: float = 1.0
    first_launch_steps_per_run: float = 40.0


@dataclass(frozen=True)
class LineItem:
    price: Price
    quantity: float

    def usd(self, *, with_free_tier: bool = False) -> float:
        return self.price.cost(self.quantity, with_free_tier=with_free_tier)


@dataclass(frozen=True)
class Estimate:
    design: str
    items: list[LineItem] = field(default_factory=list)

    def usd(self, *, with_free_tier: bool = False) -> float:
        return sum(i.usd(with_free_tier=with_free_tier) for i in self.items)


def polling_usage(a: PollingAssumptions) -> Estimate:
    """The original design: one polling loop per pipeline, every step billed."""
    polls = a.pipelines * a.days_per_month * 86_400 / a.poll_interval_seconds
    return Estimate("polling (original)", [LineItem(prices.WORKFLOWS_INTERNAL_STEP, polls * a.steps_per_poll)])


def event_driven_usage(a: EventDrivenAssumptions) -> Estimate:
    """This design: work only on job state changes."""
    jobs = a.pipelines * (1 + a.failures_per_pipeline_month + a.deploys_per_pipeline_month)
    events = jobs * a.status_events_per_job * a.delivery_factor
    relaunches = a.pipelines * a.failures_per_pipeline_month
    billed_seconds = events * a.function_seconds_per_event
    return Estimate(
        "event-driven (this)",
        [
            LineItem(prices.EVENTARC_GOOGLE_EVENT, events),
            LineItem(prices.PUBSUB_THROUGHPUT_TIB, events * max(a.event_bytes, 1_000) * 2 / 2**40),
            LineItem(prices.FUNCTION_REQUEST, events),
            LineItem(prices.FUNCTION_VCPU_SECOND, billed_seconds * a.function_vcpu),
            LineItem(prices.FUNCTION_GIB_SECOND, billed_seconds * a.function_gib),
            LineItem(prices.FIRESTORE_READ, events * a.firestore_reads_per_event),
            LineItem(
                prices.FIRESTORE_WRITE,
                events * a.firestore_writes_per_event + relaunches * a.firestore_extra_writes_per_relaunch,
            ),
            LineItem(prices.WORKFLOWS_INTERNAL_STEP, a.first_launch_runs_per_month * a.first_launch_steps_per_run),
        ],
    )


def compare(
    polling: PollingAssumptions | None = None, event_driven: EventDrivenAssumptions | None = None
) -> dict[str, float]:
    """The headline figures, at list price (no free tier) and with the free tiers applied."""
    p = polling_usage(polling or PollingAssumptions())
    e = event_driven_usage(event_driven or EventDrivenAssumptions())
    list_p, list_e = p.usd(), e.usd()
    return {
        "polling_cost_usd_month": list_p,
        "eventdriven_cost_usd_month": list_e,
        "orchestration_cost_ratio": list_p / list_e if list_e else float("inf"),
        "polling_cost_free_tier_usd_month": p.usd(with_free_tier=True),
        "eventdriven_cost_free_tier_usd_month": e.usd(with_free_tier=True),
    }


def assumptions_table() -> list[tuple[str, str, object]]:
    """(design, assumption, value) rows for the README and the bench output."""
    rows: list[tuple[str, str, object]] = []
    rows += [("polling", k, v) for k, v in asdict(PollingAssumptions()).items()]
    rows += [("event-driven", k, v) for k, v in asdict(EventDrivenAssumptions()).items()]
    return rows
