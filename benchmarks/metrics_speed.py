"""Speed of the evaluation per profile, the dense vs banded detrend, and the unsupervised methods.

Run: ``python benchmarks/metrics_speed.py [--no-dense]``. Prints per-recording evaluation times for a 6,300-frame
recording (3.5 min at 30 fps) for each profile, whole video and 10 s windows (target < 50 ms), the toolbox's dense
detrend (N = 6300 dense inverse, measured once) against the banded solver, and the methods' throughput in frames/s.
"""
from __future__ import annotations

import sys
import time
import tracemalloc
import warnings

import numpy as np

from rppgbench.evaluation import evaluate, list_profiles
from rppgbench.signal import detrend
from rppgbench.signal.methods import METHODS

FS = 30.0
N = 6300


def _best(fn, repeat=10):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(dense: bool = True) -> None:
    warnings.simplefilter("ignore", RuntimeWarning)  # Pearson of a single window is NaN by design
    rng = np.random.default_rng(0)
    t = np.arange(N) / FS
    hr = 72 + 8 * np.sin(2 * np.pi * t / 120)
    phase = 2 * np.pi * np.cumsum(hr / 60) / FS
    label = np.sin(phase)
    pred = np.sin(phase + 0.3) + 0.5 * rng.standard_normal(N)
    sig = {"rec": (pred, label)}
    import os

    print(f"machine load average (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"evaluation of one {N}-frame recording ({N / FS / 60:.1f} min at {FS:g} fps), best of 30; target < 50 ms")
    for prof in list_profiles():
        for win in (None, 10.0):
            dt = _best(lambda prof=prof, win=win: evaluate(sig, FS, profile=prof, window_s=win), repeat=30)
            label_w = "whole video" if win is None else f"{win:g} s windows"
            print(f"  {prof:<15} {label_w:<13} {dt * 1e3:8.1f} ms   {'ok' if dt < 0.05 else 'SLOW'}")

    x = np.cumsum(rng.standard_normal(N))
    dt_band = _best(lambda: detrend(x, 100.0))
    if not dense:
        print(f"detrend N={N}: banded {dt_band * 1e3:.2f} ms (dense comparison skipped: --no-dense)")
    else:
        tracemalloc.start()
        t0 = time.perf_counter()
        eye = np.eye(N)
        d = np.diff(eye, 2, axis=0)
        ref = (eye - np.linalg.inv(eye + 100.0 ** 2 * d.T @ d)) @ x
        dt_dense = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        err = float(np.max(np.abs(ref - detrend(x, 100.0))))
        print(f"detrend N={N}: banded {dt_band * 1e3:.2f} ms; dense inverse (toolbox formula, once) "
              f"{dt_dense:.2f} s, peak {peak / 2 ** 20:.0f} MiB; ratio {dt_dense / dt_band:.0f}x; "
              f"max |diff| {err:.1e}")

    rng2 = np.random.default_rng(1)
    rgb = 150 + 5 * rng2.standard_normal((N, 3)) + np.outer(np.sin(phase), [0.3, 0.8, 0.5])
    print(f"unsupervised methods on a ({N}, 3) RGB trace, best of 3:")
    for name, fn in METHODS.items():
        dt = _best(lambda fn=fn: fn(rgb, FS), repeat=3)
        print(f"  {name:<6} {N / dt:12,.0f} frames/s")


if __name__ == "__main__":
    main(dense="--no-dense" not in sys.argv[1:])
