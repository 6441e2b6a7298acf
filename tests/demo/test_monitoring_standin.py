"""The local Cloud Monitoring stand-in: signal evaluation (pure, property-tested) and its notifications.

The condition's rule is Cloud Monitoring's for a threshold condition with a duration (retest
window): open once every sample over the duration is above the threshold, close when the
condition is no longer met (localdev/monitoring_standin.py cites the pages).  The properties
below state that rule over maximal runs of samples above the threshold, a different shape
from the incremental :func:`step`, so a slip in either shows.
"""

from __future__ import annotations

import base64
import json

import pytest
from google.cloud import pubsub_v1
from hypothesis import given, settings
from hypothesis import strategies as st

from localdev import monitoring_standin as ms
from pipelines import system
from relauncher import incidents
from relauncher.events import MESSAGE_PUBLISHED

THRESHOLD, DURATION = 9.0, 6.0
COND = ms.Condition("orders", ms.SIGNAL, "m", "pubsub_subscription", THRESHOLD, DURATION)


def _series(gaps: list[float], values: list[float]) -> list[tuple[float, float]]:
    t, out = 1_000.0, []
    for gap, value in zip(gaps, values, strict=False):
        t += gap
        out.append((t, value))
    return out


samples = st.lists(
    st.tuples(
        st.floats(min_value=0.1, max_value=5.0),
        st.one_of(st.floats(min_value=0.0, max_value=THRESHOLD), st.floats(min_value=THRESHOLD, max_value=60.0)),
    ),
    max_size=80,
).map(lambda pairs: _series([g for g, _ in pairs], [v for _, v in pairs]))


def _runs(series: list[tuple[float, float]]) -> list[tuple[int, int]]:
    """Maximal runs [i, j) of consecutive samples strictly above the threshold."""
    runs, i = [], 0
    while i < len(series):
        if series[i][1] > THRESHOLD:
            j = i
            while j < len(series) and series[j][1] > THRESHOLD:
                j += 1
            runs.append((i, j))
            i = j
        else:
            i += 1
    return runs


@settings(max_examples=300, deadline=None)
@given(samples)
def test_an_incident_opens_exactly_when_a_run_above_the_threshold_lasts_the_duration(series):
    transitions = ms.evaluate(COND, series)
    expected = []
    for i, j in _runs(series):
        start = series[i][0]
        opening = next((k for k in range(i, j) if series[k][0] - start >= DURATION), None)
        if opening is None:
            continue  # a spike that recovered within the duration: nothing opens
        expected.append(ms.Transition("open", series[opening][0], series[opening][1], series[opening][0]))
        if j < len(series):  # the first sample not above the threshold closes it
            expected.append(ms.Transition("closed", series[j][0], series[j][1], series[opening][0]))
    assert transitions == expected
    assert [t.state for t in transitions] == ["open", "closed"] * (len(transitions) // 2) + (
        ["open"] if len(transitions) % 2 else []
    )


@settings(max_examples=200, deadline=None)
@given(
    before=st.lists(st.floats(min_value=0.0, max_value=THRESHOLD), max_size=10),
    spike=st.lists(st.floats(min_value=THRESHOLD + 0.001, max_value=1e6), min_size=1, max_size=10),
    after=st.lists(st.floats(min_value=0.0, max_value=THRESHOLD), min_size=1, max_size=10),
)
def test_a_spike_that_recovers_within_the_duration_never_opens(before, spike, after):
    # The spike's samples are spread over less than the duration, however high they go.
    gap = (DURATION - 0.01) / max(1, len(spike) - 1) if len(spike) > 1 else 1.0
    series = _series(
        [1.0] * len(before) + [1.0] + [gap] * (len(spike) - 1) + [1.0] * len(after), before + spike + after
    )
    assert ms.evaluate(COND, series) == []


def test_a_sustained_backlog_opens_once_renotifies_and_closes_when_it_drains():
    cond = ms.Condition.from_settings("orders", ms.detection_settings(0.01))
    spec = system.system()["stall_detection"]["signals"][ms.SIGNAL]
    assert (cond.threshold_seconds, cond.duration_seconds) == (
        spec["threshold_seconds"] * 0.01,
        spec["duration_seconds"] * 0.01,
    )
    series = [(float(t), max(0.0, t - 10.0)) for t in range(0, 40)] + [(40.0, 0.0)]
    opened, closed = ms.evaluate(cond, series)
    # age > threshold from t = 10 + threshold on; open once it has stayed there for the duration
    first_above = next(t for t, v in series if v > cond.threshold_seconds)
    assert opened.state == "open" and opened.at == pytest.approx(first_above + cond.duration_seconds, abs=1.0)
    assert closed == ms.Transition("closed", 40.0, 0.0, opened.at)


@settings(max_examples=200, deadline=None)
@given(
    times=st.dictionaries(st.text(min_size=1, max_size=4), st.floats(min_value=0, max_value=1e4), max_size=20),
    data=st.data(),
)
def test_oldest_unacked_age_is_the_oldest_unwritten_publish(times, data):
    unacked = data.draw(st.sets(st.sampled_from(sorted(times))) if times else st.just(set()))
    now = 2e4
    age = ms.oldest_unacked_age(now, times, unacked | {"never-published"})
    assert age == (now - min(times[m] for m in unacked) if unacked else 0.0)
    fewer = set(list(unacked)[: len(unacked) // 2])
    assert ms.oldest_unacked_age(now, times, fewer) <= age  # writing messages never makes it older


def _notification(pipeline: str, state: str, *, started_at: float, ended_at: float | None, observed: float):
    """A notification of the stand-in at the demo's scale (threshold 9 s, duration 6 s)."""
    return ms.notification(
        ms.Condition.from_settings(pipeline, ms.detection_settings(0.01)),
        incident="0.abcdefghijkl",
        project="p",
        subscription_id=f"{pipeline}-analytics_x",
        state=state,
        started_at=started_at,
        ended_at=ended_at,
        observed_value=observed,
    )


def test_notification_is_the_documented_shape():
    opened = _notification("shipping", "open", started_at=1_700_000_000.7, ended_at=None, observed=12.5)
    assert opened["version"] == "1.2"
    inc = opened["incident"]
    assert (inc["incident_id"], inc["scoping_project_id"], inc["state"]) == ("0.abcdefghijkl", "p", "open")
    assert (inc["started_at"], inc["ended_at"]) == (1_700_000_000, None)
    assert (inc["observed_value"], inc["threshold_value"]) == ("12.500", "9")
    assert inc["resource"] == {
        "type": "pubsub_subscription",
        "labels": {"project_id": "p", "subscription_id": "shipping-analytics_x"},
    }
    assert inc["metric"]["type"] == "pubsub.googleapis.com/subscription/oldest_unacked_message_age"
    assert inc["policy_user_labels"] == {"pipeline": "shipping", "signal": "oldest_unacked_message_age"}
    assert inc["condition"]["conditionThreshold"]["duration"] == "6s"
    assert inc["condition_name"] == inc["condition"]["displayName"]
    assert "above the threshold of 9" in inc["summary"]
    json.dumps(opened)  # plain JSON


@pytest.mark.parametrize("state", ["open", "closed"])
def test_the_relauncher_parses_what_the_stand_in_publishes(state):
    """The stand-in's notification goes through the function's strict parser unchanged."""
    ended_at = 1_700_000_042 if state == "closed" else None
    payload = _notification("orders", state, started_at=1_700_000_000, ended_at=ended_at, observed=15.25)
    event = {"message": {"data": base64.b64encode(json.dumps(payload).encode()).decode(), "messageId": "1"}}
    attributes = {"id": "1", "type": MESSAGE_PUBLISHED}
    incident = incidents.parse_cloud_event(attributes, event)
    assert isinstance(incident, incidents.Incident)
    assert (incident.pipeline, incident.signal, incident.state) == ("orders", ms.SIGNAL, state)
    assert (incident.observed_value, incident.threshold_value) == (15.25, 9.0)
    assert incident.resource_labels["subscription_id"] == "orders-analytics_x"
    assert incident.duration_seconds == (42.0 if state == "closed" else None)


@pytest.mark.emulators
def test_the_stand_in_publishes_open_renotify_close_to_the_alerts_topic(pubsub_emulator, project, unique_suffix):
    """Against the Pub/Sub emulator: what the relauncher's second trigger would receive, in order."""
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    detection = ms.detection_settings(0.01)  # threshold 9 s, duration 6 s, re-notify every 18 s
    topic = publisher.topic_path(project, f"{detection['alerts_topic']}-{unique_suffix}")
    sub = subscriber.subscription_path(project, f"alerts-{unique_suffix}")
    publisher.create_topic(name=topic)
    subscriber.create_subscription(name=sub, topic=topic)

    clock = {"t": 1_800_000_000.0}
    ages = iter([0.0, 5.0, 10.0, 12.0, 14.0, 16.0, 30.0, 40.0, 50.0, 60.0, 0.0])
    cond = ms.Condition.from_settings("orders", detection)
    standin = ms.MonitoringStandIn(
        project,
        [ms.Watch(cond, "orders-analytics", lambda now: next(ages))],
        ms.pubsub_publisher(project, topic),
        renotify_seconds=detection["renotify_seconds"],
        sample_every=5.0,
        clock=lambda: clock["t"],
    )
    for _ in range(11):  # one sample every 5 s
        standin.sample_once()
        clock["t"] += 5.0
    assert [n.what for n in standin.notices] == ["opened", "renotified", "closed"]

    received = []
    while len(received) < 3:
        resp = subscriber.pull(subscription=sub, max_messages=10, timeout=30)
        received += [json.loads(m.message.data) for m in resp.received_messages]
        if resp.received_messages:
            subscriber.acknowledge(subscription=sub, ack_ids=[m.ack_id for m in resp.received_messages])
    received.sort(key=lambda p: (p["incident"]["state"] == "closed", p["incident"]["observed_value"]))
    states = [(p["incident"]["state"], p["incident"]["ended_at"]) for p in received]
    # above 9 from the third sample (t0 + 10 s): opens at t0 + 20 s (the run has lasted 10 s >= 6 s),
    # re-notifies at t0 + 40 s (>= 18 s later), closes at t0 + 50 s (age back to 0)
    t_open = 1_800_000_000 + 20
    assert states == [("open", None), ("open", None), ("closed", 1_800_000_000 + 50)]
    assert len({p["incident"]["incident_id"] for p in received}) == 1
    assert {p["incident"]["started_at"] for p in received} == {t_open}
    subscriber.close()
