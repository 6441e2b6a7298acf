"""Relauncher handling latency, request to response, against the Firestore emulator and the Dataflow stand-in.

Starts its own Firestore emulator, the Dataflow stand-in (real gRPC) and the
function under functions-framework (real HTTP), then sends CloudEvents:

* sequential: 250 rounds of 4 events per round (RUNNING, its redelivery, FAILED
  that relaunches through the stand-in, a second FAILED event for the same job),
  so the figures mix cheap decisions with full claim + launch + completion;
* concurrent: 20 senders, 42 rounds of 24 events over both pipelines (6
  deliveries of one failure event, 2 other failure events of the same job and
  4 RUNNING events per pipeline), the contention a burst of redeliveries causes.

Each phase first runs warm-up rounds of the same shape that are not kept (cold
connections, the emulator's JIT, first imports), so the percentiles come from
1,000 kept samples per phase: p99 is then the 990th of 1,000, with ten samples
above it, not the single slowest request.

    python -m bench.relauncher_bench
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from localdev import emulators
from localdev.dataflow_standin import DataflowStandIn, RelauncherProcess, job_json, status_changed_attributes
from pipelines import system

PROJECT = "bench-project"
REGION = "europe-west1"
SEQUENTIAL_ROUNDS = 250  # x 4 events = 1,000 kept samples
CONCURRENT_ROUNDS = 42  # x 24 events = 1,008 kept samples
WARMUP_ROUNDS = 3  # per phase, not kept
SENDERS = 20
DEPLOYMENT = {
    "bucket": "bench-bucket",
    "worker_service_account": "worker@bench-project.iam.gserviceaccount.com",
    "subnetwork": "regions/europe-west1/subnetworks/dataflow",
    "max_workers": 3,
    "window_seconds": 60,
    "allowed_lateness_seconds": 120,
    "orders_image": "orders:bench",
    "shipping_image": "shipping:bench",
}


def _settings() -> dict[str, Any]:
    cfg = system.relauncher_settings(DEPLOYMENT, project=PROJECT, region=REGION)
    for pipeline in cfg["pipelines"].values():
        pipeline["max_retries"] = 1_000_000  # keep relaunching: every round measures a real launch
    return cfg


class _Clock:
    """Strictly increasing event times, so no event is stale by accident."""

    def __init__(self) -> None:
        self.t = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)

    def next(self) -> str:
        self.t += dt.timedelta(seconds=1)
        return self.t.isoformat().replace("+00:00", "Z")


def _event(job, state: str, at: str, event_id: str | None = None) -> tuple[dict[str, str], bytes]:
    payload = {**job_json(job), "currentState": state, "currentStateTime": at}
    attrs = status_changed_attributes(PROJECT, REGION, job.id, event_id)
    headers, body = to_binary(CloudEvent({**attrs, "datacontenttype": "application/json"}, {"payload": payload}))
    return headers, body


def _send(session: requests.Session, url: str, request: tuple[dict[str, str], bytes]) -> float:
    headers, body = request
    started = time.perf_counter()
    response = session.post(url, headers=headers, data=body, timeout=120)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"relauncher answered {response.status_code}: {response.text[:300]}")
    return elapsed


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def _current(standin: DataflowStandIn, store, name: str):
    doc = store.collection.document(name).get().to_dict()
    return standin.job(doc["current_job_id"])


def run() -> dict[str, float]:
    from google.cloud import firestore

    from relauncher.config import parse_config
    from relauncher.store import Store

    settings = _settings()
    cfg = parse_config(settings)
    firestore_emu = emulators.start_firestore(PROJECT)
    standin = DataflowStandIn(PROJECT, REGION).start()
    function = RelauncherProcess(
        settings,
        {"FIRESTORE_EMULATOR_HOST": firestore_emu.host, "GOOGLE_CLOUD_PROJECT": PROJECT},
        standin.endpoint,
        threads=SENDERS * 2,
    )
    try:
        function.start()
        os.environ["FIRESTORE_EMULATOR_HOST"] = firestore_emu.host  # for the seeding client in this process
        store = Store(firestore.Client(project=PROJECT), cfg.collection)
        for pipeline in cfg.pipelines.values():
            job = standin.add_job(pipeline.job_name(0), "JOB_STATE_RUNNING")
            store.register_first_launch(pipeline, job.id, job.name)
        clock = _Clock()
        session = requests.Session()

        sequential: list[float] = []
        for r in range(WARMUP_ROUNDS + SEQUENTIAL_ROUNDS):
            if r == WARMUP_ROUNDS:
                sequential.clear()
                launches_before = len(standin.launches)
            job = _current(standin, store, "orders")
            running = _event(job, "JOB_STATE_RUNNING", clock.next())
            for request in (running, running, _event(job, "JOB_STATE_FAILED", clock.next())):
                sequential.append(_send(session, function.url, request))
            sequential.append(_send(session, function.url, _event(job, "JOB_STATE_FAILED", clock.next())))
        launches_sequential = len(standin.launches) - launches_before

        concurrent: list[float] = []
        sessions = [requests.Session() for _ in range(SENDERS)]
        with ThreadPoolExecutor(max_workers=SENDERS) as pool:
            for r in range(WARMUP_ROUNDS + CONCURRENT_ROUNDS):
                if r == WARMUP_ROUNDS:
                    concurrent.clear()
                    launches_before = len(standin.launches)
                batch = []
                for name in cfg.pipelines:
                    job = _current(standin, store, name)
                    failure = _event(job, "JOB_STATE_FAILED", clock.next())
                    batch += [failure] * 6
                    batch += [_event(job, "JOB_STATE_FAILED", clock.next()) for _ in range(2)]
                    batch += [_event(job, "JOB_STATE_RUNNING", clock.next()) for _ in range(4)]
                futures = [
                    pool.submit(_send, sessions[i % SENDERS], function.url, request) for i, request in enumerate(batch)
                ]
                concurrent += [f.result() for f in futures]
        launches_concurrent = len(standin.launches) - launches_before
        # One decision line per event (the extra "launched" line after a launch is not counted again).
        decisions = Counter(
            e["decision"] for e in function.log_entries() if e.get("decision") and "launched_job_id" not in e
        )
    finally:
        function.stop()
        standin.stop()
        firestore_emu.stop()

    figures = {
        "relauncher_p50_ms": statistics.median(sequential),
        "relauncher_p99_ms": _percentile(sequential, 99),
        "relauncher_concurrent_p99_ms": _percentile(concurrent, 99),
    }
    rows = [
        ("sequential", sequential, launches_sequential),
        (f"{SENDERS} concurrent senders", concurrent, launches_concurrent),
    ]
    print(f"{'phase':<24}{'events':>7}{'launches':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for title, values, launches in rows:
        print(
            f"{title:<24}{len(values):>7}{launches:>9}{statistics.median(values):>9.1f}"
            f"{_percentile(values, 90):>9.1f}{_percentile(values, 99):>9.1f}{max(values):>9.1f}"
        )
    print(f"percentiles over the kept samples (events column); {WARMUP_ROUNDS} warm-up rounds per phase not kept")
    print("decisions logged (warm-up included): " + ", ".join(f"{k}={v}" for k, v in sorted(decisions.items())))
    return figures


def main() -> None:
    for name, value in run().items():
        print(f"{name}={value:.6g}")


if __name__ == "__main__":
    main()
