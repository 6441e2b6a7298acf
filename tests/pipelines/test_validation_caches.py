"""The hot path's memos (price cents, event-time bounds, formatted seconds, attributes JSON) never change a row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines import contracts as c
from pipelines import generator, validation
from pipelines.validation import InvalidEvent


def _full_time(text: str, now: datetime) -> str | None:
    try:
        return validation._event_time({"event_time": text}, now)
    except InvalidEvent:
        return None


@settings(max_examples=400, deadline=None)
@given(
    now=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)).map(
        lambda t: t.replace(tzinfo=UTC)
    ),
    edge=st.sampled_from(["past", "future"]),
    shift=st.integers(min_value=-3, max_value=3),
    frac=st.sampled_from([None, "0", "5", "000001", "999999"]),
)
def test_fast_time_bounds_never_accept_more_than_the_full_check(now, edge, shift, frac) -> None:
    """Whole-second text bounds, memoized per second of ``now`` (with or without microseconds)."""
    bound = now - c.MAX_PAST_AGE if edge == "past" else now + c.MAX_FUTURE_SKEW
    base = validation._second_text(bound.replace(microsecond=0) + timedelta(seconds=shift))
    fast = validation._fast_time(base, frac, now)
    full = _full_time(base + (f".{frac}" if frac else "") + "Z", now)
    if fast is not None:
        assert fast == full
    if frac is None and fast != full:
        # Whole seconds: the fast path decides as the full check, except that it leaves the very last
        # accepted second to it (the fast path's upper bound is one second short, for any fraction).
        assert (edge, shift, fast) == ("future", 0, None) and full is not None


@pytest.mark.parametrize("day", ["2026-02-29", "2026-04-31", "2028-02-29", "2026-12-31"])
def test_fast_time_checks_the_month_length(day: str) -> None:
    now = datetime.fromisoformat(day[:8] + "01T00:00:00+00:00") + timedelta(days=20)
    assert validation._fast_time(day + "T10:00:00", None, now) == _full_time(day + "T10:00:00Z", now)


def test_prices_in_cents_agree_with_decimals_and_the_memo_is_bounded(monkeypatch) -> None:
    monkeypatch.setattr(validation, "_CENTS", {})
    assert [validation._cents(p) for p in ("0", "0.5", "12.5", "12.50", "4.99", "100")] == [
        0,
        50,
        1250,
        1250,
        499,
        10000,
    ]
    assert [validation._cents(p) for p in ("4.999", "04.99", "-1", "1e3", " 1", "1.")] == [None] * 6
    for i in range(validation._CENTS_MAX + 50):
        validation._cents(f"{i}.01")
    assert len(validation._CENTS) == validation._CENTS_MAX


def test_a_one_decimal_price_still_sums_exactly() -> None:
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    items = [("SKU-1", 3, "0.1"), ("SKU-2", 1, "12.5")]
    event = generator.order_event("O-1", "C-1", "A-1", now - timedelta(minutes=1), [])
    event["items"] = [{"sku": s, "quantity": q, "unit_price": p} for s, q, p in items]
    for total, ok in (("12.80", True), ("12.8", True), ("12.79", False)):
        event["total_amount"] = total
        obj = validation._parse(generator.encode(event))
        assert (validation._fast_order(obj, now) is not None) is ok


def test_timestamps_alternating_between_seconds_and_zones_format_exactly() -> None:
    """Publish (second S-1) and ingest (second S) times alternate, as in to_fact_row."""
    s = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
    for i in range(1, 50):
        publish = s - timedelta(microseconds=i * 7919)
        assert validation.format_timestamp(publish) == publish.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert validation.format_timestamp(s) == "2026-12-01T12:00:00Z"
        assert validation.format_timestamp(s.replace(tzinfo=None) + timedelta(seconds=i)).endswith(f":{i:02d}Z")
        local = (s + timedelta(seconds=i)).astimezone(datetime.now().astimezone().tzinfo)
        assert validation.format_timestamp(local) == f"2026-12-01T12:00:{i:02d}Z"


def test_attributes_json_follows_the_mapping_not_the_memo() -> None:
    attributes = {"source": "generator"}
    message = SimpleNamespace(data=b"{}", attributes=attributes, message_id="m", publish_time=None)
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert validation.to_fact_row({}, message, now)["attributes"] == '{"source":"generator"}'
    attributes["b"] = "2"  # the same dict, changed after the first row
    assert validation.to_fact_row({}, message, now)["attributes"] == '{"b":"2","source":"generator"}'
    message.attributes = {}
    assert validation.to_fact_row({}, message, now)["attributes"] is None
