"""Train and evaluate one model of a run (used by :mod:`rppgbench.runner`).

Neural models are trained with :class:`rppgbench.training.Trainer` on clips of the train split (valid split for
``selection: best``) and predict whole test recordings with :func:`rppgbench.training.predict_recordings`.
Unsupervised methods read the RGB trace (spatial mean of the stored crops) of each test recording and predict
the BVP from it. The null baseline (:mod:`rppgbench.runner_null`) reads no frames: it predicts a sinusoid of each
test recording's length. Every model's test signals are evaluated per test dataset with
:func:`rppgbench.evaluation.evaluate`.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from rppgbench._checks import DataError
from rppgbench._logging import logger
from rppgbench._progress import Progress
from rppgbench._util import sha256_file
from rppgbench.evaluation.metrics import metric_spec
from rppgbench.results.io import write_predictions, write_toolbox_pickle

__all__ = ["run_model"]


def _split_by_dataset(keys: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k in keys:
        ds, _, rid = k.partition("/")
        out.setdefault(ds, []).append(rid)
    return out


def _dataset_fs(table: Any, dataset: str, rids: list[str]) -> float:
    fps = table.set_index("recording_id").loc[rids, "fps"].astype(float).to_numpy()
    if fps.size and np.ptp(fps) > 1e-6:
        raise DataError(f"dataset {dataset}: recordings have different frame rates "
                        f"({', '.join(f'{v:g}' for v in sorted(set(fps.round(3))))} Hz); evaluate them separately")
    return float(fps[0])


def _train(mp: Any, plan: Any, stores: dict[str, Any], splits: Any, ckpt_dir: Path, resume: bool) -> tuple[Any, dict]:
    import torch

    from rppgbench.models import create_model
    from rppgbench.training import TrainConfig, Trainer, clip_dataset

    tr = mp.training
    seed = int(tr.seed)
    torch.manual_seed(seed)
    model = create_model(mp.name, **mp.overrides)
    cfg = model.cfg

    def dataset_of(split: str) -> Any:
        stride = tr.clip_stride if split == "train" else None
        parts = [clip_dataset(stores[ds], rids, cfg, stride=stride)
                 for ds, rids in sorted(_split_by_dataset(splits[split]).items())]
        for ds_, p in zip(sorted(_split_by_dataset(splits[split])), parts, strict=True):
            if len(p) == 0:
                raise DataError(f"{split} split of dataset {ds_}: no clip of {cfg.clip_len} frames fits in its "
                                f"recordings (model {mp.id})")
        return parts[0] if len(parts) == 1 else torch.utils.data.ConcatDataset(parts)

    train_ds = dataset_of("train")
    valid_ds = dataset_of("valid") if splits["valid"] and tr.selection == "best" else None
    optimizer = dict(cfg.optimizer)
    if tr.optimizer is not None:
        optimizer["name"] = tr.optimizer
    if tr.lr is not None:
        optimizer["lr"] = tr.lr
    if tr.weight_decay is not None:
        optimizer["weight_decay"] = tr.weight_decay
    tc = TrainConfig(epochs=tr.epochs, batch_size=tr.batch_size, optimizer=optimizer, scheduler=tr.scheduler,
                     loss=tr.loss, seed=seed,
                     device=plan.options.device, selection=tr.selection, out_dir=ckpt_dir,
                     max_steps_per_epoch=tr.max_steps_per_epoch, stop_after_epochs=plan.options.stop_after_epochs)
    trainer = Trainer(model, cfg, tc)
    can_resume = resume and (ckpt_dir / "last.pt").is_file()
    logger.info("model %s: training on %d clips (%d recordings)%s", mp.id, len(train_ds), len(splits["train"]),
                ", resuming" if can_resume else "")
    history = trainer.fit(train_ds, valid_ds, resume=can_resume)
    info = {"epochs": trainer.epochs, "batch_size": trainer.batch_size, "optimizer": trainer.optimizer_spec,
            "scheduler": trainer.scheduler_spec, "loss": trainer.loss_name, "selection": tr.selection,
            "n_train_clips": len(train_ds), "clip_stride": int(tr.clip_stride or cfg.clip_len), "history": history,
            "finished": bool(history) and history[-1]["epoch"] == trainer.epochs - 1}
    return model, info


def _predict(mp: Any, model: Any, stores: dict[str, Any], test: dict[str, list[str]], device: str | None
             ) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    out: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for ds, rids in sorted(test.items()):
        st = stores[ds]
        if mp.cfg.kind in ("unsupervised", "baseline"):
            table = st.recordings().set_index("recording_id")
            sig = {}
            bar = Progress("predict", len(rids), label=mp.id, unit="recordings")
            for i, rid in enumerate(rids):
                fs = float(table.loc[rid, "fps"])
                x = st.rgb_trace(rid) if mp.cfg.kind == "unsupervised" else st.n_frames(rid)  # null: length only
                pred = np.asarray(model.predict(x, fs), dtype=np.float64)
                label = np.asarray(st.read_label(rid, mp.cfg.label_view), dtype=np.float64)
                if pred.shape != label.shape:
                    raise DataError(f"model {mp.id} returned {pred.size} samples for {label.size} label samples",
                                    recording=rid)
                sig[rid] = (pred, label)
                bar.update(i + 1, recording=rid)
            out[ds] = sig
        else:
            from rppgbench.training import predict_recordings
            from rppgbench.training.trainer import resolve_device

            out[ds] = predict_recordings(model, mp.cfg, st, rids, device=resolve_device(device),
                                         batch_size=int(mp.training.batch_size or mp.cfg.batch_size))
    return out


def _write_card(mp: Any, plan: Any, checkpoint: Path) -> None:
    """``model.json`` beside the weights: what ``infer --checkpoint`` needs to crop a video as training did."""
    from rppgbench.training.run_card import write_run_card

    write_run_card(checkpoint, model=mp.name, model_id=mp.id, overrides=mp.overrides, config=mp.cfg.as_dict(),
                   recipes={ds: r.as_dict() for ds, r in mp.recipes.items()}, protocol=plan.protocol.name)


def _keep_evaluated_weights(mp: Any, plan: Any, ckpt_dir: Path) -> None:
    """A copy of the evaluated weights and their run card in the run folder (``checkpoints/<id>/model.pt``, no
    ``last.pt``: nothing was trained), so ``infer --checkpoint`` on the run crops as this run did."""
    import hashlib

    from rppgbench._util import atomic_write

    src = Path(mp.checkpoint["path"])
    data = src.read_bytes()
    if hashlib.sha256(data).hexdigest() != mp.checkpoint["sha256"]:
        raise DataError(f"checkpoint {src} changed while the run was reading it (sha256 differs)")
    atomic_write(ckpt_dir / "model.pt", data)
    _write_card(mp, plan, ckpt_dir / "model.pt")


def run_model(mp: Any, plan: Any, stores: dict[str, Any], tables: dict[str, Any], splits: Any, out_dir: Path,
              resume: bool) -> dict[str, Any]:
    """Train (neural) and evaluate one model; write its predictions; return its rows and model entry."""
    from rppgbench.evaluation import evaluate

    proto = plan.protocol
    ev = proto.evaluation
    t0 = time.perf_counter()
    ckpt_sha = None
    train_info: dict[str, Any] = {}
    n_params = 0
    if mp.cfg.kind == "neural" and mp.checkpoint is not None:  # test only: the given weights, no training
        from rppgbench.runner_checkpoint import load_for_eval

        model, train_info = load_for_eval(mp)
        n_params = int(sum(p.numel() for p in model.parameters()))
        ckpt_sha = mp.checkpoint["sha256"]
        logger.info("model %s: evaluating checkpoint %s (sha256 %s, source %s); no training", mp.id,
                    mp.checkpoint["path"], ckpt_sha[:12], mp.checkpoint["source"] or "not given")
        _keep_evaluated_weights(mp, plan, out_dir / "checkpoints" / mp.id)
    elif mp.cfg.kind == "neural":
        ckpt_dir = out_dir / "checkpoints" / mp.id
        model, train_info = _train(mp, plan, stores, splits, ckpt_dir, resume)
        n_params = int(sum(p.numel() for p in model.parameters()))
        if not train_info["finished"]:
            return {"interrupted": True}
        if (ckpt_dir / "model.pt").is_file():
            ckpt_sha = sha256_file(ckpt_dir / "model.pt")
            _write_card(mp, plan, ckpt_dir / "model.pt")
    elif mp.cfg.kind == "baseline":
        from rppgbench.runner_null import build_null

        model = build_null(mp, plan, stores, tables, splits)
    else:
        from rppgbench.models import create_model

        model = create_model(mp.name, **mp.overrides)
    train_wall = time.perf_counter() - t0
    from rppgbench.runner_dist import is_main

    if not is_main():  # a DDP rank other than 0 only trains its shard; rank 0 predicts and evaluates
        return {"rows": [], "per_recording": [], "model": {}, "interrupted": False}
    t1 = time.perf_counter()
    test = _split_by_dataset(splits["test"])
    logger.info("model %s: predicting %d test recording(s)", mp.id, len(splits["test"]))
    signals = _predict(mp, model, stores, test, plan.options.device)
    rows: list[dict[str, Any]] = []
    per_rec: list[dict[str, Any]] = []
    all_sig: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    all_hr: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    fs_used = None
    for ds, sig in sorted(signals.items()):
        fs = _dataset_fs(tables[ds], ds, list(sig))
        fs_used = fs if fs_used is None else fs_used
        res = evaluate(sig, fs, ev.profile, ev.window_s, label_type=mp.cfg.label_view, hr_method=ev.hr_method)
        for spec in map(metric_spec, ev.metrics):
            m = res.metrics.get(spec.name)
            if m is None:
                raise DataError(f"evaluation profile {ev.profile} did not compute metric {spec.name}")
            rows.append({"protocol": proto.name, "model": mp.id, "test_dataset": ds, "metric": spec.name,
                         "value": m.get("value"), "se": m.get("se"), "unit": spec.unit,
                         "n_windows": int(len(res.windows) - res.n_excluded), "n_recordings": len(sig),
                         "n_tails_dropped": res.n_tails_dropped,
                         "profile": res.profile, "hr_resolution_bpm": res.hr_resolution_bpm,
                         "window_s": res.window_s})
        subj = tables[ds].set_index("recording_id")["subject"]
        for r in res.per_recording.itertuples(index=False):
            per_rec.append({"model": mp.id, "test_dataset": ds, "recording": r.recording,
                            "subject": str(subj.loc[r.recording]), "hr_pred": float(r.hr_pred),
                            "hr_ref": float(r.hr_ref), "abs_error": float(r.abs_error),
                            "n_windows": int(r.n_windows)})
        for rid, (p, lab) in sig.items():
            key = f"{ds}/{rid}"
            all_sig[key] = (p, lab)
            w = res.windows[res.windows["recording"] == rid]
            all_hr[key] = (w["hr_pred"].to_numpy(float), w["hr_ref"].to_numpy(float))
    pred_dir = out_dir / "predictions"
    write_predictions(pred_dir / f"{mp.id}.npz", float(fs_used), all_sig, all_hr)
    write_toolbox_pickle(pred_dir / f"{mp.id}_toolbox.pkl", all_sig, float(fs_used), mp.cfg.label_view,
                         mp.cfg.clip_len)
    eval_wall = time.perf_counter() - t1
    logger.info("model %s done: train %.1fs, eval %.1fs", mp.id, train_wall, eval_wall)
    entry = {"name": mp.name, "config": mp.cfg.as_dict(), "overrides": mp.overrides, "kind": mp.cfg.kind,
             "n_params": n_params, "checkpoint_sha256": ckpt_sha, "train_wall_s": train_wall,
             "eval_wall_s": eval_wall, "seed": int(mp.training.seed),
             "training": {k: v for k, v in train_info.items() if k != "finished"},
             "recipe_ids": {ds: r.recipe_id for ds, r in sorted(mp.recipes.items())}, "sources": dict(mp.sources)}
    if mp.checkpoint is not None:
        entry["checkpoint"] = dict(mp.checkpoint)
    if mp.cfg.kind == "baseline":
        entry["null"] = model.describe()
    return {"rows": rows, "per_recording": per_rec, "model": entry, "interrupted": False}
