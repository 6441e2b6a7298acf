"""The orchestration cost model: its figures follow from its prices and assumptions."""

from __future__ import annotations

import dataclasses
import re

import pytest

from cost import model, prices


def test_polling_estimate_reproduces_the_articles_17_to_18_usd():
    """The original design's authors estimated 17 to 18 USD/month; our step model lands inside that range."""
    figures = model.compare()
    assert 17.0 <= figures["polling_cost_free_tier_usd_month"] <= 18.0


def test_polling_steps_are_polls_times_steps_per_poll():
    a = model.PollingAssumptions()
    polls = a.pipelines * a.days_per_month * 86_400 / a.poll_interval_seconds
    (item,) = model.polling_usage(a).items
    assert item.quantity == pytest.approx(polls * a.steps_per_poll)
    assert item.usd() == pytest.approx(item.quantity / 1_000 * prices.WORKFLOWS_INTERNAL_STEP.usd)


def test_halving_the_poll_interval_doubles_the_polling_cost():
    base = model.polling_usage(model.PollingAssumptions()).usd()
    fast = model.polling_usage(model.PollingAssumptions(poll_interval_seconds=15)).usd()
    assert fast == pytest.approx(2 * base)


def test_event_driven_cost_is_the_sum_of_its_line_items_and_grows_with_failures():
    calm = model.event_driven_usage(model.EventDrivenAssumptions(failures_per_pipeline_month=0))
    stormy = model.event_driven_usage(model.EventDrivenAssumptions(failures_per_pipeline_month=100))
    assert calm.usd() == pytest.approx(sum(i.usd() for i in calm.items))
    assert stormy.usd() > calm.usd()


def test_ratio_and_headline_lines():
    f = model.compare()
    assert f["orchestration_cost_ratio"] == pytest.approx(f["polling_cost_usd_month"] / f["eventdriven_cost_usd_month"])
    # Even at a hundred failures per pipeline per month, events stay far cheaper than polling.
    heavy = model.compare(event_driven=model.EventDrivenAssumptions(failures_per_pipeline_month=100))
    assert heavy["orchestration_cost_ratio"] > 10


def test_free_tier_only_lowers_costs():
    for est in (
        model.polling_usage(model.PollingAssumptions()),
        model.event_driven_usage(model.EventDrivenAssumptions()),
    ):
        assert est.usd(with_free_tier=True) <= est.usd()


@pytest.mark.parametrize("price", prices.ALL, ids=lambda p: p.name)
def test_every_price_names_its_source_and_date(price: prices.Price):
    assert price.source.startswith("https://cloud.google.com/")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", price.checked)
    assert price.usd >= 0 and price.per > 0


def test_assumptions_table_lists_every_field():
    names = {(d, n) for d, n, _ in model.assumptions_table()}
    for f in dataclasses.fields(model.PollingAssumptions):
        assert ("polling", f.name) in names
    for f in dataclasses.fields(model.EventDrivenAssumptions):
        assert ("event-driven", f.name) in names
