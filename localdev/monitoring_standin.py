"""A local stand-in for Cloud Monitoring: the stall signal, its alert condition, Pub/Sub notifications.

Cloud Monitoring has no emulator.  For the demo it does three things, each after the
documented behaviour, and nothing more:

1. **Measure** ``pubsub.googleapis.com/subscription/oldest_unacked_message_age`` of a
   pipeline's subscription from the local stack: the age of the oldest message that was
   published and has not reached a table yet (neither a fact nor a dead letter),
   :func:`oldest_unacked_age`.  Locally "not written" stands for "not acknowledged":
   Beam's DirectRunner acknowledges on pull, Dataflow only once its checkpoint is durable,
   so "not written" is what Dataflow's metric would show (README "Stalled jobs").
2. **Evaluate** the alert condition of ``config/system.json`` ``stall_detection.signals``:
   ``COMPARISON_GT`` the threshold for the whole ``duration`` (the retest window): an
   incident opens when every sample over the duration was above the threshold, so a spike
   that recovers within the duration opens nothing; it closes when the condition is no
   longer met (https://cloud.google.com/monitoring/alerts/concepts-indepth, "Alignment
   periods and retest windows"; "Incidents and notifications").  Pure: :func:`step` and
   :func:`evaluate`.
3. **Notify** through a Pub/Sub notification channel: the documented notification JSON,
   schema ``"version": "1.2"`` with a top-level ``"incident"``
   (https://cloud.google.com/monitoring/support/notification-options, "Schema structure"
   for webhooks and Pub/Sub), published as the message data to the alerts topic
   (``stall_detection.alerts_topic``) when the incident opens, again every
   ``renotify_seconds`` while it stays open (``alert_strategy.notification_channel_strategy.
   renotify_interval``), and once when it closes (``state: "closed"``, ``ended_at`` set).
   Field values follow a real notification (``observed_value``/``threshold_value`` as
   strings, ``started_at``/``ended_at`` Unix seconds, ``ended_at`` null while open).

Durations come from ``stall_detection`` as the relauncher receives it, which the demo scales
by one factor (``pipelines.system.scale_stall_settings``): the threshold, the duration and the
re-notify interval; the demo samples every ``60 s x factor`` (Cloud Monitoring aligns the
metric over 60 s, terraform/stall_detection.tf ``ALIGN_MAX`` over ``60s``).
"""

from __future__ import annotations

import contextlib
import json
import random
import string
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pipelines import system
from relauncher import incidents

SCHEMA_VERSION = "1.2"
SIGNAL = "oldest_unacked_message_age"  # the one signal the local stack can measure
ALIGNMENT_SECONDS = 60.0  # terraform/stall_detection.tf aggregations.alignment_period
OPEN: Literal["open"] = "open"
CLOSED: Literal["closed"] = "closed"


# -- the condition ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Condition:
    """One alert policy's threshold condition, as terraform renders it from config/system.json."""

    pipeline: str
    signal: str
    metric_type: str
    resource_type: str
    threshold_seconds: float
    duration_seconds: float

    @classmethod
    def from_settings(cls, pipeline: str, detection: Mapping[str, Any], signal: str = SIGNAL) -> Condition:
        """From ``stall_detection`` as the relauncher receives it (``RELAUNCHER_CONFIG``, scaled by the demo)."""
        spec = detection["signals"][signal]
        return cls(
            pipeline=pipeline,
            signal=signal,
            metric_type=spec["metric_type"],
            resource_type=spec["resource_type"],
            threshold_seconds=float(spec["threshold_seconds"]),
            duration_seconds=float(spec["duration_seconds"]),
        )


def detection_settings(scale: float = 1.0) -> dict[str, Any]:
    """``stall_detection`` from config/system.json with every duration scaled by ``scale``
    (``pipelines.system.scale_stall_settings``, the demo's one scale factor)."""
    settings = {"pipelines": {}, "stall_detection": system.stall_detection_settings()}
    return system.scale_stall_settings(settings, scale)["stall_detection"]


@dataclass(frozen=True)
class ConditionState:
    """Where one condition stands between samples."""

    above_since: float | None = None  # first sample of the current unbroken run above the threshold
    opened_at: float | None = None  # the open incident's start (None: no incident open)


@dataclass(frozen=True)
class Transition:
    """An incident opened or closed at sample time ``at`` with the sampled ``value``."""

    state: Literal["open", "closed"]
    at: float
    value: float
    started_at: float  # the incident's start (equal to ``at`` when it opens)


def step(cond: Condition, state: ConditionState, at: float, value: float) -> tuple[ConditionState, Transition | None]:
    """Feed one sample to the condition; returns the new state and the transition it caused, if any.

    Above means strictly greater (``COMPARISON_GT``).  The incident opens at the first sample
    at which the unbroken run of samples above the threshold has lasted ``duration_seconds``;
    it closes at the first sample not above the threshold.
    """
    above = value > cond.threshold_seconds
    if state.opened_at is not None:
        if above:
            return state, None
        return ConditionState(), Transition(CLOSED, at, value, started_at=state.opened_at)
    if not above:
        return ConditionState(), None
    since = at if state.above_since is None else state.above_since
    if at - since >= cond.duration_seconds:
        return ConditionState(above_since=since, opened_at=at), Transition(OPEN, at, value, started_at=at)
    return replace(state, above_since=since), None


def evaluate(cond: Condition, samples: Iterable[tuple[float, float]]) -> list[Transition]:
    """All transitions a series of ``(time, value)`` samples (in time order) causes, from no incident."""
    state, out = ConditionState(), []
    for at, value in samples:
        state, transition = step(cond, state, at, value)
        if transition is not None:
            out.append(transition)
    return out


def oldest_unacked_age(now: float, publish_times: Mapping[str, float], unacked: Iterable[str]) -> float:
    """Age in seconds of the oldest unacknowledged message; 0 when nothing is waiting (as Pub/Sub reports)."""
    times = [publish_times[m] for m in unacked if m in publish_times]
    return max(0.0, now - min(times)) if times else 0.0


# -- the notification ------------------------------------------------------------------------------
def incident_id(rng: random.Random) -> str:
    """An id shaped like Cloud Monitoring's (``0.`` and 12 lowercase letters or digits)."""
    return "0." + "".join(rng.choices(string.ascii_lowercase + string.digits, k=12))


def _number(value: float) -> str:
    return f"{value:g}" if float(value).is_integer() else f"{value:.3f}"


def notification(
    cond: Condition,
    *,
    incident: str,
    project: str,
    subscription_id: str,
    state: Literal["open", "closed"],
    started_at: float,
    ended_at: float | None,
    observed_value: float,
) -> dict[str, Any]:
    """Cloud Monitoring's Pub/Sub notification JSON (schema 1.2) for an incident of ``cond``.

    The fields the relauncher reads come from the parser's own builder
    (``relauncher.incidents.notification``, so both sides of the interface change together);
    the rest is filled as a real notification has it, with the names and texts of
    terraform/stall_detection.tf (policy and condition display names, filter, aggregation).
    """
    threshold = _number(cond.threshold_seconds)
    duration = f"{_number(cond.duration_seconds)}s"
    policy_name = f"Ecommerce pipeline {cond.pipeline} stalled: {cond.signal}"
    condition_name = f"{cond.signal} of {cond.pipeline} above {threshold}s for {duration}"
    metric_display = "Oldest unacked message age"
    verb = (
        f"is above the threshold of {threshold} with a value of {observed_value:.3f}."
        if state == OPEN
        else f"returned to normal with a value of {observed_value:.3f}."
    )
    policy_id = f"{zlib.crc32(f'{cond.pipeline}.{cond.signal}'.encode()):019d}"  # stable, like a real id
    payload = incidents.notification(
        incident_id=incident,
        pipeline=cond.pipeline,
        signal=cond.signal,
        resource_type=cond.resource_type,
        resource_labels={"project_id": project, "subscription_id": subscription_id},
        metric_type=cond.metric_type,
        started_at=started_at,
        ended_at=None if state == OPEN else ended_at,
        project_id=project,
        policy_name=policy_name,
    )
    payload["incident"].update(
        {
            "url": f"https://console.cloud.google.com/monitoring/alerting/alerts/{incident}"
            f"?channelType=cloud-pubsub&project={project}",
            "severity": "Error",
            "summary": f"{metric_display} for {project} {subscription_id} {verb}",
            "apigee_url": "",
            "observed_value": f"{observed_value:.3f}",
            "threshold_value": threshold,
            "resource_type_display_name": "Cloud Pub/Sub Subscription",
            "resource_id": "",
            "resource_display_name": subscription_id,
            "resource_name": f"{project} {subscription_id}",
            "metric": {"type": cond.metric_type, "displayName": metric_display, "labels": {}},
            "metadata": {"system_labels": {}, "user_labels": {}},
            "condition": {
                "name": f"projects/{project}/alertPolicies/{policy_id}/conditions/{policy_id}",
                "displayName": condition_name,
                "conditionThreshold": {
                    "filter": f'metric.type = "{cond.metric_type}" AND resource.type = "{cond.resource_type}" '
                    f'AND resource.label.subscription_id = "{subscription_id}"',
                    "aggregations": [{"alignmentPeriod": "60s", "perSeriesAligner": "ALIGN_MAX"}],
                    "comparison": "COMPARISON_GT",
                    "thresholdValue": cond.threshold_seconds,
                    "duration": duration,
                    "trigger": {"count": 1},
                },
            },
            "condition_name": condition_name,
            "documentation": {
                "content": f"`{cond.signal}` of pipeline `{cond.pipeline}` stayed above {threshold}s for {duration}.",
                "mime_type": "text/markdown",
                "subject": f"Pipeline {cond.pipeline} stalled ({cond.signal})",
            },
        }
    )
    return payload


# -- the running stand-in --------------------------------------------------------------------------
@dataclass
class Watch:
    """One monitored subscription: its condition and how to measure its oldest unacked message age now."""

    condition: Condition
    subscription_id: str
    measure: Callable[[float], float]  # wall-clock time -> age in seconds
    state: ConditionState = field(default_factory=ConditionState)
    incident: str | None = None
    notified_at: float | None = None
    samples: list[tuple[float, float]] = field(default_factory=list)


@dataclass(frozen=True)
class Notice:
    """What the stand-in did: ``opened``, ``renotified`` or ``closed`` an incident (for the demo's timeline)."""

    what: str
    pipeline: str
    incident_id: str
    at: float  # wall clock
    value: float
    payload: dict[str, Any]


Listener = Callable[[Notice], None]


class MonitoringStandIn:
    """Samples every watch, evaluates its condition, publishes notifications to the alerts topic.

    ``publish(payload)`` sends one notification (the demo: a Pub/Sub publish to the alerts
    topic, from which a push subscription delivers it to the relauncher, as Eventarc's
    second trigger does in the cloud).
    """

    def __init__(
        self,
        project: str,
        watches: Sequence[Watch],
        publish: Callable[[dict[str, Any]], None],
        *,
        renotify_seconds: float,
        sample_every: float,
        clock: Callable[[], float] = time.time,
        listener: Listener | None = None,
        seed: int | None = None,
    ) -> None:
        self.project = project
        self.watches = list(watches)
        self.publish = publish
        self.renotify_every = renotify_seconds
        self.sample_every = sample_every
        self.clock = clock
        self.listener = listener
        self.notices: list[Notice] = []
        self.error: BaseException | None = None
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="monitoring-standin", daemon=True)

    def start(self) -> MonitoringStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def sample_once(self) -> list[Notice]:
        """Measure every watch once and publish what its condition calls for."""
        out = []
        for w in self.watches:
            now = self.clock()
            value = w.measure(now)
            w.samples.append((now, value))
            w.state, transition = step(w.condition, w.state, now, value)
            if transition is not None and transition.state == OPEN:
                w.incident = incident_id(self._rng)
                out.append(self._notify("opened", w, now, value, started_at=transition.started_at, ended_at=None))
            elif transition is not None:
                out.append(self._notify("closed", w, now, value, started_at=transition.started_at, ended_at=now))
                w.incident = None
            elif self._renotify_due(w, now):
                out.append(self._notify("renotified", w, now, value, started_at=w.state.opened_at, ended_at=None))
        return out

    def _renotify_due(self, w: Watch, now: float) -> bool:
        """An open incident is re-notified ``renotify_seconds`` after its last notification."""
        return (
            w.state.opened_at is not None and w.notified_at is not None and now - w.notified_at >= self.renotify_every
        )

    def _notify(
        self, what: str, w: Watch, now: float, value: float, *, started_at: float, ended_at: float | None
    ) -> Notice:
        assert w.incident is not None
        payload = notification(
            w.condition,
            incident=w.incident,
            project=self.project,
            subscription_id=w.subscription_id,
            state=CLOSED if what == "closed" else OPEN,
            started_at=started_at,
            ended_at=ended_at,
            observed_value=value,
        )
        self.publish(payload)
        w.notified_at = now
        notice = Notice(what, w.condition.pipeline, w.incident, now, value, payload)
        self.notices.append(notice)
        if self.listener is not None:
            with contextlib.suppress(Exception):
                self.listener(notice)
        return notice

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sample_once()
            except Exception as exc:  # a failed measurement is reported once, sampling goes on
                if self.error is None:
                    self.error = exc
                    print(f"monitoring stand-in: {type(exc).__name__}: {exc}", file=sys.stderr)
            self._stop.wait(self.sample_every)


def pubsub_publisher(project: str, topic: str) -> Callable[[dict[str, Any]], None]:
    """``publish`` for :class:`MonitoringStandIn`: the JSON as message data, as the Pub/Sub channel sends it."""
    from google.cloud import pubsub_v1

    client = pubsub_v1.PublisherClient()
    path = topic if topic.startswith("projects/") else client.topic_path(project, topic)

    def publish(payload: dict[str, Any]) -> None:
        client.publish(path, json.dumps(payload).encode()).result(timeout=30)

    return publish
