"""``python -m ops dead-letter show|replay``: one dead letter, reassembled and verified, printed or republished.

A dead letter is stored as numbered chunk rows (``pipelines/dead_letters.py``); these commands
find them by Pub/Sub message id or, when the runner left the id empty, by event_key (sha256 of
the payload), put the payload back together and check its sha256 before anything is shown or
sent.  ``replay`` publishes the exact bytes with the original attributes to the pipeline's topic,
so the pipeline decides again (a fixed validator accepts it; otherwise it is dead-lettered again).
A ``sink_rejected`` dead letter is not replayable: its payload is the row BigQuery refused, not
the Pub/Sub message.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from google.cloud import bigquery

from pipelines import dead_letters, system, validation


class DeadLetterError(RuntimeError):
    """Nothing (or nothing whole) to show or replay; the message says why."""


def find(client: bigquery.Client, project: str, dataset: str, *, message_id: str | None, event_key: str | None):
    """The chunk rows of the dead letters matching a message id or an event key, reassembled."""
    if (message_id is None) == (event_key is None):
        raise ValueError("give exactly one of message_id, event_key")
    column, value = ("message_id", message_id) if message_id is not None else ("event_key", event_key)
    sql = (
        f"SELECT * FROM `{project}.{dataset}.{system.table_name('dead_letter')}` WHERE {column} = @v"
        " ORDER BY dead_letter_time, chunk_index"
    )
    config = bigquery.QueryJobConfig(query_parameters=[bigquery.ScalarQueryParameter("v", "STRING", value)])
    rows = [dict(r) for r in client.query(sql, job_config=config).result()]
    if not rows:
        raise DeadLetterError(f"no dead letter with {column} {value}")
    return dead_letters.reassemble(rows)


def describe(letter: dead_letters.Reassembled) -> str:
    """Metadata and the payload (text when it is UTF-8, else base64), with the verification result."""
    first = letter.first
    lines = [
        f"{k}: {first.get(k)}"
        for k in (
            "pipeline",
            "message_id",
            "event_key",
            "publish_time",
            "missing_metadata",
            "attributes",
            "error_reason",
            "error_field",
            "error_detail",
            "dead_letter_time",
        )
    ]
    lines.append(f"chunks: {len(letter.rows)} of {letter.chunk_count}")
    lines.append(f"payload_sha256: {letter.sha256}")
    if not letter.ok:
        why = f"chunks missing: {letter.missing}" if letter.missing else "sha256 mismatch"
        lines.append(f"payload: NOT RECOVERABLE ({why})")
        return "\n".join(lines)
    payload = letter.payload or b""
    lines.append(f"payload ({len(payload)} bytes, sha256 verified):")
    try:
        lines.append(payload.decode("utf-8"))
    except UnicodeDecodeError:
        lines.append("(not UTF-8; base64 follows)")
        lines.append(base64.b64encode(payload).decode("ascii"))
    return "\n".join(lines)


def replayable(letters: list[dead_letters.Reassembled]) -> dead_letters.Reassembled:
    """The one whole, verified message payload to republish; raises with the reason otherwise."""
    whole = [letter for letter in letters if letter.ok]
    if not whole:
        raise DeadLetterError(
            "no complete, verified payload: " + "; ".join(f"{x.sha256} missing {x.missing}" for x in letters)
        )
    messages = [letter for letter in whole if letter.first["error_reason"] != validation.SINK_REJECTED]
    if not messages:
        raise DeadLetterError(
            "sink_rejected: the payload is the row BigQuery refused, not the Pub/Sub message; fix the table or the"
            " row and insert it, or replay the original message from its publisher"
        )
    if len({m.sha256 for m in messages}) > 1:
        raise DeadLetterError("several different payloads match; use --event-key to pick one")
    return messages[0]


def attributes_of(row: Mapping[str, Any]) -> dict[str, str]:
    return json.loads(row["attributes"]) if row.get("attributes") else {}


def replay(publisher: Any, project: str, letter: dead_letters.Reassembled) -> str:
    """Publish the exact payload with its attributes to the topic of the pipeline that dead-lettered it."""
    pipeline = letter.first["pipeline"]
    topic = publisher.topic_path(project, system.system()["pipelines"][pipeline]["topic"])
    return publisher.publish(topic, letter.payload, **attributes_of(letter.first)).result(timeout=60)
