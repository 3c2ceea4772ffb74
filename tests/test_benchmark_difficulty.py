"""The ranking rules of ``benchmarks/synthetic_difficulty.py`` (the script's tables are in docs/synthetic.md)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "synthetic_difficulty.py"


def _module():
    spec = importlib.util.spec_from_file_location("bench_difficulty", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_paired_groups_order_only_what_the_paired_differences_resolve():
    mod = _module()
    rng = np.random.default_rng(0)
    base = rng.gamma(1.0, 3.0, size=48)  # recording difficulty shared by every method
    per_rec = {
        "a": base,
        "b": base + 0.3,  # 0.3 bpm worse on every recording: resolved, although tiny next to the spread
        "c": base + 0.3 + rng.normal(0.0, 2.0, size=48),  # no consistent difference from b
        "d": base + 6.0,
    }
    per_rec = {m: {f"r{i:02d}": float(v) for i, v in enumerate(vals)} for m, vals in per_rec.items()}
    means = {m: float(np.mean(list(v.values()))) for m, v in per_rec.items()}
    order = sorted(means, key=means.get)
    groups, pairs = mod.paired_groups(per_rec, order)
    assert groups[0] == ("a",) and ("d",) in groups
    assert any(set(g) == {"b", "c"} for g in groups)
    # the reported difference and its standard error are the paired ones
    diff = np.array([per_rec["b"][r] - per_rec["a"][r] for r in sorted(per_rec["a"])])
    got = next(p for p in pairs if p[:2] == ("a", "b"))
    assert abs(got[2] - diff.mean()) < 1e-12 and got[3] < 1e-9
    # a difference within 1.96 standard errors is a tie: two methods equal up to symmetric noise
    noisy = {"x": per_rec["a"], "y": {r: v + (0.1 if i % 2 else -0.1) for i, (r, v) in
                                      enumerate(sorted(per_rec["a"].items()))}}
    assert mod.paired_groups(noisy, ["x", "y"])[0] == [("x", "y")]
    assert groups == [("a",), ("b", "c"), ("d",)]
    assert mod.top_groups(groups, 3) == [("a",), ("b", "c")]
