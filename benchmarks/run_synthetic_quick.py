"""Wall time of the embedded default benchmark: ``rppgbench run synthetic_quick`` from nothing (generate the raw
synthetic data, prepare both stores, train the three tiny networks, evaluate all ten models).

Target: <= 10 minutes on a 2-core CPU machine. Prints the total, the store phase (generation + prepare) and each
model's train/eval time, then the metric table. Uses a fresh temporary data root unless --data is given (a
reused root skips generation and prepare, which isolates the model phase).

    python benchmarks/run_synthetic_quick.py [--data DIR] [--keep]
    python benchmarks/run_synthetic_quick.py --table RESULTS_DIR   # markdown tables of a finished run

``--table`` prints, from ``RESULTS_DIR/results.json`` and the run's synthetic manifest, each model's pooled MAE
(clustered SE) and its absolute HR error per test recording grouped by preset, plus the MAE over the clean
recordings' windows.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path


def tables(results_dir: Path) -> list[str]:
    """Markdown: pooled MAE per model and per-recording |error| by preset (from results.json alone: the preset of
    a recording is its session index, as ``generate: {preset: mixed, recordings_per_subject: 4}`` assigns it)."""
    import json

    from rppgbench.datasets.synthetic import MIXED_CYCLE

    res = json.loads((results_dir / "results.json").read_text())
    mae = {r["model"]: (r["value"], r["se"]) for r in res["rows"] if r["metric"] == "MAE"}
    per: dict[str, dict[str, list[float]]] = {}
    for r in res["per_recording"]:
        preset = MIXED_CYCLE[int(r["recording"].split("_r")[-1]) % len(MIXED_CYCLE)]
        per.setdefault(r["model"], {}).setdefault(preset, []).append(float(r["abs_error"]))
    lines = ["| model | MAE ± SE (bpm) | " + " | ".join(MIXED_CYCLE) + " |", "|---|---|" + "---|" * len(MIXED_CYCLE)]
    for m, (v, se) in mae.items():
        cells = [", ".join(f"{e:.1f}" for e in per.get(m, {}).get(p, [])) for p in MIXED_CYCLE]
        lines.append(f"| {m} | {v:.2f} ± {se:.2f} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="data root to use (default: a fresh temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--table", default=None, help="print the markdown tables of a finished run and exit")
    args = ap.parse_args()
    if args.table:
        print("\n".join(tables(Path(args.table))))
        return
    tmp = Path(tempfile.mkdtemp(prefix="rppgbench-quick-"))
    os.environ["RPPGBENCH_DATA"] = args.data or str(tmp / "data")
    from rppgbench.cli.run import metric_table
    from rppgbench.runner import RunOptions, run_protocol

    t0 = time.perf_counter()
    res = run_protocol(RunOptions("synthetic_quick", output=tmp / "out", report=False))
    wall = time.perf_counter() - t0
    print(f"cpu_count {os.cpu_count()}; load average at end {os.getloadavg()[0]:.1f}")
    print(f"total wall time: {wall:.1f} s (target <= 600 s)")
    print(f"stores (generate + prepare): {res['provenance']['stores_wall_s']:.1f} s")
    for mid, m in res["models"].items():
        print(f"  {mid:<22} train {m['train_wall_s']:7.1f} s   eval {m['eval_wall_s']:6.1f} s")
    for line in metric_table(res["rows"]):
        print(line)
    if args.keep:
        print(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
