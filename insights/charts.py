"""Tiny inline-SVG charts for the report: a line chart, horizontal bars and p50/p90 range bars.

Hand-written SVG keeps the report one self-contained file with no JavaScript,
no external assets and no plotting dependency. Every function is pure: data in,
SVG text out; labels are escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

PALETTE = ("#1a73e8", "#e8710a", "#188038", "#9334e6", "#d93025", "#12b5cb", "#f9ab00")
FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif"'


def nice_max(value: float) -> float:
    """A round axis maximum at or above ``value`` whose quarters are round too (e.g. 120: 30, 60, 90)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 1.2, 1.6, 2, 2.4, 3.2, 4, 6, 8, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def fmt(value: float) -> str:
    """Compact axis number: 12.5k, 3M, 0.25."""
    for limit, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}" {FONT} font-size="12">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def _text_width(text: str) -> float:
    """Rough width of 12 px sans-serif text: enough to keep labels from colliding or being cut."""
    return 7.2 * len(text)


def legend(names: Sequence[str], x: float, y: float) -> list[str]:
    out = []
    cx = x
    for i, name in enumerate(names):
        out.append(f'<rect x="{cx}" y="{y - 9}" width="12" height="12" rx="2" fill="{PALETTE[i % len(PALETTE)]}"/>')
        out.append(f'<text x="{cx + 17}" y="{y + 1}" fill="#3c4043">{escape(name)}</text>')
        cx += 17 + _text_width(name) + 18
    return out


def line_chart(
    series: dict[str, list[tuple[str, float]]], *, title: str, width: int = 860, height: int = 300, y_label: str = ""
) -> str:
    """One line per series over shared, ordered x labels (e.g. days); every 2nd or 3rd label shown if crowded."""
    left, right, top, bottom = 64, 20, 34, 48
    xs = sorted({x for points in series.values() for x, _ in points})
    top_value = nice_max(max((v for points in series.values() for _, v in points), default=0))
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(len(xs) - 1, 1)
    body = legend(list(series), left, 16)
    for i in range(5):
        value = top_value * i / 4
        y = top + plot_h - plot_h * i / 4
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e8eaed"/>')
        body.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end" fill="#5f6368">{fmt(value)}</text>')
    every = max(1, math.ceil(len(xs) / 12))
    for i, x in enumerate(xs):
        if i % every == 0:
            px = left + i * step
            body.append(
                f'<text x="{px:.1f}" y="{height - bottom + 18}" text-anchor="middle" fill="#5f6368">{escape(x)}</text>'
            )
    if y_label:
        body.append(
            f'<text x="14" y="{top + plot_h / 2}" transform="rotate(-90 14 {top + plot_h / 2})" '
            f'text-anchor="middle" fill="#5f6368">{escape(y_label)}</text>'
        )
    for n, (name, points) in enumerate(series.items()):
        color = PALETTE[n % len(PALETTE)]
        coords = [(left + xs.index(x) * step, top + plot_h - plot_h * v / top_value) for x, v in sorted(points)]
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in coords)
        body.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2.2"/>')
        for (px, py), (x, v) in zip(coords, sorted(points), strict=True):
            body.append(
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{color}"><title>{escape(name)} {escape(x)}: '
                f"{v:,.2f}</title></circle>"
            )
    return _svg(width, height, body, title)


def bar_chart(
    bars: Sequence[tuple[str, float, str]],
    *,
    title: str,
    width: int = 420,
    color: str = PALETTE[0],
    label_width: int = 120,
) -> str:
    """Horizontal bars: (label, value, text shown at the bar's end), largest scale from the data."""
    row, top = 24, 8
    height = top * 2 + row * len(bars)
    top_value = max((v for _, v, _ in bars), default=0) or 1
    plot_w = width - label_width - 12 - max((_text_width(t) for _, _, t in bars), default=0)
    body = []
    for i, (label, value, text) in enumerate(bars):
        y = top + i * row
        w = max(plot_w * value / top_value, 1)
        body.append(
            f'<text x="{label_width - 8}" y="{y + 16}" text-anchor="end" fill="#3c4043">{escape(label)}</text>'
            f'<rect x="{label_width}" y="{y + 4}" width="{w:.1f}" height="{row - 8}" rx="3" fill="{color}"/>'
            f'<text x="{label_width + w + 6:.1f}" y="{y + 16}" fill="#3c4043">{escape(text)}</text>'
        )
    return _svg(width, height, body, title)


def range_chart(
    groups: Sequence[tuple[str, Sequence[tuple[str, float | None, float | None]]]],
    *,
    title: str,
    unit: str,
    width: int = 860,
) -> str:
    """Per group (carrier) one row per measure: a bar to p90 with a darker bar to p50 inside it."""
    names = [name for name, _, _ in groups[0][1]] if groups else []
    left, right, top, row, gap = 150, 60, 34, 18, 14
    height = top + sum(len(m) * row + gap for _, m in groups) + 28
    values = [v for _, measures in groups for _, p50, p90 in measures for v in (p50, p90) if v is not None]
    top_value = nice_max(max(values, default=0))
    plot_w = width - left - right
    body = legend(names, left, 16)
    body.append(f'<text x="{width - right}" y="20" text-anchor="end" fill="#5f6368">light: p90 · dark: p50</text>')
    y = top
    for label, measures in groups:
        body.append(
            f'<text x="{left - 10}" y="{y + len(measures) * row / 2 + 4:.1f}" text-anchor="end" '
            f'font-weight="600" fill="#202124">{escape(label)}</text>'
        )
        for i, (_, p50, p90) in enumerate(measures):
            color = PALETTE[i % len(PALETTE)]
            if p90 is not None:
                body.append(
                    f'<rect x="{left}" y="{y + 2}" width="{plot_w * p90 / top_value:.1f}" height="{row - 4}" '
                    f'fill="{color}" opacity="0.3"/>'
                )
            if p50 is not None:
                body.append(
                    f'<rect x="{left}" y="{y + 2}" width="{plot_w * p50 / top_value:.1f}" height="{row - 4}" '
                    f'fill="{color}"/>'
                )
            if p90 is not None:
                body.append(
                    f'<text x="{left + plot_w * p90 / top_value + 5:.1f}" y="{y + row - 5}" fill="#5f6368" '
                    f'font-size="11">{p50:.0f}&#8211;{p90:.0f} {escape(unit)}</text>'
                )
            y += row
        y += gap
    for i in range(5):
        x = left + plot_w * i / 4
        body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 4}" y2="{y - gap + 4}" stroke="#e8eaed"/>')
        body.append(
            f'<text x="{x:.1f}" y="{y + 10}" text-anchor="middle" fill="#5f6368">{fmt(top_value * i / 4)} {unit}</text>'
        )
    # Grid lines were added last: move them behind the bars.
    grid = [b for b in body if b.startswith("<line")]
    return _svg(width, height, grid + [b for b in body if not b.startswith("<line")], title)
