"""``make bench`` / ``python -m bench``: every benchmark, one summary table, then every figure as ``name=value``.

Each module's ``run() -> dict[str, float]`` prints its own detail table; a
module that is missing or fails is reported (with the reason) and the others
still run.  The exit status is non-zero if any module failed, so CI notices.
A figure ``X_spread`` (text ``min..max`` over interleaved rounds) is shown beside
``X`` in the summary table, and printed as its own ``name=value`` line.
"""

from __future__ import annotations

import importlib
import math
import sys
import time
import traceback
from collections.abc import Callable

# (title, module, function): the pipelines' hot path, the relauncher's latency, the orchestration cost.
MODULES: tuple[tuple[str, str, str], ...] = (
    ("pipelines", "bench.pipelines_bench", "run"),
    ("relauncher", "bench.relauncher_bench", "run"),
    ("orchestration cost", "cost.table", "run"),
)


def _load(module: str, function: str) -> Callable[[], dict[str, float | str]]:
    return getattr(importlib.import_module(module), function)


def _fmt(value: float) -> str:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return str(value)
    if isinstance(value, float) and abs(value) < 0.01 and value != 0:
        return f"{value:.6g}"
    return f"{value:,.3f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)


def main() -> int:
    figures: dict[str, float | str] = {}
    status: list[tuple[str, str, float]] = []
    for title, module, function in MODULES:
        print(f"\n=== {title} ({module}) ===", flush=True)
        started = time.monotonic()
        try:
            result = _load(module, function)()
            figures.update(result)
            status.append((title, f"ok, {len(result)} figures", time.monotonic() - started))
        except ImportError as exc:
            print(f"MISSING: {module} cannot be imported: {exc}", flush=True)
            status.append((title, f"MISSING ({exc})", time.monotonic() - started))
        except Exception as exc:
            traceback.print_exc()
            status.append((title, f"FAILED ({type(exc).__name__}: {exc})", time.monotonic() - started))
    print("\n=== summary ===")
    print(f"{'benchmark':<22}{'status':<60}{'seconds':>8}")
    for title, state, seconds in status:
        print(f"{title:<22}{state[:58]:<60}{seconds:>8.1f}")
    print()
    print(f"{'figure':<42}{'value':>18}  spread over rounds")
    for name, value in figures.items():
        if not name.endswith("_spread"):
            print(f"{name:<42}{_fmt(value):>18}  {figures.get(name + '_spread', '')}".rstrip())
    print()
    for name, value in figures.items():
        print(f"{name}={value:.6g}" if isinstance(value, float) else f"{name}={value}")
    return 0 if all(s.startswith("ok") for _, s, _ in status) else 1


if __name__ == "__main__":
    sys.exit(main())
