"""Pooled HR metrics with standard errors, following an evaluation :class:`~rppgbench.evaluation.profiles.Profile`.

Inputs are per-window arrays pooled over recordings: predicted HR, reference HR (bpm) and per-window SNR/MACC,
plus (for cluster-robust standard errors) the cluster of each window. With e = pred - ref, n windows and
SD = standard deviation with the profile's ``se_ddof``, a profile with ``se_clusters="none"`` (the toolbox) uses:

=========  ==========================  ============================================================
metric     value                       standard error (``se_clusters="none"``)
=========  ==========================  ============================================================
MAE        mean |e|                    SD(|e|)/√n
RMSE       √mean(e²)                   profile rule: tb2023 SD(e²)/√n; tb2025 √(SD(e²)/√n);
                                       delta SD(e²)/√n / (2·RMSE)
MAPE       100·mean(|e|/ref)           100·SD(|e|/ref)/√n
Pearson    corrcoef(pred, ref)         √((1-r²)/(n-2)); NaN with a MetricWarning when n < 3
SNR        mean SNR_w (dB)             SD(SNR_w)/√n
MACC       mean MACC_w                 SD(MACC_w)/√n
=========  ==========================  ============================================================

With ``se_clusters="recording"`` (the ``rppgbench`` profile) every SE is a cluster-robust (CR1) sandwich estimate
over G clusters (by default one per recording): for a mean of x, SE = √(G/(G-1)·Σ_g S_g²)/n with
S_g = Σ_{i∈g}(x_i - x̄) (:func:`cluster_se`); RMSE by the profile's rule applied to the clustered SE of the MSE;
Pearson by the same sandwich on its influence values z_p·z_r - r·(z_p² + z_r²)/2 (:func:`pearson_cluster_se`).
G < 2 gives NaN with a :class:`MetricWarning`. See docs/metrics.md.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from rppgbench._registry import Registry
from rppgbench.evaluation.profiles import Profile

__all__ = ["METRIC_NAMES", "METRICS", "MetricSpec", "MetricWarning", "metric_spec", "pooled_metrics", "mean_se",
           "rmse_se", "cluster_se", "pearson_cluster_se"]


class MetricWarning(RuntimeWarning):
    """A metric could not be computed from the data given (e.g. Pearson with fewer than 3 windows): it is NaN."""


@dataclass(frozen=True)
class MetricSpec:
    """How a metric is named, its unit ("" for a dimensionless number) and its direction."""

    name: str
    unit: str
    higher_is_better: bool
    description: str


_BUILTIN = (
    MetricSpec("MAE", "bpm", False, "mean absolute HR error"),
    MetricSpec("RMSE", "bpm", False, "root mean squared HR error"),
    MetricSpec("MAPE", "%", False, "mean absolute HR error relative to the reference HR"),
    MetricSpec("Pearson", "", True, "Pearson correlation of predicted and reference HR over windows"),
    MetricSpec("SNR", "dB", True, "power around the reference HR and its 2nd harmonic over the rest of the band"),
    MetricSpec("MACC", "", True, "maximum |correlation| of predicted and reference waveforms over circular lags"),
)
#: the one list of metrics: registry keys are the lower-case names, so a protocol may write ``mae`` or ``MAE``
METRICS: Registry[MetricSpec] = Registry("metric")
for _spec in _BUILTIN:
    METRICS.register(_spec.name.lower(), _spec)

#: the metrics :func:`pooled_metrics` computes, display names in table order
METRIC_NAMES: tuple[str, ...] = tuple(s.name for s in _BUILTIN)


def metric_spec(name: str) -> MetricSpec:
    """The :class:`MetricSpec` of ``name``, case-insensitive (``mae``, ``MAE``); unknown names suggest close ones."""
    return METRICS.get(str(name).lower())


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


def cluster_se(x: np.ndarray, clusters: np.ndarray) -> float:
    """Cluster-robust (CR1) standard error of ``mean(x)``: √(G/(G-1)·Σ_g S_g²)/n, S_g = Σ_{i∈g}(x_i - x̄).

    ``clusters`` labels each element (any hashable values); G is the number of distinct labels. With one
    element per cluster this equals SD(x, ddof=1)/√n. NaN when G < 2 (no spread between clusters to measure).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return float("nan")
    codes = np.unique(np.asarray(clusters), return_inverse=True)[1].ravel()
    if codes.size != x.size:
        raise ValueError(f"cluster_se: {x.size} values but {codes.size} cluster labels")
    g = int(codes.max()) + 1
    if g < 2:
        return float("nan")
    sums = np.bincount(codes, weights=x - x.mean(), minlength=g)
    return math.sqrt(g / (g - 1) * float(np.sum(sums * sums))) / x.size


def pearson_cluster_se(pred: np.ndarray, ref: np.ndarray, r: float, clusters: np.ndarray) -> float:
    """Cluster-robust standard error of Pearson's r by linearisation: :func:`cluster_se` of the influence values
    ψ_i = z_p·z_r - r·(z_p² + z_r²)/2 (z: deviations over the ddof-0 SD; Devlin, Gnanadesikan & Kettenring 1975)
    scaled as the mean's, i.e. √(G/(G-1)·Σ_g (Σ_{i∈g} ψ_i)²)/n."""
    zp = (pred - pred.mean()) / pred.std()
    zr = (ref - ref.mean()) / ref.std()
    psi = zp * zr - 0.5 * r * (zp * zp + zr * zr)  # sums to 0 by construction
    return cluster_se(psi, clusters)


def _se_of_mean(x: np.ndarray, ddof: int, clusters: np.ndarray | None) -> float:
    """SD/√n (``clusters`` None) or the CR1 :func:`cluster_se`."""
    if clusters is None:
        return mean_se(x, ddof)[1]
    return cluster_se(x, clusters)


def rmse_se(err: np.ndarray, rule: str, ddof: int, clusters: np.ndarray | None = None) -> tuple[float, float]:
    """RMSE of ``err`` and its standard error by ``rule`` (see :data:`~rppgbench.evaluation.profiles.RMSE_SE_RULES`);
    the SE of the MSE inside the rule is SD(e²)/√n, or the CR1 :func:`cluster_se` of e² when ``clusters`` is given."""
    e2 = np.asarray(err, dtype=np.float64) ** 2
    n = e2.size
    if n == 0:
        return float("nan"), float("nan")
    rmse = math.sqrt(float(np.mean(e2)))
    se_mse = _se_of_mean(e2, ddof, clusters)
    if rule == "tb2023":
        se = se_mse
    elif rule == "tb2025":
        se = math.sqrt(se_mse) if np.isfinite(se_mse) else float("nan")
    elif rule == "delta":
        se = 0.0 if rmse == 0.0 and se_mse == 0.0 else se_mse / (2.0 * rmse) if rmse > 0 else float("nan")
    else:
        raise ValueError(f"rmse_se rule must be one of ('tb2023', 'tb2025', 'delta'); got {rule!r}")
    return rmse, se


def pearson_se(pred: np.ndarray, ref: np.ndarray, clusters: np.ndarray | None = None) -> tuple[float, float]:
    """Pearson r of HRs over windows and √((1-r²)/(n-2)) (or :func:`pearson_cluster_se` when ``clusters`` is given);
    NaN with a :class:`MetricWarning` if n < 3 or constant."""
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
    if clusters is not None:
        return r, pearson_cluster_se(pred, ref, r, clusters)
    return r, math.sqrt(max(0.0, 1.0 - r * r) / (n - 2))


def pooled_metrics(hr_pred: np.ndarray, hr_ref: np.ndarray, snr: np.ndarray, macc: np.ndarray,
                   profile: Profile, clusters: np.ndarray | None = None) -> dict[str, dict[str, float | str]]:
    """All metrics of :data:`METRIC_NAMES` as ``{name: {"value", "se", "unit"}}``.

    Windows whose predicted or reference HR is NaN are excluded from the HR metrics (the caller warns);
    NaN SNR/MACC values are excluded from their means. MACC is NaN when the profile does not compute it.
    ``clusters`` (one label per window, e.g. the recording id) is used when the profile's ``se_clusters`` is not
    ``"none"``; without it every window is its own cluster (CR1 then equals SD(ddof 1)/√n).
    """
    p = np.asarray(hr_pred, dtype=np.float64)
    r = np.asarray(hr_ref, dtype=np.float64)
    clustered = profile.se_clusters != "none"
    cl = None
    if clustered:
        cl = np.arange(p.size) if clusters is None else np.asarray(clusters)
        if cl.shape != p.shape:
            raise ValueError(f"pooled_metrics: {p.size} windows but {cl.size} cluster labels")
    ok = np.isfinite(p) & np.isfinite(r)
    p, r = p[ok], r[ok]
    c_hr = None if cl is None else cl[ok]
    if clustered and p.size and np.unique(c_hr).size < 2:
        warnings.warn(f"cluster-robust standard errors need windows from at least 2 recordings (clusters); all "
                      f"{p.size} window(s) are in one: standard errors reported as NaN", MetricWarning, stacklevel=3)
    e = p - r
    ddof = profile.se_ddof
    out: dict[str, tuple[float, float]] = {}
    ae = np.abs(e)
    out["MAE"] = (float(np.mean(ae)) if ae.size else float("nan"), _se_of_mean(ae, ddof, c_hr))
    out["RMSE"] = rmse_se(e, profile.rmse_se, ddof, c_hr)
    rel = ae / r
    out["MAPE"] = ((100.0 * float(np.mean(rel)), 100.0 * _se_of_mean(rel, ddof, c_hr)) if e.size
                   else (float("nan"), float("nan")))
    out["Pearson"] = pearson_se(p, r, c_hr)
    for name, arr, on in (("SNR", snr, True), ("MACC", macc, profile.macc)):
        if not on:
            out[name] = (float("nan"), float("nan"))
            continue
        a = np.asarray(arr, dtype=np.float64)
        fin = np.isfinite(a)
        x = a[fin]
        out[name] = (float(np.mean(x)) if x.size else float("nan"),
                     _se_of_mean(x, ddof, None if cl is None else cl[fin]))
    return {k: {"value": out[k][0], "se": out[k][1], "unit": metric_spec(k).unit} for k in METRIC_NAMES}
