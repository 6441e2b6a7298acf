"""The benchmark's peers decide every event as the project does, so comparing their speed is fair.

``bench.pipelines_bench`` runs the same check before it times a peer and refuses
the ones that disagree; these tests run it on more traffic, on the shared table
of edge cases, and on random one-field mutations, and show that the check
catches a peer that is one rule looser.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import peers, variants
from pipelines import generator, validation

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("pipeline", ["orders", "shipping"])
def test_the_project_gives_every_edge_case_its_documented_reason(pipeline: str) -> None:
    for case in variants.CASES[pipeline](NOW):
        try:
            validation.VALIDATORS[pipeline](case.data, NOW)
            reason = None
        except validation.InvalidEvent as e:
            reason = e.reason
        assert reason == case.reason, case.label


@pytest.mark.parametrize("pipeline", ["orders", "shipping"])
def test_every_peer_agrees_on_every_edge_case_and_every_generated_event(pipeline: str) -> None:
    messages = generator.generate(7, 600, now=NOW, invalid_rate=0.2, duplicate_rate=0.0)
    payloads = [(f"generated {m.planted or 'valid'} #{i}", m.data) for i, m in enumerate(messages)]
    payloads = [p for p, m in zip(payloads, messages, strict=True) if m.pipeline == pipeline]
    assert sum(m.expected == "dead_letter" for m in messages if m.pipeline == pipeline) > 10  # invalid ones too
    payloads += [(case.label, case.data) for case in variants.CASES[pipeline](NOW)]
    assert {p.name for p in peers.PEERS[pipeline]} == {"pydantic", "msgspec"}
    for peer in peers.PEERS[pipeline]:
        assert peers.disagreements(pipeline, peer, payloads, NOW) == []
    assert peers.faithful_peers(pipeline, payloads, NOW) == peers.PEERS[pipeline]


JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["", " ", "0", "-0", "-0.00", "1.5", "12.50", "NL", "EUR", "CARD", "WEB", "SHIPPED", "2026-11-30"]),
    st.sampled_from(["2026-12-01T11:59:00Z", "2026-12-01T12:59:00+01:00", "2026-12-01T11:59:00.1234567z"]),
    st.lists(st.integers(), max_size=2),
)


@st.composite
def near_valid(draw: st.DrawFn) -> tuple[str, bytes]:
    """A valid event of the shared table with one field (top level or in an item) dropped, added or replaced."""
    pipeline = draw(st.sampled_from(["orders", "shipping"]))
    event = variants.base_order(NOW) if pipeline == "orders" else variants.base_shipment(NOW)
    target = event
    if pipeline == "orders" and draw(st.booleans()):
        target = event["items"][draw(st.integers(0, len(event["items"]) - 1))]
    key = draw(st.sampled_from(sorted(target)))
    kind = draw(st.sampled_from(["drop", "add", "replace"]))
    if kind == "drop":
        del target[key]
    elif kind == "add":
        target[draw(st.sampled_from(["coupon", key]))] = draw(JSON_VALUES)
    else:
        target[key] = draw(JSON_VALUES)
    return pipeline, generator.encode(event)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(near_valid())
def test_peers_agree_on_one_field_mutations(case: tuple[str, bytes]) -> None:
    pipeline, data = case
    for peer in peers.PEERS[pipeline]:
        assert peers.disagreements(pipeline, peer, [("mutation", data)], NOW) == []


class _LooseOrder(peers.PydanticOrder):
    """The model one writes first: Literal[1] takes JSON true and 1.0, even in strict mode."""

    schema_version: Literal[1]  # type: ignore[assignment]


def test_a_peer_that_is_one_rule_looser_is_refused(monkeypatch, capsys) -> None:
    loose = peers.Peer("loose-pydantic", peers._pydantic(_LooseOrder), peers._pydantic_row)
    payloads = [(case.label, case.data) for case in variants.order_cases(NOW)]
    found = peers.disagreements("orders", loose, payloads, NOW)
    assert found == [
        "loose-pydantic accepts 'schema_version true' (invalid here)",
        "loose-pydantic accepts 'schema_version 1.0' (invalid here)",
    ]
    monkeypatch.setitem(peers.PEERS, "orders", (loose, *peers.PEERS["orders"]))
    kept = peers.faithful_peers("orders", payloads, NOW)
    assert [p.name for p in kept] == ["pydantic", "msgspec"]
    assert "REFUSED to time orders/loose-pydantic" in capsys.readouterr().out


def test_a_peer_that_yields_other_values_is_refused() -> None:
    """Agreement is on the row, not only on accept/reject: an event_time left in its own offset differs."""

    def keep_offset(m):
        return {**m.model_dump(), "event_time": m.event_time}

    sloppy = peers.Peer("sloppy", peers.PEERS["orders"][0].validate, keep_offset)
    event = {**variants.base_order(NOW), "event_time": (NOW + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+01:00")}
    assert peers.disagreements("orders", sloppy, [("offset", generator.encode(event))], NOW) == [
        "sloppy accepts 'offset' (valid here)"
    ]


def _pins(path: Path) -> dict[str, str]:
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return {n.lower().replace("_", "-"): v for n, v in (line.split("==") for line in lines if line)}


def test_bench_requirements_pin_the_root_versions() -> None:
    root, bench = _pins(REPO / "requirements.txt"), _pins(REPO / "bench" / "requirements.txt")
    assert {"pydantic", "msgspec"} <= set(bench)
    assert all(root.get(name) == version for name, version in bench.items()), (bench, root)
