"""README's tour runs verbatim (issue 18): the first ```bash block under "## A 5-minute tour" is executed line by
line in an empty folder, on the data its own first lines create. The block's time is printed (``pytest -s``)."""
from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[1] / "README.md"


def tour_block() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## A 5-minute tour"):]
    m = re.search(r"```bash\n(.*?)```", section, re.S)
    assert m, "README's tour has no ```bash block"
    return [ln for ln in m.group(1).splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def test_tour_block_is_what_a_newcomer_needs():
    lines = tour_block()
    cmds = [ln.split()[1] for ln in lines]
    assert all(ln.startswith("rppgbench ") for ln in lines) and "|" not in "".join(lines)
    assert {"synth", "prepare", "ls", "validate", "run", "report", "metrics", "infer"} <= set(cmds)


def test_tour_runs_verbatim(tmp_path):
    env = {**os.environ, "RPPGBENCH_DATA": str(tmp_path / ".data"), "RPPGBENCH_RESULTS": str(tmp_path / "results")}
    t0 = time.perf_counter()
    for line in tour_block():
        t = time.perf_counter()
        r = subprocess.run(["bash", "-c", "set -eo pipefail; " + line], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=1500)
        assert r.returncode == 0, f"{line}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
        print(f"{time.perf_counter() - t:7.1f} s  {line.split('#')[0].strip()}")
    print(f"tour: {time.perf_counter() - t0:.1f} s wall")
    assert (tmp_path / "runs" / "quick" / "report" / "index.html").is_file()
    runs = tmp_path / "runs"
    assert (runs / "infer_pn" / "hr.csv").is_file() and (runs / "infer_pos" / "bvp.csv").is_file()
    raw = tmp_path / "data" / "raw"
    assert not [p for p in raw.rglob("*") if "infer" in p.name]  # nothing written into the raw data
