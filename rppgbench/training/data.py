"""The torch bridge between prepared stores and the trainer.

The trainer accepts any ``torch.utils.data.Dataset`` whose items are
``(clip float32 C x T' x H x W, label float32 T, recording_id str, start int)`` with
``T' = clip_len + extra_frames`` — the item format of the store's ``ClipDataset``. This module builds
such datasets for a model's contract (:func:`clip_dataset`) and the seeded ``DataLoader`` the trainer
uses (:func:`make_loader`). :class:`ArrayClipDataset` serves the same items from in-memory arrays
(tests, notebooks, a user's own data).

Items have the same layout for every model; :func:`model_input` lays a batch ``B x C x T' x H x W`` out as the
model's ``cfg.layout`` asks and :func:`model_output` turns the model's output back into ``(B, T)``:

* ``ncdhw``: unchanged; the model returns ``(B, T)``;
* ``ntchw``: ``B x T' x C x H x W`` (frames before channels); the model returns ``(B, T)``;
* ``frames``: the clips flattened into one frame sequence ``(B*T) x C x H x W`` followed by ``extra_frames``
  copies of its last frame (rPPG-Toolbox's 2-D trainers: TS-CAN, DeepPhys, EfficientPhys); the model returns
  ``B*T`` values (``(B*T, 1)`` or ``(B*T,)``), one per frame.
"""
from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

from rppgbench._checks import DataError, check_range
from rppgbench.store.torchdata import ClipDataset, clip_starts

__all__ = ["ArrayClipDataset", "clip_dataset", "make_loader", "seed_worker", "clip_starts", "model_input",
           "model_output", "check_clip_frames", "clip_extra_frames"]


class ArrayClipDataset(Dataset):
    """Clips from in-memory recordings, in the store ``ClipDataset`` item format.

    Parameters
    ----------
    videos : mapping recording_id -> array (C, N, H, W)
        Frames already in the model's input view (float32 is used as is).
    labels : mapping recording_id -> array (N,)
    clip_len, extra_frames, stride, drop_tail
        As in :func:`clip_starts`. The ``extra_frames`` trailing frames come from the recording when
        available, otherwise the last frame is repeated (as the rPPG-Toolbox does for FactorizePhys).
    """

    def __init__(self, videos: Mapping[str, Any], labels: Mapping[str, Any], clip_len: int, extra_frames: int = 0,
                 stride: int | None = None, drop_tail: bool = True) -> None:
        if set(videos) != set(labels):
            raise DataError(f"videos and labels must have the same recording ids; only in videos: "
                            f"{sorted(set(videos) - set(labels))}, only in labels: {sorted(set(labels) - set(videos))}")
        self.clip_len = int(clip_len)
        self.extra_frames = int(extra_frames)
        self.videos = {k: torch.as_tensor(np.asarray(v, dtype=np.float32)) for k, v in videos.items()}
        self.labels = {k: torch.as_tensor(np.asarray(labels[k], dtype=np.float32)) for k in videos}
        self.index: list[tuple[str, int]] = []
        for rid, v in self.videos.items():
            if v.ndim != 4:
                raise DataError(f"video must be (C, N, H, W); got shape {tuple(v.shape)}", recording=rid)
            n = v.shape[1]
            if self.labels[rid].shape != (n,):
                raise DataError(f"label must have shape ({n},) to match the video; got {tuple(self.labels[rid].shape)}",
                                recording=rid)
            starts = clip_starts(n, self.clip_len, stride, drop_tail)
            if not starts:
                raise DataError(f"recording has {n} frames, fewer than clip_len={self.clip_len}", recording=rid)
            self.index += [(rid, s) for s in starts]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, str, int]:
        rid, s = self.index[i]
        v = self.videos[rid]
        n = v.shape[1]
        stop = s + self.clip_len + self.extra_frames
        clip = v[:, s:min(stop, n)]
        if stop > n:
            clip = torch.cat([clip, clip[:, -1:].expand(-1, stop - n, -1, -1)], dim=1)
        return clip.contiguous(), self.labels[rid][s:s + self.clip_len].clone(), rid, s


def clip_dataset(store: Any, recording_ids: Sequence[str], cfg: Any, *, stride: int | None = None,
                 drop_tail: bool = True) -> Dataset:
    """The store's ``ClipDataset`` for a model contract ``cfg`` (clip length, per-clip extra frames, views)."""
    if cfg.clip_len is None:
        raise ValueError(f"model {cfg.name} has clip_len=None (whole recording); it is not trained on clips")
    return ClipDataset(store, list(recording_ids), cfg.clip_len, cfg.input_view, cfg.label_view,
                       extra_frames=clip_extra_frames(cfg), stride=stride, drop_tail=drop_tail)


def clip_extra_frames(cfg: Any) -> int:
    """Trailing frames each dataset clip of ``cfg`` carries (``extra_frames``; 0 in the ``frames`` layout, where
    :func:`model_input` adds them once per batch)."""
    return 0 if getattr(cfg, "layout", "ncdhw") == "frames" else int(getattr(cfg, "extra_frames", 0))


def check_clip_frames(cfg: Any, frames: int, where: str = "clips") -> int:
    """The output length ``T`` of clips of ``frames`` frames (``T' = T + per-clip extra frames``) for ``cfg``;
    ValueError naming the model, ``frame_multiple`` and both values when ``T`` is not a multiple of it."""
    t = int(frames) - clip_extra_frames(cfg)
    m = int(getattr(cfg, "frame_multiple", 1))
    if t < 1 or t % m:
        raise ValueError(f"model {cfg.name}: {where} of {t} frames (plus {clip_extra_frames(cfg)} extra) do not fit "
                         f"frame_multiple={m}: the frame count must be a positive multiple of {m}")
    return t


def model_input(clips: torch.Tensor, cfg: Any) -> torch.Tensor:
    """A batch of dataset clips ``B x C x T' x H x W`` laid out for the model (``cfg.layout``, module docstring)."""
    layout = getattr(cfg, "layout", "ncdhw")
    if layout == "ncdhw":
        return clips
    if clips.ndim != 5:
        raise ValueError(f"model {cfg.name}: a batch of clips must be B x C x T x H x W; got {tuple(clips.shape)}")
    if layout == "ntchw":
        return clips.permute(0, 2, 1, 3, 4).contiguous()
    b, c, t, h, w = clips.shape
    check_clip_frames(cfg, t)
    flat = clips.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)
    extra = int(cfg.extra_frames)
    if extra:
        flat = torch.cat([flat, flat[-1:].expand(extra, -1, -1, -1)], dim=0)
    return flat


def model_output(out: torch.Tensor, cfg: Any, batch: int) -> torch.Tensor:
    """The model's output as ``(batch, T)``: a ``frames`` model's ``B*T`` per-frame values are regrouped by clip."""
    if getattr(cfg, "layout", "ncdhw") != "frames":
        return out
    if out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if out.ndim != 1 or out.shape[0] % batch:
        raise ValueError(f"model {cfg.name} (layout 'frames') must return one value per frame, (B*T, 1) or (B*T,); "
                         f"got shape {tuple(out.shape)} for a batch of {batch} clips")
    return out.reshape(batch, -1)


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn``: seed numpy and ``random`` in a DataLoader worker from torch's per-worker seed."""
    seed = torch.initial_seed() % 2 ** 32
    np.random.seed(seed)
    random.seed(seed)


def make_loader(dataset: Dataset, batch_size: int, *, shuffle: bool, generator: torch.Generator | None = None,
                num_workers: int = 0, distributed: bool = False, seed: int = 0, drop_last: bool = False,
                pin_memory: bool = False) -> DataLoader:
    """A reproducible DataLoader: seeded ``generator`` and :func:`seed_worker`; with ``distributed`` a
    ``DistributedSampler`` (call ``loader.sampler.set_epoch(e)`` every epoch)."""
    check_range("batch_size", batch_size, 1, None)
    sampler = None
    if distributed:
        sampler = DistributedSampler(dataset, shuffle=shuffle, seed=seed, drop_last=drop_last)
        shuffle = False
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, sampler=sampler, num_workers=num_workers,
                      worker_init_fn=seed_worker, generator=generator, drop_last=drop_last, pin_memory=pin_memory,
                      persistent_workers=False)
