"""Metric edge cases (issue 14 L4, L12, L3): infinite windows, predictions without an HR estimate are scored and
never dropped, flat predictions get no SNR, huge predictions do not overflow."""
from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from rppgbench.evaluation import evaluate, save_predictions
from rppgbench.evaluation.metrics import MetricWarning

FS = 30.0


def _sine(bpm: float, n: int, phase: float = 0.0) -> np.ndarray:
    return np.sin(2 * np.pi * bpm / 60.0 * np.arange(n) / FS + phase)


def test_flat_windows_count_as_errors_under_peak():
    """L12: half the windows right, half flat. Before, peak dropped the flat ones (MAE 0.0)."""
    label = _sine(123.0, 900)
    pred = label.copy()
    pred[450:] = 0.0  # windows 3-5 of six 5 s windows are flat
    with pytest.warns(MetricWarning, match=r"3 window\(s\) whose prediction has no HR estimate"):
        res = evaluate({"a": (pred, label)}, FS, window_s=5.0, hr_method="peak")
    assert len(res.windows) == 6 and res.n_excluded == 0 and res.n_pred_no_hr == 3
    fft = evaluate({"a": (pred, label)}, FS, window_s=5.0, hr_method="fft")  # the FFT convention for comparison
    flat = res.windows["start"] >= 450
    assert np.allclose(res.windows.loc[flat, "hr_pred"], fft.windows.loc[flat, "hr_pred"])
    err = np.abs(res.windows["hr_pred"] - res.windows["hr_ref"])
    assert res.metrics["MAE"]["value"] == pytest.approx(err.mean()) and res.metrics["MAE"]["value"] > 30
    assert res.windows.loc[flat, "snr"].isna().all() and res.to_dict()["n_pred_no_hr"] == 3


def test_flat_prediction_has_no_snr_rather_than_zero():
    """L3: an all-zero prediction used to get SNR 0.0 dB, better than every real method."""
    label = _sine(75.0, 600)
    rng = np.random.default_rng(0)
    noisy = label + 2.0 * rng.standard_normal(600)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetricWarning)
        flat = evaluate({"a": (np.zeros(600), label)}, FS, window_s=10.0)
    real = evaluate({"a": (noisy, label)}, FS, window_s=10.0)
    assert np.isnan(flat.metrics["SNR"]["value"]) and np.isfinite(real.metrics["SNR"]["value"])


def test_huge_predictions_do_not_overflow_and_scaling_is_exact():
    """L12: a prediction of magnitude 1e200 squared in the PSD gave SNR NaN; scale changes nothing."""
    label = _sine(80.0, 900) + 0.1 * _sine(81.0, 900)
    pred = _sine(80.0, 900, 0.4) + 0.3 * _sine(130.0, 900)
    two = {"a": (pred, label), "b": (pred[::-1].copy(), label[::-1].copy())}  # two recordings: cluster SEs defined
    base = evaluate(two, FS, window_s=10.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy overflow warning either
        big = evaluate({k: (p * 1e200, q) for k, (p, q) in two.items()}, FS, window_s=10.0)
        tiny = evaluate({k: (p * 2.0**-900, q * 4.0) for k, (p, q) in two.items()}, FS, window_s=10.0)
    for m in ("MAE", "SNR", "MACC", "Pearson"):
        for other in (big, tiny):
            v, w = base.metrics[m]["value"], other.metrics[m]["value"]
            assert (np.isnan(v) and np.isnan(w)) or v == pytest.approx(w, rel=1e-12), m
    assert np.isfinite(big.metrics["SNR"]["value"])


@pytest.mark.parametrize("window", [float("inf"), float("nan"), -1.0])
def test_non_finite_window_is_a_value_error(window):
    with pytest.raises(ValueError, match="window_s must be a finite number of seconds > 0"):
        evaluate({"a": (_sine(70, 300), _sine(70, 300))}, FS, window_s=window)
    with pytest.raises(ValueError, match="stride_s must be a finite number"):
        evaluate({"a": (_sine(70, 300), _sine(70, 300))}, FS, window_s=5.0, stride_s=window)


def test_metrics_command_window_inf_exits_2_without_traceback(tmp_path):
    p = save_predictions(tmp_path / "p.npz", {"a": (_sine(70, 300), _sine(70, 300))}, fs=FS)
    exe = Path(sys.executable).with_name("rppgbench")
    for w in ("inf", "nan"):
        r = subprocess.run([str(exe), "metrics", str(p), "--window", w], capture_output=True, text=True, timeout=300)
        assert r.returncode == 2 and "window_s must be a finite number" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([str(exe), "metrics", str(p), "--window", "5"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "MAE" in r.stdout


def test_messages_show_numbers_not_numpy_reprs():
    """L11: numpy 2 scalars repr as np.float64(...); messages show the plain number."""
    with pytest.raises(ValueError) as exc:
        evaluate({"a": (_sine(70, 300), _sine(70, 300))}, np.float64(-30.0))
    assert "got -30.0" in str(exc.value) and "np.float64" not in str(exc.value)
    from rppgbench._checks import check_range, shown

    with pytest.raises(ValueError, match=r"must be in \[0, 1\]; got 2\.5$"):
        check_range("x", np.float64(2.5), 0, 1)
    assert shown("y" * 500).endswith("... (502 characters)")
