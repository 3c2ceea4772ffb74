"""Small helpers used across the package (L0: imports nothing from rppgbench, numpy only when needed).

- :func:`atomic_write` / :func:`atomic_write_text`: write a file through a temporary sibling and ``os.replace``,
  so a reader never sees a half-written file;
- :func:`atomic_dir`: build a directory under a temporary name and publish it in one rename;
- :func:`json_clean`: a plain-JSON copy of nested data (numpy → Python, NaN/inf → None, tuples → lists);
- :func:`sha256_file`: hex digest of a file, streamed;
- :func:`natural_key`: sort key that orders embedded integers numerically (``subject2 < subject10``);
- :func:`did_you_mean`: the "; did you mean 'x'?" hint of an unknown-name error;
- :func:`lazy_exports`: a package ``__getattr__`` that imports a submodule when one of its names is first used.
"""
from __future__ import annotations

import contextlib
import difflib
import hashlib
import math
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["atomic_write", "atomic_write_text", "atomic_dir", "json_clean", "sha256_file", "natural_key",
           "did_you_mean", "lazy_exports"]


def _tmp_sibling(path: Path, tag: str) -> Path:
    # keep the suffix last: writers such as matplotlib and numpy pick the format from it
    return path.with_name(f".{path.stem}.{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}{path.suffix}")


def atomic_write(path: str | os.PathLike, data: bytes | Callable[[Path], Any], *, fsync: bool = True) -> Path:
    """Write ``path`` atomically and return it.

    ``data`` is the bytes to write, or a function that writes a file at the temporary path it is given (e.g.
    ``lambda p: torch.save(obj, p)``, ``lambda p: fig.savefig(p)``). The parent folder is created; the temporary
    file is removed when anything fails.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(path, "partial")
    try:
        if callable(data):
            data(tmp)
        else:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                if fsync:
                    os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """:func:`atomic_write` of ``text``."""
    return atomic_write(path, text.encode(encoding))


@contextlib.contextmanager
def atomic_dir(out: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary sibling of ``out``; on normal exit it replaces ``out`` (an existing ``out`` is
    moved aside first and removed afterwards), on an exception it is removed and ``out`` is left untouched."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp = out.parent / f".{out.name}.tmp-{tag}"
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = out.parent / f".{out.name}.old-{tag}"
    if out.exists():
        os.replace(out, old)
    os.replace(tmp, out)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)


def json_clean(obj: Any, *, fallback: Callable[[Any], Any] | None = None) -> Any:
    """A plain-JSON copy of ``obj``: dict keys → str, tuples/lists/arrays → lists, numpy scalars → Python,
    NaN/inf → None, paths → str. Any other object is returned as it is (``json.dumps`` then refuses it), or
    passed through ``fallback`` when one is given (``fallback=str`` stores its text)."""
    if isinstance(obj, dict):
        return {str(k): json_clean(v, fallback=fallback) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_clean(v, fallback=fallback) for v in obj]
    if obj is None or isinstance(obj, (str, bool, int)):
        return obj
    if isinstance(obj, float):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    tolist = getattr(obj, "tolist", None)  # numpy arrays and scalars (not imported here)
    if tolist is not None and type(obj).__module__ == "numpy":
        return json_clean(tolist(), fallback=fallback)
    return obj if fallback is None else fallback(obj)


def sha256_file(path: str | os.PathLike, block: int = 1 << 20) -> str:
    """sha256 hex digest of the file at ``path``, read in blocks of ``block`` bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(block), b""):
            h.update(chunk)
    return h.hexdigest()


_DIGITS = re.compile(r"(\d+)")


def natural_key(text: Any) -> tuple:
    """Sort key that orders digit runs as numbers and letters without regard to case (``subject2 < subject10 <
    Subject11``); the text itself breaks remaining ties, so the order is total and deterministic."""
    s = str(text)
    parts = tuple((0, int(t), "") if t.isdigit() else (1, 0, t.lower()) for t in _DIGITS.split(s) if t)
    return parts, s


def did_you_mean(name: Any, choices: Iterable[str], n: int = 3, cutoff: float = 0.5) -> str:
    """``"; did you mean 'a', 'b'?"`` for the ``choices`` close to ``name``, or ``""`` when none is."""
    close = difflib.get_close_matches(str(name), list(choices), n=n, cutoff=cutoff)
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def lazy_exports(package: str, exports: dict[str, str]) -> None:
    """Make the names of package ``package`` lazy: ``exports`` maps each name to the submodule (relative to the
    package) that defines it, imported when the name is first used. Importing the package then costs nothing and
    importing one submodule no longer imports its siblings (e.g. the evaluation profiles without scipy/pandas).

    A submodule named like the name it exports (``evaluation.evaluate``) does not shadow that name once imported.
    Call it at the end of the package's ``__init__``: ``lazy_exports(__name__, {...})``.
    """
    import importlib
    import sys
    import types

    class _LazyPackage(types.ModuleType):
        def __getattr__(self, name: str) -> Any:
            mod = exports.get(name)
            if mod is None:
                raise AttributeError(f"module {package!r} has no attribute {name!r}")
            value = getattr(importlib.import_module(f"{package}.{mod}"), name)
            setattr(self, name, value)  # later lookups skip __getattr__
            return value

        def __setattr__(self, name: str, value: Any) -> None:
            # importing submodule ``name`` sets it as an attribute of the package: keep the exported name instead
            if isinstance(value, types.ModuleType) and exports.get(name) == name \
                    and value.__name__ == f"{package}.{name}":
                value = getattr(value, name)
            super().__setattr__(name, value)

        def __dir__(self) -> list[str]:
            return sorted(set(super().__dir__()) | set(exports))

    sys.modules[package].__class__ = _LazyPackage
