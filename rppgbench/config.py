"""Paths and settings, resolved in the order: explicit argument → environment variable → default.

Known keys (environment variables):

``RPPGBENCH_DATA``
    Root of prepared stores (default ``~/.cache/rppgbench/data``); a store lives at
    ``$RPPGBENCH_DATA/<dataset>/<store_key[:16]>.zarr`` (``rppgbench.store.store_path``).
``RPPGBENCH_RAW_<DATASET>``
    Raw download of a dataset, e.g. ``RPPGBENCH_RAW_PURE=/data/PURE`` (used by ``run`` to prepare a missing store).
``RPPGBENCH_RESULTS``
    Default parent of run outputs (default ``./results``).
``RPPGBENCH_PROTOCOLS``
    Folder of protocol families read instead of the protocols shipped in the package (``--protocols-root``).
"""
from __future__ import annotations

import os
from pathlib import Path

KNOWN_KEYS = ("RPPGBENCH_DATA", "RPPGBENCH_RESULTS", "RPPGBENCH_RAW_<DATASET>", "RPPGBENCH_PROTOCOLS")


def resolve_path(path: str | os.PathLike | None, key: str, default: Path | None = None) -> Path | None:
    """``path`` when given, else the environment variable ``key`` when set and not empty, else ``default``."""
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get(key)
    return Path(env).expanduser() if env else default


def data_root(path: str | os.PathLike | None = None) -> Path:
    return resolve_path(path, "RPPGBENCH_DATA", Path.home() / ".cache" / "rppgbench" / "data")


def results_root(path: str | os.PathLike | None = None) -> Path:
    return resolve_path(path, "RPPGBENCH_RESULTS", Path("results"))


def raw_root(dataset: str, path: str | os.PathLike | None = None) -> Path | None:
    """Raw-data folder of ``dataset`` from the argument or ``RPPGBENCH_RAW_<DATASET>``; None when unknown."""
    return resolve_path(path, f"RPPGBENCH_RAW_{dataset.upper()}")
