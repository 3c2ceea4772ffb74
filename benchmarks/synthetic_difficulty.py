"""Difficulty of the synthetic presets, measured through the full pipeline: generate -> prepare with the default
recipe (``skin72``: BlazeFace, smooth tracking, skin ROI) -> the unsupervised methods and the null baseline ->
the ``rppgbench`` profile (10 s windows, FFT HR).

For each generator seed, one dataset holds six subjects, one per Fitzpatrick type I-VI, each with
``--per-cell`` recordings of every preset (clean, motion, light, hard), 20 s at 160x120 and 30 fps: the
``synthetic_quick`` size. The tables give the mean absolute HR error (bpm) over the recordings of a cell (each
recording's error is the mean over its windows): per preset (all skin types) and per skin type (all presets).

    python benchmarks/synthetic_difficulty.py --seeds 16 17 [--write docs/synthetic.md] [--data DIR]

Three orders are printed per seed and compared across seeds: strict (by mean error); with neighbours closer than
the HR resolution tied; and with a method tied to the best of the group above it when their paired difference (the same
recordings, error of one minus error of the other) is within 1.96 standard errors (:func:`paired_groups`). The
set of the three best methods is compared too.

``--write`` replaces the block between ``<!-- synthetic_difficulty:begin -->`` and ``<!-- ...:end -->``.
"""
from __future__ import annotations

import argparse
import csv
import os
import re
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import yaml

PRESETS = ("clean", "motion", "light", "hard")
METHODS = ("green", "ica", "chrom", "pos", "lgi", "pbv", "omit")
BEGIN, END = "<!-- synthetic_difficulty:begin -->", "<!-- synthetic_difficulty:end -->"


def protocol(seed: int, per_cell: int, seconds: float) -> dict:
    return {
        "protocol": f"synthetic_difficulty_s{seed}",
        "version": 1,
        "description": "Difficulty of the synthetic presets per skin type (benchmarks/synthetic_difficulty.py).",
        "citation": {"paper": "rppgbench synthetic generator (this package)", "note": "benchmark script"},
        "datasets": {"synthetic": {
            "recipe": {"base": "skin72", "size": 32},
            "generate": {"recordings": 24 * per_cell, "recordings_per_subject": 4 * per_cell, "seconds": seconds,
                         "preset": "mixed", "seed": seed, "width": 160, "height": 120,
                         "skin_types": [1, 2, 3, 4, 5, 6]}}},
        "splits": {"test": {"dataset": "synthetic", "subjects": "all"}},
        "models": list(METHODS),
        "evaluation": {"profile": "rppgbench", "window_s": 10, "hr_method": "fft"},
    }


def run_seed(seed: int, per_cell: int, seconds: float, work: Path) -> tuple[dict, float, str, float, dict]:
    from rppgbench.runner import RunOptions, run_protocol

    path = work / f"synthetic_difficulty_s{seed}.yaml"
    path.write_text(yaml.safe_dump(protocol(seed, per_cell, seconds), sort_keys=False))
    t0, c0 = time.perf_counter(), time.process_time()
    res = run_protocol(RunOptions(str(path), output=work / f"out_s{seed}", report=False))
    wall = time.perf_counter() - t0
    # per recording: preset and skin type from the manifest the runner generated
    from rppgbench.runner import synthetic_raw_dir

    gen = protocol(seed, per_cell, seconds)["datasets"]["synthetic"]["generate"]
    manifest = synthetic_raw_dir(gen) / "manifest.csv"
    with open(manifest, newline="") as fh:
        info = {r["recording_id"]: (r["preset"], int(r["fitzpatrick"])) for r in csv.DictReader(fh)}
    cells: dict = defaultdict(list)
    per_rec: dict = defaultdict(dict)
    for row in res["per_recording"]:
        rid = row["recording"].split("/")[-1]
        preset, skin = info[rid]
        cells[(row["model"], preset, skin)].append(float(row["abs_error"]))
        per_rec[row["model"]][rid] = float(row["abs_error"])
    null = res["models"]["null"].get("null", {})
    hr = float(null.get("hr_bpm", float("nan")))
    note = (f"null = {null.get('name', 'null')} at {hr:.1f} bpm; wall {wall:.0f} s, "
            f"CPU of this process {time.process_time() - c0:.0f} s, load average {os.getloadavg()[0]:.1f}")
    resolution = max(float(r.get("hr_resolution_bpm", 0.0)) for r in res["rows"])
    return cells, wall, note, resolution, dict(per_rec)


def _mean(v: list[float]) -> float:
    return sum(v) / len(v) if v else float("nan")


def tables(cells: dict) -> list[str]:
    models = [m for m in (*METHODS, "null") if any(k[0] == m for k in cells)]
    out = ["| preset | " + " | ".join(models) + " |", "|---|" + "---|" * len(models)]
    for p in PRESETS:
        vals = [_mean([e for (m, pp, _s), v in cells.items() if m == mo and pp == p for e in v]) for mo in models]
        out.append(f"| {p} | " + " | ".join(f"{v:.1f}" for v in vals) + " |")
    out += ["", "| skin type | " + " | ".join(models) + " |", "|---|" + "---|" * len(models)]
    for s in range(1, 7):
        vals = [_mean([e for (m, _p, ss), v in cells.items() if m == mo and ss == s for e in v]) for mo in models]
        out.append(f"| {'I II III IV V VI'.split()[s - 1]} | " + " | ".join(f"{v:.1f}" for v in vals) + " |")
    return out


def scores(cells: dict) -> dict[str, float]:
    """Each method's mean error over all recordings (the null baseline included)."""
    models = sorted({k[0] for k in cells})
    return {m: _mean([e for k, v in cells.items() if k[0] == m for e in v]) for m in models}


def ranking(cells: dict) -> list[str]:
    """Methods ordered by their mean error over all cells (the null baseline included)."""
    sc = scores(cells)
    return sorted(sc, key=lambda m: sc[m])


def tied_groups(cells: dict, resolution: float) -> list[tuple[str, ...]]:
    """The ranking with neighbours closer than ``resolution`` (the HR resolution of the evaluation, bpm) merged
    into one group: an error difference below what the estimator can resolve is not an order."""
    sc = scores(cells)
    groups: list[list[str]] = []
    for m in ranking(cells):
        if groups and sc[m] - sc[groups[-1][-1]] < resolution:
            groups[-1].append(m)
        else:
            groups.append([m])
    return [tuple(sorted(g)) for g in groups]


def paired_groups(per_rec: dict[str, dict[str, float]], order: list[str], z: float = 1.96
                  ) -> tuple[list[tuple[str, ...]], list[tuple[str, str, float, float]]]:
    """The ranking with a method merged into the group before it when its paired difference from that group's
    best method is within ``z`` standard errors: both methods are scored on the same recordings, so the
    difference of their errors per recording (mean d, standard error sd(d)/sqrt(n)) says whether the data
    orders them. Also returns, per comparison made, ``(group's best, method, mean difference, standard
    error)``."""
    groups: list[list[str]] = []
    pairs = []
    for m in order:
        if groups:
            prev = groups[-1][0]
            rids = sorted(set(per_rec[m]) & set(per_rec[prev]))
            d = [per_rec[m][r] - per_rec[prev][r] for r in rids]
            n = len(d)
            mean = sum(d) / n if n else float("nan")
            sd = (sum((x - mean) ** 2 for x in d) / (n - 1)) ** 0.5 if n > 1 else float("nan")
            se = sd / n ** 0.5 if n > 1 else float("nan")
            pairs.append((prev, m, mean, se))
            if not (mean > z * se):
                groups[-1].append(m)
                continue
        groups.append([m])
    return [tuple(sorted(g)) for g in groups], pairs


def top_groups(groups: list[tuple[str, ...]], n: int = 3) -> list[tuple[str, ...]]:
    """The leading groups that hold the first ``n`` methods."""
    out, k = [], 0
    for g in groups:
        if k >= n:
            break
        out.append(g)
        k += len(g)
    return out


def _fmt_groups(groups: list[tuple[str, ...]]) -> str:
    return ", ".join(g[0] if len(g) == 1 else "{" + " = ".join(g) + "}" for g in groups)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[16, 17])
    ap.add_argument("--per-cell", type=int, default=1, help="recordings per (preset, skin type) cell")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--data", default=None, help="data root (default: a temporary folder)")
    ap.add_argument("--write", default=None, help="markdown file whose difficulty block is replaced")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rppgbench-difficulty-"))
    os.environ["RPPGBENCH_DATA"] = args.data or str(work / "data")
    os.environ.pop("RPPGBENCH_RAW_SYNTHETIC", None)
    lines = [BEGIN, ""]
    orders: list[list[str]] = []
    tied: list[list[tuple[str, ...]]] = []
    paired: list[list[tuple[str, ...]]] = []
    for seed in args.seeds:
        cells, _wall, note, resolution, per_rec = run_seed(seed, args.per_cell, args.seconds, work)
        order, sc = ranking(cells), scores(cells)
        groups = tied_groups(cells, resolution)
        pgroups, pairs = paired_groups(per_rec, order)
        orders.append(order[:3])
        tied.append(top_groups(groups))
        paired.append(top_groups(pgroups))
        n_rec = len(next(iter(per_rec.values())))
        block = [f"Generator seed {seed} ({args.per_cell} recording(s) of {args.seconds:g} s per preset and skin "
                 f"type; {note}). Mean absolute HR error, bpm:", "", *tables(cells), "",
                 "Order over all recordings (best first, mean error in bpm): "
                 + ", ".join(f"{m} {sc[m]:.2f}" for m in order) + ".",
                 f"With methods closer than the HR resolution ({resolution:g} bpm) tied: {_fmt_groups(groups)}.",
                 f"With methods tied when their paired difference over the {n_rec} recordings from the best of their "
                 f"group is within 1.96 standard errors: {_fmt_groups(pgroups)} (paired differences: "
                 + "; ".join(f"{b} - {a} {d:+.2f} ± {e:.2f}" for a, b, d, e in pairs) + ").", ""]
        print("\n".join(block), flush=True)
        lines += block
    agree = all(o == orders[0] for o in orders)
    agree_tied = all(t == tied[0] for t in tied)
    agree_paired = all(t == paired[0] for t in paired)
    agree_set = all(set(o) == set(orders[0]) for o in orders)
    lines += [f"Strict top-3 order {'agrees' if agree else 'DIFFERS'} across seeds: "
              + "; ".join(", ".join(o) for o in orders) + ".",
              f"Top-3 order with ties below the HR resolution {'agrees' if agree_tied else 'DIFFERS'} across seeds: "
              + "; ".join(_fmt_groups(t) for t in tied) + ".",
              f"Top-3 order with paired ties (1.96 SE) {'agrees' if agree_paired else 'DIFFERS'} across seeds: "
              + "; ".join(_fmt_groups(t) for t in paired) + ".",
              f"The three best methods (as a set) {'agree' if agree_set else 'DIFFER'} across seeds: "
              + "; ".join(", ".join(sorted(o)) for o in orders) + ".", "", END]
    print("\n".join(lines[-7:-2]))
    if args.write:
        doc = Path(args.write)
        text = doc.read_text()
        pat = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
        if not pat.search(text):
            raise SystemExit(f"{doc} has no {BEGIN} ... {END} block")
        doc.write_text(pat.sub(lambda _m: "\n".join(lines), text))
        print(f"wrote {doc}")


if __name__ == "__main__":
    main()
