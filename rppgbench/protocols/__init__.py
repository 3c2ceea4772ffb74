"""Paper protocols as data (torch-free).

A protocol is a YAML file ``protocols/<family>/<name>.yaml`` (shared parts in ``protocols/_base/``) that states
datasets with their preprocessing recipe, explicit train/valid/test splits, models, training and evaluation
settings and the paper's published numbers. See :mod:`rppgbench.protocols.schema` for the keys.

>>> from rppgbench.protocols import load_protocol, list_protocols
>>> p = load_protocol("ubfc_rppg_intra")          # by name, searched under the protocols root
>>> p.protocol_hash                                 # sha256 of the canonical resolved JSON
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rppgbench._checks import ProtocolError
from rppgbench._util import did_you_mean
from rppgbench.protocols.schema import (
    SPLIT_NAMES,
    Citation,
    DatasetSpec,
    EvaluationSpec,
    ModelSpec,
    Protocol,
    SplitPart,
    TrainingSpec,
    load_protocol_file,
)
from rppgbench.protocols.splits import ResolvedSplits, canonical_subject, resolve_splits

__all__ = ["Protocol", "DatasetSpec", "SplitPart", "ModelSpec", "TrainingSpec", "EvaluationSpec", "Citation",
           "ResolvedSplits", "SPLIT_NAMES", "load_protocol", "list_protocols", "resolve_splits", "protocols_root",
           "find_protocol", "canonical_subject"]


def protocols_root(root: str | os.PathLike | None = None) -> Path:
    """Folder holding protocol families: ``root`` → ``$RPPGBENCH_PROTOCOLS`` → the source tree's ``protocols/``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("RPPGBENCH_PROTOCOLS")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parent.parent.parent / "protocols"


def _protocol_files(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*.yaml")
                  if not any(part.startswith("_") for part in p.relative_to(root).parts))


def find_protocol(name_or_path: str | os.PathLike, root: str | os.PathLike | None = None) -> Path:
    """The file of a protocol given as a path (``protocols/x/y.yaml``) or a name (``ubfc_rppg_intra``)."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.is_file():
        if not p.is_file():
            raise FileNotFoundError(f"protocol file {p} does not exist")
        return p
    rootp = protocols_root(root)
    hits = [f for f in _protocol_files(rootp) if f.stem == str(name_or_path)]
    if len(hits) > 1:
        raise ProtocolError(f"protocol name {name_or_path!r} is ambiguous under {rootp}: "
                            f"{', '.join(str(h) for h in hits)}")
    if not hits:
        hint = did_you_mean(name_or_path, [f.stem for f in _protocol_files(rootp)])
        raise ProtocolError(f"unknown protocol {str(name_or_path)!r} under {rootp}{hint} "
                            f"(`rppgbench ls protocols` lists them)")
    return hits[0]


def load_protocol(name_or_path: str | os.PathLike, root: str | os.PathLike | None = None) -> Protocol:
    """Load, include-resolve and strictly validate a protocol by name or path (no data or registry needed)."""
    return load_protocol_file(find_protocol(name_or_path, root), root)


def list_protocols(root: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Every protocol under the root: ``[{name, version, path, citation, family}]`` sorted by name.

    A file that fails validation is listed with ``version`` None and its error under ``error``.
    """
    out = []
    rootp = protocols_root(root)
    for f in _protocol_files(rootp):
        entry: dict[str, Any] = {"name": f.stem, "path": str(f), "family": f.parent.name}
        try:
            p = load_protocol_file(f, rootp)
            entry.update(version=p.version, citation=p.citation.paper, error=None)
        except (ProtocolError, FileNotFoundError) as exc:
            entry.update(version=None, citation="", error=str(exc))
        out.append(entry)
    return sorted(out, key=lambda e: e["name"])
