"""Per-recording waveforms -> per-window HR, SNR, MACC -> pooled metrics (numpy in, data out; never prints)."""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from rppgbench._checks import DataError, check_option
from rppgbench._logging import logger
from rppgbench.evaluation.bland_altman import bland_altman
from rppgbench.evaluation.metrics import MetricWarning, pooled_metrics
from rppgbench.evaluation.profiles import Profile, get_profile
from rppgbench.signal import windows as _win
from rppgbench.signal.detrend import detrend
from rppgbench.signal.filters import bandpass
from rppgbench.signal.hr import HR_METHODS, peak_hr, periodogram_hr, welch_hr
from rppgbench.signal.quality import macc as _macc
from rppgbench.signal.quality import snr as _snr

__all__ = ["evaluate", "EvaluationResult", "LABEL_TYPES", "process_window", "json_safe"]

LABEL_TYPES = ("raw", "diffnormalized", "standardized")
WINDOW_COLUMNS = ["recording", "window", "start", "stop", "hr_pred", "hr_ref", "snr", "macc", "resolution_bpm"]


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
    ``per_recording``: mean predicted/reference HR over each recording's windows; ``bland_altman``: statistics over
    the pooled windows; ``hr_resolution_bpm``: the coarsest FFT bin width used (NaN-free for fft/welch; for
    ``peak`` the largest per-window sample quantisation).
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
            "n_excluded": self.n_excluded, "metrics": self.metrics, "bland_altman": self.bland_altman,
            "recordings": recs,
        })

    def __repr__(self) -> str:
        vals = ", ".join(f"{k}={v['value']:.4g}" for k, v in self.metrics.items())
        return (f"EvaluationResult(profile={self.profile!r}, n_windows={len(self.windows)}, "
                f"hr_resolution_bpm={self.hr_resolution_bpm:.4g}, {vals})")


def process_window(pred: np.ndarray, label: np.ndarray, fs: float, profile: Profile, label_type: str = "raw",
                   hr_method: str = "fft") -> dict[str, float]:
    """One window: (cumsum if diffnormalized) -> detrend -> band-pass -> HR of both, SNR of pred, MACC.

    Returns ``hr_pred``, ``hr_ref``, ``snr``, ``macc`` (NaN when the profile has MACC off) and ``resolution_bpm``.
    """
    lo, hi = profile.band
    sigs = []
    for x in (pred, label):
        x = np.asarray(x, dtype=np.float64)
        if label_type == "diffnormalized":
            x = np.cumsum(x)
        x = detrend(x, profile.detrend_lambda)
        sigs.append(bandpass(x, fs, lo, hi, order=profile.filter_order))
    p, lab = sigs
    n = p.size
    nfft = profile.nfft(n, fs)
    if hr_method == "fft":
        ep, er = periodogram_hr(p, fs, lo, hi, nfft=nfft), periodogram_hr(lab, fs, lo, hi, nfft=nfft)
    elif hr_method == "welch":
        ep, er = welch_hr(p, fs, lo, hi), welch_hr(lab, fs, lo, hi)
    else:
        ep, er = peak_hr(p, fs), peak_hr(lab, fs)
    res = float(np.nanmax([ep.resolution, er.resolution])) if np.isfinite([ep.resolution, er.resolution]).any() \
        else float("nan")
    s = _snr(p, fs, er.hr, lo, hi, formula=profile.snr_formula, halfwidth_hz=profile.snr_halfwidth_hz, nfft=nfft)
    m = _macc(p, lab) if profile.macc else float("nan")
    return {"hr_pred": ep.hr, "hr_ref": er.hr, "snr": s, "macc": m, "resolution_bpm": res}


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
             *, stride_s: float | None = None) -> EvaluationResult:
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

    Returns
    -------
    EvaluationResult
    """
    prof = get_profile(profile)
    if isinstance(fs, bool) or not isinstance(fs, (int, float, np.integer, np.floating)) or not math.isfinite(fs) \
            or fs <= 0:
        raise ValueError(f"fs must be a finite number > 0 Hz; got {fs!r}")
    fs = float(fs)
    check_option("label_type", label_type, LABEL_TYPES)
    method = prof.hr_method if hr_method is None else hr_method
    check_option("hr_method", method, HR_METHODS)
    if isinstance(window_s, str):
        check_option("window_s", window_s, ["profile"])
        window_s = prof.window_s
    if window_s is not None and not (isinstance(window_s, (int, float, np.number)) and window_s > 0):
        raise ValueError(f"window_s must be > 0 seconds, None (whole recording) or 'profile'; got {window_s!r}")
    if stride_s is not None:
        if window_s is None:
            raise ValueError("stride_s needs a window (window_s is None = whole recording)")
        if not stride_s > 0:
            raise ValueError(f"stride_s must be > 0 seconds; got {stride_s!r}")
    if prof.band[1] >= fs / 2:
        raise ValueError(f"profile {prof.name}: band upper edge {prof.band[1]} Hz must be below fs/2 = {fs / 2} Hz")
    if not signals:
        raise ValueError("signals is empty: nothing to evaluate")

    rows: list[dict[str, Any]] = []
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
            bounds = _win.nonoverlapping(n, fs, float(window_s), min_len=prof.min_window, cap=prof.cap_window,
                                         name=f"recording {rid}")
        if not bounds:
            raise DataError(f"no window of at least {prof.min_window} samples", recording=rid)
        for k, (a, b) in enumerate(bounds):
            out = process_window(pred[a:b], label[a:b], fs, prof, label_type, method)
            rows.append({"recording": rid, "window": k, "start": a, "stop": b, **out})
    win = pd.DataFrame(rows, columns=WINDOW_COLUMNS)
    bad = ~(np.isfinite(win["hr_pred"].to_numpy()) & np.isfinite(win["hr_ref"].to_numpy()))
    n_bad = int(bad.sum())
    if n_bad:
        recs = sorted(set(win.loc[bad, "recording"]))
        warnings.warn(f"{n_bad} window(s) without an HR estimate (recordings: {', '.join(recs)}) are excluded "
                      f"from the HR metrics", MetricWarning, stacklevel=2)
    metrics = pooled_metrics(win["hr_pred"].to_numpy(), win["hr_ref"].to_numpy(), win["snr"].to_numpy(),
                             win["macc"].to_numpy(), prof)
    per = (win.groupby("recording", sort=False)
              .agg(hr_pred=("hr_pred", "mean"), hr_ref=("hr_ref", "mean"), n_windows=("window", "size"))
              .reset_index())
    per["abs_error"] = (per["hr_pred"] - per["hr_ref"]).abs()
    per = per[["recording", "hr_pred", "hr_ref", "abs_error", "n_windows"]]
    resolution = float(np.nanmax(win["resolution_bpm"])) if np.isfinite(win["resolution_bpm"]).any() \
        else float("nan")
    ba = bland_altman(win["hr_ref"].to_numpy(), win["hr_pred"].to_numpy(), ddof=1)
    logger.info("evaluated %d window(s) of %d recording(s) with profile %s", len(win), len(per), prof.name)
    return EvaluationResult(metrics=metrics, windows=win, per_recording=per, profile=prof.name,
                            profile_settings=prof.as_dict(), hr_resolution_bpm=resolution,
                            window_s=None if window_s is None else float(window_s),
                            stride_s=None if stride_s is None else float(stride_s), hr_method=method,
                            label_type=label_type, fs=fs, bland_altman=ba, n_excluded=n_bad)
