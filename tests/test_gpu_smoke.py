"""benchmarks/gpu_smoke.py runs on CPU with ``--device cpu --tiny``: every seed architecture trains and reports a
finite step time, memory and loss with AMP on and off."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "gpu_smoke.py"


@pytest.mark.slow
def test_gpu_smoke_tiny_on_cpu(tmp_path):
    out = tmp_path / "rows.json"
    r = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--tiny", "--steps", "1", "--batch", "1",
                        "--json", str(out), "--work", str(tmp_path / "w")], capture_output=True, text=True,
                       timeout=1200)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = json.loads(out.read_text())
    assert [(x["model"], x["amp"]) for x in rows] == [(m, a) for m in ("factorizephys.tiny", "phasenet.tiny",
                                                                       "physfsunet.tiny") for a in (True, False)]
    for x in rows:
        assert x["device"] == "cpu" and x["step_s"] > 0 and x["peak_mb"] > 0 and x["params"] > 0
        assert all(map(lambda v: v == v and abs(v) < 1e6, (x["loss_first"], x["loss_last"])))
