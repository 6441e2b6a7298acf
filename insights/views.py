"""The insight views: list them, render their SQL and create them in BigQuery or the emulator.

The SQL lives in ``views/base/*.sql`` and ``views/insights/*.sql``, one view per
file, the view name being the file stem. Terraform deploys the same files with
``templatefile()``, base layer first, then insights; so the files use only
``${name}`` placeholders (no ``%{`` directives), which :class:`string.Template`
renders identically here. The variables are ``project``, ``dataset``, every
key of the ``insights`` object in ``config/system.json``, and the pipelines'
``window_seconds`` and ``allowed_lateness_seconds`` launch parameters.

The layering is a contract with terraform, checked by :func:`deployment_order`:
a base view reads tables only, an insight view reads tables and base views only,
so each layer can be created in parallel once the layer below exists.
"""

from __future__ import annotations

import argparse
import json
import re
import string
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from google.api_core.exceptions import Conflict
from google.cloud import bigquery

from pipelines import bq, system
from pipelines.common.options import DEFAULT_ALLOWED_LATENESS_SECONDS, DEFAULT_WINDOW_SECONDS

VIEWS_DIR = Path(__file__).resolve().parents[1] / "views"
LAYERS = ("base", "insights")
# `${project}.${dataset}.name`: how every view refers to a table or another view.
REFERENCE = re.compile(r"`\$\{project\}\.\$\{dataset\}\.([A-Za-z_][A-Za-z0-9_]*)`")


@dataclass(frozen=True)
class ViewFile:
    layer: str
    path: Path

    @property
    def name(self) -> str:
        return self.path.stem

    @cached_property
    def template(self) -> str:
        return self.path.read_text()

    @property
    def references(self) -> set[str]:
        """Names of the tables and views this view reads."""
        return set(REFERENCE.findall(self.template))

    def render(self, variables: dict[str, Any]) -> str:
        return string.Template(self.template).substitute(variables)


def list_views(views_dir: Path = VIEWS_DIR) -> list[ViewFile]:
    """Every view file, base layer first, alphabetical within a layer."""
    return [ViewFile(layer, p) for layer in LAYERS for p in sorted((views_dir / layer).glob("*.sql"))]


def tunables() -> dict[str, Any]:
    """The ``insights`` object of ``config/system.json`` (thresholds, windows, weights)."""
    return dict(system.system()["insights"])


def template_variables(
    project: str,
    dataset: str | None = None,
    *,
    window_seconds: int = DEFAULT_WINDOW_SECONDS,
    allowed_lateness_seconds: int = DEFAULT_ALLOWED_LATENESS_SECONDS,
) -> dict[str, Any]:
    """What terraform passes to templatefile(): project, dataset, the insights tunables, and the
    pipelines' windowing (the same ``window_seconds`` and ``allowed_lateness_seconds`` the jobs are
    launched with), so the ``*_by_window_current`` views compute the pipelines' windows from the facts."""
    return {
        **tunables(),
        "project": project,
        "dataset": dataset or system.dataset(),
        "window_seconds": int(window_seconds),
        "allowed_lateness_seconds": int(allowed_lateness_seconds),
    }


def deployment_order(views: list[ViewFile] | None = None) -> list[ViewFile]:
    """The views in creation order, after checking every reference resolves within the layering contract."""
    views = views if views is not None else list_views()
    tables = set(system.system()["bigquery"]["tables"].values())
    visible = set(tables)
    for layer in LAYERS:
        in_layer = [v for v in views if v.layer == layer]
        for view in in_layer:
            unknown = view.references - visible
            if unknown:
                raise ValueError(f"{view.path}: reads {sorted(unknown)}, which a {layer} view may not read")
        visible |= {v.name for v in in_layer}
    clashes = tables & {v.name for v in views}
    if clashes:
        raise ValueError(f"view names clash with tables: {sorted(clashes)}")
    return views


def create_views(
    client: bigquery.Client,
    project: str,
    dataset: str | None = None,
    *,
    window_seconds: int = DEFAULT_WINDOW_SECONDS,
    allowed_lateness_seconds: int = DEFAULT_ALLOWED_LATENESS_SECONDS,
) -> list[str]:
    """Create or replace every view, in deployment order; returns the view names (file stems) in that order.

    An existing view has its query updated in place rather than being dropped,
    so views built on it never see it missing.
    """
    variables = template_variables(
        project, dataset, window_seconds=window_seconds, allowed_lateness_seconds=allowed_lateness_seconds
    )
    created = []
    for view in deployment_order():
        view_id = f"{project}.{variables['dataset']}.{view.name}"
        table = bigquery.Table(view_id)
        table.view_query = view.render(variables)
        try:
            client.create_table(table)
            action = "view created"
        except Conflict:
            client.update_table(table, ["view_query"])
            action = "view updated"
        _log("INFO", action, view=view_id, layer=view.layer)
        created.append(view.name)
    return created


def _log(severity: str, message: str, **fields: Any) -> None:
    print(json.dumps({"severity": severity, "message": message, **fields}), file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Render or create the insight views.")
    parser.add_argument("--project", required=True)
    parser.add_argument("--dataset", default=None, help="defaults to the dataset in config/system.json")
    parser.add_argument("--print", action="store_true", help="print the rendered SQL instead of creating views")
    parser.add_argument("--window_seconds", type=int, default=DEFAULT_WINDOW_SECONDS, help="the jobs' window length")
    parser.add_argument(
        "--allowed_lateness_seconds", type=int, default=DEFAULT_ALLOWED_LATENESS_SECONDS, help="the jobs' lateness"
    )
    args = parser.parse_args(argv)
    windowing = {"window_seconds": args.window_seconds, "allowed_lateness_seconds": args.allowed_lateness_seconds}
    if args.print:
        variables = template_variables(args.project, args.dataset, **windowing)
        for view in deployment_order():
            print(f"-- {view.layer}/{view.name}\n{view.render(variables)}")
        return
    dataset = args.dataset or system.dataset()
    for name in create_views(bq.make_client(args.project), args.project, dataset, **windowing):
        print(f"{args.project}.{dataset}.{name}")


if __name__ == "__main__":
    main()
