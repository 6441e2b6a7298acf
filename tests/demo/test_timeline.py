"""The timeline: plain, greppable lines with elapsed time when not on a terminal."""

from __future__ import annotations

import io

from localdev.timeline import Timeline


class _Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_plain_output_has_elapsed_time_and_throttles_status():
    out, clock = io.StringIO(), _Clock()
    tl = Timeline(stream=out, plain_every=5.0, clock=clock, tty=False)
    clock.t = 101.5
    tl.log("orders", "launched orders-analytics-a0")
    tl.status("published 1/10")
    clock.t = 102.0
    tl.status("published 2/10")  # within 5 s of the last status line: not printed
    clock.t = 107.0
    tl.status("published 9/10")
    lines = out.getvalue().splitlines()
    assert lines == [
        "[    1.5s] orders     launched orders-analytics-a0",
        "[    1.5s] status     published 1/10",
        "[    7.0s] status     published 9/10",
    ]
    assert "\x1b" not in out.getvalue()
    assert [e.message for e in tl.entries] == ["launched orders-analytics-a0"]


def test_tty_redraws_the_status_line_in_place():
    out, clock = io.StringIO(), _Clock()
    tl = Timeline(stream=out, clock=clock, tty=True)
    tl.status("published 1/10")
    tl.log("shipping", "KILL -9")
    text = out.getvalue()
    assert text.count("\r\x1b[2K") == 2
    assert text.endswith("published 1/10")  # redrawn under the new line
    tl.close()
    assert out.getvalue().endswith("\r\x1b[2K")
