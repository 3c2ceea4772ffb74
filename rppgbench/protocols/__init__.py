"""Paper protocols as data (torch-free).

A protocol is a YAML file ``<family>/<name>.yaml`` (shared parts in ``_base/``) that states datasets with their
preprocessing recipe, explicit train/valid/test splits, models, training and evaluation settings and the paper's
published numbers. See :mod:`rppgbench.protocols.schema` for the keys. The protocols shipped with rppgbench live
in the package, ``rppgbench/protocols/library/`` (so a wheel install has them); ``--protocols-root`` or
``$RPPGBENCH_PROTOCOLS`` points at another folder of families.

A protocol is named by its file stem (``ubfc_rppg_intra``) or given as a path. A ``.yaml`` path that does not
exist is looked up by its stem under the protocols root, so ``protocols/intra/ubfc_rppg_intra.yaml`` (the layout
of older checkouts and papers' instructions) still finds the shipped file.

>>> from rppgbench.protocols import load_protocol, list_protocols
>>> p = load_protocol("ubfc_rppg_intra")          # by name, searched under the protocols root
>>> p.protocol_hash                                 # sha256 of the canonical resolved JSON
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rppgbench import config
from rppgbench._checks import ProtocolError
from rppgbench._logging import logger
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
           "LIBRARY", "find_protocol", "canonical_subject"]


#: the protocols shipped with the package (package data: every family folder and its README)
LIBRARY = Path(__file__).resolve().parent / "library"


def protocols_root(root: str | os.PathLike | None = None) -> Path:
    """Folder holding protocol families: ``root`` → ``$RPPGBENCH_PROTOCOLS`` → the package's :data:`LIBRARY`."""
    return config.resolve_path(root, "RPPGBENCH_PROTOCOLS", LIBRARY)


def _protocol_files(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*.yaml")
                  if not any(part.startswith("_") for part in p.relative_to(root).parts))


def _by_name(name: str, root: Path, missing_file: Path | None = None) -> Path:
    files = _protocol_files(root)
    hits = [f for f in files if f.stem == name]
    if len(hits) > 1:
        raise ProtocolError(f"protocol name {name!r} is ambiguous under {root}: {', '.join(str(h) for h in hits)}")
    if not hits:
        hint = did_you_mean(name, [f.stem for f in files])
        what = (f"protocol file {missing_file} does not exist and there is no protocol named {name!r}"
                if missing_file is not None else f"unknown protocol {name!r}")
        raise ProtocolError(f"{what} under {root}{hint} (`rppgbench ls protocols` lists them)")
    return hits[0]


def find_protocol(name_or_path: str | os.PathLike, root: str | os.PathLike | None = None) -> Path:
    """The file of a protocol given as a path (``my/protocol.yaml``) or a name (``ubfc_rppg_intra``).

    An existing file is used as it is. A ``.yaml``/``.yml`` path that does not exist is looked up by its file
    stem under the protocols root (``protocols/intra/ubfc_rppg_intra.yaml`` → ``ubfc_rppg_intra``).
    """
    p = Path(name_or_path)
    if p.is_file():
        return p
    rootp = protocols_root(root)
    if p.suffix in (".yaml", ".yml"):
        hit = _by_name(p.stem, rootp, missing_file=p)
        logger.info("protocol file %s does not exist; using the protocol named %r: %s", p, p.stem, hit)
        return hit
    return _by_name(str(name_or_path), rootp)


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
