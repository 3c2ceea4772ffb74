"""Per-recording waveforms -> per-window HR, SNR, MACC -> pooled metrics (numpy in, data out; never prints)."""
from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from rppgbench._checks import DataError, check_option, shown
from rppgbench._logging import logger
from rppgbench.evaluation.bland_altman import bland_altman
from rppgbench.evaluation.metrics import MetricWarning, metric_spec, pooled_metrics
from rppgbench.evaluation.profiles import Profile, get_profile
from rppgbench.signal import windows as _win
from rppgbench.signal.detrend import detrend
from rppgbench.signal.filters import bandpass
from rppgbench.signal.hr import HR_METHODS, peak_hr, psd, welch_hr
from rppgbench.signal.quality import macc_columns, snr_columns

__all__ = ["evaluate", "EvaluationResult", "LABEL_TYPES", "process_window", "process_windows", "json_safe"]

LABEL_TYPES = ("raw", "diffnormalized", "standardized")
WINDOW_COLUMNS = ["recording", "window", "start", "stop", "hr_pred", "hr_ref", "snr", "macc", "resolution_bpm"]
PER_RECORDING_COLUMNS = ("recording", "hr_pred", "hr_ref", "abs_error", "n_windows", "tail_dropped")


def json_safe(obj: Any) -> Any:
    """Recursively convert numpy scalars/arrays to Python and non-finite floats to None."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    return obj


@dataclass
class EvaluationResult:
    """Pooled metrics plus everything needed to audit them.

    ``metrics``: ``{name: {"value", "se", "unit"}}`` for :data:`METRIC_NAMES`; ``windows``: one row per window;
    ``per_recording``: mean predicted/reference HR over each recording's windows (and ``tail_dropped``: samples at
    its end that no window scored); ``bland_altman``: statistics over the pooled windows; ``hr_resolution_bpm``: the
    coarsest FFT bin width used (NaN-free for fft/welch; for ``peak`` the largest per-window sample quantisation).
    ``n_excluded``: windows without an HR estimate (left out of the HR metrics); ``n_tails_dropped`` and
    ``tails_dropped`` (``recording, start, stop``): recording tails shorter than the window that were not scored
    (the profile's ``partial_windows``/``min_window`` rule, or the part of a sliding window that does not fit).
    """

    metrics: dict[str, dict[str, Any]]
    windows: pd.DataFrame
    per_recording: pd.DataFrame
    profile: str
    profile_settings: dict[str, Any]
    hr_resolution_bpm: float
    window_s: float | None
    stride_s: float | None
    hr_method: str
    label_type: str
    fs: float
    bland_altman: dict[str, Any] = field(default_factory=dict)
    n_excluded: int = 0
    tails_dropped: list[dict[str, Any]] = field(default_factory=list)
    n_pred_no_hr: int = 0

    @property
    def n_tails_dropped(self) -> int:
        return len(self.tails_dropped)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (NaN and inf become None)."""
        recs: dict[str, Any] = {}
        for rid, grp in self.windows.groupby("recording", sort=False):
            recs[str(rid)] = {
                "windows": grp.drop(columns=["recording"]).to_dict(orient="records"),
            }
        for row in self.per_recording.to_dict(orient="records"):
            recs[str(row["recording"])].update({k: v for k, v in row.items() if k != "recording"})
        return json_safe({
            "profile": self.profile, "profile_settings": self.profile_settings,
            "hr_resolution_bpm": self.hr_resolution_bpm, "fs": self.fs, "window_s": self.window_s,
            "stride_s": self.stride_s, "hr_method": self.hr_method, "label_type": self.label_type,
            "n_windows": int(len(self.windows)), "n_recordings": int(len(self.per_recording)),
            "n_excluded": self.n_excluded, "n_pred_no_hr": self.n_pred_no_hr, "n_tails_dropped": self.n_tails_dropped,
            "tails_dropped": self.tails_dropped, "metrics": self.metrics, "bland_altman": self.bland_altman,
            "recordings": recs,
        })

    def metric_rows(self, **context: Any) -> list[dict[str, Any]]:
        """Tidy rows, one per metric: ``metric, value, se, unit, higher_is_better, profile, hr_method, window_s,
        hr_resolution_bpm, n_windows, n_tails_dropped`` plus any ``context`` columns (e.g. protocol, model, dataset)."""
        rows = []
        for name, m in self.metrics.items():
            rows.append({**context, "metric": name, "value": m["value"], "se": m["se"], "unit": m["unit"],
                         "higher_is_better": metric_spec(name).higher_is_better, "profile": self.profile,
                         "hr_method": self.hr_method, "window_s": self.window_s,
                         "hr_resolution_bpm": self.hr_resolution_bpm, "n_windows": int(len(self.windows)),
                         "n_tails_dropped": self.n_tails_dropped})
        return rows

    def __repr__(self) -> str:
        vals = ", ".join(f"{k}={v['value']:.4g}" for k, v in self.metrics.items())
        return (f"EvaluationResult(profile={self.profile!r}, n_windows={len(self.windows)}, "
                f"hr_resolution_bpm={self.hr_resolution_bpm:.4g}, {vals})")


def process_windows(pred: np.ndarray, label: np.ndarray, fs: float, profile: Profile, label_type: str = "raw",
                    hr_method: str = "fft") -> dict[str, np.ndarray]:
    """Windows of equal length as the columns of (L, K) arrays, processed at once.

    Each column: (cumsum if diffnormalized) -> detrend -> band-pass -> HR of prediction and label, SNR of the
    prediction at the label's HR, MACC. Returns arrays of length K: ``hr_pred``, ``hr_ref``, ``snr``, ``macc``
    (NaN when the profile has MACC off), ``resolution_bpm`` and ``pred_no_hr`` (1.0 where the prediction had no HR
    estimate and was scored at the lowest in-band frequency). A flat (constant) prediction has no SNR (NaN).
    """
    lo, hi = profile.band
    x = np.concatenate([np.asarray(pred, dtype=np.float64), np.asarray(label, dtype=np.float64)], axis=1)
    k = x.shape[1] // 2
    flat = np.ptp(x[:, :k], axis=0) == 0.0 if x.shape[0] else np.ones(k, bool)  # no pulse predicted at all
    # Scale every column by a power of two to magnitude < 1: exact (every result below is unchanged to the bit)
    # and squares in the PSD can no longer overflow for huge predictions (which gave NaN SNR).
    _, expo = np.frexp(np.max(np.abs(x), axis=0, initial=0.0))
    x = np.ldexp(x, -expo)
    if label_type == "diffnormalized":
        x = np.cumsum(x, axis=0)
    x = bandpass(detrend(x, profile.detrend_lambda), fs, lo, hi, order=profile.filter_order, axis=0)
    n = x.shape[0]
    nfft = profile.nfft(n, fs)
    f, p = psd(x, fs, nfft, axis=0)
    sel = np.flatnonzero((f >= lo) & (f <= hi))
    if sel.size == 0:
        raise ValueError(f"no FFT bin inside [{lo}, {hi}] Hz with nfft={nfft} at fs={fs}")
    if hr_method == "fft":
        hr = 60.0 * f[sel[np.argmax(p[sel], axis=0)]]  # argmax: first maximal bin
        res = np.full(2 * k, fs * 60.0 / nfft)
    else:
        est = [welch_hr(x[:, j], fs, lo, hi) if hr_method == "welch" else peak_hr(x[:, j], fs)
               for j in range(2 * k)]
        hr = np.array([e.hr for e in est])
        res = np.array([e.resolution for e in est])
    hr_p, hr_r = hr[:k], hr[k:]
    # A prediction without an HR estimate (flat, or fewer than two peaks) is scored at the lowest in-band FFT
    # frequency, what the FFT method gives for an empty spectrum: an error, never a window silently dropped.
    no_hr = flat | ~np.isfinite(hr_p)
    hr_p = np.where(no_hr, 60.0 * f[sel[0]], hr_p)
    snr = snr_columns(f, p[:, :k], hr_r, lo, hi, formula=profile.snr_formula, halfwidth_hz=profile.snr_halfwidth_hz)
    snr = np.where(flat, np.nan, snr)
    mc = macc_columns(x[:, :k], x[:, k:]) if profile.macc else np.full(k, np.nan)
    with np.errstate(invalid="ignore"):
        resolution = np.fmax(res[:k], res[k:])
    return {"hr_pred": hr_p, "hr_ref": hr_r, "snr": snr, "macc": mc, "resolution_bpm": resolution,
            "pred_no_hr": no_hr.astype(np.float64)}


def process_window(pred: np.ndarray, label: np.ndarray, fs: float, profile: Profile, label_type: str = "raw",
                   hr_method: str = "fft") -> dict[str, float]:
    """One window (1-D ``pred`` and ``label``) through :func:`process_windows`; returns floats."""
    out = process_windows(np.asarray(pred, dtype=np.float64)[:, None], np.asarray(label, dtype=np.float64)[:, None],
                          fs, profile, label_type, hr_method)
    return {key: float(v[0]) for key, v in out.items()}


def _as_pair(rid: str, value: Any) -> tuple[np.ndarray, np.ndarray]:
    try:
        pred, label = value
    except (TypeError, ValueError) as exc:
        raise DataError("expected a (pred, label) pair of 1-D arrays", recording=rid) from exc
    out = []
    for what, arr in (("pred", pred), ("label", label)):
        a = np.asarray(arr, dtype=np.float64)
        if a.ndim != 1:
            a = np.squeeze(a)
        if a.ndim != 1:
            raise DataError(f"{what} must be 1-D; got shape {np.shape(arr)}", recording=rid)
        bad = np.flatnonzero(~np.isfinite(a))
        if bad.size:
            raise DataError(f"{what} has {bad.size} NaN/inf sample(s), first at sample {int(bad[0])}", recording=rid)
        out.append(a)
    if out[0].size != out[1].size:
        raise DataError(f"pred and label must have the same length; got {out[0].size} and {out[1].size} samples",
                        recording=rid)
    return out[0], out[1]


def evaluate(signals: Mapping[str, tuple[np.ndarray, np.ndarray]], fs: float, profile: str | Profile = "rppgbench",
             window_s: float | None | str = "profile", label_type: str = "raw", hr_method: str | None = None,
             *, stride_s: float | None = None, clusters: Mapping[str, Any] | None = None) -> EvaluationResult:
    """Evaluate predicted waveforms against reference waveforms.

    Parameters
    ----------
    signals : mapping recording id -> (pred, label)
        1-D arrays of equal length per recording, sampled at ``fs``; in the view given by ``label_type``.
    fs : float
        Sampling rate in Hz (> 0).
    profile : str or Profile
        Evaluation profile (see :func:`list_profiles`); fixes the band, filter, FFT length, SNR and SE formulas.
    window_s : float, None or "profile"
        Window in seconds; None evaluates whole recordings; "profile" uses the profile's default.
    label_type : {"raw", "diffnormalized", "standardized"}
        For ``diffnormalized`` both signals are integrated (cumulative sum) per window first.
    hr_method : {"fft", "welch", "peak"} or None
        HR estimator; None uses the profile's default.
    stride_s : float, optional
        With a window, use sliding windows with this stride instead of non-overlapping ones.
    clusters : mapping recording id -> label, optional
        For profiles with cluster-robust standard errors: the cluster of each recording's windows (e.g. its
        subject, so that recordings of one subject form one cluster). Default: one cluster per recording.

    Returns
    -------
    EvaluationResult
    """
    prof = get_profile(profile)
    if isinstance(fs, bool) or not isinstance(fs, (int, float, np.integer, np.floating)) or not math.isfinite(fs) \
            or fs <= 0:
        raise ValueError(f"fs must be a finite number > 0 Hz; got {shown(fs)}")
    fs = float(fs)
    check_option("label_type", label_type, LABEL_TYPES)
    method = prof.hr_method if hr_method is None else hr_method
    check_option("hr_method", method, HR_METHODS)
    if isinstance(window_s, str):
        check_option("window_s", window_s, ["profile"])
        window_s = prof.window_s
    if window_s is not None and not (isinstance(window_s, (int, float, np.number)) and not isinstance(window_s, bool)
                                     and math.isfinite(window_s) and window_s > 0):
        raise ValueError(f"window_s must be a finite number of seconds > 0, None (whole recording) or 'profile'; "
                         f"got {shown(window_s)}")
    if stride_s is not None:
        if window_s is None:
            raise ValueError("stride_s needs a window (window_s is None = whole recording)")
        if not (isinstance(stride_s, (int, float, np.number)) and math.isfinite(stride_s) and stride_s > 0):
            raise ValueError(f"stride_s must be a finite number of seconds > 0; got {shown(stride_s)}")
    if prof.band[1] >= fs / 2:
        raise ValueError(f"profile {prof.name}: band upper edge {prof.band[1]} Hz must be below fs/2 = {fs / 2} Hz")
    if not signals:
        raise ValueError("signals is empty: nothing to evaluate")
    if clusters is not None:
        clusters = {str(k): v for k, v in clusters.items()}
        lacking = [str(r) for r in signals if str(r) not in clusters]
        if lacking:
            raise ValueError(f"clusters must give a cluster for every recording; missing for {len(lacking)}: "
                             f"{', '.join(lacking[:5])}")

    cols: dict[str, list[Any]] = {c: [] for c in WINDOW_COLUMNS}
    per_rows: dict[str, list[Any]] = {c: [] for c in PER_RECORDING_COLUMNS}
    tails: list[dict[str, Any]] = []
    cluster_of: list[str] = []
    n_no_hr = 0
    for rid, value in signals.items():
        rid = str(rid)
        pred, label = _as_pair(rid, value)
        n = pred.size
        if window_s is None:
            if n < prof.min_window:
                raise DataError(f"has {n} samples; at least {prof.min_window} are needed", recording=rid)
            bounds = _win.whole(n)
        elif stride_s is not None:
            bounds = _win.sliding(n, fs, float(window_s), float(stride_s), name=f"recording {rid}")
        else:
            min_len = prof.min_window if prof.partial_windows else _win.window_samples(float(window_s), fs)
            bounds = _win.nonoverlapping(n, fs, float(window_s), min_len=min_len, cap=prof.cap_window,
                                         name=f"recording {rid}")
        if not bounds:
            raise DataError(f"no window of at least {prof.min_window} samples", recording=rid)
        if bounds[-1][1] < n:
            tails.append({"recording": rid, "start": bounds[-1][1], "stop": n})
        by_len: dict[int, list[int]] = {}
        for k, (a, b) in enumerate(bounds):
            if np.ptp(label[a:b]) == 0.0:
                raise DataError(f"label is constant ({label[a]:g}) in window {k} (samples {a}-{b}); "
                                f"no reference HR can be computed", recording=rid)
            by_len.setdefault(b - a, []).append(k)
        results: dict[int, dict[str, float]] = {}
        for ks in by_len.values():
            cols_p = np.stack([pred[bounds[k][0]:bounds[k][1]] for k in ks], axis=1)
            cols_l = np.stack([label[bounds[k][0]:bounds[k][1]] for k in ks], axis=1)
            out = process_windows(cols_p, cols_l, fs, prof, label_type, method)
            for j, k in enumerate(ks):
                results[k] = {key: float(v[j]) for key, v in out.items()}
        hp = np.array([results[k]["hr_pred"] for k in range(len(bounds))])
        hrf = np.array([results[k]["hr_ref"] for k in range(len(bounds))])
        for k, (a, b) in enumerate(bounds):
            for col, val in (("recording", rid), ("window", k), ("start", a), ("stop", b)):
                cols[col].append(val)
            for col in WINDOW_COLUMNS[4:]:
                cols[col].append(results[k][col])
            cluster_of.append(str(clusters[rid] if clusters is not None else rid))
            n_no_hr += int(results[k]["pred_no_hr"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows: mean is NaN
            mp, mr = float(np.nanmean(hp)), float(np.nanmean(hrf))
        per_rows["recording"].append(rid)
        per_rows["hr_pred"].append(mp)
        per_rows["hr_ref"].append(mr)
        per_rows["abs_error"].append(abs(mp - mr))
        per_rows["n_windows"].append(len(bounds))
        per_rows["tail_dropped"].append(n - bounds[-1][1])
    win = pd.DataFrame(cols, columns=WINDOW_COLUMNS)
    bad = ~(np.isfinite(win["hr_pred"].to_numpy()) & np.isfinite(win["hr_ref"].to_numpy()))
    n_bad = int(bad.sum())
    if n_bad:
        recs = sorted(set(win.loc[bad, "recording"]))
        warnings.warn(f"{n_bad} window(s) without a reference HR estimate (recordings: {', '.join(recs[:10])}) are "
                      f"excluded from the HR metrics", MetricWarning, stacklevel=2)
    if n_no_hr:
        warnings.warn(f"{n_no_hr} window(s) whose prediction has no HR estimate (flat, or fewer than two peaks) are "
                      f"scored at the lowest in-band frequency, not dropped", MetricWarning, stacklevel=2)
    if tails:
        logger.info("%d recording tail(s) shorter than the %s s window not scored (%d samples in all)", len(tails),
                    window_s, sum(t["stop"] - t["start"] for t in tails))
    metrics = pooled_metrics(win["hr_pred"].to_numpy(), win["hr_ref"].to_numpy(), win["snr"].to_numpy(),
                             win["macc"].to_numpy(), prof, clusters=np.asarray(cluster_of))
    per = pd.DataFrame(per_rows, columns=list(PER_RECORDING_COLUMNS))
    resolution = float(np.nanmax(win["resolution_bpm"])) if np.isfinite(win["resolution_bpm"]).any() \
        else float("nan")
    ba = bland_altman(win["hr_ref"].to_numpy(), win["hr_pred"].to_numpy(), ddof=1)
    logger.info("evaluated %d window(s) of %d recording(s) with profile %s", len(win), len(per), prof.name)
    return EvaluationResult(metrics=metrics, windows=win, per_recording=per, profile=prof.name,
                            profile_settings=prof.as_dict(), hr_resolution_bpm=resolution,
                            window_s=None if window_s is None else float(window_s),
                            stride_s=None if stride_s is None else float(stride_s), hr_method=method,
                            label_type=label_type, fs=fs, bland_altman=ba, n_excluded=n_bad, tails_dropped=tails,
                            n_pred_no_hr=n_no_hr)
