"""Read the terraform configuration with python-hcl2 into plain Python values.

The venv's ``hcl2`` module may be python-hcl2 itself or checkov's fork of it, which wraps every
attribute value in a one-element list; :func:`load_dir` undoes that, so tests see
``{"resource": {type: {name: body}}, "variable": {...}, "locals": {...}, ...}`` with attribute
values as HCL writes them: literals as Python values, expressions as ``"${...}"`` strings.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import hcl2

TERRAFORM_BIN = shutil.which("terraform")
ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
MODULE = TERRAFORM / "modules" / "launch_config"

# A reference to something declared in the configuration (not iteration variables, not path.*).
REFERENCE = re.compile(
    r"(?<![\w.\"'/-])(?:(var|local|module)\.([A-Za-z_][\w-]*)"
    r"|(data)\.([a-z][a-z0-9_]*)\.([A-Za-z_][\w-]*)"
    r"|((?:google|archive)_[a-z0-9_]+)\.([A-Za-z_][\w-]*))"
)


@cache
def _wrapped() -> bool:
    return hcl2.loads('a = "x"\n')["a"] == ["x"]


def _is_block_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _clean(value: Any) -> Any:
    """Drop line markers and undo the fork's one-element wrapping of attribute values."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key.startswith("__") and key.endswith("__"):
                continue
            if _wrapped() and isinstance(item, list) and len(item) == 1 and not _is_block_list(item):
                item = item[0]
            out[key] = _clean(item)
        return out
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def load_file(path: Path) -> dict[str, Any]:
    with path.open() as f:
        return _clean(hcl2.load(f))


@cache
def load_dir(directory: Path = TERRAFORM) -> dict[str, Any]:
    """Merge every ``*.tf`` file of one module directory (not its submodules)."""
    merged: dict[str, Any] = {"resource": {}, "data": {}, "variable": {}, "output": {}, "locals": {}, "module": {}}
    merged["terraform"] = []
    for path in sorted(directory.glob("*.tf")):
        parsed = load_file(path)
        for kind in ("resource", "data"):
            for block in parsed.get(kind, []):
                for rtype, named in block.items():
                    for name, body in named.items():
                        merged[kind].setdefault(rtype, {})[name] = body
        for kind in ("variable", "output", "module"):
            for block in parsed.get(kind, []):
                merged[kind].update(block)
        for block in parsed.get("locals", []):
            merged["locals"].update(block)
        merged["terraform"].extend(parsed.get("terraform", []))
    return merged


def resource(rtype: str, name: str, directory: Path = TERRAFORM) -> dict[str, Any]:
    return load_dir(directory)["resource"][rtype][name]


def block(body: dict[str, Any], name: str) -> dict[str, Any]:
    """The single nested block ``name`` of a resource body."""
    value = body[name]
    assert isinstance(value, list) and len(value) == 1, f"expected one {name} block, got {value!r}"
    return value[0]


def strings(value: Any) -> Iterator[str]:
    """Every string anywhere inside a parsed value (keys included, for object literals)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def references(value: Any) -> set[tuple[str, ...]]:
    """``(kind, name)`` or ``(kind, type, name)`` for every reference inside expressions."""
    found: set[tuple[str, ...]] = set()
    for text in strings(value):
        if "${" not in text:
            continue
        for m in REFERENCE.finditer(text):
            if m.group(1):
                found.add((m.group(1), m.group(2)))
            elif m.group(3):
                found.add(("data", m.group(4), m.group(5)))
            else:
                found.add(("resource", m.group(6), m.group(7)))
    return found


def declared(config: dict[str, Any]) -> set[tuple[str, ...]]:
    names: set[tuple[str, ...]] = set()
    names |= {("var", n) for n in config["variable"]}
    names |= {("local", n) for n in config["locals"]}
    names |= {("module", n) for n in config["module"]}
    for kind in ("resource", "data"):
        for rtype, named in config[kind].items():
            names |= {(kind, rtype, n) for n in named}
    return names


def expr(text: str) -> str:
    """The inside of a whole-value ``${...}`` expression."""
    assert text.startswith("${") and text.endswith("}"), text
    return text[2:-1]


def run_terraform(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the terraform binary offline (no checkpoint call, no prompts)."""
    assert TERRAFORM_BIN is not None, "the terraform binary is not installed"
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}
    return subprocess.run([TERRAFORM_BIN, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
