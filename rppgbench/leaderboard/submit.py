"""``submit(results_dir, protocol)``: validate a run's predictions for one model, recompute its metrics against
the hash-verified reference labels, reject claims that differ, flag suspicious entries, and write the entry
atomically into ``leaderboards/<protocol>/<entry_id>/``.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from rppgbench._checks import SubmissionError
from rppgbench._logging import logger
from rppgbench.leaderboard._recompute import recompute_metrics
from rppgbench.leaderboard.schema import (
    MANIFEST_SCHEMA_VERSION,
    MAX_ENTRY_MANIFEST_BYTES,
    MAX_MANIFEST_BYTES,
    MAX_N_PARAMS,
    MAX_PREDICTIONS_BYTES,
    MAX_RESULTS_BYTES,
    _safe,
    check_file_size,
    finite_or_none,
    label_sha256,
    read_json_limited,
    read_reference,
    validate_manifest,
)

__all__ = ["submit", "check_predictions", "compare_claims", "suspicion_flags", "load_submission_predictions",
           "CLAIM_RTOL", "CLAIM_ATOL", "protocol_dir", "predictions_sha256", "entry_predictions_sha256",
           "check_reference_protocol", "build_metrics"]

#: claimed metrics may differ from the recomputation by at most ATOL + RTOL·|recomputed|; covers float32
#: storage of the signals, not a hand edit (values are compared at full precision, not as printed).
CLAIM_RTOL = 1e-4
CLAIM_ATOL = 1e-6
#: per-recording Pearson of prediction vs label above which the prediction "is" the label
NEAR_LABEL_R = 0.999


def protocol_dir(root: str | Path, protocol: str) -> Path:
    """``<root>/<protocol>`` after checking the name is a safe identifier and a reference file exists."""
    _safe("protocol", protocol)
    root = Path(root)
    d = root / protocol
    if not (d / "reference.json").is_file():
        known = sorted(p.name for p in root.iterdir() if (p / "reference.json").is_file()) if root.is_dir() else []
        raise SubmissionError(f"no leaderboard for protocol {protocol!r} under {root} (missing "
                              f"{d / 'reference.json'}); known protocols: {known or 'none'}")
    return d


def _npz_budget(ref: dict[str, Any] | None) -> dict[str, int]:
    """Decompressed-size budgets of a predictions file: from the reference when known (every array at most the
    longest reference label in float64; four arrays per recording), else the package-wide defaults."""
    from rppgbench import _npz

    if ref is None:
        return {"max_members": _npz.DEFAULT_MAX_MEMBERS, "max_member_bytes": _npz.DEFAULT_MAX_MEMBER_BYTES,
                "max_total_bytes": _npz.DEFAULT_MAX_TOTAL_BYTES}
    n_rec = len(ref["recordings"])
    longest = max(v["n_samples"] for info in ref["recordings"].values() for v in info["views"].values())
    per = max(8 * longest, 1 << 16)
    ids = 4 * 256 * (n_rec + 16)  # recording_ids: up to 256 characters each (numpy stores UTF-32)
    return {"max_members": 4 * (n_rec + 16) + 2, "max_member_bytes": max(per, ids),
            "max_total_bytes": 4 * (n_rec + 16) * per + ids + (1 << 16)}


def load_submission_predictions(path: Path, ref: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read a predictions ``.npz`` through :func:`rppgbench.evaluation.io.read_npz` (no pickles; the file within
    :data:`MAX_PREDICTIONS_BYTES`; the zip directory and ``.npy`` headers checked against the budgets of
    :func:`_npz_budget` before any array is decompressed), keeping every per-recording array for the checks."""
    from rppgbench.evaluation.io import read_npz

    path = check_file_size(path, MAX_PREDICTIONS_BYTES, "predictions file")
    npz = read_npz(path, max_bytes=MAX_PREDICTIONS_BYTES, error=SubmissionError, **_npz_budget(ref))
    if npz.fs is None or npz.recording_ids is None:
        raise SubmissionError(f"{path} must contain 'fs' and 'recording_ids'")
    if ref is not None and len(npz.recording_ids) > len(ref["recordings"]) + 16:
        raise SubmissionError(f"{path}: recording_ids lists {len(npz.recording_ids)} recordings; the protocol's "
                              f"test split has {len(ref['recordings'])}")
    if npz.unknown:
        raise SubmissionError(f"{path}: unexpected key(s) {sorted(npz.unknown)[:10]}; a predictions file holds 'fs', "
                              "'recording_ids' and pred__/label__/hr_pred__/hr_ref__<id> arrays")
    return {"fs": npz.fs, "recording_ids": npz.recording_ids,
            "arrays": {f"{kind}__{rid}": a for kind, per in npz.arrays.items() for rid, a in per.items()}}


def _listed(items: list[str], n: int = 10) -> str:
    """At most ``n`` items of a long list for an error message, and how many more there are."""
    return ", ".join(items[:n]) + (f" ... and {len(items) - n} more" if len(items) > n else "")


def predictions_sha256(preds: dict[str, np.ndarray]) -> str:
    """Content hash of a submission's predictions: recording ids and float32 little-endian values, sorted by id."""
    h = hashlib.sha256()
    for rid in sorted(preds):
        h.update(rid.encode() + b"\0" + np.ascontiguousarray(preds[rid], dtype="<f4").tobytes() + b"\0")
    return h.hexdigest()


def check_predictions(sub: dict[str, Any], ref: dict[str, Any], where: str, label_view: str
                      ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Every reference recording exactly once, nothing extra, lengths equal, finite values, labels matching
    the reference hashes of ``label_view``. Returns (predictions, labels) keyed by recording id (labels: the
    reference's own when shipped, otherwise the submission's hash-verified ones)."""
    ids = sub["recording_ids"]
    views = sorted({v for info in ref["recordings"].values() for v in info["views"]})
    if not all(label_view in info["views"] for info in ref["recordings"].values()):
        raise SubmissionError(f"{where}: the protocol's reference has no labels in view {label_view!r} (the "
                              f"model's label_view); views with reference hashes: {views}")
    expected = set(ref["recordings"])
    problems: list[str] = []
    dup = sorted(r for r, n in Counter(ids).items() if n > 1)  # linear time, whatever the submission holds
    if dup:
        problems.append(f"{len(dup)} recording(s) listed more than once: {_listed(dup)}")
    unsafe = [repr(r) for r in ids
              if "/" not in r or any(part in ("", ".", "..") for part in r.split("/")) or "\\" in r]
    if unsafe:
        problems.append(f"{len(unsafe)} unsafe recording id(s): {_listed(unsafe)}")
    id_set = set(ids)
    missing = sorted(expected - id_set)
    extra = sorted(id_set - expected)
    if missing:
        problems.append(f"missing {len(missing)} test recording(s): {_listed(missing)}")
    if extra:
        problems.append(f"{len(extra)} recording(s) not in the protocol's test split: {_listed(extra)}")
    allowed = {f"{p}__{r}" for r in ids for p in ("pred", "label", "hr_pred", "hr_ref")}
    stray = sorted(k for k in sub["arrays"] if k not in allowed)
    if stray:
        problems.append(f"{len(stray)} array(s) for recordings not listed in recording_ids: {_listed(stray)}")
    if problems:
        raise SubmissionError(f"{where}: " + "; ".join(problems))
    fs_ref = float(ref["evaluation"]["fs"])
    if not math.isclose(sub["fs"], fs_ref, rel_tol=1e-9):
        raise SubmissionError(f"{where}: fs is {sub['fs']} Hz; the protocol's reference is {fs_ref} Hz")
    preds: dict[str, np.ndarray] = {}
    labels: dict[str, np.ndarray] = {}
    for rid in sorted(ids):
        info = ref["recordings"][rid]["views"][label_view]
        for kind in ("pred", "label"):
            key = f"{kind}__{rid}"
            if key not in sub["arrays"]:
                problems.append(f"{rid}: no {key!r} array")
                continue
            a = sub["arrays"][key]
            if a.ndim != 1 or a.dtype.kind not in "fiu":
                problems.append(f"{rid}: {key} must be a 1-D numeric array; found shape {a.shape} dtype {a.dtype}")
                continue
            if a.size != info["n_samples"]:
                problems.append(f"{rid}: {kind} has {a.size} samples; the reference label has {info['n_samples']}")
                continue
            if not np.all(np.isfinite(a)):
                bad = int(np.flatnonzero(~np.isfinite(a))[0])
                problems.append(f"{rid}: {kind} contains NaN/inf (first at sample {bad})")
                continue
            (preds if kind == "pred" else labels)[rid] = a.astype(np.float32)
        if rid in labels and label_sha256(labels[rid]) != info["sha256"]:
            problems.append(f"{rid}: label does not match the reference label hash (labels must come from the "
                            "prepared store, unmodified)")
    if problems:
        shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
        raise SubmissionError(f"{where}: " + "; ".join(shown))
    if ref.get("labels") is not None:
        labels = {rid: ref["labels"][label_view][rid] for rid in preds}
    return preds, labels


def compare_claims(claimed: dict[str, dict[str, float | None]], recomputed: dict[str, Any],
                   rtol: float = CLAIM_RTOL, atol: float = CLAIM_ATOL) -> list[str]:
    """Differences between claimed ``{dataset: {metric: value}}`` and recomputed metrics (empty if equal)."""
    diffs = []
    for ds, metrics in sorted(claimed.items()):
        got = recomputed["datasets"].get(ds)
        if got is None:
            diffs.append(f"claims for test dataset {ds!r}, which the protocol does not test")
            continue
        for name, value in sorted(metrics.items()):
            if name not in got:
                diffs.append(f"{ds}/{name}: claimed {value}, but rppgbench does not compute {name} here")
                continue
            true = got[name]["value"]
            if value is None or true is None:
                if (value is None) != (true is None):
                    diffs.append(f"{ds}/{name}: claimed {value}, recomputed {true}")
                continue
            if not abs(float(value) - true) <= atol + rtol * abs(true):
                diffs.append(f"{ds}/{name}: claimed {float(value)!r}, recomputed {true!r}")
    return diffs


def suspicion_flags(preds: dict[str, np.ndarray], labels: dict[str, np.ndarray], recomputed: dict[str, Any],
                    manifest: dict[str, Any]) -> list[str]:
    """Reasons to review an entry by hand (shown on the leaderboard page next to it)."""
    flags = []
    for ds, metrics in sorted(recomputed["datasets"].items()):
        r = metrics.get("Pearson", {}).get("value")
        if r is not None and r >= 0.9999:
            flags.append(f"Pearson of {r:.4f} on {ds}: HR agreement too perfect to be plausible")
    near = []
    for rid in sorted(preds):
        p = preds[rid].astype(np.float64)
        q = labels[rid].astype(np.float64)
        if p.std() > 0 and q.std() > 0 and float(np.corrcoef(p, q)[0, 1]) >= NEAR_LABEL_R:
            near.append(rid)
    if near:
        flags.append(f"predicted waveform nearly equal to the reference label (r >= {NEAR_LABEL_R}) on "
                     f"{len(near)}/{len(preds)} recordings")
    for ds, k in sorted((recomputed.get("flat_windows") or {}).items()):
        if k:
            n = recomputed["n_windows"][ds]
            flags.append(f"flat (constant) predicted waveform in {k} of {n} evaluation windows on {ds}: no pulse is "
                         "predicted there (SNR undefined, HR taken from an empty spectrum)")
    baseline_entry = (manifest.get("model") or {}).get("kind") == "baseline"  # the null model is a floor itself
    for ds, base in sorted((recomputed.get("null_baseline") or {}).items()):
        mae = recomputed["datasets"].get(ds, {}).get("MAE", {}).get("value")
        if not baseline_entry and base.get("MAE") is not None and mae is not None and mae >= base["MAE"]:
            flags.append(f"MAE {mae:.2f} bpm on {ds} does not beat the constant-HR baseline ({base['MAE']:.2f} bpm "
                         f"for {base['hr_bpm']:.1f} bpm in every window)")
    if manifest.get("test_videos_seen"):
        flags.append("submitter declares that test videos were seen during development or training")
    return flags


def _claims_from_rows(rows: list[dict[str, Any]], model: str, protocol: str) -> dict[str, dict[str, Any]]:
    claimed: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r.get("model") == model and r.get("protocol", protocol) == protocol:
            claimed.setdefault(str(r["test_dataset"]), {})[str(r["metric"])] = finite_or_none(r.get("value"))
    return claimed


def _write_entry(entry_dir: Path, manifest: dict[str, Any], metrics: dict[str, Any], fs: float,
                 preds: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> None:
    """Write the three files into a hidden sibling directory, then rename it into place (atomic)."""
    if entry_dir.exists():
        raise SubmissionError(f"entry {entry_dir} already exists; choose another entry_id")
    tmp = entry_dir.parent / f".{entry_dir.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        ids = sorted(preds)
        arrays: dict[str, Any] = {"fs": np.float64(fs), "recording_ids": np.array(ids)}
        for rid in ids:
            arrays[f"pred__{rid}"] = preds[rid].astype(np.float32)
            arrays[f"label__{rid}"] = labels[rid].astype(np.float32)
        np.savez_compressed(tmp / "predictions.npz", **arrays)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True, allow_nan=False) + "\n",
                                          encoding="utf-8")
        os.rename(tmp, entry_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def submit(results_dir: str | Path, protocol: str, *, model: str | None = None,
           manifest: str | Path | dict[str, Any] | None = None, root: str | Path = "leaderboards",
           entry_id: str | None = None, protocols_root: str | Path | None = None) -> Path:
    """Validate, recompute and write one leaderboard entry.

    Parameters
    ----------
    results_dir : path
        A results directory (``docs/results_format.md``).
    protocol : str
        Leaderboard name = protocol name (``leaderboards/<protocol>/reference.json`` must exist).
    model : str, optional
        Which model of the run; required when the run holds several.
    manifest : path or dict, optional
        The submitter's declarations (:data:`~rppgbench.leaderboard.schema.SUBMITTER_FIELDS`); required
        fields are method_name, code_url, training_data, test_videos_seen, hardware.
    root : path
        Leaderboard root (default ``leaderboards``).
    entry_id : str, optional
        Directory name of the entry; default ``manifest.entry_id`` or ``<model>-<8 hex of the predictions>``.
    protocols_root : path, optional
        Where the protocol YAML files are (the reference is checked against its protocol); default
        :func:`rppgbench.protocols.protocols_root`.

    Returns
    -------
    Path
        The entry directory written.

    Raises
    ------
    SubmissionError
        With every problem found (missing/extra recordings, lengths, NaN, label hashes, protocol version,
        sizes, unsafe identifiers, claims that differ from the recomputation).
    """
    pdir = protocol_dir(root, protocol)
    ref = read_reference(pdir)
    check_reference_protocol(ref, pdir, protocols_root)
    results_dir = Path(results_dir)
    res = read_json_limited(results_dir / "results.json", MAX_RESULTS_BYTES, "results file")
    if not isinstance(res, dict) or "protocol" not in res or "rows" not in res:
        raise SubmissionError(f"{results_dir / 'results.json'} is not a results file (no protocol/rows)")
    from rppgbench.results.labels import is_dry_run

    why = is_dry_run(res)
    if why:
        raise SubmissionError(f"{results_dir / 'results.json'} is a dry run: {why}; a leaderboard takes real runs only")
    _check_protocol(res.get("protocol", {}), ref["protocol"], f"{results_dir / 'results.json'}")
    _check_evaluation(res.get("evaluation", {}), ref["evaluation"], f"{results_dir / 'results.json'}")
    models = sorted(set(res.get("models", {})) | {r.get("model") for r in res["rows"] if r.get("model")})
    if model is None:
        if len(models) != 1:
            raise SubmissionError(f"the run holds models {models}; choose one with --model")
        model = models[0]
    _safe("model", model)
    if model not in models:
        raise SubmissionError(f"model {model!r} is not in {results_dir}; it holds {models}")
    if manifest is None:
        raise SubmissionError("a manifest is required (method_name, code_url, training_data, test_videos_seen, "
                              "hardware); pass --manifest FILE")
    user = dict(manifest) if isinstance(manifest, dict) else read_json_limited(Path(manifest), MAX_MANIFEST_BYTES,
                                                                               "manifest")
    if isinstance(user, dict) and "protocol" in user:  # a manifest written for a protocol: must be this one
        _check_protocol(user.pop("protocol"), ref["protocol"], "manifest")
    validate_manifest(user, complete=False)
    pred_path = results_dir / "predictions" / f"{model}.npz"
    sub = load_submission_predictions(pred_path, ref)
    mcfg = res.get("models", {}).get(model, {})
    label_view = _label_view(mcfg, f"{results_dir / 'results.json'}: models.{model}")
    preds, labels = check_predictions(sub, ref, str(pred_path), label_view)
    recomputed = recompute_metrics(preds, labels, ref["evaluation"], label_view)
    claimed = _claims_from_rows(res["rows"], model, ref["protocol"]["name"])
    if not claimed:
        raise SubmissionError(f"{results_dir / 'results.json'} has no metric rows for model {model!r}")
    diffs = compare_claims(claimed, recomputed)
    if diffs:
        raise SubmissionError("claimed metrics differ from the recomputation:\n  " + "\n  ".join(diffs))
    n_params = mcfg.get("n_params", 0) if isinstance(mcfg, dict) else 0
    if isinstance(n_params, bool) or not isinstance(n_params, int) or not 0 <= n_params <= MAX_N_PARAMS:
        raise SubmissionError(f"{results_dir / 'results.json'}: models.{model}.n_params must be an integer in "
                              f"[0, {MAX_N_PARAMS}]; found {n_params!r:.60}")
    sha = predictions_sha256(preds)
    full = {**{k: v for k, v in user.items() if k != "entry_id"},
            "schema_version": MANIFEST_SCHEMA_VERSION,
            "model": {"id": model, "n_params": n_params,
                      "kind": str(mcfg.get("kind", "")), "label_view": label_view,
                      "config": mcfg.get("config", {}),
                      "checkpoint_sha256": mcfg.get("checkpoint_sha256")},
            "protocol": {k: ref["protocol"][k] for k in ("name", "version", "sha256")},
            "provenance": res.get("provenance", {}),
            "claimed_metrics": claimed}
    if entry_id is None:
        entry_id = user.get("entry_id")
    if entry_id is None:
        entry_id = f"{model}-{sha[:8]}"
    _safe("entry_id", entry_id)
    if (pdir / entry_id).exists():
        raise SubmissionError(f"entry {pdir / entry_id} already exists; choose another entry_id")
    same = _entry_with_predictions(pdir, ref, sha)
    if same is not None:
        raise SubmissionError(f"these predictions are identical to those of the existing entry {same!r} "
                              f"(predictions sha256 {sha[:16]}…); a copy of another entry is not a new entry")
    full["entry_id"] = entry_id
    validate_manifest(full, complete=True)
    size = len(json.dumps(full, indent=2, sort_keys=True).encode("utf-8"))
    if size > MAX_ENTRY_MANIFEST_BYTES:
        raise SubmissionError(f"the entry's manifest (with model config and provenance) would be {size} bytes; "
                              f"the limit is {MAX_ENTRY_MANIFEST_BYTES}")
    metrics = build_metrics(recomputed, suspicion_flags(preds, labels, recomputed, full), sha)
    entry_dir = pdir / entry_id
    _write_entry(entry_dir, full, metrics, sub["fs"], preds, labels)
    logger.info("accepted %s into %s (flags: %s)", model, entry_dir, metrics["flags"] or "none")
    return entry_dir


def build_metrics(recomputed: dict[str, Any], flags: list[str], predictions_sha: str) -> dict[str, Any]:
    """The ``metrics.json`` body: recomputed metrics (NaN as null), the review flags and the predictions' content
    hash (:func:`predictions_sha256`, used to refuse copies of an entry)."""
    out = json.loads(json.dumps(recomputed, default=finite_or_none), parse_constant=lambda c: None)
    for ds in out["datasets"].values():
        for m in ds.values():
            m["value"] = finite_or_none(m.get("value"))
            m["se"] = finite_or_none(m.get("se"))
    out["flags"] = list(flags)
    out["predictions_sha256"] = predictions_sha
    return out


def entry_predictions_sha256(entry_dir: Path, ref: dict[str, Any]) -> str | None:
    """The predictions hash of an accepted entry: from its ``metrics.json`` (``verify`` checks it), else computed
    from its ``predictions.npz``; None when the entry cannot be read (``verify`` reports why)."""
    try:
        met = read_json_limited(entry_dir / "metrics.json", MAX_RESULTS_BYTES, "metrics file")
        if isinstance(met, dict) and isinstance(met.get("predictions_sha256"), str):
            return met["predictions_sha256"]
        sub = load_submission_predictions(entry_dir / "predictions.npz", ref)
        return predictions_sha256({r: sub["arrays"][f"pred__{r}"] for r in sub["recording_ids"]
                                   if f"pred__{r}" in sub["arrays"]})
    except SubmissionError:
        return None


def _entry_with_predictions(pdir: Path, ref: dict[str, Any], sha: str) -> str | None:
    for child in sorted(pdir.iterdir()):
        if child.is_dir() and not child.name.startswith(".") and (child / "manifest.json").is_file():
            if entry_predictions_sha256(child, ref) == sha:
                return child.name
    return None


def check_reference_protocol(ref: dict[str, Any], pdir: Path, protocols_root: str | Path | None = None) -> None:
    """``reference.json`` must belong to the protocol YAML it names: same sha256 and version, and the evaluation
    settings the metrics are recomputed with (profile, window, HR method) equal to the protocol's. Without this a
    hand-edited ``reference.json`` (say a 5 s window) and entries regenerated with it would pass ``verify``."""
    from rppgbench._checks import ProtocolError
    from rppgbench.protocols import load_protocol

    name = ref["protocol"].get("name")
    where = pdir / "reference.json"
    try:
        proto = load_protocol(str(name), protocols_root)
    except (ProtocolError, FileNotFoundError) as exc:
        raise SubmissionError(f"{where}: cannot check it against its protocol {name!r}: {exc}") from None
    if ref["protocol"].get("sha256") != proto.protocol_hash or ref["protocol"].get("version") != proto.version:
        raise SubmissionError(f"{where} is for protocol {name!r} version {ref['protocol'].get('version')} sha256 "
                              f"{str(ref['protocol'].get('sha256'))[:16]}…, but {proto.path} is version "
                              f"{proto.version} sha256 {proto.protocol_hash[:16]}…: regenerate the reference")
    ev = ref.get("evaluation") or {}
    want = {"profile": proto.evaluation.profile, "window_s": proto.evaluation.window_s,
            "hr_method": proto.evaluation.hr_method}
    for key, value in want.items():
        got = ev.get(key)
        same = got == value or (isinstance(got, (int, float)) and isinstance(value, (int, float))
                                and float(got) == float(value))
        if not same:
            raise SubmissionError(f"{where}: evaluation.{key} is {got!r}, but protocol {proto.path} says "
                                  f"{value!r}; the reference must use the protocol's evaluation settings")


def _label_view(mcfg: Any, where: str) -> str:
    """The view the model's predictions and labels are in (``config.label_view``; ``raw`` when absent)."""
    cfg = mcfg.get("config", {}) if isinstance(mcfg, dict) else {}
    view = cfg.get("label_view", "raw") if isinstance(cfg, dict) else "raw"
    if view not in ("raw", "standardized", "diffnormalized"):
        raise SubmissionError(f"{where}.config.label_view must be raw, standardized or diffnormalized; "
                              f"found {view!r:.80}")
    return view


def _check_protocol(got: Any, ref: dict[str, Any], where: str) -> None:
    if not isinstance(got, dict):
        raise SubmissionError(f"{where}: protocol must be an object with name, version and sha256")
    for key in ("name", "version", "sha256"):
        if got.get(key) != ref.get(key):
            raise SubmissionError(f"{where}: protocol {key} is {got.get(key)!r}; the leaderboard expects "
                                  f"{ref.get(key)!r} (protocol {ref.get('name')!r} version {ref.get('version')})")


def _check_evaluation(got: Any, ref: dict[str, Any], where: str) -> None:
    for key in ("profile", "window_s"):
        if key in ref and (not isinstance(got, dict) or got.get(key) != ref[key]):
            found = got.get(key) if isinstance(got, dict) else None
            raise SubmissionError(f"{where}: evaluation.{key} is {found!r}; the protocol uses {ref[key]!r}")
