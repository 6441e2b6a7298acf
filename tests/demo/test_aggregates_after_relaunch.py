"""A job killed in the middle of a window that already emitted a pane, then relaunched: every window's
current value still equals the deduplicated facts, for orders and shipping.

Real parts: the Pub/Sub and BigQuery emulators, the Dataflow stand-in over gRPC launched through the
relauncher's own Launcher, and both pipelines as Beam DirectRunner streaming processes. The relaunched
job starts with empty state, as on Dataflow: its panes count only what it saw itself, including a
redelivery of an event the killed job had already counted. The streaming panes are therefore wrong
for that window (asserted, so the test proves the case it claims), and the views are right.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from google.cloud import pubsub_v1

from insights import views
from localdev import aggregates_check, provision
from localdev.demo import DemoConfig, demo_settings
from localdev.local_jobs import LocalDataflow, LocalJobRunner
from pipelines import bq, generator, system
from relauncher.config import parse_config
from relauncher.launcher import Launcher

pytestmark = [pytest.mark.emulators, pytest.mark.slow]

WINDOW = 60
LATENESS = 600
TIMEOUT = 150.0


def _wait(what: str, condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(1.0)
    raise AssertionError(f"timed out waiting for {what}")


def _order(i: int, t: datetime) -> dict:
    return generator.order_event(f"O-{i}", f"C-{i % 3}", f"A-{i}", t, [("SKU-1", 1 + i % 2, Decimal("9.50"))])


def _shipment(i: int, t: datetime) -> dict:
    status = ("SHIPPED", "DELIVERED")[i % 2]
    promised = t.date() - timedelta(days=1) if i % 4 == 1 else t.date()  # some deliveries are late
    return generator.shipment_event(f"S-{i}", _order(i, t), status, t, promised_delivery_date=promised)


@pytest.fixture
def jobs(pubsub_emulator, bigquery_emulator, project, unique_suffix, tmp_path) -> Iterator[dict]:
    cfg = DemoConfig(
        project=project, suffix=f"_{unique_suffix}", window_seconds=WINDOW, allowed_lateness_seconds=LATENESS
    )
    topics = provision.create_pubsub(project, suffix=cfg.suffix, ack_deadline_seconds=10)
    dataset_id = system.dataset() + cfg.suffix
    provision.create_dataset_and_tables(project, dataset_id)
    standin = LocalDataflow(project, cfg.region)
    standin.start()
    runner = LocalJobRunner(standin, {}, log_dir=tmp_path / "jobs")
    config = parse_config(demo_settings(cfg), dataflow_endpoint=standin.endpoint)
    try:
        yield {
            "topics": topics,
            "dataset": f"{project}.{dataset_id}",
            "dataset_id": dataset_id,
            "runner": runner,
            "launcher": Launcher(config),
            "config": config,
        }
    finally:
        runner.stop_all()
        standin.stop()


def test_kill_mid_window_then_relaunch_every_window_equals_the_facts(jobs, project) -> None:
    runner, launcher, config = jobs["runner"], jobs["launcher"], jobs["config"]
    client = bq.make_client(project)
    publisher = pubsub_v1.PublisherClient()
    dataset = jobs["dataset"]
    now = datetime.now(UTC)
    # Window W ended a little before now: within the allowed lateness, so every job still updates it.
    w_start = datetime.fromtimestamp((int(now.timestamp()) // WINDOW - 2) * WINDOW, UTC)
    events = {"orders": _order, "shipping": _shipment}
    published: dict[str, list[bytes]] = {p: [] for p in events}

    def publish(pipeline: str, payloads: list[bytes]) -> None:
        for data in payloads:
            publisher.publish(jobs["topics"][pipeline]["topic"], data).result(timeout=30)
        published[pipeline] += payloads

    def count(sql: str) -> int:
        return next(iter(client.query(sql).result()))[0]

    def facts_written(pipeline: str) -> bool:
        table = system.table_name(aggregates_check.FACT_TABLES[pipeline])
        return count(f"SELECT COUNT(*) FROM `{dataset}.{table}`") >= len(published[pipeline])

    def pane_from(pipeline: str, job_name: str) -> bool:
        table = system.table_name(aggregates_check.AGGREGATES[pipeline][0].table)
        sql = f"SELECT COUNT(*) FROM `{dataset}.{table}` WHERE job_name = '{job_name}' AND window_start = '{w_start}'"
        return count(sql) > 0

    def launch(attempt: int) -> None:
        t0 = time.monotonic()
        for pipeline in events:
            launcher.launch(config.pipelines[pipeline], system.job_name(pipeline, attempt))
        for pipeline in events:
            assert runner.wait_running(pipeline, after=t0, timeout=TIMEOUT) is not None, pipeline

    try:
        launch(0)
        first = {
            p: [generator.encode(make(i, w_start + timedelta(seconds=i))) for i in range(3)]
            for p, make in events.items()
        }
        for pipeline, payloads in first.items():
            publish(pipeline, payloads)
        for pipeline in events:
            _wait(f"{pipeline} facts", lambda p=pipeline: facts_written(p))
            _wait(f"{pipeline} a0 pane", lambda p=pipeline: pane_from(p, system.job_name(p, 0)))
            # The kill: W has emitted a pane and is still open (the allowed lateness has not passed).
            runner.kill(runner.current(pipeline).job_id)
        launch(1)
        for pipeline, make in events.items():
            later = [generator.encode(make(i, w_start + timedelta(seconds=10 + i))) for i in (3, 4)]
            next_window = [generator.encode(make(5, w_start + timedelta(seconds=WINDOW + 1)))]
            publish(pipeline, [*later, first[pipeline][0], *next_window])  # first[0]: a redelivery after the relaunch
        for pipeline in events:
            _wait(f"{pipeline} facts", lambda p=pipeline: facts_written(p))
            _wait(f"{pipeline} a1 pane", lambda p=pipeline: pane_from(p, system.job_name(p, 1)))
    finally:
        publisher.stop()

    views.create_views(client, project, jobs["dataset_id"], window_seconds=WINDOW, allowed_lateness_seconds=LATENESS)
    results = aggregates_check.check_all(client, dataset, WINDOW)
    for r in results:
        assert r.ok, r.mismatches
        assert r.windows > 0 and r.pane_jobs == 2, r.line()

    # The window of the kill: 5 distinct orders (3 before, 2 after; the redelivery counted once), while
    # the relaunched job's own latest pane saw only its part (and the redelivery as new).
    (row,) = client.query(
        f"SELECT * FROM `{dataset}.order_revenue_by_window_current` WHERE window_start = '{w_start}'"
    ).result()
    assert row["order_count"] == 5
    assert row["stream_job_name"] == system.job_name("orders", 1) and row["stream_job_attempt"] == 1
    assert row["stream_agrees"] is False
    assert row["is_final"] is False  # within the allowed lateness of the newest event: provisional
    view = f"{dataset}.shipment_status_by_window_current"
    statuses = client.query(f"SELECT SUM(shipment_count) FROM `{view}` WHERE window_start = '{w_start}'").result()
    assert next(iter(statuses))[0] == 5
