"""The BigQuery sink against the real emulator (Storage Write API): rows written, rows refused."""

from __future__ import annotations

import base64
import json

import pytest
from pipeline_support import NOW, order, run_bundle

from localdev import provision
from pipelines import bq, generator, system, validation
from pipelines.common import sink
from pipelines.orders import pipeline as orders

pytestmark = pytest.mark.emulators


class _Msg:
    def __init__(self, data: bytes, mid: str) -> None:
        self.data, self.attributes, self.message_id, self.publish_time = data, {"a": "b"}, mid, NOW


def _fact(i: int) -> dict:
    data = generator.encode(order(i, NOW))
    return validation.to_fact_row(validation.validate_order(data, NOW), _Msg(data, f"m-{i}"), NOW)


def _select(project: str, dataset: str, key: str) -> list[dict]:
    client = bq.make_client(project)
    return [dict(r) for r in client.query(f"SELECT * FROM `{dataset}.{system.table_name(key)}`").result()]


def test_rows_are_written_in_batches_and_refused_rows_go_to_the_dead_letter_table(
    bigquery_emulator, project: str, unique_suffix: str
) -> None:
    dataset = provision.create_dataset_and_tables(project, f"sink_{unique_suffix}")
    good = [_fact(i) for i in range(5)]
    refused = {**_fact(9), "schema_version": "not a number"}  # passes no validator; only a bug could send it
    fn = sink.WriteRows(dataset, "orders", orders.PIPELINE)
    run_bundle(fn, [*good[:3], refused, *good[3:]])

    written = _select(project, dataset, "orders")
    assert sorted(r["message_id"] for r in written) == [f"m-{i}" for i in range(5)]
    dead = _select(project, dataset, "dead_letter")
    assert len(dead) == 1
    row = dead[0]
    assert (row["pipeline"], row["error_reason"], row["message_id"]) == ("orders", "sink_rejected", "m-9")
    assert row["error_field"].endswith(".orders")
    assert json.loads(base64.b64decode(row["payload_base64"]))["schema_version"] == "not a number"
    assert "schema_version" in row["error_detail"]
