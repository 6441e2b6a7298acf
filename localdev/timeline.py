"""A live, readable timeline for the demo: one line per thing that happened, with elapsed time.

On a terminal a status line (publishing progress, jobs' states) is redrawn in
place under the timeline; when stdout is not a TTY (CI, a pipe, a log file)
the same status is printed as a plain line at most every ``plain_every``
seconds, so logs stay readable.  Every line is also kept, so the summary can
refer to moments by their elapsed time.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO


@dataclass(frozen=True)
class Entry:
    elapsed: float
    actor: str
    message: str


def format_entry(entry: Entry) -> str:
    return f"[{entry.elapsed:7.1f}s] {entry.actor:<10} {entry.message}"


@dataclass
class Timeline:
    stream: TextIO = field(default_factory=lambda: sys.stdout)
    plain_every: float = 5.0
    clock: Callable[[], float] = time.monotonic
    tty: bool | None = None

    def __post_init__(self) -> None:
        self.t0 = self.clock()
        self.entries: list[Entry] = []
        self._lock = threading.Lock()
        self._status = ""
        self._last_plain = -1e9
        if self.tty is None:
            self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def elapsed(self, at: float | None = None) -> float:
        return (self.clock() if at is None else at) - self.t0

    def log(self, actor: str, message: str, *, at: float | None = None) -> Entry:
        """Record and print one timeline line (``at`` is a monotonic time, default now)."""
        entry = Entry(self.elapsed(at), actor, message)
        with self._lock:
            self.entries.append(entry)
            if self.tty:
                self.stream.write("\r\x1b[2K" + format_entry(entry) + "\n")
                if self._status:
                    self.stream.write(self._status)
            else:
                self.stream.write(format_entry(entry) + "\n")
            self.stream.flush()
        return entry

    def status(self, text: str) -> None:
        """The live status line: redrawn in place on a TTY, printed now and then otherwise."""
        with self._lock:
            self._status = text
            if self.tty:
                self.stream.write("\r\x1b[2K" + text)
                self.stream.flush()
            elif self.clock() - self._last_plain >= self.plain_every:
                self._last_plain = self.clock()
                self.stream.write(f"[{self.elapsed():7.1f}s] {'status':<10} {text}\n")
                self.stream.flush()

    def close(self) -> None:
        """End the status line so what follows starts on a clean line."""
        with self._lock:
            if self.tty and self._status:
                self.stream.write("\r\x1b[2K")
                self.stream.flush()
            self._status = ""
