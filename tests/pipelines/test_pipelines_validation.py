"""The pure validators: exact reason codes for bad inputs, exact rows for good ones, conservation."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pipeline_support import NOW, order, shipment

from pipelines import contracts as c
from pipelines import dead_letters, generator, validation
from pipelines.validation import InvalidEvent, validate_order, validate_shipment

T = NOW - timedelta(minutes=5)
ORDER = order(1, T)
SHIPMENT = shipment(1, T, "DELIVERED", "2026-11-30")


def enc(event: object) -> bytes:
    return generator.encode(event)  # stdlib json: also integers beyond 64 bits, as any producer may send


def without(event: dict, key: str) -> dict:
    return {k: v for k, v in event.items() if k != key}


def with_item(event: dict, **changes: object) -> dict:
    return {**event, "items": [{**event["items"][0], **changes}, *event["items"][1:]]}


def reason_of(fn, data: bytes) -> tuple[str, str | None]:
    with pytest.raises(InvalidEvent) as err:
        fn(data, NOW)
    return err.value.reason, err.value.field


ORDER_CASES = [
    (b"", "empty_payload", None),
    (b" " * (c.MAX_MESSAGE_BYTES + 1), "too_large", None),
    (b"\xff\xfe" + enc(ORDER), "invalid_utf8", None),
    (b'{"schema_version": 1,', "invalid_json", None),
    (b"[1, 2]", "not_an_object", None),
    (b'"an order"', "not_an_object", None),
    (enc(without(ORDER, "schema_version")), "missing_field", "schema_version"),
    (enc({**ORDER, "schema_version": "1"}), "wrong_type", "schema_version"),
    (enc({**ORDER, "schema_version": True}), "wrong_type", "schema_version"),
    (enc({**ORDER, "schema_version": 2}), "unsupported_schema_version", "schema_version"),
    (enc(without(ORDER, "customer_id")), "missing_field", "customer_id"),
    (enc({**ORDER, "coupon": "X"}), "unknown_field", "coupon"),
    (enc({**ORDER, "order_id": 42}), "wrong_type", "order_id"),
    (enc({**ORDER, "order_id": "has space"}), "invalid_value", "order_id"),
    (enc({**ORDER, "order_id": "x" * 65}), "invalid_value", "order_id"),
    (enc({**ORDER, "event_time": "yesterday at noon"}), "invalid_value", "event_time"),
    (enc({**ORDER, "event_time": "2026-12-01T11:00:00"}), "invalid_value", "event_time"),
    (enc({**ORDER, "event_time": "2026-02-30T11:00:00Z"}), "invalid_value", "event_time"),
    (enc({**ORDER, "event_time": 1764590000}), "wrong_type", "event_time"),
    (enc({**ORDER, "event_time": "2026-12-01T12:16:00Z"}), "future_event_time", "event_time"),
    (enc({**ORDER, "event_time": "2026-10-01T12:00:00Z"}), "stale_event_time", "event_time"),
    (enc({**ORDER, "items": {}}), "wrong_type", "items"),
    (enc({**ORDER, "items": []}), "out_of_range", "items"),
    (enc({**ORDER, "items": ORDER["items"][:1] * (c.MAX_ITEMS + 1)}), "too_many_items", "items"),
    (enc({**ORDER, "items": ["SKU-1"]}), "wrong_type", "items[0]"),
    (enc({**ORDER, "items": [without(ORDER["items"][0], "sku")]}), "missing_field", "items[0].sku"),
    (enc(with_item(ORDER, colour="red")), "unknown_field", "items[0].colour"),
    (enc(with_item(ORDER, sku="no space")), "invalid_value", "items[0].sku"),
    (enc(with_item(ORDER, quantity=-1)), "out_of_range", "items[0].quantity"),
    (enc(with_item(ORDER, quantity=0)), "out_of_range", "items[0].quantity"),
    (enc(with_item(ORDER, quantity=c.MAX_QUANTITY + 1)), "out_of_range", "items[0].quantity"),
    (enc(with_item(ORDER, quantity=1.0)), "wrong_type", "items[0].quantity"),
    (enc(with_item(ORDER, unit_price=4.99)), "wrong_type", "items[0].unit_price"),
    (enc(with_item(ORDER, unit_price="4.999")), "invalid_value", "items[0].unit_price"),
    (enc(with_item(ORDER, unit_price="4,99")), "invalid_value", "items[0].unit_price"),
    (enc(with_item(ORDER, unit_price="1e3")), "invalid_value", "items[0].unit_price"),
    (enc(with_item(ORDER, unit_price="-4.99")), "out_of_range", "items[0].unit_price"),
    (enc(with_item(ORDER, unit_price="1000000.01")), "out_of_range", "items[0].unit_price"),
    (enc({**ORDER, "currency": "euro"}), "invalid_value", "currency"),
    (enc({**ORDER, "total_amount": float(ORDER["total_amount"])}), "wrong_type", "total_amount"),
    (enc({**ORDER, "total_amount": "0.01"}), "total_mismatch", "total_amount"),
    (enc({**ORDER, "channel": "CARRIER_PIGEON"}), "invalid_value", "channel"),
    (enc({**ORDER, "payment_method": "card"}), "invalid_value", "payment_method"),
    (enc({**ORDER, "payment_method": "PAYPAL"}), "invalid_value", "card_bin_country"),
    (enc({**ORDER, "billing_country": "NLD"}), "invalid_value", "billing_country"),
    (enc({**ORDER, "shipping_region": ""}), "out_of_range", "shipping_region"),
    (enc({**ORDER, "shipping_postal_code": "   "}), "out_of_range", "shipping_postal_code"),
    (enc({**ORDER, "shipping_postal_code": "9" * 129}), "out_of_range", "shipping_postal_code"),
    (enc({**ORDER, "client_ip_country": 7}), "wrong_type", "client_ip_country"),
]


@pytest.mark.parametrize(("data", "reason", "field"), ORDER_CASES)
def test_bad_orders_are_rejected_with_their_reason(data: bytes, reason: str, field: str | None) -> None:
    assert reason_of(validate_order, data) == (reason, field)


SHIPMENT_CASES = [
    (enc({**SHIPMENT, "status": "TELEPORTED"}), "invalid_value", "status"),
    (enc({**SHIPMENT, "status": None}), "wrong_type", "status"),
    (enc({**SHIPMENT, "promised_delivery_date": "31/12/2026"}), "invalid_value", "promised_delivery_date"),
    (enc({**SHIPMENT, "promised_delivery_date": "2026-02-30"}), "invalid_value", "promised_delivery_date"),
    (enc({**SHIPMENT, "promised_delivery_date": 20261230}), "wrong_type", "promised_delivery_date"),
    (enc(without(SHIPMENT, "carrier")), "missing_field", "carrier"),
    (enc({**SHIPMENT, "items": []}), "unknown_field", "items"),
    (enc({**SHIPMENT, "warehouse_id": "WH AMS"}), "invalid_value", "warehouse_id"),
    (enc({**SHIPMENT, "destination_region": ""}), "out_of_range", "destination_region"),
    (enc({**SHIPMENT, "event_time": "2026-12-03T00:00:00+01:00"}), "future_event_time", "event_time"),
    (enc({**SHIPMENT, "schema_version": 0}), "unsupported_schema_version", "schema_version"),
]


@pytest.mark.parametrize(("data", "reason", "field"), SHIPMENT_CASES)
def test_bad_shipments_are_rejected_with_their_reason(data: bytes, reason: str, field: str | None) -> None:
    assert reason_of(validate_shipment, data) == (reason, field)


def test_every_reason_code_is_documented() -> None:
    used = {r for _, r, _ in ORDER_CASES + SHIPMENT_CASES}
    assert used <= set(validation.REASONS)


def test_a_valid_order_becomes_the_exact_row() -> None:
    payload = enc({**ORDER, "event_time": "2026-12-01T12:55:00.5+01:00", "client_ip_country": None})
    message = SimpleNamespace(data=payload, attributes={"b": "2", "a": "1"}, message_id="m-1", publish_time=NOW)
    ingest = NOW + timedelta(seconds=1)
    row = validation.to_fact_row(validate_order(payload, NOW), message, ingest)
    assert row == {
        **ORDER,
        "event_time": "2026-12-01T11:55:00.500000Z",  # normalized to UTC
        "client_ip_country": None,
        "event_key": hashlib.sha256(payload).hexdigest(),
        "message_id": "m-1",
        "publish_time": "2026-12-01T12:00:00Z",
        "missing_metadata": [],
        "attributes": '{"a":"1","b":"2"}',
        "ingest_time": "2026-12-01T12:00:01Z",
    }
    assert set(row) == {f.name for f in (*c.ORDER_EVENT_FIELDS, *c.METADATA_FIELDS)}


def test_absent_nullable_fields_become_null() -> None:
    event = validate_order(enc(without(without(ORDER, "client_ip_country"), "card_bin_country")), NOW)
    assert event["client_ip_country"] is None and event["card_bin_country"] is None


def test_a_valid_shipment_becomes_the_exact_row() -> None:
    payload = enc(SHIPMENT)
    message = SimpleNamespace(data=payload, attributes={}, message_id="m-2", publish_time=None)
    row = validation.to_fact_row(validate_shipment(payload, NOW), message, NOW)
    assert row == {
        **SHIPMENT,
        "event_time": "2026-12-01T11:55:00Z",  # the generator's ".000Z" milliseconds, canonical
        "event_key": hashlib.sha256(payload).hexdigest(),
        "message_id": "m-2",
        "publish_time": None,
        "missing_metadata": ["publish_time"],
        "attributes": None,
        "ingest_time": "2026-12-01T12:00:00Z",
    }
    assert validation.is_late_delivery(row)  # delivered on 12-01, promised 11-30


def test_dead_letter_row_keeps_the_exact_payload_and_reason() -> None:
    payload = b"\xff" + b"x" * 10_000
    message = SimpleNamespace(data=payload, attributes={"k": "v"}, message_id="m-3", publish_time=NOW)
    error = InvalidEvent("invalid_utf8", None, "bad byte")
    row = validation.to_dead_letter_row("orders", message, error, NOW)
    assert base64.b64decode(row["payload_base64"]) == payload
    assert row["payload_text"] == payload[: validation.DEAD_LETTER_TEXT_BYTES].decode("utf-8", "replace")
    assert {k: row[k] for k in ("pipeline", "message_id", "error_reason", "error_field", "error_detail")} == {
        "pipeline": "orders",
        "message_id": "m-3",
        "error_reason": "invalid_utf8",
        "error_field": None,
        "error_detail": "bad byte",
    }
    # the logical row: the sink adds the chunk columns when it splits it (pipelines/dead_letters.py)
    assert set(row) == {f.name for f in c.DEAD_LETTER_FIELDS} - set(dead_letters.CHUNK_FIELDS)


def test_time_bounds_follow_the_injected_clock() -> None:
    payload = enc({**ORDER, "event_time": "2026-12-01T12:10:00Z"})
    assert validate_order(payload, NOW)["event_time"] == "2026-12-01T12:10:00Z"
    with pytest.raises(InvalidEvent) as err:
        validate_order(payload, NOW - timedelta(minutes=10))
    assert err.value.reason == "future_event_time"


def test_generated_messages_land_where_the_generator_says() -> None:
    """The lead's generator plants one known reason per invalid message: the validator must agree."""
    messages = generator.generate(11, 300, now=NOW, invalid_rate=0.2, duplicate_rate=0.05)
    for m in messages:
        fn = validation.VALIDATORS[m.pipeline]
        try:
            fn(m.data, NOW)
            outcome = "fact"
        except InvalidEvent:
            outcome = "dead_letter"
        assert outcome == m.expected, (m.planted, m.data[:200])


# ---------------------------------------------------------------- properties


def classify(fn, data: bytes) -> str:
    """Exactly one of 'fact' or 'dead_letter'; any other exception fails the property."""
    try:
        fn(data, NOW)
    except InvalidEvent as e:
        assert e.reason in validation.REASONS
        return "dead_letter"
    return "fact"


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=2048), st.sampled_from(["orders", "shipping"]))
def test_arbitrary_bytes_are_a_fact_or_a_dead_letter(data: bytes, pipeline: str) -> None:
    assert classify(validation.VALIDATORS[pipeline], data) in ("fact", "dead_letter")


JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["", "0", "-1", "1.005", "NL", "nl", "EUR", "CARD", "DELIVERED", "2026-12-01T11:59:00Z"]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


@st.composite
def near_valid(draw: st.DrawFn) -> tuple[str, bytes]:
    """A valid event with one mutation: drop, add, or replace a field (top level or in an item)."""
    pipeline = draw(st.sampled_from(["orders", "shipping"]))
    i = draw(st.integers(0, 50))
    t = NOW - timedelta(seconds=draw(st.integers(0, 3 * 24 * 3600)))
    event = order(i, t) if pipeline == "orders" else shipment(i, t, "DELIVERED", "2026-11-30")
    target = event
    if pipeline == "orders" and draw(st.booleans()):
        target = event["items"][draw(st.integers(0, len(event["items"]) - 1))]
    key = draw(st.sampled_from(sorted(target)))
    kind = draw(st.sampled_from(["drop", "add", "replace", "none"]))
    if kind == "drop":
        del target[key]
    elif kind == "add":
        target[draw(st.text(min_size=1, max_size=8))] = draw(JSON_VALUES)
    elif kind == "replace":
        target[key] = draw(JSON_VALUES)
    return pipeline, enc(event)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(near_valid())
def test_near_valid_events_are_a_fact_or_a_dead_letter(case: tuple[str, bytes]) -> None:
    pipeline, data = case
    assert classify(validation.VALIDATORS[pipeline], data) in ("fact", "dead_letter")


FAST = {"orders": validation._fast_order, "shipping": validation._fast_shipment}
FULL = {"orders": validation._full_order, "shipping": validation._full_shipment}


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(near_valid())
def test_fast_path_accepts_only_what_the_full_checks_accept_with_the_same_row(case: tuple[str, bytes]) -> None:
    """The fast path is an accelerator, never a second opinion."""
    pipeline, data = case
    try:
        obj = validation._parse(data)
    except InvalidEvent:
        return
    fast_row = FAST[pipeline](dict(obj), NOW)
    if fast_row is not None:
        assert FULL[pipeline](dict(obj), NOW) == fast_row


def test_fast_and_full_paths_agree_on_generated_traffic() -> None:
    messages = generator.generate(5, 200, now=NOW, invalid_rate=0.0, duplicate_rate=0.0)
    for m in messages:
        obj = orjson.loads(m.data)
        fast_row = FAST[m.pipeline](dict(obj), NOW)
        assert fast_row is not None  # clean generated traffic takes the fast path
        assert fast_row == FULL[m.pipeline](dict(obj), NOW)


def test_money_stays_exact() -> None:
    items = [{"sku": "A", "quantity": 3, "unit_price": "0.10"}, {"sku": "B", "quantity": 1, "unit_price": "0.20"}]
    event = {**ORDER, "items": items, "total_amount": "0.50"}
    assert validate_order(enc(event), NOW)["total_amount"] == "0.50"  # 3 * 0.1 + 0.2 != 0.5 in floats
    assert Decimal("0.10") * 3 + Decimal("0.20") == Decimal("0.50")


def test_utc_offsets_are_normalized() -> None:
    t = datetime(2026, 12, 1, 13, 30, tzinfo=UTC) - timedelta(hours=2)
    event = validate_order(enc({**ORDER, "event_time": "2026-12-01T13:30:00+02:00"}), NOW)
    assert event["event_time"] == validation.format_timestamp(t) == "2026-12-01T11:30:00Z"


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_format_timestamp_is_utc_rfc3339(naive: datetime, offset_minutes: int) -> None:
    """The hand-rolled fast formatter (per-minute prefix cache) agrees with the obvious one."""
    from datetime import timezone

    t = naive.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    u = t.astimezone(UTC)
    expected = u.strftime("%Y-%m-%dT%H:%M:%S") + (f".{u.microsecond:06d}" if u.microsecond else "") + "Z"
    assert validation.format_timestamp(t) == expected
    assert validation.parse_timestamp(expected) == t
