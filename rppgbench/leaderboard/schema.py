"""Leaderboard manifest schema, size limits, and the reference-label file of each protocol.

An accepted entry lives in ``leaderboards/<protocol>/<entry_id>/`` and holds exactly three files:

``manifest.json``
    What the submitter declares (:data:`SUBMITTER_FIELDS`) plus what ``rppgbench submit`` fills in from the
    results directory (:data:`FILLED_FIELDS`): the model, protocol, provenance and the claimed metrics.
``predictions.npz``
    ``fs``, ``recording_ids`` and ``pred__<id>`` / ``label__<id>`` float32 arrays (no pickles).
``metrics.json``
    Metrics recomputed by rppgbench from the predictions and the hash-verified reference labels, with flags.

``leaderboards/<protocol>/reference.json`` holds the protocol identity, its evaluation settings and the sha256 of
every reference label array (``reference_labels.npz`` may ship the labels when they may be redistributed).
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from rppgbench._checks import SubmissionError, check_safe_id

__all__ = [
    "MANIFEST_SCHEMA_VERSION", "SUBMITTER_FIELDS", "FILLED_FIELDS", "ENTRY_FILES", "MAX_MANIFEST_BYTES",
    "MAX_PREDICTIONS_BYTES", "MAX_RESULTS_BYTES", "MAX_ENTRY_MANIFEST_BYTES", "MAX_REFERENCE_BYTES", "MAX_N_PARAMS",
    "MAX_METRIC_MAGNITUDE", "MAX_JSON_DEPTH",
    "validate_manifest", "read_json_limited",
    "label_sha256", "read_reference", "REFERENCE_FILE", "REFERENCE_LABELS_FILE",
]

MANIFEST_SCHEMA_VERSION = 1
MAX_MANIFEST_BYTES = 64 * 1024
#: an accepted entry's manifest also holds the model config, provenance and claims
MAX_ENTRY_MANIFEST_BYTES = 256 * 1024
MAX_RESULTS_BYTES = 16 * 1024 * 1024
MAX_PREDICTIONS_BYTES = 64 * 1024 * 1024
MAX_REFERENCE_BYTES = 16 * 1024 * 1024
#: model sizes beyond this are not believable (and would break the parameters axis of the charts)
MAX_N_PARAMS = 10**13
#: claimed metric values: finite and of a plausible magnitude (bpm, %, dB, correlation)
MAX_METRIC_MAGNITUDE = 1e6
#: JSON nesting deeper than this is refused (the parser would otherwise hit Python's recursion limit)
MAX_JSON_DEPTH = 64
ENTRY_FILES = ("manifest.json", "predictions.npz", "metrics.json")
REFERENCE_FILE = "reference.json"
REFERENCE_LABELS_FILE = "reference_labels.npz"

_CTRL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_URL = re.compile(r"^https?://[A-Za-z0-9.\-]+(:[0-9]+)?(/[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%\-]*)?$")

# name -> (type, required, max length / max items)
SUBMITTER_FIELDS: dict[str, tuple[type | tuple[type, ...], bool, int]] = {
    "method_name": (str, True, 120),
    "code_url": (str, True, 300),
    "training_data": (list, True, 32),
    "test_videos_seen": (bool, True, 0),
    "hardware": (str, True, 200),
    "submitter": (str, False, 120),
    "paper": (str, False, 300),
    "notes": (str, False, 2000),
    "entry_id": (str, False, 128),
    "synthetic_data_only": (bool, False, 0),
}
FILLED_FIELDS: dict[str, tuple[type | tuple[type, ...], bool, int]] = {
    "schema_version": (int, True, 0),
    "model": (dict, True, 0),
    "protocol": (dict, True, 0),
    "provenance": (dict, True, 0),
    "claimed_metrics": (dict, True, 0),
}


def _check_text(where: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise SubmissionError(f"{where} must be at most {limit} characters; found {len(value)}")
    if _CTRL.search(value):
        raise SubmissionError(f"{where} must not contain control characters; found {value!r}")


def validate_manifest(m: Any, *, complete: bool = True, where: str = "manifest") -> dict[str, Any]:
    """Check a manifest against the schema; raises :class:`SubmissionError` naming the field.

    ``complete=False`` checks only the submitter's part (before ``submit`` fills in the rest).
    Strings are length-limited and free of control characters; they are *not* trusted anywhere else
    (every renderer escapes them).
    """
    if not isinstance(m, dict):
        raise SubmissionError(f"{where} must be a JSON object; found {type(m).__name__}")
    fields = dict(SUBMITTER_FIELDS)
    if complete:
        fields.update(FILLED_FIELDS)
    unknown = sorted(set(m) - set(fields))
    if unknown:
        raise SubmissionError(f"{where} has unknown field(s) {unknown}; allowed: {sorted(fields)}")
    for name, (typ, required, limit) in fields.items():
        if name not in m:
            if required:
                raise SubmissionError(f"{where} lacks required field {name!r}")
            continue
        v = m[name]
        if typ is int and isinstance(v, bool) or not isinstance(v, typ):
            tn = typ.__name__ if isinstance(typ, type) else "/".join(t.__name__ for t in typ)
            raise SubmissionError(f"{where}.{name} must be {tn}; found {type(v).__name__} {v!r:.80}")
        if isinstance(v, str):
            _check_text(f"{where}.{name}", v, limit)
    if not _URL.match(m["code_url"]):
        raise SubmissionError(f"{where}.code_url must be an http(s) URL; found {m['code_url']!r:.120}")
    if "paper" in m and m["paper"] and not _URL.match(m["paper"]):
        raise SubmissionError(f"{where}.paper must be an http(s) URL; found {m['paper']!r:.120}")
    if len(m["training_data"]) > SUBMITTER_FIELDS["training_data"][2]:
        raise SubmissionError(f"{where}.training_data may list at most 32 items; found {len(m['training_data'])}")
    for i, item in enumerate(m["training_data"]):
        if not isinstance(item, str):
            raise SubmissionError(f"{where}.training_data[{i}] must be a string; found {item!r:.80}")
        _check_text(f"{where}.training_data[{i}]", item, 120)
    if "entry_id" in m:
        _safe(f"{where}.entry_id", m["entry_id"])
    if complete:
        if m["schema_version"] != MANIFEST_SCHEMA_VERSION:
            raise SubmissionError(f"{where}.schema_version must be {MANIFEST_SCHEMA_VERSION}; "
                                  f"found {m['schema_version']!r}")
        model = m["model"]
        for key, typ in (("id", str), ("n_params", int)):
            if key not in model or not isinstance(model[key], typ) or isinstance(model[key], bool):
                raise SubmissionError(f"{where}.model.{key} must be {typ.__name__}; found {model.get(key)!r:.80}")
        if not 0 <= model["n_params"] <= MAX_N_PARAMS:
            raise SubmissionError(f"{where}.model.n_params must be in [0, {MAX_N_PARAMS}]; found {model['n_params']}")
        _safe(f"{where}.model.id", model["id"])
        if model.get("label_view", "raw") not in ("raw", "standardized", "diffnormalized"):
            raise SubmissionError(f"{where}.model.label_view must be raw, standardized or diffnormalized; "
                                  f"found {model.get('label_view')!r:.80}")
        proto = m["protocol"]
        for key, typ in (("name", str), ("version", int), ("sha256", str)):
            if key not in proto or not isinstance(proto[key], typ):
                raise SubmissionError(f"{where}.protocol.{key} must be {typ.__name__}; "
                                      f"found {proto.get(key)!r:.80}")
        _safe(f"{where}.protocol.name", proto["name"])
        for ds, metrics in m["claimed_metrics"].items():
            if not isinstance(metrics, dict) or not all(
                    v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                                  and abs(v) <= MAX_METRIC_MAGNITUDE) for v in metrics.values()):
                raise SubmissionError(f"{where}.claimed_metrics.{ds} must map metric names to finite numbers of "
                                      f"magnitude <= {MAX_METRIC_MAGNITUDE:g} (or null)")
    return m


def _safe(where: str, value: str) -> str:
    try:
        return check_safe_id(where, value)
    except ValueError as exc:
        raise SubmissionError(str(exc)) from None


def check_file_size(path: Path, limit: int, what: str) -> Path:
    """``path`` must be an existing file of at most ``limit`` bytes (checked before anything reads it)."""
    path = Path(path)
    if not path.is_file():
        raise SubmissionError(f"{what} not found: {path}")
    size = path.stat().st_size
    if size > limit:
        raise SubmissionError(f"{what} {path} is {size} bytes; the limit is {limit} bytes")
    return path


def read_json_limited(path: Path, limit: int, what: str) -> Any:
    """Read a JSON file no larger than ``limit`` bytes; NaN/Infinity literals are refused."""
    path = check_file_size(path, limit, what)

    def _no_const(c: str) -> Any:
        raise SubmissionError(f"{what} {path} contains {c}; use null for missing numbers")

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SubmissionError(f"{what} {path} is not UTF-8 text: {exc}") from None
    depth = _nesting_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise SubmissionError(f"{what} {path} nests {depth} levels deep; the limit is {MAX_JSON_DEPTH}")
    try:
        return json.loads(text, parse_constant=_no_const)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise SubmissionError(f"{what} {path} is not valid JSON: {exc}") from None


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _nesting_depth(text: str) -> int:
    """Deepest ``[``/``{`` nesting of a JSON text, brackets inside strings ignored (linear time, no recursion)."""
    b = np.frombuffer(_JSON_STRING.sub("", text).encode("utf-8", "replace"), dtype=np.uint8)
    step = np.isin(b, (91, 123)).astype(np.int64) - np.isin(b, (93, 125)).astype(np.int64)
    return int(np.cumsum(step).max()) if step.size else 0


def label_sha256(label: Any) -> str:
    """sha256 of a label array as little-endian float32 bytes (the predictions file's dtype)."""
    arr = np.ascontiguousarray(np.asarray(label), dtype="<f4")
    return hashlib.sha256(arr.tobytes()).hexdigest()


def read_reference(protocol_dir: Path) -> dict[str, Any]:
    """Load and check ``<protocol_dir>/reference.json`` (and ``reference_labels.npz`` when present).

    ``recordings`` maps each test recording id to ``{"views": {label_view: {"sha256", "n_samples"}}}``: the
    store serves labels in several views (raw / standardized / diffnormalized) and each model is evaluated in
    its own, so every view used by a trusted run is hashed. Returns the parsed dict with an extra ``"labels"``
    key (``{view: {id: float32 array}}`` or ``None``).
    """
    protocol_dir = Path(protocol_dir)
    where = protocol_dir / REFERENCE_FILE
    ref = read_json_limited(where, MAX_REFERENCE_BYTES, "reference file")
    for key in ("format", "protocol", "evaluation", "recordings"):
        if key not in ref:
            raise SubmissionError(f"{where} lacks field {key!r}")
    recs = ref["recordings"]
    if not isinstance(recs, dict) or not recs:
        raise SubmissionError(f"{where}: recordings must be a non-empty object")
    for rid, info in recs.items():
        views = info.get("views") if isinstance(info, dict) else None
        if not isinstance(views, dict) or not views or not all(
                isinstance(v, dict) and isinstance(v.get("sha256"), str) and isinstance(v.get("n_samples"), int)
                for v in views.values()):
            raise SubmissionError(f"{where}: recordings[{rid!r}] needs views {{view: {{sha256, n_samples}}}}")
    labels = None
    lab_path = protocol_dir / REFERENCE_LABELS_FILE
    if lab_path.is_file():
        from rppgbench._npz import open_npz

        with open_npz(check_file_size(lab_path, MAX_PREDICTIONS_BYTES, "reference labels"),
                      error=SubmissionError) as z:
            labels = {}
            for rid, info in recs.items():
                for view, h in info["views"].items():
                    key = f"label__{view}__{rid}"
                    if key not in z.files:
                        raise SubmissionError(f"{lab_path} lacks {key!r}")
                    lab = np.asarray(z[key], dtype=np.float32)
                    if label_sha256(lab) != h["sha256"]:
                        raise SubmissionError(f"{lab_path}: {rid} ({view}) does not match its sha256 in "
                                              f"{REFERENCE_FILE}")
                    labels.setdefault(view, {})[rid] = lab
    ref["labels"] = labels
    return ref


def finite_or_none(x: Any) -> float | None:
    """JSON-safe float: NaN/inf become None."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None
