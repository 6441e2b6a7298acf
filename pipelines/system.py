"""Loader for the project's one source of truth, ``config/``.

Names (dataset, tables, topics, subscriptions, job-name prefixes) and the
relaunch policy live in ``config/system.json``; the per-pipeline flex-template
launch parameters live in ``config/launch_parameters.json.tftpl``.  Terraform
renders the same template with ``templatefile()``; :func:`render_launch_parameters`
renders it here for the local stack and the tests, so the Workflows first
launch, the relauncher and the local Dataflow stand-in all launch from one spec.
"""

from __future__ import annotations

import json
import os
import re
import string
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

CONFIG_DIR = Path(os.environ.get("ANALYTICS_CONFIG_DIR", Path(__file__).resolve().parents[1] / "config"))
SYSTEM_FILE = CONFIG_DIR / "system.json"
LAUNCH_TEMPLATE_FILE = CONFIG_DIR / "launch_parameters.json.tftpl"


@lru_cache(maxsize=1)
def system() -> dict[str, Any]:
    """The parsed ``config/system.json``."""
    return json.loads(SYSTEM_FILE.read_text())


def pipeline_names() -> list[str]:
    return sorted(system()["pipelines"])


def table_name(logical: str) -> str:
    """BigQuery table name for a logical table key (``orders``, ``dead_letter`` ...)."""
    return system()["bigquery"]["tables"][logical]


def dataset() -> str:
    return system()["bigquery"]["dataset"]


def template_variables(deployment: Mapping[str, Any]) -> dict[str, Any]:
    """All variables the launch template needs: deployment values plus names from system.json.

    ``deployment`` holds what differs per installation: ``project``, ``bucket``,
    ``worker_service_account``, ``subnetwork``, ``max_workers``, ``window_seconds``,
    ``allowed_lateness_seconds``, ``orders_image``, ``shipping_image`` and
    optionally ``dataset``, ``labels`` (user labels for every job) and ``kms_key_name``.
    Terraform passes the same keys (see terraform/modules/launch_config).
    """
    cfg = system()
    names: dict[str, Any] = {
        "dataset": cfg["bigquery"]["dataset"],
        "managed_label_key": cfg["managed_label"]["key"],
        "managed_label_value": cfg["managed_label"]["value"],
        "user_label_members": user_label_members(deployment.get("labels") or {}),
        "kms_key_name": deployment.get("kms_key_name") or "",
    }
    for name, pipeline in cfg["pipelines"].items():
        names[f"{name}_subscription"] = pipeline["subscription"]
    return {**names, **deployment}


def user_label_members(labels: Mapping[str, str]) -> str:
    """User labels as JSON object members (``"k": "v", `` each, sorted) for additionalUserLabels.

    The template places them before the fixed labels, so the fixed ones win a clash; terraform's
    launch_config module builds the identical text with ``jsonencode``.
    """
    return "".join(f"{json.dumps(k)}: {json.dumps(labels[k])}, " for k in sorted(labels))


def template_placeholders() -> set[str]:
    """Placeholder names used in the launch template (for wiring tests)."""
    text = LAUNCH_TEMPLATE_FILE.read_text()
    return {m.group("braced") for m in string.Template.pattern.finditer(text) if m.group("braced")}


def render_launch_parameters(deployment: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Render the launch template: ``{pipeline: launchParameter-without-jobName}`` (REST JSON)."""
    text = LAUNCH_TEMPLATE_FILE.read_text()
    return json.loads(string.Template(text).substitute(template_variables(deployment)))


def job_name(pipeline: str, attempt: int) -> str:
    """Deterministic Dataflow job name for one launch attempt, e.g. ``orders-analytics-a3``."""
    return f"{system()['pipelines'][pipeline]['job_name_prefix']}-a{attempt}"


def attempt_of(pipeline: str, job_name: str | None) -> int | None:
    """The attempt number in a job name made by :func:`job_name`; None for any other name."""
    prefix = system()["pipelines"][pipeline]["job_name_prefix"]
    match = re.fullmatch(re.escape(prefix) + r"-a(\d+)", job_name or "")
    return int(match.group(1)) if match else None


def relauncher_settings(deployment: Mapping[str, Any], *, project: str, region: str) -> dict[str, Any]:
    """The relauncher's whole configuration, passed to it as the ``RELAUNCHER_CONFIG`` env var.

    The function is deployed from ``functions/relauncher`` alone, so it cannot
    import this module; terraform builds the identical structure in HCL
    (``local.relauncher_config``) and a wiring test compares the two.
    """
    cfg = system()
    launch = render_launch_parameters({"project": project, **deployment})
    return {
        "project": project,
        "region": region,
        "collection": cfg["firestore"]["collection"],
        "managed_label": dict(cfg["managed_label"]),
        "exhausted_log_message": cfg["relauncher"]["exhausted_log_message"],
        "audit_retention_days": deployment.get("audit_retention_days") or cfg["relauncher"]["audit_retention_days"],
        "pipelines": {
            name: {
                "job_name_prefix": p["job_name_prefix"],
                "max_retries": p["relaunch"]["max_retries"],
                "relaunch_on": list(p["relaunch"]["relaunch_on"]),
                "healthy_period_seconds": p["relaunch"]["healthy_period_seconds"],
                "launch_parameter": launch[name],
                "stall": dict(p["stall"]),
            }
            for name, p in sorted(cfg["pipelines"].items())
        },
        "stall_detection": stall_detection_settings(),
    }


def stall_detection_settings() -> dict[str, Any]:
    """``stall_detection`` without its comment: what the relauncher (and terraform) carry."""
    raw = system()["stall_detection"]
    return {
        "alerts_topic": raw["alerts_topic"],
        "renotify_seconds": raw["renotify_seconds"],
        "signals": {name: dict(s) for name, s in sorted(raw["signals"].items())},
    }


# Duration settings of the stall machinery, scaled together by :func:`scale_stall_settings`.
STALL_PIPELINE_SECONDS = ("drain_deadline_seconds", "cooldown_seconds")
STALL_SIGNAL_SECONDS = ("threshold_seconds", "duration_seconds")


def scale_stall_settings(settings: dict[str, Any], factor: float) -> dict[str, Any]:
    """``relauncher_settings`` with every stall duration multiplied by ``factor`` (in place, returned).

    The demo compresses minutes into seconds the way ``localdev.demo.demo_settings`` overrides the
    retry budget: it edits the one settings structure the function receives, so the local Cloud
    Monitoring stand-in (reading ``settings["stall_detection"]``) and the function agree.
    """
    for p in settings["pipelines"].values():
        for key in STALL_PIPELINE_SECONDS:
            p["stall"][key] = p["stall"][key] * factor
    detection = settings["stall_detection"]
    detection["renotify_seconds"] = detection["renotify_seconds"] * factor
    for s in detection["signals"].values():
        for key in STALL_SIGNAL_SECONDS:
            s[key] = s[key] * factor
    return settings
