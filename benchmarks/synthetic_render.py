"""Rendering and writing speed of the synthetic dataset generator (not run by pytest).

Prints, per preset, frames per second of CPU time for rendering alone and for render + write with each lossless
codec, the codec's share of the time, and bytes per frame; OpenCV is limited to one thread so the figures are
per core. CPU time (``time.process_time``) is used because wall time on a shared machine mostly measures the
other processes; the wall-clock figure is printed too.

Usage::

    python benchmarks/synthetic_render.py                    # 640x480, 4 s per preset
    python benchmarks/synthetic_render.py --seconds 10 --size 320x240 --codecs HFYU,FFV1
    python benchmarks/synthetic_render.py --methods --size 320x240 --seconds 10 --recordings 4

``--methods`` instead prints, per preset, the mean absolute HR error (bpm) of the unsupervised methods of
``rppgbench.signal.methods`` on the skin-mask mean colour (periodogram peak in 0.7-3 Hz over the whole
recording), which shows how the presets separate the methods.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from rppgbench.datasets.synthetic import VIDEO_CODECS, make_spec, render_recording
from rppgbench.datasets.synthetic.writer import write_recording


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--presets", default="clean,motion,light,hard")
    ap.add_argument("--codecs", default="HFYU,FFV1")
    ap.add_argument("--threads", type=int, default=1, help="OpenCV threads (1 = one core)")
    ap.add_argument("--methods", action="store_true", help="print the HR error of the unsupervised methods")
    ap.add_argument("--recordings", type=int, default=4, help="recordings per preset for --methods")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))
    cv2.setNumThreads(args.threads)
    if args.methods:
        method_table(args.presets.split(","), args.recordings, args.seconds, w, h)
        return
    codecs = [c for c in args.codecs.split(",") if c]
    print(f"synthetic render benchmark: {w}x{h}, {args.seconds:g} s per preset at 30 fps, "
          f"OpenCV threads={args.threads}, opencv {cv2.__version__}")
    header = f"{'preset':<7} {'render fps':>10} {'(wall)':>8}"
    for c in codecs:
        header += f" {c + ' fps':>10} {'codec %':>8} {'KB/frame':>9}"
    print(header)
    tmp = Path(tempfile.mkdtemp(prefix="synth_bench_"))
    totals = {"render": [0.0, 0]} | {c: [0.0, 0] for c in codecs}
    try:
        render_recording(make_spec("clean", seed=0, seconds=2, width=w, height=h))  # load the photo once
        for preset in args.presets.split(","):
            spec = make_spec(preset, seed=1, seconds=args.seconds, width=w, height=h)
            r = render_recording(spec)
            t0, c0 = time.perf_counter(), time.process_time()
            n = sum(1 for _ in r.iter_frames())
            cpu_render = time.process_time() - c0
            wall_render = time.perf_counter() - t0
            totals["render"][0] += cpu_render
            totals["render"][1] += n
            line = f"{preset:<7} {n / cpu_render:10.1f} {n / wall_render:8.1f}"
            for codec in codecs:
                d = tmp / f"{preset}_{codec}"
                c0 = time.process_time()
                video = write_recording(r, d, codec=codec)
                cpu = time.process_time() - c0
                totals[codec][0] += cpu
                totals[codec][1] += n
                share = max(0.0, cpu - cpu_render) / cpu
                line += f" {n / cpu:10.1f} {100 * share:7.0f}% {video.stat().st_size / n / 1024:9.0f}"
                shutil.rmtree(d)
            print(line, flush=True)
        line = f"{'all':<7} {totals['render'][1] / totals['render'][0]:10.1f} {'':>8}"
        for codec in codecs:
            line += f" {totals[codec][1] / totals[codec][0]:10.1f}"
        print(line)
        n6 = 6 * 30 * 30
        print(f"estimated CPU time for the prepare benchmark input (6 x 30 s = {n6} frames, mixed presets): "
              + ", ".join(f"{c} {n6 * totals[c][0] / totals[c][1]:.0f} s" for c in codecs))
        print(f"codecs known to round-trip bit-exactly: {', '.join(VIDEO_CODECS)}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _spectral_hr(x: np.ndarray, fs: float) -> float:
    from scipy.signal import detrend, periodogram

    f, p = periodogram(detrend(x), fs, window="hann", nfft=16384)
    band = (f >= 0.7) & (f <= 3.0)
    return 60.0 * float(f[band][np.argmax(p[band])])


def method_table(presets: list[str], n: int, seconds: float, w: int, h: int) -> None:
    from rppgbench.signal.methods import METHODS

    print(f"HR mean absolute error (bpm), {n} recordings x {seconds:g} s per preset at {w}x{h}, skin-mask mean")
    print(f"{'preset':<7} " + " ".join(f"{m:>7}" for m in METHODS))
    for preset in presets:
        errs: dict[str, list[float]] = {m: [] for m in METHODS}
        for seed in range(n):
            r = render_recording(make_spec(preset, seed=seed, seconds=seconds, width=w, height=h))
            rgb = np.array([f[m].mean(axis=0, dtype=np.float64) for f, m in r.iter_frames_and_masks()])
            for name, fn in METHODS.items():
                errs[name].append(abs(_spectral_hr(fn(rgb, r.spec.fps), r.spec.fps) - r.mean_hr_bpm))
        print(f"{preset:<7} " + " ".join(f"{np.mean(v):7.2f}" for v in errs.values()), flush=True)


if __name__ == "__main__":
    main()
