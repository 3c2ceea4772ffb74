"""The tutorial notebooks in ``notebooks/`` run from top to bottom without error, in a kernel of this venv.

Each notebook is executed with nbclient in a kernel started from ``sys.executable`` (a kernelspec written to a
temporary ``JUPYTER_PATH``, so a ``python3`` kernelspec of another interpreter can never be picked up); a cell
appended to the executed copy reports the kernel's ``sys.prefix``, which must be this interpreter's. The
notebooks carry their own checks (``assert`` on recovered heart rates, view formulas, agreement of CLI and API),
so a wrong number fails the run like an exception does. The committed files must have no outputs.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

REPO = Path(__file__).resolve().parents[1]
NB_DIR = REPO / "notebooks"
NOTEBOOKS = ["01_quickstart.ipynb", "02_prepared_store.ipynb", "03_add_a_dataset.ipynb", "04_add_a_model.ipynb",
             "05_evaluate_external_predictions.ipynb"]
KERNEL_NAME = "rppgbench-nbtest"
CELL_TIMEOUT_S = 300


def _stripped_problems(nb) -> list[str]:
    bad = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            bad.append(f"cell {i} has {len(cell.outputs)} output(s)")
        if cell.get("execution_count") is not None:
            bad.append(f"cell {i} has execution_count {cell.execution_count}")
    return bad


def test_notebook_set_is_complete():
    present = sorted(p.name for p in NB_DIR.glob("*.ipynb"))
    assert present == sorted(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_outputs_stripped(name):
    """The working-tree file and, when tracked, the committed version have no outputs and no counts."""
    path = NB_DIR / name
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert _stripped_problems(nb) == [], f"{path}: outputs not stripped"
    assert sum(c.cell_type == "code" for c in nb.cells) >= 3
    rel = path.relative_to(REPO).as_posix()
    try:
        shown = subprocess.run(["git", "show", f"HEAD:{rel}"], cwd=REPO, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return  # no git here (an sdist): the working tree was checked
    if shown.returncode == 0:
        committed = nbformat.reads(shown.stdout, as_version=4)
        assert _stripped_problems(committed) == [], f"HEAD:{rel}: outputs not stripped in git"


@pytest.fixture()
def venv_kernel(tmp_path, monkeypatch):
    """A kernelspec that launches ipykernel with this very interpreter, found first on JUPYTER_PATH."""
    spec_dir = tmp_path / "jupyter" / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "rppgbench test kernel", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # let ipykernel choose its inline backend
    monkeypatch.setenv("PYTHONWARNINGS", "ignore::DeprecationWarning")
    return KERNEL_NAME


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_executes(name, venv_kernel):
    nb = nbformat.read(NB_DIR / name, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.prefix)"))
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name=venv_kernel,
                                     resources={"metadata": {"path": str(NB_DIR)}}, allow_errors=False)
    t0 = time.perf_counter()
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as exc:
        pytest.fail(f"{name}: a cell failed:\n{exc}")
    wall = time.perf_counter() - t0
    prefix = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream").strip()
    assert os.path.realpath(prefix) == os.path.realpath(sys.prefix), f"kernel ran in {prefix}, not {sys.prefix}"
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    print(f"{name}: executed in {wall:.1f} s")
