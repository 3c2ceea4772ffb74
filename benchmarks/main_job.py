"""Time README's main job exactly as a user runs it: the console command ``rppgbench run synthetic_quick`` in a fresh
data root (generate the raw synthetic set, prepare its stores with the default workers, evaluate every model -- the
tiny networks from their shipped weights, since synthetic_quick v4 -- and write the report). This is where README's
main-job time comes from.

Prints and appends to ``benchmarks/results/main_job.jsonl``: wall time, the CPU seconds of the command and its
children (user + sys), the load average before and after (``os.getloadavg``, as ``uptime`` shows it), the core
count and the phases recorded in results.json (stores, each model's train/eval). Wall time on a shared machine
is an upper bound; quote it with the load beside it (README does), or quote the CPU seconds.

    python benchmarks/main_job.py [--protocol synthetic_quick] [--extra "--models pos,chrom"] [--no-record]
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--protocol", default="synthetic_quick")
    ap.add_argument("--extra", default="", help="more arguments for `rppgbench run` (quoted)")
    ap.add_argument("--no-record", action="store_true", help="do not append to benchmarks/results/main_job.jsonl")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rppgbench-main-job-"))
    env = {**os.environ, "RPPGBENCH_DATA": str(tmp / "data")}
    cmd = ["rppgbench", "run", args.protocol, "--output", str(tmp / "out"), *shlex.split(args.extra)]
    load_before = os.getloadavg()
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_after = os.getloadavg()
    if r.returncode != 0:
        sys.stderr.write(r.stderr[-4000:])
        raise SystemExit(f"{' '.join(cmd)} exited {r.returncode}")
    cpu = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
    res = json.loads((tmp / "out" / "results.json").read_text())
    rec = {"date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "command": " ".join(cmd),
           "cpu_count": os.cpu_count(), "load_before": [round(x, 2) for x in load_before],
           "load_after": [round(x, 2) for x in load_after], "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
           "stores_wall_s": round(res["provenance"]["stores_wall_s"], 1),
           "models": {k: {"train_wall_s": round(m["train_wall_s"], 1), "eval_wall_s": round(m["eval_wall_s"], 1)}
                      for k, m in res["models"].items()}}
    print(f"{rec['command']}\n  wall {wall:.1f} s, CPU {cpu:.1f} s (user+sys, all processes) on {os.cpu_count()} "
          f"cores; load average before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    print(f"  stores (generate + prepare): {rec['stores_wall_s']} s")
    for k, m in rec["models"].items():
        print(f"  {k:<22} train {m['train_wall_s']:7.1f} s   eval {m['eval_wall_s']:6.1f} s")
    if not args.no_record:
        out = HERE / "results" / "main_job.jsonl"
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec, sort_keys=True) + "\n")
        print(f"  appended to {out}")
    if args.keep:
        print(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
