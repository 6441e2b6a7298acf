"""Create the local resources from the same definitions terraform uses.

Topics and subscriptions come from ``config/system.json``; tables from
``pipelines.tables`` (which also generates terraform's schemas).  Used by the
demo and the integration tests against the emulators.
"""

from __future__ import annotations

import contextlib

from google.api_core.exceptions import AlreadyExists
from google.cloud import bigquery, pubsub_v1

from pipelines import bq, system, tables


def _ensure_topic_and_subscription(
    publisher: pubsub_v1.PublisherClient,
    subscriber: pubsub_v1.SubscriberClient,
    topic: str,
    subscription: str,
    **subscription_fields: object,
) -> None:
    """Create the topic and its subscription unless they exist (idempotent, like terraform)."""
    with contextlib.suppress(AlreadyExists):
        publisher.create_topic(name=topic)
    with contextlib.suppress(AlreadyExists):
        subscriber.create_subscription(name=subscription, topic=topic, **subscription_fields)


def create_pubsub(project: str, *, suffix: str = "", ack_deadline_seconds: int = 60) -> dict[str, dict[str, str]]:
    """Topics and pull subscriptions for every pipeline; returns {pipeline: {topic, subscription}} paths."""
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    out: dict[str, dict[str, str]] = {}
    try:
        for name, p in system.system()["pipelines"].items():
            topic = publisher.topic_path(project, p["topic"] + suffix)
            sub = subscriber.subscription_path(project, p["subscription"] + suffix)
            _ensure_topic_and_subscription(publisher, subscriber, topic, sub, ack_deadline_seconds=ack_deadline_seconds)
            out[name] = {"topic": topic, "subscription": sub}
    finally:
        subscriber.close()
    return out


def create_push_subscription(
    project: str, topic: str, subscription: str, endpoint: str, *, ack_deadline_seconds: int = 30
) -> str:
    """A topic whose messages a push subscription POSTs to ``endpoint`` (locally, Eventarc's part); returns it."""
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    topic_path = publisher.topic_path(project, topic)
    try:
        _ensure_topic_and_subscription(
            publisher,
            subscriber,
            topic_path,
            subscriber.subscription_path(project, subscription),
            push_config=pubsub_v1.types.PushConfig(push_endpoint=endpoint),
            ack_deadline_seconds=ack_deadline_seconds,
        )
    finally:
        subscriber.close()
    return topic_path


def create_dataset_and_tables(project: str, dataset: str | None = None) -> str:
    """The dataset and every table of ``pipelines.tables``, partitioned and clustered; returns ``project.dataset``."""
    dataset = dataset or system.dataset()
    client = bq.make_client(project)
    client.create_dataset(f"{project}.{dataset}", exists_ok=True)
    for spec in tables.TABLES:
        table = bigquery.Table(
            f"{project}.{dataset}.{spec.table_id}",
            schema=[bigquery.SchemaField.from_api_repr(f) for f in spec.schema()],
        )
        table.time_partitioning = bigquery.TimePartitioning(field=spec.partition_field)
        table.clustering_fields = list(spec.clustering)
        table.description = spec.description
        client.create_table(table, exists_ok=True)
    return f"{project}.{dataset}"
