"""POS, CHROM and GREEN through the full pipeline, per preset, per skin type and per recipe.

For every preset (clean, motion, light, hard) a raw synthetic dataset is written with one subject per Fitzpatrick
type I-VI (``write_raw_dataset(..., skin_types=(1, ..., 6))``, ``--per-type`` recordings each), then for every
recipe: ``prepare`` (in this process) → store → ``Store.rgb_trace`` (the skin ROI trace when the recipe has one,
else the crop mean: what ``rppgbench run`` feeds the unsupervised methods) → method → ``evaluate`` (profile
``rppgbench``, 10 s windows, FFT). The tables give the MAE (bpm) over the windows of each cell.

    python benchmarks/extraction.py                                   # 320x240, 20 s, recipes skin72,fp72,tb72
    python benchmarks/extraction.py --size 640x480 --per-type 2
    python benchmarks/extraction.py --recipes skin72 --presets motion --workdir /tmp/ext   # keep/reuse the data

Prints Markdown tables (the ones in docs/extraction.md).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

METHODS = ("pos", "chrom", "green")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipes", default="skin72,fp72,tb72")
    ap.add_argument("--presets", default="clean,motion,light,hard")
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--per-type", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))

    from rppgbench.datasets.synthetic import write_raw_dataset
    from rppgbench.evaluation import evaluate
    from rppgbench.models import create_model
    from rppgbench.store import open_store, prepare

    presets = args.presets.split(",")
    recipes = args.recipes.split(",")
    models = {m: create_model(m) for m in METHODS}
    err: dict[tuple[str, str, str], dict[int, list[float]]] = {}
    cpu: dict[str, float] = dict.fromkeys(recipes, 0.0)
    failed: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        for preset in presets:
            raw = work / f"raw_{preset}_{w}x{h}_{args.seconds:g}s_{args.per_type}_{args.seed}"
            if not (raw / "manifest.csv").is_file():
                write_raw_dataset(raw, recordings=6 * args.per_type, seconds=args.seconds, preset=preset,
                                  seed=args.seed, width=w, height=h, recordings_per_subject=1,
                                  skin_types=(1, 2, 3, 4, 5, 6))
            for rec in recipes:
                out = raw.parent / f"{raw.name}_{rec}.zarr"
                c0 = time.process_time()
                s = prepare("synthetic", raw, recipe=rec, out=out, workers=0)
                cpu[rec] += time.process_time() - c0
                if s.failed:
                    failed.setdefault(rec, {}).update({f"{preset}/{k}": v for k, v in s.failed.items()})
                st = open_store(out)
                table = st.recordings().set_index("recording_id")
                for m, model in models.items():
                    sig = {rid: (np.asarray(model.predict(st.rgb_trace(rid), 30.0), float),
                                 np.asarray(st.read_label(rid), float)) for rid in st.recording_ids()}
                    res = evaluate(sig, 30.0, "rppgbench", 10)
                    for rid in sig:
                        win = res.windows[res.windows["recording"] == rid]
                        ft = int(table.loc[rid, "fitzpatrick"])
                        cell = err.setdefault((rec, m, preset), {})
                        cell.setdefault(ft, []).extend(np.abs(win["hr_pred"] - win["hr_ref"]).tolist())
    roman = ["I", "II", "III", "IV", "V", "VI"]
    print(f"MAE (bpm) through synth -> prepare -> store -> method -> evaluate; {w}x{h}, {args.seconds:g} s, "
          f"{args.per_type} recording(s) per skin type and preset, seed {args.seed}, 10 s windows\n")
    for m in METHODS:
        print(f"\n**{m.upper()}**\n")
        print("| recipe | preset | " + " | ".join(roman) + " | all |")
        print("|---|---|" + "---:|" * 7)
        for rec in recipes:
            for preset in presets:
                cell = err.get((rec, m, preset), {})
                vals = [f"{np.mean(cell[t]):.2f}" if cell.get(t) else "failed" for t in range(1, 7)]
                every = [e for t in range(1, 7) for e in cell.get(t, [])]
                print(f"| {rec} | {preset} | " + " | ".join(vals) + f" | {np.mean(every):.2f} |")
    print("\nprepare CPU time per recipe (s): " + ", ".join(f"{r} {cpu[r]:.1f}" for r in recipes))
    for rec, f in failed.items():
        print(f"recipe {rec}: failed recordings {f}")


if __name__ == "__main__":
    main()
