"""Whole-recording prediction with a clip-based model.

A recording of ``N`` frames is cut into consecutive clips of ``clip_len`` frames (starts ``0, L, 2L, ...``);
the model's eval-mode outputs are concatenated in order. The frames left over at the end (``N mod L``) are
**evaluated too** by default: one more clip aligned to the end of the recording (start ``N - L``) is
predicted and only its last ``N mod L`` samples are appended. ``drop_tail=True`` reproduces the
rPPG-Toolbox, which drops that tail. A model that consumes ``extra_frames`` trailing frames gets them from
the recording when they exist, otherwise the clip's last frame is repeated (the toolbox's FactorizePhys
convention). A recording shorter than ``clip_len`` raises :class:`~rppgbench._checks.DataError`: it is
never skipped silently.

Each batch of clips is laid out for the model by :func:`~rppgbench.training.data.model_input` (``cfg.layout``;
a per-frame 2-D model sees the batch's clips flattened into one frame sequence, plus its extra frames once, as
the rPPG-Toolbox trainers feed it) and the output regrouped per clip by
:func:`~rppgbench.training.data.model_output`. With ``cfg.output_norm == "zscore"`` every clip's output is
z-scored (unbiased std) before the recording's clips are joined, as the toolbox's RhythmFormer trainer does.
A ``frames`` model with extra frames (EfficientPhys differences consecutive frames across the whole batch) gets
batches of consecutive clips only: the end-aligned tail clip, which overlaps the clip before it, runs in a batch
of its own, so every difference but the batch's last (the repeated frame, as in the toolbox) is between
neighbouring frames of the recording.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from rppgbench._checks import DataError
from rppgbench._progress import Progress
from rppgbench.training.data import clip_extra_frames, clip_starts, model_input, model_output

__all__ = ["predict_array", "predict_recordings", "eval_segments"]


def eval_segments(n_frames: int, clip_len: int, drop_tail: bool = False) -> list[tuple[int, int, int]]:
    """``(clip_start, keep_from, keep_to)`` per clip: frames ``clip_start+keep_from .. clip_start+keep_to`` of the
    recording are taken from that clip's prediction (indices into the clip). Concatenated they cover
    ``[0, T_eval)`` with ``T_eval = N`` (or ``N - N mod L`` with ``drop_tail``), each frame once."""
    starts = clip_starts(n_frames, clip_len, clip_len, drop_tail=True)
    segs = [(s, 0, clip_len) for s in starts]
    covered = starts[-1] + clip_len if starts else 0
    if not drop_tail and starts and covered < n_frames:
        s = n_frames - clip_len
        segs.append((s, covered - s, clip_len))
    return segs


def _normalise(y: np.ndarray, mode: str) -> np.ndarray:
    """Per-row output normalisation (``cfg.output_norm``): ``zscore`` = (y - mean) / unbiased std (a constant
    row becomes 0)."""
    if mode == "none":
        return y
    y = y - y.mean(axis=1, keepdims=True)
    std = y.std(axis=1, ddof=1, keepdims=True) if y.shape[1] > 1 else np.zeros((len(y), 1))
    return np.divide(y, std, out=np.zeros_like(y), where=std > 0)


def _batches(segs: list[tuple[int, int, int]], batch_size: int, clip_len: int, consecutive: bool
             ) -> list[list[tuple[int, int, int]]]:
    """``segs`` in order, ``batch_size`` at a time; with ``consecutive`` a clip that does not start where the
    previous one ended opens a new batch."""
    out: list[list[tuple[int, int, int]]] = []
    for seg in segs:
        if not out or len(out[-1]) == batch_size or (consecutive and seg[0] != out[-1][-1][0] + clip_len):
            out.append([])
        out[-1].append(seg)
    return out


def _run_clips(model: torch.nn.Module, cfg: Any, get_clip: Callable[[int], torch.Tensor],
               segs: list[tuple[int, int, int]], device: torch.device, batch_size: int) -> np.ndarray:
    out: list[np.ndarray] = []
    norm = getattr(cfg, "output_norm", "none")
    consecutive = getattr(cfg, "layout", "ncdhw") == "frames" and int(getattr(cfg, "extra_frames", 0)) > 0
    with torch.no_grad():
        for chunk in _batches(segs, batch_size, int(cfg.clip_len), consecutive):
            x = torch.stack([get_clip(s) for s, _, _ in chunk]).to(device=device, dtype=torch.float32)
            y = model(model_input(x, cfg))
            if isinstance(y, dict):
                y = y["bvp"]
            y = _normalise(model_output(y, cfg, len(chunk)).detach().double().cpu().numpy(), norm)
            for row, (_, a, b) in zip(y, chunk, strict=True):
                out.append(row[a:b])
    return np.concatenate(out) if out else np.zeros(0)


def _prepare_model(model: torch.nn.Module, device: str | torch.device) -> tuple[torch.nn.Module, torch.device, bool]:
    device = torch.device(device)
    was_training = model.training
    model.to(device).eval()
    return model, device, was_training


def predict_array(model: torch.nn.Module, cfg: Any, frames: Any, *, device: str | torch.device = "cpu",
                  batch_size: int = 4, drop_tail: bool = False, recording: str | None = None) -> np.ndarray:
    """Predict the BVP of one recording held in memory.

    Parameters
    ----------
    frames : array or tensor (C, N, H, W)
        Frames in the model's input view(s) (several views: their channels concatenated, ``cfg.channels`` in all).
    Returns float64 ``(T_eval,)``.
    """
    x = torch.as_tensor(np.asarray(frames, dtype=np.float32))
    if x.ndim != 4:
        raise DataError(f"frames must be (C, N, H, W); got shape {tuple(x.shape)}", recording=recording)
    n, L, extra = x.shape[1], int(cfg.clip_len), clip_extra_frames(cfg)
    if n < L:
        raise DataError(f"recording has {n} frames, fewer than the model's clip_len={L}", recording=recording)

    def get_clip(s: int) -> torch.Tensor:
        stop = s + L + extra
        c = x[:, s:min(stop, n)]
        if stop > n:
            c = torch.cat([c, c[:, -1:].expand(-1, stop - n, -1, -1)], dim=1)
        return c

    model, dev, was_training = _prepare_model(model, device)
    try:
        return _run_clips(model, cfg, get_clip, eval_segments(n, L, drop_tail), dev, batch_size)
    finally:
        model.train(was_training)


def _n_frames(store: Any, rid: str) -> int:
    """Frame count of ``rid`` from the store (``n_frames(rid)`` or the ``recordings()`` listing)."""
    if hasattr(store, "n_frames"):
        return int(store.n_frames(rid))
    recs = store.recordings()
    if hasattr(recs, "set_index"):  # a DataFrame
        key = "recording_id" if "recording_id" in recs.columns else "recording"
        return int(recs.set_index(key).loc[rid, "n_frames"])
    for r in recs:
        rr = r if isinstance(r, dict) else getattr(r, "__dict__", {})
        if rr.get("recording_id", rr.get("id")) == rid:
            return int(rr["n_frames"])
    raise DataError("recording not found in store", recording=rid)


def _to_cthw(frames: Any, channels: int) -> torch.Tensor:
    """Store frames (T, H, W, C) or (C, T, H, W) -> tensor (C, T, H, W) float32."""
    x = torch.as_tensor(np.asarray(frames, dtype=np.float32))
    if x.ndim == 4 and x.shape[-1] == channels and x.shape[0] != channels:
        x = x.permute(3, 0, 1, 2)
    return x


def predict_recordings(model: torch.nn.Module, cfg: Any, store: Any, recording_ids: Sequence[str], *,
                       device: str | torch.device = "cpu", batch_size: int = 4, drop_tail: bool = False
                       ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Predict every recording of ``recording_ids`` from a prepared store.

    Returns ``{rid: (pred float64 (T_eval,), label float64 (T_eval,))}``; see the module docstring for the
    clip layout and the tail. Clips are read with ``store.read_clip(rid, start, stop, view, label_view)``
    in the model's input and label views.
    """
    L, extra = int(cfg.clip_len), clip_extra_frames(cfg)
    model, dev, was_training = _prepare_model(model, device)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    bar = Progress("predict", len(recording_ids), label=str(cfg.name), unit="recordings")
    try:
        for i, rid in enumerate(recording_ids):
            n = _n_frames(store, rid)
            if n < L:
                raise DataError(f"recording has {n} frames, fewer than model {cfg.name}'s clip_len={L}", recording=rid)
            segs = eval_segments(n, L, drop_tail)
            labels: dict[int, np.ndarray] = {}

            def get_clip(s: int, rid: str = rid, n: int = n, labels: dict = labels) -> torch.Tensor:
                stop = min(s + L + extra, n)
                frames, lab = store.read_clip(rid, s, stop, cfg.input_view, cfg.label_view)
                c = _to_cthw(frames, cfg.channels)
                if c.shape[1] < L + extra:
                    c = torch.cat([c, c[:, -1:].expand(-1, L + extra - c.shape[1], -1, -1)], dim=1)
                if hasattr(store, "read_label"):  # exactly the label a ClipDataset item carries
                    lab = store.read_label(rid, view=cfg.label_view, start=s, stop=s + L)
                labels[s] = np.asarray(lab, dtype=np.float64)[:L]
                return c

            pred = _run_clips(model, cfg, get_clip, segs, dev, batch_size)
            label = np.concatenate([labels[s][a:b] for s, a, b in segs])
            out[rid] = (pred, label)
            bar.update(i + 1, recording=rid)
    finally:
        model.train(was_training)
    return out
