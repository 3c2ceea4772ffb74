"""Test helpers for the report and leaderboard tests: write a results directory in the exact format of
docs/results_format.md, with signals generated here and metrics computed by rppgbench.evaluation."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rppgbench.evaluation import evaluate
from rppgbench.evaluation.evaluate import json_safe
from rppgbench.protocols import load_protocol

FS = 30.0
PROTOCOL = "lbtest_quick"
#: the protocol YAML the test leaderboards' reference.json belongs to (submit and verify check it)
PROTOCOLS = Path(__file__).parent / "protocols_lb"
PROTOCOL_SHA = load_protocol(PROTOCOL, PROTOCOLS).protocol_hash


def make_labels(n_rec: int = 5, seconds: float = 30.0, seed: int = 0, dataset: str = "synthetic"):
    """Reference PPG-like waveforms with known HR (fundamental + 2nd harmonic), float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * FS)) / FS
    labels, hrs = {}, {}
    for i in range(n_rec):
        hr = float(rng.uniform(60, 100))
        f = hr / 60.0
        x = np.sin(2 * np.pi * f * t) + 0.4 * np.sin(4 * np.pi * f * t + 0.3)
        rid = f"{dataset}/s{i:02d}"
        labels[rid] = x.astype(np.float32)
        hrs[rid] = hr
    return labels, hrs


def make_pred(label_hr: float, n: int, shift_bpm: float, noise: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    f = (label_hr + shift_bpm) / 60.0
    return (np.sin(2 * np.pi * f * t + 1.0) + noise * rng.standard_normal(n)).astype(np.float32)


DEFAULT_MODELS = {  # name -> (kind, n_params, per-recording HR shifts in bpm, noise)
    "pos": ("unsupervised", 0, [0.0, 4.0, 0.0, 9.0, 2.0], 0.6),
    "chrom": ("unsupervised", 0, [6.0, 0.0, 12.0, 3.0, 8.0], 0.8),
    "tinynet": ("neural", 52000, [0.0, 0.0, 1.0, 0.0, 5.0], 0.3),
}


def write_results(path: Path, models: dict | None = None, *, protocol: str = PROTOCOL, version: int = 1,
                  sha: str = PROTOCOL_SHA, n_rec: int = 5, seconds: float = 30.0, window_s: float = 10.0,
                  profile: str = "rppgbench", dataset: str = "synthetic", seed: int = 0) -> Path:
    """Write ``results.json`` and ``predictions/<model>.npz``; every number is computed by ``evaluate``."""
    models = DEFAULT_MODELS if models is None else models
    labels, hrs = make_labels(n_rec, seconds, seed, dataset)
    ids = sorted(labels)
    rows, per_rec, mcfg = [], [], {}
    (path / "predictions").mkdir(parents=True, exist_ok=True)
    for k, (name, (kind, n_params, shifts, noise)) in enumerate(sorted(models.items())):
        # as the runner: each model sees labels in its own view (neural: standardized, unsupervised: raw)
        view = "standardized" if kind == "neural" else "raw"
        labs = {rid: ((x - x.mean()) / x.std()).astype(np.float32) if view == "standardized" else x
                for rid, x in labels.items()}
        preds = {rid: make_pred(hrs[rid], labels[rid].size, shifts[i % len(shifts)], noise, seed=100 * k + i)
                 for i, rid in enumerate(ids)}
        res = evaluate({rid: (preds[rid], labs[rid]) for rid in ids}, fs=FS, profile=profile, window_s=window_s,
                       label_type=view)
        for metric, m in res.metrics.items():
            rows.append({"protocol": protocol, "model": name, "test_dataset": dataset, "metric": metric,
                         "value": m["value"], "se": m["se"], "unit": m["unit"], "n_windows": int(len(res.windows)),
                         "n_recordings": int(len(res.per_recording)), "profile": profile,
                         "hr_resolution_bpm": res.hr_resolution_bpm, "window_s": window_s})
        for r in res.per_recording.to_dict(orient="records"):
            per_rec.append({"model": name, "test_dataset": dataset, "recording": r["recording"].split("/", 1)[1],
                            "subject": r["recording"].split("/", 1)[1], "hr_pred": r["hr_pred"],
                            "hr_ref": r["hr_ref"], "abs_error": r["abs_error"], "n_windows": r["n_windows"]})
        arrays = {"fs": np.float64(FS), "recording_ids": np.array(ids)}
        for rid in ids:
            w = res.windows[res.windows["recording"] == rid]
            arrays[f"pred__{rid}"] = preds[rid]
            arrays[f"label__{rid}"] = labs[rid]
            arrays[f"hr_pred__{rid}"] = w["hr_pred"].to_numpy(np.float64)
            arrays[f"hr_ref__{rid}"] = w["hr_ref"].to_numpy(np.float64)
        np.savez(path / "predictions" / f"{name}.npz", **arrays)
        mcfg[name] = {"config": {"name": name, "label_view": view}, "kind": kind, "n_params": n_params,
                      "checkpoint_sha256": None,
                      "train_wall_s": 0.0, "eval_wall_s": 0.1, "seed": 0}
    data = {
        "format_version": 1,
        "protocol": {"name": protocol, "version": version, "sha256": sha, "citation": {},
                     "path": f"protocols/synthetic/{protocol}.yaml"},
        "evaluation": {"profile": profile, "window_s": window_s, "hr_method": "fft", "fs": FS},
        "splits": {"train": [], "valid": [], "test": ids},
        "rows": rows, "per_recording": per_rec, "models": mcfg,
        "provenance": {"rppgbench_version": "0.1.0", "git_commit": "0" * 40, "python": "3.11", "torch": None,
                       "cuda": None, "device": "cpu", "platform": "test", "cpu_count": 2, "recipe_ids": {},
                       "stores": {}, "started": "2026-01-01T00:00:00Z", "finished": "2026-01-01T00:00:01Z",
                       "wall_s": 1.0, "command": "pytest"},
    }
    (path / "results.json").write_text(json.dumps(json_safe(data), indent=2), encoding="utf-8")
    return path


def manifest(**over):
    m = {"method_name": "My method", "code_url": "https://example.org/code", "training_data": ["synthetic"],
         "test_videos_seen": False, "hardware": "2-core CPU"}
    m.update(over)
    return m
