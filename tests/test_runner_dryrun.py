"""Issue 13: checkpoint evaluation (``checkpoint:``/``--checkpoint``) and stand-in dry runs (``--stand-ins``,
``--smoke``): a checkpoint run never trains and records the file's sha256; a checkpoint that does not fit is
refused naming the file and its keys; stand-in results are labelled and refused by ``leaderboard submit``; every
shipped protocol dry-runs end to end on stand-ins."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from _spec_keys import FACTORIZEPHYS_KEYS, PHASENET_KEYS, parse_shapes

from rppgbench._checks import CheckpointError, ProtocolError, SubmissionError
from rppgbench._util import sha256_file
from rppgbench.protocols import list_protocols, load_protocol
from rppgbench.results.labels import is_dry_run
from rppgbench.runner import RunOptions, run_protocol
from rppgbench.runner_validate import plan_run, validate_protocol

HERE = Path(__file__).parent
THREE = HERE / "protocols_i13" / "cross_dataset" / "mmpd_cross_three.yaml"


def released_file(path: Path, keys: str, seed: int = 0, drop: str | None = None, reshape: str | None = None) -> Path:
    """A checkpoint in a released layout (key names and shapes of the released file, random values), saved
    with ``torch.save`` of a plain state dict like the authors did."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, shape in parse_shapes(keys).items():
        if k == drop:
            continue
        if k == reshape:
            shape = (*shape[:-1], shape[-1] + 1)
        sd[k] = torch.randn(shape, generator=g) * 0.1
    torch.save(sd, path)
    return path


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """One data root for the module, so stand-ins rendered for one protocol are reused by the next."""
    return tmp_path_factory.mktemp("standin_data")


@pytest.fixture
def shared_data(data_root, monkeypatch):
    monkeypatch.setenv("RPPGBENCH_DATA", str(data_root))
    return data_root


def test_checkpoint_field_is_schema_checked_and_keeps_hashes(tmp_path):
    from rppgbench.protocols.schema import validate_protocol_dict  # noqa: F401  (the schema entry point exists)

    text = THREE.read_text().replace("  - factorizephys\n", "  - {name: factorizephys, checkpoint: {path: w.pth, "
                                     "source: 'released PURE_FactorizePhys_FSAM_Res.pth'}}\n")
    p = tmp_path / "cross_dataset" / "mmpd_cross_three.yaml"
    p.parent.mkdir()
    p.write_text(text)
    proto = load_protocol(p)
    assert proto.models[0].checkpoint == {"path": "w.pth", "source": "released PURE_FactorizePhys_FSAM_Res.pth"}
    assert "checkpoint" not in proto.to_dict()["models"][1]  # absent -> not in the hash input
    assert proto.protocol_hash != load_protocol(THREE).protocol_hash
    p.write_text(text.replace("source: 'released", "sauce: 'released"))
    with pytest.raises(ProtocolError, match="sauce"):
        load_protocol(p)


def test_released_layouts_attach_and_misfits_name_file_and_keys(tmp_path):
    """Plan-time check (no data read): the FactorizePhys and PHASE-Net release layouts fit; a file with a missing
    and a mis-shaped key is refused with both listed and the file named."""
    fp = released_file(tmp_path / "PURE_FactorizePhys_FSAM_Res.pth", FACTORIZEPHYS_KEYS)
    ph = released_file(tmp_path / "phasenet_release.pth", PHASENET_KEYS)
    plan = plan_run(RunOptions(THREE, output=tmp_path / "out", checkpoints={"factorizephys": str(fp),
                                                                              "phasenet": str(ph)}))
    cks = {mp.id: mp.checkpoint for mp in plan.models if mp.checkpoint}
    assert cks["factorizephys"]["sha256"] == sha256_file(fp) and cks["phasenet"]["sha256"] == sha256_file(ph)
    assert cks["factorizephys"]["source"].startswith("command line")
    bad = released_file(tmp_path / "bad.pth", FACTORIZEPHYS_KEYS,
                        drop="module.rppg_head.final_layer.2.weight",
                        reshape="module.rppg_head.fsam.pre_conv_block.0.bias")
    with pytest.raises(CheckpointError) as ei:
        plan_run(RunOptions(THREE, output=tmp_path / "out2", checkpoints={"factorizephys": str(bad)}))
    msg = str(ei.value)
    assert str(bad) in msg and "missing keys (1): rppg_head.final_layer.2.weight" in msg
    assert "rppg_head.fsam.pre_conv_block.0.bias [8] vs [9]" in msg
    with pytest.raises(ProtocolError, match="pos .* is unsupervised"):
        plan_run(RunOptions(THREE, output=tmp_path / "o3", checkpoints={"pos": str(fp)}))
    with pytest.raises(ProtocolError, match="nosuch"):
        plan_run(RunOptions(THREE, output=tmp_path / "o4", checkpoints={"nosuch": str(fp)}))


def test_cli_checkpoint_that_does_not_fit_exits_2(tmp_path):
    bad = released_file(tmp_path / "x.pth", PHASENET_KEYS)  # PHASE-Net weights given to FactorizePhys
    r = subprocess.run(["rppgbench", "run", "fp_cross_pure", "--checkpoint", f"factorizephys={bad}", "--stand-ins",
                        "--output", str(tmp_path / "o")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    assert str(bad) in r.stderr and "unexpected keys" in r.stderr and "missing keys" in r.stderr
    assert not (tmp_path / "o" / "results.json").exists()


@pytest.mark.slow
def test_checkpoint_run_never_trains_and_records_the_file(tmp_path, shared_data):
    """``fp_cross_pure --checkpoint factorizephys=FILE --stand-ins``: test only, sha256/source in results and
    report, no training checkpoint written; the predictions are those of the loaded weights."""
    fp = released_file(tmp_path / "PURE_FactorizePhys_FSAM_Res.pth", FACTORIZEPHYS_KEYS, seed=3)
    out = tmp_path / "run"
    r = subprocess.run(["rppgbench", "run", "fp_cross_pure", "--checkpoint", f"factorizephys={fp}", "--stand-ins",
                        "--models", "factorizephys", "--limit", "1", "--device", "cpu", "--output", str(out)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    assert "evaluated from checkpoint" in r.stdout
    res = json.loads((out / "results.json").read_text())
    m = res["models"]["factorizephys"]
    assert m["training"]["history"] == [] and m["training"]["epochs"] == 0
    assert m["checkpoint"]["sha256"] == sha256_file(fp) == m["checkpoint_sha256"]
    assert res["provenance"]["checkpoints"]["factorizephys"]["path"] == str(fp.resolve())
    kept = out / "checkpoints" / "factorizephys"  # the evaluated weights and their run card; nothing trained
    assert sorted(p.name for p in kept.iterdir()) == ["model.json", "model.pt"]
    assert sha256_file(kept / "model.pt") == res["provenance"]["checkpoints"]["factorizephys"]["sha256"]
    assert {r["test_dataset"] for r in res["rows"] if r["model"] == "factorizephys"} == {"ibvp", "ubfc_rppg"}
    html = (out / "report" / "index.html").read_text()
    assert "evaluated from checkpoint PURE_FactorizePhys_FSAM_Res.pth" in html and "STAND-IN" in html
    assert set(res["stand_in"]["datasets"]) == {"pure", "ibvp", "ubfc_rppg"}


FULL_SIZE = pytest.mark.skipif(
    os.environ.get("RPPGBENCH_FULL_SMOKE") != "1",
    reason="full-size PHASE-Net/physFSUNet smoke steps take 5-30 min on 2 CPU cores, past the suite's 15 min budget: "
           "set RPPGBENCH_FULL_SMOKE=1 (measured by hand: docs/results_format.md, Dry runs)")


@pytest.mark.slow
@FULL_SIZE
def test_stand_in_smoke_run_of_the_three_architectures(tmp_path, shared_data):
    """``run <mmpd_cross with the three models> --stand-ins --smoke --limit 1`` on CPU: a row per model, one
    optimiser step each, labelled stand-in; stores outside the real stores' paths."""
    res = run_protocol(RunOptions(THREE, stand_ins=True, smoke=True, limit=1, device="cpu", output=tmp_path / "r",
                                  report=False))
    assert {r["model"] for r in res["rows"]} == {"factorizephys", "phasenet", "physfsunet", "pos", "null"}
    for mid in ("factorizephys", "phasenet", "physfsunet"):
        hist = res["models"][mid]["training"]["history"]
        assert len(hist) == 1 and hist[0]["steps"] == 1 and res["models"][mid]["training"]["batch_size"] == 1
    assert all(r["stand_in"] and r["smoke"] for r in res["rows"])
    assert res["splits"]["test"] == ["mmpd/subject1_p1_0"]
    assert all("/_standins/" in p for p in res["provenance"]["stores"].values())
    assert not any((shared_data / ds).exists() for ds in ("pure", "ubfc_rppg", "mmpd"))  # no real-store path
    assert is_dry_run(res)


def test_submit_refuses_stand_in_and_smoke_results(tmp_path):
    from _lb_helpers import DEFAULT_MODELS, PROTOCOL, PROTOCOLS, manifest, write_results

    from rppgbench.leaderboard import submit, write_reference

    run = write_results(tmp_path / "run", {"pos": DEFAULT_MODELS["pos"]}, n_rec=4)
    write_reference(run, tmp_path / "lb")
    base = json.loads((run / "results.json").read_text())
    for label in ({"stand_in": {"datasets": {"synthetic": {}}}}, {"smoke": True}):
        d = tmp_path / f"run_{next(iter(label))}"
        shutil.copytree(run, d)
        (d / "results.json").write_text(json.dumps({**base, **label}))
        with pytest.raises(SubmissionError, match="dry run"):
            submit(d, PROTOCOL, model="pos", manifest=manifest(), root=tmp_path / "lb", protocols_root=PROTOCOLS)
    submit(run, PROTOCOL, model="pos", manifest=manifest(), root=tmp_path / "lb", protocols_root=PROTOCOLS,
           entry_id="real")  # the unlabelled run is accepted


# synthetic_quick generates its own data (no stand-ins) and runs end to end in tests/test_runner_e2e.py and the
# README tour test; the other shipped protocols dry-run here
SHIPPED = [p["name"] for p in list_protocols() if p["family"] not in ("_base", "synthetic")]


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_protocol_dry_runs_on_stand_ins(name, tmp_path, shared_data):
    """Every shipped protocol end to end on stand-ins (datasets rendered in their raw layouts with the ids the
    splits name, prepared with each recipe, split, evaluated, labelled) with its unsupervised methods and the null
    baseline; its networks are validated and instantiated here but not stepped: a full-size
    smoke step costs minutes per network on CPU (RPPGBENCH_FULL_SMOKE=1 runs them all)."""
    proto = load_protocol(name)
    full = os.environ.get("RPPGBENCH_FULL_SMOKE") == "1"
    _, _, plans = validate_protocol(name, build=True)  # every model, networks included, is instantiated
    light = [mp.id for mp in plans if full or mp.cfg.kind != "neural"]
    res = run_protocol(RunOptions(name, stand_ins=True, smoke=True, limit=1, device="cpu", output=tmp_path / "r",
                                  report=False, models=light or ["null"]))
    want = set(light) | {"null"}
    assert {r["model"] for r in res["rows"]} == want
    tested = {k.partition("/")[0] for k in res["splits"]["test"]}
    assert {r["test_dataset"] for r in res["rows"]} == tested
    if any(ds != "synthetic" for ds in proto.datasets):
        assert set(res["stand_in"]["datasets"]) == {ds for ds in proto.datasets if ds != "synthetic"}
    assert is_dry_run(res)
