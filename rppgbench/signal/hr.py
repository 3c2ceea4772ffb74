"""Heart-rate estimators. Each returns an :class:`HREstimate` (HR in bpm and its resolution in bpm).

- :func:`periodogram_hr`: arg-max of the periodogram (boxcar window, density scaling, no detrending) inside
  ``[lo, hi]`` Hz inclusive; the FIRST maximal bin wins ties. With ``nfft=None`` the FFT length is the next power of
  two >= N as in rPPG-Toolbox; the resolution is ``fs * 60 / nfft``.
- :func:`welch_hr`: the same arg-max on Welch's averaged periodogram.
- :func:`peak_hr`: 60 / mean inter-peak interval of :func:`scipy.signal.find_peaks` (no parameters).
"""
from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import numpy as np

# scipy is imported inside the estimators: profiles and protocol validation import this module for next_pow2
# and the method names, and scipy.signal alone takes about a second to import.
from rppgbench._checks import shown

__all__ = ["HREstimate", "next_pow2", "nfft_for_resolution", "band_argmax", "psd", "periodogram_hr", "welch_hr",
           "peak_hr", "HR_METHODS", "SignalWarning"]


class SignalWarning(RuntimeWarning):
    """A signal gave no usable estimate (e.g. fewer than two peaks); the value returned is NaN."""


class HREstimate(NamedTuple):
    """Heart rate ``hr`` (bpm) and the quantisation step ``resolution`` (bpm) of the estimator."""

    hr: float
    resolution: float


def next_pow2(n: int) -> int:
    """Smallest power of two >= n (1 for n <= 1)."""
    n = int(n)
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


def nfft_for_resolution(n: int, fs: float, resolution_bpm: float) -> int:
    """An FFT length whose bins are at most ``resolution_bpm`` wide and that is >= ``n``.

    The smallest FFT-friendly length (:func:`scipy.fft.next_fast_len`, factors 2, 3, 5) >= max(n, fs·60/resolution):
    9000 at 30 fps and 0.2 bpm, i.e. bins of exactly 0.2 bpm.
    """
    if not resolution_bpm > 0:
        raise ValueError(f"resolution_bpm must be > 0; got {shown(resolution_bpm)}")
    m = fs * 60.0 / resolution_bpm
    from scipy.fft import next_fast_len

    return int(next_fast_len(max(int(n), int(math.ceil(m * (1 - 1e-12)))), real=True))


def _check(x: np.ndarray, fs: float, lo: float, hi: float) -> np.ndarray:
    z = np.asarray(x, dtype=np.float64)
    if z.ndim != 1:
        raise ValueError(f"signal must be 1-D; got shape {z.shape}")
    if z.size < 2:
        raise ValueError(f"signal needs at least 2 samples; got {z.size}")
    if not fs > 0:
        raise ValueError(f"fs must be > 0 Hz; got {shown(fs)}")
    if not (0 <= lo < hi):
        raise ValueError(f"HR band must satisfy 0 <= lo < hi; got lo={shown(lo)}, hi={shown(hi)}")
    return z


def psd(x: np.ndarray, fs: float, nfft: int, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One-sided periodogram along ``axis``: boxcar window, density scaling, no detrending, zero-padded to ``nfft``.

    Same definition as ``scipy.signal.periodogram(x, fs, nfft=nfft, detrend=False)`` (tested equal to rounding),
    computed with one ``numpy.fft.rfft`` so that many columns can be processed at once.
    """
    z = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    n = z.shape[-1]
    spec = np.fft.rfft(np.ascontiguousarray(z), n=nfft, axis=-1)  # contiguous last axis: much faster
    p = (spec.real ** 2 + spec.imag ** 2) / (fs * n)
    last = p.shape[-1] - 1 if nfft % 2 == 0 else p.shape[-1]
    p[..., 1:last] *= 2.0
    return np.fft.rfftfreq(nfft, 1.0 / fs), np.moveaxis(p, -1, axis)


def band_argmax(freqs: np.ndarray, power: np.ndarray, lo: float, hi: float) -> float:
    """Frequency (Hz) of the first maximal bin with ``lo <= f <= hi``."""
    sel = np.flatnonzero((freqs >= lo) & (freqs <= hi))
    if sel.size == 0:
        raise ValueError(f"no frequency bin inside [{lo}, {hi}] Hz; increase nfft or widen the band")
    return float(freqs[sel[int(np.argmax(power[sel]))]])  # np.argmax returns the first maximum


def periodogram_hr(x: np.ndarray, fs: float, lo: float = 0.6, hi: float = 3.3,
                   nfft: int | None = None) -> HREstimate:
    """HR from the periodogram peak in ``[lo, hi]`` Hz (inclusive, first bin on ties)."""
    z = _check(x, fs, lo, hi)
    nfft = next_pow2(z.size) if nfft is None else int(nfft)
    if nfft < z.size:
        raise ValueError(f"nfft must be >= the signal length {z.size}; got {nfft}")
    f, p = psd(z, fs, nfft)
    return HREstimate(60.0 * band_argmax(f, p, lo, hi), fs * 60.0 / nfft)


def welch_hr(x: np.ndarray, fs: float, lo: float = 0.6, hi: float = 3.3, nperseg: int | None = None,
             nfft: int | None = None) -> HREstimate:
    """HR from the peak of Welch's PSD (Hann segments of ``nperseg`` samples, default min(N, 256)).

    ``nfft`` defaults to the next power of two >= max(nperseg, fs*60/0.5), i.e. bins of at most 0.5 bpm.
    """
    z = _check(x, fs, lo, hi)
    nperseg = min(z.size, 256) if nperseg is None else min(int(nperseg), z.size)
    nfft = nfft_for_resolution(nperseg, fs, 0.5) if nfft is None else int(nfft)
    if nfft < nperseg:
        raise ValueError(f"nfft must be >= nperseg {nperseg}; got {nfft}")
    from scipy.signal import welch

    f, p = welch(z, fs=fs, nperseg=nperseg, nfft=nfft, detrend=False)
    return HREstimate(60.0 * band_argmax(f, p, lo, hi), fs * 60.0 / nfft)


def peak_hr(x: np.ndarray, fs: float) -> HREstimate:
    """HR = 60 / mean inter-peak interval, peaks from :func:`scipy.signal.find_peaks` without parameters.

    The resolution is the HR change caused by moving the last peak by one sample. Fewer than two peaks give
    NaN with a :class:`SignalWarning`.
    """
    z = _check(x, fs, 0.0, 1.0)
    from scipy.signal import find_peaks

    peaks, _ = find_peaks(z)
    if peaks.size < 2:
        warnings.warn(f"peak_hr: found {peaks.size} peak(s) in {z.size} samples; HR is NaN", SignalWarning,
                      stacklevel=2)
        return HREstimate(float("nan"), float("nan"))
    k = peaks.size - 1
    span = float(peaks[-1] - peaks[0])
    hr = 60.0 / (np.mean(np.diff(peaks)) / fs)
    res = 60.0 * fs * k * (1.0 / span - 1.0 / (span + 1.0))
    return HREstimate(float(hr), float(res))


#: names accepted by ``hr_method`` arguments
HR_METHODS = ("fft", "welch", "peak")
