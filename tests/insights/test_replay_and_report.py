"""A full replay of every message changes no insight; the report shows the views' own numbers."""

from __future__ import annotations

from decimal import Decimal
from html.parser import HTMLParser

import pytest
from insights_fixtures import Loaded, load_dataset

from insights import report, views
from localdev import emulators

pytestmark = pytest.mark.emulators

INSIGHTS = [v.name for v in views.list_views() if v.layer == "insights"]
WINDOW_VIEWS = [v.name for v in views.list_views() if v.name.endswith("_by_window_current")]


@pytest.fixture(scope="module")
def replayed(bigquery_emulator: emulators.Emulator, project: str):
    """The same sample written twice, as after a relaunch that re-reads the whole subscription."""
    ds = load_dataset(project, "replayed", replays=2)
    try:
        yield ds
    finally:
        ds.client.delete_dataset(f"{project}.{ds.dataset}", delete_contents=True, not_found_ok=True)
        ds.client.close()


def _canonical(rows: list[dict]) -> list[str]:
    return sorted(repr(sorted(r.items())) for r in rows)


@pytest.mark.parametrize("view", INSIGHTS + WINDOW_VIEWS)
def test_replaying_everything_changes_no_insight(loaded: Loaded, replayed: Loaded, view: str) -> None:
    once = loaded.query(view)
    assert once, f"{view} is empty on the sample"
    assert _canonical(replayed.query(view)) == _canonical(once)


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.svgs = 0
        self.external: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"] or "")
        self.svgs += tag == "svg"
        self.scripts += tag == "script"
        for key in ("src", "href"):
            if a.get(key):
                self.external.append(a[key] or "")


def test_report_is_self_contained_with_every_section(loaded: Loaded, tmp_path) -> None:
    path = report.write_report(tmp_path / "r.html", loaded.client, loaded.project, loaded.dataset)
    page = path.read_text()
    parsed = _Collect()
    parsed.feed(page)
    assert set(report.SECTIONS) <= parsed.ids
    assert parsed.svgs >= 4  # trend line, product bars (one per currency), segments, fulfillment ranges
    assert parsed.scripts == 0
    assert parsed.external == []


def test_report_shows_the_views_numbers(loaded: Loaded) -> None:
    page = report.render_report(loaded.client, loaded.project, loaded.dataset)
    top = loaded.query("product_performance")
    best = min((r for r in top if r["currency"] == "EUR"), key=lambda r: r["revenue_rank"])
    assert f"{Decimal(str(best['revenue'])):,.2f}" in page and best["sku"] in page
    flagged = [r for r in loaded.query("fraud_signals") if r["needs_review"]]
    assert flagged
    for r in sorted(flagged, key=lambda r: (-r["fraud_score"], r["order_id"]))[:25]:
        assert f"<td>{r['order_id']}</td>" in page
    stuck = sorted(loaded.query("stuck_shipments"), key=lambda r: (-r["seconds_since_last_event"], r["shipment_id"]))
    assert stuck
    for r in stuck[:15]:
        assert f"<td>{r['shipment_id']}</td>" in page
    segments = {r["segment"] for r in loaded.query("customer_segments")}
    assert all(s in page for s in segments)
    carriers = {r["carrier"] for r in loaded.query("fulfillment_efficiency") if r["level"] == "carrier"}
    assert all(f">{c}<" in page for c in carriers)
    for r in loaded.query("bottlenecks"):
        assert f"<td>{r['value']}</td>" in page
    windows = sorted(
        loaded.query("order_revenue_by_window_current"), key=lambda r: (-r["window_start"].timestamp(), r["currency"])
    )
    assert windows
    for r in windows[: report.WINDOWS_SHOWN]:
        status = "final" if r["is_final"] else "provisional"
        shown = (
            f"<tr><td>{r['window_start']:%Y-%m-%d %H:%M:%S}</td><td>{r['currency']}</td>"
            f'<td class="n">{r["order_count"]}</td><td class="n">{Decimal(str(r["revenue"])):,.2f}</td>'
            f"<td>{status}</td>"
        )
        assert shown in page
    daily = [r for r in loaded.query("sales_daily") if r["currency"] == "EUR"]
    last = max(daily, key=lambda r: r["day"])
    assert f"{Decimal(str(last['revenue'])):,.2f}" in page
