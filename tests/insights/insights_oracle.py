"""The views' answers computed again in plain Python, from the rows as inserted (never from the SQL under test).

Each function follows the definition written in the view's header comment and
the README, so a disagreement means either the SQL or the definition is wrong.
Money is Decimal throughout; rounding is half away from zero (BigQuery ROUND).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

TERMINAL = ("DELIVERED", "RETURNED")
Row = dict[str, Any]


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def typed(rows: Iterable[Row]) -> list[Row]:
    """Rows as the insert wrote them (strings) -> Python values as BigQuery returns them."""
    out = []
    for row in rows:
        r = dict(row)
        for k, v in row.items():
            if v is None:
                continue
            if k.endswith("_time") or k in ("window_start", "window_end", "emitted_at"):
                r[k] = _dt(v)
            elif k in ("total_amount", "revenue"):
                r[k] = Decimal(v)
            elif k == "promised_delivery_date":
                r[k] = date.fromisoformat(v)
            elif k == "items":
                r[k] = [{**i, "unit_price": Decimal(i["unit_price"])} for i in v]
        out.append(r)
    return out


def round_half_up(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def ratio(numerator: Decimal | int, denominator: Decimal | int, places: int) -> Decimal | None:
    if denominator == 0:
        return None
    return round_half_up(Decimal(numerator) / Decimal(denominator), places)


def nearest_rank(values: list[int], pct: int) -> int | None:
    """Smallest value with at least pct% of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(pct * len(ordered) / 100) - 1]


def _pick(rows: list[Row], group: tuple[str, ...], sort_key, *, latest: bool) -> list[Row]:
    groups: dict[tuple, list[Row]] = defaultdict(list)
    for r in rows:
        groups[tuple(r[g] for g in group)].append(r)
    chooser = max if latest else min
    return [chooser(g, key=sort_key) for g in groups.values()]


def _null_smallest(value: Any) -> tuple:
    """BigQuery's order for a NULLABLE column: NULL first ascending, last descending (NULL is smallest)."""
    return (value is not None, value)


def _delivery_key(r: Row) -> tuple:
    # publish_time IS NULL, message_id IS NULL, publish_time, ingest_time, message_id: deliveries
    # that carry their Pub/Sub metadata first (it may be missing, see pipelines/contracts.py).
    p, m = r["publish_time"], r["message_id"]
    return (p is None, m is None, p, r["ingest_time"], m)


def _event_order(r: Row) -> tuple:
    return (
        r["event_time"],
        _null_smallest(r["publish_time"]),
        r["event_key"],
        r["ingest_time"],
        _null_smallest(r["message_id"]),
    )


# ---- base ---------------------------------------------------------------------------------------


def data_as_of(orders: list[Row], shipments: list[Row]) -> datetime:
    return max(r["event_time"] for r in [*orders, *shipments])


def deduplicated(facts: list[Row]) -> list[Row]:
    return _pick(facts, ("event_key",), _delivery_key, latest=False)


def orders_latest(orders: list[Row]) -> list[Row]:
    return _pick(orders, ("order_id",), _event_order, latest=True)


def shipment_status_reached(shipments: list[Row]) -> list[Row]:
    return _pick(shipments, ("shipment_id", "status"), _event_order, latest=False)


def shipments_latest(orders: list[Row], shipments: list[Row], stuck_after_hours: int) -> list[Row]:
    as_of = data_as_of(orders, shipments)
    out = []
    for r in _pick(shipments, ("shipment_id",), _event_order, latest=True):
        quiet = int((as_of - r["event_time"]).total_seconds())
        stuck = r["status"] not in TERMINAL and quiet > stuck_after_hours * 3600
        out.append({**r, "as_of": as_of, "seconds_since_last_event": quiet, "is_stuck": stuck})
    return out


def current_windows(
    facts: list[Row],
    panes: list[Row],
    aggregate: Any,
    window_seconds: int,
    allowed_lateness_seconds: int,
    as_of: datetime,
) -> list[Row]:
    """A ``*_by_window_current`` view: every window's value from the deduplicated facts (summed by
    pipelines.window_aggregates, with the pipelines' own key/value functions), final once the data's
    newest event is past the window's end plus the lateness, beside the latest streamed pane."""
    from pipelines.window_aggregates import expected_windows

    keys = aggregate.key_fields
    latest = {
        (p["window_start"], *(p[k] for k in keys)): p
        for p in _pick(panes, ("window_start", *keys), lambda r: (r["emitted_at"], r["pane_index"]), latest=True)
    }
    out = []
    for k, values in expected_windows(aggregate, facts, window_seconds).items():
        end = k[0] + timedelta(seconds=window_seconds)
        pane = latest.get(k, {})
        out.append(
            {
                "window_start": k[0],
                "window_end": end,
                **dict(zip(keys, k[1:], strict=True)),
                **values,
                "is_final": as_of >= end + timedelta(seconds=allowed_lateness_seconds),
                **{f"stream_{f}": pane.get(f) for f in ("pane_timing", "pane_index", "emitted_at")},
                **{f"stream_{f}": pane.get(f) for f in ("job_id", "job_name", "job_attempt")},
                "stream_agrees": bool(pane) and all(pane[n] == v for n, v in values.items()),
            }
        )
    return out


# ---- insights -----------------------------------------------------------------------------------


def sales_hourly(orders: list[Row]) -> list[Row]:
    groups: dict[tuple, list[Decimal]] = defaultdict(list)
    for o in orders_latest(orders):
        hour = o["event_time"].replace(minute=0, second=0, microsecond=0)
        groups[(hour, o["currency"])].append(o["total_amount"])
    return [
        {
            "hour_start": hour,
            "currency": cur,
            "orders": len(v),
            "revenue": sum(v),
            "average_order_value": ratio(sum(v), len(v), 2),
        }
        for (hour, cur), v in groups.items()
    ]


def sales_daily(orders: list[Row]) -> list[Row]:
    daily: dict[tuple, list[Decimal]] = defaultdict(list)
    for o in orders_latest(orders):
        daily[(o["event_time"].date(), o["currency"])].append(o["total_amount"])
    out = []
    for cur in {c for _, c in daily}:
        days = sorted(d for d, c in daily if c == cur)
        day, previous = days[0], None
        while day <= days[-1]:
            amounts = daily.get((day, cur), [])
            n, revenue = len(amounts), sum(amounts, Decimal(0))
            prev_n, prev_rev = previous if previous else (None, None)
            out.append(
                {
                    "day": day,
                    "currency": cur,
                    "orders": n,
                    "revenue": revenue,
                    "average_order_value": ratio(revenue, n, 2),
                    "previous_day_orders": prev_n,
                    "previous_day_revenue": prev_rev,
                    "revenue_change": None if prev_rev is None else revenue - prev_rev,
                    "revenue_change_pct": None if prev_rev is None else ratio((revenue - prev_rev) * 100, prev_rev, 2),
                }
            )
            previous = (n, revenue)
            day += timedelta(days=1)
    return out


def _lines(orders: list[Row]) -> list[tuple[Row, Row]]:
    return [(o, item) for o in orders_latest(orders) for item in o["items"]]


def product_performance(orders: list[Row]) -> list[Row]:
    units: dict[tuple, int] = defaultdict(int)
    revenue: dict[tuple, Decimal] = defaultdict(Decimal)
    order_ids: dict[tuple, set] = defaultdict(set)
    for o, item in _lines(orders):
        key = (item["sku"], o["currency"])
        units[key] += item["quantity"]
        revenue[key] += item["quantity"] * item["unit_price"]
        order_ids[key].add(o["order_id"])
    out = []
    for cur in {c for _, c in units}:
        keys = [k for k in units if k[1] == cur]
        total_units = sum(units[k] for k in keys)
        total_revenue = sum(revenue[k] for k in keys)
        ranked = sorted(keys, key=lambda k: (-revenue[k], k[0]))
        for rank, key in enumerate(ranked, start=1):
            out.append(
                {
                    "sku": key[0],
                    "currency": cur,
                    "units": units[key],
                    "revenue": revenue[key],
                    "orders": len(order_ids[key]),
                    "units_share": ratio(units[key], total_units, 4),
                    "revenue_share": ratio(revenue[key], total_revenue, 4),
                    "revenue_rank": rank,
                }
            )
    return out


def product_movers(orders: list[Row], shipments: list[Row], window_days: int) -> list[Row]:
    end = data_as_of(orders, shipments)
    current_start = end - timedelta(days=window_days)
    previous_start = end - timedelta(days=2 * window_days)
    current: dict[str, int] = defaultdict(int)
    previous: dict[str, int] = defaultdict(int)
    for o, item in _lines(orders):
        t = o["event_time"]
        current[item["sku"]] += item["quantity"] if current_start < t <= end else 0
        previous[item["sku"]] += item["quantity"] if previous_start < t <= current_start else 0
    change = {s: current[s] - previous[s] for s in current}
    rise = {s: i for i, s in enumerate(sorted(change, key=lambda s: (-change[s], s)), start=1)}
    fall = {s: i for i, s in enumerate(sorted(change, key=lambda s: (change[s], s)), start=1)}
    return [
        {
            "sku": s,
            "previous_start": previous_start,
            "current_start": current_start,
            "current_end": end,
            "units_current": current[s],
            "units_previous": previous[s],
            "units_change": change[s],
            "rise_rank": rise[s],
            "fall_rank": fall[s],
        }
        for s in change
    ]


def _quintile(values: dict[str, Any], worst_first) -> dict[str, int]:
    """1 + floor(5 * (rank - 1) / n), rank = 1 + number of customers strictly worse (ties share it)."""
    n = len(values)
    return {k: 1 + (5 * sum(1 for w in values.values() if worst_first(w, v)) // n) for k, v in values.items()}


def _segment(r: int, f: int, m: int) -> str:
    if r >= 4 and f >= 4 and m >= 4:
        return "Champions"
    if r >= 3 and f >= 3:
        return "Loyal"
    if r >= 4:
        return "New or promising"
    if r <= 2 and f >= 3:
        return "At risk"
    if r <= 2:
        return "Hibernating"
    return "Needs attention"


def _fixed_score(value: int, bounds: list[int], at_most: bool) -> int:
    """5 for the first bound the value meets, 4 for the next ..., 1 when it meets none."""
    for score, bound in zip((5, 4, 3, 2), bounds, strict=True):
        if (value <= bound) if at_most else (value >= bound):
            return score
    return 1


def customer_segments(orders: list[Row], shipments: list[Row], cfg: dict[str, Any]) -> list[Row]:
    as_of_day = data_as_of(orders, shipments).date()
    per: dict[tuple, list[Row]] = defaultdict(list)
    for o in orders_latest(orders):
        per[(o["customer_id"], o["currency"])].append(o)
    out = []
    for cur in {c for _, c in per}:
        keys = [k for k in per if k[1] == cur]
        last = {k: max(o["event_time"] for o in per[k]) for k in keys}
        recency = {k: (as_of_day - last[k].date()).days for k in keys}
        frequency = {k: len(per[k]) for k in keys}
        monetary = {k: sum(o["total_amount"] for o in per[k]) for k in keys}
        r_bounds = [cfg[f"rfm_r{i}_max_days"] for i in (5, 4, 3, 2)]
        f_bounds = [cfg[f"rfm_f{i}_min_orders"] for i in (5, 4, 3, 2)]
        r = {k: _fixed_score(v, r_bounds, at_most=True) for k, v in recency.items()}
        f = {k: _fixed_score(v, f_bounds, at_most=False) for k, v in frequency.items()}
        m = _quintile(monetary, lambda other, mine: other < mine)
        for k in keys:
            out.append(
                {
                    "customer_id": k[0],
                    "currency": cur,
                    "last_order_time": last[k],
                    "recency_days": recency[k],
                    "frequency": frequency[k],
                    "monetary": monetary[k],
                    "r_score": r[k],
                    "f_score": f[k],
                    "m_score": m[k],
                    "rfm_cell": f"{r[k]}{f[k]}{m[k]}",
                    "segment": _segment(r[k], f[k], m[k]),
                }
            )
    return out


def _seconds(later: datetime | None, earlier: datetime | None) -> int | None:
    if later is None or earlier is None:
        return None
    return int((later - earlier).total_seconds())


def fulfillment_efficiency(orders: list[Row], shipments: list[Row], stuck_after_hours: int) -> list[Row]:
    order_time = {o["order_id"]: o["event_time"] for o in orders_latest(orders)}
    reached = defaultdict(dict)
    for r in shipment_status_reached(shipments):
        reached[r["shipment_id"]][r["status"]] = r["event_time"]
    per_shipment = []
    for s in shipments_latest(orders, shipments, stuck_after_hours):
        ordered = order_time.get(s["order_id"])
        shipped = reached[s["shipment_id"]].get("SHIPPED")
        delivered = reached[s["shipment_id"]].get("DELIVERED")
        per_shipment.append(
            {
                "carrier": s["carrier"],
                "warehouse_id": s["warehouse_id"],
                "ots": _seconds(shipped, ordered),
                "std": _seconds(delivered, shipped),
                "otd": _seconds(delivered, ordered),
                "delivered": delivered is not None,
                "late": delivered is not None and delivered.date() > s["promised_delivery_date"],
            }
        )
    groups: dict[tuple, list[Row]] = defaultdict(list)
    for p in per_shipment:
        groups[("carrier", p["carrier"], None)].append(p)
        groups[("warehouse", None, p["warehouse_id"])].append(p)
        groups[("carrier_warehouse", p["carrier"], p["warehouse_id"])].append(p)
    out = []
    for (level, carrier, warehouse), ps in groups.items():
        row = {"level": level, "carrier": carrier, "warehouse_id": warehouse, "shipments": len(ps)}
        row["delivered_shipments"] = sum(p["delivered"] for p in ps)
        for key, name in (("ots", "order_to_ship"), ("std", "ship_to_deliver"), ("otd", "order_to_deliver")):
            values = [p[key] for p in ps if p[key] is not None]
            row[f"{name}_p50_seconds"] = nearest_rank(values, 50)
            row[f"{name}_p90_seconds"] = nearest_rank(values, 90)
        row["late_shipments"] = sum(p["late"] for p in ps)
        row["late_share"] = ratio(row["late_shipments"], row["delivered_shipments"], 4)
        out.append(row)
    return out


def stuck_shipments(orders: list[Row], shipments: list[Row], stuck_after_hours: int) -> list[Row]:
    return [
        {
            "shipment_id": s["shipment_id"],
            "order_id": s["order_id"],
            "carrier": s["carrier"],
            "warehouse_id": s["warehouse_id"],
            "destination_region": s["destination_region"],
            "status": s["status"],
            "last_event_time": s["event_time"],
            "as_of": s["as_of"],
            "seconds_since_last_event": s["seconds_since_last_event"],
        }
        for s in shipments_latest(orders, shipments, stuck_after_hours)
        if s["is_stuck"]
    ]


def bottlenecks(orders: list[Row], shipments: list[Row], stuck_after_hours: int) -> list[Row]:
    statuses = defaultdict(set)
    for r in shipment_status_reached(shipments):
        statuses[r["shipment_id"]].add(r["status"])
    groups: dict[tuple, list[Row]] = defaultdict(list)
    dimensions = (("carrier", "carrier"), ("warehouse", "warehouse_id"), ("region", "destination_region"))
    for s in shipments_latest(orders, shipments, stuck_after_hours):
        for dimension, column in dimensions:
            groups[(dimension, s[column])].append(s)
    out = []
    for (dimension, value), ss in groups.items():
        exceptions = sum("EXCEPTION" in statuses[s["shipment_id"]] for s in ss)
        returns = sum("RETURNED" in statuses[s["shipment_id"]] for s in ss)
        out.append(
            {
                "dimension": dimension,
                "value": value,
                "shipments": len(ss),
                "stuck_shipments": sum(s["is_stuck"] for s in ss),
                "exception_shipments": exceptions,
                "exception_rate": ratio(exceptions, len(ss), 4),
                "returned_shipments": returns,
                "return_rate": ratio(returns, len(ss), 4),
            }
        )
    return out


def fraud_signals(orders: list[Row], cfg: dict[str, Any]) -> list[Row]:
    latest = orders_latest(orders)
    by_customer: dict[str, list[Row]] = defaultdict(list)
    totals: dict[str, list[Decimal]] = defaultdict(list)
    for o in latest:
        by_customer[o["customer_id"]].append(o)
        totals[o["currency"]].append(o["total_amount"])
    window = timedelta(seconds=cfg["fraud_velocity_window_seconds"])
    out = []
    for o in latest:
        mine = by_customer[o["customer_id"]]
        in_window = sum(1 for p in mine if o["event_time"] - window <= p["event_time"] <= o["event_time"])
        first = min(mine, key=lambda p: (p["event_time"], p["order_id"]))["order_id"] == o["order_id"]
        addresses = len({p["customer_address_id"] for p in mine})
        cur = totals[o["currency"]]
        flags = {
            "flag_velocity": in_window > cfg["fraud_velocity_max_orders"],
            "flag_billing_shipping_mismatch": o["billing_country"] != o["shipping_country"],
            "flag_ip_country_mismatch": o["client_ip_country"] is not None
            and o["client_ip_country"] != o["billing_country"],
            "flag_card_country_mismatch": o["card_bin_country"] is not None
            and o["card_bin_country"] != o["billing_country"],
            "flag_high_value_new_customer": first
            and o["total_amount"] * len(cur) >= cfg["fraud_high_value_multiple"] * sum(cur),
            "flag_many_addresses": addresses > cfg["fraud_max_addresses"],
        }
        score = sum(cfg["fraud_weight_" + name.removeprefix("flag_")] for name, raised in flags.items() if raised)
        out.append(
            {
                "order_id": o["order_id"],
                "customer_id": o["customer_id"],
                "event_time": o["event_time"],
                "currency": o["currency"],
                "total_amount": o["total_amount"],
                "payment_method": o["payment_method"],
                "billing_country": o["billing_country"],
                "shipping_country": o["shipping_country"],
                "client_ip_country": o["client_ip_country"],
                "card_bin_country": o["card_bin_country"],
                "customer_orders_in_window": in_window,
                "customer_address_count": addresses,
                "is_first_order": first,
                **flags,
                "fraud_score": score,
                "needs_review": score >= cfg["fraud_review_score"],
            }
        )
    return out
