"""A seeded sample of fact and aggregate rows, shaped as the pipelines write them, with known oddities.

It feeds the insight tests and ``python -m insights.report``. Besides ordinary
orders and shipments it deliberately contains what the views must cope with:
redeliveries (same payload and event_key, new message id), re-published orders
with a corrected payload (new event_key, same order_id, later publish time),
late events (published hours after their event time, shipment statuses arriving
out of order), stuck shipments, exceptions and returns, fraud-like orders
(bursts, country mismatches, high-value first orders, many addresses) and
aggregate windows with several panes each. Rows use the field names of
``pipelines.tables.BY_KEY[...]`` and the wire formats ``insert_rows_json`` takes.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from google.cloud import bigquery

from pipelines import system, window_aggregates

START = datetime(2026, 11, 2, tzinfo=UTC)
CARRIERS = {"DHL": 1.0, "UPS": 0.8, "DPD": 1.3, "GLS": 1.6}  # relative transit time
WAREHOUSES = {"WH-AMS": 1.0, "WH-BER": 1.4, "WH-LYS": 0.8}  # relative handling time
# Home country -> (currency, regions); every currency gets its own revenue figures.
COUNTRIES = {
    "DE": ("EUR", ("BE", "BY", "HH", "NW")),
    "FR": ("EUR", ("IDF", "ARA", "PAC")),
    "NL": ("EUR", ("NH", "ZH")),
    "GB": ("GBP", ("ENG", "SCT")),
    "US": ("USD", ("CA", "NY", "TX", "WA")),
}


@dataclass
class Sample:
    """Rows per logical table key (``orders``, ``shipments``, ``order_revenue`` ...)."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, key: str, row: dict[str, Any]) -> None:
        self.rows.setdefault(key, []).append(row)


def _ts(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _event_key(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class _Deliveries:
    """Turns payloads into fact rows the way Pub/Sub plus the pipeline would, with redeliveries."""

    def __init__(self, rng: random.Random, sample: Sample) -> None:
        self.rng = rng
        self.sample = sample
        self.counter = 0

    def deliver(self, key: str, payload: dict[str, Any], publish_time: datetime, *, copies: int = 1) -> None:
        event_key = _event_key(payload)
        for copy in range(copies):
            self.counter += 1
            ingest = publish_time + timedelta(seconds=1 + copy * self.rng.randint(30, 7200))
            self.sample.add(
                key,
                {
                    **payload,
                    "event_key": event_key,
                    "message_id": f"m{self.counter:07d}",
                    "publish_time": _ts(publish_time),
                    "missing_metadata": [],
                    "attributes": json.dumps({"copy": str(copy)}),
                    "ingest_time": _ts(ingest),
                },
            )

    def copies(self) -> int:
        """About one event in ten is delivered twice or three times (redelivery, relaunch replay)."""
        r = self.rng.random()
        return 3 if r < 0.02 else 2 if r < 0.10 else 1


def _ip_country(rng: random.Random, home: str) -> str | None:
    """Unknown one time in five; now and then an unlikely country (the ip-mismatch flag)."""
    if rng.random() < 0.2:
        return None
    return rng.choice(("RU", "VN")) if rng.random() < 0.05 else home


def _money(d: Decimal) -> str:
    return f"{d:.2f}"


def generate(seed: int = 7, *, days: int = 16, customers: int = 70) -> Sample:
    """The whole sample; the same seed always gives the same rows."""
    rng = random.Random(seed)
    sample = Sample()
    out = _Deliveries(rng, sample)
    skus = [f"SKU-{i:03d}" for i in range(1, 19)]
    prices = {s: Decimal(rng.randint(299, 19999)) / 100 for s in skus}
    # Some SKUs gain popularity over the period, some lose it: the movers view must find them.
    trend = {s: rng.choice((-1.0, 0.0, 0.0, 1.0)) for s in skus}

    people = []
    for i in range(customers):
        country = rng.choice(list(COUNTRIES))
        n_addresses = 5 if i % 23 == 0 else rng.choice((1, 1, 1, 2))
        people.append(
            {
                "id": f"C{i:04d}",
                "country": country,
                "addresses": [f"A{i:04d}-{k}" for k in range(n_addresses)],
                "weight": rng.choice((1, 1, 2, 3, 6)),
                "first_day": rng.randint(0, 2),
                # A third of the customers stop buying at some point: recency must tell them apart.
                "last_day": rng.randint(2, days // 2) if rng.random() < 0.35 else days - 1,
            }
        )

    order_no = 0
    end = START + timedelta(days=days)
    for day in range(days):
        for _ in range(rng.randint(18, 30) + day):
            active = [p for p in people if p["first_day"] <= day <= p["last_day"]]
            person = rng.choices(active, weights=[p["weight"] for p in active])[0]
            at = START + timedelta(days=day, seconds=rng.randint(6 * 3600, 23 * 3600))
            burst = 4 if rng.random() < 0.02 else 1  # velocity: several orders within hours
            for b in range(burst):
                order_no += 1
                placed = at + timedelta(minutes=17 * b)
                _order(rng, out, sample, person, skus, prices, trend, day, days, f"O{order_no:05d}", placed, end)
    _panes(rng, sample)
    return sample


def _order(
    rng: random.Random,
    out: _Deliveries,
    sample: Sample,
    person: dict[str, Any],
    skus: list[str],
    prices: dict[str, Decimal],
    trend: dict[str, float],
    day: int,
    days: int,
    order_id: str,
    placed: datetime,
    end: datetime,
) -> None:
    currency, regions = COUNTRIES[person["country"]]
    progress = day / max(days - 1, 1)
    weights = [max(0.2, 1.0 + trend[s] * (progress - 0.5) * 1.6) for s in skus]
    lines = []
    for sku in rng.choices(skus, weights=weights, k=rng.choice((1, 1, 2, 3))):
        lines.append({"sku": sku, "quantity": rng.choice((1, 1, 1, 2, 3)), "unit_price": prices[sku]})
    if rng.random() < 0.03:  # an unusually large basket, often on a first order
        lines.append({"sku": rng.choice(skus), "quantity": 12, "unit_price": max(prices.values())})
    total = sum((line["quantity"] * line["unit_price"] for line in lines), Decimal(0))
    country = person["country"]
    card = rng.random() < 0.7
    region = rng.choice(regions)
    payload = {
        "schema_version": 1,
        "order_id": order_id,
        "customer_id": person["id"],
        "customer_address_id": rng.choice(person["addresses"]),
        "event_time": _ts(placed),
        "items": [{**line, "unit_price": _money(line["unit_price"])} for line in lines],
        "currency": currency,
        "total_amount": _money(total),
        "channel": rng.choice(("WEB", "MOBILE_APP", "MARKETPLACE")),
        "payment_method": "CARD" if card else rng.choice(("PAYPAL", "BANK_TRANSFER")),
        "card_bin_country": (rng.choice(("NG", "BR")) if rng.random() < 0.05 else country) if card else None,
        "billing_country": country,
        "shipping_country": rng.choice(list(COUNTRIES)) if rng.random() < 0.05 else country,
        "shipping_region": region,
        "shipping_postal_code": f"{rng.randint(10000, 99999)}",
        "client_ip_country": _ip_country(rng, country),
    }
    late = rng.random() < 0.06  # published hours after it happened (offline shop, backlog)
    published = placed + (timedelta(hours=rng.randint(2, 30)) if late else timedelta(seconds=rng.randint(1, 20)))
    out.deliver("orders", payload, published, copies=out.copies())
    if rng.random() < 0.04:  # the shop re-publishes a corrected order: new event_key, same order_id
        corrected = dict(payload)
        corrected["channel"] = "CALL_CENTER"
        first = payload["items"][0]
        corrected["items"] = [{**first, "quantity": first["quantity"] + 1}, *payload["items"][1:]]
        corrected["total_amount"] = _money(total + Decimal(first["unit_price"]))
        out.deliver("orders", corrected, published + timedelta(minutes=rng.randint(5, 90)))
    if rng.random() < 0.05:
        return  # never shipped (yet)
    _shipment(rng, out, person, order_id, placed, region, end)


def _shipment(
    rng: random.Random,
    out: _Deliveries,
    person: dict[str, Any],
    order_id: str,
    placed: datetime,
    region: str,
    end: datetime,
) -> None:
    carrier = rng.choice(list(CARRIERS))
    warehouse = rng.choice(list(WAREHOUSES))
    hw, tc = WAREHOUSES[warehouse], CARRIERS[carrier]
    steps = [
        ("CREATED", rng.uniform(0.2, 2.0)),
        ("PICKED", rng.uniform(1, 10) * hw),
        ("SHIPPED", rng.uniform(2, 20) * hw),
        ("IN_TRANSIT", rng.uniform(3, 16) * tc),
        ("OUT_FOR_DELIVERY", rng.uniform(10, 50) * tc),
        ("DELIVERED", rng.uniform(1, 8)),
    ]
    fate = rng.random()
    if fate < 0.06:  # hits an exception in transit, then either recovers or goes back
        steps.insert(4, ("EXCEPTION", rng.uniform(5, 30)))
        if rng.random() < 0.4:
            steps = [*steps[:5], ("RETURNED", rng.uniform(24, 96))]
    elif fate < 0.10:  # stuck: the trail stops somewhere before delivery
        steps = steps[: rng.randint(1, 4)]
    elif fate < 0.13:
        steps.append(("RETURNED", rng.uniform(48, 120)))
    promise_days = 3 if carrier in ("UPS", "DHL") else 4
    base = {
        "schema_version": 1,
        "order_id": order_id,
        "customer_id": person["id"],
        "customer_address_id": person["addresses"][0],
        "carrier": carrier,
        "warehouse_id": warehouse,
        "promised_delivery_date": (placed.date() + timedelta(days=promise_days)).isoformat(),
        "destination_region": region,
    }
    at = placed
    events = []
    for status, hours in steps:
        at = at + timedelta(seconds=int(hours * 3600))
        if at >= end:
            break  # not happened yet at the end of the sample
        events.append((status, at))
    for status, t in events:
        payload = {**base, "shipment_id": f"S-{order_id}", "status": status, "event_time": _ts(t)}
        # Out of order: now and then a status is published long after the next ones.
        delay = timedelta(hours=rng.randint(6, 40)) if rng.random() < 0.05 else timedelta(seconds=rng.randint(1, 30))
        out.deliver("shipments", payload, t + delay, copies=out.copies())


PANE_WINDOW_SECONDS = 3600  # the sample's aggregate windows are hours


def _panes(rng: random.Random, sample: Sample) -> None:
    """Hourly aggregate panes for the first days' windows, streamed the way two jobs would have.

    Job attempt 0 emits an ON_TIME pane with part of each window and a LATE pane with all of it;
    in some windows a relaunched job (attempt 1, empty state) then emits its own pane 0 with only
    the part it saw, later than the others: the latest pane is wrong there, the facts are right.
    """
    day_end = START + timedelta(days=4)  # long enough for deliveries
    for pipeline, aggregates in window_aggregates.AGGREGATES.items():
        facts = [
            r
            for r in sample.rows[window_aggregates.FACT_TABLES[pipeline]]
            if r["event_time"] < _ts(day_end)  # both RFC 3339 UTC strings: they compare as text
        ]
        for aggregate in aggregates:
            for (start, *key), values in sorted(
                window_aggregates.expected_windows(aggregate, facts, PANE_WINDOW_SECONDS).items(), key=repr
            ):
                relaunched = rng.random() < 0.3
                part = {n: v - v // 3 for n, v in values.items()}  # what a pane saw before the window closed
                panes = [("ON_TIME", 0, 0, part), ("LATE", 1, 0, values)]
                if relaunched:
                    panes.append(("ON_TIME", 0, 1, {n: v // 3 for n, v in values.items()}))
                for order, (timing, index, attempt, sums) in enumerate(panes):
                    row = {
                        "window_start": _ts(start),
                        "window_end": _ts(start + timedelta(seconds=PANE_WINDOW_SECONDS)),
                        "pane_timing": timing,
                        "pane_index": index,
                        "emitted_at": _ts(start + timedelta(seconds=PANE_WINDOW_SECONDS, minutes=5 * (order + 1))),
                        "job_id": f"sample-job-{pipeline}-{attempt}",
                        "job_name": system.job_name(pipeline, attempt),
                        "job_attempt": attempt,
                        **dict(zip(aggregate.key_fields, key, strict=True)),
                    }
                    row.update({n: str(v) if isinstance(v, Decimal) else v for n, v in sums.items()})
                    sample.add(aggregate.table, row)


def load(client: bigquery.Client, project: str, dataset: str, sample: Sample, *, batch: int = 500) -> dict[str, int]:
    """Insert every row of ``sample`` into its table; returns rows written per table key."""
    written = {}
    for key, rows in sample.rows.items():
        table = f"{project}.{dataset}.{system.table_name(key)}"
        for i in range(0, len(rows), batch):
            errors = client.insert_rows_json(table, rows[i : i + batch])
            if errors:
                raise RuntimeError(f"insert into {table} failed: {errors[:3]}")
        written[key] = len(rows)
    return written
