"""Per-model recipes and training blocks in one protocol (issue 13 item 1): schema, data-free contract checks
against each model's own recipe, one store per distinct recipe prepared once, and the mission's command verbatim
(`rppgbench run protocols/mmpd_cross.yaml`, item 5) through the console script."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rppgbench._checks import ProtocolError, RecipeMismatchError
from rppgbench.protocols import load_protocol
from rppgbench.runner_validate import validate_protocol

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.filterwarnings("ignore:Pearson needs at least 3 windows")

HEAD = """protocol: {name}
version: 1
citation: {{paper: "test"}}
datasets:
  ubfc_rppg: {{recipe: fp72}}
splits:
  train: {{dataset: ubfc_rppg, subjects: [1, 3]}}
  test: {{dataset: ubfc_rppg, subjects: [4]}}
training: {{epochs: 3, source: "protocol-wide settings"}}
models:
"""


def _write(tmp_path: Path, models: str, name: str = "t") -> Path:
    p = tmp_path / f"{name}.yaml"
    p.write_text(HEAD.format(name=name) + models)
    return p


def test_recipe_and_training_blocks_with_sources(tmp_path):
    p = _write(tmp_path, """\
  - name: phasenet
    recipe: {base: pn128, clip_len: 160, source: "PHASE-Net config: 128x128 Haar first frame"}
    training:
      epochs: 10
      optimizer: adam
      lr: 1.0e-4
      scheduler: {name: none}
      batch_size: 2
      source: "PHASE-Net trainer: Adam 1e-4, 10 epochs"
  - pos
""")
    proto = load_protocol(p)
    spec = proto.models[0]
    assert spec.recipe == "pn128"  # {base: NAME} alone is the named recipe
    assert spec.contract == {"clip_len": 160} and spec.recipe_source.startswith("PHASE-Net config")
    assert spec.effective_overrides() == {"clip_len": 160}
    _proto, recipes, plans = validate_protocol(proto, build=False)
    ph, pos = plans[0], plans[1]
    assert ph.cfg.clip_len == 160 and ph.cfg.frame_size == 128
    assert {r.name for r in ph.recipes.values()} == {"pn128"} and recipes["ubfc_rppg"].name == "fp72"
    assert pos.recipes["ubfc_rppg"].recipe_id == recipes["ubfc_rppg"].recipe_id
    assert ph.training.epochs == 10 and ph.training.lr == 1e-4 and ph.training.scheduler == {"name": "none"}
    assert ph.sources == {"recipe": "PHASE-Net config: 128x128 Haar first frame",
                          "training": "PHASE-Net trainer: Adam 1e-4, 10 epochs"}
    assert pos.training.epochs == 3 and pos.sources == {"training": "protocol-wide settings"}
    d = proto.to_dict()
    assert d["models"][0]["contract"] == {"clip_len": 160} and "contract" not in d["models"][1]
    assert d["training"]["source"] == "protocol-wide settings" and "scheduler" not in d["training"]


def test_new_fields_leave_older_protocol_hashes_alone(tmp_path):
    p = _write(tmp_path, "  - pos\n").read_text().replace(', source: "protocol-wide settings"', "")
    (tmp_path / "t.yaml").write_text(p)
    d = load_protocol(tmp_path / "t.yaml").to_dict()
    assert set(d["training"]) == {"epochs", "batch_size", "optimizer", "lr", "weight_decay", "seed", "selection",
                                  "max_steps_per_epoch", "loss"}
    assert set(d["models"][0]) == {"name", "id", "overrides", "training", "recipe"}


def test_each_model_contract_is_checked_against_its_own_recipe(tmp_path):
    ok = _write(tmp_path, "  - {name: factorizephys}\n  - {name: physfsunet, recipe: pn128}\n", "ok")
    validate_protocol(ok, build=False)
    bad = _write(tmp_path, "  - {name: factorizephys, recipe: {base: pn128, source: x}}\n", "bad")
    with pytest.raises(RecipeMismatchError, match=r"factorizephys \(factorizephys\) needs frame_size=72 but dataset "
                                                  r"ubfc_rppg uses recipe pn128 with size=128"):
        validate_protocol(bad, build=False)
    multiple = _write(tmp_path, "  - {name: tscan, recipe: {base: tb72, clip_len: 175}}\n", "mult")
    with pytest.raises(ProtocolError, match=r"models\[0\] \(tscan\) overrides and recipe contract keys: .*clip_len="
                                            r"175 is not a multiple of frame_multiple=10"):
        validate_protocol(multiple, build=False)
    twice = _write(tmp_path, "  - {name: pos, overrides: {clip_len: 10}, recipe: {clip_len: 20}}\n", "twice")
    with pytest.raises(ProtocolError, match=r"twice\.yaml:\d+: models\[0\]\.recipe\.clip_len: clip_len is given both "
                                            r"here and under overrides"):
        load_protocol(twice)
    badtr = _write(tmp_path, "  - {name: pos, training: {scheduler: onecycle}}\n", "badtr")
    with pytest.raises(ProtocolError, match=r"models\[0\]\.training\.scheduler must be a mapping"):
        load_protocol(badtr)


def test_validate_checks_per_model_recipes_without_torch(tmp_path):
    p = _write(tmp_path, "  - {name: factorizephys, recipe: pn128}\n", "light")
    code = ("import sys\nfrom rppgbench.runner_validate import validate_protocol\n"
            "from rppgbench._checks import RecipeMismatchError\n"
            f"try:\n    validate_protocol({str(p)!r}, build=False)\nexcept RecipeMismatchError as e:\n"
            "    print('MISMATCH', e)\nprint('torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    assert "MISMATCH" in out and "size=128" in out and out.strip().splitlines()[-1] == "False"


SYN = """protocol: shared
version: 1
citation: {paper: "test"}
datasets:
  synthetic:
    recipe: {base: fp72, size: 32}
    generate: {recordings: 2, recordings_per_subject: 1, seconds: 3, preset: clean, seed: 16, width: 160,
               height: 120}
splits:
  test: {dataset: synthetic, subjects: all}
models:
  - pos
  - {name: chrom, recipe: {base: tb72, size: 32, source: "first-frame box"}}
  - {name: green, recipe: {base: tb72, size: 32}}
  - {name: ica, recipe: {base: fp72, size: 32}}
evaluation: {window_s: null}
"""


def test_stores_are_shared_by_recipe_and_prepared_once(tmp_path, monkeypatch):
    """pos + ica read the dataset recipe, chrom + green another one: exactly two stores, each prepared once."""
    import rppgbench.store as store_mod
    from rppgbench.runner import RunOptions, run_protocol

    monkeypatch.delenv("RPPGBENCH_RAW_SYNTHETIC", raising=False)
    monkeypatch.setenv("RPPGBENCH_DATA", str(tmp_path / "data"))
    calls: list[str] = []
    real = store_mod.prepare

    def counting(ds, raw, recipe=None, **kw):
        calls.append(recipe.recipe_id)
        return real(ds, raw, recipe=recipe, **kw)

    monkeypatch.setattr(store_mod, "prepare", counting)
    (tmp_path / "shared.yaml").write_text(SYN)
    res = run_protocol(RunOptions(tmp_path / "shared.yaml", output=tmp_path / "out", report=False))
    assert len(calls) == 2 and len(set(calls)) == 2
    assert len(res["provenance"]["stores"]) == 2
    ids = {m: e["recipe_ids"]["synthetic"] for m, e in res["models"].items()}
    assert ids["pos"] == ids["ica"] == ids["null"] != ids["chrom"] == ids["green"]
    assert res["models"]["chrom"]["sources"] == {"recipe": "first-frame box"}
    assert {r["model"] for r in res["rows"]} == {"pos", "chrom", "green", "ica", "null"}
    calls.clear()  # a second run finds both stores up to date: nothing is prepared again
    run_protocol(RunOptions(tmp_path / "shared.yaml", output=tmp_path / "out2", report=False))
    assert calls == []


@pytest.mark.parametrize("cwd", ["repo", "tmp"])
def test_mission_command_resolves_verbatim_through_the_console_script(tmp_path, cwd):
    """`rppgbench run protocols/mmpd_cross.yaml` (no such file in the repo or in /tmp) runs the shipped protocol:
    it gets as far as the missing PURE store and prints its prepare command (exit 2), never 'does not exist'."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RPPGBENCH_")}
    env.update(RPPGBENCH_DATA=str(tmp_path / "data"), RPPGBENCH_RESULTS=str(tmp_path / "results"))
    where = ROOT if cwd == "repo" else tmp_path
    assert not (where / "protocols" / "mmpd_cross.yaml").exists()
    val = subprocess.run(["rppgbench", "validate", "protocols/mmpd_cross.yaml"], cwd=where, env=env,
                         capture_output=True, text=True, timeout=300)
    assert val.returncode == 0 and "OK " in val.stdout and "(mmpd_cross v" in val.stdout, val.stderr
    extra = [] if cwd == "repo" else ["--models", "pos"]  # verbatim from the repo root; cheaper from /tmp
    run = subprocess.run(["rppgbench", "run", "protocols/mmpd_cross.yaml", *extra, "--no-report"], cwd=where,
                         env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "does not exist" not in run.stderr and "rppgbench prepare pure --raw PATH --recipe" in run.stderr
    marker = json.loads((tmp_path / "results" / "mmpd_cross" / "run.json").read_text())
    assert marker["protocol"]["name"] == "mmpd_cross"
