"""Bytes per stored frame and reader speed of a prepared store (synthetic ``clean`` preset, recipe fp72).

Prints: compressed bytes per 72×72 frame (target ≤ 12 KB; rPPG-Toolbox caches float64 frames:
72·72·3·8 = 124,416 B per frame per data type), and clips per second for random 160-frame clips read with
``Store.read_frames`` (uint8), ``Store.read_clip`` (every float32 view) and ``ClipDataset`` items (the
DataLoader's ``(C, T, H, W)`` tensors, every view) in one process: items in random order from a dataset of
every start (a shuffled training loader) and in index order from non-overlapping clips (an evaluation loader,
cycled), each with the compiled and the numpy view arithmetic in turn (``--kernels``). Clips per CPU-second use
``time.process_time`` (robust to other load on the machine); wall clips/s are printed beside.

    python benchmarks/store_size.py                       # 2 recordings × 30 s, 640×480
    python benchmarks/store_size.py --seconds 8 --width 320 --height 240 --clips 100   # quick check
    python benchmarks/store_size.py --workdir W --reuse-store   # time the reader again on the store in W

Before/after comparisons run this script twice or more, alternately, against each version of the package
(``PYTHONPATH=<old checkout>`` for the old one) on one ``--workdir`` store.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recordings", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--clips", type=int, default=300, help="random clips per reader measurement")
    ap.add_argument("--clip-len", type=int, default=160)
    ap.add_argument("--workdir", default=None, help="keep files here instead of a temporary folder")
    ap.add_argument("--reuse-store", action="store_true",
                    help="with --workdir: read the store already prepared there instead of preparing it again")
    ap.add_argument("--kernels", default="c,numpy",
                    help="view arithmetic to time, alternated per case (rppgbench.store.views.KERNELS; 'c' is "
                         "skipped where the extension is not built)")
    args = ap.parse_args()

    import numcodecs

    numcodecs.blosc.set_nthreads(1)  # "per core": no hidden decompression threads
    from rppgbench.datasets.synthetic import write_raw_dataset
    from rppgbench.store import open_store, prepare
    from rppgbench.store.views import VIEWS

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        raw = work / "raw_clean"
        if not (raw / "manifest.csv").is_file():
            t = time.perf_counter()
            write_raw_dataset(raw, recordings=args.recordings, seconds=args.seconds, preset="clean", seed=0,
                              width=args.width, height=args.height, recordings_per_subject=1)
            print(f"rendered {args.recordings} × {args.seconds:g} s at {args.width}x{args.height} in "
                  f"{time.perf_counter() - t:.1f} s")
        out = work / "store_clean.zarr"
        if args.reuse_store and args.workdir and (out / "zarr.json").is_file():
            prep = "reused"
        else:
            summary = prepare("synthetic", raw, recipe="fp72", out=out, workers=0, overwrite=True)
            prep = f"prepare {summary.seconds:.1f} s"
        st = open_store(out)
        n = sum(st.n_frames(r) for r in st.recording_ids())
        frames_bytes = sum(p.stat().st_size for p in (out / "recordings").rglob("*")
                           if p.is_file() and "/frames/c/" in p.as_posix())
        all_bytes = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        raw_frame = 72 * 72 * 3
        print(f"frames stored: {n} ({len(st.recording_ids())} recordings, {prep})")
        print(f"bytes per 72x72 frame (frames array): {frames_bytes / n:,.0f} B "
              f"(uint8 uncompressed {raw_frame:,} B; ratio {raw_frame / (frames_bytes / n):.2f}x; target <= 12,000 B)")
        print(f"bytes per frame, whole store incl. labels/boxes/metadata: {all_bytes / n:,.0f} B")
        print(f"rPPG-Toolbox float64 cache per frame and data type: {raw_frame * 8:,} B "
              f"({raw_frame * 8 / (frames_bytes / n):.0f}x larger)")

        rng = np.random.default_rng(0)
        rids = st.recording_ids()
        L = args.clip_len
        picks = [(rids[int(rng.integers(len(rids)))], None) for _ in range(args.clips)]
        picks = [(r, int(rng.integers(0, st.n_frames(r) - L))) for r, _ in picks]
        from rppgbench.store.torchdata import ClipDataset

        shuffled = {v: ClipDataset(st, rids, clip_len=L, input_view=v, label_view=v, stride=1) for v in VIEWS}
        in_order = {v: ClipDataset(st, rids, clip_len=L, input_view=v, label_view=v) for v in VIEWS}
        shuffled_picks = [(int(i), None) for i in rng.integers(0, len(shuffled["raw"]), args.clips)]
        in_order_picks = [(i % len(in_order["raw"]), None) for i in range(args.clips)]
        cases = [("read_frames uint8", picks, lambda r, a: st.read_frames(r, a, a + L))]
        for v in VIEWS:
            cases.append((f"read_clip {v}", picks, lambda r, a, v=v: st.read_clip(r, a, a + L, v, v)))
        for v in VIEWS:  # the DataLoader item: (C, T, H, W) float32 tensor + label
            cases.append((f"ClipDataset item {v}, shuffled", shuffled_picks, lambda i, _, v=v: shuffled[v][i]))
        for v in VIEWS:
            cases.append((f"ClipDataset item {v}, in order", in_order_picks, lambda i, _, v=v: in_order[v][i]))
        try:  # packages from before the compiled view kernels have only the numpy arithmetic
            from rppgbench.store.views import kernel as active_kernel
            from rppgbench.store.views import use_kernel
            built = active_kernel() == "c"
        except ImportError:
            use_kernel, built = None, False
        kernels = [k for k in args.kernels.split(",") if k != "c" or built] if use_kernel else ["numpy"]
        if not kernels:
            raise SystemExit(f"--kernels {args.kernels}: none of them is available in this install")
        for label, items, fn in cases:
            for k in kernels if label.startswith(("read_clip", "ClipDataset")) else kernels[:1]:
                if use_kernel:
                    use_kernel(k)
                fn(*items[0])  # warm up (opens arrays)
                t, c = time.perf_counter(), time.process_time()
                for r, a in items:
                    fn(r, a)
                dt, dc = time.perf_counter() - t, time.process_time() - c
                tag = f"{label} [{k}]" if label != "read_frames uint8" else label
                print(f"{tag:<52}: {len(items) / dc:,.0f} clips per CPU-second, {len(items) / dt:,.0f} clips/s "
                      f"wall ({L}x72x72, one process, Blosc single-threaded; target >= 150 per core)", flush=True)


if __name__ == "__main__":
    main()
