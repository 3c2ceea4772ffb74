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

import logging
import threading
from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np

try:  # the compiled view arithmetic (setup.py; optional: without a C compiler the numpy path gives the same values)
    from rppgbench import _kernels as _C
except ImportError:  # pragma: no cover - exercised where the extension could not be built
    _C = None

__all__ = ["VIEWS", "recording_stats", "frames_view", "label_view", "diffnorm_frames", "as_views", "KERNELS",
           "kernel", "use_kernel"]

log = logging.getLogger(__name__)

#: implementations of the float32 view arithmetic: ``"c"`` (the compiled extension ``rppgbench._kernels``:
#: one pass per element, ~4x faster than numpy on a 160x72x72 diffnormalized clip) and ``"numpy"``; both give
#: bit-identical values (tests/test_kernels.py)
KERNELS = ("c", "numpy")
_active = {"name": "c" if _C is not None else "numpy"}
if _C is None:
    log.info("rppgbench._kernels is not built (no C compiler at install?): views use numpy, same values, slower")


def kernel() -> str:
    """The view arithmetic in use, one of :data:`KERNELS`."""
    return _active["name"]


def use_kernel(name: str) -> str:
    """Select the view arithmetic (``"c"`` or ``"numpy"``) for the whole process; returns the previous choice.
    ``"c"`` raises RuntimeError when the extension is not built (reinstall with a C compiler present)."""
    if name not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}; got {name!r}")
    if name == "c" and _C is None:
        raise RuntimeError("the compiled view kernels (rppgbench._kernels) are not built in this install; "
                           "reinstall rppgbench with a C compiler present (pip install -e .) or use 'numpy'")
    prev, _active["name"] = _active["name"], name
    return prev

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


#: elements (frames x pixels x channels) per step of the view arithmetic: ~770 KB per float32 operand (measured
#: fastest on a 2-core EPYC VM: shorter steps pay numpy's per-call cost, whole clips leave the cache)
_STEP_ELEMS = 3 << 16

_scratch = threading.local()


def scratch(name: str, n: int, dtype: Any = np.float32) -> np.ndarray:
    """A flat per-thread scratch array of ``n`` elements, reused by later calls with the same ``name`` (its
    contents are only valid until then: never return it to a caller)."""
    bufs = getattr(_scratch, "bufs", None)
    if bufs is None:
        bufs = _scratch.bufs = {}
    a = bufs.get(name)
    if a is None or a.size < n or a.dtype != dtype:
        a = bufs[name] = np.empty(n, dtype)
    return a[:n]


def frames_view(block: np.ndarray, view: str | Sequence[str], stats: dict[str, Any], n_out: int,
                channels_first: bool = False, out: np.ndarray | None = None) -> np.ndarray:
    """View of ``n_out`` frames from uint8 ``block``: float32 (n_out, H, W, C), or (C, n_out, H, W) with
    ``channels_first`` (computed in that layout: no transposed copy of the float result is made).

    For ``diffnormalized`` the block holds the ``n_out`` frames plus the next frame when one exists (a
    block of exactly ``n_out`` frames means the last one is the recording's last frame, whose view is 0).
    A sequence of views gives their channels concatenated in that order.

    ``out``, when given, is a float32 array of the result's shape (any strides; e.g. a slice of a larger clip
    buffer) that receives the view, and is returned; otherwise a new C-contiguous array is.

    The arithmetic runs on steps of :data:`_STEP_ELEMS` elements (no whole-clip temporaries: per-thread scratch
    buffers of one step; with ``channels_first`` each step's frames are de-interleaved into planes first, in
    their input dtype), converting the step's frames to float32 once and then using the same float32 operations
    in the same order as the definitions, so the values are bit-identical to the one-pass formulas (tested).
    Each step's arithmetic runs in the compiled kernels when they are built and its operands are contiguous
    (:func:`kernel`), else in numpy: the same float32 operations in the same order either way.
    """
    views = (view,) if isinstance(view, str) else as_views(view)
    for v in views:
        if v not in VIEWS:
            raise ValueError(f"view must be one of {VIEWS}; got {v!r}")
    block = np.asarray(block)
    C = block.shape[-1]
    shape = ((C * len(views), n_out) + block.shape[1:-1]) if channels_first else \
        ((n_out,) + block.shape[1:-1] + (C * len(views),))
    if out is None:
        out = np.empty(shape, np.float32)
    elif out.shape != shape or out.dtype != np.float32:
        raise ValueError(f"out must be float32 {shape}; got {out.dtype} {out.shape}")
    for k, v in enumerate(views):
        part = out[k * C:(k + 1) * C] if channels_first else out[..., k * C:(k + 1) * C]
        _one_view(block, v, stats, n_out, channels_first, part)
    return out


def _one_view(block: np.ndarray, view: str, stats: dict[str, Any], n_out: int, channels_first: bool,
              out: np.ndarray) -> None:
    """Write ``view`` of ``block`` into ``out`` ((C, n_out, ...) with ``channels_first``, else (n_out, ..., C))."""
    if view == "raw":
        kernel, extra = _raw, 0
    elif view == "standardized":
        mean, std = stats.get("frames_mean"), stats.get("frames_std")
        if not _usable(std):
            out.fill(0)
            return
        kernel, extra = partial(_standardized, np.float32(mean), np.float32(1.0 / std)), 0
    else:
        # diffnormalized: (f[t+1] - f[t]) / ((f[t+1] + f[t] + eps) * std), frame t = n_out - 1 zero at the end
        std = stats.get("diffnorm_std")
        m = min(len(block) - 1, n_out)
        if m <= 0 or not _usable(std):
            out.fill(0)
            return
        if channels_first:
            out[:, m:] = 0
        else:
            out[m:] = 0
        n_out, kernel, extra = m, partial(_diffnorm, np.float32(std)), 1
    frame = int(np.prod(block.shape[1:]))
    if not channels_first:
        if view == "raw":
            np.copyto(out, block[:n_out], casting="unsafe")
            return
        step = max(1, _STEP_ELEMS // max(frame, 1))
        direct = out.flags.c_contiguous  # else (one view of several) compute each step contiguously, then copy
        for i in range(0, n_out, step):
            j = min(i + step, n_out)
            o = out[i:j] if direct else scratch("step", (j - i) * frame).reshape((j - i,) + block.shape[1:])
            kernel(block[i:j + extra], o)
            if not direct:
                out[i:j] = o
        return
    C = block.shape[-1]
    plane = frame // max(C, 1)
    step = max(1, _STEP_ELEMS // max(plane, 1))
    pix = block.shape[1:-1]
    planes = scratch("planes", C * (step + extra) * plane, block.dtype).reshape((C, step + extra) + pix)
    for i in range(0, n_out, step):
        j = min(i + step, n_out)
        n = j - i + extra
        src = block[i:j + extra]
        _split(src, [planes[c, :n] for c in range(C)])
        for c in range(C):
            kernel(planes[c, :n], out[c, i:j])


def _split(src: np.ndarray, planes: list[np.ndarray]) -> None:
    """De-interleave the channels of ``src`` (n, ..., C) into contiguous ``planes`` (n, ...) of its dtype."""
    if src.flags.c_contiguous and 1 < len(planes) <= 4:
        import cv2  # cv2.split de-interleaves ~3x faster than numpy's strided copies (single-threaded)

        dst = [q.reshape(-1, 1) for q in planes]
        got = cv2.split(src.reshape(-1, 1, len(planes)), dst)
        if all(g is d for g, d in zip(got, dst, strict=True)):
            return
    for c, q in enumerate(planes):  # general case (and should cv2 ever not write in place)
        np.copyto(q, src[..., c])


def _raw(u: np.ndarray, o: np.ndarray) -> None:
    np.copyto(o, u, casting="unsafe")


def _compiled(u: np.ndarray, o: np.ndarray) -> bool:
    """Whether the compiled kernels apply: selected, uint8 in, and both operands C-contiguous (the kernels take flat
    buffers; anything else, e.g. a strided ``out``, takes the numpy path)."""
    return _active["name"] == "c" and u.dtype == np.uint8 and u.flags.c_contiguous and o.flags.c_contiguous


def _standardized(mean: np.float32, inv: np.float32, u: np.ndarray, o: np.ndarray) -> None:
    if _compiled(u, o):
        _C.standardized(u, o, mean, inv)
        return
    np.subtract(u, mean, out=o, dtype=np.float32)
    o *= inv


def _diffnorm(std: np.float32, u: np.ndarray, o: np.ndarray) -> None:
    """``o[t] = (u[t+1] - u[t]) / ((u[t+1] + u[t] + eps) * std)`` for the ``len(u) - 1`` frames of ``o``."""
    if _compiled(u, o) and len(u) == len(o) + 1 and u.shape[1:] == o.shape[1:]:
        _C.diffnorm(u, o, len(o), u[0].size if len(u) else 0, std)
        return
    f = scratch("dn_frames", u.size).reshape(u.shape)
    np.copyto(f, u, casting="unsafe")  # uint8 -> float32 once; both operands below are exact float32 integers
    a, b = f[1:], f[:-1]
    d = scratch("dn_den", o.size).reshape(o.shape)
    np.subtract(a, b, out=o)
    np.add(a, b, out=d)
    d += np.float32(_EPS)
    d *= std  # uint8 inputs: the denominator is >= 1e-7 · std > 0, so no NaN/inf can arise
    np.divide(o, d, out=o)


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
