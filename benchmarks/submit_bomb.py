"""Peak memory of ``rppgbench submit`` on a decompression bomb: a ~1 MB ``predictions.npz`` whose one member
decompresses to > 1 GB (issue 14 H4). Target: refused, peak RSS under 300 MB.

Builds a tiny leaderboard with a real reference (4 test recordings, labels hashed) and a results directory whose
``predictions/pos.npz`` has ``pred__<id>`` replaced by ``--samples`` float32 zeros (streamed into the zip, never
held in memory), then runs the installed ``rppgbench submit`` in a child process and reads its peak RSS
(``ru_maxrss`` of the child). Also runs the untouched submission for comparison.

    python benchmarks/submit_bomb.py                    # 270 M samples = 1.08 GB decompressed
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def _child_peak(cmd: list[str]) -> tuple[int, float, float, str]:
    """(exit code, peak RSS MB, wall s, stderr) of ``cmd`` run alone in a fresh interpreter."""
    code = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
            "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
            "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.perf_counter() - t); "
            "sys.stderr.write(r.stderr)")
    r = subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, text=True)
    rc, kb, wall = r.stdout.split()
    return int(rc), int(kb) / 1024, float(wall), r.stderr


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=270_000_000)
    a = ap.parse_args()
    from _lb_helpers import DEFAULT_MODELS, PROTOCOL, PROTOCOLS, manifest, write_results
    from test_leaderboard_hostile import write_bomb

    from rppgbench.leaderboard import write_reference

    tmp = Path(tempfile.mkdtemp(prefix="submit-bomb-"))
    try:
        run = write_results(tmp / "run", {"pos": DEFAULT_MODELS["pos"]}, n_rec=4)
        root = tmp / "lb"
        write_reference(run, root)
        mf = tmp / "m.json"
        mf.write_text(json.dumps(manifest()))
        exe = str(Path(sys.executable).with_name("rppgbench"))
        cmd = [exe, "submit", str(run), "--leaderboard", PROTOCOL, "--model", "pos", "--manifest", str(mf),
               "--root", str(root), "--protocols-root", str(PROTOCOLS)]
        shutil.copytree(run, tmp / "good")
        rc, mb, wall, _ = _child_peak([*cmd[:2], str(tmp / "good"), *cmd[3:], "--entry-id", "good"])
        print(f"honest submission: exit {rc}, peak RSS {mb:.0f} MB, {wall:.1f} s")
        npz = run / "predictions" / "pos.npz"
        with np.load(npz) as z:
            arrays = {k: z[k] for k in z.files}
        key = "pred__synthetic/s01"
        t0 = time.perf_counter()
        write_bomb(npz, {k: v for k, v in arrays.items() if k != key}, key, a.samples)
        with zipfile.ZipFile(npz) as zf:
            declared = sum(i.file_size for i in zf.infolist())
        print(f"bomb: {npz.stat().st_size / 1e6:.2f} MB on disk, {declared / 1e9:.2f} GB decompressed "
              f"(written in {time.perf_counter() - t0:.1f} s)")
        rc, mb, wall, err = _child_peak(cmd)
        print(f"bomb submission: exit {rc}, peak RSS {mb:.0f} MB, {wall:.1f} s")
        print(f"  {err.strip()[:300]}")
        ok = rc == 2 and mb < 300
        print("PASS: refused under 300 MB" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
