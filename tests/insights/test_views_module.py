"""The view files as a deployable unit: the contract terraform relies on (layering, variables, determinism)."""

from __future__ import annotations

import re
import string

import pytest

from insights import views
from pipelines import system


def test_every_view_file_renders_with_exactly_the_template_variables() -> None:
    variables = views.template_variables("p", "d")
    for view in views.list_views():
        used = {m.group("braced") for m in string.Template.pattern.finditer(view.template) if m.group("braced")}
        assert used <= set(variables), f"{view.path}: unknown variables {used - set(variables)}"
        rendered = view.render(variables)
        assert "$" not in rendered, f"{view.path}: something left unrendered"
        # terraform's templatefile() would read %{ as a directive; keep the two renderers identical.
        assert "%{" not in view.template


def test_layering_contract_holds_for_the_files() -> None:
    ordered = views.deployment_order()
    names = [v.name for v in ordered]
    assert len(names) == len(set(names))
    tables = set(system.system()["bigquery"]["tables"].values())
    base = {v.name for v in ordered if v.layer == "base"}
    for view in ordered:
        assert view.references, f"{view.path} reads nothing"
        allowed = tables if view.layer == "base" else tables | base
        assert view.references <= allowed, view.path


def test_layering_violation_is_refused(tmp_path) -> None:
    """A base view reading another base view would break terraform's parallel creation of the layer."""
    (tmp_path / "base").mkdir()
    (tmp_path / "insights").mkdir()
    (tmp_path / "base" / "a.sql").write_text("SELECT * FROM `${project}.${dataset}.orders`")
    (tmp_path / "base" / "b.sql").write_text("SELECT * FROM `${project}.${dataset}.a`")
    with pytest.raises(ValueError, match="may not read"):
        views.deployment_order(views.list_views(tmp_path))


def test_views_are_deterministic() -> None:
    """No clock in any view: "now" is the data's as-of time, so answers are reproducible."""
    clock = re.compile(r"CURRENT_(TIMESTAMP|DATE|DATETIME|TIME)|\bNOW\s*\(|RAND\s*\(", re.IGNORECASE)
    for view in views.list_views():
        code = re.sub(r"--[^\n]*", "", view.template)
        assert not clock.search(code), view.path


def test_the_six_insights_are_there() -> None:
    names = {v.name for v in views.list_views() if v.layer == "insights"}
    assert {
        "sales_hourly",
        "sales_daily",
        "product_performance",
        "product_movers",
        "customer_segments",
        "fulfillment_efficiency",
        "stuck_shipments",
        "bottlenecks",
        "fraud_signals",
    } <= names


def test_tunables_are_plain_scalars_for_templatefile() -> None:
    """terraform passes the insights object straight to templatefile(): flat keys, numbers only."""
    for key, value in views.tunables().items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", key)
        assert isinstance(value, int | float) and not isinstance(value, bool), key
