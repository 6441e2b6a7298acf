"""Structured logs: one JSON object per line with ``severity`` and ``message``, as Cloud Logging reads them.

Dataflow workers and the flex-template launcher forward stdout/stderr to Cloud
Logging, which parses a JSON line into a structured entry; locally the same
lines are easy to grep and to assert on.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson

_RESERVED = frozenset(vars(logging.makeLogRecord({})))


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line; ``extra={...}`` fields become top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["stack_trace"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


JsonFormatter.converter = __import__("time").gmtime


def configure(level: int = logging.INFO) -> None:
    """Route the root logger (and Beam's) to stderr as JSON lines; idempotent."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler.formatter, JsonFormatter):
            return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.handlers = [handler]
    root.setLevel(level)
    # Beam reports every postponed (string) annotation it meets at INFO: noise, not news.
    logging.getLogger("apache_beam.typehints.native_type_compatibility").setLevel(logging.WARNING)
