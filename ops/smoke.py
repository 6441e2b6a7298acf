"""``python -m ops smoke``: after ``terraform apply`` and the first launch, is the system alive?

One PASS/FAIL line per check, exit status 1 if any fails:

- the relauncher function exists and is active, and its Eventarc trigger exists and listens for
  Dataflow's ``statusChanged`` events;
- every pipeline's topic and subscription exist, and every table the pipelines write;
- every pipeline's recorded current job (the Firestore retry record) is ``JOB_STATE_RUNNING``;
- a few test events per pipeline, valid and invalid, each marked with the attribute
  ``smoke_test=<run id>`` and unique to this run, each become a fact or a dead letter (found by
  ``event_key``, the sha256 of the payload the pipelines store with every row) before the timeout.

Names come from ``config/system.json``. Everything but the function and its trigger goes through
the ordinary client libraries, so the same code checks the emulators (``*_EMULATOR_HOST``) and the
Dataflow stand-in (``--dataflow-endpoint``). The function and trigger have no emulator: in the
cloud they are read from the Cloud Functions and Eventarc REST APIs (:class:`CloudRelauncherProbe`;
not exercised by the tests, there is no cloud here); locally the relauncher is a
functions-framework process fed by a Pub/Sub push subscription (:class:`LocalRelauncherProbe`).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from google.api_core import exceptions as gexc
from google.cloud import bigquery

from localdev.conservation import fact_table
from pipelines import generator, system
from pipelines.validation import event_key

MARK_ATTRIBUTE = "smoke_test"
STATUS_CHANGED = "google.cloud.dataflow.job.v1beta3.statusChanged"
RUNNING = "JOB_STATE_RUNNING"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""

    def line(self) -> str:
        return f"{'PASS' if self.ok else 'FAIL'}  {self.name}" + (f": {self.detail}" if self.detail else "")


@dataclass(frozen=True)
class Target:
    """What to check, named as terraform names it (``suffix`` only for shared local emulators)."""

    project: str
    region: str
    suffix: str = ""

    def topic(self, pipeline: str) -> str:
        return system.system()["pipelines"][pipeline]["topic"] + self.suffix

    def subscription(self, pipeline: str) -> str:
        return system.system()["pipelines"][pipeline]["subscription"] + self.suffix

    @property
    def dataset(self) -> str:
        return system.dataset() + self.suffix

    @property
    def collection(self) -> str:
        return system.system()["firestore"]["collection"]

    @property
    def function_name(self) -> str:
        return system.system()["relauncher"]["function_name"]


# -- test events (pure) -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmokeEvent:
    pipeline: str
    label: str
    data: bytes
    expected: str  # "fact" | "dead_letter"

    @property
    def key(self) -> str:
        return event_key(self.data)


def smoke_events(run_id: str, now: dt.datetime) -> list[SmokeEvent]:
    """Per pipeline one valid event and two invalid ones (a missing field, not JSON), unique to ``run_id``."""
    order = generator.order_event(
        f"smoke-{run_id}-order",
        f"smoke-{run_id}-customer",
        f"smoke-{run_id}-address",
        now,
        [("SMOKE-SKU", 1, Decimal("1.00"))],
    )
    shipment = generator.shipment_event(f"smoke-{run_id}-shipment", order, "SHIPPED", now)
    out = []
    for pipeline, event, dropped in (("orders", order, "customer_id"), ("shipping", shipment, "carrier")):
        out.append(SmokeEvent(pipeline, "valid", generator.encode(event), "fact"))
        broken = {k: v for k, v in event.items() if k != dropped}
        out.append(SmokeEvent(pipeline, f"missing {dropped}", generator.encode(broken), "dead_letter"))
        out.append(
            SmokeEvent(pipeline, "not JSON", f"smoke test {run_id} {pipeline}: not JSON".encode(), "dead_letter")
        )
    return out


def outcome_checks(events: Iterable[SmokeEvent], found: Mapping[str, str]) -> list[Check]:
    """One check per event: it ended where it should (``found``: event_key -> fact | dead_letter)."""
    checks = []
    for e in events:
        where = found.get(e.key)
        detail = f"expected {e.expected}, " + (f"found {where}" if where else "not found yet")
        checks.append(Check(f"{e.pipeline} {e.label} event becomes a {e.expected}", where == e.expected, detail))
    return checks


# -- adapters ------------------------------------------------------------------------------------------


class RelauncherProbe(Protocol):
    def checks(self, target: Target) -> list[Check]: ...


class CloudRelauncherProbe:
    """The deployed function and its Eventarc trigger, read over their REST APIs."""

    def __init__(self, session: Any = None) -> None:
        if session is None:
            import google.auth
            from google.auth.transport.requests import AuthorizedSession

            credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
            session = AuthorizedSession(credentials)
        self.session = session

    def _get(self, url: str) -> tuple[int, dict[str, Any]]:
        response = self.session.get(url, timeout=30)
        return response.status_code, (response.json() if response.content else {})

    def checks(self, target: Target) -> list[Check]:
        name = f"projects/{target.project}/locations/{target.region}/functions/{target.function_name}"
        status, fn = self._get(f"https://cloudfunctions.googleapis.com/v2/{name}")
        state = fn.get("state", f"HTTP {status}")
        checks = [Check("relauncher function is active", status == 200 and state == "ACTIVE", f"{name}: {state}")]
        trigger = (fn.get("eventTrigger") or {}).get("trigger", "")
        if not trigger:
            return [*checks, Check("relauncher trigger exists", False, "the function has no event trigger")]
        status, body = self._get(f"https://eventarc.googleapis.com/v1/{trigger}")
        types = {f.get("value") for f in body.get("eventFilters", []) if f.get("attribute") == "type"}
        ok = status == 200 and STATUS_CHANGED in types
        return [*checks, Check("relauncher trigger receives Dataflow job events", ok, f"{trigger}: {sorted(types)}")]


class LocalRelauncherProbe:
    """The local stack: the relauncher under functions-framework, its "trigger" a push subscription."""

    def __init__(self, url: str, events_subscription: str, subscriber: Any) -> None:
        self.url, self.events_subscription, self.subscriber = url, events_subscription, subscriber

    def checks(self, target: Target) -> list[Check]:
        import requests

        try:
            requests.get(self.url, timeout=5)  # any HTTP answer: the function is serving
            fn = Check("relauncher function is active", True, self.url)
        except requests.RequestException as exc:
            fn = Check("relauncher function is active", False, f"{self.url}: {exc.__class__.__name__}")
        path = self.subscriber.subscription_path(target.project, self.events_subscription)
        try:
            endpoint = self.subscriber.get_subscription(subscription=path).push_config.push_endpoint
            trigger = Check(
                "relauncher trigger receives Dataflow job events", endpoint == self.url, f"{path} -> {endpoint}"
            )
        except gexc.NotFound:
            trigger = Check("relauncher trigger receives Dataflow job events", False, f"{path} does not exist")
        return [fn, trigger]


def check_messaging(publisher: Any, subscriber: Any, target: Target) -> list[Check]:
    checks = []
    for pipeline in system.pipeline_names():
        topic = publisher.topic_path(target.project, target.topic(pipeline))
        sub = subscriber.subscription_path(target.project, target.subscription(pipeline))
        try:
            found = subscriber.get_subscription(subscription=sub)
            ok = found.topic == topic
            checks.append(Check(f"{pipeline} topic and subscription exist", ok, f"{sub} reads {found.topic}"))
        except gexc.NotFound:
            checks.append(Check(f"{pipeline} topic and subscription exist", False, f"{sub} does not exist"))
    return checks


def check_tables(bq: bigquery.Client, target: Target) -> list[Check]:
    checks = []
    for table in sorted(system.system()["bigquery"]["tables"].values()):
        ref = f"{target.project}.{target.dataset}.{table}"
        try:
            bq.get_table(ref)
            checks.append(Check(f"table {table} exists", True, ref))
        except gexc.NotFound:
            checks.append(Check(f"table {table} exists", False, f"{ref} not found"))
    return checks


def check_jobs(db: Any, jobs: Any, target: Target) -> list[Check]:
    """Each pipeline's recorded current job (what the relauncher watches) is RUNNING in Dataflow."""
    from google.cloud import dataflow_v1beta3 as dataflow

    checks = []
    for pipeline in system.pipeline_names():
        name = f"{pipeline} job is running"
        record = db.collection(target.collection).document(pipeline).get().to_dict() or {}
        job_id = record.get("current_job_id")
        if not job_id:
            checks.append(Check(name, False, "no first launch recorded (run the first-launch workflow)"))
            continue
        request = dataflow.GetJobRequest(project_id=target.project, location=target.region, job_id=job_id)
        try:
            job = jobs.get_job(request=request, timeout=30)
        except gexc.NotFound:
            checks.append(Check(name, False, f"recorded job {job_id} not found"))
            continue
        state = dataflow.JobState(job.current_state).name
        checks.append(Check(name, state == RUNNING, f"{job.name} ({job.id}) {state}"))
    return checks


def publish_events(publisher: Any, target: Target, events: Iterable[SmokeEvent], run_id: str) -> None:
    futures = [
        publisher.publish(
            publisher.topic_path(target.project, target.topic(e.pipeline)), e.data, **{MARK_ATTRIBUTE: run_id}
        )
        for e in events
    ]
    for f in futures:
        f.result(timeout=60)


def metadata_check(events: Iterable[SmokeEvent], missing: Mapping[str, Iterable[str]]) -> Check:
    """How many test events were written without their Pub/Sub metadata (``missing``: event_key -> fields).

    Dataflow is not documented to fill ``message_id`` and ``publish_time`` for a Python pipeline (README,
    "What Dataflow fills in a Pub/Sub message"). Rows without them are still kept and deduplicated on
    ``event_key``, so this is reported, not failed: it tells the operator which case their project is in.
    """
    keys = [e.key for e in events]
    lacking = {k: sorted(set(missing.get(k, ()))) for k in keys if missing.get(k)}
    if not lacking:
        return Check("message metadata", True, f"message_id and publish_time present on all {len(keys)} test events")
    fields = sorted({f for fs in lacking.values() for f in fs})
    detail = (
        f"missing on {len(lacking)} of {len(keys)} test events ({', '.join(fields)}); "
        "rows are kept and deduplicated on event_key"
    )
    return Check("message metadata", True, detail)


def find_outcomes(bq: bigquery.Client, target: Target, keys: list[str]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """event_key -> "fact" or "dead_letter" for the keys already written, and event_key -> the
    message metadata its rows lacked (the ``missing_metadata`` column)."""
    tables = {fact_table(p): "fact" for p in system.pipeline_names()}
    tables[system.table_name("dead_letter")] = "dead_letter"
    params = [bigquery.ArrayQueryParameter("keys", "STRING", keys)]
    found: dict[str, str] = {}
    missing: dict[str, list[str]] = {}
    for table, where in tables.items():
        ref = f"{target.project}.{target.dataset}.{table}"
        sql = f"SELECT event_key, missing_metadata FROM `{ref}` WHERE event_key IN UNNEST(@keys)"
        rows = bq.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=params)).result()
        for row in rows:
            found.setdefault(row["event_key"], where)
            missing.setdefault(row["event_key"], []).extend(row["missing_metadata"] or [])
    return found, missing


def wait_for_outcomes(
    bq: bigquery.Client,
    target: Target,
    events: list[SmokeEvent],
    *,
    timeout: float,
    poll: float = 5.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Check]:
    deadline = clock() + timeout
    keys = [e.key for e in events]
    while True:
        found, missing = find_outcomes(bq, target, keys)
        if all(e.key in found for e in events) or clock() >= deadline:
            return [*outcome_checks(events, found), metadata_check(events, missing)]
        sleep(poll)


# -- the whole run -------------------------------------------------------------------------------------


def run_smoke(
    target: Target,
    *,
    relauncher: RelauncherProbe,
    publisher: Any,
    subscriber: Any,
    bq: bigquery.Client,
    db: Any,
    jobs: Any,
    timeout: float = 600.0,
    run_id: str | None = None,
    report: Callable[[Check], None] = lambda c: print(c.line(), flush=True),
) -> list[Check]:
    """Every check, reported as it completes. Events are published only when both jobs run."""
    checks: list[Check] = []

    def record(new: list[Check]) -> None:
        for c in new:
            report(c)
        checks.extend(new)

    record(relauncher.checks(target))
    record(check_messaging(publisher, subscriber, target))
    record(check_tables(bq, target))
    job_checks = check_jobs(db, jobs, target)
    record(job_checks)
    if not all(c.ok for c in job_checks) or not all(c.ok for c in checks if c.name.startswith("table")):
        record([Check("test events", False, "not published: a job is not running or a table is missing")])
        return checks
    run_id = run_id or uuid.uuid4().hex[:12]
    events = smoke_events(run_id, dt.datetime.now(dt.UTC))
    publish_events(publisher, target, events, run_id)
    report(Check(f"published {len(events)} test events", True, f"attribute {MARK_ATTRIBUTE}={run_id}"))
    record(wait_for_outcomes(bq, target, events, timeout=timeout))
    return checks
