"""The generated cost table (rppgbench/models/costs.csv): complete, equal to a fresh measurement, and shown by
``rppgbench ls models`` without importing torch."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from rppgbench.models import list_models, model_cfg
from rppgbench.models.costs import COSTS_CSV, FIELDS, contract_shape, measure_costs, read_costs

REGEN = "python -m rppgbench.models.costs --write"


def test_every_registered_neural_model_is_in_the_table():
    table = read_costs()
    missing = sorted(set(list_models(kind="neural")) - set(table))
    assert not missing, f"{COSTS_CSV.name} lacks {missing}: run `{REGEN}`"
    stale = sorted(set(table) - set(list_models(kind="neural")))
    assert not stale, f"{COSTS_CSV.name} lists unregistered models {stale}: run `{REGEN}`"
    header = COSTS_CSV.read_text(encoding="utf-8").splitlines()[0]
    assert header == ",".join(FIELDS)


@pytest.mark.parametrize("name", list_models(kind="neural"))
def test_table_row_equals_a_fresh_measurement(name):
    """Parameters (on the small example) and MACs (meta device, shapes only) are cheap for every model."""
    row = read_costs().get(name)
    assert row is not None, f"run `{REGEN}`"
    fresh = measure_costs(name)
    assert row == fresh, f"{COSTS_CSV.name} is stale for {name}: run `{REGEN}`"
    cfg = model_cfg(name)
    assert row["input_shape"] == "x".join(str(s) for s in contract_shape(cfg))
    assert row["macs_total"] == row["macs_conv"] + row["macs_linear"] + row["macs_rnn"] > 0
    assert row["params_exact"] >= row["params_inference"] >= row["params_thop"] > 0


def test_meta_device_macs_equal_a_real_forward():
    import torch

    from rppgbench.models import create_model
    from rppgbench.models._base import count_macs

    for name in ("factorizephys.tiny", "phasenet.tiny", "physfsunet.tiny"):
        model = create_model(name).eval()
        x = torch.rand(*contract_shape(model.cfg)) * 255
        assert count_macs(model, x) == {k[5:]: v for k, v in read_costs()[name].items() if k.startswith("macs_")}


def test_ls_models_shows_measured_costs_without_torch():
    code = ("import sys; from rppgbench.cli import main\n"
            "try:\n    main(['ls', 'models'])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'ls models imported torch'")
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    elapsed = time.perf_counter() - t0
    row = read_costs()["phasenet"]
    line = next(ln for ln in out.splitlines() if ln.startswith("phasenet:"))
    assert f"{row['params_thop']:,} params thop-style" in line and f"{row['macs_total'] / 1e9:.2f} GMACs" in line
    assert "GMACs" not in next(ln for ln in out.splitlines() if ln.startswith("pos:"))  # unsupervised: no cost
    assert elapsed < 10.0  # generous on a loaded shared machine; typically well under 1.5 s
