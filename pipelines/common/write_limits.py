"""Every size, count and retry bound of the sink, in one place, each with the rule it stays under.

Request size: "The size of a single AppendRowsRequest must be less than 10 MB in size. Requests
larger than this return an error, typically INVALID_ARGUMENT."
(https://cloud.google.com/python/docs/reference/bigquerystorage/latest/google.cloud.bigquery_storage_v1.types.AppendRowsRequest,
and the Storage Write API limits in https://cloud.google.com/bigquery/quotas#write-api-limits).
The pinned client library (google-cloud-bigquery-storage 2.43.0, ``types/storage.py``) now says
"less than 20 MB"; the sink keeps to the older, stricter 10 MB, which bqemulator also enforces
(as 10 MiB, RESOURCE_EXHAUSTED).  10 MB is read as 10,000,000 bytes; the request metadata (stream name,
writer schema) counts too, which is why the sink plans with a margin below it (one client measured
the overhead at about 30 KiB on a wide table:
https://github.com/artie-labs/transfer/pull/741).

Row size: the Storage Write API documents no per-row limit of its own beyond the request limit
(a row must fit one request); the legacy insertAll path documented 10 MB per row
(https://cloud.google.com/bigquery/quotas#streaming_inserts).  The sink's rows stay far below
both: fact rows come from messages of at most ``contracts.MAX_MESSAGE_BYTES`` (64 KiB), and a dead
letter is split into chunk rows of ``DEAD_LETTER_CHUNK_BYTES``.

Rows per request: no documented limit; ``MAX_ROWS_PER_REQUEST`` bounds memory and the work one
failed request repeats.
"""

from __future__ import annotations

APPEND_ROWS_REQUEST_LIMIT_BYTES = 10_000_000  # documented: "less than 10 MB"
MAX_REQUEST_BYTES = 9 * 1024 * 1024  # what the sink sends at most: 9 MiB = 9,437,184 B, 562,816 B of margin
MAX_ROWS_PER_REQUEST = 1_000
DEAD_LETTER_CHUNK_BYTES = 768 * 1024  # raw payload bytes per dead-letter row: 1 MiB once in base64

# Transient failures: bounded exponential backoff, then the bundle fails and the runner retries it.
MAX_ATTEMPTS = 6  # one try and five retries of the same request
BACKOFF_INITIAL_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 16.0
REQUEST_TIMEOUT_SECONDS = 120.0

assert MAX_REQUEST_BYTES < APPEND_ROWS_REQUEST_LIMIT_BYTES
assert DEAD_LETTER_CHUNK_BYTES * 4 // 3 + 64 * 1024 < MAX_REQUEST_BYTES  # a chunk row always fits a request


def backoff_seconds(retry: int) -> float:
    """Delay before retry number ``retry`` (1, 2, ...): doubling from the initial delay, capped."""
    return min(BACKOFF_MAX_SECONDS, BACKOFF_INITIAL_SECONDS * 2 ** (retry - 1))
