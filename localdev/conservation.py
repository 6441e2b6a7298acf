"""Conservation: every published message ends as exactly one fact or one dead letter.

The check is keyed on ``event_key`` (sha256 of the payload), which every row carries
whatever the runner filled in, and uses the Pub/Sub message id only where a row has
one: Dataflow's native source may hand the pipeline messages without an id or publish
time (README "What Dataflow fills"), and those rows are still accounted for.

Each publish returns a message id; the publisher records it with the payload's
event_key.  A published message is *written* when a row carries its message id, or
when a row without a message id carries its event_key.  Then, per pipeline:

- ``distinct_facts``: distinct ``event_key`` in the fact table (what the deduplicated views count);
- ``duplicates``: published messages whose payload repeats a fact's (the generator's
  byte-identical republishes): they add no distinct fact;
- ``dead_letters``: published messages whose payload was dead-lettered;
- ``redelivered``: rows beyond one per published message of an event_key (at-least-once
  redelivery, harmless);
- ``missing`` / ``unknown``: published messages never written / rows no publish accounts for.

Conservation holds when ``distinct_facts + dead_letters + duplicates == published``,
nothing is missing or unknown, and each part equals what the generator planted.
Without message ids, a lost *byte-identical* republish cannot be told from its twin:
both carry the same event_key, so the check proves every distinct payload arrived.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

from google.cloud import bigquery

from pipelines import system

Row = tuple[str | None, str]  # (message_id or None, event_key) of one written row


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
    rows_without_message_id: int = 0

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


def unwritten(published: Mapping[str, str], fact_rows: Iterable[Row], dead_letter_rows: Iterable[Row]) -> set[str]:
    """Message ids of ``published`` (message id -> event_key) that no row accounts for yet."""
    rows = [*fact_rows, *dead_letter_rows]
    ids = {m for m, _ in rows if m}
    keys_without_id = {k for m, k in rows if not m}
    return {m for m, k in published.items() if m not in ids and k not in keys_without_id}


def tally(
    pipeline: str,
    published: Mapping[str, str],
    fact_rows: Iterable[Row],
    dead_letter_rows: Iterable[Row],
    expected: Mapping[str, int],
) -> Tally:
    """Count one pipeline from the published messages (message id -> event_key) and the rows written."""
    published = dict(published)
    facts, dead = list(fact_rows), list(dead_letter_rows)
    rows = facts + dead
    per_key = Counter(published.values())  # published messages per payload
    fact_keys = {k for _, k in facts}
    dead_keys = {k for _, k in dead}
    rows_per_key = Counter(k for _, k in rows)
    ids = {m for m, _ in rows if m}
    return Tally(
        pipeline=pipeline,
        published=len(published),
        written_rows=len(rows),
        distinct_facts=len(fact_keys),
        duplicates=sum(per_key[k] for k in fact_keys) - len(fact_keys & per_key.keys()),
        dead_letters=sum(per_key[k] for k in dead_keys),
        redelivered=sum(max(0, n - per_key[k]) for k, n in rows_per_key.items() if k in per_key),
        missing=len(unwritten(published, facts, dead)),
        unknown=len(ids - published.keys()) + len({k for m, k in rows if not m} - per_key.keys()),
        expected=dict(expected),
        rows_without_message_id=sum(1 for m, _ in rows if not m),
    )


def fact_table(pipeline: str) -> str:
    """The fact table a pipeline writes (``orders`` -> orders, ``shipping`` -> shipments)."""
    return system.table_name("orders" if pipeline == "orders" else "shipments")


def read_written(client: bigquery.Client, dataset: str, pipeline: str) -> tuple[list[Row], list[Row]]:
    """(fact rows, dead-letter rows) of one pipeline as (message_id or None, event_key), from BigQuery."""
    facts = client.query(f"SELECT message_id, event_key FROM `{dataset}.{fact_table(pipeline)}`").result()
    # A dead letter is chunk_count rows (pipelines/dead_letters.py): chunk 0 stands for it, once.
    # Rows written before chunking have no chunk_index and are whole.
    dead = client.query(
        f"SELECT message_id, event_key FROM `{dataset}.{system.table_name('dead_letter')}`"
        " WHERE pipeline = @p AND COALESCE(chunk_index, 0) = 0",
        job_config=bigquery.QueryJobConfig(query_parameters=[bigquery.ScalarQueryParameter("p", "STRING", pipeline)]),
    ).result()
    return [(r["message_id"], r["event_key"]) for r in facts], [(r["message_id"], r["event_key"]) for r in dead]


def unwritten_ids(client: bigquery.Client, dataset: str, pipeline: str, published: Mapping[str, str]) -> set[str]:
    """Message ids of ``published`` (message id -> event_key) not yet written by ``pipeline``, from BigQuery."""
    return unwritten(dict(published), *read_written(client, dataset, pipeline))
