"""Trainer cost on CPU: seconds per step of the tiny variants, the generic Trainer's overhead over a bare
training loop (a ratio measured in the same run), checkpoint size/time and whole-recording prediction speed.

Usage::

    python benchmarks/training.py                          # every registered tiny neural model
    python benchmarks/training.py --models physfsunet.tiny --steps 6

Prints one row per model:

``step_s_trainer`` / ``step_s_bare``
    median seconds per training step with :class:`rppgbench.training.Trainer` (loss, optimiser, schedule, RNG
    bookkeeping, one checkpoint per epoch) and with a hand-written loop doing the same forward/backward/step;
``overhead``
    their ratio (1.00 = no overhead);
``ckpt_kb`` / ``ckpt_ms``
    size of ``last.pt`` and the time to write it atomically;
``predict_clips_per_s``
    eval-mode clips per second of :func:`rppgbench.training.predict_array` on a 4-clip recording plus tail.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from rppgbench.models import create_model, list_models
from rppgbench.training import ArrayClipDataset, TrainConfig, Trainer, predict_array
from rppgbench.training.data import clip_extra_frames, model_input, model_output
from rppgbench.training.losses import get_loss
from rppgbench.training.trainer import build_optimizer


def synthetic(cfg, n_clips: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    T = cfg.clip_len * n_clips
    t = np.arange(T) / cfg.fps
    pulse = np.sin(2 * np.pi * 1.3 * t)
    size = cfg.frame_size
    v = rng.normal(0, 1, (cfg.channels, T, size, size)) + pulse[None, :, None, None]
    return {"r0": v.astype(np.float32)}, {"r0": pulse.astype(np.float32)}


def bench(name: str, steps: int, batch: int) -> dict[str, float]:
    torch.manual_seed(0)
    model = create_model(name)
    cfg = model.cfg
    videos, labels = synthetic(cfg, steps * batch)
    ds = ArrayClipDataset(videos, labels, cfg.clip_len, extra_frames=clip_extra_frames(cfg))
    init = {k: v.clone() for k, v in model.state_dict().items()}

    # bare loop: same batches, same loss, same optimiser, no scheduler/checkpoint/RNG bookkeeping
    loss_fn = get_loss(cfg.loss, **cfg.loss_kwargs)
    opt = build_optimizer(model.parameters(), cfg.optimizer)
    model.train()
    bare = []
    for i in range(steps):
        items = [ds[j] for j in range(i * batch, (i + 1) * batch)]
        x, y = torch.stack([it[0] for it in items]), torch.stack([it[1] for it in items])
        t0 = time.perf_counter()
        out = model(model_input(x, cfg))
        out = model_output(out["bvp"] if isinstance(out, dict) else out, cfg, len(x))
        loss = loss_fn(out, y, epoch=0, epochs=1, fs=cfg.fps)
        opt.zero_grad()
        loss.backward()
        opt.step()
        bare.append(time.perf_counter() - t0)

    model.load_state_dict(init)
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        hist = Trainer(model, cfg, TrainConfig(epochs=1, batch_size=batch, out_dir=d)).fit(ds)
        total = time.perf_counter() - t0
        ck = Path(d) / "last.pt"
        size_kb = ck.stat().st_size / 1024
        state = torch.load(ck, weights_only=True)
        t1 = time.perf_counter()
        from rppgbench.training.trainer import save_atomic

        save_atomic(state, Path(d) / "again.pt")
        ck_ms = (time.perf_counter() - t1) * 1000
    step_trainer = total / hist[0]["steps"]

    frames = np.concatenate([videos["r0"], videos["r0"][:, : cfg.clip_len // 2]], axis=1)
    n_clips = len(range(0, frames.shape[1] - cfg.clip_len + 1, cfg.clip_len)) + 1
    t0 = time.perf_counter()
    predict_array(model, cfg, frames, batch_size=batch)
    pred_s = time.perf_counter() - t0
    return {"step_s_trainer": step_trainer, "step_s_bare": statistics.median(bare),
            "overhead": step_trainer / statistics.median(bare), "ckpt_kb": size_kb, "ckpt_ms": ck_ms,
            "predict_clips_per_s": n_clips / pred_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="*", default=None, help="model names (default: all tiny neural models)")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--batch", type=int, default=2)
    args = ap.parse_args()
    names = args.models or [n for n in list_models(kind="neural") if n.endswith(".tiny")]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.steps} steps x batch {args.batch}")
    cols = ["step_s_trainer", "step_s_bare", "overhead", "ckpt_kb", "ckpt_ms", "predict_clips_per_s"]
    print(f"{'model':<20}" + "".join(f"{c:>21}" for c in cols))
    for n in names:
        r = bench(n, args.steps, args.batch)
        print(f"{n:<20}" + "".join(f"{r[c]:>21.3f}" for c in cols))


if __name__ == "__main__":
    main()
