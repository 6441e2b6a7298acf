"""A small interpreter for the subset of Cloud Workflows that workflows/first_launch.yaml uses.

Cloud Workflows has no local emulator, so the tests run the definition here. Supported, and
nothing more: ``main`` and subworkflows with ``params``; steps ``assign`` (including
``name[key]`` and ``name.key`` targets), ``call`` (subworkflows and connectors, ``args``,
``result``), ``switch`` (``condition`` with ``next``, ``return``, ``raise`` or ``steps``),
``return``, ``raise``, ``next``, ``try``/``except`` (``as``, ``steps``), ``for`` (``value``,
``in``, ``steps``) and ``parallel`` (``shared``, ``for``); expressions ``${...}`` with literals
(lists too), variables, ``.key`` / ``[key]`` access, ``+``, comparisons, ``in``,
``and``/``or``/``not`` and the functions listed in :data:`FUNCTIONS`. Workflows scoping is
followed as documented: a variable first assigned inside a ``for`` or ``parallel`` iteration or
inside an ``except`` block stays local to it (reading it afterwards fails), and only ``shared``
variables flow out of a parallel iteration.

Parallel iterations run one after another, in order: the definition must not depend on timing.
Connector calls go to the handlers given to :class:`Runtime` (in the tests: the real Firestore
emulator over REST and the Dataflow stand-in over gRPC); each call is recorded.
"""

from __future__ import annotations

import ast
import copy
import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Connector = Callable[[dict[str, Any]], Any]
EXPR = re.compile(r"^\$\{(.*)\}$", re.DOTALL)


class WorkflowError(Exception):
    """An exception inside the workflow; ``value`` is what ``except: as: e`` binds."""

    def __init__(self, value: Any) -> None:
        super().__init__(value)
        self.value = value


def http_error(code: int, message: str) -> WorkflowError:
    """The map a connector raises for an HTTP status >= 400 (tags include HttpError)."""
    return WorkflowError({"code": code, "message": message, "tags": ["HttpError"], "body": {}})


def _map_get(mapping: Any, keys: Any) -> Any:
    path = keys if isinstance(keys, list) else [keys]
    value = mapping
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def _string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "json.decode": lambda text: json.loads(text),
    "keys": lambda mapping: list(mapping.keys()),
    "map.get": _map_get,
    "default": lambda value, fallback: fallback if value is None else value,
    "string": _string,
    "time.format": lambda seconds: dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat().replace("+00:00", "Z"),
    "sys.now": lambda: dt.datetime.now(dt.UTC).timestamp(),
    "len": len,
}
NAMES = {"null": None, "true": True, "false": False}


@dataclass
class _Jump(Exception):
    target: str


@dataclass
class _Return(Exception):
    value: Any


class Runtime:
    """Runs one workflow definition against the given connectors and environment."""

    def __init__(self, definition: Mapping[str, Any], env: Mapping[str, str], connectors: Mapping[str, Connector]):
        self.definition = definition
        self.env = dict(env)
        self.connectors = dict(connectors)
        self.calls: list[tuple[str, dict[str, Any]]] = []

    # -- expressions -------------------------------------------------------------------------------
    def evaluate(self, value: Any, scope: Mapping[str, Any]) -> Any:
        """Resolve ``${...}`` strings anywhere inside a YAML value."""
        if isinstance(value, str):
            match = EXPR.match(value)
            return self._expr(match.group(1), scope) if match else value
        if isinstance(value, list):
            return [self.evaluate(v, scope) for v in value]
        if isinstance(value, dict):
            return {k: self.evaluate(v, scope) for k, v in value.items()}
        return value

    def _expr(self, text: str, scope: Mapping[str, Any]) -> Any:
        return self._node(ast.parse(text.strip(), mode="eval").body, scope)

    def _node(self, node: ast.AST, scope: Mapping[str, Any]) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.List):  # e.g. map.get(m, ["a", "b"]) (Workflows map.get docs)
            return [self._node(e, scope) for e in node.elts]
        if isinstance(node, ast.Name):
            if node.id in NAMES:
                return NAMES[node.id]
            if node.id not in scope:
                raise WorkflowError({"message": f"undefined variable {node.id}", "tags": ["KeyError"]})
            return scope[node.id]
        if isinstance(node, ast.Attribute):
            base = self._node(node.value, scope)
            return self._key(base, node.attr)
        if isinstance(node, ast.Subscript):
            return self._key(self._node(node.value, scope), self._node(node.slice, scope))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self._node(node.left, scope), self._node(node.right, scope)
            if isinstance(left, str) != isinstance(right, str):
                raise WorkflowError({"message": "+ of a string and a non-string", "tags": ["TypeError"]})
            return left + right
        if isinstance(node, ast.BoolOp):
            if isinstance(node.op, ast.And):
                return all(self._node(v, scope) for v in node.values)  # short-circuits like Workflows
            return any(self._node(v, scope) for v in node.values)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return not self._node(node.operand, scope)
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            left, right = self._node(node.left, scope), self._node(node.comparators[0], scope)
            op = node.ops[0]
            ops = {ast.Eq: lambda: left == right, ast.NotEq: lambda: left != right, ast.In: lambda: left in right}
            ops[ast.NotIn] = lambda: left not in right
            if type(op) not in ops:
                raise NotImplementedError(f"comparison {type(op).__name__}")
            return ops[type(op)]()
        if isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            args = [self._node(a, scope) for a in node.args]
            if name == "sys.get_env":
                return self.env.get(args[0])
            if name not in FUNCTIONS:
                raise NotImplementedError(f"function {name}")
            return FUNCTIONS[name](*args)
        raise NotImplementedError(f"expression node {type(node).__name__}: {ast.unparse(node)}")

    @staticmethod
    def _key(base: Any, key: Any) -> Any:
        try:
            return base[key]
        except (KeyError, IndexError, TypeError):
            raise WorkflowError({"message": f"key {key!r} not found", "tags": ["KeyError"]}) from None

    # -- steps -------------------------------------------------------------------------------------
    def run(self, args: Any = None) -> Any:
        return self.call_subworkflow("main", {} if args is None else {"args": args})

    def call_subworkflow(self, name: str, args: Mapping[str, Any]) -> Any:
        body = self.definition[name]
        scope = {p: args[p] for p in body.get("params", []) if p in args}
        try:
            self._steps(body["steps"], scope)
        except _Return as ret:
            return ret.value
        return None

    def _steps(self, steps: list[dict[str, Any]], scope: dict[str, Any]) -> None:
        names = [next(iter(s)) for s in steps]
        i = 0
        while i < len(steps):
            step = steps[i][names[i]]
            try:
                self._step(step, scope)
            except _Jump as jump:
                if jump.target == "end":
                    raise _Return(None) from None
                if jump.target not in names:
                    raise
                i = names.index(jump.target)
                continue
            if "next" in step:
                if step["next"] == "end":
                    raise _Return(None)
                i = names.index(step["next"])
                continue
            i += 1

    def _step(self, step: dict[str, Any], scope: dict[str, Any]) -> None:
        if "assign" in step:
            for item in step["assign"]:
                ((target, value),) = item.items()
                self._assign(target, self.evaluate(value, scope), scope)
        if "call" in step:
            result = self._call(step["call"], self.evaluate(step.get("args", {}), scope))
            if "result" in step:
                scope[step["result"]] = result
        if "switch" in step:
            for case in step["switch"]:
                if self.evaluate(case["condition"], scope):
                    self._branch(case, scope)
                    break
        if "try" in step:
            self._try(step, scope)
        if "for" in step:
            self._for(step["for"], scope, shared=None)
        if "parallel" in step:
            par = step["parallel"]
            self._for(par["for"], scope, shared=set(par.get("shared", [])))
        if "steps" in step and "try" not in step:
            self._steps(step["steps"], scope)
        if "return" in step:
            raise _Return(self.evaluate(step["return"], scope))
        if "raise" in step:
            raise WorkflowError(self.evaluate(step["raise"], scope))

    def _branch(self, case: dict[str, Any], scope: dict[str, Any]) -> None:
        if "steps" in case:
            self._steps(case["steps"], scope)
        if "return" in case:
            raise _Return(self.evaluate(case["return"], scope))
        if "raise" in case:
            raise WorkflowError(self.evaluate(case["raise"], scope))
        if "next" in case:
            raise _Jump(case["next"])

    def _try(self, step: dict[str, Any], scope: dict[str, Any]) -> None:
        body, handler = step["try"], step["except"]
        try:
            if "steps" in body:
                self._steps(body["steps"], scope)
            else:
                self._step(body, scope)
        except WorkflowError as exc:
            # Workflows docs, https://cloud.google.com/workflows/docs/reference/syntax/catching-errors
            # ("Variable scope"): "A variable created inside an except block belongs to the local
            # scope of that block, and is accessible only in that scope ... assign the variable
            # before the block to place it in the surrounding scope." So the handler runs in a
            # child scope: assignments to outer variables flow out, new variables (and ``as``) die.
            self._in_child_scope(handler["steps"], scope, {handler["as"]: exc.value}, shared=None)

    def _for(self, loop: dict[str, Any], scope: dict[str, Any], shared: set[str] | None) -> None:
        # Workflows docs, https://cloud.google.com/workflows/docs/reference/syntax/variables
        # ("Variable scope"): "A variable created inside a for loop belongs to the local scope of
        # that loop, and is accessible only in that scope." A parallel iteration sees copies of
        # the outer variables, and only ``shared`` ones flow back out.
        for item in self.evaluate(loop["in"], scope):
            self._in_child_scope(loop["steps"], scope, {loop["value"]: item}, shared=shared)

    def _in_child_scope(
        self, steps: list[dict[str, Any]], scope: dict[str, Any], bound: dict[str, Any], shared: set[str] | None
    ) -> None:
        """Run ``steps`` in a scope nested in ``scope``: only variables that already existed outside
        (all of them, or the ``shared`` ones for a parallel branch) keep what the steps assign."""
        inner = dict(scope) if shared is None else copy.deepcopy(scope)
        inner.update(bound)
        try:
            self._steps(steps, inner)
        finally:
            for name in scope:
                if shared is None or name in shared:
                    scope[name] = inner[name]

    def _assign(self, target: str, value: Any, scope: dict[str, Any]) -> None:
        match = re.fullmatch(r"(\w+)(?:\[(.+)\]|\.(\w+))?", target)
        if not match:
            raise NotImplementedError(f"assignment target {target}")
        name, index, attr = match.groups()
        if index is None and attr is None:
            scope[name] = value
            return
        key = self._expr(index, scope) if index is not None else attr
        container = copy.deepcopy(scope[name])  # Workflows variables are values, not references
        container[key] = value
        scope[name] = container

    def _call(self, name: str, args: dict[str, Any]) -> Any:
        if name in self.definition:
            return self.call_subworkflow(name, args)
        if name not in self.connectors:
            raise NotImplementedError(f"call {name}")
        self.calls.append((name, copy.deepcopy(args)))
        return self.connectors[name](args)
