"""``make demo``: the whole self-healing system on one machine, with injected failures and their recovery.

What runs (all real parts, no cloud account):
- the Pub/Sub, Firestore and BigQuery emulators; topics, subscriptions and tables
  from the same definitions terraform uses (``config/system.json``, ``pipelines.tables``);
- the relauncher function under functions-framework, over HTTP, fed by a Pub/Sub
  push subscription on the Dataflow status-events topic (as Eventarc would);
- the Dataflow stand-in (real gRPC), whose launches run as local Beam DirectRunner
  streaming processes (:mod:`localdev.local_jobs`);
- the parallel first launch the Workflows definition does (:mod:`localdev.first_launch`);
- the seeded generator publishing at a steady rate; failure injection; a live
  timeline; a summary with the conservation check, recovery times against
  30-second polling, the Firestore audit and the insight views; the HTML report;
- after the failures, a stall: one job's process group is stopped (SIGSTOP), so it
  stays RUNNING and progresses no more; the local Cloud Monitoring
  (:mod:`localdev.monitoring_standin`) opens an incident on its subscription's
  oldest unacknowledged message age and publishes it to the alerts topic, which a
  second push subscription delivers to the same function; the relauncher drains,
  then (the stopped job never drains) cancels and relaunches it. Every stall
  duration is config/system.json's times ``stall_scale`` (printed).

Failure injection kills a job's whole process group with SIGKILL at a quiescent
moment: publishing pauses until the job has written everything it has pulled,
the job is killed, publishing resumes at once (the stream flows on while the
job is dead and queues in the subscription).  The pause is needed only locally:
Beam's DirectRunner acknowledges Pub/Sub messages as soon as it pulls them, so
a kill between pull and write would lose them, whereas Dataflow acknowledges
only after its checkpoint is durable.

Exit status: 0 when conservation holds, every window's aggregate equals the deduplicated facts
(``aggregates_match_facts=ok pipeline=<name>``, :mod:`localdev.aggregates_check`) and every
expected recovery happened, the stalled job's heal included.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.cloud import firestore

from localdev import aggregates_check, conservation, emulators, first_launch, provision, recovery
from localdev import monitoring_standin as monitoring
from localdev.dataflow_standin import RelauncherProcess
from localdev.local_jobs import LocalDataflow, LocalJob, LocalJobRunner
from localdev.publisher import RatePublisher
from localdev.timeline import Timeline
from pipelines import bq, generator, system

REPO = Path(__file__).resolve().parents[1]
EVENTS_TOPIC = "dataflow-job-events"  # local stand-in for Eventarc's Dataflow event source


@dataclass(frozen=True)
class Kill:
    """Kill ``pipeline``'s current job once ``at`` of the stream is published; ``expect`` what must follow."""

    pipeline: str
    at: float
    expect: str  # "relaunch" | "exhausted"


@dataclass(frozen=True)
class Stall:
    """Stall ``pipeline``'s current job (SIGSTOP) once ``at`` of the stream is published, after the kills."""

    pipeline: str
    at: float


@dataclass
class StallOutcome:
    """What the stall scene measured (monotonic times; wall-clock for the incident)."""

    pipeline: str
    job_name: str
    started_at: float  # SIGSTOP (monotonic)
    started_wall: float
    detected_at: float | None = None  # incident opened (monotonic, from its wall-clock time)
    incident_id: str = ""
    replacement: str = ""
    recovered_at: float | None = None  # replacement RUNNING and a message published during the stall written
    closed_at: float | None = None
    polling_tick: float | None = None  # when 30 s polling would have seen the job end (None: never)

    @property
    def detect_seconds(self) -> float | None:
        return None if self.detected_at is None else self.detected_at - self.started_at

    @property
    def recovery_seconds(self) -> float | None:
        return None if self.recovered_at is None else self.recovered_at - self.started_at


@dataclass
class DemoConfig:
    project: str = "local-project"
    region: str = "europe-west1"
    seed: int = 42
    orders: int = 150
    rate: float = 8.0  # messages per second
    max_retries: int = 1  # demo budget: the second orders failure exhausts it (config/system.json says 2)
    window_seconds: int = 60
    # The generated stream spans two days (pipelines/generator.py): with 36 hours of lateness most events
    # still update a pane, so the kill scenes really interrupt windows that have emitted panes.
    allowed_lateness_seconds: int = 36 * 3600
    kills: tuple[Kill, ...] = (
        Kill("orders", 0.2, "relaunch"),
        Kill("shipping", 0.4, "relaunch"),
        Kill("orders", 0.6, "exhausted"),
    )
    rearm_after_exhausted: bool = True  # the operator re-arms with the ops CLI so the backlog drains
    # After the kills, one job stalls without failing; the local Monitoring stand-in detects it and the
    # relauncher heals it. Every stall duration (threshold, window, re-notify, drain deadline, cool-down)
    # is config/system.json's times this one factor: 0.015 turns 15 minutes into 13.5 seconds. Smaller
    # factors make the kill scenes' backlog (a replacement needs several seconds to write on a busy
    # machine) look like a stall: the summary prints the margin ("highest oldest-unacked age outside").
    stall: Stall | None = Stall("orders", 0.7)
    stall_scale: float = 0.015
    suffix: str = ""  # appended to topics, subscriptions and the dataset (tests share emulators)
    recovery_timeout: float = 90.0
    drain_timeout: float = 120.0
    ready_after_seconds: float = 15.0  # RUNNING at the DirectRunner's start line, at the latest after this
    workdir: Path = field(default_factory=lambda: REPO / "build" / "demo")
    report: bool = True
    stream: Any = None  # where the timeline goes (default stdout)


@dataclass
class DemoResult:
    tallies: dict[str, conservation.Tally] = field(default_factory=dict)
    recoveries: list[recovery.Recovery] = field(default_factory=list)
    exhausted: list[str] = field(default_factory=list)
    missing_recoveries: list[str] = field(default_factory=list)
    audit: list[Any] = field(default_factory=list)
    audit_text: str = ""
    insights: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    report_path: str | None = None
    pids: list[int] = field(default_factory=list)
    pgids: list[int] = field(default_factory=list)
    launches: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    aggregates: list[aggregates_check.CheckResult] = field(default_factory=list)
    stall: StallOutcome | None = None
    stall_scale: float = 1.0
    # Highest oldest-unacked age the Monitoring stand-in sampled per pipeline outside the stall (false-alarm margin).
    quiet_max_age: dict[str, float] = field(default_factory=dict)
    stall_threshold_s: float = 0.0

    @property
    def conservation_ok(self) -> bool:
        return bool(self.tallies) and all(t.ok for t in self.tallies.values())

    @property
    def ok(self) -> bool:
        aggregates_ok = bool(self.aggregates) and all(a.ok for a in self.aggregates)
        return self.conservation_ok and aggregates_ok and not self.missing_recoveries and not self.problems

    def figures(self) -> dict[str, str]:
        secs = [r.seconds for r in self.recoveries]
        polls = [r.polling_seconds() for r in self.recoveries]
        out = {
            "recovery_p50_s": f"{recovery.p50(secs):.1f}",
            "recovery_max_s": f"{max(secs):.1f}" if secs else "nan",
            "polling_recovery_p50_s": f"{recovery.p50(polls):.1f}",
        }
        if self.stall is not None:
            st = self.stall
            out["stall_time_scale"] = f"{self.stall_scale:g}"
            out["stuck_detect_s"] = "nan" if st.detect_seconds is None else f"{st.detect_seconds:.1f}"
            out["stuck_recovery_s"] = "nan" if st.recovery_seconds is None else f"{st.recovery_seconds:.1f}"
            out["polling_stuck_recovery"] = (
                "never" if st.polling_tick is None else f"{st.polling_tick - st.started_at:.1f}"
            )
        out["conservation"] = "ok" if self.conservation_ok else "FAILED"
        return out


class _Interrupted(Exception):
    pass


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """SIGINT/SIGTERM raise, so every ``finally`` runs and every process is stopped."""

    def handler(signum: int, frame: Any) -> None:
        raise _Interrupted(signal.Signals(signum).name)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def deployment(cfg: DemoConfig) -> dict[str, Any]:
    """Local values for the launch template; names come from config/system.json (plus the suffix)."""
    values: dict[str, Any] = {
        "project": cfg.project,
        "bucket": "local-bucket",
        "worker_service_account": "local-worker@localhost",
        "subnetwork": "local",
        "max_workers": 1,
        "window_seconds": cfg.window_seconds,
        "allowed_lateness_seconds": cfg.allowed_lateness_seconds,
        "orders_image": "local/orders",
        "shipping_image": "local/shipping",
        "dataset": system.dataset() + cfg.suffix,
    }
    for name, p in system.system()["pipelines"].items():
        values[f"{name}_subscription"] = p["subscription"] + cfg.suffix
    return values


def demo_settings(cfg: DemoConfig) -> dict[str, Any]:
    """``RELAUNCHER_CONFIG`` for the local function: the shared settings with the demo's retry budget,
    and every stall duration scaled by ``cfg.stall_scale`` (the Monitoring stand-in reads the same)."""
    settings = system.relauncher_settings(deployment(cfg), project=cfg.project, region=cfg.region)
    for p in settings["pipelines"].values():
        p["max_retries"] = cfg.max_retries
    return system.scale_stall_settings(settings, cfg.stall_scale)


class Demo:
    def __init__(self, cfg: DemoConfig, cloud: emulators.LocalCloud, timeline: Timeline | None = None) -> None:
        self.cfg = cfg
        self.cloud = cloud
        self.tl = timeline or Timeline(stream=cfg.stream or sys.stdout)
        self._seen_events: set[tuple[str, str]] = set()
        self._audit_checked = 0.0
        self.result = DemoResult()
        self.settings = demo_settings(cfg)
        self.dataset = f"{cfg.project}.{system.dataset()}{cfg.suffix}"
        self.db = firestore.Client(project=cfg.project)
        self.bq = bq.make_client(cfg.project)
        self.collection = self.settings["collection"]
        self.function: RelauncherProcess | None = None
        self.standin: LocalDataflow | None = None
        self.runner: LocalJobRunner | None = None
        self.publisher: RatePublisher | None = None
        self.messages = generator.generate(cfg.seed, cfg.orders)
        self.expected = generator.expected_counts(self.messages)
        self._recovery_pending: list[tuple[Kill, LocalJob]] = []
        self.monitor: monitoring.MonitoringStandIn | None = None
        self._stall_job: LocalJob | None = None
        self._stall_checked = 0.0
        self.result.stall_scale = cfg.stall_scale

    # -- setup -----------------------------------------------------------------------------------------
    def setup(self) -> None:
        cfg, tl = self.cfg, self.tl
        topics = provision.create_pubsub(cfg.project, suffix=cfg.suffix, ack_deadline_seconds=10)
        provision.create_dataset_and_tables(cfg.project, system.dataset() + cfg.suffix)
        tl.log("setup", f"provisioned topics, subscriptions and tables in {self.dataset}")
        env = self.cloud.env
        self.function = RelauncherProcess(self.settings, env)
        events_sub = f"{EVENTS_TOPIC}{cfg.suffix}-to-relauncher"
        self.standin = LocalDataflow(cfg.project, cfg.region, events_topic=f"{EVENTS_TOPIC}{cfg.suffix}")
        self.standin.start()
        self.function.dataflow_endpoint = self.standin.endpoint
        self.function.start()
        provision.create_push_subscription(cfg.project, f"{EVENTS_TOPIC}{cfg.suffix}", events_sub, self.function.url)
        # Incidents reach the same function the same way (in the cloud: the alerts topic's Eventarc trigger).
        self.alerts_topic = self.settings["stall_detection"]["alerts_topic"] + cfg.suffix
        alerts_sub = f"{self.alerts_topic}-to-relauncher"
        provision.create_push_subscription(cfg.project, self.alerts_topic, alerts_sub, self.function.url)
        self.result.pids.append(self.function.process.proc.pid)  # type: ignore[union-attr]
        tl.log(
            "setup",
            f"relauncher on {self.function.url} (push subscriptions {events_sub}, {alerts_sub}); "
            f"budget {cfg.max_retries}; stall durations x{cfg.stall_scale:g}",
        )
        self.runner = LocalJobRunner(
            self.standin,
            env,
            log_dir=cfg.workdir / "jobs",
            ready_after_seconds=cfg.ready_after_seconds,
            listener=self._on_job,
        )
        tl.log("setup", f"Dataflow stand-in on {self.standin.endpoint}; jobs run on the DirectRunner")
        self.topics = {name: t["topic"] for name, t in topics.items()}

    def _on_job(self, what: str, job: LocalJob) -> None:
        if what == "launched":
            if job.process.proc is not None:
                self.result.pids.append(job.process.proc.pid)
            self.result.launches.append(job.job_name)
            self.tl.log(job.pipeline, f"launched {job.job_name} ({job.job_id})", at=job.launched_at)
        elif what == "running":
            self.tl.log(job.pipeline, f"{job.job_name} RUNNING", at=job.running_at)
        elif what == "ended" and job.end_state == "JOB_STATE_FAILED":
            self.tl.log(job.pipeline, f"{job.job_name} FAILED (exit {job.exit_code}): status event published")
        elif what == "ended" and job.frozen_at is not None:
            self.tl.log(job.pipeline, f"{job.job_name}: stopped process group killed (cancelled through the API)")

    # -- phases ----------------------------------------------------------------------------------------
    def launch(self) -> None:
        assert self.runner is not None and self.standin is not None
        t0 = time.monotonic()
        results = first_launch.first_launch(self.settings, endpoint=self.standin.endpoint, db=self.db)
        for r in results.values():
            self.tl.log("workflow", f"first launch {r.pipeline}: {r.outcome} {r.job_name} {r.detail}".rstrip())
            if r.outcome != "launched":
                self.result.problems.append(f"first launch of {r.pipeline}: {r.outcome} {r.detail}")
        for name in results:
            if self.runner.wait_running(name, after=t0, timeout=self.cfg.recovery_timeout) is None:
                raise RuntimeError(f"{name} did not reach RUNNING after the first launch")

    def stream(self) -> None:
        """Publish the stream; inject the failures at their points; follow the recoveries."""
        assert self.runner is not None
        self.publisher = RatePublisher(self.topics, self.messages, self.cfg.rate).start()
        exp = ", ".join(f"{p} {c['published']}" for p, c in sorted(self.expected.items()))
        self.tl.log("generator", f"publishing {self.publisher.total} messages at {self.cfg.rate:g}/s ({exp})")
        self._start_monitoring()
        pending_kills = list(self.cfg.kills)
        stall = self.cfg.stall
        while True:
            self._status()
            if self.publisher.error is not None:
                raise RuntimeError(f"publisher failed: {self.publisher.error!r}")
            self._check_recoveries()
            self._check_stall()
            self._follow_audit()
            if pending_kills and self.publisher.fraction() >= pending_kills[0].at and not self._recovery_pending:
                self._inject(pending_kills.pop(0))
            elif stall and not pending_kills and self.publisher.fraction() >= stall.at:
                if self._recovery_pending:  # hold the rest of the stream for after the stall: it is the backlog
                    self.publisher.pause()
                else:
                    self._stall(stall)
                    stall = None
            if (
                self.publisher.done.is_set()
                and not pending_kills
                and not self._recovery_pending
                and (stall is None or self.publisher.fraction() < stall.at)  # a stall point past the end: none
                and self._stall_job is None
            ):
                break
            time.sleep(0.2)
        self.tl.log("generator", f"published all {self.publisher.count} messages")

    def _status(self) -> None:
        assert self.runner is not None and self.publisher is not None
        jobs = []
        for name in sorted(self.topics):
            job = self.runner.current(name)
            state = "RUNNING" if job and job.running.is_set() else ("starting" if job else "down")
            jobs.append(f"{name}: {job.job_name if job else '-'} {state}")
        self.tl.status(f"published {self.publisher.count}/{self.publisher.total} | " + " | ".join(jobs))

    def _follow_audit(self, every: float = 1.0) -> None:
        """Show the relauncher's decisions as they land in Firestore (its audit trail)."""
        if time.monotonic() - self._audit_checked < every:
            return
        self._audit_checked = time.monotonic()
        for pipeline in sorted(self.topics):
            events = self.db.collection(self.collection).document(pipeline).collection("events").stream()
            for doc in sorted(events, key=lambda d: str(d.to_dict().get("handled_time"))):
                ev = doc.to_dict()
                if (pipeline, doc.id) in self._seen_events or not ev.get("final", True):
                    continue
                self._seen_events.add((pipeline, doc.id))
                if ev.get("incident_id"):
                    what = f"incident {ev['incident_id']} {ev.get('incident_state', '')}"
                else:
                    what = f"{ev.get('job_name')} {str(ev.get('state', '')).removeprefix('JOB_STATE_')}"
                self.tl.log("relauncher", f"{what} -> {ev.get('decision')}: {ev.get('reason')}")

    def _quiesce(self, pipeline: str, timeout: float = 60.0) -> bool:
        """Pause publishing until ``pipeline`` has written every message published so far."""
        assert self.publisher is not None
        self.publisher.pause()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            published = dict(self.publisher.published[pipeline])
            if not conservation.unwritten_ids(self.bq, self.dataset, pipeline, published):
                return True
            time.sleep(0.5)
        return False

    def _inject(self, kill: Kill) -> None:
        assert self.runner is not None and self.publisher is not None
        job = self.runner.current(kill.pipeline)
        if job is None or not job.running.is_set():
            self.result.problems.append(f"no running {kill.pipeline} job to kill")
            return
        if not self._quiesce(kill.pipeline):
            self.result.problems.append(f"{kill.pipeline} did not catch up before the kill")
        self.runner.kill(job.job_id)
        self.publisher.resume()
        self.tl.log(kill.pipeline, f"KILL -9 {job.job_name} at {self.publisher.fraction():.0%} of the stream")
        self._recovery_pending.append((kill, job))

    def _check_recoveries(self) -> None:
        assert self.runner is not None
        for item in list(self._recovery_pending):
            kill, dead = item
            assert dead.killed_at is not None
            waited = time.monotonic() - dead.killed_at
            if kill.expect == "relaunch":
                new = next(
                    (
                        j
                        for j in self.runner.jobs.values()
                        if j.pipeline == kill.pipeline and j.launched_at > dead.killed_at and j.running_at
                    ),
                    None,
                )
                if new is not None:
                    r = recovery.Recovery(
                        kill.pipeline,
                        dead.job_name,
                        new.job_name,
                        dead.killed_at,
                        dead.launched_at,
                        new.launched_at,
                        new.running_at,  # type: ignore[arg-type]
                    )
                    self.result.recoveries.append(r)
                    self.tl.log(
                        kill.pipeline,
                        f"recovered: {dead.job_name} -> {new.job_name} RUNNING in {r.seconds:.1f}s "
                        f"(30 s polling: {r.polling_seconds():.1f}s)",
                    )
                    self._recovery_pending.remove(item)
            else:
                record = self.db.collection(self.collection).document(kill.pipeline).get().to_dict() or {}
                if record.get("exhausted"):
                    logged = [
                        e
                        for e in self.function.log_entries()  # type: ignore[union-attr]
                        if e.get("message") == self.settings["exhausted_log_message"]
                    ]
                    self.result.exhausted.append(kill.pipeline)
                    self.tl.log(
                        kill.pipeline,
                        f"EXHAUSTED after {record.get('retries_used')}/{record.get('max_retries')} relaunches: "
                        f"nothing launched; {len(logged)} ERROR log line(s) "
                        f"'{self.settings['exhausted_log_message']}' for the alert policy",
                    )
                    self._recovery_pending.remove(item)
                    if self.cfg.rearm_after_exhausted:
                        self._rearm(kill.pipeline)
            if item in self._recovery_pending and waited > self.cfg.recovery_timeout:
                self.result.missing_recoveries.append(f"{kill.pipeline}: no {kill.expect} after {waited:.0f}s")
                self.tl.log(kill.pipeline, f"NO {kill.expect.upper()} within {waited:.0f}s")
                self._recovery_pending.remove(item)

    # -- the stall scene ---------------------------------------------------------------------------------
    def stop_monitoring(self) -> None:
        """Stop the Monitoring stand-in and keep how close the healthy stretches came to the threshold."""
        if self.monitor is None:
            return
        self.monitor.stop()
        st = self.result.stall
        for w in self.monitor.watches:
            start = end = None
            if st is not None and w.condition.pipeline == st.pipeline:
                start = st.started_wall
                end = None if st.closed_at is None else st.started_wall + (st.closed_at - st.started_at)
            self.result.quiet_max_age[w.condition.pipeline] = _max_outside(w.samples, start, end)
        self.result.stall_threshold_s = self.monitor.watches[0].condition.threshold_seconds
        self.monitor = None

    def _start_monitoring(self) -> None:
        """The local Cloud Monitoring: every pipeline's subscription, sampled every 60 s x scale (1 s at least)."""
        assert self.publisher is not None
        detection = self.settings["stall_detection"]
        watches = [
            monitoring.Watch(
                monitoring.Condition.from_settings(name, detection),
                p["subscription"] + self.cfg.suffix,
                self._backlog_age(name),
            )
            for name, p in sorted(system.system()["pipelines"].items())
        ]
        self.monitor = monitoring.MonitoringStandIn(
            self.cfg.project,
            watches,
            monitoring.pubsub_publisher(self.cfg.project, self.alerts_topic),
            renotify_seconds=detection["renotify_seconds"],
            sample_every=max(1.0, monitoring.ALIGNMENT_SECONDS * self.cfg.stall_scale),
            listener=self._on_incident,
        ).start()
        cond = watches[0].condition
        self.tl.log(
            "monitoring",
            f"stand-in watching {', '.join(w.subscription_id for w in watches)}: {cond.signal} > "
            f"{cond.threshold_seconds:g}s for {cond.duration_seconds:g}s opens an incident "
            f"(config x{self.cfg.stall_scale:g}); re-notify every {detection['renotify_seconds']:g}s",
        )

    def _backlog_age(self, pipeline: str) -> Any:
        """Measure ``pipeline``'s oldest unacknowledged message age: published, not yet in a table."""

        def measure(now: float) -> float:
            assert self.publisher is not None
            published = dict(self.publisher.published[pipeline])
            unwritten = conservation.unwritten_ids(self.bq, self.dataset, pipeline, published)
            return monitoring.oldest_unacked_age(now, self.publisher.publish_times, unwritten)

        return measure

    def _on_incident(self, notice: monitoring.Notice) -> None:
        inc = notice.payload["incident"]
        self.tl.log(
            "monitoring",
            f"incident {notice.incident_id} {notice.what.upper()}: {inc['resource']['labels']['subscription_id']} "
            f"oldest unacked {notice.value:.1f}s (threshold {inc['threshold_value']}s) -> {self.alerts_topic}",
            at=time.monotonic() - (time.time() - notice.at),
        )
        st = self.result.stall
        if st is None or notice.pipeline != st.pipeline or notice.at < st.started_wall:
            return
        if notice.what == "opened" and st.detected_at is None:
            st.detected_at = st.started_at + (notice.at - st.started_wall)
            st.incident_id = notice.incident_id
        elif notice.what == "closed" and notice.incident_id == st.incident_id:
            st.closed_at = st.started_at + (notice.at - st.started_wall)

    def _stall(self, stall: Stall) -> None:
        """Stall the job at a quiescent moment: SIGSTOP its process group, publishing goes on."""
        assert self.runner is not None and self.publisher is not None
        job = self.runner.current(stall.pipeline)
        if job is None or not job.running.wait(self.cfg.recovery_timeout):  # RUNNING is published, then set
            self.result.problems.append(f"no running {stall.pipeline} job to stall")
            return
        if not self._quiesce(stall.pipeline):
            self.result.problems.append(f"{stall.pipeline} did not catch up before the stall")
        self.runner.freeze(job.job_id)
        self.result.stall = StallOutcome(stall.pipeline, job.job_name, job.frozen_at, time.time())  # type: ignore[arg-type]
        self.publisher.resume()
        self._stall_job = job
        self.tl.log(
            stall.pipeline,
            f"SIGSTOP {job.job_name} at {self.publisher.fraction():.0%} of the stream: still RUNNING, "
            "pulls and writes nothing, no status event",
        )

    def _check_stall(self, every: float = 1.0) -> None:
        """Follow the stall scene: replacement RUNNING and writing, then the incident closed."""
        job, st = self._stall_job, self.result.stall
        if job is None or st is None or time.monotonic() - self._stall_checked < every:
            return
        assert self.runner is not None and self.publisher is not None
        self._stall_checked = time.monotonic()
        if st.recovered_at is None:
            new = next(
                (
                    j
                    for j in self.runner.jobs.values()
                    if j.pipeline == st.pipeline and j.launched_at > st.started_at and j.running_at
                ),
                None,
            )
            if new is not None and self._written_since_stall(st):
                st.recovered_at, st.replacement = time.monotonic(), new.job_name
                detect = "no incident seen" if st.detect_seconds is None else f"incident after {st.detect_seconds:.1f}s"
                self.tl.log(
                    st.pipeline,
                    f"healed: {st.job_name} -> {new.job_name} RUNNING and writing the backlog "
                    f"{st.recovery_seconds:.1f}s after the stall ({detect})",
                )
        waited = time.monotonic() - st.started_at
        if st.recovered_at is not None and (st.closed_at is not None or waited > self.cfg.recovery_timeout):
            self._finish_stall(job, st)
        elif waited > 2 * self.cfg.recovery_timeout:
            self.result.missing_recoveries.append(f"{st.pipeline}: stalled job not healed after {waited:.0f}s")
            self.tl.log(st.pipeline, f"NO HEAL within {waited:.0f}s")
            self._finish_stall(job, st)

    def _written_since_stall(self, st: StallOutcome) -> bool:
        """Whether a message published after the stall began is in a table (the replacement writes)."""
        assert self.publisher is not None
        published = dict(self.publisher.published[st.pipeline])
        since = {m: k for m, k in published.items() if self.publisher.publish_times.get(m, 0.0) >= st.started_wall}
        return bool(since) and len(conservation.unwritten_ids(self.bq, self.dataset, st.pipeline, since)) < len(since)

    def _finish_stall(self, job: LocalJob, st: StallOutcome) -> None:
        """The original design on the same timeline: poll the stalled job's own states every 30 s."""
        st.polling_tick = recovery.polling_detection(job.states, job.launched_at, until=time.monotonic())
        seen = "never sees it end" if st.polling_tick is None else f"sees it end at {st.polling_tick:.0f}"
        self.tl.log(
            st.pipeline,
            f"30 s polling of {job.job_name}: {len(job.states)} own state(s) "
            f"{[s.removeprefix('JOB_STATE_') for _, s in job.states]}, none terminal: {seen}",
        )
        self._stall_job = None

    def _rearm(self, pipeline: str) -> None:
        from ops.rearm import rearm

        assert self.standin is not None and self.runner is not None
        cmd = f"python -m ops rearm {pipeline} --relaunch"
        self.tl.log("operator", f"$ {cmd}   (DATAFLOW_ENDPOINT={self.standin.endpoint}, RELAUNCHER_CONFIG=...)")
        t0 = time.monotonic()
        res = rearm(self.db, self.settings, pipeline, relaunch=True, endpoint=self.standin.endpoint, operator="demo")
        self.tl.log("operator", f"{pipeline}: {res.detail} as {res.launched_job_name}")
        if self.runner.wait_running(pipeline, after=t0, timeout=self.cfg.recovery_timeout) is None:
            self.result.missing_recoveries.append(f"{pipeline}: re-armed job did not reach RUNNING")

    def drain(self) -> None:
        """Wait until every published message has been written (or the deadline passes)."""
        assert self.publisher is not None
        deadline = time.monotonic() + self.cfg.drain_timeout
        while time.monotonic() < deadline:
            self._status()
            remaining = {
                p: len(conservation.unwritten_ids(self.bq, self.dataset, p, published))
                for p, published in self.publisher.published.items()
            }
            if not any(remaining.values()):
                self.tl.log("pipelines", "every published message is written")
                return
            time.sleep(1.0)
        self.tl.log("pipelines", f"drain deadline passed; still unwritten: {remaining}")

    def collect(self) -> None:
        """Counts, audit and insights, while the emulators are still up."""
        assert self.publisher is not None
        for pipeline, published in sorted(self.publisher.published.items()):
            facts, dead = conservation.read_written(self.bq, self.dataset, pipeline)
            self.result.tallies[pipeline] = conservation.tally(
                pipeline, published, facts, dead, self.expected.get(pipeline, {})
            )
        from ops.audit import read_audit, render_audit

        self.result.audit = read_audit(self.db, self.collection)
        self.result.audit_text = render_audit(self.result.audit, max_events=12)
        self._insights()

    def _insights(self) -> None:
        try:
            from insights import views as insight_views
        except ImportError as exc:
            self.tl.log("insights", f"insight views not available ({exc})")
            return
        dataset_id = system.dataset() + self.cfg.suffix
        try:
            quiet = io.StringIO()  # its per-view log lines would bury the timeline
            with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
                names = insight_views.create_views(
                    self.bq,
                    self.cfg.project,
                    dataset_id,
                    window_seconds=self.cfg.window_seconds,
                    allowed_lateness_seconds=self.cfg.allowed_lateness_seconds,
                )
            self.tl.log("insights", f"created {len(names)} views (base and insights) from views/")
        except Exception as exc:
            self.result.problems.append(f"creating the insight views failed: {exc}")
            return
        try:
            self.result.aggregates = aggregates_check.check_all(self.bq, self.dataset, self.cfg.window_seconds)
        except Exception as exc:
            self.result.problems.append(f"aggregates check failed: {type(exc).__name__}: {exc}")
        for name in names:
            if hasattr(insight_views, "list_views") and name not in _insight_names(insight_views):
                continue
            try:
                rows = self.bq.query(f"SELECT * FROM `{self.dataset}.{name}` LIMIT 3").result()
                self.result.insights[name] = [dict(r.items()) for r in rows]
            except Exception as exc:
                self.result.insights[name] = [{"error": str(exc)[:200]}]
        if self.cfg.report:
            try:
                from insights import report

                path = self.cfg.workdir / "report.html"
                self.result.report_path = str(report.write_report(path, self.bq, self.cfg.project, dataset_id))
            except Exception as exc:
                self.result.problems.append(f"report failed: {type(exc).__name__}: {exc}")

    def stop(self) -> None:
        """Stop everything this demo started (jobs, function, stand-in), in reverse order."""
        self.stop_monitoring()
        if self.publisher is not None:
            self.publisher.stop()
        if self.runner is not None:
            self.result.pgids = [j.process.proc.pid for j in self.runner.jobs.values() if j.process.proc]
            self.runner.stop_all()
        if self.function is not None:
            self.function.stop()
        if self.standin is not None:
            self.standin.stop()


def _max_outside(samples: list[tuple[float, float]], start: float | None, end: float | None) -> float:
    """The highest sampled value outside ``[start, end]`` (the whole series when there is no stall)."""
    values = [v for t, v in samples if start is None or t < start or (end is not None and t > end)]
    return max(values, default=0.0)


def _insight_names(module: Any) -> set[str]:
    """Names of the six insight views (not the base views), from the views' directory layout."""
    try:
        return {v.name for v in module.list_views() if "insights" in str(getattr(v, "path", ""))}
    except Exception:
        return set()


def run_demo(cfg: DemoConfig, cloud: emulators.LocalCloud | None = None) -> DemoResult:
    """Run the demo; starts (and stops) its own emulators unless ``cloud`` is given."""
    cfg.workdir.mkdir(parents=True, exist_ok=True)
    timeline = Timeline(stream=cfg.stream or sys.stdout)
    with contextlib.ExitStack() as stack:
        if cloud is None:
            timeline.log("setup", "starting the Pub/Sub, Firestore and BigQuery emulators ...")
            cloud = stack.enter_context(emulators.local_cloud(cfg.project))
            stack.enter_context(_env(cloud.env))
            timeline.log(
                "setup",
                f"emulators up: Pub/Sub {cloud.pubsub.host}, Firestore {cloud.firestore.host}, "
                f"BigQuery {cloud.bigquery.host}",
            )
        demo = Demo(cfg, cloud, timeline)
        stack.callback(demo.stop)
        demo.setup()
        demo.launch()
        demo.stream()
        demo.drain()
        demo.stop_monitoring()
        if cfg.stall is not None and cfg.stall.at <= 1.0 and demo.result.stall is None:
            demo.result.problems.append(f"the stall scene ({cfg.stall}) did not run")
        demo.tl.close()
        demo.runner.stop_all()  # type: ignore[union-attr]  # free the CPU for the queries
        demo.collect()
        demo.tl.log("demo", "done; stopping every process")
        return demo.result
    raise AssertionError("unreachable")


@contextlib.contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _small_table(rows: list[dict[str, Any]], columns: int = 6, width: int = 19) -> list[str]:
    """The first ``columns`` columns of ``rows`` as fixed-width text (long values cut)."""
    if not rows:
        return []
    keys = list(rows[0])[:columns]

    def cell(value: Any) -> str:
        if isinstance(value, dt.datetime):
            text = value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M") if value.tzinfo else f"{value:%Y-%m-%d %H:%M}"
        else:
            text = value.isoformat() if isinstance(value, dt.date) else str(value)
        return text if len(text) <= width - 1 else text[: width - 2] + "~"

    out = ["".join(f"{k[: width - 1]:<{width}}" for k in keys)]
    out += ["".join(f"{cell(r.get(k)):<{width}}" for k in keys) for r in rows]
    return out


def render_summary(result: DemoResult) -> str:
    lines = ["", "=" * 100, "SUMMARY", "=" * 100, "", "Conservation (per pipeline, exact, keyed on event_key):"]
    head = ("pipeline", "published", "facts", "dead-letter", "duplicates", "sum", "redelivered", "missing", "result")
    lines.append("  " + "".join(f"{h:>12}" for h in head))
    for t in result.tallies.values():
        row = (
            t.pipeline,
            t.published,
            t.distinct_facts,
            t.dead_letters,
            t.duplicates,
            t.distinct_facts + t.dead_letters + t.duplicates,
            t.redelivered,
            t.missing,
            "ok" if t.ok else "FAILED",
        )
        lines.append("  " + "".join(f"{v!s:>12}" for v in row))
        e = t.expected
        lines.append(
            f"  {'expected':>12}{e.get('published', 0):>12}{e.get('facts', 0):>12}"
            f"{e.get('dead_letters', 0):>12}{e.get('duplicates', 0):>12}"
        )
    lines += ["", "Recoveries (job death -> replacement RUNNING), next to 30-second polling on the same timeline:"]
    lines.append(f"  {'pipeline':<10}{'failed job':<24}{'replacement':<24}{'event-driven':>14}{'polling':>10}")
    for r in result.recoveries:
        lines.append(
            f"  {r.pipeline:<10}{r.failed_job:<24}{r.replacement_job:<24}"
            f"{r.seconds:>13.1f}s{r.polling_seconds():>9.1f}s"
        )
    for p in result.exhausted:
        lines.append(f"  {p:<10}budget exhausted: nothing relaunched, alert raised, operator re-armed it")
    for m in result.missing_recoveries:
        lines.append(f"  MISSING: {m}")
    lines += _stall_lines(result)
    lines += ["", "Firestore audit (what an operator sees; `python -m ops status`):", result.audit_text]
    if result.insights:
        lines += ["", "Insight views (top rows):"]
        for name, rows in result.insights.items():
            lines.append(f"  {name}:")
            lines += ["    " + line for line in _small_table(rows)] or ["    (no rows)"]
    if result.report_path:
        lines += ["", f"Report: {result.report_path}"]
    for p in result.problems:
        lines.append(f"PROBLEM: {p}")
    lines.append("")
    lines += [a.line() for a in result.aggregates]
    lines += [f"  {m}" for a in result.aggregates for m in a.mismatches[:10]]
    lines += [f"{k}={v}" for k, v in result.figures().items()]
    return "\n".join(lines)


def _stall_lines(result: DemoResult) -> list[str]:
    """The stall scene in the summary: detection, heal, and what 30 s polling would have done."""
    st = result.stall
    if st is None:
        return []

    def secs(value: float | None) -> str:
        return "never" if value is None else f"{value:.1f}s"

    polling = "never" if st.polling_tick is None else f"{st.polling_tick - st.started_at:.1f}s"
    lines = [
        "",
        f"Stall (job RUNNING but not progressing; stall durations x{result.stall_scale:g} of config/system.json):",
        f"  {'pipeline':<10}{'stalled job':<24}{'replacement':<24}{'incident':>10}{'healed':>10}{'polling':>10}",
        f"  {st.pipeline:<10}{st.job_name:<24}{st.replacement or '-':<24}"
        f"{secs(st.detect_seconds):>10}{secs(st.recovery_seconds):>10}{polling:>10}",
    ]
    if result.quiet_max_age:
        quiet = ", ".join(f"{p} {v:.1f}s" for p, v in sorted(result.quiet_max_age.items()))
        lines.append(
            f"  highest oldest-unacked age outside the stall: {quiet} (threshold {result.stall_threshold_s:g}s)"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m localdev.demo", description=__doc__.split("\n\n")[0])
    ap.add_argument("--orders", type=int, default=DemoConfig.orders, help="orders to generate (shipments follow)")
    ap.add_argument("--rate", type=float, default=DemoConfig.rate, help="messages published per second")
    ap.add_argument("--seed", type=int, default=DemoConfig.seed)
    ap.add_argument("--max-retries", type=int, default=DemoConfig.max_retries, help="demo retry budget")
    ap.add_argument("--no-report", action="store_true", help="skip the HTML report")
    args = ap.parse_args(argv)
    cfg = DemoConfig(
        orders=args.orders, rate=args.rate, seed=args.seed, max_retries=args.max_retries, report=not args.no_report
    )
    started = time.monotonic()
    try:
        with _signals_raise():
            result = run_demo(cfg)
    except _Interrupted as exc:
        print(f"\ninterrupted ({exc}); every process was stopped", file=sys.stderr)
        return 130
    print(render_summary(result))
    print(f"demo_seconds={time.monotonic() - started:.0f}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
