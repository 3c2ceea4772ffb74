"""Bland–Altman agreement statistics (Bland & Altman, Lancet 1986).

Differences are ``reference - predicted`` (rPPG-Toolbox's ``BlandAltmanPy`` convention). Two sets of limits are given:
the classic ``mean ± 1.96·SD`` and the toolbox's ``averaged=True`` variant ``mean ± 1.96·√2·SD``. The SD uses
``ddof`` (1 by default, as pandas ``.std()`` in the toolbox); the ddof is reported.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["bland_altman"]


def bland_altman(ref: np.ndarray, pred: np.ndarray, ddof: int = 1) -> dict[str, float | int | list[float]]:
    """Bland–Altman statistics of paired HRs (NaN pairs are excluded and counted in ``n_excluded``).

    Returns
    -------
    dict
        ``n``, ``n_excluded``, ``ddof``, ``mean_diff``, ``sd_diff``, ``loa_classic`` [low, high],
        ``loa_toolbox`` [low, high], ``mean_abs_diff`` and ``difference`` ("reference - predicted").
    """
    r = np.asarray(ref, dtype=np.float64).ravel()
    p = np.asarray(pred, dtype=np.float64).ravel()
    if r.shape != p.shape:
        raise ValueError(f"bland_altman: ref and pred must have the same length; got {r.size} and {p.size}")
    ok = np.isfinite(r) & np.isfinite(p)
    d = r[ok] - p[ok]
    n = int(d.size)
    mean = float(np.mean(d)) if n else float("nan")
    sd = float(np.std(d, ddof=ddof)) if n - ddof > 0 else float("nan")
    half = 1.96 * sd
    half_tb = 1.96 * math.sqrt(2.0) * sd
    return {
        "n": n, "n_excluded": int(r.size - n), "ddof": int(ddof), "difference": "reference - predicted",
        "mean_diff": mean, "sd_diff": sd,
        "loa_classic": [mean - half, mean + half],
        "loa_toolbox": [mean - half_tb, mean + half_tb],
        "mean_abs_diff": float(np.mean(np.abs(d))) if n else float("nan"),
    }
