"""The conservation tally: exact accounting by Pub/Sub message id and event key."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from localdev.conservation import tally


def test_clean_run_with_duplicates_and_dead_letters():
    published = ["m1", "m2", "m3", "m4"]
    facts = [("m1", "k1"), ("m2", "k2"), ("m3", "k1")]  # m3 republishes m1's bytes
    t = tally("orders", published, facts, ["m4"], {"facts": 2, "dead_letters": 1, "duplicates": 1})
    assert (t.distinct_facts, t.duplicates, t.dead_letters, t.redelivered, t.missing) == (2, 1, 1, 0, 0)
    assert t.ok


def test_redelivery_is_counted_apart_and_does_not_break_conservation():
    t = tally(
        "orders",
        ["m1", "m2"],
        [("m1", "k1"), ("m1", "k1")],
        ["m2", "m2"],
        {"facts": 1, "dead_letters": 1, "duplicates": 0},
    )
    assert t.redelivered == 2
    assert t.ok


def test_a_lost_message_fails():
    t = tally("orders", ["m1", "m2"], [("m1", "k1")], [], {"facts": 2, "dead_letters": 0, "duplicates": 0})
    assert t.missing == 1
    assert not t.ok


def test_an_unknown_row_fails():
    t = tally("orders", ["m1"], [("m1", "k1"), ("zz", "k9")], [], {"facts": 1, "dead_letters": 0, "duplicates": 0})
    assert t.unknown == 1
    assert not t.ok


@settings(max_examples=150, deadline=None)
@given(
    outcomes=st.lists(st.tuples(st.sampled_from(["fact", "dead"]), st.integers(0, 6), st.integers(1, 3)), max_size=40)
)
def test_any_complete_delivery_conserves(outcomes):
    """Every published message written at least once (as its planted outcome) always conserves."""
    published, facts, dead = [], [], []
    expected = {"facts": 0, "dead_letters": 0, "duplicates": 0}
    seen_keys: set[str] = set()
    for i, (kind, key, copies) in enumerate(outcomes):
        mid = f"m{i}"
        published.append(mid)
        if kind == "fact":
            k = f"k{key}"
            expected["duplicates" if k in seen_keys else "facts"] += 1
            seen_keys.add(k)
            facts += [(mid, k)] * copies
        else:
            expected["dead_letters"] += 1
            dead += [mid] * copies
    t = tally("p", published, facts, dead, expected)
    assert t.ok
    assert t.distinct_facts + t.dead_letters + t.duplicates == len(published)
