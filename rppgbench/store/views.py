"""Input and label views computed on read from stored uint8 frames and float32 labels.

Definitions (ubicomplab/rPPG-Toolbox@d807b01 ``dataset/data_loader/BaseLoader.py``), with statistics over the **whole
recording** computed once at write time (:func:`recording_stats`):

* ``raw``: pixels 0–255 as float32.
* ``standardized``: ``(x - mean) / std``, scalar mean and std over all pixels and channels.
* ``diffnormalized``: ``d[t] = (f[t+1] - f[t]) / (f[t+1] + f[t] + 1e-7)`` for t < T-1, divided by the std of
  all ``d`` (the T-1 difference frames); frame T-1 is zero. NaN → 0.
* labels: ``raw``; ``standardized`` z-score; ``diffnormalized`` ``diff(l) / std(diff(l))`` with a 0 appended.

A zero std gives zeros (rPPG-Toolbox would give NaN and then set it to 0).

Several views can be read at once (``view=("diffnormalized", "standardized")``): they are concatenated on the
channel axis in that order, as rPPG-Toolbox stacks the types of a multi-type ``DATA_TYPE`` (TS-CAN, DeepPhys).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["VIEWS", "recording_stats", "frames_view", "label_view", "diffnorm_frames", "as_views"]

VIEWS = ("raw", "diffnormalized", "standardized")
_EPS = 1e-7
_BLOCK = 256


def as_views(view: str | Sequence[str], name: str = "view") -> tuple[str, ...]:
    """``view`` as a non-empty tuple of distinct views (a string is one view); ValueError naming ``name``."""
    views = (view,) if isinstance(view, str) else tuple(view)
    if not views or any(v not in VIEWS for v in views) or len(set(views)) != len(views):
        raise ValueError(f"{name} must be one of {VIEWS} or a sequence of distinct ones; got {view!r}")
    return views


def diffnorm_frames(f: np.ndarray) -> np.ndarray:
    """Unscaled diff-normalised frames of consecutive frames ``f`` (n, H, W, C) → (n-1, H, W, C) float32."""
    a = f.astype(np.float32, copy=False)
    return (a[1:] - a[:-1]) / (a[1:] + a[:-1] + np.float32(_EPS))


def recording_stats(frames: np.ndarray, ppg: np.ndarray) -> dict[str, float | None]:
    """Whole-recording statistics that the views need.

    Pixel mean/std come exactly from the histogram of the uint8 values; the std of the diff-normalised
    frames is accumulated over blocks in float64 (sum and sum of squares; its mean is ~0, so the one-pass
    formula loses nothing measurable).
    """
    T = len(frames)
    n_pix = float(np.prod(frames.shape[1:])) if T else 0.0
    n = T * n_pix
    if n:
        hist = np.zeros(256, dtype=np.float64)
        for i in range(0, T, _BLOCK):  # blocks: bincount converts its input to int64
            hist += np.bincount(np.asarray(frames[i:i + _BLOCK], dtype=np.uint8).reshape(-1), minlength=256)
        v = np.arange(256, dtype=np.float64)
        mean = float(hist @ v / n)
        std = float(np.sqrt(max(float(hist @ (v * v)) / n - mean * mean, 0.0)))
    else:
        mean = std = float("nan")
    dn_n = (T - 1) * n_pix
    dsum = dss = 0.0
    for i in range(0, T - 1, _BLOCK):
        d = diffnorm_frames(frames[i:i + _BLOCK + 1])
        dsum += float(d.sum(dtype=np.float64))
        dss += float(np.einsum("i,i->", d.reshape(-1), d.reshape(-1), dtype=np.float64))
    if dn_n:
        dmean = dsum / dn_n
        dstd = float(np.sqrt(max(dss / dn_n - dmean * dmean, 0.0)))
    else:
        dstd = float("nan")
    lab = np.asarray(ppg, dtype=np.float32).astype(np.float64)
    ld = np.diff(lab)
    return {
        "frames_mean": mean, "frames_std": std, "diffnorm_std": dstd,
        "label_mean": float(lab.mean()) if lab.size else float("nan"),
        "label_std": float(lab.std()) if lab.size else float("nan"),
        "label_diff_std": float(ld.std()) if ld.size else float("nan"),
    }


def _safe_div(x: np.ndarray, s: Any) -> np.ndarray:
    if s is None or not np.isfinite(s) or s == 0:
        return np.zeros_like(x)
    out = x / np.float32(s) if x.dtype == np.float32 else x / s
    out[~np.isfinite(out)] = 0
    return out


#: frames per step of the view arithmetic: a few hundred KB per operand, so every pass stays in the CPU cache
_CHUNK = 8


def frames_view(block: np.ndarray, view: str | Sequence[str], stats: dict[str, Any], n_out: int,
                channels_first: bool = False) -> np.ndarray:
    """View of ``n_out`` frames from uint8 ``block``: float32 (n_out, H, W, C), or (C, n_out, H, W) with
    ``channels_first`` (computed in that layout: no transposed copy of the float result is made).

    For ``diffnormalized`` the block holds the ``n_out`` frames plus the next frame when one exists (a
    block of exactly ``n_out`` frames means the last one is the recording's last frame, whose view is 0).
    A sequence of views gives their channels concatenated in that order.

    The arithmetic runs on chunks of :data:`_CHUNK` frames straight from uint8 (no whole-clip float32
    temporaries) with the same float32 operations in the same order as the definitions, so the values are
    bit-identical to the one-pass formulas (tested).
    """
    if not isinstance(view, str):
        views = as_views(view)
        if len(views) > 1:
            parts = [frames_view(block, v, stats, n_out, channels_first=channels_first) for v in views]
            return np.concatenate(parts, axis=0 if channels_first else -1)
        view = views[0]
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}; got {view!r}")
    if channels_first:
        block = np.ascontiguousarray(np.moveaxis(block, -1, 0))  # uint8: a quarter of the float32 bytes
        planes = [(block[c], c) for c in range(block.shape[0])]
        out = np.empty((block.shape[0], n_out) + block.shape[2:], np.float32)
    else:
        planes = [(block, None)]
        out = np.empty((n_out,) + block.shape[1:], np.float32)
    if view == "raw":
        for u, c in planes:
            np.copyto(out if c is None else out[c], u[:n_out], casting="unsafe")
        return out
    if view == "standardized":
        mean, std = stats.get("frames_mean"), stats.get("frames_std")
        if not _usable(std):
            out.fill(0)
            return out
        m, inv = np.float32(mean), np.float32(1.0 / std)
        for u, c in planes:
            o = out if c is None else out[c]
            for i in range(0, n_out, _CHUNK):
                j = min(i + _CHUNK, n_out)
                np.subtract(u[i:j], m, out=o[i:j], dtype=np.float32)
                o[i:j] *= inv
        return out
    # diffnormalized: (f[t+1] - f[t]) / ((f[t+1] + f[t] + eps) * std), frame t = n_out - 1 zero at the end
    std = stats.get("diffnorm_std")
    m = min(len(planes[0][0]) - 1, n_out)
    if m <= 0 or not _usable(std):
        out.fill(0)
        return out
    std32 = np.float32(std)
    den = np.empty((min(_CHUNK, m),) + planes[0][0].shape[1:], np.float32)
    for u, c in planes:
        o = out if c is None else out[c]
        o[m:] = 0
        for i in range(0, m, _CHUNK):
            j = min(i + _CHUNK, m)
            d = den[:j - i]
            num = np.subtract(u[i + 1:j + 1], u[i:j], out=o[i:j], dtype=np.float32)
            np.add(u[i + 1:j + 1], u[i:j], out=d, dtype=np.float32)
            d += np.float32(_EPS)
            d *= std32  # uint8 inputs: the denominator is >= 1e-7 · std > 0, so no NaN/inf can arise
            np.divide(num, d, out=num)
    return out


def _usable(s: Any) -> bool:
    return s is not None and bool(np.isfinite(s)) and s != 0


def label_view(block: np.ndarray, view: str, stats: dict[str, Any], n_out: int) -> np.ndarray:
    """Label view of ``n_out`` samples from float32 ``block`` (plus the next sample for diffnormalized)."""
    x = np.asarray(block, dtype=np.float64)
    if view == "raw":
        out = x[:n_out]
    elif view == "standardized":
        m = stats.get("label_mean")
        out = _safe_div(x[:n_out] - (m if m is not None else 0.0), stats.get("label_std"))
    elif view == "diffnormalized":
        d = _safe_div(np.diff(x), stats.get("label_diff_std"))
        if len(d) < n_out:
            d = np.concatenate([d, np.zeros(n_out - len(d))])
        out = d[:n_out]
    else:
        raise ValueError(f"label view must be one of {VIEWS}; got {view!r}")
    return out.astype(np.float32)
