"""The function's configuration, read from the ``RELAUNCHER_CONFIG`` env var.

The function is zipped and deployed alone, so it cannot read ``config/``; the
JSON in ``RELAUNCHER_CONFIG`` is produced from the same source of truth by
``pipelines.system.relauncher_settings`` (locally) and by terraform (in the cloud).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CONFIG_ENV = "RELAUNCHER_CONFIG"
ENDPOINT_ENV = "DATAFLOW_ENDPOINT"


HEAL_UPDATE = "update"
HEAL_DRAIN_THEN_RELAUNCH = "drain_then_relaunch"
HEAL_ACTIONS = frozenset({HEAL_UPDATE, HEAL_DRAIN_THEN_RELAUNCH})


class ConfigError(ValueError):
    """RELAUNCHER_CONFIG is missing or incomplete: a deployment error, fail loudly at start."""


@dataclass(frozen=True)
class StallConfig:
    """How a stalled job of one pipeline is healed (``pipelines.<p>.stall`` in config/system.json).

    ``drain_deadline_seconds``: a drain (or an update) that has not ended the job by then is
    escalated (cancel and relaunch); Cloud Functions has no timer, so the deadline is checked on
    the pipeline's next event (an incident re-notification or any status event).
    ``cooldown_seconds``: an incident opened this soon after the last heal is a duplicate.
    """

    heal_action: str = HEAL_DRAIN_THEN_RELAUNCH
    drain_deadline_seconds: float = 600.0
    cooldown_seconds: float = 1800.0


@dataclass(frozen=True)
class Signal:
    """One stall signal (``stall_detection.signals.<name>``): the alert policy's metric and window."""

    name: str
    metric_type: str
    resource_type: str
    threshold_seconds: float
    duration_seconds: float


@dataclass(frozen=True)
class StallDetection:
    """``stall_detection`` in config/system.json: the signals terraform turns into alert policies."""

    alerts_topic: str = ""
    renotify_seconds: float = 1800.0
    signals: Mapping[str, Signal] = field(default_factory=dict)


@dataclass(frozen=True)
class PipelineConfig:
    name: str
    job_name_prefix: str
    max_retries: int
    relaunch_on: frozenset[str]
    healthy_period_seconds: float
    launch_parameter: Mapping[str, Any] = field(default_factory=dict, compare=False)
    stall: StallConfig = field(default_factory=StallConfig)

    def job_name(self, attempt: int) -> str:
        """Deterministic job name of one attempt, identical to ``pipelines.system.job_name``."""
        return f"{self.job_name_prefix}-a{attempt}"

    def attempt_of(self, job_name: str) -> int | None:
        """The attempt number encoded in a job name of this pipeline, or None."""
        match = re.fullmatch(re.escape(self.job_name_prefix) + r"-a(\d+)", job_name or "")
        return int(match.group(1)) if match else None


@dataclass(frozen=True)
class Config:
    project: str
    region: str
    collection: str
    managed_label_key: str
    managed_label_value: str
    exhausted_log_message: str
    pipelines: Mapping[str, PipelineConfig]
    dataflow_endpoint: str | None = None
    # Audit entries carry expire_at = handled + this many days (Firestore TTL deletes them); None: kept.
    audit_retention_days: int | None = None
    stall_detection: StallDetection = field(default_factory=StallDetection)


def parse_stall(raw: Mapping[str, Any] | None) -> StallConfig:
    """A pipeline's ``stall`` block (absent: the defaults above)."""
    if not raw:
        return StallConfig()
    stall = StallConfig(
        heal_action=str(raw["heal_action"]),
        drain_deadline_seconds=float(raw["drain_deadline_seconds"]),
        cooldown_seconds=float(raw["cooldown_seconds"]),
    )
    if stall.heal_action not in HEAL_ACTIONS:
        raise ValueError(f"stall.heal_action {stall.heal_action!r} is not one of {sorted(HEAL_ACTIONS)}")
    return stall


def parse_stall_detection(raw: Mapping[str, Any] | None) -> StallDetection:
    """The top-level ``stall_detection`` block (absent: no signals known)."""
    if not raw:
        return StallDetection()
    signals = {
        name: Signal(
            name=name,
            metric_type=str(s["metric_type"]),
            resource_type=str(s["resource_type"]),
            threshold_seconds=float(s["threshold_seconds"]),
            duration_seconds=float(s["duration_seconds"]),
        )
        for name, s in raw["signals"].items()
        if not name.startswith("$")
    }
    return StallDetection(str(raw.get("alerts_topic") or ""), float(raw["renotify_seconds"]), signals)


def parse_config(raw: Mapping[str, Any], dataflow_endpoint: str | None = None) -> Config:
    """Build a :class:`Config` from the ``relauncher_settings`` JSON structure."""
    try:
        pipelines = {
            name: PipelineConfig(
                name=name,
                job_name_prefix=p["job_name_prefix"],
                max_retries=int(p["max_retries"]),
                relaunch_on=frozenset(p["relaunch_on"]),
                healthy_period_seconds=float(p["healthy_period_seconds"]),
                launch_parameter=p["launch_parameter"],
                stall=parse_stall(p.get("stall")),
            )
            for name, p in raw["pipelines"].items()
        }
        return Config(
            project=raw["project"],
            region=raw["region"],
            collection=raw["collection"],
            managed_label_key=raw["managed_label"]["key"],
            managed_label_value=raw["managed_label"]["value"],
            exhausted_log_message=raw["exhausted_log_message"],
            pipelines=pipelines,
            dataflow_endpoint=dataflow_endpoint or None,
            audit_retention_days=int(raw["audit_retention_days"]) if raw.get("audit_retention_days") else None,
            stall_detection=parse_stall_detection(raw.get("stall_detection")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{CONFIG_ENV} is incomplete: {exc!r}") from exc


def load_config(environ: Mapping[str, str] = os.environ) -> Config:
    """Read and parse the configuration from the environment."""
    text = environ.get(CONFIG_ENV)
    if not text:
        raise ConfigError(f"{CONFIG_ENV} is not set")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{CONFIG_ENV} is not JSON: {exc}") from exc
    return parse_config(raw, environ.get(ENDPOINT_ENV))
