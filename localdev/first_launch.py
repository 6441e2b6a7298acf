"""The first launch, locally: what ``workflows/first_launch.yaml`` does in the cloud.

For every pipeline, in parallel (one pipeline's failure does not stop the
other): read ``pipelines/{name}`` from Firestore; if the relauncher holds a pending attempt
or gave up (exhausted), or the record names a current job that Dataflow still reports as
active, launch nothing; otherwise launch
``<prefix>-a0`` from the rendered launch parameter and record attempt 0.

It is a thin orchestration over the relauncher's own adapters (its
:class:`~relauncher.launcher.Launcher` and :class:`~relauncher.store.Store`), so
the first job is launched and recorded exactly as every replacement will be:
same request builder, same ``ALREADY_EXISTS`` handling, same Firestore fields.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.cloud import firestore

from relauncher.config import PipelineConfig, parse_config
from relauncher.events import JOB_STATES, TERMINAL_STATES
from relauncher.launcher import Launcher
from relauncher.store import Store

# Dataflow states in which a job still holds its name (and its subscription): not yet terminal.
ACTIVE_STATES = frozenset(JOB_STATES) - TERMINAL_STATES - {"JOB_STATE_UNKNOWN"}


@dataclass(frozen=True)
class FirstLaunchResult:
    pipeline: str
    outcome: str  # "launched" | "skipped" | "error"
    job_id: str = ""
    job_name: str = ""
    detail: str = ""


def launch_one(pipeline: PipelineConfig, store: Store, launcher: Launcher) -> FirstLaunchResult:
    """One branch: skip a pipeline whose current job is active, else launch attempt 0 and record it."""
    record = store.collection.document(pipeline.name).get().to_dict() or {}
    current = record.get("current_job_id")
    # As the workflow: the relauncher owns a pipeline it is relaunching or has given up on.
    if record.get("pending_attempt") or record.get("exhausted"):
        why = "relaunch pending" if record.get("pending_attempt") else "retries exhausted (ops rearm)"
        return FirstLaunchResult(pipeline.name, "skipped", current or "", record.get("current_job_name", ""), why)
    if current:
        state = launcher.job_state(current)
        if state in ACTIVE_STATES:
            return FirstLaunchResult(
                pipeline.name, "skipped", current, record.get("current_job_name", ""), f"current job is {state}"
            )
    job = launcher.launch(pipeline, pipeline.job_name(0))  # ALREADY_EXISTS: the active job of that name
    store.register_first_launch(pipeline, job.id, job.name)
    return FirstLaunchResult(pipeline.name, "launched", job.id, job.name)


def first_launch(
    settings: Mapping[str, Any], *, endpoint: str | None = None, db: firestore.Client | None = None
) -> dict[str, FirstLaunchResult]:
    """Launch every pipeline in parallel threads; ``settings`` is ``relauncher_settings(...)``."""
    config = parse_config(settings, dataflow_endpoint=endpoint)
    store = Store(db or firestore.Client(project=config.project), config.collection)
    launcher = Launcher(config)
    results: dict[str, FirstLaunchResult] = {}

    def branch(pipeline: PipelineConfig) -> None:
        try:
            results[pipeline.name] = launch_one(pipeline, store, launcher)
        except Exception as exc:  # one branch's failure must not stop the other (as in the workflow)
            results[pipeline.name] = FirstLaunchResult(pipeline.name, "error", detail=f"{type(exc).__name__}: {exc}")

    threads = [
        threading.Thread(target=branch, args=(p,), name=f"first-launch-{p.name}") for p in config.pipelines.values()
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return dict(sorted(results.items()))
