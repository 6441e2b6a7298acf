"""The cost comparison as a readable table; ``run()`` is what ``make bench`` calls.

Two parts: the orchestration (polling against events, :mod:`cost.model`) and the BigQuery
ingestion of the pipelines' rows by either sink (:mod:`cost.ingest`).
"""

from __future__ import annotations

from cost import ingest, model, prices


def _money(x: float) -> str:
    return f"{x:,.6f}" if x < 0.01 else f"{x:,.2f}"


def render() -> str:
    p = model.polling_usage(model.PollingAssumptions())
    e = model.event_driven_usage(model.EventDrivenAssumptions())
    lines = ["Monthly orchestration cost (USD)", ""]
    lines.append(f"{'design / line item':<46}{'quantity':>16}{'list price':>14}{'free tier':>14}")
    for est in (p, e):
        lines.append(f"{est.design:<46}{'':>16}{_money(est.usd()):>14}{_money(est.usd(with_free_tier=True)):>14}")
        for item in est.items:
            lines.append(
                f"  {item.price.name:<44}{item.quantity:>16,.2f}"
                f"{_money(item.usd()):>14}{_money(item.usd(with_free_tier=True)):>14}"
            )
    figures = model.compare()
    lines += ["", f"ratio polling / event-driven (list prices): {figures['orchestration_cost_ratio']:,.0f}x", ""]
    lines.append("Assumptions:")
    lines += [f"  {design:<13}{name:<40}{value}" for design, name, value in model.assumptions_table()]
    lines += ["", *render_ingest()]
    lines += ["", "Prices:"]
    lines += [
        f"  {pr.name:<40}{pr.usd} USD per {pr.per:g} {pr.unit}(s); free {pr.free_per_month:g}/month; "
        f"{pr.source} (checked {pr.checked})"
        for pr in prices.ALL
    ]
    return "\n".join(lines)


def render_ingest() -> list[str]:
    volumes = ingest.measure()
    figures = ingest.costs(volumes)
    lines = ["Monthly BigQuery ingestion of the pipelines' rows (USD, list prices)", ""]
    lines.append(f"{'table':<18}{'rows/month':>14}{'JSON B/row':>12}{'insertAll B':>13}{'data size B':>13}")
    for v in volumes:
        lines.append(
            f"{v.table:<18}{v.rows:>14,.0f}{v.json_bytes:>12,.0f}{v.insertall_bytes:>13,.0f}{v.logical_bytes:>13,.0f}"
        )
    lines += [
        "",
        f"insertAll (1 KB minimum per row): {figures['ingest_insertall_gib_month']:,.3f} GiB"
        f" -> {_money(figures['ingest_cost_insertall_usd_month'])}",
        f"Storage Write API (data size):    {figures['ingest_storage_write_gib_month']:,.3f} GiB"
        f" -> {_money(figures['ingest_cost_storage_write_usd_month'])}"
        f" ({_money(figures['ingest_cost_storage_write_free_tier_usd_month'])} within the free 2 TiB)",
        "",
        "Ingestion assumptions:",
    ]
    lines += [f"  {design:<13}{name:<40}{value}" for design, name, value in ingest.assumptions_table()]
    return lines


def run() -> dict[str, float]:
    """Print the table and return the headline figures (``bench/__main__.py`` calls this)."""
    print(render())
    return {**model.compare(), **ingest.costs(ingest.measure())}
