"""The torch Dataset over a prepared store (the only module of ``rppgbench.store`` that imports torch).

Items are ``(clip float32 (C, T', H, W), label float32 (T,), recording_id, start)`` with
``T' = clip_len + extra_frames``; views are computed on read with whole-recording statistics
(:mod:`rppgbench.store.views`). With several input views, ``C`` holds their channels concatenated in order
(3 per view). The item layout is the same for every model; :func:`rppgbench.training.data.model_input` lays a
batch out for a model's ``layout``.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from rppgbench._checks import DataError, check_option, check_range
from rppgbench.store.reader import Store, open_store
from rppgbench.store.views import VIEWS, as_views

__all__ = ["ClipDataset", "clip_starts"]


def clip_starts(n_frames: int, clip_len: int, stride: int | None = None, drop_tail: bool = True) -> list[int]:
    """Clip starts ``0, stride, 2·stride, …`` while ``clip_len`` frames fit; with ``drop_tail=False`` and
    frames left over, one more clip aligned to the end. Shorter recordings yield none."""
    stride = clip_len if stride is None else stride
    check_range("clip_len", clip_len, 1, None)
    check_range("stride", stride, 1, None)
    if n_frames < clip_len:
        return []
    starts = list(range(0, n_frames - clip_len + 1, stride))
    if not drop_tail and starts[-1] + clip_len < n_frames:
        starts.append(n_frames - clip_len)
    return starts


class ClipDataset(Dataset):
    """Clips of ``clip_len`` frames (plus ``extra_frames`` trailing frames) from store recordings.

    Parameters
    ----------
    store : Store or path
    recording_ids : sequence of str
        Every id must be a complete recording of the store; a recording shorter than ``clip_len`` is an
        error (never dropped silently).
    clip_len : int
    input_view : {"raw", "diffnormalized", "standardized"} or a sequence of them
        Several views are concatenated on the channel axis in the given order.
    label_view : {"raw", "diffnormalized", "standardized"}
    extra_frames : int
        Trailing frames beyond the label (FactorizePhys consumes T+1 frames); read from the recording,
        or the last frame repeated at the recording's end (as rPPG-Toolbox does).
    stride : int, optional
        Distance between clip starts (default ``clip_len``: non-overlapping).
    drop_tail : bool
        Drop the leftover frames after the last full clip (rPPG-Toolbox); False adds one end-aligned clip.
    """

    def __init__(self, store: Store | str | Path, recording_ids: Sequence[str], clip_len: int,
                 input_view: str | Sequence[str] = "raw", label_view: str = "raw", extra_frames: int = 0,
                 stride: int | None = None, drop_tail: bool = True) -> None:
        self.store = store if isinstance(store, Store) else open_store(store)
        self.clip_len = int(clip_len)
        self.extra_frames = int(extra_frames)
        check_range("extra_frames", self.extra_frames, 0, None)
        views = as_views(input_view, "input_view")
        self.input_view = views[0] if len(views) == 1 else views
        self.label_view = check_option("label_view", label_view, VIEWS)
        self.recording_ids = list(recording_ids)
        self.index: list[tuple[str, int]] = []
        for rid in self.recording_ids:
            n = self.store.n_frames(rid)
            starts = clip_starts(n, self.clip_len, stride, drop_tail)
            if not starts:
                raise DataError(f"recording has {n} frames, fewer than clip_len={self.clip_len}", recording=rid,
                                path=self.store.path)
            self.index += [(rid, s) for s in starts]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, str, int]:
        rid, s = self.index[i]
        n = self.store.n_frames(rid)
        want = self.clip_len + self.extra_frames
        stop = min(s + want, n)
        # (C, T', H, W) computed in that layout straight into the array handed to torch (torch.from_numpy shares
        # it): the float32 clip is written once, also when the recording's end repeats its last frame
        out = None
        if stop - s < want:
            h, w, c = self.store._array(rid, "frames").shape[1:]
            n_views = 1 if isinstance(self.input_view, str) else len(self.input_view)
            out = np.empty((c * n_views, want, h, w), np.float32)
        x, _ = self.store.read_clip(rid, s, stop, view=self.input_view, label_view="raw", channels_first=True,
                                    out=None if out is None else out[:, :stop - s])
        if out is not None:
            out[:, stop - s:] = out[:, stop - s - 1:stop - s]
            x = out
        y = self.store.read_label(rid, view=self.label_view, start=s, stop=s + self.clip_len)
        return torch.from_numpy(x), torch.from_numpy(np.ascontiguousarray(y)), rid, s
