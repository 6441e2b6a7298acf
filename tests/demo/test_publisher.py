"""The demo's publisher: pause() is a barrier, which the kill-at-a-quiescent-moment logic relies on."""

from __future__ import annotations

import time

import pytest
from google.cloud import pubsub_v1

from localdev.publisher import RatePublisher
from pipelines import generator, validation

pytestmark = pytest.mark.emulators


def test_nothing_is_published_after_pause_returns(pubsub_emulator, project, unique_suffix):
    """Pause at many moments of a fast stream; after each pause() returns the count must not move.

    Before pause() waited for the publish in flight, a message sleeping in its rate slot was still
    published right after the pause: the demo could then kill a job that had just pulled it.
    """
    client = pubsub_v1.PublisherClient()
    topic = client.create_topic(name=client.topic_path(project, f"pause-{unique_suffix}")).name
    messages = [m for m in generator.generate(5, 200) if m.pipeline == "orders"][:150]
    publisher = RatePublisher({"orders": topic}, messages, rate=40).start()
    try:
        for _ in range(12):
            time.sleep(0.05)
            publisher.pause()
            frozen = len(publisher.published["orders"])
            time.sleep(0.15)  # several rate slots
            assert len(publisher.published["orders"]) == frozen
            publisher.resume()
        publisher.done.wait(timeout=30)
    finally:
        publisher.stop()
    assert publisher.error is None
    assert len(publisher.published["orders"]) == len(messages)
    # Each message id with its payload's event_key, for the conservation check.
    assert list(publisher.published["orders"].values()) == [validation.event_key(m.data) for m in messages]
    # Each message id with the time its publish was confirmed, in publish order (the Monitoring stand-in's input).
    ids = list(publisher.published["orders"])
    times = [publisher.publish_times[i] for i in ids]
    assert set(publisher.publish_times) == set(ids) and times == sorted(times)
