"""Wall time of the embedded default benchmark: ``rppgbench run synthetic_quick`` from nothing (generate the raw
synthetic data, prepare both stores, train the three tiny networks, evaluate all ten models).

Target: <= 10 minutes on a 2-core CPU machine. Prints the total, the store phase (generation + prepare) and each
model's train/eval time, then the metric table. Uses a fresh temporary data root unless --data is given (a
reused root skips generation and prepare, which isolates the model phase).

    python benchmarks/run_synthetic_quick.py [--data DIR] [--keep]
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="data root to use (default: a fresh temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()
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
