"""CPU ms per 160x72x72 clip of the float32 view arithmetic alone (``frames_view`` on an already decoded uint8
block, channels first as ``ClipDataset`` reads it), for each view and each implementation in
``rppgbench.store.views.KERNELS`` that this install has: best of ``--rounds`` rounds, the kernels interleaved within
each round (this machine is shared), and a check that every kernel gives the same bytes.

    python benchmarks/view_kernels.py                 # a generated block
    python benchmarks/view_kernels.py --store W/store_clean.zarr   # the first 161 frames of a prepared store
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", default=None, help="read the block from this store (else random uint8 frames)")
    ap.add_argument("--clip-len", type=int, default=160)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=20, help="clips per timing")
    args = ap.parse_args()

    from rppgbench.store.views import KERNELS, VIEWS, frames_view, kernel, use_kernel

    L = args.clip_len
    if args.store:
        from rppgbench.store import open_store

        st = open_store(args.store)
        rid = st.recording_ids()[0]
        block = np.ascontiguousarray(st.read_frames(rid, 0, L + 1))
        stats = st.stats(rid)
    else:
        block = np.random.default_rng(0).integers(0, 256, size=(L + 1, 72, 72, 3), dtype=np.uint8)
        stats = {"frames_mean": 117.3, "frames_std": 41.2, "diffnorm_std": 0.05}
    kernels = [k for k in KERNELS if k == "numpy" or kernel() == "c"]
    out = np.empty((3, L) + block.shape[1:3], np.float32)
    best = {(v, k): float("inf") for v in VIEWS for k in kernels}
    for v in VIEWS:
        ref = None
        for k in kernels:
            use_kernel(k)
            got = frames_view(block, v, stats, L, channels_first=True)
            ref = got if ref is None else ref
            if got.tobytes() != ref.tobytes():
                raise SystemExit(f"{v}: kernel {k} differs from {kernels[0]}")
    for _ in range(args.rounds):
        for v in VIEWS:
            for k in kernels:
                use_kernel(k)
                c = time.process_time()
                for _ in range(args.repeat):
                    frames_view(block, v, stats, L, channels_first=True, out=out)
                best[v, k] = min(best[v, k], (time.process_time() - c) / args.repeat * 1e3)
    print(f"view arithmetic, CPU ms per {L}x{block.shape[1]}x{block.shape[2]} clip (best of {args.rounds}; "
          f"kernels give identical bytes)")
    print(f"{'view':<16}" + "".join(f"{k:>10}" for k in kernels))
    for v in VIEWS:
        print(f"{v:<16}" + "".join(f"{best[v, k]:>10.2f}" for k in kernels))


if __name__ == "__main__":
    main()
