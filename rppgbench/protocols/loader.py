"""Read protocol YAML files with line numbers, and resolve ``include:``.

A protocol file is parsed with ``yaml.compose`` (safe: only the standard YAML tags are constructed, through
:class:`yaml.SafeLoader`) so that every key and list item keeps the file and line it came from. Errors found later
by :mod:`rppgbench.protocols.schema` therefore read ``protocols/x.yaml:12: unknown key 'modle' in models[0]; ...``.

``include:`` (a relative path or a list of them, relative to the including file) pulls shared parts in first; the
including file then overrides them: mappings merge key by key (recursively), any other value (scalars, lists) is
replaced as a whole. Includes are resolved recursively; a cycle is an error naming the chain. An include must be a
``.yaml``/``.yml`` file inside the protocols root or inside the folder of the protocol file being loaded.

Budgets (protocol files are input): nesting at most :data:`MAX_DEPTH` levels, at most :data:`MAX_ALIASES` alias
uses and :data:`MAX_NODES` values after alias expansion (a "billion laughs" file of a few hundred bytes is refused
before it is expanded), no recursive alias, no tags other than the standard ones (on mappings and sequences too).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from rppgbench._checks import ProtocolError

__all__ = ["Marks", "load_yaml_with_marks", "load_resolved", "format_path", "location", "display_path", "MAX_DEPTH",
           "MAX_ALIASES", "MAX_NODES"]

MAX_DEPTH = 64
MAX_ALIASES = 1000
MAX_NODES = 100_000

#: path inside the document (keys and list indices) -> (file, 1-based line)
Marks = dict[tuple, tuple[str, int]]


def display_path(path: str | os.PathLike) -> str:
    """``path`` relative to the working directory when it lies below it, else absolute."""
    p = Path(path).resolve()
    try:
        return str(p.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def format_path(path: tuple) -> str:
    """``("models", 0, "name")`` -> ``models[0].name``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def location(marks: Marks, path: tuple, default_file: str) -> str:
    """``file:line`` of ``path`` or of its nearest ancestor that has a mark."""
    for n in range(len(path), -1, -1):
        hit = marks.get(tuple(path[:n]))
        if hit is not None:
            return f"{hit[0]}:{hit[1]}"
    return default_file


class _Budget:
    def __init__(self) -> None:
        self.nodes = 0


def _convert(node: yaml.Node, loader: yaml.SafeLoader, path: tuple, fname: str, marks: Marks,
             budget: _Budget | None = None, active: frozenset = frozenset()) -> Any:
    budget = budget or _Budget()
    budget.nodes += 1
    if budget.nodes > MAX_NODES:
        raise ProtocolError(f"{fname}:{node.start_mark.line + 1}: more than {MAX_NODES} values after expanding "
                            "aliases (an alias bomb?); write the document out instead")
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
        if id(node) in active:
            raise ProtocolError(f"{fname}:{node.start_mark.line + 1}: recursive alias at {format_path(path)} (a node "
                                "that contains itself)")
        active = active | {id(node)}
    if isinstance(node, yaml.MappingNode):
        if node.tag not in ("tag:yaml.org,2002:map",):
            raise ProtocolError(f"{fname}:{node.start_mark.line + 1}: unsupported YAML tag {node.tag!r}")
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise ProtocolError(f"{fname}:{key_node.start_mark.line + 1}: YAML merge keys '<<' are not "
                                    "supported; use include:")
            key = _convert(key_node, loader, path, fname, {}, budget, active)
            if isinstance(key, (dict, list)):
                raise ProtocolError(f"{fname}:{key_node.start_mark.line + 1}: a mapping key must be a scalar")
            if key in out:
                raise ProtocolError(f"{fname}:{key_node.start_mark.line + 1}: duplicate key {key!r} in "
                                    f"{format_path(path)}")
            marks[path + (key,)] = (fname, key_node.start_mark.line + 1)
            out[key] = _convert(value_node, loader, path + (key,), fname, marks, budget, active)
        return out
    if isinstance(node, yaml.SequenceNode):
        if node.tag not in ("tag:yaml.org,2002:seq",):
            raise ProtocolError(f"{fname}:{node.start_mark.line + 1}: unsupported YAML tag {node.tag!r}")
        items = []
        for i, item in enumerate(node.value):
            marks[path + (i,)] = (fname, item.start_mark.line + 1)
            items.append(_convert(item, loader, path + (i,), fname, marks, budget, active))
        return items
    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        raise ProtocolError(f"{fname}:{node.start_mark.line + 1}: {exc}") from exc


def _check_events(text: str, fname: str) -> None:
    """Depth and alias budgets from the event stream (PyYAML's parser is iterative; its composer is recursive
    and would hit Python's recursion limit on a deeply nested file)."""
    depth = aliases = 0
    try:
        for ev in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    raise ProtocolError(f"{fname}:{ev.start_mark.line + 1}: nested more than {MAX_DEPTH} levels deep")
            elif isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
            elif isinstance(ev, yaml.AliasEvent):
                aliases += 1
                if aliases > MAX_ALIASES:
                    raise ProtocolError(f"{fname}:{ev.start_mark.line + 1}: more than {MAX_ALIASES} alias uses")
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else 0
        raise ProtocolError(f"{fname}:{line}: YAML syntax error: {exc.problem}") from None


def load_yaml_with_marks(path: str | os.PathLike) -> tuple[Any, Marks]:
    """Parse one YAML file safely; return ``(data, marks)``. The file must hold exactly one document."""
    path = Path(path)
    fname = display_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"protocol file {fname} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"{fname}: not UTF-8 text (byte {exc.start}: {exc.reason}); save the file as UTF-8") \
            from None
    _check_events(text, fname)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else 0
        raise ProtocolError(f"{fname}:{line}: YAML syntax error: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise ProtocolError(f"{fname}: YAML error: {exc}") from exc
    marks: Marks = {}
    if node is None:
        return {}, marks
    loader = yaml.SafeLoader("")
    data = _convert(node, loader, (), fname, marks)
    marks.setdefault((), (fname, node.start_mark.line + 1))
    return data, marks


def _exists(data: Any, path: tuple) -> bool:
    cur = data
    for part in path:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            cur = cur[part]
        else:
            return False
    return True


def _merge(parent: Any, child: Any) -> Any:
    if isinstance(parent, dict) and isinstance(child, dict):
        out = dict(parent)
        for k, v in child.items():
            out[k] = _merge(parent[k], v) if k in parent else v
        return out
    return child


def _inside(p: Path, roots: tuple[Path, ...]) -> bool:
    return any(p == r or r in p.parents for r in roots)


def load_resolved(path: str | os.PathLike, _stack: tuple[Path, ...] = (),
                  roots: tuple[Path, ...] | None = None) -> tuple[dict, Marks, list[str]]:
    """Load ``path`` and its includes, recursively. Returns ``(data, marks, files)`` where ``files`` lists every
    file read (the protocol first, then includes in resolution order). The ``include`` key is removed.

    ``roots``: the folders includes may read from (default: the folder of ``path``); see the module docstring."""
    path = Path(path).resolve()
    roots = tuple(r.resolve() for r in roots) if roots is not None else (path.parent,)
    if path in _stack:
        chain = " -> ".join(display_path(p) for p in _stack + (path,))
        raise ProtocolError(f"{display_path(_stack[-1])}: include cycle: {chain}")
    data, marks = load_yaml_with_marks(path)
    fname = display_path(path)
    if not isinstance(data, dict):
        raise ProtocolError(f"{fname}:1: a protocol file must be a mapping of keys, got {type(data).__name__}")
    files = [fname]
    includes = data.pop("include", None)
    if includes is None:
        return data, marks, files
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise ProtocolError(f"{location(marks, ('include',), fname)}: include must be a relative path or a list of "
                            f"them; got {includes!r}")
    merged: dict = {}
    merged_marks: Marks = {}
    for i, inc in enumerate(includes):
        if os.path.isabs(inc):
            raise ProtocolError(f"{location(marks, ('include', i), fname)}: include path must be relative to the "
                                f"including file; got absolute {inc!r}")
        target = (path.parent / inc).resolve()
        if not _inside(target, roots):
            raise ProtocolError(f"{location(marks, ('include', i), fname)}: include {inc!r} points outside the "
                                f"protocols root and the protocol's folder ({', '.join(map(display_path, roots))})")
        if target.suffix not in (".yaml", ".yml"):
            raise ProtocolError(f"{location(marks, ('include', i), fname)}: include {inc!r} must be a .yaml file")
        if not target.is_file():
            raise ProtocolError(f"{location(marks, ('include', i), fname)}: included file {inc!r} not found "
                                f"(looked at {display_path(target)})")
        pdata, pmarks, pfiles = load_resolved(target, _stack + (path,), roots)
        merged = _merge(merged, pdata)
        merged_marks.update(pmarks)
        files.extend(f for f in pfiles if f not in files)
    merged = _merge(merged, data)
    merged_marks.update({k: v for k, v in marks.items() if not (k and k[0] == "include")})
    merged_marks = {k: v for k, v in merged_marks.items() if _exists(merged, k)}
    merged_marks[()] = (fname, 1)
    return merged, merged_marks, files
