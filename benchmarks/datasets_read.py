"""Read throughput of the dataset adapters on fixtures, against a bare reader of the same files.

Prints, per dataset: frames/s through ``adapter.iter_frames``, frames/s of a bare reader (OpenCV loop for
AVI/PNG/BMP, one ``scipy.io.loadmat`` for MMPD, one full h5py read for SCAMPS), their ratio (adapter overhead),
the time of ``discover`` and of ``read_label`` per recording; and for SCAMPS the speed-up of reading ``Xsub``
in blocks of 32 frames and in one read versus one frame at a time (why the adapter reads ~256 MB blocks: a
frame is a strided read because time is the fastest-varying HDF5 axis).

Usage::

    python benchmarks/datasets_read.py [--seconds 10] [--width 160] [--height 120]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import h5py
import numpy as np
import scipy.io

from rppgbench.datasets import fixtures as fx
from rppgbench.datasets import get_adapter
from rppgbench.datasets.scamps import read_xsub_block

sys.path.insert(0, str(Path(__file__).resolve().parent))
from prepare_throughput import _decode  # noqa: E402


def _bare(name: str, rec) -> int:
    """Decode the recording's frames with no adapter logic; returns the frame count."""
    if name in ("ubfc_rppg", "buaa_mihe"):
        return _decode(rec.paths["video"])  # the same bare OpenCV read loop as the prepare benchmark
    if name in ("pure", "ibvp"):
        files = sorted(p for p in Path(rec.paths["frames"]).iterdir() if p.suffix in (".png", ".bmp"))
        for p in files:
            cv2.imread(str(p))
        return len(files)
    if name == "mmpd":
        return len(scipy.io.loadmat(rec.paths["mat"], variable_names=["video"])["video"])
    with h5py.File(rec.paths["mat"], "r") as fh:
        return fh["Xsub"][()].shape[-1]


def _time(fn, repeat: int = 3) -> float:
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--width", type=int, default=160)
    ap.add_argument("--height", type=int, default=120)
    args = ap.parse_args()
    size = (args.width, args.height)
    s = args.seconds
    writers = {
        "ubfc_rppg": lambda r: fx.write_ubfc_rppg(r, subjects=(1, 3), seconds=s, size=size),
        "pure": lambda r: fx.write_pure(r, subjects=(1,), tasks=(1, 2), seconds=s, size=size),
        "mmpd": lambda r: fx.write_mmpd(r, subjects=(3,), recordings=(0, 4), seconds=s, size=size),
        "buaa_mihe": lambda r: fx.write_buaa_mihe(r, subjects=(1,), lux=(10.0, 100.0), seconds=s, size=size),
        "ibvp": lambda r: fx.write_ibvp(r, participants=(1,), conditions=("a", "b"), seconds=s, size=size,
                                        thermal=False),
        "scamps": lambda r: fx.write_scamps(r, ids=(1, 2), seconds=s, size=size),
    }
    print(f"fixtures: {s:g} s at 30 fps, {size[0]}x{size[1]}, 2 recordings per dataset; best of 3 runs")
    print(f"{'dataset':<10} {'adapter fr/s':>13} {'bare fr/s':>10} {'ratio':>6} {'discover ms/rec':>16} "
          f"{'read_label ms':>14}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, write in writers.items():
            root = Path(tmp) / name
            write(root)
            a = get_adapter(name)
            t_disc = _time(lambda a=a, root=root: a.discover(root))
            recs = a.discover(root)
            n = sum(sum(1 for _ in a.iter_frames(r)) for r in recs)
            t_ad = _time(lambda a=a, recs=recs: [sum(1 for _ in a.iter_frames(r)) for r in recs])
            t_bare = _time(lambda name=name, recs=recs: [_bare(name, r) for r in recs])
            t_lab = _time(lambda a=a, recs=recs: [a.read_label(r) for r in recs])
            print(f"{name:<10} {n / t_ad:>13.0f} {n / t_bare:>10.0f} {t_ad / t_bare:>6.2f} "
                  f"{1000 * t_disc / len(recs):>16.1f} {1000 * t_lab / len(recs):>14.1f}")
        rec = get_adapter("scamps").discover(Path(tmp) / "scamps")[0]
        with h5py.File(rec.paths["mat"], "r") as fh:
            ds = fh["Xsub"]
            t = ds.shape[-1]
            t_one = _time(lambda: [read_xsub_block(ds, i, i + 1) for i in range(t)])
            t_blk = _time(lambda: [read_xsub_block(ds, i, min(t, i + 32)) for i in range(0, t, 32)])
            t_all = _time(lambda: read_xsub_block(ds, 0, t))
        print(f"scamps Xsub: per-frame reads {t / t_one:.0f} fr/s; blocks of 32 {t / t_blk:.0f} fr/s "
              f"({t_one / t_blk:.1f}x); one read {t / t_all:.0f} fr/s ({t_one / t_all:.1f}x)")


if __name__ == "__main__":
    main()
