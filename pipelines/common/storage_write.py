"""Rows -> Storage Write API proto rows, and rows -> requests under the size limits (pure).

The proto schema of a table is derived from its ``pipelines.tables.TableSpec``, the same spec
``make schemas`` writes for terraform: one source of truth for the columns.  Type mapping from
https://cloud.google.com/bigquery/docs/supported-data-types (protocol buffer types per
BigQuery type): TIMESTAMP as int64 microseconds since the epoch, DATE as int32 days since the
epoch, NUMERIC as its decimal string, REPEATED as a repeated field, RECORD as a nested message.
REQUIRED columns are proto2 ``required`` fields, so a row missing one fails to encode here,
before any request, and is refused like a row BigQuery refuses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message

from pipelines import contracts, validation

_F = descriptor_pb2.FieldDescriptorProto
_PROTO_TYPES = {
    "STRING": _F.TYPE_STRING,
    "JSON": _F.TYPE_STRING,
    "INT64": _F.TYPE_INT64,
    "INTEGER": _F.TYPE_INT64,
    "NUMERIC": _F.TYPE_STRING,
    "BIGNUMERIC": _F.TYPE_STRING,
    "FLOAT64": _F.TYPE_DOUBLE,
    "FLOAT": _F.TYPE_DOUBLE,
    "BOOL": _F.TYPE_BOOL,
    "BOOLEAN": _F.TYPE_BOOL,
    "TIMESTAMP": _F.TYPE_INT64,
    "DATE": _F.TYPE_INT32,
}
_LABELS = {"REQUIRED": _F.LABEL_REQUIRED, "NULLABLE": _F.LABEL_OPTIONAL, "REPEATED": _F.LABEL_REPEATED}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class InvalidRow(ValueError):
    """A row that cannot become a valid proto row for its table: refused before it is sent."""


def descriptor(name: str, fields: Sequence[contracts.Field]) -> descriptor_pb2.DescriptorProto:
    """The self-contained proto2 DescriptorProto of a row with ``fields`` (nested types inside)."""
    msg = descriptor_pb2.DescriptorProto(name=name)
    for number, f in enumerate(fields, start=1):
        fd = msg.field.add(name=f.name, number=number, label=_LABELS[f.mode])
        if f.type == "RECORD":
            nested = descriptor(f"{f.name.capitalize()}Record", f.fields)
            msg.nested_type.append(nested)
            fd.type = _F.TYPE_MESSAGE
            fd.type_name = nested.name  # relative name, resolved inside the enclosing message
        else:
            fd.type = _PROTO_TYPES[f.type]
    return msg


@dataclass(frozen=True)
class RowCodec:
    """Encodes the rows of one table; built once per DoFn instance (descriptor pools are not picklable)."""

    fields: tuple[contracts.Field, ...]
    proto: descriptor_pb2.DescriptorProto
    message_class: type[Message]

    @classmethod
    def for_fields(cls, table_key: str, fields: Sequence[contracts.Field]) -> RowCodec:
        proto = descriptor(f"Row_{table_key}", fields)
        pool = descriptor_pool.DescriptorPool()
        file_proto = descriptor_pb2.FileDescriptorProto(name=f"{table_key}_row.proto", syntax="proto2")
        file_proto.message_type.append(proto)
        pool.Add(file_proto)
        message_class = message_factory.GetMessageClass(pool.FindMessageTypeByName(proto.name))
        return cls(tuple(fields), proto, message_class)

    def encode(self, row: Mapping[str, Any]) -> bytes:
        """The serialized proto row; raises :class:`InvalidRow` with the reason when it cannot be."""
        try:
            msg = self.message_class()
            _fill(msg, self.fields, row)
            return msg.SerializeToString()
        except InvalidRow:
            raise
        except Exception as e:  # protobuf raises TypeError/ValueError/EncodeError for bad values
            raise InvalidRow(f"{type(e).__name__}: {e}") from e


def _fill(msg: Message, fields: Sequence[contracts.Field], row: Mapping[str, Any]) -> None:
    known = {f.name for f in fields}
    unknown = sorted(set(row) - known)
    if unknown:
        raise InvalidRow(f"fields not in the table schema: {unknown}")
    for f in fields:
        value = row.get(f.name)
        if value is None:
            continue  # NULL; a REQUIRED field left unset fails at SerializeToString
        if f.mode == "REPEATED":
            if not isinstance(value, list | tuple):
                raise InvalidRow(f"{f.name}: expected a list, got {type(value).__name__}")
            target = getattr(msg, f.name)
            for item in value:
                if f.type == "RECORD":
                    _fill(target.add(), f.fields, item)
                else:
                    target.append(_scalar(f, item))
        elif f.type == "RECORD":
            _fill(getattr(msg, f.name), f.fields, value)
        else:
            try:
                setattr(msg, f.name, _scalar(f, value))
            except (TypeError, ValueError) as e:
                raise InvalidRow(f"{f.name}: {e}") from e


def _scalar(f: contracts.Field, value: Any) -> Any:
    """One value in the proto type of its BigQuery type (see the module docstring)."""
    try:
        if f.type == "TIMESTAMP":
            return timestamp_micros(value)
        if f.type == "DATE":
            return date_days(value)
        if f.type in ("NUMERIC", "BIGNUMERIC"):
            if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
                raise InvalidRow(f"{f.name}: NUMERIC wants a decimal string, got {type(value).__name__}")
            return format(Decimal(value), "f") if isinstance(value, Decimal) else str(value)
        if f.type in ("INT64", "INTEGER") and isinstance(value, str):
            return int(value)
        return value
    except InvalidRow:
        raise
    except (TypeError, ValueError, ArithmeticError) as e:
        raise InvalidRow(f"{f.name}: {type(e).__name__}: {e}") from e


def timestamp_micros(value: Any) -> int:
    """RFC 3339 text (what rows carry) or a datetime -> microseconds since the epoch."""
    if isinstance(value, str):
        value = validation.parse_timestamp(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        delta = value - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    raise TypeError(f"not a timestamp: {type(value).__name__}")


def date_days(value: Any) -> int:
    """ISO date text or a date -> days since 1970-01-01."""
    if isinstance(value, str):
        value = date.fromisoformat(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        return (value - _EPOCH.date()).days
    raise TypeError(f"not a date: {type(value).__name__}")


def framed_size(row_bytes: int) -> int:
    """Bytes one serialized row adds to a request: its tag, its length varint and itself."""
    return 1 + _varint_len(row_bytes) + row_bytes


def _varint_len(n: int) -> int:
    size = 1
    while n >= 0x80:
        n >>= 7
        size += 1
    return size


# What wrapping the rows in ProtoRows, ProtoData and the request can add beyond the fixed part
# (the length varints of the two enclosing messages grow with their content: at most 5 bytes each).
ENVELOPE_SLACK_BYTES = 16


def plan_requests(sizes: Sequence[int], max_bytes: int, max_rows: int) -> list[range]:
    """Consecutive index ranges of rows, each within ``max_bytes`` (sum of sizes) and ``max_rows``.

    Greedy, order-preserving.  Every size must be <= ``max_bytes`` (the caller refuses bigger
    rows before planning); an empty input plans no request.
    """
    if max_bytes < 1 or max_rows < 1:
        raise ValueError("limits must be positive")
    out: list[range] = []
    start, used = 0, 0
    for i, size in enumerate(sizes):
        if size > max_bytes:
            raise ValueError(f"row {i} ({size} B) exceeds the request budget ({max_bytes} B)")
        if i > start and (used + size > max_bytes or i - start >= max_rows):
            out.append(range(start, i))
            start, used = i, 0
        used += size
    if start < len(sizes):
        out.append(range(start, len(sizes)))
    return out
