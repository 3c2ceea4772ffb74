"""``rppgbench ls models`` and ``rppgbench validate`` stay light: no torch, and neither scipy.signal nor pandas
(what made validate take seconds), nor OpenCV unless a protocol uses the synthetic generator.
Timings: ``python benchmarks/cli_startup.py``."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "scipy.signal", "pandas", "matplotlib", "cv2", "dask")

# the console script's entry point (rppgbench.cli:main), run in a fresh interpreter, then sys.modules is read
_CODE = """
import json, sys
from rppgbench.cli import main
code = 0
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"exit": code, "heavy": [m for m in HEAVY if m in sys.modules]}))
""".replace("HEAVY", repr(HEAVY))


@pytest.mark.parametrize("argv", [["ls", "models"], ["validate", "protocols/intra/ubfc_rppg_intra.yaml"],
                                  ["validate", "synthetic_quick", "mmpd_cross", "lodo_pure"],
                                  ["ls", "metrics"], ["ls", "protocols"], ["ls", "recipes"]],
                         ids=lambda a: "-".join(a)[:40])
def test_light_commands_import_no_heavy_module(argv):
    proc = subprocess.run([sys.executable, "-c", _CODE, *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["exit"] in (0, None), proc.stdout + proc.stderr
    # the synthetic dataset's adapter and generator (checked for a generate: block) are built on OpenCV
    allowed = {"cv2"} if "synthetic_quick" in argv else set()
    assert set(out["heavy"]) <= allowed, f"rppgbench {' '.join(argv)} imported {out['heavy']}"
    if argv[0] == "validate":
        assert proc.stdout.count("OK ") == len(argv) - 1
