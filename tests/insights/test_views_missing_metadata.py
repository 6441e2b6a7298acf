"""The base views still deduplicate when deliveries lack their Pub/Sub message id or publish time.

Rows are built by the pipelines' own row builder from messages without the metadata
(what Dataflow's native source may hand the SDK: README "What Dataflow fills"), written
to the BigQuery emulator, and every base view is compared with its Python definition.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import insights_oracle as expected
import pytest
from apache_beam.io.gcp.pubsub import PubsubMessage
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from insights_fixtures import assert_same, replace_facts

from insights import views
from pipelines import generator, validation

pytestmark = pytest.mark.emulators

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
MISSING = ((), ("message_id",), ("publish_time",), ("message_id", "publish_time"))
STATUSES = ("CREATED", "SHIPPED", "DELIVERED")

# One event: which order (few ids, so several events share one), its hour, a price that makes
# a corrected re-publication differ, and the metadata each delivery of it lacks.
event_st = st.fixed_dictionaries(
    {
        "order": st.integers(0, 2),
        "hours": st.integers(1, 6),
        "price": st.sampled_from(("1.00", "2.50")),
        "status": st.sampled_from(STATUSES),
        "deliveries": st.lists(st.sampled_from(MISSING), min_size=1, max_size=3),
    }
)


class _Rows:
    """Fact rows exactly as ParseAndValidate builds them, one per delivery."""

    def __init__(self) -> None:
        self.n = 0
        self.rows: dict[str, list[dict[str, Any]]] = {"orders": [], "shipments": []}

    def deliver(self, table: str, event: dict, lacks: list[tuple[str, ...]]) -> None:
        data = generator.encode(event)
        validate = validation.validate_order if table == "orders" else validation.validate_shipment
        for missing in lacks:
            self.n += 1
            message = PubsubMessage(
                data,
                {"n": str(self.n)},
                message_id=None if "message_id" in missing else f"m{self.n:04d}",
                publish_time=None if "publish_time" in missing else NOW - timedelta(minutes=60 - self.n),
            )
            row = validation.to_fact_row(validate(data, NOW), message, NOW + timedelta(seconds=self.n))
            assert row["missing_metadata"] == list(missing)
            self.rows[table].append(row)


def build(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out = _Rows()
    for e in events:
        t = NOW - timedelta(hours=e["hours"])
        o = generator.order_event(
            f"O-{e['order']}", f"C-{e['order']}", "A-1", t, [("SKU-1", 1, Decimal(e["price"]))], client_ip_country=None
        )
        out.deliver("orders", o, e["deliveries"])
        s = generator.shipment_event(f"S-{e['order']}", o, e["status"], t + timedelta(minutes=30))
        out.deliver("shipments", s, e["deliveries"])
    return out.rows


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(event_st, min_size=1, max_size=6))
def test_base_views_deduplicate_deliveries_without_metadata(empty_dataset, events: list[dict[str, Any]]) -> None:
    o, s, query = replace_facts(empty_dataset, build(events))

    for view, facts in (("orders_deduplicated", o), ("shipment_events_deduplicated", s)):
        got = query(view)
        # Exactly one row per event, whatever metadata its deliveries lacked ...
        assert sorted(r["event_key"] for r in got) == sorted({r["event_key"] for r in facts}), view
        # ... and the kept delivery carries its metadata whenever one delivery did.
        complete = {r["event_key"] for r in facts if not r["missing_metadata"]}
        assert all(not r["missing_metadata"] for r in got if r["event_key"] in complete), view
        assert_same(got, expected.deduplicated(facts), ("event_key",))
    assert_same(query("orders_latest"), expected.orders_latest(o), ("order_id",))
    assert_same(query("shipment_status_reached"), expected.shipment_status_reached(s), ("shipment_id", "status"))
    hours = views.tunables()["stuck_after_hours"]
    assert_same(query("shipments_latest"), expected.shipments_latest(o, s, hours), ("shipment_id",))
