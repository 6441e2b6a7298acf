"""Malformed inputs over real HTTP: each is acknowledged (HTTP 2xx, no retry storm) and filed with its reason."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from localdev.dataflow_standin import STATUS_CHANGED
from relauncher.store import UNFILED, doc_id
from tests.relauncher.support import MESSAGE_PUBLISHED, post

pytestmark = [pytest.mark.emulators, pytest.mark.slow]

GOOD_JOB = {
    "id": "2026-11-30_22_00_00-1",
    "name": "orders-analytics-a0",
    "currentState": "JOB_STATE_FAILED",
    "currentStateTime": "2026-11-30T22:00:00Z",
}


def _with(**changes):
    job = {**GOOD_JOB, **changes}
    return {k: v for k, v in job.items() if v is not None}


def _pubsub(raw: bytes | str) -> dict:
    data = raw if isinstance(raw, str) else base64.b64encode(raw).decode()
    return {"message": {"data": data, "messageId": "1"}, "subscription": "projects/p/subscriptions/s"}


# (case, event type, data, content type, fragment of the recorded reason)
CASES = [
    ("data-not-json", STATUS_CHANGED, b"\x00not json", "application/octet-stream", "not JSON"),
    ("json-type-not-json", STATUS_CHANGED, b"{not json", "application/json", "not JSON"),
    ("data-not-utf8", STATUS_CHANGED, b"\xff\xfe", "application/octet-stream", "not UTF-8"),
    ("data-is-a-list", STATUS_CHANGED, [1, 2], "application/json", "not a JSON object"),
    ("payload-not-object", STATUS_CHANGED, {"payload": "x"}, "application/json", "payload is not an object"),
    ("no-payload-no-job", STATUS_CHANGED, {"hello": "world"}, "application/json", "neither a JobEventData"),
    ("job-without-id", STATUS_CHANGED, {"payload": _with(id=None)}, "application/json", "job has no id"),
    ("job-without-name", STATUS_CHANGED, {"payload": _with(name=None)}, "application/json", "job has no name"),
    ("no-state", STATUS_CHANGED, {"payload": _with(currentState=None)}, "application/json", "no currentState"),
    (
        "unknown-state",
        STATUS_CHANGED,
        {"payload": _with(currentState="EXPLODED")},
        "application/json",
        "not a JobState",
    ),
    ("state-out-of-range", STATUS_CHANGED, {"payload": _with(currentState=99)}, "application/json", "JobState number"),
    ("bad-time", STATUS_CHANGED, {"payload": _with(currentStateTime="yesterday")}, "application/json", "timestamp"),
    ("labels-not-map", STATUS_CHANGED, {"payload": _with(labels=["a"])}, "application/json", "labels"),
    (
        "unsupported-type",
        "google.cloud.storage.object.v1.finalized",
        {"payload": GOOD_JOB},
        "application/json",
        "unsupported event type",
    ),
    ("pubsub-no-message", MESSAGE_PUBLISHED, {"subscription": "s"}, "application/json", "has no message"),
    ("pubsub-no-data", MESSAGE_PUBLISHED, {"message": {"messageId": "1"}}, "application/json", "has no data"),
    ("pubsub-not-base64", MESSAGE_PUBLISHED, _pubsub("%%%not base64%%%"), "application/json", "not base64"),
    ("pubsub-not-json", MESSAGE_PUBLISHED, _pubsub(b"plain text"), "application/json", "message data is not JSON"),
]


# Structured mode carries the data inside a JSON envelope, so raw bytes only travel in binary mode.
PARAMS = [
    pytest.param(mode, *case, id=f"{mode}-{case[0]}")
    for mode in ("binary", "structured")
    for case in CASES
    if mode == "binary" or not isinstance(case[2], bytes)
]


@pytest.mark.parametrize(("mode", "case", "event_type", "data", "content_type", "reason"), PARAMS)
def test_malformed_input_is_acknowledged_with_its_reason(
    function, standin, world, mode, case, event_type, data, content_type, reason
):
    store, _ = world
    attrs = {
        "id": f"{case}-{uuid.uuid4().hex[:6]}",
        "type": event_type,
        "source": "//test",
        "datacontenttype": content_type,
    }
    response = post(function.url, attrs, data, mode)
    assert response.status_code == 200, response.text
    doc = store.collection.document(UNFILED).collection("events").document(doc_id(attrs["id"])).get().to_dict()
    assert doc is not None, f"{case} was not recorded"
    assert doc["decision"] == "error"
    assert reason in doc["reason"]
    assert standin.launches == []
    # The pipeline record is untouched by garbage.
    assert not store.collection.document("orders").get().exists


def test_malformed_event_redelivered_stays_acknowledged(function, standin, world):
    store, _ = world
    attrs = {"id": "same-garbage", "type": STATUS_CHANGED, "source": "//test", "datacontenttype": "application/json"}
    for _ in range(3):
        assert post(function.url, attrs, {"payload": 7}).status_code == 200
    docs = list(store.collection.document(UNFILED).collection("events").stream())
    assert [d.id for d in docs] == ["same-garbage"]
    assert json.dumps(docs[0].to_dict()["raw"])
