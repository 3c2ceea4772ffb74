"""Prediction files: ``.npz`` (keys ``pred__<id>``, ``label__<id>``, optional ``fs``) or long-form ``.csv``
(columns ``recording, pred, label`` and optionally ``sample``). See docs/metrics.md."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from rppgbench._checks import DataError

__all__ = ["Predictions", "load_predictions", "save_predictions", "PRED_PREFIX", "LABEL_PREFIX"]

PRED_PREFIX = "pred__"
LABEL_PREFIX = "label__"


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
    tmp = path.with_name(path.name + ".partial.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
    return path


#: keys of a run's predictions file that describe, not define, the signals: skipped when scoring
_RUN_KEYS = ("recording_ids",)
_RUN_PREFIXES = ("hr_pred__", "hr_ref__")


def _load_npz(path: Path) -> Predictions:
    from rppgbench._npz import open_npz

    out = Predictions()
    with open_npz(path) as z:  # budgets, zip/npy headers checked first; errors name the file and key
        preds: dict[str, np.ndarray] = {}
        labels: dict[str, np.ndarray] = {}
        for key in z.files:
            if key == "fs":
                fs = np.asarray(z[key])
                if fs.size != 1 or not np.issubdtype(fs.dtype, np.number) or not np.isfinite(fs).all() \
                        or not float(fs.reshape(-1)[0]) > 0:
                    raise DataError(f"key 'fs' must be one finite number > 0; got dtype {fs.dtype} shape {fs.shape}",
                                    path=path)
                out.fs = float(fs.reshape(-1)[0])
            elif key in _RUN_KEYS or key.startswith(_RUN_PREFIXES):
                continue  # written by `rppgbench run` (docs/results_format.md); HR is recomputed here
            elif key.startswith(PRED_PREFIX) and len(key) > len(PRED_PREFIX):
                preds[key[len(PRED_PREFIX):]] = z[key]
            elif key.startswith(LABEL_PREFIX) and len(key) > len(LABEL_PREFIX):
                labels[key[len(LABEL_PREFIX):]] = z[key]
            else:
                raise DataError(f"unexpected key {key!r}; expected 'pred__<id>', 'label__<id>' or 'fs'", path=path)
    for rid in preds:
        if rid not in labels:
            raise DataError(f"key 'pred__{rid}' has no matching 'label__{rid}'", path=path)
    for rid in labels:
        if rid not in preds:
            raise DataError(f"key 'label__{rid}' has no matching 'pred__{rid}'", path=path)
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
