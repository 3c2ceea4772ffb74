"""Pooled HR metrics with standard errors, following an evaluation :class:`~rppgbench.evaluation.profiles.Profile`.

Inputs are per-window arrays pooled over recordings: predicted HR, reference HR (bpm) and per-window SNR/MACC.
With e = pred - ref, n windows and SD = standard deviation with the profile's ``se_ddof``:

=========  ==========================  ============================================================
metric     value                       standard error
=========  ==========================  ============================================================
MAE        mean |e|                    SD(|e|)/√n
RMSE       √mean(e²)                   profile rule: tb2023 SD(e²)/√n; tb2025 √(SD(e²)/√n);
                                       delta SD(e²)/√n / (2·RMSE)
MAPE       100·mean(|e|/ref)           100·SD(|e|/ref)/√n
Pearson    corrcoef(pred, ref)         √((1-r²)/(n-2)); NaN with a MetricWarning when n < 3
SNR        mean SNR_w (dB)             SD(SNR_w)/√n
MACC       mean MACC_w                 SD(MACC_w)/√n
=========  ==========================  ============================================================
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from rppgbench._registry import Registry
from rppgbench.evaluation.profiles import Profile

__all__ = ["METRIC_NAMES", "METRICS", "MetricSpec", "MetricWarning", "pooled_metrics", "mean_se", "rmse_se"]


class MetricWarning(RuntimeWarning):
    """A metric could not be computed from the data given (e.g. Pearson with fewer than 3 windows): it is NaN."""


@dataclass(frozen=True)
class MetricSpec:
    """How a metric is named, its unit and its direction."""

    name: str
    unit: str
    higher_is_better: bool
    description: str


METRIC_NAMES: tuple[str, ...] = ("MAE", "RMSE", "MAPE", "Pearson", "SNR", "MACC")

METRICS: Registry[MetricSpec] = Registry("metric")
for _spec in (
    MetricSpec("MAE", "bpm", False, "mean absolute HR error"),
    MetricSpec("RMSE", "bpm", False, "root mean squared HR error"),
    MetricSpec("MAPE", "%", False, "mean absolute HR error relative to the reference HR"),
    MetricSpec("Pearson", "", True, "Pearson correlation of predicted and reference HR over windows"),
    MetricSpec("SNR", "dB", True, "power around the reference HR and its 2nd harmonic over the rest of the band"),
    MetricSpec("MACC", "", True, "maximum |correlation| of predicted and reference waveforms over circular lags"),
):
    METRICS.register(_spec.name.lower(), _spec)  # registry keys are lower case (protocol YAML: metrics: [mae, ...])


def _sd(x: np.ndarray, ddof: int) -> float:
    if x.size - ddof <= 0:
        return float("nan")
    return float(np.std(x, ddof=ddof))


def mean_se(x: np.ndarray, ddof: int) -> tuple[float, float]:
    """(mean, SD/√n) of ``x``; NaNs for an empty array."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return float("nan"), float("nan")
    return float(np.mean(x)), _sd(x, ddof) / math.sqrt(x.size)


def rmse_se(err: np.ndarray, rule: str, ddof: int) -> tuple[float, float]:
    """RMSE of ``err`` and its standard error by ``rule`` (see :data:`~rppgbench.evaluation.profiles.RMSE_SE_RULES`)."""
    e2 = np.asarray(err, dtype=np.float64) ** 2
    n = e2.size
    if n == 0:
        return float("nan"), float("nan")
    rmse = math.sqrt(float(np.mean(e2)))
    se_mse = _sd(e2, ddof) / math.sqrt(n)
    if rule == "tb2023":
        se = se_mse
    elif rule == "tb2025":
        se = math.sqrt(se_mse) if np.isfinite(se_mse) else float("nan")
    elif rule == "delta":
        se = 0.0 if rmse == 0.0 and se_mse == 0.0 else se_mse / (2.0 * rmse) if rmse > 0 else float("nan")
    else:
        raise ValueError(f"rmse_se rule must be one of ('tb2023', 'tb2025', 'delta'); got {rule!r}")
    return rmse, se


def pearson_se(pred: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """Pearson r of HRs over windows and √((1-r²)/(n-2)); NaN with a :class:`MetricWarning` if n < 3 or constant."""
    n = pred.size
    if n < 3:
        warnings.warn(f"Pearson needs at least 3 windows; got {n}: reported as NaN", MetricWarning, stacklevel=3)
        return float("nan"), float("nan")
    if np.ptp(pred) == 0.0 or np.ptp(ref) == 0.0:
        which = "predicted" if np.ptp(pred) == 0.0 else "reference"
        warnings.warn(f"Pearson undefined: the {which} HR is constant over all {n} windows: reported as NaN",
                      MetricWarning, stacklevel=3)
        return float("nan"), float("nan")
    r = float(np.corrcoef(pred, ref)[0, 1])
    r = min(1.0, max(-1.0, r))
    return r, math.sqrt(max(0.0, 1.0 - r * r) / (n - 2))


def pooled_metrics(hr_pred: np.ndarray, hr_ref: np.ndarray, snr: np.ndarray, macc: np.ndarray,
                   profile: Profile) -> dict[str, dict[str, float | str]]:
    """All metrics of :data:`METRIC_NAMES` as ``{name: {"value", "se", "unit"}}``.

    Windows whose predicted or reference HR is NaN are excluded from the HR metrics (the caller warns);
    NaN SNR/MACC values are excluded from their means. MACC is NaN when the profile does not compute it.
    """
    p = np.asarray(hr_pred, dtype=np.float64)
    r = np.asarray(hr_ref, dtype=np.float64)
    ok = np.isfinite(p) & np.isfinite(r)
    p, r = p[ok], r[ok]
    e = p - r
    ddof = profile.se_ddof
    out: dict[str, tuple[float, float]] = {}
    out["MAE"] = mean_se(np.abs(e), ddof)
    out["RMSE"] = rmse_se(e, profile.rmse_se, ddof)
    v, s = mean_se(np.abs(e) / r, ddof) if e.size else (float("nan"), float("nan"))
    out["MAPE"] = (100.0 * v, 100.0 * s)
    out["Pearson"] = pearson_se(p, r)
    sn = np.asarray(snr, dtype=np.float64)
    out["SNR"] = mean_se(sn[np.isfinite(sn)], ddof)
    if profile.macc:
        mc = np.asarray(macc, dtype=np.float64)
        out["MACC"] = mean_se(mc[np.isfinite(mc)], ddof)
    else:
        out["MACC"] = (float("nan"), float("nan"))
    return {k: {"value": out[k][0], "se": out[k][1], "unit": METRICS.get(k.lower()).unit} for k in METRIC_NAMES}
