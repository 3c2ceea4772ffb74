"""Read results directories (format version 1, see ``docs/results_format.md``) for reports and submissions."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rppgbench._checks import DataError

__all__ = ["RunResults", "load_run", "load_runs", "load_predictions", "FORMAT_VERSION"]

FORMAT_VERSION = 1
_REQUIRED = ("format_version", "protocol", "evaluation", "rows", "per_recording", "models")


@dataclass
class RunResults:
    """One results directory: the parsed ``results.json`` plus where to find prediction files."""

    path: Path
    data: dict[str, Any]
    _pred_cache: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    @property
    def protocol(self) -> str:
        return str(self.data["protocol"]["name"])

    @property
    def evaluation(self) -> dict[str, Any]:
        return dict(self.data["evaluation"])

    @property
    def rows(self) -> list[dict[str, Any]]:
        return list(self.data["rows"])

    @property
    def per_recording(self) -> list[dict[str, Any]]:
        return list(self.data["per_recording"])

    @property
    def models(self) -> dict[str, dict[str, Any]]:
        return dict(self.data["models"])

    def predictions(self, model: str) -> dict[str, Any]:
        """Per-recording arrays of ``predictions/<model>.npz`` (see :func:`load_predictions`)."""
        if model not in self._pred_cache:
            self._pred_cache[model] = load_predictions(self.path / "predictions" / f"{model}.npz")
        return self._pred_cache[model]


def _null_to_nan(x: Any) -> float:
    return math.nan if x is None else float(x)


def load_run(path: str | Path) -> RunResults:
    """Parse ``<path>/results.json``; raises :class:`DataError` naming the file and the missing field."""
    path = Path(path)
    rj = path / "results.json"
    if not rj.is_file():
        raise DataError("no results.json here; expected a results directory written by `rppgbench run`",
                        path=path)
    try:
        data = json.loads(rj.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"not valid JSON ({exc})", path=rj) from exc
    if not isinstance(data, dict):
        raise DataError(f"expected a JSON object at the top level; found {type(data).__name__}", path=rj)
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise DataError(f"missing field(s) {', '.join(missing)}; expected results format "
                        f"version {FORMAT_VERSION} (docs/results_format.md)", path=rj)
    if data["format_version"] != FORMAT_VERSION:
        raise DataError(f"format_version must be {FORMAT_VERSION}; found {data['format_version']!r}", path=rj)
    if not isinstance(data["protocol"], dict) or "name" not in data["protocol"]:
        raise DataError("field protocol.name is missing", path=rj)
    for i, row in enumerate(data["rows"]):
        for key in ("model", "test_dataset", "metric", "value"):
            if key not in row:
                raise DataError(f"rows[{i}] lacks field {key!r}", path=rj)
        row["value"] = _null_to_nan(row.get("value"))
        row["se"] = _null_to_nan(row.get("se"))
    for i, rec in enumerate(data["per_recording"]):
        for key in ("model", "test_dataset", "recording", "abs_error"):
            if key not in rec:
                raise DataError(f"per_recording[{i}] lacks field {key!r}", path=rj)
    return RunResults(path=path, data=data)


def load_runs(paths: Any) -> list[RunResults]:
    """Load several results directories; the same (protocol, test dataset, model) may appear only once."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    runs = [load_run(p) for p in paths]
    if not runs:
        raise ValueError("results_dirs must name at least one results directory; got none")
    seen: dict[tuple[str, str, str], Path] = {}
    for run in runs:
        for row in run.rows:
            key = (row.get("protocol", run.protocol), row["test_dataset"], row["model"])
            if key in seen and seen[key] != run.path:
                raise ValueError(f"protocol {key[0]!r}, test dataset {key[1]!r}, model {key[2]!r} appears in "
                                 f"both {seen[key]} and {run.path}; combine directories with distinct runs")
            seen[key] = run.path
    return runs


def load_predictions(path: str | Path, *, max_bytes: int | None = None) -> dict[str, Any]:
    """Read a predictions ``.npz`` (no pickles) into ``{"fs", "recording_ids", "pred", "label", "hr_pred",
    "hr_ref"}``, the last four being dicts keyed by ``<dataset>/<recording_id>``.

    The file is parsed by :func:`rppgbench.results.io.read_predictions` (one reader of the format, which also
    applies ``max_bytes``); this gives the per-field layout the plots use. Raises :class:`DataError` naming the
    file when it is missing, too large, or lacks a key.
    """
    from rppgbench.results.io import read_predictions

    path = Path(path)
    if not path.is_file():
        raise DataError("prediction file not found", path=path)
    raw = read_predictions(path, max_bytes=max_bytes)
    out: dict[str, Any] = {"fs": raw["fs"], "recording_ids": raw["recording_ids"],
                           "pred": {}, "label": {}, "hr_pred": {}, "hr_ref": {}}
    for rid, (pred, label) in raw["signals"].items():
        out["pred"][rid], out["label"][rid] = np.asarray(pred), np.asarray(label)
    for rid, (hp, hr) in raw["hr"].items():
        out["hr_pred"][rid], out["hr_ref"][rid] = np.asarray(hp), np.asarray(hr)
    return out
