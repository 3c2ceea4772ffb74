"""GPU smoke test of the three seed architectures: N training steps each on a synthetic store, AMP on and off.

Usage::

    python benchmarks/gpu_smoke.py                         # CUDA when present: full-size models, 5 steps
    python benchmarks/gpu_smoke.py --steps 20 --batch 4
    python benchmarks/gpu_smoke.py --device cpu --tiny     # CPU check (the test-suite runs this)

For each of ``factorizephys``, ``phasenet`` and ``physfsunet`` (``--tiny``: their ``.tiny`` variants) a synthetic
raw dataset is rendered and prepared into a store at the model's input size (``skin72`` recipe resized to the
model's ``frame_size``), and the model trains ``--steps`` optimiser steps (Adam, the model's own loss, batch
``--batch``) on its clips twice: with mixed precision (``torch.autocast``: float16 + ``GradScaler`` on CUDA,
bfloat16 on CPU) and without. Printed per model and AMP setting: parameters, median seconds per step (after one
warm-up step), peak memory (CUDA: ``torch.cuda.max_memory_allocated``; CPU: the process's peak RSS, which only
grows) and the first and last training loss. A non-finite loss is an error (exit code 1).
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from rppgbench.datasets.synthetic import write_raw_dataset
from rppgbench.models import create_model
from rppgbench.store import open_store, prepare
from rppgbench.training import clip_dataset
from rppgbench.training.data import model_input, model_output
from rppgbench.training.losses import get_loss
from rppgbench.training.trainer import build_optimizer

ARCHS = ("factorizephys", "phasenet", "physfsunet")


def _peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _store(root: Path, size: int, seconds: float, recordings: int) -> object:
    raw = root / "raw"
    if not raw.is_dir():
        write_raw_dataset(raw, recordings=recordings, recordings_per_subject=1, seconds=seconds, preset="clean",
                          width=160, height=120, seed=7)
    out = root / f"store{size}.zarr"
    if not out.exists():
        summary = prepare("synthetic", raw, recipe={"base": "skin72", "size": size}, out=out, workers=0)
        if not summary.ok:
            raise SystemExit("preparing the synthetic store failed:\n" + "\n".join(summary.lines()))
    return open_store(out)


def train_steps(name: str, store: object, device: torch.device, steps: int, batch: int, amp: bool) -> dict:
    torch.manual_seed(0)
    model = create_model(name).to(device).train()
    cfg = model.cfg
    ds = clip_dataset(store, store.recording_ids(), cfg)
    if len(ds) == 0:
        raise SystemExit(f"{name}: no clip of {cfg.clip_len} frames fits the synthetic recordings")
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True,
                                         generator=torch.Generator().manual_seed(0), drop_last=False)
    loss_fn = get_loss(cfg.loss, **(cfg.loss_kwargs or {}))
    opt = build_optimizer(model.parameters(), dict(cfg.optimizer))
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    scaler = torch.amp.GradScaler(device.type, enabled=amp and device.type == "cuda")
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times, losses = [], []
    it = iter(loader)
    for step in range(steps + 1):  # step 0 is a warm-up, not timed
        try:
            clip, label = next(it)[:2]
        except StopIteration:
            it = iter(loader)
            clip, label = next(it)[:2]
        clip, label = clip.to(device), label.to(device)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device.type, dtype=dtype, enabled=amp):
            out = model(model_input(clip, cfg))
        bvp = out["bvp"] if isinstance(out, dict) else out
        loss = loss_fn(model_output(bvp, cfg, clip.shape[0]).float(), label.float(), epoch=0, epochs=1,
                       fs=float(cfg.fps))
        if isinstance(out, dict) and out.get("aux_loss") is not None:
            loss = loss + out["aux_loss"].float()
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{name} (amp={amp}): non-finite loss {float(loss)} at step {step}")
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if step > 0:
            times.append(time.perf_counter() - t0)
        losses.append(float(loss.detach()))
    return {"model": name, "amp": amp, "device": str(device), "params": sum(p.numel() for p in model.parameters()),
            "clip": list(clip.shape[1:]), "batch": int(clip.shape[0]), "steps": steps,
            "step_s": statistics.median(times), "peak_mb": _peak_mb(device), "loss_first": losses[1],
            "loss_last": losses[-1]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default=None, help="cuda, cuda:N or cpu (default: cuda when present)")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--tiny", action="store_true", help="the .tiny variants on a small store (a CPU check)")
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    ap.add_argument("--work", default=None, help="folder for the synthetic data (default: a temporary one)")
    a = ap.parse_args(argv)
    if a.steps < 1 or a.batch < 1:
        ap.error("--steps and --batch must be >= 1")
    device = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda but torch sees no CUDA device")
    names = [f"{n}.tiny" if a.tiny else n for n in ARCHS]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(a.work or tmp)
        cfgs = {n: create_model(n).cfg for n in names}
        need_s = max((c.clip_len + (c.extra_frames or 0)) for c in cfgs.values()) / 30.0
        seconds = max(4.0, need_s * (a.batch + 1) / 2 + 1.0)  # a few clips per recording
        print(f"device {device}, torch {torch.__version__}, {'tiny' if a.tiny else 'full-size'} models, "
              f"{a.steps} steps, batch {a.batch}", flush=True)
        print(f"{'model':<20} {'amp':<5} {'params':>9} {'clip CxTxHxW':>16} {'step_s':>8} {'peak_MB':>9} "
              f"{'loss_first':>10} {'loss_last':>10}")
        for n in names:
            store = _store(root, int(cfgs[n].frame_size), seconds, recordings=2)
            for amp in (True, False):
                r = train_steps(n, store, device, a.steps, a.batch, amp)
                rows.append(r)
                print(f"{n:<20} {str(amp):<5} {r['params']:>9} {'x'.join(map(str, r['clip'])):>16} "
                      f"{r['step_s']:>8.3f} {r['peak_mb']:>9.0f} {r['loss_first']:>10.4f} {r['loss_last']:>10.4f}",
                      flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
