"""Structured logs: one JSON object per line on stdout, as Cloud Logging reads them.

Cloud Functions (2nd gen) turn such a line into a log entry whose severity is
``severity`` and whose ``jsonPayload`` holds the other fields, so an alert
policy can match ``jsonPayload.message`` exactly.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import threading
from typing import Any

_LOCK = threading.Lock()


def _default(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


def log(severity: str, message: str, **fields: Any) -> None:
    """Write one structured log line (``severity``, ``message`` and any extra fields)."""
    entry = {"severity": severity, "message": message, "component": "relauncher", **fields}
    line = json.dumps(entry, default=_default, sort_keys=True)
    with _LOCK:  # gunicorn threads share stdout: keep lines whole
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def info(message: str, **fields: Any) -> None:
    log("INFO", message, **fields)


def warning(message: str, **fields: Any) -> None:
    log("WARNING", message, **fields)


def error(message: str, **fields: Any) -> None:
    log("ERROR", message, **fields)
