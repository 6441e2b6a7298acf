"""The BigQuery sink both pipelines use, on Dataflow and against the local emulator alike.

Why not ``beam.io.WriteToBigQuery``: its streaming-insert path builds an apitools
client with a fixed endpoint and asks for credentials, which hangs in an OAuth
prompt against the emulator.  This DoFn calls the same ``tabledata.insertAll`` API
(streaming inserts) through google-cloud-bigquery, whose client comes from
``pipelines.bq.make_client`` and honours ``BIGQUERY_EMULATOR_HOST``: one code path,
tested locally, deployed unchanged.

Guarantees:
- Rows are buffered per bundle and flushed at ``batch_size`` and in ``finish_bundle``,
  so a bundle only commits after its rows, dead letters included, are in BigQuery.
  On Dataflow the Pub/Sub ack follows that commit, so a killed job loses nothing:
  its replacement reads the unacked messages from the same subscription.  The local
  DirectRunner acks as soon as it pulls (see the README's demo section), which is why
  the demo lets a job write what it pulled before it kills it.
- Transient errors raise: the runner retries the bundle; insert ids make the retry
  idempotent in BigQuery (best effort) and the views dedup the rest.
- A row BigQuery refuses (``insertErrors``) is not dropped and does not stall the job:
  it goes to the dead-letter table with reason ``sink_rejected`` and BigQuery's errors.
  Only if the dead-letter table refuses it too does the bundle fail, loudly.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
import orjson
from apache_beam.metrics import Metrics

from pipelines import bq, system, validation
from pipelines.common.options import split_dataset

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 500  # insertAll recommends <= 500 rows per request


def fact_row_id(row: dict) -> str:
    """Insert id of a fact row: its event_key, so BigQuery drops a redelivery (best effort)."""
    return row["event_key"]


def dead_letter_row_id(row: dict) -> str:
    """Insert id of a dead letter: one per delivery (a bundle retry repeats it; a second delivery does not).

    Without a message id (the runner may not fill it) every delivery of the same bytes and
    reason shares the id; BigQuery's dedup of it is best effort, and the conservation check
    counts by event_key then, so nothing depends on it.
    """
    return hashlib.sha256(
        f"{row['event_key']}|{row.get('message_id') or ''}|{row['error_reason']}".encode()
    ).hexdigest()


def window_row_id(key_fields: tuple[str, ...]) -> Callable[[dict], str]:
    """Insert id of an aggregate row: window, key and pane index identify a pane."""

    def row_id(row: dict) -> str:
        parts = [row["window_start"], str(row["pane_index"]), *(str(row[k]) for k in key_fields)]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()

    return row_id


def rejected_row_to_dead_letter(pipeline: str, table: str, row: dict, errors: list[dict], now: datetime) -> dict:
    """A dead-letter row for a row BigQuery refused: the row itself is the payload."""
    payload = orjson.dumps(row, default=str, option=orjson.OPT_SORT_KEYS)
    return {
        "pipeline": pipeline,
        "message_id": row.get("message_id"),
        "publish_time": row.get("publish_time"),
        "missing_metadata": row.get("missing_metadata") or [],
        "attributes": row.get("attributes"),
        "payload_base64": base64.b64encode(payload).decode("ascii"),
        "payload_text": payload[: validation.DEAD_LETTER_TEXT_BYTES].decode("utf-8", errors="replace"),
        "error_reason": validation.SINK_REJECTED,
        "error_field": table,
        "error_detail": orjson.dumps(errors, default=str).decode()[:4000],
        "event_key": row.get("event_key") or hashlib.sha256(payload).hexdigest(),
        "dead_letter_time": validation.format_timestamp(now),
    }


class WriteRows(beam.DoFn):
    """Streams rows into one table of ``output_dataset`` with stable insert ids."""

    def __init__(
        self,
        output_dataset: str,
        table_key: str,
        pipeline: str,
        row_id: Callable[[dict], str],
        batch_size: int = DEFAULT_BATCH_SIZE,
        client_factory: Callable[[str], Any] = bq.make_client,
    ) -> None:
        self.project, self.dataset = split_dataset(output_dataset)
        self.table_key = table_key
        self.pipeline = pipeline
        self.row_id = row_id
        self.batch_size = batch_size
        self.client_factory = client_factory
        self.written = Metrics.counter(pipeline, f"rows_written_{table_key}")
        self.rejected = Metrics.counter(pipeline, "rows_rejected_by_bigquery")

    def setup(self) -> None:
        self.client = self.client_factory(self.project)
        self.table = f"{self.project}.{self.dataset}.{system.table_name(self.table_key)}"
        self.dead_letter_table = f"{self.project}.{self.dataset}.{system.table_name('dead_letter')}"
        self.buffer: list[dict] = []

    def start_bundle(self) -> None:
        self.buffer = []

    def process(self, row: dict) -> None:
        self.buffer.append(row)
        if len(self.buffer) >= self.batch_size:
            self.flush()

    def finish_bundle(self) -> None:
        self.flush()

    def teardown(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()

    def flush(self) -> None:
        rows, self.buffer = self.buffer, []
        if not rows:
            return
        errors = self.client.insert_rows_json(
            self.table, rows, row_ids=[self.row_id(r) for r in rows], skip_invalid_rows=True
        )
        self.written.inc(len(rows) - len(errors))
        if not errors:
            return
        if self.table == self.dead_letter_table:
            raise RuntimeError(f"BigQuery refused dead-letter rows in {self.table}: {errors[:5]}")
        now = datetime.now(UTC)
        by_index = {e["index"]: e.get("errors", []) for e in errors}
        rejected = [
            rejected_row_to_dead_letter(self.pipeline, self.table, rows[i], errs, now) for i, errs in by_index.items()
        ]
        self.rejected.inc(len(rejected))
        log.error(
            "BigQuery rejected rows; written to the dead-letter table",
            extra={"pipeline": self.pipeline, "table": self.table, "rows": len(rejected), "errors": errors[:3]},
        )
        dl_errors = self.client.insert_rows_json(
            self.dead_letter_table, rejected, row_ids=[dead_letter_row_id(r) for r in rejected]
        )
        if dl_errors:
            raise RuntimeError(f"BigQuery refused rows and their dead letters: {errors[:3]} / {dl_errors[:3]}")


class WriteTable(beam.PTransform):
    """PTransform wrapper around :class:`WriteRows`, named after the table it writes."""

    def __init__(self, output_dataset: str, table_key: str, pipeline: str, row_id: Callable[[dict], str]) -> None:
        super().__init__()
        self.fn = WriteRows(output_dataset, table_key, pipeline, row_id)

    def expand(self, rows: beam.PCollection) -> beam.pvalue.PDone:
        rows | "Insert" >> beam.ParDo(self.fn)
        return beam.pvalue.PDone(rows.pipeline)
