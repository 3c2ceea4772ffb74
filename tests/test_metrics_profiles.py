"""rppgbench.evaluation: profiles reproduce the toolbox's formulas; pooled metrics, SEs, Bland-Altman, bad input."""
from __future__ import annotations

import json
import math
import statistics

import numpy as np
import pandas as pd
import pytest
from scipy.signal import butter, filtfilt, periodogram

from rppgbench._checks import DataError
from rppgbench.evaluation import (
    METRIC_NAMES,
    EvaluationResult,
    MetricWarning,
    bland_altman,
    evaluate,
    get_profile,
    list_profiles,
)
from rppgbench.evaluation.metrics import pooled_metrics

FS = 30.0


def _recordings(hrs, n, seed=0, noise=0.6, diff=False):
    """{id: (pred, label)}: label = clean pulse, pred = pulse at a slightly different HR plus noise."""
    rng = np.random.default_rng(seed)
    out = {}
    t = np.arange(n) / FS
    for i, hr in enumerate(hrs):
        lab = np.sin(2 * np.pi * hr / 60 * t) + 0.3 * np.sin(4 * np.pi * hr / 60 * t + 1)
        pred = np.sin(2 * np.pi * (hr + rng.uniform(-4, 4)) / 60 * t + 0.5) + noise * rng.standard_normal(n)
        if diff:
            lab, pred = np.diff(lab, prepend=0.0), np.diff(pred, prepend=0.0)
        out[f"subject{i}/video"] = (pred, lab)
    return out


# ------------------------------------------ the toolbox's formulas, written out (rPPG-Toolbox@d807b01, docs/metrics.md)
def _tb_window(pred, label, fs, lo, hi, diff, snr_db):
    def prep(x):
        x = np.cumsum(x) if diff else np.asarray(x, float)
        n = x.size
        d = np.diff(np.eye(n), 2, axis=0)  # (N-2) x N second differences
        x = (np.eye(n) - np.linalg.inv(np.eye(n) + 100.0 ** 2 * d.T @ d)) @ x
        b, a = butter(1, [lo / fs * 2, hi / fs * 2], "bandpass")
        return filtfilt(b, a, x)

    p, lab = prep(pred), prep(label)
    nfft = 1 << (p.size - 1).bit_length()

    def hr(x):
        f, pxx = periodogram(x, fs=fs, nfft=nfft, detrend=False)
        m = (f >= lo) & (f <= hi)
        return 60 * f[m][np.argmax(pxx[m])]

    hp, hl = hr(p), hr(lab)
    f, pxx = periodogram(p, fs=fs, nfft=nfft, detrend=False)
    f0 = hl / 60
    h1 = (f >= f0 - 0.1) & (f <= f0 + 0.1)
    h2 = (f >= 2 * f0 - 0.1) & (f <= 2 * f0 + 0.1)
    rest = (f >= lo) & (f <= hi) & ~h1 & ~h2
    noise = pxx[rest].sum()
    snr = 0.0 if noise == 0 else snr_db * np.log10((pxx[h1].sum() + pxx[h2].sum()) / noise)
    macc = max(abs(np.corrcoef(p, np.roll(lab, k))[0, 1]) for k in range(p.size - 1))
    return hp, hl, snr, macc


@pytest.mark.parametrize("profile,lo,hi,snr_db", [("tb-head-2025", 0.6, 3.3, 10), ("tb-neurips2023", 0.75, 2.5, 20)])
@pytest.mark.parametrize("window_s,diff", [(None, False), (5.0, True)])
def test_toolbox_profiles_match_spec_pipeline(profile, lo, hi, snr_db, window_s, diff):
    n = 170  # with 5 s windows: 150 and a 20-sample tail (kept: >= 9)
    sig = _recordings([64, 88, 101], n, seed=7, diff=diff)
    res = evaluate(sig, FS, profile=profile, window_s=window_s,
                   label_type="diffnormalized" if diff else "raw")
    bounds = [(0, n)] if window_s is None else [(0, 150), (150, 170)]
    exp = []
    for rid, (p, lab) in sig.items():
        for a, b in bounds:
            exp.append((rid, a, b) + _tb_window(p[a:b], lab[a:b], FS, lo, hi, diff, snr_db))
    w = res.windows
    assert list(zip(w.recording, w.start, w.stop, strict=True)) == [e[:3] for e in exp]
    np.testing.assert_array_equal(w.hr_pred.to_numpy(), [e[3] for e in exp])
    np.testing.assert_array_equal(w.hr_ref.to_numpy(), [e[4] for e in exp])
    np.testing.assert_allclose(w.snr.to_numpy(), [e[5] for e in exp], rtol=1e-7)
    if profile == "tb-head-2025":
        np.testing.assert_allclose(w.macc.to_numpy(), [e[6] for e in exp], rtol=1e-9)
    else:
        assert w.macc.isna().all() and math.isnan(res.metrics["MACC"]["value"])
    # pooled as the toolbox: e = pred - gt over all windows, numpy std (ddof 0)
    e = np.array([x[3] - x[4] for x in exp])
    gt = np.array([x[4] for x in exp])
    nn = e.size
    assert res.metrics["MAE"]["value"] == pytest.approx(np.mean(np.abs(e)))
    assert res.metrics["MAE"]["se"] == pytest.approx(np.std(np.abs(e)) / np.sqrt(nn))
    assert res.metrics["MAPE"]["value"] == pytest.approx(np.mean(np.abs(e) / gt) * 100)
    assert res.metrics["SNR"]["value"] == pytest.approx(np.mean([x[5] for x in exp]), rel=1e-7)
    assert res.profile == profile and res.n_tails_dropped == 0  # the toolbox keeps the 20-sample tail
    # the coarsest bin width over windows: 256-point FFT for 170 samples, 32-point for the 20-sample tail
    assert res.hr_resolution_bpm == pytest.approx(FS * 60 / (256 if window_s is None else 32))
    assert sorted(set(w.resolution_bpm)) == pytest.approx([FS * 60 / 256] if window_s is None
                                                          else [FS * 60 / 256, FS * 60 / 32])


def _std(x, ddof):
    return statistics.pstdev(x) if ddof == 0 else statistics.stdev(x)


@pytest.mark.parametrize("profile", ["rppgbench", "tb-head-2025", "tb-neurips2023"])
def test_pooled_metrics_hand_computed(profile):
    prof = get_profile(profile)
    pred = [70.0, 82.5, 95.0, 61.0, 77.0]
    ref = [72.0, 80.0, 99.0, 60.0, 77.5]
    snrs = [3.0, -1.5, 6.25, 0.5, 2.0]
    maccs = [0.9, 0.7, 0.85, 0.6, 0.95]
    m = pooled_metrics(np.array(pred), np.array(ref), np.array(snrs), np.array(maccs), prof)
    assert list(m) == list(METRIC_NAMES)
    n = 5
    e = [p - r for p, r in zip(pred, ref, strict=True)]
    ae = [abs(x) for x in e]
    e2 = [x * x for x in e]
    dd = 1 if profile == "rppgbench" else 0
    assert m["MAE"]["value"] == pytest.approx(sum(ae) / n)
    assert m["MAE"]["se"] == pytest.approx(_std(ae, dd) / math.sqrt(n))
    rmse = math.sqrt(sum(e2) / n)
    assert m["RMSE"]["value"] == pytest.approx(rmse)
    se_mse = _std(e2, dd) / math.sqrt(n)
    expected_rmse_se = {"tb-neurips2023": se_mse,                 # #154: std(e^2)/sqrt(n)
                        "tb-head-2025": math.sqrt(se_mse),        # #305: sqrt(std(e^2)/sqrt(n))
                        "rppgbench": se_mse / (2 * rmse)}[profile]  # delta method
    assert m["RMSE"]["se"] == pytest.approx(expected_rmse_se)
    rel = [a / r for a, r in zip(ae, ref, strict=True)]
    assert m["MAPE"]["value"] == pytest.approx(100 * sum(rel) / n)
    assert m["MAPE"]["se"] == pytest.approx(100 * _std(rel, dd) / math.sqrt(n))
    r = statistics.correlation(pred, ref)
    assert m["Pearson"]["value"] == pytest.approx(r)
    if profile == "rppgbench":  # cluster-robust by linearisation; without clusters each window is its own
        zp = [(x - statistics.mean(pred)) / statistics.pstdev(pred) for x in pred]
        zr = [(x - statistics.mean(ref)) / statistics.pstdev(ref) for x in ref]
        psi = [a * b - r * (a * a + b * b) / 2 for a, b in zip(zp, zr, strict=True)]
        assert m["Pearson"]["se"] == pytest.approx(math.sqrt(n / (n - 1) * sum(x * x for x in psi)) / n)
    else:
        assert m["Pearson"]["se"] == pytest.approx(math.sqrt((1 - r * r) / (n - 2)))
    assert m["SNR"]["value"] == pytest.approx(statistics.mean(snrs))
    assert m["SNR"]["se"] == pytest.approx(_std(snrs, dd) / math.sqrt(n))
    if prof.macc:
        assert m["MACC"]["value"] == pytest.approx(statistics.mean(maccs))
        assert m["MACC"]["se"] == pytest.approx(_std(maccs, dd) / math.sqrt(n))
    else:
        assert math.isnan(m["MACC"]["value"])
    assert [m[k]["unit"] for k in METRIC_NAMES] == ["bpm", "bpm", "%", "", "dB", ""]


def test_pearson_needs_three_windows():
    prof = get_profile("rppgbench")
    with pytest.warns(MetricWarning, match="at least 3"):
        m = pooled_metrics(np.array([70.0, 80.0]), np.array([71.0, 79.0]), np.zeros(2), np.zeros(2), prof)
    assert math.isnan(m["Pearson"]["value"]) and math.isnan(m["Pearson"]["se"])
    assert m["MAE"]["value"] == pytest.approx(1.0)
    sig = _recordings([70, 90], 300, seed=1)
    with pytest.warns(MetricWarning):
        res = evaluate(sig, FS, profile="tb-head-2025")
    assert math.isnan(res.metrics["Pearson"]["value"])
    assert json.loads(json.dumps(res.to_dict(), allow_nan=False))["metrics"]["Pearson"]["value"] is None


def test_bland_altman_both_limits():
    ref = np.array([60.0, 72.0, 90.0, 110.0, 85.0])
    pred = np.array([62.0, 70.0, 93.0, 104.0, 85.5])
    ba = bland_altman(ref, pred)
    d = pd.Series(ref - pred)  # the toolbox: gt - pred, pandas std (ddof 1)
    assert ba["difference"] == "reference - predicted" and ba["ddof"] == 1 and ba["n"] == 5
    assert ba["mean_diff"] == pytest.approx(d.mean())
    assert ba["sd_diff"] == pytest.approx(d.std())
    assert ba["loa_classic"] == pytest.approx([d.mean() - 1.96 * d.std(), d.mean() + 1.96 * d.std()])
    k = 1.96 * math.sqrt(2) * d.std()
    assert ba["loa_toolbox"] == pytest.approx([d.mean() - k, d.mean() + k])
    assert bland_altman(ref, pred, ddof=0)["sd_diff"] == pytest.approx(np.std(ref - pred))


def test_rppgbench_profile_defaults_and_resolution():
    sig = _recordings([58, 75, 92, 120], 1800, seed=2)
    res = evaluate(sig, FS)
    assert isinstance(res, EvaluationResult)
    assert res.profile == "rppgbench" and res.window_s == 10.0 and res.hr_method == "fft"
    assert res.hr_resolution_bpm <= 0.2
    assert len(res.windows) == 4 * 6
    assert list(res.windows.columns[:8]) == ["recording", "window", "start", "stop", "hr_pred", "hr_ref", "snr",
                                            "macc"]
    per = res.per_recording
    assert list(per.columns) == ["recording", "hr_pred", "hr_ref", "abs_error", "n_windows", "tail_dropped"]
    assert per.n_windows.tolist() == [6] * 4 and per.tail_dropped.tolist() == [0] * 4 and res.n_tails_dropped == 0
    # the reference HR of a clean sinusoid is recovered within the resolution
    for hr, got in zip([58, 75, 92, 120], per.hr_ref, strict=True):
        assert abs(got - hr) <= res.hr_resolution_bpm
    d = res.to_dict()
    assert set(d["recordings"]) == set(sig) and len(d["recordings"]["subject0/video"]["windows"]) == 6
    assert d["profile"] == "rppgbench" and d["hr_resolution_bpm"] == pytest.approx(res.hr_resolution_bpm)
    json.dumps(d, allow_nan=False)
    rows = res.metric_rows(model="pos", dataset="synthetic")
    assert [r["metric"] for r in rows] == list(METRIC_NAMES)
    assert all(r["model"] == "pos" and r["profile"] == "rppgbench" and r["n_windows"] == 24 for r in rows)
    assert {r["metric"]: r["higher_is_better"] for r in rows} == {
        "MAE": False, "RMSE": False, "MAPE": False, "Pearson": True, "SNR": True, "MACC": True}
    from rppgbench.evaluation import METRICS
    assert METRICS.names() == ["macc", "mae", "mape", "pearson", "rmse", "snr"]
    # whole-video and sliding windows
    assert len(evaluate(sig, FS, window_s=None).windows) == 4
    assert len(evaluate(sig, FS, window_s=20.0, stride_s=10.0).windows) == 4 * 5


def test_hr_methods_recover_reference():
    sig = _recordings([66, 84, 105], 900, seed=3)
    for method in ("fft", "welch", "peak"):
        res = evaluate(sig, FS, profile="tb-head-2025", hr_method=method)
        for hr, got in zip([66, 84, 105], res.per_recording.hr_ref, strict=True):
            assert abs(got - hr) <= max(res.hr_resolution_bpm, 0.5), (method, got, hr)


def test_bad_inputs_are_named():
    good = _recordings([70, 80, 90], 600, seed=4)
    nan = dict(good)
    p = good["subject1/video"][0].copy()
    p[42] = np.nan
    nan["subject1/video"] = (p, good["subject1/video"][1])
    with pytest.raises(DataError, match=r"subject1/video.*NaN/inf.*sample 42"):
        evaluate(nan, FS)
    short = dict(good, odd=(np.zeros(600), np.zeros(599)))
    with pytest.raises(DataError, match=r"odd.*same length.*600 and 599"):
        evaluate(short, FS)
    for fs in (0.0, -30.0, float("nan")):
        with pytest.raises(ValueError, match="fs"):
            evaluate(good, fs)
    with pytest.raises(ValueError, match=r"subject0/video.*longer than the signal"):
        evaluate(good, FS, window_s=30.0)
    flat = dict(good, flat=(np.ones(600), np.r_[np.sin(np.arange(300) / 3.0), np.zeros(300)]))
    with pytest.raises(DataError, match=r"flat.*label is constant.*window 1"):
        evaluate(flat, FS)
    with pytest.raises(KeyError, match="did you mean 'tb-head-2025'"):
        evaluate(good, FS, profile="tb-head")
    with pytest.raises(ValueError, match="label_type"):
        evaluate(good, FS, label_type="diff")
    with pytest.raises(ValueError, match="hr_method"):
        evaluate(good, FS, hr_method="fourier")
    with pytest.raises(ValueError, match="empty"):
        evaluate({}, FS)
    with pytest.raises(ValueError, match="window_s"):
        evaluate(good, FS, window_s=-1.0)
    with pytest.raises(ValueError, match="fs/2"):
        evaluate(good, 6.0)
    # the toolbox profiles cap a too-long window at the recording, as the toolbox does
    assert len(evaluate(good, FS, profile="tb-head-2025", window_s=30.0).windows) == 3


def test_profiles_listed_and_documented():
    assert list_profiles() == ["rppgbench", "tb-head-2025", "tb-neurips2023"]
    assert get_profile("tb-neurips2023").band == (0.75, 2.5)
    assert get_profile("tb-head-2025").band == (0.6, 3.3)
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "metrics.md").read_text()
    for name in list_profiles():
        assert f"`{name}`" in doc
