"""BigQuery tables, derived from the event contracts; ``make schemas`` writes them for terraform.

``python -m pipelines.tables --write terraform/schemas`` produces ``tables.json``
(table ids, partitioning, clustering, descriptions) and one BigQuery JSON schema
per table.  ``tests/pipelines/test_tables.py`` fails when the written files are stale.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from pipelines import contracts as c
from pipelines import system


@dataclass(frozen=True)
class TableSpec:
    key: str  # logical key in config/system.json
    fields: tuple[c.Field, ...]
    partition_field: str
    clustering: tuple[str, ...]
    description: str

    @property
    def table_id(self) -> str:
        return system.table_name(self.key)

    def schema(self) -> list[dict]:
        return [f.to_bigquery() for f in self.fields]


TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        "orders",
        (*c.ORDER_EVENT_FIELDS, *c.METADATA_FIELDS),
        "event_time",
        ("customer_id", "order_id"),
        "Order facts, one row per delivered message; deduplicate on event_key (see the base views).",
    ),
    TableSpec(
        "shipments",
        (*c.SHIPMENT_EVENT_FIELDS, *c.METADATA_FIELDS),
        "event_time",
        ("carrier", "warehouse_id", "status", "shipment_id"),
        "Shipment status facts, one row per delivered message; deduplicate on event_key.",
    ),
    TableSpec(
        "dead_letter",
        c.DEAD_LETTER_FIELDS,
        "dead_letter_time",
        ("pipeline", "error_reason"),
        "Every message a pipeline could not accept, with the raw payload and the reason.",
    ),
    TableSpec(
        "order_revenue",
        c.ORDER_REVENUE_FIELDS,
        "window_start",
        ("currency",),
        "Revenue and order count per event-time window, one row per pane and job (the _current view reads facts).",
    ),
    TableSpec(
        "sku_sales",
        c.SKU_SALES_FIELDS,
        "window_start",
        ("sku", "currency"),
        "Units and revenue per SKU per event-time window, one row per pane and job (the _current view reads facts).",
    ),
    TableSpec(
        "shipment_status",
        c.SHIPMENT_STATUS_FIELDS,
        "window_start",
        ("carrier", "warehouse_id", "status"),
        "Shipment status events per carrier and warehouse per window, one row per pane and job.",
    ),
    TableSpec(
        "late_shipments",
        c.LATE_SHIPMENT_FIELDS,
        "window_start",
        ("carrier", "warehouse_id"),
        "Deliveries and late deliveries against the promise per window, one row per pane and job.",
    ),
)

BY_KEY = {t.key: t for t in TABLES}


def render() -> dict[str, str]:
    """File name -> content of every file ``make schemas`` writes."""
    files: dict[str, str] = {}
    index = {}
    for t in TABLES:
        index[t.key] = {
            "table_id": t.table_id,
            "schema_file": f"{t.table_id}.json",
            "time_partitioning": {"type": "DAY", "field": t.partition_field},
            "clustering": list(t.clustering),
            "description": t.description,
        }
        files[f"{t.table_id}.json"] = json.dumps(t.schema(), indent=2) + "\n"
    files["tables.json"] = json.dumps(index, indent=2) + "\n"
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", type=Path, required=True, help="directory to write the schema files to")
    args = parser.parse_args()
    args.write.mkdir(parents=True, exist_ok=True)
    for name, content in render().items():
        (args.write / name).write_text(content)
        print(f"wrote {args.write / name}")


if __name__ == "__main__":
    main()
