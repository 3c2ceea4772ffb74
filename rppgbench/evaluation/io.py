"""Prediction files: ``.npz`` (keys ``pred__<id>``, ``label__<id>``, optional ``fs``) or long-form ``.csv``
(columns ``recording, pred, label`` and optionally ``sample``). See docs/metrics.md.

:func:`read_npz` is the one parser of the ``.npz`` prediction format: the files ``rppgbench run`` writes
(``rppgbench.results.io.read_predictions`` adds their required keys), leaderboard submissions
(``rppgbench.leaderboard``) and other toolboxes' files scored by ``rppgbench metrics`` (:func:`load_predictions`)
are all read through it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rppgbench._checks import DataError
from rppgbench._util import atomic_write

__all__ = ["Predictions", "NpzContents", "read_npz", "load_predictions", "save_predictions", "PRED_PREFIX",
           "LABEL_PREFIX", "ARRAY_KINDS"]

PRED_PREFIX = "pred__"
LABEL_PREFIX = "label__"
#: per-recording arrays of the format: ``<kind>__<recording id>`` (``hr_*``: per-window HR, written by ``run``)
ARRAY_KINDS = ("pred", "label", "hr_pred", "hr_ref")


@dataclass
class NpzContents:
    """What :func:`read_npz` found: ``arrays[kind][recording id]`` as stored (dtype and shape untouched, for the
    callers' own checks), ``fs`` and ``recording_ids`` when present, and every key outside the format."""

    path: Path
    fs: float | None
    recording_ids: list[str] | None
    arrays: dict[str, dict[str, np.ndarray]]
    unknown: list[str]


def _kind_of(key: str) -> tuple[str, str] | None:
    # longest prefix first: "hr_pred__x" is an hr_pred array, not a pred array of "hr_" ...
    for kind in sorted(ARRAY_KINDS, key=len, reverse=True):
        prefix = f"{kind}__"
        if key.startswith(prefix) and len(key) > len(prefix):
            return kind, key[len(prefix):]
    return None


def read_npz(path: str | Path, *, max_bytes: int | None = None, error: type[Exception] = DataError,
             **budget: int) -> NpzContents:
    """Parse a predictions ``.npz`` without pickles, through :func:`rppgbench._npz.open_npz` (zip directory and
    ``.npy`` headers checked against budgets before any array is decompressed: a small compressed file cannot
    unpack into gigabytes). ``max_bytes`` bounds the file and the sum of its unpacked members; ``budget`` passes
    ``max_members`` / ``max_member_bytes`` / ``max_total_bytes`` on. Errors are ``error`` and name the file."""
    from rppgbench._npz import open_npz

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"prediction file not found: {path}")

    def fail(msg: str) -> Exception:
        return DataError(msg, path=path) if error is DataError else error(f"{path}: {msg}")

    if max_bytes is not None:
        size = path.stat().st_size
        if size > max_bytes:
            raise fail(f"file is {size} bytes; the limit is {max_bytes} bytes")
        budget["max_total_bytes"] = min(budget.get("max_total_bytes", max_bytes), max_bytes)
    out = NpzContents(path=path, fs=None, recording_ids=None, arrays={k: {} for k in ARRAY_KINDS}, unknown=[])
    with open_npz(path, error=error, **budget) as z:
        for key in z.files:
            if key == "fs":
                fs = np.asarray(z[key])
                if fs.size != 1 or not np.issubdtype(fs.dtype, np.number) or not np.isfinite(fs).all() \
                        or not float(fs.reshape(-1)[0]) > 0:
                    raise fail(f"key 'fs': fs must be one finite number > 0 (Hz); found dtype {fs.dtype} "
                               f"shape {fs.shape}")
                out.fs = float(fs.reshape(-1)[0])
            elif key == "recording_ids":
                shape, dtype = z.header(key)
                if len(shape) != 1 or dtype.kind not in "US":
                    raise fail(f"key 'recording_ids' must be a 1-D array of strings; found dtype {dtype} "
                               f"shape {shape}")
                out.recording_ids = [str(r) for r in z[key]]
            elif (hit := _kind_of(key)) is not None:
                out.arrays[hit[0]][hit[1]] = z[key]
            else:
                out.unknown.append(key)
    return out


class Predictions(dict):
    """``{recording id: (pred, label)}`` read from a file; ``fs`` is the file's sampling rate or None."""

    fs: float | None = None
    path: Path | None = None


def save_predictions(path: str | Path, signals: Mapping[str, tuple[np.ndarray, np.ndarray]],
                     fs: float | None = None) -> Path:
    """Write ``signals`` to an ``.npz`` file in the layout :func:`load_predictions` reads (float64).

    The file is written to a temporary name and renamed, so a half-written file is never visible.
    """
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"save_predictions writes .npz files; got {path}")
    arrays: dict[str, np.ndarray] = {}
    for rid, (pred, label) in signals.items():
        arrays[PRED_PREFIX + str(rid)] = np.asarray(pred, dtype=np.float64)
        arrays[LABEL_PREFIX + str(rid)] = np.asarray(label, dtype=np.float64)
    if fs is not None:
        arrays["fs"] = np.asarray(float(fs))
    return atomic_write(path, lambda tmp: np.savez(tmp, **arrays))


def _load_npz(path: Path) -> Predictions:
    npz = read_npz(path)
    if npz.unknown:
        raise DataError(f"unexpected key {npz.unknown[0]!r}; expected 'pred__<id>', 'label__<id>' or 'fs'", path=path)
    preds, labels = npz.arrays["pred"], npz.arrays["label"]  # hr_* and recording_ids: HR is recomputed here
    for rid in preds:
        if rid not in labels:
            raise DataError(f"key 'pred__{rid}' has no matching 'label__{rid}'", path=path)
    for rid in labels:
        if rid not in preds:
            raise DataError(f"key 'label__{rid}' has no matching 'pred__{rid}'", path=path)
    out = Predictions()
    out.fs = npz.fs
    for rid in preds:
        p, lab = np.squeeze(preds[rid]), np.squeeze(labels[rid])
        for key, a in ((PRED_PREFIX + rid, p), (LABEL_PREFIX + rid, lab)):
            if a.ndim != 1 or not np.issubdtype(a.dtype, np.number):
                raise DataError(f"key {key!r} must be a 1-D numeric array; got {a.dtype} shape {a.shape}", path=path)
        out[rid] = (p.astype(np.float64), lab.astype(np.float64))
    return out


def _load_csv(path: Path) -> Predictions:
    import pandas as pd

    try:
        df = pd.read_csv(path, dtype={"recording": str})
    except Exception as exc:
        raise DataError(f"cannot read as CSV: {exc}", path=path) from exc
    missing = [c for c in ("recording", "pred", "label") if c not in df.columns]
    if missing:
        raise DataError(f"missing column(s) {missing}; expected recording, pred, label[, sample]; "
                        f"found {list(df.columns)}", path=path)
    extra = [c for c in df.columns if c not in ("recording", "pred", "label", "sample")]
    if extra:
        raise DataError(f"unexpected column(s) {extra}; expected recording, pred, label[, sample]", path=path)
    if df["recording"].isna().any():
        row = int(np.flatnonzero(df["recording"].isna().to_numpy())[0])
        raise DataError(f"empty 'recording' in data row {row + 1}", path=path)
    for col in ("pred", "label"):
        vals = pd.to_numeric(df[col], errors="coerce")
        if vals.isna().any():
            row = int(np.flatnonzero(vals.isna().to_numpy())[0])
            raise DataError(f"column {col!r} has a missing or non-numeric value in data row {row + 1} "
                            f"(recording {df['recording'].iloc[row]})", path=path)
        df[col] = vals.astype(np.float64)
    out = Predictions()
    for rid, grp in df.groupby("recording", sort=False):
        if "sample" in df.columns:
            s = pd.to_numeric(grp["sample"], errors="coerce")
            if s.isna().any() or not np.array_equal(np.sort(s.to_numpy()), np.arange(len(grp))):
                raise DataError(f"column 'sample' of recording {rid} must hold 0..{len(grp) - 1} exactly once",
                                path=path)
            grp = grp.iloc[np.argsort(s.to_numpy(), kind="stable")]
        out[str(rid)] = (grp["pred"].to_numpy(np.float64), grp["label"].to_numpy(np.float64))
    return out


def load_predictions(path: str | Path) -> Predictions:
    """Read ``{recording id: (pred, label)}`` from an ``.npz`` or ``.csv`` file (see module docstring).

    Errors (:class:`~rppgbench._checks.DataError`) name the file and the offending key, column or row.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"prediction file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        out = _load_npz(path)
    elif suffix == ".csv":
        out = _load_csv(path)
    else:
        raise DataError(f"unsupported prediction file type {suffix!r}; expected .npz or .csv", path=path)
    if not out:
        raise DataError("contains no recordings", path=path)
    out.path = path
    return out
