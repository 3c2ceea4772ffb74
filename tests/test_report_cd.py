"""Critical-difference statistics against hand computation and published tables."""
from __future__ import annotations

import math

import numpy as np
import pytest

from rppgbench.reporting.cd import cliques, friedman_nemenyi, nemenyi_q, plot_cd
from rppgbench.reporting.plots import save_figure


def test_hand_computed_example_with_ties():
    # 4 recordings (blocks) x 3 models, absolute errors; lower is better.
    errors = [[1.0, 2.0, 3.0],   # ranks 1, 2, 3
              [1.0, 3.0, 2.0],   # ranks 1, 3, 2
              [2.0, 1.0, 3.0],   # ranks 2, 1, 3
              [1.0, 2.0, 2.0]]   # ranks 1, 2.5, 2.5 (tie shares the average)
    res = friedman_nemenyi(errors, ["A", "B", "C"])
    # average ranks: A = 5/4, B = 8.5/4, C = 10.5/4
    np.testing.assert_allclose(res.avg_ranks, [5 / 4, 8.5 / 4, 10.5 / 4])
    # chi2 = 12 N / (k (k+1)) * (sum R^2 - k (k+1)^2 / 4) = 4 * (829/64 - 12) = 31/8
    assert res.chi2 == pytest.approx(31 / 8, rel=1e-12)
    # F = (N-1) chi2 / (N (k-1) - chi2) = 3 * 31/8 / (8 - 31/8) = 31/11
    assert res.f_stat == pytest.approx(31 / 11, rel=1e-12)
    from scipy.stats import chi2, f
    assert res.p_chi2 == pytest.approx(chi2.sf(31 / 8, 2))
    assert res.p_f == pytest.approx(f.sf(31 / 11, 2, 6))
    # CD = q_0.05(k=3) * sqrt(k (k+1) / (6 N)) = q * sqrt(1/2)
    assert res.cd == pytest.approx(res.q_alpha * math.sqrt(0.5), rel=1e-12)
    assert res.q_alpha == pytest.approx(2.343, abs=1e-3)  # Demšar 2006, Table 5(a) (3 decimals)
    # A vs C differ by 1.375 < CD 1.657: not significant, all three in one clique
    assert not res.significant("A", "C")
    assert res.cliques == [("A", "B", "C")]


def test_nemenyi_q_matches_demsar_table():
    # Demšar (2006) Table 5(a), alpha = 0.05 and 0.10, k = 2..6
    table_05 = {2: 1.960, 3: 2.343, 4: 2.569, 5: 2.728, 6: 2.850}
    table_10 = {2: 1.645, 3: 2.052, 4: 2.291, 5: 2.459, 6: 2.589}
    for k, q in table_05.items():
        assert nemenyi_q(k, 0.05) == pytest.approx(q, abs=1e-3)
    for k, q in table_10.items():
        assert nemenyi_q(k, 0.10) == pytest.approx(q, abs=1e-3)


def test_chi2_equals_scipy_friedman_without_ties():
    rng = np.random.default_rng(3)
    x = rng.random((12, 5))  # continuous: no ties, so scipy's tie correction is 1
    from scipy.stats import friedmanchisquare
    res = friedman_nemenyi(x, list("abcde"))
    assert res.chi2 == pytest.approx(friedmanchisquare(*x.T).statistic, rel=1e-10)


def test_clear_winner_is_significant_and_higher_is_better():
    n = 20
    rng = np.random.default_rng(0)
    good = rng.random(n)
    x = np.column_stack([good, good + 5, good + 10])
    res = friedman_nemenyi(x, ["good", "mid", "bad"])
    np.testing.assert_allclose(res.avg_ranks, [1, 2, 3])
    assert res.significant("good", "bad")
    assert math.isinf(res.f_stat)  # identical rankings in every block
    res2 = friedman_nemenyi(-x, ["good", "mid", "bad"], higher_is_better=True)
    np.testing.assert_allclose(res2.avg_ranks, [1, 2, 3])


def test_cliques_are_maximal_runs():
    assert cliques(["a", "b", "c", "d"], [1.0, 1.5, 2.2, 4.0], 1.0) == [("a", "b"), ("b", "c")]
    assert cliques(["a", "b"], [1.0, 3.0], 1.0) == []


@pytest.mark.parametrize("bad, msg", [
    (np.ones((1, 3)), "at least 2 recordings"),
    (np.ones((4, 1)), "at least 2 models"),
    (np.array([[1.0, np.nan], [1.0, 2.0]]), "model 'B'"),
])
def test_bad_input_messages(bad, msg):
    names = ["A", "B", "C"][: bad.shape[1]]
    with pytest.raises(ValueError, match=msg):
        friedman_nemenyi(bad, names)


def test_cd_plot_is_deterministic_png(tmp_path):
    res = friedman_nemenyi(np.random.default_rng(1).random((10, 4)), ["pos", "chrom", "ica", "green"])
    a = save_figure(plot_cd(res, title="t"), tmp_path / "a.png").read_bytes()
    b = save_figure(plot_cd(res, title="t"), tmp_path / "b.png").read_bytes()
    assert a[:8] == b"\x89PNG\r\n\x1a\n" and len(a) > 2000
    assert a == b
