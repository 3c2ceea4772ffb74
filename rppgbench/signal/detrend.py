"""Smoothness-priors detrending (Tarvainen, Ranta-aho & Karjalainen, IEEE TBME 49(2), 2002).

The detrended signal is ``z - (I + lam**2 * D.T @ D)^-1 z`` where ``D`` is the ``(N-2) x N`` second-difference
matrix. The system matrix is symmetric, positive definite and pentadiagonal, so it is solved with a banded
Cholesky factorisation (:func:`scipy.linalg.solveh_banded`) in O(N) time and memory, instead of the O(N^3)
dense inverse the rPPG-Toolbox builds. The result equals the dense formula to rounding (tested to 1e-9).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.linalg import solveh_banded

__all__ = ["detrend", "detrend_dense", "smoothness_priors_bands"]


def smoothness_priors_bands(n: int, lam: float) -> np.ndarray:
    """Upper banded storage (3, n) of ``I + lam**2 * D.T @ D`` as :func:`scipy.linalg.solveh_banded` expects."""
    diag0 = np.zeros(n)
    diag1 = np.zeros(n)  # diag1[i] holds A[i, i+1]
    diag2 = np.zeros(n)  # diag2[i] holds A[i, i+2]
    m = n - 2
    if m > 0:
        r = np.arange(m)
        # each row r of D is (1, -2, 1) at columns r, r+1, r+2
        np.add.at(diag0, r, 1.0)
        np.add.at(diag0, r + 1, 4.0)
        np.add.at(diag0, r + 2, 1.0)
        np.add.at(diag1, r, -2.0)
        np.add.at(diag1, r + 1, -2.0)
        diag2[r] = 1.0
    lam2 = float(lam) ** 2
    ab = np.zeros((3, n))
    ab[2] = 1.0 + lam2 * diag0
    if n > 1:
        ab[1, 1:] = lam2 * diag1[: n - 1]
    if n > 2:
        ab[0, 2:] = lam2 * diag2[: n - 2]
    return ab


@lru_cache(maxsize=32)
def _bands_cached(n: int, lam: float) -> np.ndarray:
    ab = smoothness_priors_bands(n, lam)
    ab.setflags(write=False)
    return ab


def detrend(x: np.ndarray, lam: float = 100.0) -> np.ndarray:
    """Remove the slow trend of ``x`` (1-D, or 2-D with time on axis 0) with smoothness priors.

    Parameters
    ----------
    x : array, shape (N,) or (N, K)
        Signal(s); converted to float64.
    lam : float
        Regularisation parameter lambda (> 0). 100 in rPPG-Toolbox; larger keeps more of the signal.

    Returns
    -------
    numpy.ndarray
        ``x`` minus its smoothness-priors trend, same shape, float64. For N < 3 there is no second
        difference, the trend equals ``x`` and the result is zero (as the dense formula gives).
    """
    z = np.asarray(x, dtype=np.float64)
    if z.ndim not in (1, 2):
        raise ValueError(f"detrend: x must be 1-D or 2-D (time first); got shape {z.shape}")
    if not lam > 0:
        raise ValueError(f"detrend: lam must be > 0; got {lam!r}")
    n = z.shape[0]
    if n < 3:
        return np.zeros_like(z)
    trend = solveh_banded(_bands_cached(n, float(lam)), z, check_finite=False)
    return z - trend


def detrend_dense(x: np.ndarray, lam: float = 100.0) -> np.ndarray:
    """The dense O(N^3) formula ``(I - inv(I + lam^2 D^T D)) x``, kept as a reference for tests and benchmarks."""
    z = np.asarray(x, dtype=np.float64)
    n = z.shape[0]
    eye = np.eye(n)
    d = np.zeros((max(n - 2, 0), n))
    for r in range(n - 2):
        d[r, r:r + 3] = (1.0, -2.0, 1.0)
    return (eye - np.linalg.inv(eye + lam ** 2 * d.T @ d)) @ z
