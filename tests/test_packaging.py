"""What `pip install .` gives a user: the wheel holds every shipped protocol (and its family README), so the main
job runs from any working directory after a non-editable install."""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from rppgbench.protocols import LIBRARY

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_contains_every_protocol_file(tmp_path):
    # build from a copy of what the wheel is made of, so the source tree gets no build/ or egg-info folder
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, src / name)
    skip = shutil.ignore_patterns("__pycache__", "*.so", "*.pyd")  # the wheel build must compile the kernels itself
    shutil.copytree(ROOT / "rppgbench", src / "rppgbench", ignore=skip)
    out = tmp_path / "wheel"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                           "--no-index", str(src), "-w", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    (wheel,) = out.glob("rppgbench-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"rppgbench/protocols/library/{p.relative_to(LIBRARY).as_posix()}"
               for p in LIBRARY.rglob("*") if p.suffix in (".yaml", ".md", ".pt", ".json")}
    assert len([n for n in shipped if n.endswith(".yaml")]) >= 20
    assert shipped <= names, f"missing from the wheel: {sorted(shipped - names)}"
    assert "rppgbench/protocols/library/synthetic/synthetic_quick.yaml" in names
    # the tiny weights synthetic_quick evaluates, with their provenance
    for f in ("factorizephys_tiny.pt", "phasenet_tiny.pt", "physfsunet_tiny.pt", "provenance.json"):
        assert f"rppgbench/protocols/library/synthetic/weights/{f}" in names
    assert "rppgbench/protocols/library/_base/train_fp.yaml" in names  # shared parts the protocols include
    # the compiled view kernels (setup.py) are built into the wheel wherever this install has them
    from rppgbench.store import views

    built = [n for n in names if n.startswith("rppgbench/_kernels.") and not n.endswith(".c")]
    assert len(built) == (1 if views._C is not None else 0), built
