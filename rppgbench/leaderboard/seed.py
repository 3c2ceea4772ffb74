"""Maintainer tools: create a protocol's ``reference.json`` from a trusted run, and seed a leaderboard with every
model of a run (used for the synthetic protocol, whose data we generate and may ship)."""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rppgbench._checks import SubmissionError
from rppgbench._logging import logger
from rppgbench._util import atomic_write, atomic_write_text
from rppgbench.leaderboard.schema import (
    MAX_RESULTS_BYTES,
    REFERENCE_FILE,
    REFERENCE_LABELS_FILE,
    _safe,
    label_sha256,
    read_json_limited,
)
from rppgbench.leaderboard.submit import _label_view, load_submission_predictions, submit

__all__ = ["write_reference", "seed_from_results", "SYNTHETIC_NOTE"]

SYNTHETIC_NOTE = ("Synthetic-data result: rppgbench's generated videos with known pulse, not real faces. "
                  "Not comparable with numbers on real-video datasets.")


def write_reference(results_dir: str | Path, root: str | Path = "leaderboards", *, ship_labels: bool = False,
                    model: str | None = None, overwrite: bool = False) -> Path:
    """Write ``<root>/<protocol>/reference.json`` from a trusted run whose labels came from the prepared store.

    Parameters
    ----------
    results_dir : path
        A results directory produced by ``rppgbench run`` on the maintainer's machine.
    root : path
        Leaderboard root.
    ship_labels : bool
        Also write ``reference_labels.npz`` with the label arrays (only for data that may be redistributed,
        e.g. the synthetic protocol).
    model : str, optional
        Use only this model's predictions file; default every model of the run (each contributes the
        labels of its ``label_view``; models sharing a view must agree).
    overwrite : bool
        Replace an existing reference (changes what every entry is verified against).
    """
    results_dir = Path(results_dir)
    res = read_json_limited(results_dir / "results.json", MAX_RESULTS_BYTES, "results file")
    proto = res["protocol"]
    name = _safe("protocol.name", proto["name"])
    models = [model] if model else (sorted(res.get("models", {})) or sorted({r["model"] for r in res["rows"]}))
    test = sorted(res.get("splits", {}).get("test", []))
    labels: dict[str, dict[str, np.ndarray]] = {}  # view -> id -> label
    fs = None
    for m in models:
        _safe("model", m)
        view = _label_view(res.get("models", {}).get(m, {}), f"results.json models.{m}")
        sub = load_submission_predictions(results_dir / "predictions" / f"{m}.npz")
        ids = sorted(sub["recording_ids"])
        if test and ids != test:
            raise SubmissionError(f"{results_dir}: predictions of {m!r} do not cover the test split exactly")
        test = test or ids
        fs = sub["fs"] if fs is None else fs
        if sub["fs"] != fs:
            raise SubmissionError(f"{results_dir}: models disagree on fs ({fs} vs {sub['fs']} for {m!r})")
        got = {rid: np.asarray(sub["arrays"][f"label__{rid}"], dtype=np.float32) for rid in ids}
        if view in labels:
            bad = [rid for rid in ids if label_sha256(got[rid]) != label_sha256(labels[view][rid])]
            if bad:
                raise SubmissionError(f"{results_dir}: models disagree on the {view} labels of {bad}; "
                                      "not a consistent run")
        labels[view] = got
    ev = res.get("evaluation", {})
    ref = {
        "format": 1,
        "protocol": {"name": name, "version": proto["version"], "sha256": proto["sha256"],
                     "citation": proto.get("citation"), "path": proto.get("path")},
        "evaluation": {"profile": ev["profile"], "window_s": ev.get("window_s"), "fs": float(fs),
                       "hr_method": ev.get("hr_method")},
        "recordings": {rid: {"views": {view: {"sha256": label_sha256(lab[rid]), "n_samples": int(lab[rid].size)}
                                       for view, lab in sorted(labels.items())}} for rid in test},
        "labels_shipped": bool(ship_labels),
        "source": {"recipe_ids": res.get("provenance", {}).get("recipe_ids", {}),
                   "rppgbench_version": res.get("provenance", {}).get("rppgbench_version"),
                   "models": models},
    }
    pdir = Path(root) / name
    pdir.mkdir(parents=True, exist_ok=True)
    target = pdir / REFERENCE_FILE
    if target.exists() and not overwrite:
        raise SubmissionError(f"{target} exists; pass overwrite=True to replace the reference of {name!r}")
    if ship_labels:
        arrays = {f"label__{view}__{rid}": arr for view, lab in labels.items() for rid, arr in lab.items()}
        atomic_write(pdir / REFERENCE_LABELS_FILE, lambda tmp: np.savez_compressed(tmp, **arrays))
    elif (pdir / REFERENCE_LABELS_FILE).exists():
        (pdir / REFERENCE_LABELS_FILE).unlink()
    atomic_write_text(target, json.dumps(ref, indent=2, sort_keys=True) + "\n")
    logger.info("wrote %s (%d recordings, views %s, labels shipped: %s)", target, len(test), sorted(labels),
                ship_labels)
    return target


def seed_from_results(results_dir: str | Path, root: str | Path = "leaderboards", *,
                      models: Sequence[str] | None = None, ship_labels: bool = True,
                      code_url: str = "https://github.com/rppgbench/rppgbench",
                      note: str = SYNTHETIC_NOTE, protocols_root: str | Path | None = None) -> list[Path]:
    """Submit every model of a trusted run (writing the protocol reference first when missing).

    Each entry's manifest says it was produced by rppgbench itself and carries ``note`` (by default the
    synthetic-data label); the null baseline's entry (id ``null``) also says which null ran and its HR.
    ``models`` seeds only those model ids (e.g. ``["null"]`` to add the null to an existing leaderboard).
    Returns the entry directories written.
    """
    results_dir = Path(results_dir)
    res = read_json_limited(results_dir / "results.json", MAX_RESULTS_BYTES, "results file")
    name = _safe("protocol.name", res["protocol"]["name"])
    if not (Path(root) / name / REFERENCE_FILE).is_file():
        write_reference(results_dir, root, ship_labels=ship_labels)
    prov: dict[str, Any] = res.get("provenance", {})
    train = sorted({str(r).split("/", 1)[0] for r in res.get("splits", {}).get("train", [])})
    out = []
    for m in (models or sorted(res.get("models", {}))):
        entry = res.get("models", {}).get(m, {})
        kind = entry.get("kind", "")
        null = entry.get("null") if kind == "baseline" and isinstance(entry.get("null"), dict) else None
        uses_train = kind == "neural" or (null is not None and null.get("source") == "train")
        notes = note
        if null is not None:  # the null baseline: say which one ran and where its HR came from
            notes = (f"Null baseline {null.get('name')}: a sinusoid at {null.get('hr_bpm'):.2f} bpm "
                     + ("(the mean reference HR of the train split's windows). " if uses_train else
                        f"({null.get('reference')}). ") + note)[:2000]
        ckpt = entry.get("checkpoint") if isinstance(entry.get("checkpoint"), dict) else None
        if ckpt is not None:  # evaluated from given weights: say where they came from, not this run's train split
            notes = (f"Weights evaluated without training in this run: {ckpt.get('source') or 'source not given'} "
                     f"(sha256 {str(ckpt.get('sha256', ''))[:12]}). " + note)[:2000]
        training_data = ([str(ckpt.get("source") or "given weights")[:120]] if ckpt is not None
                         else train if uses_train else [])
        manifest = {
            "method_name": str(entry.get("name", m)) if null is not None else m, "code_url": code_url,
            "training_data": training_data,
            "test_videos_seen": False,
            "hardware": f"{prov.get('device', 'cpu')}; {prov.get('platform', '')}".strip("; ")[:200],
            "submitter": "rppgbench maintainers (seed run)", "notes": notes,
            "synthetic_data_only": True, "entry_id": m,
        }
        out.append(submit(results_dir, name, model=m, manifest=manifest, root=root, protocols_root=protocols_root))
    return out

