"""A recording gRPC proxy in front of bqemulator's Storage Write API, able to inject faults.

A real gRPC server: the sink's real client connects to it, every AppendRows request is
recorded (serialized size, row count, table) and forwarded byte for byte to the emulator, and
the emulator's responses are relayed.  Tests assert on what the sink *sent*, since the emulator
does not enforce every documented limit.

Faults are what a real BigQuery produces and bqemulator does not: whole-request transient
statuses (UNAVAILABLE, DEADLINE_EXCEEDED ... as a gRPC status, or INTERNAL in the response's
``error`` field) and per-row errors (``row_errors``; the request then appends nothing, as
documented for the real service).  A faulted request is not forwarded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field

import grpc
from google.cloud.bigquery_storage_v1 import types
from google.rpc import status_pb2

METHOD = "/google.cloud.bigquery.storage.v1.BigQueryWrite/AppendRows"


@dataclass(frozen=True)
class Recorded:
    size: int  # serialized AppendRowsRequest, bytes
    rows: int
    table: str
    serialized_rows: tuple[bytes, ...]
    fault: str | None  # what was injected instead of forwarding, if anything


@dataclass(frozen=True)
class Abort:
    """Fail the call with a gRPC status (what a transport or server failure looks like)."""

    code: grpc.StatusCode


@dataclass(frozen=True)
class InBandError:
    """Answer with ``AppendRowsResponse.error`` set (the connection stays usable)."""

    code: grpc.StatusCode
    message: str = "injected"


@dataclass(frozen=True)
class RowErrors:
    """Answer with ``row_errors``: request index -> RowError code (1 = FIELDS_ERROR)."""

    codes: dict[int, int]


Fault = Abort | InBandError | RowErrors
# Decides the fault for one request from its table, its serialized rows and its sequence number (0-based).
FaultRule = Callable[[str, tuple[bytes, ...], int], Fault | None]


@dataclass
class WriteApiProxy:
    upstream: str  # host:port of the emulator's gRPC API
    rule: FaultRule = lambda table, rows, n: None
    records: list[Recorded] = field(default_factory=list)

    def start(self) -> WriteApiProxy:
        self._lock = threading.Lock()
        opts = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
        self._channel = grpc.insecure_channel(self.upstream, options=opts)
        self._forward = self._channel.stream_stream(METHOD)  # raw bytes both ways
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=opts)
        handler = grpc.method_handlers_generic_handler(
            "google.cloud.bigquery.storage.v1.BigQueryWrite",
            {"AppendRows": grpc.stream_stream_rpc_method_handler(self._append_rows)},
        )
        self._server.add_generic_rpc_handlers((handler,))
        port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()
        self.address = f"127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        self._server.stop(grace=None)
        self._channel.close()

    def _append_rows(self, requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
        for raw in requests:
            req = types.AppendRowsRequest.deserialize(raw)
            rows = tuple(req.proto_rows.rows.serialized_rows)
            table = req.write_stream.split("/")[-3]
            with self._lock:
                fault = self.rule(table, rows, len(self.records))
                self.records.append(Recorded(len(raw), len(rows), table, rows, type(fault).__name__ if fault else None))
            if isinstance(fault, Abort):
                context.abort(fault.code, "injected by the test proxy")
            if isinstance(fault, InBandError):
                yield types.AppendRowsResponse.serialize(
                    types.AppendRowsResponse(error=status_pb2.Status(code=fault.code.value[0], message=fault.message))
                )
                continue
            if isinstance(fault, RowErrors):
                errors = [
                    types.RowError(index=i, code=code, message=f"injected row error {code}")
                    for i, code in sorted(fault.codes.items())
                ]
                yield types.AppendRowsResponse.serialize(types.AppendRowsResponse(row_errors=errors))
                continue
            routing = [(k, v) for k, v in context.invocation_metadata() if k == "x-goog-request-params"]
            yield from self._forward(iter([raw]), metadata=routing)


def faults_in_order(*faults: Fault | None) -> FaultRule:
    """The n-th request gets the n-th fault; later requests pass through."""
    return lambda table, rows, n: faults[n] if n < len(faults) else None
