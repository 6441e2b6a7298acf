"""Conservation: every published message ends as exactly one fact or one dead letter.

Each Pub/Sub publish returns a message id, and every row the pipelines write
carries the message id it came from, so the check is exact:

- ``distinct_facts``: distinct ``event_key`` in the fact table (what the deduplicated views count);
- ``duplicates``: fact deliveries of an already-seen ``event_key`` under another message id
  (the generator's byte-identical republishes);
- ``dead_letters``: distinct message ids in the dead-letter table for the pipeline;
- ``redelivered``: extra rows of a message id already written (at-least-once redelivery, harmless);
- ``missing`` / ``unknown``: published ids never written / written ids never published.

Conservation holds when ``distinct_facts + dead_letters + duplicates == published``,
nothing is missing or unknown, and each part equals what the generator planted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

from google.cloud import bigquery

from pipelines import system


@dataclass(frozen=True)
class Tally:
    pipeline: str
    published: int
    written_rows: int
    distinct_facts: int
    duplicates: int
    dead_letters: int
    redelivered: int
    missing: int
    unknown: int
    expected: Mapping[str, int]

    @property
    def ok(self) -> bool:
        return (
            self.distinct_facts + self.dead_letters + self.duplicates == self.published
            and self.missing == 0
            and self.unknown == 0
            and self.distinct_facts == self.expected.get("facts")
            and self.dead_letters == self.expected.get("dead_letters")
            and self.duplicates == self.expected.get("duplicates")
        )

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def tally(
    pipeline: str,
    published_ids: Iterable[str],
    fact_rows: Iterable[tuple[str, str]],
    dead_letter_ids: Iterable[str],
    expected: Mapping[str, int],
) -> Tally:
    """Count one pipeline from the published ids, the fact rows (message_id, event_key) and the dead-letter ids."""
    published = set(published_ids)
    facts = list(fact_rows)
    dead = list(dead_letter_ids)
    fact_ids = {m for m, _ in facts}
    dead_ids = set(dead)
    keys = {k for _, k in facts}
    written_ids = fact_ids | dead_ids
    return Tally(
        pipeline=pipeline,
        published=len(published),
        written_rows=len(facts) + len(dead),
        distinct_facts=len(keys),
        duplicates=len(fact_ids) - len(keys),
        dead_letters=len(dead_ids),
        redelivered=(len(facts) - len(fact_ids)) + (len(dead) - len(dead_ids)) + len(fact_ids & dead_ids),
        missing=len(published - written_ids),
        unknown=len(written_ids - published),
        expected=dict(expected),
    )


def fact_table(pipeline: str) -> str:
    """The fact table a pipeline writes (``orders`` -> orders, ``shipping`` -> shipments)."""
    return system.table_name("orders" if pipeline == "orders" else "shipments")


def read_written(client: bigquery.Client, dataset: str, pipeline: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(fact rows as (message_id, event_key), dead-letter message ids) of one pipeline, from BigQuery."""
    facts = client.query(f"SELECT message_id, event_key FROM `{dataset}.{fact_table(pipeline)}`").result()
    dead = client.query(
        f"SELECT message_id FROM `{dataset}.{system.table_name('dead_letter')}` WHERE pipeline = @p",
        job_config=bigquery.QueryJobConfig(query_parameters=[bigquery.ScalarQueryParameter("p", "STRING", pipeline)]),
    ).result()
    return [(r["message_id"], r["event_key"]) for r in facts], [r["message_id"] for r in dead]


def written_ids(client: bigquery.Client, dataset: str, pipeline: str) -> set[str]:
    facts, dead = read_written(client, dataset, pipeline)
    return {m for m, _ in facts} | set(dead)
