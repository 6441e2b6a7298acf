"""Parse and validate raw event payloads against the v1 contracts, and shape BigQuery rows.

Pure functions, no Beam and no I/O, so every rule is unit-tested directly and the
Beam DoFn (``pipelines.common.transforms``) stays a thin adapter.  Every rejection
is an :class:`InvalidEvent` carrying a stable ``reason`` code (see :data:`REASONS`):
dashboards and alerts group the dead-letter table by it, so codes are never renamed.

Policy decisions the contract leaves open:

- Unknown fields are rejected (``unknown_field``).  The fact tables store exactly the
  contract's columns, so accepting an extra field would drop it silently; a producer
  that needs a new field ships a new ``schema_version`` once the pipelines know it.
- Nullable fields (``card_bin_country``, ``client_ip_country``) may be absent or null.
- Money must be a JSON *string* holding a plain decimal with at most
  ``MONEY_SCALE`` fractional digits: a JSON number has already lost exactness.
- ``event_time`` must be RFC 3339 with an explicit offset; it is stored in UTC.

The hot path is written for speed (benchmarked against a bare ``orjson.loads``):
orjson, precompiled regexes, type checks with ``type(x) is``, and no objects per field.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from operator import itemgetter
from typing import Any, Protocol

import orjson

from pipelines import contracts as c

# Stable reason codes, in the order the checks run.
TOO_LARGE = "too_large"
EMPTY_PAYLOAD = "empty_payload"
INVALID_UTF8 = "invalid_utf8"
INVALID_JSON = "invalid_json"
NOT_AN_OBJECT = "not_an_object"
UNSUPPORTED_SCHEMA_VERSION = "unsupported_schema_version"
MISSING_FIELD = "missing_field"
UNKNOWN_FIELD = "unknown_field"
WRONG_TYPE = "wrong_type"
INVALID_VALUE = "invalid_value"
OUT_OF_RANGE = "out_of_range"
TOO_MANY_ITEMS = "too_many_items"
TOTAL_MISMATCH = "total_mismatch"
FUTURE_EVENT_TIME = "future_event_time"
STALE_EVENT_TIME = "stale_event_time"
SINK_REJECTED = "sink_rejected"  # set by the sink when BigQuery refuses a row that passed validation
UNEXPECTED_ERROR = "unexpected_error"  # set by ParseAndValidate when validation itself fails (a bug)

REASONS: dict[str, str] = {
    TOO_LARGE: f"payload longer than {c.MAX_MESSAGE_BYTES} bytes",
    EMPTY_PAYLOAD: "no payload bytes",
    INVALID_UTF8: "payload is not UTF-8",
    INVALID_JSON: "payload is not JSON",
    NOT_AN_OBJECT: "JSON value is not an object",
    UNSUPPORTED_SCHEMA_VERSION: f"schema_version is not {c.SCHEMA_VERSION}",
    MISSING_FIELD: "a required field is absent",
    UNKNOWN_FIELD: "a field the contract does not define",
    WRONG_TYPE: "a field has the wrong JSON type (e.g. a number for money)",
    INVALID_VALUE: "not in the enum, or does not match the pattern / format",
    OUT_OF_RANGE: "a number, length or count outside its bounds",
    TOO_MANY_ITEMS: f"more than {c.MAX_ITEMS} order lines",
    TOTAL_MISMATCH: "total_amount differs from the sum of quantity * unit_price",
    FUTURE_EVENT_TIME: f"event_time later than now + {c.MAX_FUTURE_SKEW}",
    STALE_EVENT_TIME: f"event_time earlier than now - {c.MAX_PAST_AGE}",
    SINK_REJECTED: "BigQuery rejected the row (written here instead, with BigQuery's errors)",
    UNEXPECTED_ERROR: "validation raised something else than InvalidEvent: a bug, logged with its stack trace",
}

DEAD_LETTER_TEXT_BYTES = 8 * 1024


class InvalidEvent(ValueError):
    """A payload that does not satisfy its contract; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str, field: str | None = None, detail: str = "") -> None:
        super().__init__(f"{reason}: {field or '-'}: {detail}")
        self.reason = reason
        self.field = field
        self.detail = detail or REASONS.get(reason, reason)


class MessageLike(Protocol):
    """What the row builders need from a Pub/Sub message (Beam's ``PubsubMessage`` fits)."""

    data: bytes | None
    attributes: Mapping[str, str] | None
    message_id: str | None
    publish_time: datetime | None


_ID = re.compile(c.ID_PATTERN).fullmatch
_COUNTRY = re.compile(c.COUNTRY_PATTERN).fullmatch
_CURRENCY = re.compile(c.CURRENCY_PATTERN).fullmatch
# A plain decimal: optional minus, no leading zeros, no exponent; the scale is checked separately.
_MONEY = re.compile(r"(-?)(?:0|[1-9][0-9]{0,14})(?:\.([0-9]+))?").fullmatch
# RFC 3339 date-time with a mandatory offset; fractional seconds up to nanoseconds (cut to micros).
_RFC3339 = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt]([0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})"
).fullmatch
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}").fullmatch

_CHANNELS = frozenset(c.CHANNELS)
_PAYMENT_METHODS = frozenset(c.PAYMENT_METHODS)
_STATUSES = frozenset(c.SHIPMENT_STATUSES)
_ZERO = Decimal(0)

# Fast path: the common, clean event is checked by ONE regex over its string fields joined with
# a separator no accepted value contains.  It accepts a strict subset of what the field-by-field
# checks accept and yields the identical row; anything else (including every invalid event) takes
# the field-by-field path, which alone decides reason codes.  A property test holds them equal.
_SEP = "\x1f"
_FAST_ID = c.ID_PATTERN.strip("^$")
# Field ranges in the regex, so only days 29..31 need the calendar (see _fast_time).
_FAST_TIME = (
    r"([0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9])"
    r"(?:\.([0-9]{1,6}))?Z"
)
_FAST_MONEY = r"(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,2})?"
_FAST_PRICE = r"(?:0|[1-9][0-9]{0,5})(?:\.[0-9]{1,2})?"  # < MAX_UNIT_PRICE
_FAST_TEXT = r"[^\s\x1f][^\x1f]{0,%d}" % (c.MAX_TEXT_LENGTH - 1)  # noqa: UP031 - braces are regex syntax
_FAST_COUNTRY = c.COUNTRY_PATTERN.strip("^$")
_ORDER_FAST = re.compile(
    _SEP.join(
        (
            _FAST_ID,  # order_id
            _FAST_ID,  # customer_id
            _FAST_ID,  # customer_address_id
            _FAST_TIME,  # event_time
            c.CURRENCY_PATTERN.strip("^$"),
            _FAST_MONEY,  # total_amount
            "(?:" + "|".join(c.CHANNELS) + ")",
            "(" + "|".join(c.PAYMENT_METHODS) + ")",
            f"(?:{_FAST_COUNTRY})?",  # card_bin_country ("" stands for null)
            _FAST_COUNTRY,  # billing_country
            _FAST_COUNTRY,  # shipping_country
            _FAST_TEXT,  # shipping_region
            _FAST_TEXT,  # shipping_postal_code
            f"(?:{_FAST_COUNTRY})?",  # client_ip_country
        )
    )
    + f"(?:{_SEP}{_FAST_ID}{_SEP}{_FAST_PRICE})+"  # items: sku, unit_price
).fullmatch
_SHIPMENT_FAST = re.compile(
    _SEP.join(
        (
            *[_FAST_ID] * 6,  # shipment_id, order_id, customer_id, customer_address_id, carrier, warehouse_id
            "(?:" + "|".join(c.SHIPMENT_STATUSES) + ")",
            _FAST_TIME,
            r"[0-9]{4}-[0-9]{2}-[0-9]{2}",  # promised_delivery_date
            _FAST_TEXT,  # destination_region
        )
    )
).fullmatch
_ORDER_FIELD_COUNT = len(c.ORDER_EVENT_FIELDS)
# One C call fetches the fields in the order _ORDER_FAST expects them.
_ORDER_FAST_FIELDS = itemgetter(
    "order_id",
    "customer_id",
    "customer_address_id",
    "event_time",
    "currency",
    "total_amount",
    "channel",
    "payment_method",
    "card_bin_country",
    "billing_country",
    "shipping_country",
    "shipping_region",
    "shipping_postal_code",
    "client_ip_country",
)
_ITEM_FIELDS = itemgetter("sku", "quantity", "unit_price")
_PLAIN_CENTS = re.compile(r"(0|[1-9][0-9]{0,14})(?:\.([0-9]{1,2}))?").fullmatch
# Unit price text -> integer cents.  Prices repeat (a catalogue), so the clean path looks them up;
# bounded, so hostile traffic cannot grow it.  Values are immutable ints: safe across DoFn threads.
_CENTS: dict[str, int] = {}
_CENTS_MAX = 4096
_SHIPMENT_FIELD_COUNT = len(c.SHIPMENT_EVENT_FIELDS)


def _names(fields: tuple[c.Field, ...]) -> tuple[frozenset[str], frozenset[str], tuple[str, ...]]:
    every = tuple(f.name for f in fields)
    return frozenset(f.name for f in fields if f.mode != "NULLABLE"), frozenset(every), every


_ORDER_REQUIRED, _ORDER_ALL, _ORDER_ORDER = _names(c.ORDER_EVENT_FIELDS)
_ORDER_NULLABLE = tuple(f.name for f in c.ORDER_EVENT_FIELDS if f.mode == "NULLABLE")
_ITEM_KEYS = frozenset(f.name for f in c.ORDER_ITEM_FIELDS)
_ITEM_ORDER = tuple(f.name for f in c.ORDER_ITEM_FIELDS)
_SHIPMENT_REQUIRED, _SHIPMENT_ALL, _SHIPMENT_ORDER = _names(c.SHIPMENT_EVENT_FIELDS)


# ---------------------------------------------------------------- formatting

_ONE_SECOND = timedelta(seconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _second_text(t: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` of ``t`` as it is (no zone conversion)."""
    return "%04d-%02d-%02dT%02d:%02d:%02d" % (t.year, t.month, t.day, t.hour, t.minute, t.second)  # noqa: UP031


def format_timestamp(t: datetime) -> str:
    """UTC RFC 3339 with a ``Z`` and microseconds only when there are any: the one form rows carry.

    Hot (publish and ingest time of every row): the ``YYYY-MM-DDTHH:MM:SS`` text of the two
    seconds last seen is cached, since a row's publish and ingest times each cluster around "now"
    (two slots: they alternate, and may sit in neighbouring seconds).  Naive datetimes are UTC.
    The cache is one tuple swapped whole: DoFn threads share it, and a thread must never pair
    its own microseconds with a second another thread just cached.
    """
    global _SECONDS
    if t.tzinfo is not UTC:
        t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    slots = _SECONDS
    hit = slots[0]
    if not hit[0] <= t < hit[1]:
        hit = slots[1]
        if not hit[0] <= t < hit[1]:
            start = t.replace(microsecond=0)
            end = start + _ONE_SECOND if start < _LAST_SECOND else _NEVER  # datetime.max has no next second
            hit = (start, end, _second_text(start))
            _SECONDS = (hit, slots[0])
    micro = t.microsecond
    if micro:
        return f"{hit[2]}.{str(1_000_000 + micro)[1:]}Z"
    return hit[2] + "Z"


_EMPTY_SECOND = (_EPOCH, _EPOCH, "")
_SECONDS: tuple[tuple[datetime, datetime, str], ...] = (_EMPTY_SECOND, _EMPTY_SECOND)
_LAST_SECOND = datetime.max.replace(microsecond=0, tzinfo=UTC)
_NEVER = datetime.max.replace(tzinfo=UTC)


def parse_timestamp(text: str) -> datetime:
    """Inverse of :func:`format_timestamp` (also accepts any offset)."""
    return datetime.fromisoformat(text)


# ---------------------------------------------------------------- field checks


def _fail_keys(obj: dict, required: frozenset[str], every: frozenset[str], order: tuple[str, ...]) -> None:
    for name in order:
        if name in required and name not in obj:
            raise InvalidEvent(MISSING_FIELD, name, f"{name} is required")
    unknown = sorted(k for k in obj if k not in every)
    if unknown:
        raise InvalidEvent(UNKNOWN_FIELD, unknown[0], f"{unknown[0]!r} is not in contract v{c.SCHEMA_VERSION}")


def _parse(data: bytes | None) -> dict:
    if data is None or len(data) == 0:
        raise InvalidEvent(EMPTY_PAYLOAD, None, "the message has no data")
    if len(data) > c.MAX_MESSAGE_BYTES:
        raise InvalidEvent(TOO_LARGE, None, f"{len(data)} bytes > {c.MAX_MESSAGE_BYTES}")
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as u:
            raise InvalidEvent(INVALID_UTF8, None, str(u)) from None
        raise InvalidEvent(INVALID_JSON, None, str(e)) from None
    if type(obj) is not dict:
        raise InvalidEvent(NOT_AN_OBJECT, None, f"top-level JSON {type(obj).__name__}, expected an object")
    version = obj.get("schema_version")
    if version is None:
        raise InvalidEvent(MISSING_FIELD, "schema_version", "schema_version is required")
    if type(version) is not int:
        raise InvalidEvent(WRONG_TYPE, "schema_version", f"expected an integer, got {type(version).__name__}")
    if version != c.SCHEMA_VERSION:
        raise InvalidEvent(UNSUPPORTED_SCHEMA_VERSION, "schema_version", f"{version} (this pipeline reads v1)")
    return obj


def _id(obj: dict, name: str) -> None:
    v = obj[name]
    if type(v) is not str:
        raise InvalidEvent(WRONG_TYPE, name, f"expected a string, got {type(v).__name__}")
    if not _ID(v):
        raise InvalidEvent(INVALID_VALUE, name, f"{v[:80]!r} does not match {c.ID_PATTERN}")


def _text(obj: dict, name: str) -> None:
    v = obj[name]
    if type(v) is not str:
        raise InvalidEvent(WRONG_TYPE, name, f"expected a string, got {type(v).__name__}")
    if not 0 < len(v) <= c.MAX_TEXT_LENGTH or v.isspace():
        raise InvalidEvent(OUT_OF_RANGE, name, f"length {len(v)} not in 1..{c.MAX_TEXT_LENGTH} or blank")


def _country(obj: dict, name: str, nullable: bool = False) -> None:
    v = obj[name]
    if v is None and nullable:
        return
    if type(v) is not str:
        raise InvalidEvent(WRONG_TYPE, name, f"expected a string, got {type(v).__name__}")
    if not _COUNTRY(v):
        raise InvalidEvent(INVALID_VALUE, name, f"{v[:80]!r} is not an ISO 3166 alpha-2 code")


def _enum(obj: dict, name: str, allowed: frozenset[str], listing: tuple[str, ...]) -> None:
    v = obj[name]
    if type(v) is not str:
        raise InvalidEvent(WRONG_TYPE, name, f"expected a string, got {type(v).__name__}")
    if v not in allowed:
        raise InvalidEvent(INVALID_VALUE, name, f"{v[:80]!r} not one of {', '.join(listing)}")


def _money(v: Any, name: str, maximum: Decimal | None = None) -> Decimal:
    if type(v) is not str:
        raise InvalidEvent(WRONG_TYPE, name, f"money must be a decimal string, got {type(v).__name__}")
    m = _MONEY(v)
    if m is None:
        raise InvalidEvent(INVALID_VALUE, name, f"{v[:80]!r} is not a plain decimal")
    frac = m.group(2)
    if frac is not None and len(frac) > c.MONEY_SCALE:
        raise InvalidEvent(INVALID_VALUE, name, f"{v!r} has more than {c.MONEY_SCALE} decimal places")
    d = Decimal(v)
    if m.group(1) and d:
        raise InvalidEvent(OUT_OF_RANGE, name, f"{v} is negative")
    if maximum is not None and d > maximum:
        raise InvalidEvent(OUT_OF_RANGE, name, f"{v} > {maximum}")
    return d


def _event_time(obj: dict, now: datetime) -> str:
    v = obj["event_time"]
    if type(v) is not str:
        raise InvalidEvent(WRONG_TYPE, "event_time", f"expected an RFC 3339 string, got {type(v).__name__}")
    m = _RFC3339(v)
    if m is None:
        raise InvalidEvent(INVALID_VALUE, "event_time", f"{v[:80]!r} is not RFC 3339 with an offset")
    day, clock, frac, offset = m.groups()
    if frac is not None and len(frac) > 7:
        frac = frac[:7]  # BigQuery keeps microseconds
    try:
        t = datetime.fromisoformat(f"{day}T{clock}{frac or ''}{'+00:00' if offset in 'Zz' else offset}")
    except ValueError as e:
        raise InvalidEvent(INVALID_VALUE, "event_time", f"{v!r}: {e}") from None
    if t > now + c.MAX_FUTURE_SKEW:
        raise InvalidEvent(FUTURE_EVENT_TIME, "event_time", f"{v} is more than {c.MAX_FUTURE_SKEW} ahead of {now}")
    if t < now - c.MAX_PAST_AGE:
        raise InvalidEvent(STALE_EVENT_TIME, "event_time", f"{v} is more than {c.MAX_PAST_AGE} before {now}")
    return format_timestamp(t)


def _items(obj: dict) -> Decimal:
    items = obj["items"]
    if type(items) is not list:
        raise InvalidEvent(WRONG_TYPE, "items", f"expected an array, got {type(items).__name__}")
    if not items:
        raise InvalidEvent(OUT_OF_RANGE, "items", "an order needs at least one item")
    if len(items) > c.MAX_ITEMS:
        raise InvalidEvent(TOO_MANY_ITEMS, "items", f"{len(items)} > {c.MAX_ITEMS}")
    total = _ZERO
    for i, item in enumerate(items):
        if type(item) is not dict:
            raise InvalidEvent(WRONG_TYPE, f"items[{i}]", f"expected an object, got {type(item).__name__}")
        if item.keys() != _ITEM_KEYS:
            for name in _ITEM_ORDER:
                if name not in item:
                    raise InvalidEvent(MISSING_FIELD, f"items[{i}].{name}", f"{name} is required")
            extra = sorted(k for k in item if k not in _ITEM_KEYS)[0]
            raise InvalidEvent(UNKNOWN_FIELD, f"items[{i}].{extra}", f"{extra!r} is not an item field")
        sku = item["sku"]
        if type(sku) is not str:
            raise InvalidEvent(WRONG_TYPE, f"items[{i}].sku", f"expected a string, got {type(sku).__name__}")
        if not _ID(sku):
            raise InvalidEvent(INVALID_VALUE, f"items[{i}].sku", f"{sku[:80]!r} does not match {c.ID_PATTERN}")
        q = item["quantity"]
        if type(q) is not int:
            raise InvalidEvent(WRONG_TYPE, f"items[{i}].quantity", f"expected an integer, got {type(q).__name__}")
        if not 0 < q <= c.MAX_QUANTITY:
            raise InvalidEvent(OUT_OF_RANGE, f"items[{i}].quantity", f"{q} not in 1..{c.MAX_QUANTITY}")
        total += q * _money(item["unit_price"], f"items[{i}].unit_price", c.MAX_UNIT_PRICE)
    return total


# ---------------------------------------------------------------- fast path


def _cents(price: str) -> int | None:
    """Integer cents of a plain decimal with at most two places, or None; remembered while the cache has room."""
    m = _PLAIN_CENTS(price)
    if m is None:
        return None
    whole, frac = m.groups()
    cents = int(whole) * 100 + (int(frac) * (10 if len(frac) == 1 else 1) if frac else 0)
    if len(_CENTS) < _CENTS_MAX:
        _CENTS[price] = cents
    return cents


# (second start, next second start, earliest if now is that exact second, earliest otherwise, latest):
# one tuple swapped whole, so a DoFn thread never reads half of another thread's update.
_BOUNDS: tuple = (_EPOCH, _EPOCH, "", "", "")


def _bounds(now: datetime) -> tuple[str, str]:
    """(earliest, latest) whole-second UTC ``event_time`` text the fast path accepts for ``now``.

    The fast path compares whole seconds as text, so earliest is ``now - MAX_PAST_AGE`` rounded
    up and latest is ``now + MAX_FUTURE_SKEW`` minus one second, rounded down: it never accepts
    more than the field-by-field check.  Memoized per second of ``now``: the DoFn reads its
    clock per element, and a second holds thousands of them.
    """
    global _BOUNDS
    b = _BOUNDS
    if not b[0] <= now < b[1]:
        start = now.astimezone(UTC).replace(microsecond=0)
        b = (
            start,
            start + _ONE_SECOND,
            _second_text(start - c.MAX_PAST_AGE),
            _second_text(start - c.MAX_PAST_AGE + _ONE_SECOND),
            _second_text(start + c.MAX_FUTURE_SKEW - _ONE_SECOND),
        )
        _BOUNDS = b
    return (b[2] if now == b[0] else b[3]), b[4]


def _fast_time(base: str, frac: str | None, now: datetime) -> str | None:
    earliest, latest = _bounds(now)
    if not earliest <= base <= latest:
        return None
    if base[8:10] > "28":  # the regex checked the ranges; only the month's length is left
        try:
            date.fromisoformat(base[:10])
        except ValueError:
            return None
    if frac is None or not frac.strip("0"):
        return base + "Z"
    return f"{base}.{frac:0<6}Z"


def _fast_order(o: dict, now: datetime) -> dict | None:
    """The row for a clean order in canonical form, or None to let the field-by-field path decide."""
    try:
        if len(o) != _ORDER_FIELD_COUNT:
            return None
        parts = list(_ORDER_FAST_FIELDS(o))  # KeyError if one is absent
        card_bin = parts[8]
        if card_bin is None:
            parts[8] = ""
        elif card_bin == "":
            return None
        client_ip = parts[13]
        if client_ip is None:
            parts[13] = ""
        elif client_ip == "":
            return None
        items = o["items"]
        if type(items) is not list or len(items) > c.MAX_ITEMS:
            return None
        computed = 0  # cents
        cents_of = _CENTS.get
        for item in items:
            if type(item) is not dict or len(item) != 3:
                return None
            sku, q, price = _ITEM_FIELDS(item)
            if type(q) is not int or not 0 < q <= c.MAX_QUANTITY or type(price) is not str:
                return None
            parts.append(sku)
            parts.append(price)
            cents = cents_of(price)
            if cents is None:
                cents = _cents(price)
                if cents is None:
                    return None
            computed += q * cents
        m = _ORDER_FAST(_SEP.join(parts))
    except (KeyError, TypeError, ArithmeticError):
        return None
    if m is None or (card_bin is not None and m.group(3) != "CARD") or Decimal(parts[5]) * 100 != computed:
        return None
    event_time = _fast_time(m.group(1), m.group(2), now)
    if event_time is None:
        return None
    o["event_time"] = event_time
    return o


def _fast_shipment(o: dict, now: datetime) -> dict | None:
    """The row for a clean shipment event in canonical form, or None to let the field-by-field path decide."""
    try:
        if len(o) != _SHIPMENT_FIELD_COUNT:
            return None
        promised = o["promised_delivery_date"]
        m = _SHIPMENT_FAST(
            _SEP.join(
                (
                    o["shipment_id"],
                    o["order_id"],
                    o["customer_id"],
                    o["customer_address_id"],
                    o["carrier"],
                    o["warehouse_id"],
                    o["status"],
                    o["event_time"],
                    promised,
                    o["destination_region"],
                )
            )
        )
        if m is None:
            return None
        date.fromisoformat(promised)
    except (KeyError, TypeError, ValueError):
        return None
    event_time = _fast_time(m.group(1), m.group(2), now)
    if event_time is None:
        return None
    o["event_time"] = event_time
    return o


# ---------------------------------------------------------------- validators


def _now(now: datetime | None) -> datetime:
    return datetime.now(UTC) if now is None else now


def validate_order(data: bytes | None, now: datetime | None = None) -> dict:
    """The order event as a row-ready dict (UTC event_time, every nullable field present), or InvalidEvent.

    ``now`` bounds ``event_time``; it is a parameter so tests and replays are deterministic.
    """
    obj = _parse(data)
    now = _now(now)
    if _fast_order(obj, now) is not None:
        return obj
    return _full_order(obj, now)


def _full_order(obj: dict, now: datetime) -> dict:
    """Field by field, in contract order: the first violation decides the reason."""
    keys = obj.keys()
    if not (keys >= _ORDER_REQUIRED and keys <= _ORDER_ALL):
        _fail_keys(obj, _ORDER_REQUIRED, _ORDER_ALL, _ORDER_ORDER)
    _id(obj, "order_id")
    _id(obj, "customer_id")
    _id(obj, "customer_address_id")
    obj["event_time"] = _event_time(obj, now)
    computed = _items(obj)
    currency = obj["currency"]
    if type(currency) is not str:
        raise InvalidEvent(WRONG_TYPE, "currency", f"expected a string, got {type(currency).__name__}")
    if not _CURRENCY(currency):
        raise InvalidEvent(INVALID_VALUE, "currency", f"{currency[:80]!r} is not an ISO 4217 code")
    total = _money(obj["total_amount"], "total_amount")
    if total != computed:
        raise InvalidEvent(TOTAL_MISMATCH, "total_amount", f"{obj['total_amount']} != sum of items {computed}")
    _enum(obj, "channel", _CHANNELS, c.CHANNELS)
    _enum(obj, "payment_method", _PAYMENT_METHODS, c.PAYMENT_METHODS)
    for name in _ORDER_NULLABLE:
        if name not in obj:
            obj[name] = None
    _country(obj, "card_bin_country", nullable=True)
    if obj["card_bin_country"] is not None and obj["payment_method"] != "CARD":
        raise InvalidEvent(INVALID_VALUE, "card_bin_country", "must be null unless payment_method is CARD")
    _country(obj, "billing_country")
    _country(obj, "shipping_country")
    _text(obj, "shipping_region")
    _text(obj, "shipping_postal_code")
    _country(obj, "client_ip_country", nullable=True)
    return obj


def validate_shipment(data: bytes | None, now: datetime | None = None) -> dict:
    """The shipment status event as a row-ready dict (UTC event_time), or InvalidEvent."""
    obj = _parse(data)
    now = _now(now)
    if _fast_shipment(obj, now) is not None:
        return obj
    return _full_shipment(obj, now)


def _full_shipment(obj: dict, now: datetime) -> dict:
    """Field by field, in contract order: the first violation decides the reason."""
    keys = obj.keys()
    if not (keys >= _SHIPMENT_REQUIRED and keys <= _SHIPMENT_ALL):
        _fail_keys(obj, _SHIPMENT_REQUIRED, _SHIPMENT_ALL, _SHIPMENT_ORDER)
    _id(obj, "shipment_id")
    _id(obj, "order_id")
    _id(obj, "customer_id")
    _id(obj, "customer_address_id")
    _id(obj, "carrier")
    _id(obj, "warehouse_id")
    _enum(obj, "status", _STATUSES, c.SHIPMENT_STATUSES)
    obj["event_time"] = _event_time(obj, now)
    promised = obj["promised_delivery_date"]
    if type(promised) is not str:
        raise InvalidEvent(WRONG_TYPE, "promised_delivery_date", f"expected a string, got {type(promised).__name__}")
    if not _DATE(promised):
        raise InvalidEvent(INVALID_VALUE, "promised_delivery_date", f"{promised[:80]!r} is not YYYY-MM-DD")
    try:
        date.fromisoformat(promised)
    except ValueError as e:
        raise InvalidEvent(INVALID_VALUE, "promised_delivery_date", f"{promised!r}: {e}") from None
    _text(obj, "destination_region")
    return obj


VALIDATORS = {"orders": validate_order, "shipping": validate_shipment}


# ---------------------------------------------------------------- rows


def event_key(data: bytes | None) -> str:
    """sha256 hex of the raw payload: a redelivery or a publisher retry carries the same bytes, hence the same key."""
    return hashlib.sha256(data or b"").hexdigest()


def _attributes_json(attributes: Mapping[str, str] | None) -> str | None:
    """Sorted-key JSON of the attributes; a publisher sends the same ones on every message, so the last is kept.

    Pub/Sub attribute values are strings, so two equal mappings have the same JSON.
    """
    global _LAST_ATTRIBUTES
    if not attributes:
        return None
    last = _LAST_ATTRIBUTES
    if attributes == last[0]:
        return last[1]
    attributes = dict(attributes)  # a copy: the caller may change its mapping later
    text = orjson.dumps(attributes, option=orjson.OPT_SORT_KEYS).decode()
    _LAST_ATTRIBUTES = (attributes, text)
    return text


_LAST_ATTRIBUTES: tuple[dict | None, str] = (None, "")  # swapped whole: safe across DoFn threads


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def message_metadata(message: MessageLike) -> tuple[str | None, str | None, list[str]]:
    """(message_id, publish_time as a row timestamp, names of the absent ones) of one delivery.

    Whatever the runner leaves out is None in the row and named in ``missing_metadata``
    (``contracts.MESSAGE_METADATA`` order), never a reason to refuse the message.  On
    Dataflow the SDK parses a serialized PubsubMessage proto (``PubsubMessage._from_proto_str``):
    an unset id arrives as ``""`` and an unset publish time as None, or as the epoch if a
    zero Timestamp was written; all of them mean "absent" (a real publish is never 1970).
    """
    message_id = message.message_id or None
    publish = message.publish_time
    if publish is not None and (publish if publish.tzinfo is not None else publish.replace(tzinfo=UTC)) == _EPOCH:
        publish = None
    if message_id is not None and publish is not None:
        return message_id, format_timestamp(publish), []
    missing = [name for name, value in zip(c.MESSAGE_METADATA, (message_id, publish), strict=True) if value is None]
    return message_id, None if publish is None else format_timestamp(publish), missing


def to_fact_row(event: dict, message: MessageLike, ingest_time: datetime) -> dict:
    """A fact-table row: the validated event plus ``contracts.METADATA_FIELDS``.

    The row *is* ``event``, completed in place: validators return a fresh dict per
    message, so a copy per message would buy nothing on the hot path.
    """
    row = event
    row["event_key"] = hashlib.sha256(message.data).hexdigest()
    row["message_id"], row["publish_time"], row["missing_metadata"] = message_metadata(message)
    row["attributes"] = _attributes_json(message.attributes)
    row["ingest_time"] = format_timestamp(ingest_time)
    return row


def to_dead_letter_row(pipeline: str, message: MessageLike, error: InvalidEvent, dead_letter_time: datetime) -> dict:
    """A dead-letter row: the exact payload (base64), a readable excerpt, and why it was refused."""
    data = message.data or b""
    message_id, publish_time, missing = message_metadata(message)
    return {
        "pipeline": pipeline,
        "message_id": message_id,
        "publish_time": publish_time,
        "missing_metadata": missing,
        "attributes": _attributes_json(message.attributes),
        "payload_base64": base64.b64encode(data).decode("ascii"),
        "payload_text": data[:DEAD_LETTER_TEXT_BYTES].decode("utf-8", errors="replace"),
        "error_reason": error.reason,
        "error_field": error.field,
        "error_detail": error.detail,
        "event_key": event_key(data),
        "dead_letter_time": format_timestamp(dead_letter_time),
    }


def is_late_delivery(row: Mapping[str, Any]) -> bool:
    """DELIVERED on a UTC calendar day after the promised date (both ISO strings, so they compare as text)."""
    return row["status"] == "DELIVERED" and row["event_time"][:10] > row["promised_delivery_date"]
