"""Critical-difference analysis: Friedman test, Iman-Davenport correction and the Nemenyi post-hoc test.

Compares k models over N blocks (here: test recordings, each model's per-recording absolute HR error).
Lower error is better, so the best model of a block gets rank 1; ties share the average rank.

Statistics (Demšar, "Statistical comparisons of classifiers over multiple data sets", JMLR 7, 2006):

- average rank of model j: R_j = mean over blocks of its rank;
- Friedman: chi2_F = 12 N / (k (k+1)) * (sum_j R_j^2 - k (k+1)^2 / 4), chi-squared with k-1 dof;
- Iman-Davenport: F_F = (N-1) chi2_F / (N (k-1) - chi2_F), F-distributed with (k-1, (k-1)(N-1)) dof;
- Nemenyi: two models differ when their average ranks differ by at least
  CD = q_alpha * sqrt(k (k+1) / (6 N)), q_alpha = studentized range quantile(1-alpha; k, inf) / sqrt(2).

Torch-free; matplotlib is imported only inside :func:`plot_cd`.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["CDResult", "friedman_nemenyi", "nemenyi_q", "cliques", "plot_cd"]


@dataclass
class CDResult:
    """Outcome of :func:`friedman_nemenyi`.

    Attributes
    ----------
    models : list of str
        Model names, in the order of the columns given.
    avg_ranks : numpy.ndarray
        Average rank of each model (1 = best).
    n_blocks : int
        Number of blocks N (recordings).
    chi2 : float
        Friedman statistic chi2_F.
    p_chi2 : float
        p-value of chi2_F (chi-squared, k-1 dof).
    f_stat : float
        Iman-Davenport statistic F_F (``inf`` when chi2_F reaches N(k-1), i.e. identical rankings everywhere).
    p_f : float
        p-value of F_F.
    q_alpha : float
        Nemenyi critical value (studentized range quantile / sqrt(2)).
    cd : float
        Critical difference of average ranks.
    alpha : float
        Significance level.
    cliques : list of tuple of str
        Maximal groups of models whose average ranks lie within ``cd`` of each other (drawn as bars).
    """

    models: list[str]
    avg_ranks: np.ndarray
    n_blocks: int
    chi2: float
    p_chi2: float
    f_stat: float
    p_f: float
    q_alpha: float
    cd: float
    alpha: float
    cliques: list[tuple[str, ...]] = field(default_factory=list)

    def significant(self, a: str, b: str) -> bool:
        """Whether models ``a`` and ``b`` differ by at least the critical difference."""
        ra = self.avg_ranks[self.models.index(a)]
        rb = self.avg_ranks[self.models.index(b)]
        return bool(abs(ra - rb) >= self.cd)

    def to_dict(self) -> dict[str, Any]:
        return {
            "models": list(self.models), "avg_ranks": [float(r) for r in self.avg_ranks],
            "n_blocks": self.n_blocks, "chi2": self.chi2, "p_chi2": self.p_chi2, "f_stat": self.f_stat,
            "p_f": self.p_f, "q_alpha": self.q_alpha, "cd": self.cd, "alpha": self.alpha,
            "cliques": [list(c) for c in self.cliques],
        }


def nemenyi_q(k: int, alpha: float = 0.05) -> float:
    """Two-tailed Nemenyi critical value q_alpha for ``k`` models (Demšar 2006, Table 5a)."""
    from scipy.stats import studentized_range

    if k < 2:
        raise ValueError(f"k (number of models) must be >= 2; got {k}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1); got {alpha}")
    return float(studentized_range.ppf(1.0 - alpha, k, np.inf) / math.sqrt(2.0))


def friedman_nemenyi(errors: Any, models: Sequence[str], *, alpha: float = 0.05,
                     higher_is_better: bool = False) -> CDResult:
    """Rank ``k`` models over ``N`` blocks and run the Friedman / Iman-Davenport / Nemenyi tests.

    Parameters
    ----------
    errors : array-like, shape (N, k)
        One row per block (recording), one column per model; e.g. per-recording absolute HR error.
    models : sequence of str
        Column names (k of them).
    alpha : float
        Significance level of the Nemenyi critical difference.
    higher_is_better : bool
        Rank descending (for scores such as Pearson) instead of ascending (errors).

    Returns
    -------
    CDResult
    """
    from scipy.stats import chi2 as chi2_dist
    from scipy.stats import f as f_dist
    from scipy.stats import rankdata

    x = np.asarray(errors, dtype=np.float64)
    models = [str(m) for m in models]
    if x.ndim != 2:
        raise ValueError(f"errors must be a 2-D (recordings x models) array; got shape {x.shape}")
    n, k = x.shape
    if k != len(models):
        raise ValueError(f"errors has {k} columns but {len(models)} model names were given: {models}")
    if len(set(models)) != k:
        raise ValueError(f"model names must be unique; got {models}")
    if k < 2:
        raise ValueError(f"a critical-difference analysis needs at least 2 models; got {k}")
    if n < 2:
        raise ValueError(f"a critical-difference analysis needs at least 2 recordings (blocks); got {n}")
    if not np.all(np.isfinite(x)):
        bad = np.argwhere(~np.isfinite(x))[0]
        raise ValueError(f"errors must be finite; found NaN/inf at recording {int(bad[0])}, "
                         f"model {models[int(bad[1])]!r}")
    ranks = rankdata(-x if higher_is_better else x, axis=1, method="average")
    avg = ranks.mean(axis=0)
    chi2 = 12.0 * n / (k * (k + 1)) * (float(np.sum(avg ** 2)) - k * (k + 1) ** 2 / 4.0)
    chi2 = max(chi2, 0.0)  # rounding can give -1e-15 when every rank is equal
    p_chi2 = float(chi2_dist.sf(chi2, k - 1))
    denom = n * (k - 1) - chi2
    if denom <= 1e-12:
        f_stat, p_f = math.inf, 0.0
    else:
        f_stat = (n - 1) * chi2 / denom
        p_f = float(f_dist.sf(f_stat, k - 1, (k - 1) * (n - 1)))
    q = nemenyi_q(k, alpha)
    cd = q * math.sqrt(k * (k + 1) / (6.0 * n))
    res = CDResult(models=models, avg_ranks=avg, n_blocks=n, chi2=float(chi2), p_chi2=p_chi2,
                   f_stat=float(f_stat), p_f=p_f, q_alpha=q, cd=float(cd), alpha=alpha)
    res.cliques = cliques(models, avg, cd)
    return res


def cliques(models: Sequence[str], avg_ranks: Any, cd: float) -> list[tuple[str, ...]]:
    """Maximal runs of models (sorted by rank) whose rank span is below ``cd``; only groups of >= 2."""
    order = np.argsort(np.asarray(avg_ranks, dtype=float), kind="stable")
    r = np.asarray(avg_ranks, dtype=float)[order]
    names = [models[i] for i in order]
    groups: list[tuple[int, int]] = []
    for i in range(len(r)):
        j = i
        while j + 1 < len(r) and r[j + 1] - r[i] < cd:
            j += 1
        if j > i and not any(a <= i and j <= b for a, b in groups):
            groups.append((i, j))
    return [tuple(names[a:b + 1]) for a, b in groups]


def plot_cd(result: CDResult, title: str | None = None):
    """Draw a critical-difference diagram (Demšar 2006, Fig. 1 style). Returns a matplotlib Figure."""
    from matplotlib.figure import Figure

    k = len(result.models)
    order = np.argsort(result.avg_ranks, kind="stable")
    ranks = result.avg_ranks[order]
    names = [result.models[i] for i in order]
    half = (k + 1) // 2
    height = 1.9 + 0.32 * max(half, k - half) + 0.22 * len(result.cliques)
    fig = Figure(figsize=(7.6, height))
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(-0.5, 1.5)
    ax.set_ylim(0.0, height)
    ax.axis("off")
    lo, hi = 1.0, float(k)

    def xpos(rank: float) -> float:
        return 0.1 + 0.8 * (rank - lo) / (hi - lo)

    top = height - 0.95
    ax.plot([xpos(lo), xpos(hi)], [top, top], color="black", lw=1.0)
    for t in range(1, k + 1):
        ax.plot([xpos(t), xpos(t)], [top, top + 0.08], color="black", lw=1.0)
        ax.text(xpos(t), top + 0.12, str(t), ha="center", va="bottom", fontsize=9)
    # critical-difference bar
    cd_y = height - 0.5
    ax.plot([xpos(lo), xpos(min(hi, lo + result.cd))], [cd_y, cd_y], color="black", lw=2.0)
    ax.text(xpos(min(hi, lo + result.cd)) + 0.01, cd_y, f"CD = {result.cd:.2f}", ha="left", va="center",
            fontsize=8)
    base = top - 0.25 - 0.22 * len(result.cliques)
    for i, (name, rank) in enumerate(zip(names, ranks, strict=True)):
        left = i < half
        row = i if left else k - 1 - i
        y = base - 0.32 * row
        x_end = 0.02 if left else 0.98
        ax.plot([xpos(rank), xpos(rank), x_end], [top, y, y], color="black", lw=0.8)
        ax.text(x_end + (-0.01 if left else 0.01), y, f"{name} ({rank:.2f})".replace("$", r"\$"),
                ha="right" if left else "left", va="center", fontsize=9)
    for c, group in enumerate(result.cliques):
        rs = [ranks[names.index(m)] for m in group]
        y = top - 0.18 - 0.22 * c
        ax.plot([xpos(min(rs)) - 0.01, xpos(max(rs)) + 0.01], [y, y], color="tab:red", lw=3.0)
    sub = (f"Friedman chi2={result.chi2:.2f} (p={result.p_chi2:.3g}), Iman-Davenport F={result.f_stat:.2f} "
           f"(p={result.p_f:.3g}), N={result.n_blocks}, alpha={result.alpha}")
    ax.text(0.5, 0.05, sub, ha="center", va="bottom", fontsize=7)
    if title:
        ax.text(0.5, height - 0.05, title.replace("$", r"\$"), ha="center", va="top", fontsize=10, weight="bold")
    return fig
