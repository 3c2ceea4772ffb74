"""Face detectors on generated faces: hit rate per Fitzpatrick type I-VI and per preset, and speed.

For every preset (clean, motion, light, hard) and skin type I-VI one recording is rendered (``--seconds`` at
``--size``) and every ``--every``-th frame is given to each detector. A frame is a hit when the detector returns a
face whose box centre lies inside the true face box of the renderer (the bounding box of the skin region).
Speed: detections per second of CPU time (``time.process_time``, all threads of this process) over all frames.

    python benchmarks/detectors.py                          # 640x480, 4 s per recording, every 4th frame
    python benchmarks/detectors.py --size 160x120           # the synthetic_quick resolution
    python benchmarks/detectors.py --detectors haar,blazeface,mediapipe

Prints a Markdown table (the one in docs/extraction.md).
"""
from __future__ import annotations

import argparse
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--detectors", default="haar,blazeface")
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--every", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))

    from rppgbench.datasets.synthetic import PRESETS, make_spec, render_recording
    from rppgbench.preprocess.face import make_detector

    dets = {name: make_detector(name) for name in args.detectors.split(",")}
    hits = {(d, p, t): 0 for d in dets for p in PRESETS for t in range(1, 7)}
    n_frames = {(p, t): 0 for p in PRESETS for t in range(1, 7)}
    cpu = dict.fromkeys(dets, 0.0)
    calls = dict.fromkeys(dets, 0)
    for preset in PRESETS:
        for ft in range(1, 7):
            r = render_recording(make_spec(preset, seed=args.seed * 100 + ft, seconds=args.seconds, width=w, height=h,
                                           fitzpatrick=ft))
            for i, frame in enumerate(r.iter_frames()):
                if i % args.every:
                    continue
                n_frames[(preset, ft)] += 1
                x, y, bw, bh = r.face_boxes[i]
                for name, det in dets.items():
                    c0 = time.process_time()
                    face = det.detect_face(frame)
                    cpu[name] += time.process_time() - c0
                    calls[name] += 1
                    if face is not None:
                        cx, cy = face.box[0] + face.box[2] / 2, face.box[1] + face.box[3] / 2
                        hits[(name, preset, ft)] += int(x <= cx <= x + bw and y <= cy <= y + bh)
    roman = ["I", "II", "III", "IV", "V", "VI"]
    print(f"Hit rate (% of frames) at {w}x{h}, {args.seconds:g} s per recording, every {args.every}th frame "
          f"({n_frames[('clean', 1)]} frames per cell)\n")
    print("| detector | preset | " + " | ".join(roman) + " | min |")
    print("|---|---|" + "---:|" * 7)
    for name in dets:
        for preset in PRESETS:
            vals = [100.0 * hits[(name, preset, t)] / n_frames[(preset, t)] for t in range(1, 7)]
            print(f"| {name} | {preset} | " + " | ".join(f"{v:.0f}" for v in vals) + f" | {min(vals):.0f} |")
    print("\n| detector | detections / CPU second | ms CPU per detection |")
    print("|---|---:|---:|")
    for name in dets:
        print(f"| {name} | {calls[name] / cpu[name]:.0f} | {1000 * cpu[name] / calls[name]:.2f} |")


if __name__ == "__main__":
    main()
