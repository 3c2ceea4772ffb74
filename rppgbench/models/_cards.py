"""Read the model contracts of a model module without importing it (and so without importing torch).

A model module registers its entrypoints with ``@register_model(<cfg>)``. This module parses the module's
source and evaluates each ``<cfg>`` expression with a small, closed evaluator, so that ``rppgbench ls models``,
``rppgbench validate`` and the runner's planning step know every contract while torch stays unimported.
The module is imported for real only when a model is built (:func:`rppgbench.models.create_model`); at that
point the decorator checks that the contract it receives equals the one read here, so the two can never drift.

What a ``<cfg>`` expression may use (anything else is an error naming the file and line):

- literals: numbers, strings (f-strings too), ``None``/``True``/``False``, tuples, lists, dicts, sets;
- names bound at module level by a plain assignment (``_PAPER = "..."``, ``_BASE = ModelCfg(...)``), whose value
  is itself such an expression;
- ``ModelCfg(...)``, ``dict(...)``, ``<cfg>.replace(...)``, ``**mapping`` in calls and dict displays,
  subscripts of literal mappings/sequences (``PAPERS["pos"]``), ``+`` (strings, numbers, tuples, lists),
  unary ``-`` and ``*``/``/`` on numbers.
"""
from __future__ import annotations

import ast
import importlib.util
import operator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Card", "CardError", "read_cards"]


class CardError(ValueError):
    """A model module whose contracts cannot be read statically."""


@dataclass(frozen=True)
class Card:
    """One registered entrypoint as read from source: ``module:function`` and its contract."""

    module: str
    function: str
    cfg: Any  # ModelCfg
    path: str
    line: int

    @property
    def target(self) -> str:
        return f"{self.module}:{self.function}"


_BINOPS = {ast.Add: operator.add, ast.Mult: operator.mul, ast.Div: operator.truediv, ast.Sub: operator.sub}
_MISSING = object()


class _Evaluator:
    def __init__(self, tree: ast.Module, path: str, model_cfg_cls: type) -> None:
        self.path = path
        self.cls = model_cfg_cls
        self.assigned: dict[str, ast.expr] = {}
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                self.assigned[node.targets[0].id] = node.value
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
                self.assigned[node.target.id] = node.value
        self.cache: dict[str, Any] = {}
        self.resolving: set[str] = set()

    def fail(self, node: ast.AST, what: str) -> CardError:
        return CardError(f"{self.path}:{getattr(node, 'lineno', '?')}: a register_model(...) contract must be "
                         f"built from literals, module-level constants, ModelCfg(...), dict(...) and "
                         f".replace(...); found {what}")

    def name(self, node: ast.Name) -> Any:
        if node.id in ("None", "True", "False"):
            return {"None": None, "True": True, "False": False}[node.id]
        if node.id in self.cache:
            return self.cache[node.id]
        if node.id not in self.assigned:
            raise self.fail(node, f"the name {node.id!r}, which is not a module-level constant")
        if node.id in self.resolving:
            raise self.fail(node, f"a circular definition of {node.id!r}")
        self.resolving.add(node.id)
        try:
            value = self.eval(self.assigned[node.id])
        finally:
            self.resolving.discard(node.id)
        self.cache[node.id] = value
        return value

    def kwargs(self, call: ast.Call) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for kw in call.keywords:
            if kw.arg is None:
                value = self.eval(kw.value)
                if not isinstance(value, dict):
                    raise self.fail(kw, "** applied to something that is not a mapping")
                out.update(value)
            else:
                out[kw.arg] = self.eval(kw.value)
        return out

    def call(self, node: ast.Call) -> Any:
        func = node.func
        if isinstance(func, ast.Name) and func.id in ("ModelCfg", "dict"):
            args = [self.eval(a) for a in node.args]
            kwargs = self.kwargs(node)
            if func.id == "ModelCfg":
                return self.cls(*args, **kwargs)
            return dict(*args, **kwargs)
        if isinstance(func, ast.Attribute) and func.attr == "replace" and not node.args:
            base = self.eval(func.value)
            if isinstance(base, self.cls):
                return base.replace(**self.kwargs(node))
        raise self.fail(node, f"the call {ast.unparse(node)[:60]!r}")

    def eval(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            items = []
            for elt in node.elts:
                if isinstance(elt, ast.Starred):
                    items.extend(self.eval(elt.value))
                else:
                    items.append(self.eval(elt))
            return {ast.Tuple: tuple, ast.List: list, ast.Set: set}[type(node)](items)
        if isinstance(node, ast.Dict):
            out: dict[Any, Any] = {}
            for k, v in zip(node.keys, node.values, strict=True):
                if k is None:
                    out.update(self.eval(v))
                else:
                    out[self.eval(k)] = self.eval(v)
            return out
        if isinstance(node, ast.JoinedStr):
            parts = []
            for v in node.values:
                if isinstance(v, ast.FormattedValue):
                    spec = self.eval(v.format_spec) if v.format_spec is not None else ""
                    parts.append(format(self.eval(v.value), spec))
                else:
                    parts.append(self.eval(v))
            return "".join(parts)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](self.eval(node.left), self.eval(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -self.eval(node.operand)
        if isinstance(node, ast.Subscript):
            container = self.eval(node.value)
            if isinstance(container, (dict, tuple, list, str)):
                return container[self.eval(node.slice)]
        if isinstance(node, ast.Call):
            return self.call(node)
        raise self.fail(node, f"the expression {ast.unparse(node)[:60]!r}")


def _decorator_cfg(dec: ast.expr) -> ast.expr | None:
    """The contract expression of ``@register_model(cfg)`` (or ``@<x>.register_model(cfg)``), else None."""
    if not isinstance(dec, ast.Call):
        return None
    f = dec.func
    name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
    if name != "register_model":
        return None
    if len(dec.args) != 1 or dec.keywords:
        raise CardError(f"line {dec.lineno}: register_model takes exactly one ModelCfg argument")
    return dec.args[0]


def read_cards(module: str, model_cfg_cls: type) -> list[Card]:
    """Every ``@register_model`` entrypoint of ``module`` with its contract, read from source."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        raise CardError(f"model module {module!r} is not a Python source file that can be found "
                        f"(find_spec gave {getattr(spec, 'origin', None)!r})")
    path = spec.origin
    tree = ast.parse(Path(path).read_text(encoding="utf-8"), filename=path)
    ev = _Evaluator(tree, path, model_cfg_cls)
    cards = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for dec in node.decorator_list:
            try:
                expr = _decorator_cfg(dec)
            except CardError as exc:
                raise CardError(f"{path}:{exc}") from None
            if expr is None:
                continue
            try:
                cfg = ev.eval(expr)
            except CardError:
                raise
            except Exception as exc:  # a ModelCfg validation error, a bad ** mapping, a missing key ...
                raise CardError(f"{path}:{dec.lineno}: the contract of {node.name}() cannot be built: "
                                f"{type(exc).__name__}: {exc}") from None
            if not isinstance(cfg, model_cfg_cls):
                raise ev.fail(dec, f"a {type(cfg).__name__} where a ModelCfg was expected")
            cards.append(Card(module=module, function=node.name, cfg=cfg, path=path, line=dec.lineno))
    return cards
