"""The BigQuery sink both pipelines use: the Storage Write API default stream, bounded, never stalling.

Why not ``beam.io.WriteToBigQuery(method=STORAGE_WRITE_API)``: in Python it is a cross-language
transform that needs a Java expansion service downloaded at launch (no internet for private
workers).  This DoFn calls ``BigQueryWriteClient.append_rows`` of google-cloud-bigquery-storage
directly, against BigQuery or bqemulator's gRPC Write API alike (``pipelines.bq.make_write_client``).

Guarantees (README "The sink: Storage Write API, bounded, never stalls"):
- At least once: rows are buffered per bundle and sent in ``finish_bundle`` at the latest, so a
  bundle commits (and Dataflow acks its Pub/Sub messages) only after its rows are in BigQuery.
  The default stream has no insert ids: a retried bundle may write a row twice; every view
  deduplicates on ``event_key``.
- Bounded requests: each AppendRows request stays within ``write_limits.MAX_REQUEST_BYTES`` and
  ``MAX_ROWS_PER_REQUEST``, below the documented 10 MB request limit; dead letters are split into
  chunk rows (``pipelines/dead_letters.py``), so no single row can exceed it.
- Transient failures (a whole request with a transient status, or row errors that are not
  ``FIELDS_ERROR``) are retried with bounded exponential backoff, then raise: the runner retries
  the bundle.  They are never dead-lettered.
- Invalid rows only (``RowError.FIELDS_ERROR``; a row that cannot be encoded for the table; a
  lone row a request is refused for with INVALID_ARGUMENT) go to the dead-letter table as
  ``sink_rejected`` with the error text.  A request with row errors appends nothing
  (https://cloud.google.com/java/docs/reference/google-cloud-bigquerystorage/latest/com.google.cloud.bigquery.storage.v1.AppendRowsResponse.Builder:
  "If a request failed due to corrupted rows, no rows in the batch will be appended"), so the
  other rows are sent again.  If the dead-letter table refuses a row the bundle fails, loudly.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
import grpc
import orjson
from apache_beam.metrics import Metrics

from pipelines import bq, dead_letters, system, tables, validation
from pipelines.common import storage_write, write_limits
from pipelines.common.options import split_dataset

log = logging.getLogger(__name__)

# Retried, then the bundle fails: the conditions a later attempt can clear.  The Storage Write API
# client's own default retries only UNAVAILABLE (bigquery_storage_v1 transports/base.py); Google's
# guidance on retryable codes (https://google.aip.dev/194) adds the rest for idempotent work, and a
# default-stream append is safe to repeat (at-least-once, deduplicated by the views).
TRANSIENT_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.UNKNOWN,
    }
)
# RowError.RowErrorCode.FIELDS_ERROR = 1, "One or more fields in the row has errors"
# (https://cloud.google.com/python/docs/reference/bigquerystorage/latest/google.cloud.bigquery_storage_v1.types.RowError);
# any other code (ROW_ERROR_CODE_UNSPECIFIED, or one added later) is not known to be the row's fault.
INVALID_ROW_CODES = frozenset({1})
_CODES_BY_NUMBER = {c.value[0]: c for c in grpc.StatusCode}


class TransientSinkError(RuntimeError):
    """Retries exhausted on a transient failure: the runner retries the bundle."""


class SinkError(RuntimeError):
    """A failure no retry of this request can fix (e.g. missing table, denied): the bundle fails."""


@dataclass(frozen=True)
class Verdict:
    """What one AppendRows outcome means for the rows of the request (indices into the request)."""

    written: bool = False
    retry: bool = False  # transient: send the remaining rows again after a backoff
    invalid_request: bool = False  # INVALID_ARGUMENT for the whole request: isolate the row
    fatal: bool = False
    invalid_rows: dict[int, str] = field(default_factory=dict)
    detail: str = ""


def judge_status(code: grpc.StatusCode | None, message: str) -> Verdict:
    """A whole-request failure: transient, the request's fault, or fatal."""
    detail = f"{code.name if code else 'UNKNOWN'}: {message}"
    if code is None or code in TRANSIENT_CODES:
        return Verdict(retry=True, detail=detail)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return Verdict(invalid_request=True, detail=detail)
    return Verdict(fatal=True, detail=detail)


def judge_response(response: Any, rows_sent: int) -> Verdict:
    """An AppendRowsResponse: appended, a whole-request error, or row errors (nothing appended)."""
    if response.row_errors:
        invalid = {}
        transient = []
        for e in response.row_errors:
            index = int(e.index)
            if not 0 <= index < rows_sent:
                return Verdict(fatal=True, detail=f"row error for row {index} of a {rows_sent}-row request")
            if int(e.code) in INVALID_ROW_CODES:
                invalid[index] = e.message
            else:
                transient.append(f"row {index}: {int(e.code)} {e.message}")
        return Verdict(retry=bool(transient), invalid_rows=invalid, detail="; ".join(transient[:3]))
    if response.error.code:
        return judge_status(_CODES_BY_NUMBER.get(response.error.code), response.error.message)
    return Verdict(written=True)


def rejected_row_to_dead_letter(pipeline: str, table: str, row: dict, error: str, now: datetime) -> dict:
    """A (logical, unchunked) dead-letter row for a row BigQuery refused: the row itself is the payload."""
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
        "error_detail": error[:4000],
        "event_key": row.get("event_key") or hashlib.sha256(payload).hexdigest(),
        "dead_letter_time": validation.format_timestamp(now),
    }


class TableWriter:
    """Thin adapter: AppendRows of serialized rows to one table's default stream, one request per call."""

    def __init__(self, client: Any, project: str, dataset: str, table_key: str) -> None:
        from google.cloud.bigquery_storage_v1 import types

        self.types = types
        self.client = client
        self.table_key = table_key
        self.codec = storage_write.RowCodec.for_fields(table_key, tables.BY_KEY[table_key].fields)
        self.stream = f"projects/{project}/datasets/{dataset}/tables/{system.table_name(table_key)}/streams/_default"
        empty = self.request([])
        # Bytes left for rows in one request: the limit minus the fixed part (stream name, schema).
        self.row_budget = (
            write_limits.MAX_REQUEST_BYTES
            - types.AppendRowsRequest.pb(empty).ByteSize()
            - storage_write.ENVELOPE_SLACK_BYTES
        )

    def request(self, rows: Sequence[bytes]) -> Any:
        t = self.types
        return t.AppendRowsRequest(
            write_stream=self.stream,
            proto_rows=t.AppendRowsRequest.ProtoData(
                writer_schema=t.ProtoSchema(proto_descriptor=self.codec.proto),
                rows=t.ProtoRows(serialized_rows=list(rows)),
            ),
        )

    def size(self, request: Any) -> int:
        """Serialized size of ``request`` in bytes: what the request limit applies to."""
        return self.types.AppendRowsRequest.pb(request).ByteSize()

    def append(self, request: Any) -> Any:
        """Send one request and return its response.  Raises GoogleAPICallError."""
        responses = self.client.append_rows(
            iter([request]),
            retry=None,  # retries are ours: bounded, and aware of row errors
            timeout=write_limits.REQUEST_TIMEOUT_SECONDS,
            metadata=(("x-goog-request-params", f"write_stream={self.stream}"),),
        )
        return next(iter(responses))


class WriteRows(beam.DoFn):
    """Appends the rows of one table of ``output_dataset``; dead-letters only the rows BigQuery refuses."""

    def __init__(
        self,
        output_dataset: str,
        table_key: str,
        pipeline: str,
        client_factory: Callable[[], Any] = bq.make_write_client,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.project, self.dataset = split_dataset(output_dataset)
        self.table_key = table_key
        self.pipeline = pipeline
        self.client_factory = client_factory
        self.sleep = sleep
        self.written = Metrics.counter(pipeline, f"rows_written_{table_key}")
        self.retried = Metrics.counter(pipeline, f"rows_retried_{table_key}")
        self.rejected = Metrics.counter(pipeline, "rows_rejected_by_bigquery")
        self.request_bytes = {  # per table written: this one, and the dead-letter table for refused rows
            key: Metrics.distribution(pipeline, f"request_bytes_{key}") for key in {table_key, "dead_letter"}
        }

    def setup(self) -> None:
        self.client = self.client_factory()
        self.writer = TableWriter(self.client, self.project, self.dataset, self.table_key)
        self.dead_letter_writer = (
            self.writer
            if self.table_key == "dead_letter"
            else TableWriter(self.client, self.project, self.dataset, "dead_letter")
        )
        self._reset()

    def _reset(self) -> None:
        self.rows: list[dict] = []
        self.encoded: list[bytes] = []
        self.buffered_bytes = 0
        self.refused: list[tuple[dict, str]] = []  # (row, why) refused before or by BigQuery

    def start_bundle(self) -> None:
        self._reset()

    def process(self, row: dict) -> None:
        for r in dead_letters.chunk_rows(row) if self.table_key == "dead_letter" else (row,):
            self._add(r)

    def _add(self, row: dict) -> None:
        try:
            data = self.writer.codec.encode(row)
        except storage_write.InvalidRow as e:
            self.refused.append((row, f"not encodable for {self.table_key}: {e}"))
            return
        size = storage_write.framed_size(len(data))
        if size > self.writer.row_budget:
            self.refused.append((row, f"row of {len(data)} B exceeds the request limit"))
            return
        if self.buffered_bytes + size > self.writer.row_budget or len(self.rows) >= write_limits.MAX_ROWS_PER_REQUEST:
            self.flush()
        self.rows.append(row)
        self.encoded.append(data)
        self.buffered_bytes += size

    def finish_bundle(self) -> None:
        self.flush()
        self.flush_refused()

    def teardown(self) -> None:
        transport = getattr(getattr(self, "client", None), "transport", None)
        if transport is not None:
            transport.close()

    def flush(self) -> None:
        """Send the buffer: one request, since :meth:`_add` flushes before it would outgrow one."""
        rows, encoded = self.rows, self.encoded
        self.rows, self.encoded, self.buffered_bytes = [], [], 0
        if encoded:
            refused = self.send(self.writer, encoded)
            self.refused.extend((rows[i], why) for i, why in refused.items())

    def flush_refused(self) -> None:
        """Refused rows -> chunked ``sink_rejected`` dead letters; refused dead letters fail the bundle."""
        refused, self.refused = self.refused, []
        if not refused:
            return
        table = f"{self.project}.{self.dataset}.{system.table_name(self.table_key)}"
        if self.table_key == "dead_letter":
            raise SinkError(f"BigQuery refused dead-letter rows in {table}: {[why for _, why in refused[:3]]}")
        self.rejected.inc(len(refused))
        log.error(
            "BigQuery refused rows; writing them to the dead-letter table",
            extra={
                "pipeline": self.pipeline,
                "table": table,
                "rows": len(refused),
                "errors": [w for _, w in refused[:3]],
            },
        )
        now = datetime.now(UTC)
        chunks = [
            c
            for row, why in refused
            for c in dead_letters.chunk_rows(rejected_row_to_dead_letter(self.pipeline, table, row, why, now))
        ]
        codec = self.dead_letter_writer.codec
        encoded = []
        for c in chunks:
            try:
                encoded.append(codec.encode(c))
            except storage_write.InvalidRow as e:
                raise SinkError(f"a sink_rejected dead letter does not fit its table: {e}") from e
        sizes = [storage_write.framed_size(len(e)) for e in encoded]
        budget = self.dead_letter_writer.row_budget
        for batch in storage_write.plan_requests(sizes, budget, write_limits.MAX_ROWS_PER_REQUEST):
            refused_again = self.send(self.dead_letter_writer, [encoded[i] for i in batch])
            if refused_again:
                raise SinkError(f"BigQuery refused rows and their dead letters: {list(refused_again.values())[:3]}")

    def send(self, writer: TableWriter, rows: list[bytes]) -> dict[int, str]:
        """Append ``rows`` until each is written or refused as invalid; returns index -> why refused.

        Transient failures back off and resend (``write_limits.MAX_ATTEMPTS`` tries of a request,
        then :class:`TransientSinkError`); a whole-request INVALID_ARGUMENT is split in halves
        until the row it is about stands alone, and only that row is refused.
        """
        from google.api_core import exceptions

        refused: dict[int, str] = {}
        work = [list(range(len(rows)))]
        while work:
            pending = work.pop()
            attempt = 1
            while pending:
                request = writer.request([rows[i] for i in pending])
                self.request_bytes[writer.table_key].update(writer.size(request))
                try:
                    response = writer.append(request)
                    verdict = judge_response(response, len(pending))
                except exceptions.GoogleAPICallError as e:
                    verdict = judge_status(e.grpc_status_code, e.message)
                if verdict.written:
                    self._count_written(writer, len(pending))
                    break
                if verdict.fatal:
                    raise SinkError(f"AppendRows to {writer.stream} failed: {verdict.detail}")
                if verdict.invalid_request:
                    if len(pending) == 1:
                        refused[pending[0]] = verdict.detail
                    else:
                        half = len(pending) // 2
                        work += [pending[half:], pending[:half]]
                    break
                for j, why in verdict.invalid_rows.items():
                    refused[pending[j]] = why
                pending = [i for j, i in enumerate(pending) if j not in verdict.invalid_rows]
                if verdict.retry:
                    if attempt >= write_limits.MAX_ATTEMPTS:
                        raise TransientSinkError(
                            f"AppendRows to {writer.stream} still failing after {attempt} attempts: {verdict.detail}"
                        )
                    log.warning(
                        "transient AppendRows failure; retrying",
                        extra={"stream": writer.stream, "attempt": attempt, "detail": verdict.detail},
                    )
                    self.sleep(write_limits.backoff_seconds(attempt))
                    attempt += 1
                if pending:
                    self.retried.inc(len(pending))
        return refused

    def _count_written(self, writer: TableWriter, n: int) -> None:
        if writer is self.writer:
            self.written.inc(n)


class WriteTable(beam.PTransform):
    """PTransform wrapper around :class:`WriteRows`, named after the table it writes."""

    def __init__(self, output_dataset: str, table_key: str, pipeline: str) -> None:
        super().__init__()
        self.fn = WriteRows(output_dataset, table_key, pipeline)

    def expand(self, rows: beam.PCollection) -> beam.pvalue.PDone:
        rows | "Insert" >> beam.ParDo(self.fn)
        return beam.pvalue.PDone(rows.pipeline)
