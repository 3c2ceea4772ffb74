"""rppgbench.signal: detrend, band-pass, HR estimators, SNR, MACC and windowing on generated signals."""
from __future__ import annotations

import logging

import numpy as np
import pytest
from scipy.signal import butter, filtfilt, periodogram

from rppgbench.signal import (
    HREstimate,
    SignalWarning,
    bandpass,
    detrend,
    detrend_dense,
    macc,
    next_pow2,
    nfft_for_resolution,
    nonoverlapping,
    peak_hr,
    periodogram_hr,
    sliding,
    snr,
    welch_hr,
    whole,
)

FS = 30.0


def _sine(hr_bpm: float, n: int, fs: float = FS, phase: float = 0.3) -> np.ndarray:
    t = np.arange(n) / fs
    return np.sin(2 * np.pi * hr_bpm / 60.0 * t + phase)


@pytest.mark.parametrize("n", [3, 4, 10, 257, 900])
@pytest.mark.parametrize("lam", [1.0, 10.0, 100.0])
def test_detrend_sparse_equals_dense(n, lam):
    rng = np.random.default_rng(n)
    x = rng.standard_normal(n).cumsum() * 0.1 + np.linspace(0, 1, n)
    np.testing.assert_allclose(detrend(x, lam), detrend_dense(x, lam), rtol=0, atol=1e-9)


def test_detrend_2d_columns_and_small_n():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 3)).cumsum(axis=0)
    out = detrend(x, 100.0)
    for k in range(3):
        np.testing.assert_allclose(out[:, k], detrend_dense(x[:, k], 100.0), atol=1e-9)
    # N < 3: D is empty, trend == x, result zero (as the dense formula)
    np.testing.assert_array_equal(detrend(np.array([1.0, 5.0]), 100.0), np.zeros(2))
    np.testing.assert_allclose(detrend_dense(np.array([1.0, 5.0]), 100.0), np.zeros(2), atol=1e-12)
    # a linear trend lies in the null space of D: removed exactly
    np.testing.assert_allclose(detrend(np.linspace(-3, 7, 500)), 0.0, atol=1e-8)
    with pytest.raises(ValueError, match="lam"):
        detrend(x, 0.0)


def test_bandpass_matches_scipy_and_attenuates():
    x = _sine(72, 600) + 2.0 * _sine(600, 600)  # 1.2 Hz kept, 10 Hz removed
    b, a = butter(1, [0.6 / FS * 2, 3.3 / FS * 2], btype="bandpass")
    np.testing.assert_array_equal(bandpass(x, FS, 0.6, 3.3, order=1), filtfilt(b, a, x))
    y = bandpass(x, FS, 0.6, 3.3, order=4)
    f, p = periodogram(y, FS)
    assert p[np.argmin(np.abs(f - 10))] < 1e-3 * p[np.argmin(np.abs(f - 1.2))]
    assert bandpass(np.ones(9), FS, 0.6, 3.3).shape == (9,)  # shorter than filtfilt's pad: padded by N-1
    with pytest.raises(ValueError, match="lo < hi < fs/2"):
        bandpass(x, FS, 0.6, 16.0)
    with pytest.raises(ValueError, match="order"):
        bandpass(x, FS, 0.6, 3.3, order=0)


def test_next_pow2_and_resolution():
    assert [next_pow2(n) for n in (0, 1, 2, 3, 300, 512, 513)] == [1, 1, 2, 4, 512, 512, 1024]
    nfft = nfft_for_resolution(300, FS, 0.2)
    assert nfft == 9000 and FS * 60 / nfft == pytest.approx(0.2)
    for n, fs, res in ((300, 30.0, 0.2), (20000, 30.0, 0.2), (450, 25.0, 0.15), (1000, 35.14, 0.2)):
        nfft = nfft_for_resolution(n, fs, res)
        assert nfft >= n and fs * 60 / nfft <= res * (1 + 1e-12)


@pytest.mark.parametrize("hr", [48.0, 66.0, 81.5, 117.0, 175.0])
def test_periodogram_hr_within_resolution(hr):
    n = 900
    est = periodogram_hr(_sine(hr, n), FS, 0.6, 3.3)
    assert isinstance(est, HREstimate)
    assert est.resolution == pytest.approx(FS * 60 / next_pow2(n))
    assert abs(est.hr - hr) <= est.resolution / 2 + 1e-9
    fine = periodogram_hr(_sine(hr, n), FS, 0.6, 3.3, nfft=nfft_for_resolution(n, FS, 0.2))
    assert abs(fine.hr - hr) <= 0.3


def test_periodogram_band_inclusive_and_first_bin_on_ties():
    n = nfft = 64
    fs = 64.0  # bins at integer Hz
    # a unit impulse has an exactly flat spectrum: every in-band bin ties, the FIRST one must win
    x = np.zeros(n)
    x[0] = 1.0
    f, p = periodogram(x, fs, nfft=nfft, detrend=False)
    assert np.all(p[1:-1] == p[1])
    assert periodogram_hr(x, fs, 1.0, 4.0, nfft=nfft).hr == 60.0  # lo is inclusive
    assert periodogram_hr(x, fs, 1.5, 4.0, nfft=nfft).hr == 120.0
    # hi is inclusive: a peak exactly on the upper edge is found
    t = np.arange(n) / fs
    y = np.cos(2 * np.pi * 3 * t) + 0.5 * np.cos(2 * np.pi * 2 * t)
    assert periodogram_hr(y, fs, 1.0, 3.0, nfft=nfft).hr == 180.0
    assert periodogram_hr(y, fs, 1.0, 2.9, nfft=nfft).hr == 120.0


def test_welch_and_peak_recover_hr():
    x = _sine(84, 1800)
    w = welch_hr(x, FS, 0.6, 3.3)
    assert abs(w.hr - 84) <= w.resolution / 2 + 1e-9
    pk = peak_hr(x, FS)
    assert abs(pk.hr - 84) <= max(pk.resolution, 0.2)
    with pytest.warns(SignalWarning, match="peak"):
        assert np.isnan(peak_hr(np.linspace(0, 1, 50), FS).hr)


def _snr_by_hand(x, fs, hr, lo, hi, power, db):
    """The spec's SNR, written out bin by bin (rPPG-Toolbox@d807b01 post_process._calculate_SNR; docs/metrics.md)."""
    nfft = next_pow2(len(x))
    f, p = periodogram(x, fs, nfft=nfft, detrend=False)
    f0 = hr / 60
    sig = rest = 0.0
    for fk, pk in zip(f, p, strict=True):
        pk = pk ** power
        in_h = (f0 - 0.1 <= fk <= f0 + 0.1) or (2 * f0 - 0.1 <= fk <= 2 * f0 + 0.1)
        if in_h:
            sig += pk
        elif lo <= fk <= hi:
            rest += pk
    return 0.0 if rest == 0 else db * np.log10(sig / rest)


def test_snr_formulas_of_each_era():
    rng = np.random.default_rng(3)
    x = _sine(75, 300) + 0.4 * _sine(150, 300) + 0.5 * rng.standard_normal(300)
    for formula, power, db in (("power_db10", 1, 10), ("power2_db10", 2, 10), ("power_db20", 1, 20)):
        got = snr(x, FS, 75.0, 0.6, 3.3, formula=formula)
        assert got == pytest.approx(_snr_by_hand(x, FS, 75.0, 0.6, 3.3, power, db), rel=1e-12)
    assert snr(x, FS, 75.0, 0.75, 2.5, formula="power_db20") == pytest.approx(
        2 * snr(x, FS, 75.0, 0.75, 2.5, formula="power_db10"), rel=1e-12)
    # nothing in the rest band -> 0 by the toolbox's guard; NaN reference HR -> NaN
    assert snr(x, FS, 75.0, 1.2, 1.25) == 0.0
    assert np.isnan(snr(x, FS, float("nan"), 0.6, 3.3))
    with pytest.raises(ValueError, match="SNR formula"):
        snr(x, FS, 75.0, 0.6, 3.3, formula="db")


def test_macc_equals_lag_loop_and_truncates():
    rng = np.random.default_rng(5)
    a = rng.standard_normal(97)
    b = np.roll(a, 13) * 2.0 + 0.3 * rng.standard_normal(97)
    ref = max(abs(np.corrcoef(a, np.roll(b, lag))[0, 1]) for lag in range(len(a) - 1))
    assert macc(a, b) == pytest.approx(ref, rel=1e-12)
    longer = np.concatenate([b, rng.standard_normal(20)])
    assert macc(a, longer) == pytest.approx(ref, rel=1e-12)
    assert macc(a, -b) == pytest.approx(ref, rel=1e-12)
    assert np.isnan(macc(np.ones(10), a[:10]))


def test_windows_toolbox_rule(caplog):
    assert whole(100) == [(0, 100)]
    # 10 s at 30 fps = 300; 1205 samples: tail of 5 (< 9) is dropped and logged
    with caplog.at_level(logging.INFO, logger="rppgbench"):
        w = nonoverlapping(1205, FS, 10.0, name="rec")
    assert w == [(0, 300), (300, 600), (600, 900), (900, 1200)]
    assert "skipped" in caplog.text and "rec" in caplog.text
    # a tail of exactly 9 is kept
    assert nonoverlapping(1209, FS, 10.0)[-1] == (1200, 1209)
    # too long: capped (toolbox) or an error naming the recording
    assert nonoverlapping(200, FS, 10.0) == [(0, 200)]
    with pytest.raises(ValueError, match="rec7.*longer than the signal"):
        nonoverlapping(200, FS, 10.0, cap=False, name="rec7")
    assert sliding(900, FS, 10.0, 5.0) == [(0, 300), (150, 450), (300, 600), (450, 750), (600, 900)]
    assert sliding(920, FS, 10.0, 10.0) == [(0, 300), (300, 600), (600, 900)]
    with pytest.raises(ValueError, match="window_s"):
        nonoverlapping(100, FS, 0.0)


def test_batched_psd_snr_macc_equal_single_versions():
    from rppgbench.signal.hr import psd
    from rppgbench.signal.quality import macc_columns, snr_columns, snr_from_psd

    rng = np.random.default_rng(9)
    x = rng.standard_normal((301, 6))
    for nfft in (512, 9000, 301):
        f, p = psd(x, FS, nfft, axis=0)
        for j in range(6):
            fr, pr = periodogram(x[:, j], FS, nfft=nfft, detrend=False)
            np.testing.assert_array_equal(f, fr)
            np.testing.assert_allclose(p[:, j], pr, rtol=1e-12, atol=1e-15 * pr.max())
    f, p = psd(x, FS, 9000, axis=0)
    hrs = np.array([60.0, 75.5, 90.0, np.nan, 150.0, 42.0])
    for formula in ("power_db10", "power2_db10", "power_db20"):
        got = snr_columns(f, p, hrs, 0.6, 3.3, formula=formula)
        exp = [snr_from_psd(f, p[:, j], hrs[j], 0.6, 3.3, formula=formula) for j in range(6)]
        np.testing.assert_allclose(got, exp, rtol=1e-12)
    y = x + 0.5 * np.roll(x, 7, axis=0)
    np.testing.assert_allclose(macc_columns(x, y), [macc(x[:, j], y[:, j]) for j in range(6)], rtol=1e-12)
