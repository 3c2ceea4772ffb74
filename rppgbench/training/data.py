"""The torch bridge between prepared stores and the trainer.

The trainer accepts any ``torch.utils.data.Dataset`` whose items are
``(clip float32 C x T' x H x W, label float32 T, recording_id str, start int)`` with
``T' = clip_len + extra_frames`` — the item format of the store's ``ClipDataset``. This module builds
such datasets for a model's contract (:func:`clip_dataset`) and the seeded ``DataLoader`` the trainer
uses (:func:`make_loader`). :class:`ArrayClipDataset` serves the same items from in-memory arrays
(tests, notebooks, a user's own data).
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

__all__ = ["ArrayClipDataset", "clip_dataset", "make_loader", "seed_worker", "clip_starts"]


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
    """The store's ``ClipDataset`` for a model contract ``cfg`` (clip length, extra frames, views)."""
    if cfg.clip_len is None:
        raise ValueError(f"model {cfg.name} has clip_len=None (whole recording); it is not trained on clips")
    return ClipDataset(store, list(recording_ids), cfg.clip_len, cfg.input_view, cfg.label_view,
                       extra_frames=cfg.extra_frames, stride=stride, drop_tail=drop_tail)


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
