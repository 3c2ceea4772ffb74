"""Paths and settings, resolved in the order: explicit argument → environment variable → default.

Known keys (environment variables):

``RPPGBENCH_DATA``
    Root of prepared stores (default ``~/.cache/rppgbench/data``); a store lives at
    ``$RPPGBENCH_DATA/<dataset>/<store_key[:16]>.zarr`` (``rppgbench.store.store_path``).
``RPPGBENCH_RAW_<DATASET>``
    Raw download of a dataset, e.g. ``RPPGBENCH_RAW_PURE=/data/PURE`` (used by ``run`` to prepare a missing store).
``RPPGBENCH_RESULTS``
    Default parent of run outputs (default ``./results``).
"""
from __future__ import annotations

import os
from pathlib import Path

KNOWN_KEYS = ("RPPGBENCH_DATA", "RPPGBENCH_RESULTS", "RPPGBENCH_RAW_<DATASET>")


def data_root(path: str | os.PathLike | None = None) -> Path:
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get("RPPGBENCH_DATA")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "rppgbench" / "data"


def results_root(path: str | os.PathLike | None = None) -> Path:
    if path is not None:
        return Path(path).expanduser()
    return Path(os.environ.get("RPPGBENCH_RESULTS", "results")).expanduser()


def raw_root(dataset: str, path: str | os.PathLike | None = None) -> Path | None:
    """Raw-data folder of ``dataset`` from the argument or ``RPPGBENCH_RAW_<DATASET>``; None when unknown."""
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get(f"RPPGBENCH_RAW_{dataset.upper()}")
    return Path(env).expanduser() if env else None
