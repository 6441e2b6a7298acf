"""Cloud Function entry point ``relaunch`` (2nd gen, CloudEvent trigger).

Two triggers call it: Dataflow job-status events and, on the alerts topic, Cloud Monitoring
incident notifications (stalled jobs; README "Stalled jobs"). Deployed from this directory
alone; it reads everything from env:
``RELAUNCHER_CONFIG`` (JSON, see README "Relauncher"), optional
``DATAFLOW_ENDPOINT`` (host:port of a local Dataflow stand-in) and, locally,
``FIRESTORE_EMULATOR_HOST``.
"""

from __future__ import annotations

import threading

import functions_framework
from cloudevents.http import CloudEvent
from google.cloud import firestore

from relauncher.config import Config, load_config
from relauncher.handler import Outcome, handle_safely
from relauncher.launcher import Launcher
from relauncher.store import Store

_LOCK = threading.Lock()
_DEPS: dict[str, object] = {}


def _deps() -> dict[str, object]:
    """Clients are built once per instance and shared by its request threads."""
    with _LOCK:
        if not _DEPS:
            config: Config = load_config()
            _DEPS.update(
                config=config,
                store=Store(firestore.Client(project=config.project), config.collection, config.audit_retention_days),
                launcher=Launcher(config),
            )
        return _DEPS


@functions_framework.cloud_event
def relaunch(cloud_event: CloudEvent) -> None:
    """Handle one Dataflow job-status event or Cloud Monitoring incident; an exception (HTTP 500) asks Eventarc
    to retry."""
    outcome: Outcome = handle_safely(cloud_event.get_attributes(), cloud_event.data, **_deps())
    del outcome
