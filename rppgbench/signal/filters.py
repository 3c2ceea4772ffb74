"""Zero-phase Butterworth band-pass filtering (numpy/scipy only)."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.signal import butter, filtfilt

from rppgbench._checks import shown

__all__ = ["bandpass", "butter_bandpass_coeffs"]


def butter_bandpass_coeffs(fs: float, lo: float, hi: float, order: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(b, a) of a digital Butterworth band-pass of ``order`` with edges ``lo``..``hi`` Hz at rate ``fs``."""
    if not fs > 0:
        raise ValueError(f"fs must be > 0 Hz; got {shown(fs)}")
    if not (0 < lo < hi < fs / 2):
        raise ValueError(f"band-pass edges must satisfy 0 < lo < hi < fs/2 = {fs / 2:g} Hz; got lo={shown(lo)}, "
                         f"hi={shown(hi)}")
    if int(order) != order or order < 1:
        raise ValueError(f"filter order must be a positive integer; got {shown(order)}")
    return _coeffs(float(fs), float(lo), float(hi), int(order))


@lru_cache(maxsize=64)
def _coeffs(fs: float, lo: float, hi: float, order: int) -> tuple[np.ndarray, np.ndarray]:
    b, a = butter(order, [lo / fs * 2.0, hi / fs * 2.0], btype="bandpass")
    b.setflags(write=False)
    a.setflags(write=False)
    return b, a


def bandpass(x: np.ndarray, fs: float, lo: float, hi: float, order: int = 1, axis: int = 0) -> np.ndarray:
    """Butterworth band-pass applied forwards and backwards with :func:`scipy.signal.filtfilt` defaults.

    ``filtfilt`` pads by ``3 * max(len(a), len(b))`` samples (9 for order 1) and needs more samples than that.
    A shorter signal is padded by ``N - 1`` instead (rPPG-Toolbox would raise here); fewer than 2 samples is an
    error.
    """
    b, a = butter_bandpass_coeffs(fs, lo, hi, order)
    z = np.asarray(x, dtype=np.float64)
    n = z.shape[axis]
    padlen = 3 * max(len(a), len(b))
    if n < 2:
        raise ValueError(f"bandpass needs at least 2 samples; got {n}")
    if n <= padlen:
        padlen = n - 1
    return filtfilt(b, a, z, axis=axis, padlen=padlen)
