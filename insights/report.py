"""The insights as one self-contained HTML page: inline SVG charts and tables, read from the views.

``python -m insights.report`` with no arguments starts the BigQuery emulator,
creates the tables and views, loads the seeded sample, writes
``build/report.html``, stops the emulator and prints the path. With
``--project`` (and optionally ``--dataset``) it reads an existing dataset: real
BigQuery, or the emulator when ``BIGQUERY_EMULATOR_HOST`` is set. The demo calls
:func:`write_report` against its own running emulator.

Every number on the page comes from a query on a view, so the page shows what
the deployed views say, not a second implementation of them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Any

from google.cloud import bigquery

from insights import charts
from pipelines import bq, system

DEFAULT_OUTPUT = Path("build/report.html")
SECTIONS = ("sales-trends", "windows", "top-products", "customer-segments", "fulfillment", "bottlenecks", "fraud")
WINDOWS_SHOWN = 12
FLAGS = (
    ("flag_velocity", "velocity"),
    ("flag_billing_shipping_mismatch", "billing≠shipping"),
    ("flag_ip_country_mismatch", "IP country"),
    ("flag_card_country_mismatch", "card country"),
    ("flag_high_value_new_customer", "high-value new customer"),
    ("flag_many_addresses", "many addresses"),
)
DURATIONS = (
    ("order_to_ship", "order → ship"),
    ("ship_to_deliver", "ship → deliver"),
    ("order_to_deliver", "order → deliver"),
)

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f8f9fa;color:#202124}
header{background:#202124;color:#fff;padding:20px 32px}header h1{margin:0 0 4px;font-size:22px;font-weight:600}
header p{margin:0;color:#bdc1c6;font-size:13px}main{max-width:940px;margin:0 auto;padding:8px 16px 40px}
section{background:#fff;border:1px solid #dadce0;border-radius:8px;padding:16px 20px;margin:18px 0}
h2{font-size:17px;margin:0 0 4px}p.note{color:#5f6368;font-size:13px;margin:0 0 12px}
.grid{display:flex;flex-wrap:wrap;gap:12px 28px}.grid h3{font-size:13px;margin:4px 0;color:#3c4043}
table{border-collapse:collapse;font-size:12.5px;width:100%;margin-top:6px}
th{text-align:left;color:#5f6368;font-weight:600;border-bottom:1px solid #dadce0;padding:5px 8px}
td{border-bottom:1px solid #f1f3f4;padding:5px 8px}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;background:#fce8e6;color:#a50e0e;border-radius:10px;padding:1px 7px;margin:1px 2px;
font-size:11px}
.up{color:#188038}.down{color:#d93025}
"""


def _rows(client: bigquery.Client, sql: str) -> list[dict[str, Any]]:
    return [dict(r.items()) for r in client.query(sql).result()]


def fetch(client: bigquery.Client, project: str, dataset: str) -> dict[str, Any]:
    """What the page shows, one query per view, already ordered and cut for display."""

    def v(name: str) -> str:
        return f"`{project}.{dataset}.{name}`"

    return {
        "as_of": _rows(client, f"SELECT as_of FROM {v('data_as_of')}")[0]["as_of"],
        "sales_daily": _rows(client, f"SELECT * FROM {v('sales_daily')} ORDER BY currency, day"),
        "windows": _rows(
            client,
            f"SELECT * FROM {v('order_revenue_by_window_current')} "
            f"ORDER BY window_start DESC, currency LIMIT {WINDOWS_SHOWN}",
        ),
        "top_products": _rows(
            client, f"SELECT * FROM {v('product_performance')} WHERE revenue_rank <= 8 ORDER BY currency, revenue_rank"
        ),
        "movers": _rows(
            client, f"SELECT * FROM {v('product_movers')} WHERE rise_rank <= 5 OR fall_rank <= 5 ORDER BY rise_rank"
        ),
        "segments": _rows(
            client,
            f"SELECT segment, COUNT(*) AS customers, SUM(frequency) AS orders FROM {v('customer_segments')} "
            "GROUP BY segment ORDER BY customers DESC, segment",
        ),
        "fulfillment": _rows(
            client, f"SELECT * FROM {v('fulfillment_efficiency')} WHERE level = 'carrier' ORDER BY carrier"
        ),
        "bottlenecks": _rows(
            client, f"SELECT * FROM {v('bottlenecks')} ORDER BY dimension, exception_rate DESC, value"
        ),
        "stuck": _rows(
            client, f"SELECT * FROM {v('stuck_shipments')} ORDER BY seconds_since_last_event DESC, shipment_id LIMIT 15"
        ),
        "stuck_total": _rows(client, f"SELECT COUNT(*) AS n FROM {v('stuck_shipments')}")[0]["n"],
        "flagged": _rows(
            client,
            f"SELECT * FROM {v('fraud_signals')} WHERE needs_review ORDER BY fraud_score DESC, order_id LIMIT 25",
        ),
        "flagged_total": _rows(client, f"SELECT COUNT(*) AS n FROM {v('fraud_signals')} WHERE needs_review")[0]["n"],
    }


def _money(value: Any) -> str:
    return f"{Decimal(str(value)):,.2f}"


def _pct(value: Any) -> str:
    return "&ndash;" if value is None else f"{float(value) * 100:.1f}%"


def _hours(seconds: Any) -> str:
    return "&ndash;" if seconds is None else f"{seconds / 3600:.1f} h"


def _table(headers: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    head = "".join(f'<th class="n">{h}</th>' if i in numeric else f"<th>{h}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>"
        + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(anchor: str, title: str, note: str, content: str) -> str:
    return f'<section id="{anchor}"><h2>{escape(title)}</h2><p class="note">{note}</p>{content}</section>'


def _sales(data: dict[str, Any]) -> str:
    series: dict[str, list[tuple[str, float]]] = defaultdict(list)
    latest: dict[str, dict[str, Any]] = {}
    for r in data["sales_daily"]:
        series[r["currency"]].append((r["day"].strftime("%m-%d"), float(r["revenue"])))
        latest[r["currency"]] = r
    chart = charts.line_chart(dict(series), title="Revenue per day and currency", y_label="revenue")
    rows = []
    for cur, r in sorted(latest.items()):
        change = r["revenue_change_pct"]
        css = "" if change is None else ("up" if change >= 0 else "down")
        shown = "&ndash;" if change is None else f'<span class="{css}">{float(change):+.1f}%</span>'
        rows.append(
            [cur, str(r["day"]), str(r["orders"]), _money(r["revenue"]), _money(r["average_order_value"]), shown]
        )
    table = _table(["Currency", "Last day", "Orders", "Revenue", "AOV", "Day over day"], rows, {2, 3, 4, 5})
    note = "Daily revenue per currency (currencies are never added up). Table: the latest day and its change."
    return _section("sales-trends", "Sales trends", note, chart + table)


def _windows(data: dict[str, Any]) -> str:
    rows = [
        [
            f"{r['window_start']:%Y-%m-%d %H:%M:%S}",
            escape(r["currency"]),
            str(r["order_count"]),
            _money(r["revenue"]),
            "final" if r["is_final"] else "provisional",
            "&ndash;" if r["stream_job_name"] is None else escape(r["stream_job_name"]),
            "yes" if r["stream_agrees"] else "no",
        ]
        for r in data["windows"]
    ]
    note = (
        f"The latest {WINDOWS_SHOWN} revenue windows, counted from the deduplicated facts, so they hold across "
        "relaunches; final once the data is past the window's end plus the allowed lateness. Beside them, the job "
        "whose streamed pane is the latest and whether that pane agrees with the facts."
    )
    table = _table(
        ["Window start (UTC)", "Currency", "Orders", "Revenue", "Status", "Latest pane from", "Pane agrees"],
        rows,
        {2, 3},
    )
    return _section("windows", "Real-time windows", note, table)


def _products(data: dict[str, Any]) -> str:
    by_currency: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in data["top_products"]:
        by_currency[r["currency"]].append(r)
    blocks = []
    for i, (cur, rows) in enumerate(sorted(by_currency.items())):
        bars = [(r["sku"], float(r["revenue"]), f"{_money(r['revenue'])} · {_pct(r['revenue_share'])}") for r in rows]
        svg = charts.bar_chart(
            bars, title=f"Top products by revenue, {cur}", color=charts.PALETTE[i % 7], width=420, label_width=70
        )
        blocks.append(f"<div><h3>{escape(cur)}</h3>{svg}</div>")
    movers = data["movers"]
    window = ""
    if movers:
        window = f"{movers[0]['current_start']:%Y-%m-%d %H:%M} → {movers[0]['current_end']:%Y-%m-%d %H:%M} UTC"
    rise = [r for r in movers if r["rise_rank"] <= 5 and r["units_change"] > 0]
    fall = sorted((r for r in movers if r["fall_rank"] <= 5 and r["units_change"] < 0), key=lambda r: r["fall_rank"])
    rows = [
        [
            f"▲ {r['sku']}" if r in rise else f"▼ {r['sku']}",
            str(r["units_previous"]),
            str(r["units_current"]),
            f'<span class="{"up" if r["units_change"] > 0 else "down"}">{r["units_change"]:+d}</span>',
        ]
        for r in [*rise, *fall]
    ]
    table = _table(["Mover", "Units before", "Units in window", "Change"], rows, {1, 2, 3})
    note = (
        "Top 8 SKUs by revenue per currency (share of that currency's revenue). "
        f"Movers: units in {window} against the window before."
    )
    return _section("top-products", "Product performance", note, f'<div class="grid">{"".join(blocks)}</div>{table}')


def _segments(data: dict[str, Any]) -> str:
    bars = [
        (r["segment"], float(r["customers"]), f"{r['customers']} customers · {r['orders']} orders")
        for r in data["segments"]
    ]
    svg = charts.bar_chart(bars, title="Customers per RFM segment", width=640, label_width=140, color=charts.PALETTE[3])
    note = (
        "RFM scores 1-5 (recency and frequency in fixed bins, monetary a quintile within the currency); "
        "a customer paying in two currencies counts once per currency."
    )
    return _section("customer-segments", "Customer segments (RFM)", note, svg)


def _fulfillment(data: dict[str, Any]) -> str:
    groups = [
        (
            r["carrier"],
            [
                (
                    label,
                    None if r[f"{key}_p50_seconds"] is None else r[f"{key}_p50_seconds"] / 3600,
                    None if r[f"{key}_p90_seconds"] is None else r[f"{key}_p90_seconds"] / 3600,
                )
                for key, label in DURATIONS
            ],
        )
        for r in data["fulfillment"]
    ]
    svg = charts.range_chart(groups, title="Fulfillment durations per carrier", unit="h") if groups else ""
    rows = [
        [
            r["carrier"],
            str(r["shipments"]),
            str(r["delivered_shipments"]),
            *(f"{_hours(r[f'{k}_p50_seconds'])} / {_hours(r[f'{k}_p90_seconds'])}" for k, _ in DURATIONS),
            _pct(r["late_share"]),
        ]
        for r in data["fulfillment"]
    ]
    headers = ["Carrier", "Shipments", "Delivered", *(f"{label} p50 / p90" for _, label in DURATIONS), "Late"]
    note = "Nearest-rank p50 and p90 in hours per carrier; late = delivered after the promised date."
    return _section("fulfillment", "Fulfillment efficiency", note, svg + _table(headers, rows, {1, 2, 3, 4, 5, 6}))


def _bottlenecks(data: dict[str, Any]) -> str:
    rows = [
        [
            r["dimension"],
            escape(str(r["value"])),
            str(r["shipments"]),
            str(r["stuck_shipments"]),
            _pct(r["exception_rate"]),
            _pct(r["return_rate"]),
        ]
        for r in data["bottlenecks"]
    ]
    rates = _table(["Dimension", "Value", "Shipments", "Stuck", "Exception rate", "Return rate"], rows, {2, 3, 4, 5})
    stuck_rows = [
        [
            escape(r["shipment_id"]),
            escape(r["carrier"]),
            escape(r["warehouse_id"]),
            escape(r["destination_region"]),
            escape(r["status"]),
            f"{r['last_event_time']:%Y-%m-%d %H:%M}",
            _hours(r["seconds_since_last_event"]),
        ]
        for r in data["stuck"]
    ]
    stuck = _table(
        ["Shipment", "Carrier", "Warehouse", "Region", "Status", "Last event (UTC)", "Quiet for"], stuck_rows, {6}
    )
    threshold = system.system()["insights"]["stuck_after_hours"]
    note = (
        f"Stuck = not delivered or returned and no event for more than {threshold} h before the as-of time "
        f"({data['stuck_total']} now; up to 15 listed, longest quiet first)."
    )
    return _section("bottlenecks", "Supply-chain bottlenecks", note, rates + "<h3>Stuck shipments</h3>" + stuck)


def _fraud(data: dict[str, Any]) -> str:
    rows = [
        [
            escape(r["order_id"]),
            escape(r["customer_id"]),
            f"{r['event_time']:%Y-%m-%d %H:%M}",
            f"{_money(r['total_amount'])} {escape(r['currency'])}",
            str(r["fraud_score"]),
            "".join(f'<span class="badge">{escape(label)}</span>' for key, label in FLAGS if r[key]),
        ]
        for r in data["flagged"]
    ]
    review = system.system()["insights"]["fraud_review_score"]
    total = data["flagged_total"]
    note = f"Orders with a fraud score of at least {review} ({total} in all; up to 25 shown, highest score first)."
    table = _table(["Order", "Customer", "Placed (UTC)", "Total", "Score", "Flags"], rows, {3, 4})
    return _section("fraud", "Flagged orders", note, table)


def render_report(client: bigquery.Client, project: str, dataset: str) -> str:
    """The whole page as one HTML string, from the views in ``project.dataset``."""
    data = fetch(client, project, dataset)
    as_of = data["as_of"]
    stamp = "no data" if as_of is None else f"{as_of:%Y-%m-%d %H:%M} UTC"
    parts = [
        _sales(data),
        _windows(data),
        _products(data),
        _segments(data),
        _fulfillment(data),
        _bottlenecks(data),
        _fraud(data),
    ]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>E-commerce insights · {escape(dataset)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>E-commerce order and shipping insights</h1><p>{escape(project)}.{escape(dataset)} · "
        f"data as of {stamp} (latest event in the facts)</p></header><main>{''.join(parts)}</main></body></html>\n"
    )


def write_report(path: str | Path, client: bigquery.Client, project: str, dataset: str) -> Path:
    """Render and write the page; returns its absolute path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_report(client, project, dataset), encoding="utf-8")
    return out.resolve()


def _log(severity: str, message: str, **fields: Any) -> None:
    print(json.dumps({"severity": severity, "message": message, **fields}, default=str), file=sys.stderr)


def _local_sample(output: Path, seed: int) -> Path:
    """Emulator, tables, views, the seeded sample, the page; the emulator is always stopped."""
    from insights import sample, views
    from localdev import emulators, provision

    project, dataset = "local-project", system.dataset()
    emu = emulators.start_bigquery(project)
    old = os.environ.get("BIGQUERY_EMULATOR_HOST")
    os.environ["BIGQUERY_EMULATOR_HOST"] = emu.host
    try:
        provision.create_dataset_and_tables(project, dataset)
        client = bq.make_client(project)
        # The sample's panes are hourly windows: the window views get the same grid.
        views.create_views(client, project, dataset, window_seconds=sample.PANE_WINDOW_SECONDS)
        written = sample.load(client, project, dataset, sample.generate(seed))
        _log("INFO", "sample loaded", rows=written, generated_at=datetime.now(UTC).isoformat())
        return write_report(output, client, project, dataset)
    finally:
        if old is None:
            os.environ.pop("BIGQUERY_EMULATOR_HOST", None)
        else:
            os.environ["BIGQUERY_EMULATOR_HOST"] = old
        emu.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Render the insights report from the BigQuery views.")
    parser.add_argument("--project", help="read this project's dataset instead of a local sample")
    parser.add_argument("--dataset", default=None, help="defaults to the dataset in config/system.json")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--seed", type=int, default=7, help="seed of the local sample")
    args = parser.parse_args(argv)
    if args.project:
        path = write_report(args.output, bq.make_client(args.project), args.project, args.dataset or system.dataset())
    else:
        path = _local_sample(args.output, args.seed)
    print(path)


if __name__ == "__main__":
    main()
