"""Emulators are started in their own process group and leave nothing behind when stopped."""

from __future__ import annotations

import socket
import time

import pytest

from localdev import emulators


def _port_open(host: str) -> bool:
    h, p = host.rsplit(":", 1)
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((h, int(p))) == 0


@pytest.mark.parametrize("start", [emulators.start_pubsub, emulators.start_firestore, emulators.start_bigquery])
def test_stop_kills_the_whole_group_and_frees_the_port(start):
    emu = start("lifecycle-test")
    pgid = emu.process.proc.pid
    assert _port_open(emu.host)
    emu.stop()
    assert emulators.live_group_members(pgid) == [], "a child of the emulator survived its stop"
    # The port closes with the group; poll briefly since socket teardown is asynchronous.
    deadline = time.monotonic() + 5
    while _port_open(emu.host) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _port_open(emu.host)
