"""The results.json schema (format version 1, see docs/results_format.md) and its checker.

The checker is used both when writing (a bug in the runner must not produce a file readers choke on) and when
reading (a hand-edited or foreign file gets an error naming the field).
"""
from __future__ import annotations

import math
from typing import Any

from rppgbench._checks import DataError
from rppgbench.evaluation.metrics import METRIC_NAMES

__all__ = ["FORMAT_VERSION", "ROW_KEYS", "PER_RECORDING_KEYS", "TOP_KEYS", "check_results",
           "VOLATILE_KEYS", "strip_volatile"]

FORMAT_VERSION = 1

TOP_KEYS = ("format_version", "protocol", "evaluation", "splits", "rows", "per_recording", "models", "provenance")
ROW_KEYS = ("protocol", "model", "test_dataset", "metric", "value", "se", "unit", "n_windows", "n_recordings",
            "profile", "hr_resolution_bpm", "window_s")
PER_RECORDING_KEYS = ("model", "test_dataset", "recording", "subject", "hr_pred", "hr_ref", "abs_error", "n_windows")
PROTOCOL_KEYS = ("name", "version", "sha256", "citation", "path")

#: keys that legitimately differ between two runs of the same work (times, places); see :func:`strip_volatile`
VOLATILE_KEYS = {"started", "finished", "wall_s", "train_wall_s", "eval_wall_s", "command", "path", "stores",
                 "git_commit", "platform", "cpu_count", "resumed", "time_s", "stores_wall_s", "output"}


def _num_or_none(v: Any) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v)))


def check_results(d: Any, source: str = "results.json") -> dict[str, Any]:
    """Raise :class:`DataError` naming the first bad field of a results mapping; return it unchanged."""
    def bad(field: str, msg: str) -> DataError:
        return DataError(f"field {field}: {msg}", path=source)

    if not isinstance(d, dict):
        raise DataError(f"must hold a JSON object; got {type(d).__name__}", path=source)
    for k in TOP_KEYS:
        if k not in d:
            raise bad(k, "missing")
    if d["format_version"] != FORMAT_VERSION:
        raise bad("format_version", f"expected {FORMAT_VERSION}; got {d['format_version']!r}")
    proto = d["protocol"]
    if not isinstance(proto, dict):
        raise bad("protocol", "must be an object")
    for k in PROTOCOL_KEYS:
        if k not in proto:
            raise bad(f"protocol.{k}", "missing")
    if not isinstance(proto["sha256"], str) or len(proto["sha256"]) != 64:
        raise bad("protocol.sha256", f"must be a 64-character hex digest; got {proto['sha256']!r}")
    splits = d["splits"]
    if not isinstance(splits, dict) or "test" not in splits:
        raise bad("splits", "must be an object with at least a 'test' list")
    for name, keys in splits.items():
        if not isinstance(keys, list) or not all(isinstance(k, str) and "/" in k for k in keys):
            raise bad(f"splits.{name}", "must be a list of '<dataset>/<recording_id>' strings")
    if not isinstance(d["rows"], list):
        raise bad("rows", "must be a list")
    for i, row in enumerate(d["rows"]):
        if not isinstance(row, dict):
            raise bad(f"rows[{i}]", "must be an object")
        for k in ROW_KEYS:
            if k not in row:
                raise bad(f"rows[{i}].{k}", "missing")
        if row["metric"] not in METRIC_NAMES:
            raise bad(f"rows[{i}].metric", f"must be one of {', '.join(METRIC_NAMES)}; got {row['metric']!r}")
        for k in ("value", "se"):
            if not _num_or_none(row[k]):
                raise bad(f"rows[{i}].{k}", f"must be a finite number or null; got {row[k]!r}")
    if not isinstance(d["per_recording"], list):
        raise bad("per_recording", "must be a list")
    for i, row in enumerate(d["per_recording"]):
        for k in PER_RECORDING_KEYS:
            if not isinstance(row, dict) or k not in row:
                raise bad(f"per_recording[{i}].{k}", "missing")
    if not isinstance(d["models"], dict):
        raise bad("models", "must be an object keyed by model id")
    for mid, m in d["models"].items():
        if not isinstance(m, dict) or "config" not in m or "kind" not in m:
            raise bad(f"models.{mid}", "must be an object with 'config' and 'kind'")
    if not isinstance(d["provenance"], dict):
        raise bad("provenance", "must be an object")
    return d


def strip_volatile(obj: Any) -> Any:
    """A copy of ``obj`` without :data:`VOLATILE_KEYS` (at any depth): what two equal runs share."""
    if isinstance(obj, dict):
        return {k: strip_volatile(v) for k, v in obj.items() if k not in VOLATILE_KEYS}
    if isinstance(obj, list):
        return [strip_volatile(v) for v in obj]
    return obj
