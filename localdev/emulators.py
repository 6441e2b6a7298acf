"""Start and stop the local stand-ins for Google Cloud: Pub/Sub, Firestore, BigQuery.

Each emulator runs in its own process group on a free loopback port and is
stopped by killing the whole group: killing only the ``gcloud`` wrapper leaves
its Java child holding the port.  Used by the test fixtures and by ``make demo``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

DUCKDB_VERSION = "v1.5.5"


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ManagedProcess:
    """A child process in its own process group, logged to a file, stopped as a group."""

    name: str
    argv: list[str]
    env: dict[str, str] | None = None
    log_path: Path | None = None
    proc: subprocess.Popen | None = field(default=None, init=False)

    def start(self) -> ManagedProcess:
        if self.log_path is None:
            self.log_path = Path(tempfile.mkstemp(prefix=f"{self.name}-", suffix=".log")[1])
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the child
        self.proc = subprocess.Popen(
            self.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            start_new_session=True,
        )
        log.close()
        _LIVE.add(self)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=timeout)
        # The group may outlive its leader (gcloud's Java child): always sweep it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=timeout)
        deadline = time.monotonic() + timeout  # SIGKILL is asynchronous: wait until the group is really gone
        while live_group_members(self.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        _LIVE.discard(self)

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def __hash__(self) -> int:
        return id(self)


_LIVE: set[ManagedProcess] = set()


def live_group_members(pgid: int) -> list[int]:
    """Pids of processes in group ``pgid`` that are still running (zombies, already dead, don't count).

    Zombies appear here because the reparented Java children are reaped by PID 1,
    which in some containers never reaps.
    """
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may contain spaces, so split after the last ')'
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


@atexit.register
def _stop_all() -> None:
    for p in list(_LIVE):
        p.stop(timeout=3)


def _wait_http(url: str, proc: ManagedProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited early:\n{proc.log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # it answers: good enough
        except OSError:
            time.sleep(0.2)
    proc.stop()
    raise TimeoutError(f"{proc.name} did not answer on {url} within {timeout}s:\n{proc.log_tail()}")


@dataclass
class Emulator:
    name: str
    host: str  # host:port
    process: ManagedProcess
    grpc_host: str | None = None  # host:port of a gRPC API beside the REST one (bqemulator's Storage API)

    def stop(self) -> None:
        self.process.stop()


def start_pubsub(project: str, timeout: float = 60) -> Emulator:
    port = free_port()
    proc = ManagedProcess(
        "pubsub-emulator",
        [
            "gcloud",
            "beta",
            "emulators",
            "pubsub",
            "start",
            f"--host-port=127.0.0.1:{port}",
            f"--project={project}",
            "--quiet",
        ],
    ).start()
    _wait_http(f"http://127.0.0.1:{port}/v1/projects/{project}/topics", proc, timeout)
    return Emulator("pubsub", f"127.0.0.1:{port}", proc)


def start_firestore(project: str, timeout: float = 60) -> Emulator:
    port = free_port()
    proc = ManagedProcess(
        "firestore-emulator",
        [
            "gcloud",
            "emulators",
            "firestore",
            "start",
            f"--host-port=127.0.0.1:{port}",
            f"--project={project}",
            "--quiet",
        ],
    ).start()
    _wait_http(f"http://127.0.0.1:{port}/", proc, timeout)
    return Emulator("firestore", f"127.0.0.1:{port}", proc)


def install_duckdb_spatial() -> Path:
    """Copy the spatial extension from the pinned wheel where DuckDB looks, so bqemulator never downloads."""
    import duckdb_extension_spatial  # type: ignore[import-not-found]

    src = Path(duckdb_extension_spatial.__file__).parent / "extensions" / DUCKDB_VERSION / "spatial.duckdb_extension"
    dest_dir = Path.home() / ".duckdb" / "extensions" / DUCKDB_VERSION / "linux_amd64"
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / "spatial.duckdb_extension"
    if not dest.exists() or dest.stat().st_size != src.stat().st_size:
        shutil.copyfile(src, dest)
    return dest


def start_bigquery(project: str, timeout: float = 60) -> Emulator:
    install_duckdb_spatial()
    rest, grpc = free_port(), free_port()
    proc = ManagedProcess(
        "bigquery-emulator",
        [
            sys.executable,  # bqemulator with its Write API fixed for RECORD columns
            str(Path(__file__).with_name("bqemulator_main.py")),
            "start",
            "--rest-port",
            str(rest),
            "--grpc-port",
            str(grpc),
            "--project",
            project,
            "--log-level",
            "warning",
        ],
    ).start()
    _wait_http(f"http://127.0.0.1:{rest}/bigquery/v2/projects/{project}/datasets", proc, timeout)
    return Emulator("bigquery", f"127.0.0.1:{rest}", proc, grpc_host=f"127.0.0.1:{grpc}")


@dataclass
class LocalCloud:
    """The three emulators together, with the env vars the client libraries honour."""

    project: str
    pubsub: Emulator
    firestore: Emulator
    bigquery: Emulator

    @property
    def env(self) -> dict[str, str]:
        return {
            "PUBSUB_EMULATOR_HOST": self.pubsub.host,
            "FIRESTORE_EMULATOR_HOST": self.firestore.host,
            "BIGQUERY_EMULATOR_HOST": self.bigquery.host,
            "BIGQUERY_STORAGE_EMULATOR_HOST": self.bigquery.grpc_host or "",
            "GOOGLE_CLOUD_PROJECT": self.project,
        }

    def stop(self) -> None:
        for e in (self.pubsub, self.firestore, self.bigquery):
            e.stop()


@contextlib.contextmanager
def local_cloud(project: str = "local-project") -> Iterator[LocalCloud]:
    """Start all three emulators (stopped again on exit, also on error)."""
    started: list[Emulator] = []
    try:
        for start in (start_pubsub, start_firestore, start_bigquery):
            started.append(start(project))
        yield LocalCloud(project, *started)
    finally:
        for e in started:
            e.stop()
