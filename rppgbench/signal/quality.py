"""Signal quality: spectral SNR around the reference HR, and the maximum amplitude of the cross-correlation (MACC)."""
from __future__ import annotations

import numpy as np

from rppgbench.signal.hr import next_pow2, psd

__all__ = ["SNR_FORMULAS", "snr", "snr_from_psd", "snr_columns", "macc", "macc_columns"]

#: ``power_db10``: 10*log10 of the PSD ratio (rPPG-Toolbox HEAD, since #344);
#: ``power2_db10``: 10*log10 of the ratio of summed squared PSD values (#288 -> #344);
#: ``power_db20``: 20*log10 of the PSD ratio (#154 -> #288, the NeurIPS 2023 paper era).
SNR_FORMULAS = ("power_db10", "power2_db10", "power_db20")


def snr(pred: np.ndarray, fs: float, hr_ref_bpm: float, lo: float, hi: float, *, formula: str = "power_db10",
        halfwidth_hz: float = 0.1, nfft: int | None = None) -> float:
    """SNR (dB) of ``pred`` around the reference HR and its second harmonic.

    With f0 = hr_ref/60, the signal bins are those within ``[f0 - h, f0 + h]`` or ``[2 f0 - h, 2 f0 + h]`` (h =
    ``halfwidth_hz``, inclusive, not clipped to the band); the rest are the bins with ``lo <= f <= hi`` outside
    both. The PSD is the periodogram (boxcar, density, no detrending, ``nfft`` default next power of two >= N).
    If the rest sums to zero the SNR is 0 (rPPG-Toolbox's guard); if the signal bins do too, the prediction has
    no power at all and the SNR is NaN (the toolbox's 0 dB would rank a flat prediction above every real one). A
    NaN reference HR gives NaN.
    """
    z = np.asarray(pred, dtype=np.float64)
    nfft = next_pow2(z.size) if nfft is None else int(nfft)
    f, p = psd(z, fs, nfft)
    return snr_from_psd(f, p, hr_ref_bpm, lo, hi, formula=formula, halfwidth_hz=halfwidth_hz)


def snr_from_psd(freqs: np.ndarray, power: np.ndarray, hr_ref_bpm: float, lo: float, hi: float, *,
                 formula: str = "power_db10", halfwidth_hz: float = 0.1) -> float:
    """The SNR of :func:`snr` from an already computed one-sided PSD ``power`` at ``freqs``."""
    if formula not in SNR_FORMULAS:
        raise ValueError(f"SNR formula must be one of {SNR_FORMULAS}; got {formula!r}")
    if not np.isfinite(hr_ref_bpm):
        return float("nan")
    f, p = freqs, power
    f0 = hr_ref_bpm / 60.0
    h1 = (f >= f0 - halfwidth_hz) & (f <= f0 + halfwidth_hz)
    h2 = (f >= 2 * f0 - halfwidth_hz) & (f <= 2 * f0 + halfwidth_hz)
    rest = (f >= lo) & (f <= hi) & ~h1 & ~h2
    if formula == "power2_db10":
        p = p ** 2
    sig = float(np.sum(p[h1]) + np.sum(p[h2]))
    noise = float(np.sum(p[rest]))
    if sig == 0.0 and noise == 0.0:  # no power at all: nothing predicted (rPPG-Toolbox would say 0 dB)
        return float("nan")
    if noise == 0.0:
        return 0.0
    ratio = sig / noise
    if ratio <= 0.0:
        return float("-inf")
    return float((20.0 if formula == "power_db20" else 10.0) * np.log10(ratio))


def macc(pred: np.ndarray, ref: np.ndarray) -> float:
    """Max |Pearson r| between ``pred`` and ``ref`` circularly shifted by 0..N-2 samples.

    Both are truncated to the shorter length N first (rPPG-Toolbox #262). All circular correlations are obtained
    at once through the FFT, which equals the per-lag :func:`numpy.corrcoef` loop (tested). A constant input gives NaN.
    """
    a = np.asarray(pred, dtype=np.float64).ravel()
    b = np.asarray(ref, dtype=np.float64).ravel()
    n = min(a.size, b.size)
    if n < 2:
        return float("nan")
    a = a[:n] - a[:n].mean()
    b = b[:n] - b[:n].mean()
    den = np.sqrt(np.sum(a * a) * np.sum(b * b))
    if den == 0.0:
        return float("nan")
    # c[lag] = sum_t a[t] * b[(t - lag) mod n]  == corr(a, roll(b, lag)) * den
    c = np.fft.irfft(np.fft.rfft(a) * np.conj(np.fft.rfft(b)), n)
    lags = np.arange(max(n - 1, 1))
    return float(np.max(np.abs(c[lags])) / den)


def macc_columns(pred: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """:func:`macc` of every column pair of two (N, K) arrays of equal shape (NaN for a constant column)."""
    a = np.asarray(pred, dtype=np.float64)
    b = np.asarray(ref, dtype=np.float64)
    n = a.shape[0]
    if n < 2:
        return np.full(a.shape[1], np.nan)
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    den = np.sqrt(np.sum(a * a, axis=0) * np.sum(b * b, axis=0))
    c = np.fft.irfft(np.fft.rfft(a, axis=0) * np.conj(np.fft.rfft(b, axis=0)), n, axis=0)
    top = np.max(np.abs(c[: max(n - 1, 1)]), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, top / np.where(den > 0, den, 1.0), np.nan)


def snr_columns(freqs: np.ndarray, power: np.ndarray, hr_ref_bpm: np.ndarray, lo: float, hi: float, *,
                formula: str = "power_db10", halfwidth_hz: float = 0.1) -> np.ndarray:
    """:func:`snr_from_psd` for every column of ``power`` (F, K), column j at reference HR ``hr_ref_bpm[j]``."""
    if formula not in SNR_FORMULAS:
        raise ValueError(f"SNR formula must be one of {SNR_FORMULAS}; got {formula!r}")
    f = np.asarray(freqs, dtype=np.float64)[:, None]
    p = np.asarray(power, dtype=np.float64)
    f0 = np.asarray(hr_ref_bpm, dtype=np.float64)[None, :] / 60.0
    h1 = (f >= f0 - halfwidth_hz) & (f <= f0 + halfwidth_hz)
    h2 = (f >= 2 * f0 - halfwidth_hz) & (f <= 2 * f0 + halfwidth_hz)
    rest = (f >= lo) & (f <= hi) & ~h1 & ~h2
    if formula == "power2_db10":
        p = p ** 2
    sig = np.where(h1, p, 0.0).sum(axis=0) + np.where(h2, p, 0.0).sum(axis=0)
    noise = np.where(rest, p, 0.0).sum(axis=0)
    db = 20.0 if formula == "power_db20" else 10.0
    safe = np.where(noise == 0.0, 1.0, noise)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(noise == 0.0, 0.0, db * np.log10(sig / safe))
    out = np.where((sig == 0.0) & (noise == 0.0), np.nan, out)  # no power at all: nothing predicted
    out = np.where(np.isfinite(f0[0]), out, np.nan)
    return out
