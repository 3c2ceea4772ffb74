"""Align a dataset's ground-truth PPG onto the video frame times.

Two methods:

``time`` (default)
    Linear interpolation (``np.interp``) of the label at its own timestamps onto the frame timestamps.
    Linear rather than cubic: labels are sampled at ≥ 25 Hz, at or above the frame rate, so linear
    interpolation loses little and never overshoots at sensor glitches. Frames outside the label's time span
    take the nearest edge value and are **counted** in the QC (``frames_outside_label``, ``label_coverage``).
    When the track has no timestamps the label is assumed to span first → last frame uniformly
    (QC ``label_time_base = "assumed"``). Repeated label timestamps (UBFC) keep the first sample and are
    counted (``label_duplicate_timestamps``); decreasing timestamps are a DataError.
``index``
    rPPG-Toolbox ``resample_ppg``: ``np.interp(linspace(1, N, T), arange(1, N+1), label)`` — the N label
    samples are stretched linearly onto the T frames, ignoring any time base.

QC fields (all JSON scalars): ``label_time_base`` (file | assumed | index), ``label_samples``,
``label_duration_ratio`` (label duration / video duration; NaN when unknowable), ``label_coverage``
(fraction of frames inside the label span), ``frames_outside_label``, ``label_duplicate_timestamps``,
``frame_jitter`` (std of frame intervals / median interval), ``dropped_frames`` (intervals > 1.5× median).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from rppgbench._checks import DataError, check_option
from rppgbench.datasets.base import LabelTrack

__all__ = ["align_label", "frame_time_qc"]


def frame_time_qc(frame_times: np.ndarray) -> dict[str, Any]:
    """Jitter and dropped-frame counts of a frame clock."""
    ft = np.asarray(frame_times, dtype=np.float64)
    if ft.size < 2:
        return {"frame_jitter": 0.0, "dropped_frames": 0, "frame_interval_median_s": float("nan")}
    d = np.diff(ft)
    med = float(np.median(d))
    jitter = float(np.std(d) / med) if med > 0 else float("nan")
    return {"frame_jitter": jitter, "dropped_frames": int(np.sum(d > 1.5 * med)),
            "frame_interval_median_s": med}


def _span(t: np.ndarray) -> float:
    """Duration covered by samples at times ``t``, counting one median interval for the last sample."""
    if t.size < 2:
        return float("nan")
    return float(t[-1] - t[0] + np.median(np.diff(t)))


def align_label(track: LabelTrack, frame_times: np.ndarray, method: str = "time", *,
                tolerance: float | None = None, recording: str | None = None,
                path: str | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Label values (and ``track.extra`` columns) on the frame clock.

    Parameters
    ----------
    track : LabelTrack
        The dataset's label with its own time base.
    frame_times : float64 (T,)
        Frame times in seconds (strictly increasing).
    method : {"time", "index"}
    tolerance : float, optional
        When given, ``|label_duration_ratio - 1| > tolerance`` raises :class:`DataError`.
    recording, path : str, optional
        Named in error messages.

    Returns
    -------
    aligned : float64 (T,)
    qc : dict
        The QC fields listed in the module docstring, plus ``extra`` → {name: float64 (T,)}.
    """
    check_option("label_alignment", method, ("time", "index"))
    ft = np.asarray(frame_times, dtype=np.float64)
    values = np.asarray(track.values, dtype=np.float64).ravel()
    T, N = ft.size, values.size
    if T == 0:
        raise DataError("no frames to align the label to", recording=recording, path=path)
    if N < 2:
        raise DataError(f"label has {N} sample(s); expected at least 2", recording=recording, path=path)
    if not np.all(np.isfinite(values)):
        bad = np.flatnonzero(~np.isfinite(values))
        raise DataError(f"label holds {bad.size} NaN/inf value(s), first at sample {int(bad[0])}; expected "
                        "finite PPG values", recording=recording, path=path)
    if T > 1 and np.any(np.diff(ft) <= 0):
        i = int(np.flatnonzero(np.diff(ft) <= 0)[0])
        raise DataError(f"frame timestamps must increase strictly; frame {i + 1} at {ft[i + 1]!r} s "
                        f"follows {ft[i]!r} s", recording=recording, path=path)
    extra = {k: np.asarray(v, dtype=np.float64).ravel() for k, v in (track.extra or {}).items()}
    for k, v in extra.items():
        if v.size != N:
            raise DataError(f"label column {k!r} has {v.size} samples; expected {N} like the PPG",
                            recording=recording, path=path)

    qc: dict[str, Any] = {"label_samples": int(N), "label_duplicate_timestamps": 0}
    qc.update(frame_time_qc(ft))
    video_span = _span(ft)
    if method == "index":
        x_new = np.linspace(1, N, T)
        x_old = np.arange(1, N + 1, dtype=np.float64)
        aligned = np.interp(x_new, x_old, values)
        out_extra = {k: np.interp(x_new, x_old, v) for k, v in extra.items()}
        qc["label_time_base"] = "index"
        if track.fs:
            qc["label_duration_ratio"] = float((N / float(track.fs)) / video_span) if video_span > 0 else float("nan")
        else:
            qc["label_duration_ratio"] = float("nan")
        qc["label_coverage"] = 1.0
        qc["frames_outside_label"] = 0
    else:
        if track.timestamps is None:
            ts = np.linspace(ft[0], ft[-1], N)
            qc["label_time_base"] = "assumed"
            if track.fs and video_span > 0:
                qc["label_duration_ratio"] = float((N / float(track.fs)) / video_span)
            else:
                qc["label_duration_ratio"] = float("nan")
        else:
            ts = np.asarray(track.timestamps, dtype=np.float64).ravel()
            if ts.size != N:
                raise DataError(f"label has {N} values but {ts.size} timestamps; expected equal lengths",
                                recording=recording, path=path)
            if not np.all(np.isfinite(ts)):
                raise DataError("label timestamps hold NaN/inf", recording=recording, path=path)
            d = np.diff(ts)
            if np.any(d < 0):
                i = int(np.flatnonzero(d < 0)[0])
                raise DataError(f"label timestamps decrease at sample {i + 1} ({ts[i + 1]!r} s after "
                                f"{ts[i]!r} s); expected non-decreasing times", recording=recording, path=path)
            keep = np.concatenate([[True], d > 0])
            qc["label_duplicate_timestamps"] = int(np.sum(~keep))
            ts, values = ts[keep], values[keep]
            extra = {k: v[keep] for k, v in extra.items()}
            if ts.size < 2:
                raise DataError("label has fewer than 2 distinct timestamps", recording=recording, path=path)
            qc["label_time_base"] = "file"
            qc["label_duration_ratio"] = float(_span(ts) / video_span) if video_span > 0 else float("nan")
        inside = (ft >= ts[0] - 1e-9) & (ft <= ts[-1] + 1e-9)
        qc["frames_outside_label"] = int(np.sum(~inside))
        qc["label_coverage"] = float(np.mean(inside))
        aligned = np.interp(ft, ts, values)
        out_extra = {k: np.interp(ft, ts, v) for k, v in extra.items()}
    ratio = qc["label_duration_ratio"]
    if tolerance is not None and not math.isnan(ratio) and abs(ratio - 1.0) > tolerance:
        raise DataError(f"label lasts {ratio:.3f}× the video ({N} label samples, {T} frames); expected a ratio "
                        f"within 1 ± {tolerance} (truncated video or label?)", recording=recording, path=path)
    qc["extra"] = out_extra
    return aligned, qc
