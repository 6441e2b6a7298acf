"""Dead letters as numbered chunk rows: no row over a size limit, the exact payload recoverable.

A Pub/Sub message may carry up to 10 MB, and its base64 in one row could exceed what one
Storage Write API request may carry (``pipelines/common/write_limits.py``).  So the sink writes
every dead letter as ``chunk_count`` rows, chunk ``chunk_index`` holding bytes
``[i * size, (i + 1) * size)`` of the payload in base64, all carrying the payload's sha256 and
the same metadata.  Reassembly takes one row per index (delivery is at-least-once: a chunk may
repeat) and checks the sha256, so a lost or mixed chunk is reported, never silently returned.

Rows written before chunking have no chunk fields: each is a whole payload (index 0 of 1).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipelines.common.write_limits import DEAD_LETTER_CHUNK_BYTES

CHUNK_FIELDS = ("chunk_index", "chunk_count", "payload_sha256")  # added by chunk_rows, set on every chunk row


def split_payload(payload: bytes, chunk_bytes: int = DEAD_LETTER_CHUNK_BYTES) -> list[bytes]:
    """``payload`` cut into pieces of ``chunk_bytes`` (the last may be shorter); one empty piece for b""."""
    if chunk_bytes < 1:
        raise ValueError("chunk_bytes must be positive")
    return [payload[i : i + chunk_bytes] for i in range(0, len(payload), chunk_bytes)] or [b""]


def chunk_rows(row: Mapping[str, Any], chunk_bytes: int = DEAD_LETTER_CHUNK_BYTES) -> list[dict]:
    """One logical dead letter (``payload_base64`` = the whole payload) -> its chunk rows.

    Only chunk 0 keeps ``payload_text`` (the readable excerpt); every chunk keeps the metadata,
    so a query on message_id or event_key finds all of them.
    """
    payload = base64.b64decode(row["payload_base64"])
    digest = hashlib.sha256(payload).hexdigest()
    pieces = split_payload(payload, chunk_bytes)
    return [
        {
            **row,
            "payload_base64": base64.b64encode(piece).decode("ascii"),
            "payload_text": row.get("payload_text") if i == 0 else None,
            "chunk_index": i,
            "chunk_count": len(pieces),
            "payload_sha256": digest,
        }
        for i, piece in enumerate(pieces)
    ]


@dataclass
class Reassembled:
    """The payload of one dead letter put back together from its chunk rows."""

    sha256: str
    chunk_count: int
    rows: list[dict]  # one row per chunk index present, in order
    payload: bytes | None  # None when a chunk is missing or the sha256 does not match
    missing: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.payload is not None

    @property
    def first(self) -> dict:
        """Chunk 0 (or the first present): the dead letter's metadata."""
        return self.rows[0]


def _index(row: Mapping[str, Any]) -> tuple[int, int]:
    index, count = row.get("chunk_index"), row.get("chunk_count")
    return (0, 1) if index is None else (int(index), int(count or 1))


def reassemble(rows: Iterable[Mapping[str, Any]]) -> list[Reassembled]:
    """Group chunk rows by payload (sha256) and rebuild each payload, verified byte-exact.

    Rows of several deliveries of the same payload merge (their chunks are identical); rows of
    different payloads (e.g. two refused versions of a row) come back as separate results.
    """
    groups: dict[str, dict[int, dict]] = {}
    counts: dict[str, int] = {}
    for row in rows:
        index, count = _index(row)
        digest = row.get("payload_sha256") or hashlib.sha256(base64.b64decode(row["payload_base64"])).hexdigest()
        groups.setdefault(digest, {}).setdefault(index, dict(row))
        counts[digest] = max(counts.get(digest, 0), count)
    out = []
    for digest, by_index in groups.items():
        count = counts[digest]
        missing = [i for i in range(count) if i not in by_index]
        payload = None
        if not missing:
            data = b"".join(base64.b64decode(by_index[i]["payload_base64"]) for i in range(count))
            payload = data if hashlib.sha256(data).hexdigest() == digest else None
        out.append(Reassembled(digest, count, [by_index[i] for i in sorted(by_index)], payload, missing))
    return out
