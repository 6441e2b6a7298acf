"""The shared table of contract edge cases that every validator must decide alike.

The peers bench (``bench/peers.py``) refuses to time a peer that decides one of
these differently from the project's validators, and ``tests/bench/test_peers.py``
runs the same check.  Each case names the reason the project gives (``None``: the
event is valid), so the table also documents the contract's corners: the traps a
quick pydantic or msgspec model falls into (``$`` before a trailing newline, JSON
``true`` for the integer 1, invalid UTF-8 inside a string, money as a JSON number).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from pipelines import contracts as c
from pipelines import generator


@dataclass(frozen=True)
class Case:
    """One payload, and the reason code the project gives it (None: accepted)."""

    label: str
    data: bytes
    reason: str | None


def _enc(event: dict) -> bytes:
    return generator.encode(event)


def _without(event: dict, key: str) -> dict:
    return {k: v for k, v in event.items() if k != key}


def _item(event: dict, **changes: object) -> dict:
    return {**event, "items": [{**event["items"][0], **changes}, *event["items"][1:]]}


def base_order(now: datetime) -> dict:
    """A valid order five minutes before ``now``: two lines, paid by card."""
    items = [("SKU-0001", 2, Decimal("4.99")), ("SKU-0002", 1, Decimal("12.50"))]
    return generator.order_event("O-1", "C-1", "A-1", now - timedelta(minutes=5), items)


def base_shipment(now: datetime) -> dict:
    return generator.shipment_event("S-1", base_order(now), "DELIVERED", now - timedelta(minutes=5))


def _common(event: dict, now: datetime) -> list[Case]:
    """Cases both contracts share: the envelope, the version, ids, event_time, unknown fields."""
    raw = _enc(event)
    return [
        Case("empty payload", b"", "empty_payload"),
        Case("too large", b" " * (c.MAX_MESSAGE_BYTES + 1), "too_large"),
        Case("bad utf-8 before the json", b"\xff\xfe" + raw, "invalid_utf8"),
        Case("bad utf-8 inside a string", raw.replace(b'"C-1"', b'"C-\xff"'), "invalid_utf8"),
        Case("truncated json", raw[:-7], "invalid_json"),
        Case("json array", b"[1, 2]", "not_an_object"),
        Case("schema_version missing", _enc(_without(event, "schema_version")), "missing_field"),
        Case("schema_version as string", _enc({**event, "schema_version": "1"}), "wrong_type"),
        Case("schema_version true", _enc({**event, "schema_version": True}), "wrong_type"),
        Case("schema_version 1.0", raw.replace(b'"schema_version":1,', b'"schema_version":1.0,'), "wrong_type"),
        Case("schema_version 2", _enc({**event, "schema_version": 2}), "unsupported_schema_version"),
        Case("customer_id missing", _enc(_without(event, "customer_id")), "missing_field"),
        Case("unknown field", _enc({**event, "coupon": "X"}), "unknown_field"),
        Case("id as number", _enc({**event, "order_id": 42}), "wrong_type"),
        Case("id with space", _enc({**event, "order_id": "has space"}), "invalid_value"),
        Case("id with trailing newline", _enc({**event, "order_id": "O-1\n"}), "invalid_value"),
        Case("id of 65 chars", _enc({**event, "order_id": "x" * 65}), "invalid_value"),
        Case("id of 64 chars", _enc({**event, "order_id": "x" * 64}), None),
        Case("event_time prose", _enc({**event, "event_time": "yesterday at noon"}), "invalid_value"),
        Case("event_time without offset", _enc({**event, "event_time": "2026-12-01T11:00:00"}), "invalid_value"),
        Case("event_time with a space", _enc({**event, "event_time": "2026-12-01 11:00:00Z"}), "invalid_value"),
        Case("event_time Feb 30", _enc({**event, "event_time": "2026-02-30T11:00:00Z"}), "invalid_value"),
        Case("event_time as number", _enc({**event, "event_time": 1764590000}), "wrong_type"),
        Case("event_time ahead", _enc({**event, "event_time": _at(now + timedelta(minutes=16))}), "future_event_time"),
        Case("event_time too old", _enc({**event, "event_time": _at(now - timedelta(days=31))}), "stale_event_time"),
        Case("event_time +01:00 nanos", _enc({**event, "event_time": _at(now, "+01:00", ".123456789")}), None),
        Case("event_time lower-case t z", _enc({**event, "event_time": _at(now).lower()}), None),
    ]


def _at(t: datetime, offset: str = "Z", fraction: str = "") -> str:
    """``t`` as RFC 3339 in the given offset ("Z" or "+HH:MM"), with an optional literal fraction."""
    shift = timedelta(0) if offset == "Z" else timedelta(hours=int(offset[1:3]), minutes=int(offset[4:]))
    if offset.startswith("-"):
        shift = -shift
    return (t + shift).strftime("%Y-%m-%dT%H:%M:%S") + fraction + offset


def order_cases(now: datetime) -> list[Case]:
    """Every order variant, valid edge cases included."""
    o = base_order(now)
    first = o["items"][0]
    return [
        Case("valid order", _enc(o), None),
        *_common(o, now),
        Case("items as object", _enc({**o, "items": {}}), "wrong_type"),
        Case("no items", _enc({**o, "items": []}), "out_of_range"),
        Case("101 items", _enc({**o, "items": [first] * (c.MAX_ITEMS + 1)}), "too_many_items"),
        Case("item as string", _enc({**o, "items": ["SKU-1"]}), "wrong_type"),
        Case("item without sku", _enc({**o, "items": [_without(first, "sku")]}), "missing_field"),
        Case("item with colour", _enc(_item(o, colour="red")), "unknown_field"),
        Case("sku with space", _enc(_item(o, sku="no space")), "invalid_value"),
        Case("quantity -1", _enc(_item(o, quantity=-1)), "out_of_range"),
        Case("quantity 0", _enc(_item(o, quantity=0)), "out_of_range"),
        Case("quantity max + 1", _enc(_item(o, quantity=c.MAX_QUANTITY + 1)), "out_of_range"),
        Case("quantity 1.0", _enc(_item(o, quantity=1.0)), "wrong_type"),
        Case("quantity true", _enc(_item(o, quantity=True)), "wrong_type"),
        Case("unit_price as number", _enc(_item(o, unit_price=4.99)), "wrong_type"),
        Case("unit_price 3 decimals", _enc(_item(o, unit_price="4.999")), "invalid_value"),
        Case("unit_price with comma", _enc(_item(o, unit_price="4,99")), "invalid_value"),
        Case("unit_price exponent", _enc(_item(o, unit_price="1e3")), "invalid_value"),
        Case("unit_price leading zero", _enc(_item(o, unit_price="04.99")), "invalid_value"),
        Case("unit_price with spaces", _enc(_item(o, unit_price=" 4.99")), "invalid_value"),
        Case("unit_price negative", _enc(_item(o, unit_price="-4.99")), "out_of_range"),
        Case("unit_price over max", _enc(_item(o, unit_price="1000000.01")), "out_of_range"),
        Case("currency lower case", _enc({**o, "currency": "euro"}), "invalid_value"),
        Case("total as number", _enc({**o, "total_amount": float(o["total_amount"])}), "wrong_type"),
        Case("total mismatch", _enc({**o, "total_amount": "0.01"}), "total_mismatch"),
        Case("total off by a cent", _enc({**o, "total_amount": "22.47"}), "total_mismatch"),
        Case("total with trailing zero", _enc({**o, "total_amount": "22.480"}), "invalid_value"),
        Case("total as 22.48", _enc({**o, "total_amount": "22.48"}), None),
        Case("channel unknown", _enc({**o, "channel": "CARRIER_PIGEON"}), "invalid_value"),
        Case("payment lower case", _enc({**o, "payment_method": "card"}), "invalid_value"),
        Case("card country without card", _enc({**o, "payment_method": "PAYPAL"}), "invalid_value"),
        Case("paypal, card country null", _enc({**o, "payment_method": "PAYPAL", "card_bin_country": None}), None),
        Case("nullable fields absent", _enc(_without(_without(o, "card_bin_country"), "client_ip_country")), None),
        Case("country of 3 letters", _enc({**o, "billing_country": "NLD"}), "invalid_value"),
        Case("country lower case", _enc({**o, "shipping_country": "nl"}), "invalid_value"),
        Case("empty region", _enc({**o, "shipping_region": ""}), "out_of_range"),
        Case("blank postal code", _enc({**o, "shipping_postal_code": "   "}), "out_of_range"),
        Case("postal code of 129", _enc({**o, "shipping_postal_code": "9" * 129}), "out_of_range"),
        Case("region of 128 non-ascii", _enc({**o, "shipping_region": "é" * 128}), None),
        Case("region of 129 non-ascii", _enc({**o, "shipping_region": "é" * 129}), "out_of_range"),
        Case("ip country as number", _enc({**o, "client_ip_country": 7}), "wrong_type"),
        Case("ip country null", _enc({**o, "client_ip_country": None}), None),
    ]


def shipment_cases(now: datetime) -> list[Case]:
    """Every shipment variant, valid edge cases included."""
    s = base_shipment(now)
    return [
        Case("valid shipment", _enc(s), None),
        *_common(s, now),
        Case("status unknown", _enc({**s, "status": "TELEPORTED"}), "invalid_value"),
        Case("status null", _enc({**s, "status": None}), "wrong_type"),
        Case("promised date d/m/y", _enc({**s, "promised_delivery_date": "31/12/2026"}), "invalid_value"),
        Case("promised date Feb 30", _enc({**s, "promised_delivery_date": "2026-02-30"}), "invalid_value"),
        Case("promised date as number", _enc({**s, "promised_delivery_date": 20261230}), "wrong_type"),
        Case("promised date with time", _enc({**s, "promised_delivery_date": "2026-12-30T00:00:00"}), "invalid_value"),
        Case("carrier missing", _enc(_without(s, "carrier")), "missing_field"),
        Case("items in a shipment", _enc({**s, "items": []}), "unknown_field"),
        Case("warehouse with space", _enc({**s, "warehouse_id": "WH AMS"}), "invalid_value"),
        Case("empty region", _enc({**s, "destination_region": ""}), "out_of_range"),
    ]


CASES = {"orders": order_cases, "shipping": shipment_cases}
