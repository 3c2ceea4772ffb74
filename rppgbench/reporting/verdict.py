"""The report's first screen: who won, by how much, how sure.

For one protocol and test dataset, the winner is the model (other than the null baseline) with the best value of
the protocol's primary metric (the first of its ``evaluation.metrics``; MAE by default). Its margin over the
runner-up and over the null baseline is a difference of that metric with a standard error and a 95 % interval:

- **paired** for MAE and MAPE (means of a per-window loss) when both models' predictions files hold the same
  windows: the per-window loss differences over the windows both scored, their mean, and the standard error by
  the evaluation profile's rule (cluster-robust CR1 by recording for ``rppgbench``, SD/√n otherwise), with a
  Student-t interval on G − 1 degrees of freedom (G recordings; n − 1 windows without clustering);
- **unpaired** otherwise: the difference of the two table values with SE √(SE_a² + SE_b²), a normal interval.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from rppgbench._checks import DataError
from rppgbench.evaluation.metrics import cluster_se, mean_se, metric_spec
from rppgbench.evaluation.profiles import get_profile
from rppgbench.reporting.load import RunResults
from rppgbench.results.null import NULL_ID

__all__ = ["primary_metric", "margin", "headline", "PAIRED_METRICS"]

#: metrics that are means of a per-window loss (so a per-window paired difference exists)
PAIRED_METRICS = ("MAE", "MAPE")


def primary_metric(run: RunResults) -> str:
    """The protocol's primary metric: the first of ``evaluation.metrics`` in results.json, else MAE."""
    ms = run.evaluation.get("metrics") or ["MAE"]
    return str(ms[0])


def _num(x: Any) -> float:
    try:
        return math.nan if x is None else float(x)
    except (TypeError, ValueError):
        return math.nan


def _window_losses(run: RunResults, model: str, ds: str, metric: str) -> dict[str, np.ndarray] | None:
    try:
        pred = run.predictions(model)
    except DataError:
        return None
    out = {}
    for rid in pred["recording_ids"]:
        if rid.split("/", 1)[0] != ds or rid not in pred["hr_pred"] or rid not in pred["hr_ref"]:
            continue
        p = np.asarray(pred["hr_pred"][rid], float)
        r = np.asarray(pred["hr_ref"][rid], float)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[rid] = np.abs(p - r) if metric == "MAE" else 100.0 * np.abs(p - r) / r
    return out


def _t975(df: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, df)) if df >= 1 else math.nan


def margin(run: RunResults, ds: str, better: dict[str, Any], other: dict[str, Any], metric: str) -> dict[str, Any]:
    """How much ``better`` beats ``other`` (comparison rows of :func:`~rppgbench.reporting.tables.comparison_rows`)
    on ``metric``: positive = ``better`` is better. Returns ``diff``, ``se``, ``ci`` (95 %), ``method`` (paired /
    unpaired), ``n_windows``, ``n_recordings`` and ``resolved`` (the interval excludes 0)."""
    spec = metric_spec(metric)
    sign = 1.0 if spec.higher_is_better else -1.0
    vb, va = _num(better[metric]["value"]), _num(other[metric]["value"])
    out: dict[str, Any] | None = None
    if metric in PAIRED_METRICS:
        la = _window_losses(run, other["model"], ds, metric)
        lb = _window_losses(run, better["model"], ds, metric)
        if la and lb and la.keys() == lb.keys() and all(la[k].shape == lb[k].shape for k in la):
            ids = sorted(la)
            d = np.concatenate([la[k] - lb[k] for k in ids])  # other's loss - better's loss: > 0 = better wins
            cl = np.concatenate([np.full(la[k].shape, i) for i, k in enumerate(ids)])
            ok = np.isfinite(d)
            d, cl = d[ok], cl[ok]
            if d.size >= 2:
                prof = get_profile(str(run.evaluation.get("profile", "rppgbench")))
                g = int(np.unique(cl).size)
                if prof.se_clusters != "none":
                    se, df = cluster_se(d, cl), g - 1
                else:
                    se, df = mean_se(d, prof.se_ddof)[1], d.size - 1
                mean = float(np.mean(d))
                half = _t975(df) * se
                out = {"diff": mean, "se": float(se), "ci": (mean - half, mean + half), "method": "paired",
                       "n_windows": int(d.size), "n_recordings": g, "df": int(df),
                       "se_rule": "cluster-robust by recording" if prof.se_clusters != "none" else "windows iid"}
    if out is None:
        diff = sign * (vb - va)
        se = math.hypot(_num(better[metric]["se"]), _num(other[metric]["se"]))
        out = {"diff": diff, "se": se, "ci": (diff - 1.96 * se, diff + 1.96 * se), "method": "unpaired",
               "n_windows": None, "n_recordings": None, "df": None, "se_rule": "table SEs combined"}
    lo, hi = out["ci"]
    out["resolved"] = bool(math.isfinite(lo) and math.isfinite(hi) and (lo > 0 or hi < 0))
    return out


def headline(run: RunResults, ds: str, rows: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    """Winner, runner-up and null baseline of ``rows`` (one protocol and test dataset, already sorted best first
    by ``metric``) with the margins of :func:`margin`."""
    finite = [r for r in rows if r.get(metric) and math.isfinite(_num(r[metric]["value"]))]
    models = [r for r in finite if r["model"] != NULL_ID]
    null = next((r for r in finite if r["model"] == NULL_ID), None)
    out: dict[str, Any] = {"metric": metric, "unit": metric_spec(metric).unit, "winner": None, "runner_up": None,
                           "null": None if null is None else null["model"], "vs_runner_up": None, "vs_null": None,
                           "n_models": len(models)}
    if not models:
        return out
    win = models[0]
    out["winner"] = win["model"]
    out["winner_value"] = {"value": _num(win[metric]["value"]), "se": _num(win[metric]["se"])}
    out["n_recordings"] = win.get("n_recordings")
    out["n_windows"] = win.get("n_windows")
    if len(models) > 1:
        out["runner_up"] = models[1]["model"]
        out["vs_runner_up"] = margin(run, ds, win, models[1], metric)
    if null is not None:
        out["null_value"] = {"value": _num(null[metric]["value"]), "se": _num(null[metric]["se"])}
        out["vs_null"] = margin(run, ds, win, null, metric)
    return out
