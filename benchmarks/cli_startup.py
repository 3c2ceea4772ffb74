"""Start-up time of the light commands: ``rppgbench ls models`` and ``rppgbench validate <protocol>``.

Target (issue 16): each finishes in < 1.5 s wall and never imports torch (``tests/test_cli_light.py`` checks
the imports). Each command runs ``--repeats`` times through the installed console script; the median wall time
and the median CPU time (user + system of the child process, less sensitive to a loaded machine) are printed
with the load average, since wall time on a shared machine mostly measures the other processes.

    python benchmarks/cli_startup.py --repeats 5
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = (["ls", "models"], ["validate", "protocols/intra/ubfc_rppg_intra.yaml"])


def _script() -> str:
    found = shutil.which("rppgbench", path=str(Path(sys.executable).parent)) or shutil.which("rppgbench")
    if found is None:
        raise SystemExit("the rppgbench console script is not installed (pip install -e .)")
    return found


def measure(argv: list[str], repeats: int) -> tuple[list[float], list[float]]:
    walls, cpus = [], []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([_script(), *argv], check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return walls, cpus


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    os.chdir(Path(__file__).resolve().parent.parent)  # the validate path is given as in README.md
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} on {os.cpu_count()} cores; "
          f"{args.repeats} runs each")
    for argv in COMMANDS:
        walls, cpus = measure(argv, args.repeats)
        print(f"rppgbench {' '.join(argv)}: wall median {statistics.median(walls):.2f} s "
              f"(min {min(walls):.2f}, max {max(walls):.2f}); CPU median {statistics.median(cpus):.2f} s")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
