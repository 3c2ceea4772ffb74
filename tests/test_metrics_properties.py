"""Property tests (hypothesis) of the HR metrics."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rppgbench.evaluation import evaluate, get_profile
from rppgbench.evaluation.metrics import MetricWarning, pooled_metrics

FS = 30.0
HR_METRICS = ("MAE", "RMSE", "MAPE", "Pearson")
_SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _signals(seed: int, n_rec: int, n: int = 360) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    out = {}
    for i in range(n_rec):
        hr = rng.uniform(50, 150)
        lab = np.sin(2 * np.pi * hr / 60 * t)
        pred = np.sin(2 * np.pi * (hr + rng.uniform(-6, 6)) / 60 * t + rng.uniform(0, 6)) \
            + 0.5 * rng.standard_normal(n)
        out[f"r{i}"] = (pred, lab)
    return out


def _eval(sig, profile):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetricWarning)
        return evaluate(sig, FS, profile=profile, window_s=None)


@_SETTINGS
@given(seed=st.integers(0, 2 ** 16), offset=st.floats(-1e3, 1e3), scale=st.floats(1e-2, 1e2),
       profile=st.sampled_from(["rppgbench", "tb-head-2025", "tb-neurips2023"]))
def test_hr_metrics_invariant_to_offset_and_positive_scale(seed, offset, scale, profile):
    sig = _signals(seed, 4)
    moved = {k: (scale * p + offset, lab) for k, (p, lab) in sig.items()}
    a, b = _eval(sig, profile), _eval(moved, profile)
    np.testing.assert_array_equal(a.windows.hr_pred, b.windows.hr_pred)
    for name in HR_METRICS + ("SNR", "MACC"):
        va, vb = a.metrics[name]["value"], b.metrics[name]["value"]
        assert (math.isnan(va) and math.isnan(vb)) or va == pytest.approx(vb, rel=1e-6, abs=1e-9), name


@_SETTINGS
@given(seed=st.integers(0, 2 ** 16), perm_seed=st.integers(0, 1000))
def test_metrics_invariant_to_recording_order(seed, perm_seed):
    sig = _signals(seed, 5)
    keys = list(sig)
    np.random.default_rng(perm_seed).shuffle(keys)
    a, b = _eval(sig, "tb-head-2025"), _eval({k: sig[k] for k in keys}, "tb-head-2025")
    for name, m in a.metrics.items():
        assert m["value"] == pytest.approx(b.metrics[name]["value"], rel=1e-12, abs=1e-12)
        assert m["se"] == pytest.approx(b.metrics[name]["se"], rel=1e-9, abs=1e-12)


hr_arrays = st.integers(1, 40).flatmap(
    lambda n: st.tuples(arrays(np.float64, n, elements=st.floats(30, 200)),
                        arrays(np.float64, n, elements=st.floats(30, 200))))


@settings(max_examples=60, deadline=None)
@given(pair=hr_arrays, profile=st.sampled_from(["rppgbench", "tb-head-2025", "tb-neurips2023"]))
def test_mae_le_rmse_and_pearson_bounded(pair, profile):
    pred, ref = pair
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetricWarning)
        m = pooled_metrics(pred, ref, np.zeros(pred.size), np.zeros(pred.size), get_profile(profile))
    assert m["MAE"]["value"] <= m["RMSE"]["value"] * (1 + 1e-12) + 1e-12
    r = m["Pearson"]["value"]
    assert math.isnan(r) or -1.0 <= r <= 1.0
    if pred.size < 3:
        assert math.isnan(r)
    for name in ("MAE", "RMSE", "MAPE"):
        assert m[name]["value"] >= 0
