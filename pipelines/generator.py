"""Seeded synthetic order and shipment events: realistic enough to exercise every insight.

Used by the demo, the benchmarks, the ops CLI and the tests.  Every message
says what must become of it (``expected``: a fact or a dead letter), so a run
can check conservation exactly: distinct facts + dead letters + duplicates ==
published.

What is in a stream (rates are parameters):
- orders from a pool of returning customers, 1-4 lines each, several currencies
  and channels;
- for most valid orders a shipment whose status events follow the order with
  carrier- and warehouse-dependent delays; some end late against the promised
  date, some in EXCEPTION or RETURNED; lifecycles still running at ``now`` stop
  there;
- planted fraud patterns: order velocity (bursts by one customer), billing /
  shipping / IP country mismatch, a high-value first order, a customer with many
  addresses;
- about ``invalid_rate`` malformed or invalid messages, one reason each;
- about ``duplicate_rate`` byte-identical republished messages (at-least-once).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from pipelines import contracts as c

CARRIERS = {  # carrier -> (mean hours from order to ship, mean hours in transit)
    "DHL": (10, 30),
    "UPS": (14, 40),
    "GLS": (20, 60),
    "POSTNL": (24, 80),
}
WAREHOUSES = {"WH-AMS": 0.8, "WH-BER": 1.0, "WH-MAD": 1.6}  # warehouse -> handling-time factor
COUNTRIES = {"NL": ["NH", "ZH", "UT"], "DE": ["BE", "BY", "HH"], "ES": ["MD", "CT", "AN"], "FR": ["IDF", "ARA"]}
CURRENCY_BY_COUNTRY = {"NL": "EUR", "DE": "EUR", "ES": "EUR", "FR": "EUR"}
SKUS = {
    f"SKU-{i:04d}": Decimal(p)
    for i, p in enumerate(
        ["4.99", "9.99", "12.50", "19.99", "24.00", "39.95", "59.00", "89.90", "129.00", "249.00"], start=1
    )
}
PAYMENT_WEIGHTS = {"CARD": 60, "PAYPAL": 25, "BANK_TRANSFER": 8, "GIFT_CARD": 4, "CASH_ON_DELIVERY": 3}
CHANNEL_WEIGHTS = {"WEB": 50, "MOBILE_APP": 35, "MARKETPLACE": 10, "STORE": 3, "CALL_CENTER": 2}


@dataclass(frozen=True)
class GeneratedMessage:
    """One message to publish, and what must become of it."""

    pipeline: str  # "orders" | "shipping" (config/system.json pipeline names)
    data: bytes
    attributes: dict[str, str] = field(default_factory=dict)
    expected: str = "fact"  # "fact" | "dead_letter"
    duplicate: bool = False  # byte-identical copy of an earlier message
    event_time: datetime | None = None
    planted: str | None = None  # e.g. "invalid:total_mismatch", "fraud:velocity", "late_delivery"


def _ts(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def encode(event: dict) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def order_event(
    order_id: str,
    customer_id: str,
    address_id: str,
    event_time: datetime,
    items: list[tuple[str, int, Decimal]],
    *,
    currency: str = "EUR",
    channel: str = "WEB",
    payment_method: str = "CARD",
    card_bin_country: str | None = "NL",
    billing_country: str = "NL",
    shipping_country: str = "NL",
    shipping_region: str = "NH",
    shipping_postal_code: str = "1011AB",
    client_ip_country: str | None = "NL",
) -> dict:
    """A valid v1 order event (a dict, ready for :func:`encode`)."""
    total = sum((q * p for _, q, p in items), Decimal("0"))
    return {
        "schema_version": c.SCHEMA_VERSION,
        "order_id": order_id,
        "customer_id": customer_id,
        "customer_address_id": address_id,
        "event_time": _ts(event_time),
        "items": [{"sku": s, "quantity": q, "unit_price": str(p)} for s, q, p in items],
        "currency": currency,
        "total_amount": str(total.quantize(Decimal("0.01"))),
        "channel": channel,
        "payment_method": payment_method,
        "card_bin_country": card_bin_country if payment_method == "CARD" else None,
        "billing_country": billing_country,
        "shipping_country": shipping_country,
        "shipping_region": shipping_region,
        "shipping_postal_code": shipping_postal_code,
        "client_ip_country": client_ip_country,
    }


def shipment_event(
    shipment_id: str,
    order: dict,
    status: str,
    event_time: datetime,
    *,
    carrier: str = "DHL",
    warehouse_id: str = "WH-AMS",
    promised_delivery_date: date | None = None,
) -> dict:
    """A valid v1 shipment status event for ``order``."""
    promised = promised_delivery_date or (datetime.fromisoformat(order["event_time"]).date() + timedelta(days=3))
    return {
        "schema_version": c.SCHEMA_VERSION,
        "shipment_id": shipment_id,
        "order_id": order["order_id"],
        "customer_id": order["customer_id"],
        "customer_address_id": order["customer_address_id"],
        "carrier": carrier,
        "warehouse_id": warehouse_id,
        "status": status,
        "event_time": _ts(event_time),
        "promised_delivery_date": promised.isoformat(),
        "destination_region": order["shipping_region"],
    }


# One corruption per invalid message; the name is recorded in GeneratedMessage.planted.
def _corruptions(now: datetime) -> dict[str, Callable[[dict], bytes]]:
    def drop(key: str) -> Callable[[dict], bytes]:
        return lambda e: encode({k: v for k, v in e.items() if k != key})

    def with_(key: str, value: object) -> Callable[[dict], bytes]:
        return lambda e: encode({**e, key: value})

    return {
        "invalid_json": lambda e: encode(e)[:-7],
        "not_utf8": lambda e: b"\xff\xfe" + encode(e),
        "empty": lambda e: b"",
        "missing_customer_id": drop("customer_id"),
        "wrong_schema_version": with_("schema_version", 99),
        "future_event_time": with_("event_time", _ts(now + timedelta(days=2))),
        "bad_event_time": with_("event_time", "yesterday at noon"),
    }


def _order_corruptions() -> dict[str, Callable[[dict], bytes]]:
    return {
        "negative_quantity": lambda e: encode({**e, "items": [{**e["items"][0], "quantity": -1}, *e["items"][1:]]}),
        "total_mismatch": lambda e: encode({**e, "total_amount": str(Decimal(e["total_amount"]) + Decimal("1.00"))}),
        "bad_channel": lambda e: encode({**e, "channel": "CARRIER_PIGEON"}),
        "float_money": lambda e: encode({**e, "total_amount": float(e["total_amount"]) + 0.001}),
    }


def _shipment_corruptions() -> dict[str, Callable[[dict], bytes]]:
    return {
        "bad_status": lambda e: encode({**e, "status": "TELEPORTED"}),
        "bad_promised_date": lambda e: encode({**e, "promised_delivery_date": "31/12/2026"}),
    }


@dataclass
class _Customer:
    customer_id: str
    country: str
    addresses: list[str]
    orders: int = 0


def generate(
    seed: int,
    n_orders: int,
    *,
    now: datetime | None = None,
    span: timedelta = timedelta(days=2),
    invalid_rate: float = 0.02,
    duplicate_rate: float = 0.01,
    fraud_rate: float = 0.03,
) -> list[GeneratedMessage]:
    """``n_orders`` orders over ``span`` before ``now`` with their shipments, in event-time order.

    Deterministic for a given ``seed`` and ``now``.  No event time is later than ``now``.
    """
    rng = random.Random(seed)
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    start = now - span
    countries = list(COUNTRIES)
    customers = [
        _Customer(f"C{seed % 1000:03d}-{i:05d}", rng.choice(countries), [f"A{seed % 1000:03d}-{i:05d}-1"])
        for i in range(max(4, n_orders // 3))
    ]
    common = _corruptions(now)
    order_bad = {**common, **_order_corruptions()}
    ship_bad = {**common, **_shipment_corruptions()}
    out: list[GeneratedMessage] = []

    def emit(pipeline: str, event: dict, t: datetime, planted: str | None = None) -> None:
        bad = order_bad if pipeline == "orders" else ship_bad
        if rng.random() < invalid_rate:
            name = rng.choice(sorted(bad))
            out.append(
                GeneratedMessage(
                    pipeline, bad[name](event), {"source": "generator"}, "dead_letter", False, t, f"invalid:{name}"
                )
            )
            return
        out.append(GeneratedMessage(pipeline, encode(event), {"source": "generator"}, "fact", False, t, planted))

    def order_for(cust: _Customer, t: datetime, planted: str | None = None, **overrides: object) -> dict:
        cust.orders += 1
        lines = [(sku, rng.randint(1, 3), SKUS[sku]) for sku in rng.sample(sorted(SKUS), rng.randint(1, 4))]
        country = cust.country
        payment = _weighted(rng, PAYMENT_WEIGHTS)
        kwargs: dict = {
            "currency": CURRENCY_BY_COUNTRY[country],
            "channel": _weighted(rng, CHANNEL_WEIGHTS),
            "payment_method": payment,
            "card_bin_country": country,
            "billing_country": country,
            "shipping_country": country,
            "shipping_region": rng.choice(COUNTRIES[country]),
            "shipping_postal_code": f"{rng.randint(10000, 99999)}",
            "client_ip_country": country,
        }
        kwargs.update(overrides)
        oid = f"O{seed % 1000:03d}-{len(out):07d}"
        event = order_event(oid, cust.customer_id, rng.choice(cust.addresses), t, lines, **kwargs)
        emit("orders", event, t, planted)
        return event

    def ship(order: dict, t0: datetime) -> None:
        carrier = rng.choice(sorted(CARRIERS))
        wh = rng.choice(sorted(WAREHOUSES))
        to_ship_h, transit_h = CARRIERS[carrier]
        sid = "S" + order["order_id"][1:]
        promised = t0.date() + timedelta(days=rng.choice([1, 2, 2, 3]))  # express .. standard
        t = t0 + timedelta(minutes=rng.randint(5, 90))
        steps = [
            ("CREATED", 0.0),
            ("PICKED", to_ship_h * WAREHOUSES[wh] * 0.5),
            ("SHIPPED", to_ship_h * 0.5),
            ("IN_TRANSIT", 2.0),
            ("OUT_FOR_DELIVERY", transit_h * 0.8),
            ("DELIVERED", transit_h * 0.2),
        ]
        fate = rng.random()
        for status, mean_h in steps:
            t = t + timedelta(hours=rng.expovariate(1 / mean_h) if mean_h else 0)
            if t > now:
                return  # still in flight
            if status == "OUT_FOR_DELIVERY" and fate < 0.04:
                status = "EXCEPTION"
            elif status == "DELIVERED" and fate > 0.97:
                status = "RETURNED"
            event = shipment_event(
                sid, order, status, t, carrier=carrier, warehouse_id=wh, promised_delivery_date=promised
            )
            late = status == "DELIVERED" and t.date() > date.fromisoformat(event["promised_delivery_date"])
            emit("shipping", event, t, "late_delivery" if late else None)
            if status in ("EXCEPTION", "RETURNED"):
                return

    step = span / max(1, n_orders)
    i = 0
    while i < n_orders:
        t = start + step * i + timedelta(seconds=rng.randint(0, max(1, int(step.total_seconds()) - 1)))
        cust = rng.choice(customers)
        r = rng.random()
        if r < fraud_rate / 4 and i + 5 <= n_orders:  # velocity: a burst of orders within minutes
            for k in range(5):
                order_for(cust, t + timedelta(minutes=k), "fraud:velocity")
            i += 5
            continue
        if r < fraud_rate / 2:  # billing / shipping / IP countries disagree
            order = order_for(
                cust,
                t,
                "fraud:country_mismatch",
                billing_country="US",
                client_ip_country="RU",
                card_bin_country="BR",
                payment_method="CARD",
            )
        elif r < 3 * fraud_rate / 4:  # a brand-new customer's first order of unusually high value
            fresh = _Customer(f"C{seed % 1000:03d}-N{i:05d}", cust.country, [f"A{seed % 1000:03d}-N{i:05d}-1"])
            customers.append(fresh)
            order = order_for(fresh, t, "fraud:high_value_new_customer")
            big = order_event(
                order["order_id"] + "X",
                fresh.customer_id,
                fresh.addresses[0],
                t,
                [("SKU-0010", 8, SKUS["SKU-0010"])],
                currency=order["currency"],
            )
            emit("orders", big, t, "fraud:high_value_new_customer")
        elif r < fraud_rate:  # one customer, many addresses
            cust.addresses.extend(f"{cust.customer_id}-X{k}" for k in range(4))
            order = order_for(cust, t, "fraud:many_addresses")
        else:
            order = order_for(cust, t)
        if rng.random() < 0.9:
            ship(order, t)
        i += 1

    out.sort(key=lambda m: m.event_time or now)
    # At-least-once: republish some valid messages byte for byte, a little later.  (Invalid messages are
    # not duplicated: every dead-letter row is its own delivery, so a copy would count as a second one.)
    for m in [m for m in out if m.expected == "fact" and rng.random() < duplicate_rate]:
        out.append(GeneratedMessage(m.pipeline, m.data, dict(m.attributes), m.expected, True, m.event_time, m.planted))
    out.sort(key=lambda m: (m.event_time or now, m.duplicate))
    return out


def expected_counts(messages: list[GeneratedMessage]) -> dict[str, dict[str, int]]:
    """Per pipeline: published, distinct facts, dead letters and duplicates that a run must end with."""
    counts: dict[str, Counter] = {}
    for m in messages:
        cnt = counts.setdefault(m.pipeline, Counter())
        cnt["published"] += 1
        if m.duplicate:
            cnt["duplicates"] += 1
        elif m.expected == "fact":
            cnt["facts"] += 1
        else:
            cnt["dead_letters"] += 1
    return {p: {k: cnt[k] for k in ("published", "facts", "dead_letters", "duplicates")} for p, cnt in counts.items()}
