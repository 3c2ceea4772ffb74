"""Size and decoding cost of Blosc settings for the ``frames`` array, on the frames of a prepared store.

Every 32-frame chunk of the store's recordings is decoded once, then re-encoded with each Blosc setting
(single-threaded, as the reader runs); per setting the script prints bytes per stored frame and the CPU time to
decode the 6 chunks a 160-frame clip touches (``time.process_time``, the best of ``--rounds`` rounds; the rounds
visit the settings in turn, so machine load affects them alike). The current store codec is marked ``*``.

    python benchmarks/store_size.py --workdir W          # prepares W/store_clean.zarr (synthetic, fp72)
    python benchmarks/frames_codec.py W/store_clean.zarr

It measures decoding only: reading a clip also opens 6 chunk files and, for a float32 view, computes the view
(``benchmarks/store_size.py`` times the whole reader). Synthetic renders compress differently from camera video,
so a codec decision also needs this run on a real dataset's store.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

#: (cname, clevel, shuffle) settings compared; shuffle 0 none, 1 byte, 2 bit (byte shuffle is a no-op on uint8)
SETTINGS = [("zstd", 5, 2), ("zstd", 3, 2), ("zstd", 1, 0), ("zstd", 5, 0), ("lz4", 5, 0), ("lz4", 5, 2),
            ("lz4hc", 5, 0), ("lz4hc", 5, 2), ("lz4hc", 9, 2), ("blosclz", 5, 2)]
CURRENT = ("zstd", 5, 2)
CHUNKS_PER_CLIP = 6  # a 160-frame clip at a random start touches ceil(160 / 32) + 1 chunks of 32 frames


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("store", help="a prepared store (rppgbench prepare or benchmarks/store_size.py --workdir)")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    import numcodecs
    from numcodecs import Blosc

    from rppgbench.store import open_store

    numcodecs.blosc.set_nthreads(1)
    store = open_store(Path(args.store))
    chunks = []
    for rid in store.recording_ids():
        frames = np.ascontiguousarray(store.read_frames(rid))
        chunks += [frames[i:i + 32] for i in range(0, len(frames) - 31, 32)]
    if not chunks:
        raise SystemExit(f"{args.store}: no recording with 32 frames or more")
    n_frames = 32 * len(chunks)
    codecs = {s: Blosc(cname=s[0], clevel=s[1], shuffle=s[2]) for s in SETTINGS}
    encoded = {s: [c.encode(ch) for ch in chunks] for s, c in codecs.items()}
    for s, c in codecs.items():  # the settings are lossless: check before timing
        if not all(np.array_equal(np.frombuffer(c.decode(e), np.uint8).reshape(ch.shape), ch)
                   for e, ch in zip(encoded[s], chunks, strict=True)):
            raise SystemExit(f"Blosc {s} did not round-trip")
    out = np.empty_like(chunks[0])
    best = dict.fromkeys(SETTINGS, float("inf"))
    for _ in range(args.rounds):
        for s, c in codecs.items():
            t = time.process_time()
            for e in encoded[s]:
                c.decode(e, out=out)
            best[s] = min(best[s], (time.process_time() - t) / len(chunks))
    print(f"{len(chunks)} chunks of 32 frames {chunks[0].shape[1:]} from {args.store}; uint8 uncompressed "
          f"{chunks[0][0].nbytes:,} B per frame")
    print(f"{'setting':<26}{'B per frame':>12}{'ms decode per clip':>20}")
    for s in SETTINGS:
        size = sum(len(e) for e in encoded[s]) / n_frames
        name = f"{s[0]}-{s[1]} {['noshuffle', 'shuffle', 'bitshuffle'][s[2]]}" + (" *" if s == CURRENT else "")
        print(f"{name:<26}{size:>12,.0f}{best[s] * CHUNKS_PER_CLIP * 1e3:>20.2f}")


if __name__ == "__main__":
    main()
