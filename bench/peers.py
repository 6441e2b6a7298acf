"""What a Python data engineer would otherwise write: pydantic v2 and msgspec versions of the v1 contracts.

Each peer is as strict as ``pipelines.validation`` (same accepted set, same
values out); they read the same declarations (``pipelines.contracts``) and are
written the way each library's documentation suggests, plus the checks the
library cannot express (money scale and bounds, the total, the card rule,
event-time bounds, blank text).  The benchmark times them against the
project's validators only after :func:`disagreements` found nothing: a faster
peer that accepts more is no comparison.

Traps met on the way, each now a case in ``bench/variants.py``:
- pydantic's ``Literal[1]`` accepts JSON ``true`` and ``1.0`` even with
  ``strict=True`` (seen with pydantic 2.14.4); the version is a strict int bounded
  to 1 instead.
- msgspec's ``pattern`` is unanchored ``re.search``
  (https://jcristharif.com/msgspec/constraints.html), where ``$`` also matches
  before a trailing newline: its patterns end in ``\\Z``.  (pydantic's Rust regex
  ``$`` is the end of the text.)
- msgspec rejects invalid UTF-8 inside a string with a plain ``UnicodeDecodeError``,
  not its own ``DecodeError``: a rejection is any ``ValueError``.
- ``datetime.fromisoformat`` refuses a lower-case ``t``/``z``, which RFC 3339
  allows and the project accepts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    ValidationInfo,
    model_validator,
)

from pipelines import contracts as c
from pipelines import validation

# Patterns of the contract that pipelines.contracts does not spell as a regex (validation.py's rules).
MONEY_PATTERN = r"^-?(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,%d})?$" % c.MONEY_SCALE  # noqa: UP031 - regex braces
RFC3339_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


class Rejected(ValueError):
    """A peer's own check failed (the libraries raise their own ValueError subclasses)."""


# ---------------------------------------------------------------- checks shared by both peers


def _envelope(data: bytes | None) -> bytes:
    if not data or len(data) > c.MAX_MESSAGE_BYTES:
        raise Rejected("empty or too large")
    return data


def _event_time(text: str, now: datetime) -> datetime:
    # fromisoformat keeps at most microseconds and needs an upper-case T and Z.
    t = datetime.fromisoformat(text.upper())
    if t > now + c.MAX_FUTURE_SKEW or t < now - c.MAX_PAST_AGE:
        raise Rejected("event_time out of bounds")
    return t


def _utc_text(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _price(text: str) -> str:
    d = Decimal(text)
    if d < 0 or d > c.MAX_UNIT_PRICE:
        raise Rejected("unit_price out of range")
    return text


def _not_negative(text: str) -> str:
    if Decimal(text) < 0:
        raise Rejected("negative money")
    return text


def _not_blank(text: str) -> str:
    if text.isspace():
        raise Rejected("blank text")
    return text


def _real_date(text: str) -> str:
    date.fromisoformat(text)
    return text


def _order_rules(items: list[Any], total: str, payment_method: str, card_bin_country: str | None) -> None:
    computed = sum((i.quantity * Decimal(i.unit_price) for i in items), Decimal(0))
    if Decimal(total) != computed:
        raise Rejected("total_amount differs from the sum of the items")
    if card_bin_country is not None and payment_method != "CARD":
        raise Rejected("card_bin_country without a card")


# ---------------------------------------------------------------- pydantic v2

_PId = Annotated[str, StringConstraints(pattern=c.ID_PATTERN)]
_PCountry = Annotated[str, StringConstraints(pattern=c.COUNTRY_PATTERN)]
_PText = Annotated[str, StringConstraints(min_length=1, max_length=c.MAX_TEXT_LENGTH), AfterValidator(_not_blank)]
_PMoney = Annotated[str, StringConstraints(pattern=MONEY_PATTERN), AfterValidator(_not_negative)]
_PVersion = Annotated[StrictInt, Field(ge=c.SCHEMA_VERSION, le=c.SCHEMA_VERSION)]


class _PModel(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class PydanticItem(_PModel):
    sku: _PId
    quantity: Annotated[StrictInt, Field(gt=0, le=c.MAX_QUANTITY)]
    unit_price: Annotated[str, StringConstraints(pattern=MONEY_PATTERN), AfterValidator(_price)]


def _bounded_time(text: str, info: ValidationInfo) -> str:
    _event_time(text, info.context["now"])
    return text


_PTime = Annotated[str, StringConstraints(pattern=RFC3339_PATTERN), AfterValidator(_bounded_time)]


class PydanticOrder(_PModel):
    schema_version: _PVersion
    order_id: _PId
    customer_id: _PId
    customer_address_id: _PId
    event_time: _PTime
    items: Annotated[list[PydanticItem], Field(min_length=1, max_length=c.MAX_ITEMS)]
    currency: Annotated[str, StringConstraints(pattern=c.CURRENCY_PATTERN)]
    total_amount: _PMoney
    channel: Literal[c.CHANNELS]  # type: ignore[valid-type]
    payment_method: Literal[c.PAYMENT_METHODS]  # type: ignore[valid-type]
    card_bin_country: _PCountry | None = None
    billing_country: _PCountry
    shipping_country: _PCountry
    shipping_region: _PText
    shipping_postal_code: _PText
    client_ip_country: _PCountry | None = None

    @model_validator(mode="after")
    def _rules(self) -> PydanticOrder:
        _order_rules(self.items, self.total_amount, self.payment_method, self.card_bin_country)
        return self


class PydanticShipment(_PModel):
    schema_version: _PVersion
    shipment_id: _PId
    order_id: _PId
    customer_id: _PId
    customer_address_id: _PId
    carrier: _PId
    warehouse_id: _PId
    status: Literal[c.SHIPMENT_STATUSES]  # type: ignore[valid-type]
    event_time: _PTime
    promised_delivery_date: Annotated[str, StringConstraints(pattern=DATE_PATTERN), AfterValidator(_real_date)]
    destination_region: _PText


def _pydantic(model: type[BaseModel]) -> Callable[[bytes, datetime], BaseModel]:
    validate_json = model.model_validate_json

    def validate(data: bytes, now: datetime) -> BaseModel:
        return validate_json(_envelope(data), context={"now": now})

    return validate


def _pydantic_row(m: BaseModel) -> dict:
    row = m.model_dump()
    row["event_time"] = _utc_text(datetime.fromisoformat(m.event_time.upper()))
    return row


# ---------------------------------------------------------------- msgspec


def _search(pattern: str) -> str:
    """msgspec matches with re.search, where ``$`` also matches before a final newline: end at ``\\Z``."""
    return pattern.removesuffix("$") + r"\Z"


_MId = Annotated[str, msgspec.Meta(pattern=_search(c.ID_PATTERN))]
_MCountry = Annotated[str, msgspec.Meta(pattern=_search(c.COUNTRY_PATTERN))]
_MText = Annotated[str, msgspec.Meta(min_length=1, max_length=c.MAX_TEXT_LENGTH)]
_MMoney = Annotated[str, msgspec.Meta(pattern=_search(MONEY_PATTERN))]


class _MStruct(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class MsgspecItem(_MStruct, forbid_unknown_fields=True, kw_only=True):
    sku: _MId
    quantity: Annotated[int, msgspec.Meta(gt=0, le=c.MAX_QUANTITY)]
    unit_price: _MMoney

    def __post_init__(self) -> None:
        _price(self.unit_price)


class MsgspecOrder(_MStruct, forbid_unknown_fields=True, kw_only=True):
    schema_version: Literal[c.SCHEMA_VERSION]  # type: ignore[valid-type]  (msgspec never takes a bool for it)
    order_id: _MId
    customer_id: _MId
    customer_address_id: _MId
    event_time: Annotated[str, msgspec.Meta(pattern=_search(RFC3339_PATTERN))]
    items: Annotated[list[MsgspecItem], msgspec.Meta(min_length=1, max_length=c.MAX_ITEMS)]
    currency: Annotated[str, msgspec.Meta(pattern=_search(c.CURRENCY_PATTERN))]
    total_amount: _MMoney
    channel: Literal[c.CHANNELS]  # type: ignore[valid-type]
    payment_method: Literal[c.PAYMENT_METHODS]  # type: ignore[valid-type]
    card_bin_country: _MCountry | None = None
    billing_country: _MCountry
    shipping_country: _MCountry
    shipping_region: _MText
    shipping_postal_code: _MText
    client_ip_country: _MCountry | None = None

    def __post_init__(self) -> None:
        _not_negative(self.total_amount)
        _not_blank(self.shipping_region)
        _not_blank(self.shipping_postal_code)
        _order_rules(self.items, self.total_amount, self.payment_method, self.card_bin_country)


class MsgspecShipment(_MStruct, forbid_unknown_fields=True, kw_only=True):
    schema_version: Literal[c.SCHEMA_VERSION]  # type: ignore[valid-type]
    shipment_id: _MId
    order_id: _MId
    customer_id: _MId
    customer_address_id: _MId
    carrier: _MId
    warehouse_id: _MId
    status: Literal[c.SHIPMENT_STATUSES]  # type: ignore[valid-type]
    event_time: Annotated[str, msgspec.Meta(pattern=_search(RFC3339_PATTERN))]
    promised_delivery_date: Annotated[str, msgspec.Meta(pattern=_search(DATE_PATTERN))]
    destination_region: _MText

    def __post_init__(self) -> None:
        _real_date(self.promised_delivery_date)
        _not_blank(self.destination_region)


def _msgspec(struct: type[msgspec.Struct]) -> Callable[[bytes, datetime], msgspec.Struct]:
    decode = msgspec.json.Decoder(struct).decode

    def validate(data: bytes, now: datetime) -> msgspec.Struct:
        event = decode(_envelope(data))
        _event_time(event.event_time, now)  # type: ignore[attr-defined]
        return event

    return validate


def _msgspec_row(m: msgspec.Struct) -> dict:
    row = msgspec.to_builtins(m)
    row["event_time"] = _utc_text(datetime.fromisoformat(row["event_time"].upper()))
    return row


# ---------------------------------------------------------------- the peers and the agreement check


@dataclass(frozen=True)
class Peer:
    """A validator to compare with: ``validate`` raises ValueError to reject; ``row`` is the project's form."""

    name: str
    validate: Callable[[bytes, datetime], Any]
    row: Callable[[Any], dict]


PEERS: dict[str, tuple[Peer, ...]] = {
    "orders": (
        Peer("pydantic", _pydantic(PydanticOrder), _pydantic_row),
        Peer("msgspec", _msgspec(MsgspecOrder), _msgspec_row),
    ),
    "shipping": (
        Peer("pydantic", _pydantic(PydanticShipment), _pydantic_row),
        Peer("msgspec", _msgspec(MsgspecShipment), _msgspec_row),
    ),
}


def _outcome(validate: Callable[[bytes, datetime], Any], row: Callable[[Any], dict], data: bytes, now: datetime):
    try:
        return row(validate(data, now))
    except ValueError:  # InvalidEvent, pydantic.ValidationError, msgspec.ValidationError / DecodeError, Rejected
        return None


def disagreements(pipeline: str, peer: Peer, payloads: list[tuple[str, bytes]], now: datetime) -> list[str]:
    """Every payload the peer decides differently from the project (accepts what it rejects, or yields other values)."""
    project = validation.VALIDATORS[pipeline]
    found = []
    for label, data in payloads:
        mine = _outcome(project, dict, data, now)
        theirs = _outcome(peer.validate, peer.row, data, now)
        if mine != theirs:
            verdict = "accepts" if theirs is not None else "rejects"
            found.append(f"{peer.name} {verdict} {label!r} ({'valid' if mine is not None else 'invalid'} here)")
    return found


def faithful_peers(pipeline: str, payloads: list[tuple[str, bytes]], now: datetime) -> tuple[Peer, ...]:
    """The peers that agree with the project on every payload; the others are reported and not timed."""
    kept = []
    for peer in PEERS[pipeline]:
        found = disagreements(pipeline, peer, payloads, now)
        if found:
            print(f"REFUSED to time {pipeline}/{peer.name}: {len(found)} disagreements, e.g. {found[:3]}")
        else:
            kept.append(peer)
    return tuple(kept)
