"""Publish sample events from the seeded generator to a pipeline's topic."""

from __future__ import annotations

from collections import Counter

from google.cloud import pubsub_v1

from pipelines import generator, system


def pipeline_for_topic(topic: str) -> str:
    """The pipeline reading a topic (``orders`` -> orders, ``shipments`` -> shipping)."""
    for name, p in system.system()["pipelines"].items():
        if p["topic"] == topic or name == topic:
            return name
    raise KeyError(f"no pipeline reads topic {topic!r}")


def publish_sample(project: str, topic: str, count: int, *, seed: int = 7) -> Counter:
    """Publish ``count`` generated messages of the topic's pipeline; returns counts by expected outcome."""
    pipeline = pipeline_for_topic(topic)
    n_orders = max(4, count)
    messages = [m for m in generator.generate(seed, n_orders) if m.pipeline == pipeline][:count]
    publisher = pubsub_v1.PublisherClient()
    path = publisher.topic_path(project, system.system()["pipelines"][pipeline]["topic"])
    futures = [publisher.publish(path, m.data, **m.attributes) for m in messages]
    for f in futures:
        f.result(timeout=60)
    return Counter("duplicate" if m.duplicate else m.expected for m in messages)
