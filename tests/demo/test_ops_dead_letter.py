"""``python -m ops dead-letter show|replay`` against the emulators, on dead letters the real sink wrote."""

from __future__ import annotations

import hashlib
import json
import random
from contextlib import suppress
from datetime import UTC, datetime

import pytest
from apache_beam.io.gcp.pubsub import PubsubMessage
from google.api_core.exceptions import AlreadyExists
from google.cloud import pubsub_v1

from localdev import provision
from ops import __main__ as cli
from pipelines import system, validation
from pipelines.common import sink, write_limits
from pipelines.orders import pipeline as orders

pytestmark = pytest.mark.emulators

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _write_dead_letters(dataset: str, messages: list[PubsubMessage], reason: str = "message_too_large") -> None:
    fn = sink.WriteRows(dataset, "dead_letter", orders.PIPELINE)
    fn.setup()
    fn.start_bundle()
    for m in messages:
        error = validation.InvalidEvent(reason, None, "test")
        fn.process(validation.to_dead_letter_row(orders.PIPELINE, m, error, NOW))
    fn.finish_bundle()
    fn.teardown()


@pytest.fixture
def dataset(bigquery_emulator, project: str, unique_suffix: str) -> str:
    return provision.create_dataset_and_tables(project, f"dlcli_{unique_suffix}").split(".")[-1]


def test_show_reassembles_a_chunked_dead_letter_byte_exact(dataset, project, tmp_path, capsys) -> None:
    payload = random.Random(5).randbytes(2 * write_limits.DEAD_LETTER_CHUNK_BYTES + 1234)  # 3 chunk rows
    _write_dead_letters(
        f"{project}.{dataset}", [PubsubMessage(payload, {"k": "v"}, message_id="m-big", publish_time=NOW)]
    )
    out_file = tmp_path / "payload.bin"

    code = cli.main(
        ["--project", project, "dead-letter", "show", "m-big", "--dataset", dataset, "--output", str(out_file)]
    )

    assert code == 0
    out = capsys.readouterr().out
    assert "chunks: 3 of 3" in out and "sha256 verified" in out
    assert f"payload_sha256: {hashlib.sha256(payload).hexdigest()}" in out
    assert out_file.read_bytes() == payload


def test_replay_by_event_key_republishes_the_exact_bytes_and_attributes(
    pubsub_emulator, dataset, project, unique_suffix, capsys
) -> None:
    payload = b'{"order_id": "O-1", "note": "' + b"x" * 900_000 + b'"}'  # 2 chunk rows
    attributes = {"source": "test", "n": "1"}
    _write_dead_letters(
        f"{project}.{dataset}", [PubsubMessage(payload, attributes, message_id=None, publish_time=None)]
    )
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    topic = publisher.topic_path(project, system.system()["pipelines"]["orders"]["topic"])
    with suppress(AlreadyExists):
        publisher.create_topic(name=topic)
    sub = subscriber.subscription_path(project, f"dl-replay-{unique_suffix}")
    subscriber.create_subscription(name=sub, topic=topic)
    try:
        key = hashlib.sha256(payload).hexdigest()
        assert cli.main(["--project", project, "dead-letter", "replay", "--event-key", key, "--dataset", dataset]) == 0
        assert "replayed" in capsys.readouterr().out
        resp = subscriber.pull(subscription=sub, max_messages=10, timeout=30)
        (got,) = resp.received_messages
        assert got.message.data == payload
        assert dict(got.message.attributes) == attributes
        subscriber.acknowledge(subscription=sub, ack_ids=[got.ack_id])
    finally:
        subscriber.delete_subscription(subscription=sub)


def test_sink_rejected_dead_letters_are_shown_but_not_replayed(dataset, project, capsys) -> None:
    row = {"order_id": "O-9", "message_id": "m-rej"}
    _write_dead_letters(
        f"{project}.{dataset}",
        [PubsubMessage(json.dumps(row).encode(), None, message_id="m-rej")],
        validation.SINK_REJECTED,
    )
    assert cli.main(["--project", project, "dead-letter", "show", "m-rej", "--dataset", dataset]) == 0
    assert cli.main(["--project", project, "dead-letter", "replay", "m-rej", "--dataset", dataset]) == 1
    assert "not the Pub/Sub message" in capsys.readouterr().err


def test_an_unknown_message_id_is_an_error(dataset, project, capsys) -> None:
    assert cli.main(["--project", project, "dead-letter", "show", "nope", "--dataset", dataset]) == 1
    assert "no dead letter with message_id nope" in capsys.readouterr().err
