"""``python -m cost``: the monthly orchestration cost comparison, then its figures as ``name=value``."""

from cost.table import run

for name, value in run().items():
    print(f"{name}={value:.6g}")
