"""The cost comparison as a readable table; ``run()`` is what ``make bench`` calls."""

from __future__ import annotations

from cost import model, prices


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
    lines += ["", "Prices:"]
    lines += [
        f"  {pr.name:<40}{pr.usd} USD per {pr.per:g} {pr.unit}(s); free {pr.free_per_month:g}/month; "
        f"{pr.source} (checked {pr.checked})"
        for pr in prices.ALL
    ]
    return "\n".join(lines)


def run() -> dict[str, float]:
    """Print the table and return the headline figures (``bench/__main__.py`` calls this)."""
    print(render())
    return model.compare()
