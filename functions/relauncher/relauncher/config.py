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


class ConfigError(ValueError):
    """RELAUNCHER_CONFIG is missing or incomplete: a deployment error, fail loudly at start."""


@dataclass(frozen=True)
class PipelineConfig:
    name: str
    job_name_prefix: str
    max_retries: int
    relaunch_on: frozenset[str]
    healthy_period_seconds: float
    launch_parameter: Mapping[str, Any] = field(default_factory=dict, compare=False)

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
