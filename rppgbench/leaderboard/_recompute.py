"""The single place where the leaderboard computes metrics: :func:`rppgbench.evaluation.evaluate`, one call per
test dataset, with the protocol's evaluation settings from ``reference.json`` (never the submitter's)."""
from __future__ import annotations

from typing import Any

import numpy as np

from rppgbench.evaluation import evaluate
from rppgbench.evaluation.evaluate import json_safe

__all__ = ["recompute_metrics", "null_baseline"]


def null_baseline(hr_ref: np.ndarray) -> dict[str, float | None]:
    """The constant-HR baseline of a test dataset: predict one HR in every evaluation window, the median of the
    reference window HRs (the constant with the smallest MAE on these windows). An entry whose MAE is not below
    this one carries no information about the per-window HR (``submit`` flags it). Computed from the reference
    labels by the leaderboard itself; it is a yardstick, not a model anyone could submit."""
    r = np.asarray(hr_ref, dtype=np.float64)
    r = r[np.isfinite(r)]
    if r.size == 0:
        return {"hr_bpm": None, "MAE": None}
    c = float(np.median(r))
    return {"hr_bpm": c, "MAE": float(np.mean(np.abs(r - c)))}


def recompute_metrics(preds: dict[str, np.ndarray], labels: dict[str, np.ndarray],
                      evaluation: dict[str, Any], label_type: str = "raw") -> dict[str, Any]:
    """Metrics per test dataset (recording ids are ``<dataset>/<recording>``).

    Parameters
    ----------
    preds, labels : dict of id -> 1-D array
        Hash-verified labels and the submission's predictions, same keys and lengths.
    evaluation : dict
        The protocol's ``profile``, ``window_s``, ``fs`` and optionally ``hr_method``.
    label_type : str
        The view of the signals (the model's ``label_view``), as the runner evaluates them.

    Returns
    -------
    dict
        ``settings``, ``datasets`` ({dataset: {metric: {value, se, unit}}}), ``hr_resolution_bpm``,
        ``n_windows``, ``n_recordings``, ``n_tails_dropped`` (tails shorter than the window, not scored),
        ``n_excluded`` (windows without a reference HR), ``n_pred_no_hr`` (windows whose prediction had no HR
        estimate, scored at the lowest in-band frequency), ``flat_windows`` (windows whose predicted waveform is
        constant), ``null_baseline`` (see :func:`null_baseline`) (each per dataset) and ``per_recording``
        ({id: hr_pred, hr_ref, abs_error, n_windows}); JSON-safe (NaN → None).
    """
    groups: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for rid in sorted(preds):
        groups.setdefault(rid.split("/", 1)[0], {})[rid] = (preds[rid], labels[rid])
    settings = {"profile": evaluation["profile"], "window_s": evaluation.get("window_s"),
                "label_type": label_type, "hr_method": evaluation.get("hr_method"),
                "fs": float(evaluation["fs"])}
    out: dict[str, Any] = {"settings": settings, "datasets": {}, "hr_resolution_bpm": {}, "n_windows": {},
                           "n_recordings": {}, "n_tails_dropped": {}, "n_excluded": {}, "n_pred_no_hr": {},
                           "flat_windows": {}, "null_baseline": {}, "per_recording": {}}
    for ds, signals in sorted(groups.items()):
        res = evaluate(signals, fs=settings["fs"], profile=settings["profile"], window_s=settings["window_s"],
                       label_type=settings["label_type"], hr_method=settings["hr_method"])
        out["datasets"][ds] = {k: dict(v) for k, v in res.metrics.items()}
        out["hr_resolution_bpm"][ds] = res.hr_resolution_bpm
        out["n_windows"][ds] = int(len(res.windows))
        out["n_recordings"][ds] = int(len(res.per_recording))
        out["n_tails_dropped"][ds] = res.n_tails_dropped
        out["n_excluded"][ds] = int(res.n_excluded)
        out["n_pred_no_hr"][ds] = int(res.n_pred_no_hr)
        w = res.windows
        out["flat_windows"][ds] = int(sum(np.ptp(signals[r][0][a:b]) == 0.0 for r, a, b in
                                          zip(w["recording"], w["start"], w["stop"], strict=True)))
        out["null_baseline"][ds] = null_baseline(w["hr_ref"].to_numpy())
        for row in res.per_recording.to_dict(orient="records"):
            out["per_recording"][str(row["recording"])] = {k: row[k] for k in ("hr_pred", "hr_ref", "abs_error",
                                                                               "n_windows")}
    return json_safe(out)
