"""prepare throughput vs bare video decoding, measured in one run on the same files and cores.

Renders ``--recordings`` synthetic recordings (default 6 × 30 s, 640×480, 30 fps, preset ``mixed``), then
measures with ``--workers`` processes (default 2):

1. bare decode: an OpenCV ``VideoCapture.read`` loop over every video (the files split over a process pool);
2. ``prepare`` with each recipe of ``--recipes`` (default: ``skin72``, the default recipe — BlazeFace every 10
   frames, smooth tracking, skin ROI — and ``fp72``, Haar every 30 frames) on a local dask cluster, wall time
   including cluster start-up;
3. the same in a single process (``workers=0``), which isolates the per-frame cost from dask's overhead.

Targets: prepare ≥ 50 % of the bare decode rate; the default recipe's CPU time ≤ 1.3 × the bare decode CPU time.
Each line gives the ratio twice: by wall time, and by CPU time (user + system of this process and of every
child process it waited for: pool workers, dask workers). On a machine shared with other jobs the wall-time
figures mostly measure the contention; the CPU-time ratio is the per-core cost of prepare relative to decoding.

    python benchmarks/prepare_throughput.py                                  # full size
    python benchmarks/prepare_throughput.py --recordings 2 --seconds 5       # quick check
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import shutil
import tempfile
import time
from pathlib import Path


def _decode(path: str) -> int:
    import cv2

    cap = cv2.VideoCapture(path)
    n = 0
    while True:
        ok, _ = cap.read()
        if not ok:
            break
        n += 1
    cap.release()
    return n


def _cpu() -> float:
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recordings", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--preset", default="mixed")
    ap.add_argument("--workdir", default=None, help="keep (and reuse) the rendered videos here")
    ap.add_argument("--recipes", default="skin72,fp72")
    ap.add_argument("--single-only", action="store_true", help="only the single-process measurement (no dask)")
    args = ap.parse_args()

    from rppgbench.datasets.synthetic import write_raw_dataset
    from rppgbench.store import prepare

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        raw = work / f"raw_{args.recordings}x{args.seconds:g}s_{args.width}x{args.height}_{args.preset}"
        if not (raw / "manifest.csv").is_file():
            t = time.perf_counter()
            write_raw_dataset(raw, recordings=args.recordings, seconds=args.seconds, preset=args.preset, seed=0,
                              width=args.width, height=args.height)
            print(f"rendered {args.recordings} × {args.seconds:g} s at {args.width}x{args.height} in "
                  f"{time.perf_counter() - t:.1f} s")
        videos = sorted(str(p) for p in raw.glob("*/video.*"))

        def bare(procs: int) -> tuple[int, float, float]:
            t, c = time.perf_counter(), _cpu()
            if procs <= 1:
                n = sum(_decode(v) for v in videos)
            else:
                with mp.get_context("spawn").Pool(procs) as pool:
                    n = sum(pool.map(_decode, videos, chunksize=1))
            return n, time.perf_counter() - t, _cpu() - c

        def prep(workers: int, recipe: str) -> tuple[int, float, float]:
            out = work / f"store_{recipe}_w{workers}.zarr"
            shutil.rmtree(out, ignore_errors=True)
            t, c = time.perf_counter(), _cpu()
            s = prepare("synthetic", raw, recipe=recipe, out=out, workers=workers)
            dt, dc = time.perf_counter() - t, _cpu() - c
            if not s.ok:
                raise SystemExit(f"prepare failed: {s.failed}")
            return s.frames, dt, dc

        modes = [(f"{args.workers} processes", args.workers), ("1 process", 0)]
        for label, procs in modes[1:] if args.single_only else modes:
            nb, tb, cb = bare(max(procs, 1))
            print(f"{label}: bare decode {nb / tb:,.0f} frames/s ({nb} frames, {tb:.1f} s wall, {cb:.1f} s CPU)")
            for recipe in args.recipes.split(","):
                npf, tp, cp = prep(procs, recipe)
                assert nb == npf, (nb, npf)
                print(f"  prepare {recipe}: {npf / tp:,.0f} frames/s ({tp:.1f} s wall, {cp:.1f} s CPU); prepare/bare "
                      f"= {100 * tb / tp:.0f} % by wall time, {100 * cb / cp:.0f} % by CPU time (target >= 50 %); "
                      f"CPU prepare/bare = {cp / cb:.2f}x")


if __name__ == "__main__":
    main()
