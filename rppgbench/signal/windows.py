"""Evaluation windows as (start, stop) sample ranges (stop exclusive).

- :func:`whole`: one window over the whole signal.
- :func:`nonoverlapping`: rPPG-Toolbox's rule: windows of ``round(window_s * fs)`` samples starting at 0; the last
  partial window is kept unless it is shorter than ``min_len`` (9 by default: the ``filtfilt`` pad length of the
  order-1 Butterworth) - then it is dropped and the drop is logged.
- :func:`sliding`: full windows of ``window_s`` seconds every ``stride_s`` seconds; the tail that does not fill a
  window is not evaluated (logged).
"""
from __future__ import annotations

from rppgbench._checks import shown
from rppgbench._logging import logger

__all__ = ["whole", "nonoverlapping", "sliding", "window_samples"]


def window_samples(window_s: float, fs: float) -> int:
    """Window length in samples, ``round(window_s * fs)`` (>= 1)."""
    if not fs > 0:
        raise ValueError(f"fs must be > 0 Hz; got {shown(fs)}")
    if not window_s > 0:
        raise ValueError(f"window_s must be > 0 s; got {shown(window_s)}")
    return max(1, int(round(window_s * fs)))


def whole(n: int) -> list[tuple[int, int]]:
    """``[(0, n)]``."""
    if n < 1:
        raise ValueError(f"signal length must be >= 1; got {n}")
    return [(0, int(n))]


def nonoverlapping(n: int, fs: float, window_s: float, *, min_len: int = 9, cap: bool = True,
                   name: str = "signal") -> list[tuple[int, int]]:
    """Non-overlapping windows (rPPG-Toolbox ``USE_SMALLER_WINDOW``).

    ``cap=True`` shortens a window longer than the signal to the signal (the toolbox's behaviour); ``cap=False``
    raises a ValueError naming ``name`` instead.
    """
    w = window_samples(window_s, fs)
    if w > n:
        if not cap:
            raise ValueError(f"{name}: window of {window_s} s = {w} samples is longer than the signal "
                             f"({n} samples = {n / fs:.3f} s at {fs} Hz)")
        w = n
    out = []
    for start in range(0, n, w):
        stop = min(start + w, n)
        if stop - start < min_len:
            logger.info("%s: last window [%d, %d) has %d < %d samples; skipped", name, start, stop,
                        stop - start, min_len)
            continue
        out.append((start, stop))
    return out


def sliding(n: int, fs: float, window_s: float, stride_s: float, *, name: str = "signal") -> list[tuple[int, int]]:
    """Full windows of ``window_s`` seconds starting every ``stride_s`` seconds."""
    w = window_samples(window_s, fs)
    s = window_samples(stride_s, fs)
    if w > n:
        raise ValueError(f"{name}: window of {window_s} s = {w} samples is longer than the signal "
                         f"({n} samples = {n / fs:.3f} s at {fs} Hz)")
    out = [(start, start + w) for start in range(0, n - w + 1, s)]
    tail = n - out[-1][1]
    if tail > 0:
        logger.info("%s: the last %d samples do not fill a %d-sample window and are not evaluated", name, tail, w)
    return out
