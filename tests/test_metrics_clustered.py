"""The rppgbench profile's honest windows (full windows only, dropped tails counted) and cluster-robust SEs;
the tb-* profiles keep the toolbox's rules."""
from __future__ import annotations

import math

import numpy as np
import pytest

from rppgbench.evaluation import MetricWarning, evaluate, get_profile
from rppgbench.evaluation.evaluate import json_safe
from rppgbench.evaluation.metrics import cluster_se, pooled_metrics

FS = 30.0


def _pulse(hr, n, phase=0.0):
    t = np.arange(n) / FS
    return np.sin(2 * np.pi * hr / 60 * t + phase) + 0.3 * np.sin(4 * np.pi * hr / 60 * t + 1 + phase)


# ------------------------------------------------------------------------------------------------ windows
@pytest.mark.parametrize("tail", [1, 8, 9, 15, 150, 299])
def test_rppgbench_scores_no_window_shorter_than_the_window(tail):
    n = 2 * 300 + tail
    sig = {"a": (_pulse(80, n, 0.4), _pulse(72, n)), "b": (_pulse(95, 900), _pulse(90, 900))}
    res = evaluate(sig, FS)  # rppgbench: 10 s = 300-sample windows
    assert ((res.windows.stop - res.windows.start) == 300).all()
    assert res.windows.groupby("recording").size().to_dict() == {"a": 2, "b": 3}
    assert res.tails_dropped == [{"recording": "a", "start": 600, "stop": n}] and res.n_tails_dropped == 1
    assert res.per_recording.set_index("recording").tail_dropped.to_dict() == {"a": tail, "b": 0}
    d = res.to_dict()
    assert d["n_tails_dropped"] == 1 and d["recordings"]["a"]["tail_dropped"] == tail
    assert {r["n_tails_dropped"] for r in res.metric_rows()} == {1}


def test_issue_reproduction_15_sample_tail_is_scored_by_toolbox_profiles_only():
    n = 300 + 15
    sig = {"a": (_pulse(36, n), _pulse(36, n)), "b": (_pulse(70, 600), _pulse(75, 600))}
    for prof in ("tb-head-2025", "tb-neurips2023"):
        res = evaluate(sig, FS, profile=prof, window_s=10.0)
        assert sorted((res.windows.stop - res.windows.start).tolist()) == [15, 300, 300, 300]  # toolbox: kept
        assert res.n_tails_dropped == 0
    res = evaluate(sig, FS, profile="rppgbench")
    assert sorted((res.windows.stop - res.windows.start).tolist()) == [300, 300, 300]
    assert res.tails_dropped == [{"recording": "a", "start": 300, "stop": 315}]


@pytest.mark.filterwarnings("ignore::rppgbench.evaluation.MetricWarning")  # one window: no Pearson
def test_toolbox_profiles_drop_only_tails_under_nine_samples_and_count_them():
    sig = {"a": (_pulse(80, 308), _pulse(72, 308))}  # 300 + an 8-sample tail
    res = evaluate(sig, FS, profile="tb-head-2025", window_s=10.0)
    assert (res.windows.stop - res.windows.start).tolist() == [300]
    assert res.tails_dropped == [{"recording": "a", "start": 300, "stop": 308}]


@pytest.mark.filterwarnings("ignore::rppgbench.evaluation.MetricWarning")  # one recording: no SE, no Pearson
def test_sliding_windows_count_the_uncovered_tail():
    sig = {"a": (_pulse(80, 700), _pulse(72, 700))}
    res = evaluate(sig, FS, window_s=10.0, stride_s=5.0)
    assert res.windows.start.tolist() == [0, 150, 300] and res.tails_dropped == [
        {"recording": "a", "start": 600, "stop": 700}]


def test_rppgbench_partial_windows_rule_is_profile_data():
    prof = get_profile("rppgbench")
    assert prof.partial_windows is False and prof.se_clusters == "recording"
    for name in ("tb-head-2025", "tb-neurips2023"):
        p = get_profile(name)
        assert p.partial_windows is True and p.se_clusters == "none" and p.min_window == 9
    with pytest.raises(ValueError, match="se_clusters"):
        prof.replace(se_clusters="subject")


# ------------------------------------------------------------------------------------------------ clustered SE
def test_cluster_se_hand_computed_small_example():
    # |e| per window: recording A: 1, 3; B: 2; C: 6, 8. Mean 4; residual sums S_A=-4, S_B=-2, S_C=6;
    # CR1 = sqrt(G/(G-1) * sum S_g^2) / n = sqrt(1.5 * 56) / 5. Naive (ddof 1): sqrt(34/4 / 5).
    ref = np.array([70.0, 70.0, 80.0, 90.0, 60.0])
    pred = ref + np.array([1.0, -3.0, 2.0, -6.0, 8.0])
    cl = np.array(["A", "A", "B", "C", "C"])
    snr = np.array([1.0, 3.0, 2.0, 6.0, 8.0])
    m = pooled_metrics(pred, ref, snr, snr / 10, get_profile("rppgbench"), clusters=cl)
    assert m["MAE"]["value"] == pytest.approx(4.0)
    assert m["MAE"]["se"] == pytest.approx(math.sqrt(1.5 * 56) / 5)
    assert m["SNR"]["se"] == pytest.approx(math.sqrt(1.5 * 56) / 5)
    assert m["MACC"]["se"] == pytest.approx(math.sqrt(1.5 * 56) / 50)
    assert math.sqrt(1.5 * 56) / 5 > math.sqrt(34 / 4 / 5)  # larger than the naive SE here
    # RMSE: e^2 = 1, 9, 4, 36, 64, MSE 22.8; residual sums S_A = -35.6, S_B = -18.8, S_C = 54.4 (delta method)
    se_mse = math.sqrt(1.5 * (35.6 ** 2 + 18.8 ** 2 + 54.4 ** 2)) / 5
    assert m["RMSE"]["value"] == pytest.approx(math.sqrt(22.8))
    assert m["RMSE"]["se"] == pytest.approx(se_mse / (2 * math.sqrt(22.8)))
    # MAPE: |e|/ref = 1/70, 3/70, 2/80, 6/90, 8/60
    rel = np.array([1 / 70, 3 / 70, 2 / 80, 6 / 90, 8 / 60])
    u = rel - rel.mean()
    s = [u[0] + u[1], u[2], u[3] + u[4]]
    assert m["MAPE"]["se"] == pytest.approx(100 * math.sqrt(1.5 * sum(x * x for x in s)) / 5)
    # Pearson: the same sandwich on the influence values, summed per recording (written out, no helper)
    r = np.corrcoef(pred, ref)[0, 1]
    zp, zr = (pred - pred.mean()) / pred.std(), (ref - ref.mean()) / ref.std()
    psi = zp * zr - r * (zp ** 2 + zr ** 2) / 2
    sums = [psi[0] + psi[1], psi[2], psi[3] + psi[4]]
    assert m["Pearson"]["se"] == pytest.approx(math.sqrt(1.5 * sum(x * x for x in sums)) / 5)


def test_singleton_clusters_equal_the_ddof1_naive_se():
    rng = np.random.default_rng(0)
    x = rng.normal(size=37)
    assert cluster_se(x, np.arange(37)) == pytest.approx(np.std(x, ddof=1) / math.sqrt(37))
    assert math.isnan(cluster_se(x, np.zeros(37)))


def test_pearson_linearised_se_matches_the_normal_theory_value_for_iid_normal_data():
    rng = np.random.default_rng(1)
    n, rho = 20000, 0.6
    x = rng.normal(size=n)
    y = rho * x + math.sqrt(1 - rho ** 2) * rng.normal(size=n)
    m = pooled_metrics(60 + 10 * x, 60 + 10 * y, np.zeros(n), np.zeros(n), get_profile("rppgbench"))
    r = m["Pearson"]["value"]
    assert m["Pearson"]["se"] == pytest.approx((1 - r * r) / math.sqrt(n), rel=0.05)


def _shared_error_recordings(n_rec, n_win, seed, shared):
    """Recordings of n_win 10 s windows; the prediction's HR error is one draw per recording (shared=True) or
    one per window (shared=False)."""
    rng = np.random.default_rng(seed)
    sig = {}
    for i in range(n_rec):
        hr = 60 + 4 * i
        err = rng.uniform(-12, 12, size=1 if shared else n_win).repeat(n_win if shared else 1)
        lab = np.concatenate([_pulse(hr, 300) for _ in range(n_win)])
        pred = np.concatenate([_pulse(hr + e, 300, 0.3) for e in err]) + 0.2 * rng.standard_normal(300 * n_win)
        sig[f"rec{i:02d}"] = (pred, lab)
    return sig


def test_clustered_se_exceeds_naive_se_on_correlated_windows():
    naive = get_profile("rppgbench").replace(name="naive", se_clusters="none")
    sig = _shared_error_recordings(10, 6, seed=3, shared=True)
    cl, nv = evaluate(sig, FS).metrics, evaluate(sig, FS, profile=naive).metrics
    for k in ("MAE", "RMSE", "MAPE", "SNR", "MACC"):
        assert cl[k]["value"] == pytest.approx(nv[k]["value"])
        assert cl[k]["se"] > 1.5 * nv[k]["se"], k  # 6 windows sharing one error: ~sqrt(6) times the naive SE
    # the same sandwich with every window its own cluster (the iid version of the Pearson SE)
    res = evaluate(sig, FS)
    w = res.windows
    iid = pooled_metrics(w.hr_pred.to_numpy(), w.hr_ref.to_numpy(), w.snr.to_numpy(), w.macc.to_numpy(),
                         get_profile("rppgbench"))
    assert cl["Pearson"]["se"] > 1.5 * iid["Pearson"]["se"]
    # independent windows: clustering costs little
    sig = _shared_error_recordings(10, 6, seed=3, shared=False)
    cl, nv = evaluate(sig, FS).metrics, evaluate(sig, FS, profile=naive).metrics
    assert cl["MAE"]["se"] < 1.5 * nv["MAE"]["se"]


def test_clusters_argument_groups_recordings_of_one_subject():
    sig = _shared_error_recordings(6, 2, seed=5, shared=True)
    by_rec = evaluate(sig, FS)
    subj = {rid: f"s{int(rid[3:]) // 2}" for rid in sig}  # 3 subjects with 2 recordings each
    by_subj = evaluate(sig, FS, clusters=subj)
    w = by_subj.windows
    ae = np.abs(w.hr_pred - w.hr_ref).to_numpy()
    assert by_subj.metrics["MAE"]["se"] == pytest.approx(cluster_se(ae, w.recording.map(subj).to_numpy()))
    assert by_rec.metrics["MAE"]["se"] == pytest.approx(cluster_se(ae, w.recording.to_numpy()))
    assert by_subj.metrics["MAE"]["value"] == by_rec.metrics["MAE"]["value"]
    with pytest.raises(ValueError, match="missing for 1: rec05"):
        evaluate(sig, FS, clusters={k: v for k, v in subj.items() if k != "rec05"})


@pytest.mark.filterwarnings("ignore:Pearson undefined:rppgbench.evaluation.MetricWarning")
def test_one_recording_has_no_clustered_se_and_says_so():
    sig = {"only": (_pulse(80, 900, 0.2), _pulse(75, 900))}
    with pytest.warns(MetricWarning, match="at least 2 recordings"):
        res = evaluate(sig, FS)
    assert math.isnan(res.metrics["MAE"]["se"]) and res.metrics["MAE"]["value"] == pytest.approx(5.0, abs=0.3)
    assert res.to_dict()["metrics"]["MAE"]["se"] is None


def test_toolbox_profiles_ignore_clusters():
    sig = _shared_error_recordings(4, 3, seed=2, shared=True)
    for prof in ("tb-head-2025", "tb-neurips2023"):
        a = evaluate(sig, FS, profile=prof, window_s=10.0)
        b = evaluate(sig, FS, profile=prof, window_s=10.0, clusters={k: "one" for k in sig})
        assert json_safe(a.metrics) == json_safe(b.metrics)
        ae = np.abs(a.windows.hr_pred - a.windows.hr_ref).to_numpy()
        assert a.metrics["MAE"]["se"] == pytest.approx(np.std(ae) / math.sqrt(ae.size))  # ddof 0, iid
