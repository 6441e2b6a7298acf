"""The conservation tally: exact accounting keyed on event_key, by Pub/Sub message id where a row has one."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from localdev.conservation import tally, unwritten

EXPECT = {"facts": 2, "dead_letters": 1, "duplicates": 1}


def test_clean_run_with_duplicates_and_dead_letters():
    published = {"m1": "k1", "m2": "k2", "m3": "k1", "m4": "k4"}  # m3 republishes m1's bytes
    facts = [("m1", "k1"), ("m2", "k2"), ("m3", "k1")]
    t = tally("orders", published, facts, [("m4", "k4")], EXPECT)
    assert (t.distinct_facts, t.duplicates, t.dead_letters, t.redelivered, t.missing) == (2, 1, 1, 0, 0)
    assert t.ok


def test_redelivery_is_counted_apart_and_does_not_break_conservation():
    t = tally(
        "orders",
        {"m1": "k1", "m2": "k2"},
        [("m1", "k1"), ("m1", "k1")],
        [("m2", "k2"), ("m2", "k2")],
        {"facts": 1, "dead_letters": 1, "duplicates": 0},
    )
    assert t.redelivered == 2
    assert t.ok


def test_a_lost_message_fails():
    t = tally("orders", {"m1": "k1", "m2": "k2"}, [("m1", "k1")], [], {"facts": 2, "dead_letters": 0, "duplicates": 0})
    assert t.missing == 1
    assert not t.ok


def test_an_unknown_row_fails():
    t = tally(
        "orders", {"m1": "k1"}, [("m1", "k1"), ("zz", "k9")], [], {"facts": 1, "dead_letters": 0, "duplicates": 0}
    )
    assert t.unknown == 1
    assert not t.ok


def test_rows_without_message_ids_are_matched_by_event_key():
    """Dataflow may leave message_id empty: the rows still account for every published message."""
    published = {"m1": "k1", "m2": "k2", "m3": "k1", "m4": "k4"}
    facts = [(None, "k1"), (None, "k2"), (None, "k1")]
    t = tally("orders", published, facts, [(None, "k4")], EXPECT)
    assert (t.distinct_facts, t.duplicates, t.dead_letters, t.redelivered, t.missing, t.unknown) == (2, 1, 1, 0, 0, 0)
    assert t.rows_without_message_id == 4
    assert t.ok


def test_a_lost_payload_fails_without_message_ids_too():
    t = tally("orders", {"m1": "k1", "m2": "k2"}, [(None, "k1")], [], {"facts": 2, "dead_letters": 0, "duplicates": 0})
    assert t.missing == 1
    assert not t.ok


def test_an_unknown_payload_without_message_id_fails():
    t = tally(
        "orders", {"m1": "k1"}, [(None, "k1"), (None, "k9")], [], {"facts": 1, "dead_letters": 0, "duplicates": 0}
    )
    assert t.unknown == 1
    assert not t.ok


def test_a_message_id_when_present_still_finds_a_lost_republish():
    """m3 repeats m1's bytes; with ids, its loss shows even though its event_key was written."""
    t = tally("orders", {"m1": "k1", "m3": "k1"}, [("m1", "k1")], [], {"facts": 1, "dead_letters": 0, "duplicates": 1})
    assert t.missing == 1
    assert not t.ok
    assert unwritten({"m1": "k1", "m3": "k1"}, [("m1", "k1")], []) == {"m3"}


def test_a_payload_both_fact_and_dead_letter_fails():
    t = tally("orders", {"m1": "k1"}, [("m1", "k1")], [("m1", "k1")], {"facts": 1, "dead_letters": 0, "duplicates": 0})
    assert t.distinct_facts + t.dead_letters + t.duplicates == 2
    assert not t.ok


@settings(max_examples=200, deadline=None)
@given(
    outcomes=st.lists(
        st.tuples(
            st.sampled_from(["fact", "dead"]), st.integers(0, 6), st.lists(st.booleans(), min_size=1, max_size=3)
        ),
        max_size=40,
    )
)
def test_any_complete_delivery_conserves_with_or_without_message_ids(outcomes):
    """Every published message written at least once (as its planted outcome), each row with or without
    its message id, always conserves."""
    published, facts, dead = {}, [], []
    expected = {"facts": 0, "dead_letters": 0, "duplicates": 0}
    seen_keys: set[str] = set()
    for i, (kind, key, copies_with_id) in enumerate(outcomes):
        mid = f"m{i}"
        if kind == "fact":
            k = f"k{key}"
            expected["duplicates" if k in seen_keys else "facts"] += 1
            seen_keys.add(k)
            facts += [(mid if with_id else None, k) for with_id in copies_with_id]
        else:
            k = f"bad{i}"  # the generator never republishes an invalid message
            expected["dead_letters"] += 1
            dead += [(mid if with_id else None, k) for with_id in copies_with_id]
        published[mid] = k
    t = tally("p", published, facts, dead, expected)
    assert t.ok, t
    assert t.distinct_facts + t.dead_letters + t.duplicates == len(published)
    assert t.rows_without_message_id == sum(1 for m, _ in facts + dead if m is None)


@settings(max_examples=200, deadline=None)
@given(
    outcomes=st.lists(st.tuples(st.integers(0, 4), st.booleans()), min_size=1, max_size=20),
    lost=st.data(),
)
def test_losing_any_distinct_payload_is_caught(outcomes, lost):
    """Drop every row of one published payload: conservation fails, ids or not."""
    published = {f"m{i}": f"k{key}" for i, (key, _) in enumerate(outcomes)}
    rows = [(f"m{i}" if with_id else None, f"k{key}") for i, (key, with_id) in enumerate(outcomes)]
    gone = lost.draw(st.sampled_from(sorted(set(published.values()))))
    kept = [r for r in rows if r[1] != gone]
    distinct = len(set(published.values()))
    expected = {"facts": distinct, "dead_letters": 0, "duplicates": len(published) - distinct}
    t = tally("p", published, kept, [], expected)
    assert t.missing >= 1
    assert not t.ok


@pytest.mark.emulators
def test_a_chunked_dead_letter_is_read_back_as_one_row(bigquery_emulator, project, unique_suffix):
    """The sink writes a big dead letter as several chunk rows; conservation must count it once."""
    from apache_beam.io.gcp.pubsub import PubsubMessage

    from localdev import conservation, provision
    from pipelines import bq, validation
    from pipelines.common import sink, write_limits

    dataset = provision.create_dataset_and_tables(project, f"conschunk_{unique_suffix}")
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    payload = b"x" * (2 * write_limits.DEAD_LETTER_CHUNK_BYTES + 1)  # 3 chunk rows
    message = PubsubMessage(payload, None, message_id="m-1", publish_time=now)
    fn = sink.WriteRows(dataset, "dead_letter", "orders")
    fn.setup()
    fn.start_bundle()
    fn.process(validation.to_dead_letter_row("orders", message, validation.InvalidEvent("message_too_large"), now))
    fn.finish_bundle()
    fn.teardown()

    client = bq.make_client(project)
    try:
        facts, dead = conservation.read_written(client, dataset, "orders")
        raw = list(client.query(f"SELECT chunk_index FROM `{dataset}.dead_letter`").result())
    finally:
        client.close()
    key = validation.event_key(payload)
    assert len(raw) == 3 and (facts, dead) == ([], [("m-1", key)])
    t = tally("orders", {"m-1": key}, facts, dead, {"facts": 0, "dead_letters": 1, "duplicates": 0})
    assert t.ok and (t.written_rows, t.redelivered) == (1, 0)
