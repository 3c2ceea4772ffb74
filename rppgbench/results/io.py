"""Write and read a run's results directory (docs/results_format.md).

Every file is written under a temporary name in the same folder and renamed into place, so a reader never sees
a half-written ``results.json``, predictions file or pickle.
"""
from __future__ import annotations

import json
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rppgbench._checks import DataError
from rppgbench._util import atomic_write, json_clean
from rppgbench.results.schema import check_results

__all__ = ["RESULTS_FILE", "write_results", "read_results", "write_predictions", "read_predictions",
           "write_toolbox_pickle", "read_toolbox_pickle", "TOOLBOX_LABEL_TYPES"]

RESULTS_FILE = "results.json"
#: rppgbench label views -> rPPG-Toolbox LABEL_TYPE spelling
TOOLBOX_LABEL_TYPES = {"raw": "Raw", "diffnormalized": "DiffNormalized", "standardized": "Standardized"}


def write_results(out_dir: str | os.PathLike, results: Mapping[str, Any]) -> Path:
    """Check and write ``results.json`` into ``out_dir`` (atomically); returns its path."""
    clean = json_clean(dict(results))
    check_results(clean, source=str(Path(out_dir) / RESULTS_FILE))
    text = json.dumps(clean, indent=1, sort_keys=False, allow_nan=False)
    return atomic_write(Path(out_dir) / RESULTS_FILE, (text + "\n").encode())


def read_results(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a ``results.json`` (``path`` may be the run directory or the file)."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no results file at {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON (line {exc.lineno}): {exc.msg}", path=path) from exc
    return check_results(data, source=str(path))


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    import io

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def write_predictions(path: str | os.PathLike, fs: float, signals: Mapping[str, tuple[np.ndarray, np.ndarray]],
                      hr: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None) -> Path:
    """Write ``predictions/<model>.npz``.

    Parameters
    ----------
    signals : ``{"<dataset>/<recording_id>": (pred, label)}`` equal-length 1-D arrays (stored float32).
    hr : ``{"<dataset>/<recording_id>": (hr_pred_per_window, hr_ref_per_window)}`` (float64), optional.
    """
    if not (isinstance(fs, (int, float)) and fs > 0):
        raise ValueError(f"fs must be > 0 Hz; got {fs!r}")
    arrays: dict[str, np.ndarray] = {"fs": np.asarray(float(fs), dtype=np.float64)}
    keys = sorted(signals)
    for key in keys:
        pred, label = (np.asarray(a, dtype=np.float32).reshape(-1) for a in signals[key])
        if pred.shape != label.shape:
            raise ValueError(f"predictions for {key}: pred has {pred.size} samples, label {label.size}")
        arrays[f"pred__{key}"] = pred
        arrays[f"label__{key}"] = label
    for key, (hp, hrf) in (hr or {}).items():
        if key not in signals:
            raise ValueError(f"hr given for {key}, which has no signals")
        arrays[f"hr_pred__{key}"] = np.asarray(hp, dtype=np.float64).reshape(-1)
        arrays[f"hr_ref__{key}"] = np.asarray(hrf, dtype=np.float64).reshape(-1)
    arrays["recording_ids"] = np.asarray(keys, dtype=str)
    return atomic_write(path, _npz_bytes(arrays))


def read_predictions(path: str | os.PathLike, *, max_bytes: int | None = None) -> dict[str, Any]:
    """Read a run's predictions npz: ``{"fs", "recording_ids", "signals": {id: (pred, label)}, "hr": {id: (p, r)}}``
    (arrays as stored). Parsed by :func:`rppgbench.evaluation.io.read_npz` (the one reader of the format, with its
    ``max_bytes`` bound); this adds what a run's file must hold: ``fs``, ``recording_ids`` and both arrays of every
    listed recording, and nothing outside the format."""
    from rppgbench.evaluation.io import read_npz

    npz = read_npz(path, max_bytes=max_bytes)
    for key, value in (("fs", npz.fs), ("recording_ids", npz.recording_ids)):
        if value is None:
            raise DataError(f"missing key {key!r}", path=npz.path)
    if npz.unknown:
        raise DataError(f"unexpected key {npz.unknown[0]!r}", path=npz.path)
    a = npz.arrays
    out: dict[str, Any] = {"fs": npz.fs, "recording_ids": npz.recording_ids, "signals": {}, "hr": {}}
    for rid in npz.recording_ids:
        for kind in ("pred", "label"):
            if rid not in a[kind]:
                raise DataError(f"missing key {kind + '__' + rid!r}", path=npz.path)
        out["signals"][rid] = (a["pred"][rid], a["label"][rid])
        if rid in a["hr_pred"]:
            out["hr"][rid] = (a["hr_pred"][rid], a["hr_ref"][rid])
    return out


def write_toolbox_pickle(path: str | os.PathLike, signals: Mapping[str, tuple[np.ndarray, np.ndarray]],
                         fs: float, label_type: str, chunk_len: int | None) -> Path:
    """Write an rPPG-Toolbox-compatible outputs pickle (what TBX ``BaseTrainer.save_test_outputs`` writes).

    The pickle holds ``{"predictions": {rec: {chunk_index: array}}, "labels": {rec: {chunk_index: array}},
    "label_type": "Raw"|"DiffNormalized"|"Standardized", "fs": fs}``. Recordings are keyed
    ``<dataset>/<recording_id>``; chunks are consecutive ``chunk_len`` pieces (the trailing remainder shorter
    than ``chunk_len`` is dropped, as TBX chunking does; ``None`` = one chunk of the whole recording). Arrays are
    numpy float32 (TBX stores torch tensors; ``torch.as_tensor`` converts them).
    """
    if label_type not in TOOLBOX_LABEL_TYPES:
        raise ValueError(f"label_type must be one of {', '.join(TOOLBOX_LABEL_TYPES)}; got {label_type!r}")
    preds: dict[str, dict[int, np.ndarray]] = {}
    labels: dict[str, dict[int, np.ndarray]] = {}
    for key in sorted(signals):
        pred, label = (np.asarray(a, dtype=np.float32).reshape(-1) for a in signals[key])
        n = pred.size if chunk_len is None else (pred.size // chunk_len) * chunk_len
        step = max(n, 1) if chunk_len is None else chunk_len
        preds[key] = {i: pred[a:a + step].copy() for i, a in enumerate(range(0, n, step))}
        labels[key] = {i: label[a:a + step].copy() for i, a in enumerate(range(0, n, step))}
    data = {"predictions": preds, "labels": labels, "label_type": TOOLBOX_LABEL_TYPES[label_type], "fs": float(fs)}
    return atomic_write(path, pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL))


def read_toolbox_pickle(path: str | os.PathLike) -> dict[str, Any]:
    """Read a pickle written by :func:`write_toolbox_pickle`. Only for files this package wrote: unpickling
    runs code, so never call it on a file from an untrusted source."""
    with open(path, "rb") as fh:
        data = pickle.load(fh)  # noqa: S301 - own output only, documented above
    for k in ("predictions", "labels", "label_type", "fs"):
        if k not in data:
            raise DataError(f"missing key {k!r}", path=path)
    return data

