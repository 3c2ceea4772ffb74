"""Safe defaults (issue 18): infer refuses an untrained network, a run's checkpoint carries its crop, one model id
spelling everywhere, the device recorded is the one used, --resume keeps the run's time, outputs never land in
raw data."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # one tiny run (about 40 CPU-s) shared by the module

TINY = """\
protocol: tiny_safe
version: 1
description: issue 18 safe-defaults test
citation: {paper: "test"}
datasets:
  synthetic:
    recipe: {base: skin72, size: 32}
    generate: {recordings: 4, recordings_per_subject: 2, seconds: 6, preset: clean, seed: 3, width: 96, height: 72}
splits:
  train: {dataset: synthetic, subjects: [1]}
  test: {dataset: synthetic, subjects: [2]}
models:
  - pos
  - {name: physfsunet.tiny, id: physfsunet_tiny, overrides: {frame_size: 32}}
training: {epochs: 1, batch_size: 2, seed: 0, selection: last, max_steps_per_epoch: 1}
evaluation: {profile: rppgbench, window_s: 3, hr_method: fft}
"""


def _rb(*args, cwd=None, env=None):
    return subprocess.run(["rppgbench", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=900)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("safe")
    (root / "protocols" / "tiny").mkdir(parents=True)
    (root / "protocols" / "tiny" / "tiny_safe.yaml").write_text(TINY)
    import os

    env = {**os.environ, "RPPGBENCH_DATA": str(root / "data")}
    out = root / "run"
    r = _rb("-q", "run", "tiny_safe", "--protocols-root", str(root / "protocols"), "--output", str(out),
            "--workers", "0", "--no-report", env=env)
    assert r.returncode == 0, r.stderr
    raw = next((root / "data" / "_raw").iterdir())
    return {"root": root, "out": out, "env": env, "raw": raw, "video": next(raw.glob("s02_r00/*.avi"))}


def test_device_recorded_is_the_one_used(tiny_run):
    prov = json.loads((tiny_run["out"] / "results.json").read_text())["provenance"]
    assert prov["device"] == "cpu"


def test_unsupervised_only_run_records_cpu_whatever_torch_sees(tiny_run):
    from rppgbench.runner import _provenance

    class _M:
        def __init__(self, kind):
            self.cfg = type("C", (), {"kind": kind})()
            self.id, self.recipes, self.training = "m", {}, type("T", (), {"seed": 0})()

    plan = type("P", (), {"models": [_M("unsupervised"), _M("baseline")], "recipes": {},
                          "options": type("O", (), {"device": "cuda:7", "limit": None, "command": ""})()})()
    assert _provenance(plan, {}, "t", 1.0)["device"] == "cpu"  # no network: never resolves (or records) cuda


def test_resume_keeps_the_recorded_wall_time(tiny_run):
    before = json.loads((tiny_run["out"] / "results.json").read_text())["provenance"]
    r = _rb("-q", "run", "tiny_safe", "--protocols-root", str(tiny_run["root"] / "protocols"), "--output",
            str(tiny_run["out"]), "--workers", "0", "--no-report", "--resume", env=tiny_run["env"])
    assert r.returncode == 0, r.stderr
    after = json.loads((tiny_run["out"] / "results.json").read_text())["provenance"]
    assert after["wall_s"] == before["wall_s"] and after["started"] == before["started"]


def test_checkpoint_records_its_recipe_and_infer_crops_as_training_did(tiny_run, tmp_path):
    ckpt = tiny_run["out"] / "checkpoints" / "physfsunet_tiny" / "model.pt"
    card = json.loads(ckpt.with_suffix(".json").read_text())
    assert card["model"] == "physfsunet.tiny" and card["overrides"] == {"frame_size": 32}
    assert card["recipes"]["synthetic"]["size"] == 32 and card["config"]["frame_size"] == 32
    # no --model: the card names it; crop size, views and detector come from the run
    r = _rb("infer", str(tiny_run["video"]), "--checkpoint", str(ckpt), "--no-plot", "--window", "3", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "model physfsunet.tiny, 32 px crops by blazeface" in r.stdout
    # a card of other weights is refused
    other = tmp_path / "model.pt"
    other.write_bytes(ckpt.read_bytes() + b"x")
    other.with_suffix(".json").write_text(ckpt.with_suffix(".json").read_text())
    r = _rb("infer", str(tiny_run["video"]), "--checkpoint", str(other), "--no-plot", cwd=tmp_path)
    assert r.returncode == 2 and "written for other weights" in r.stderr


def test_infer_refuses_an_untrained_network_unless_asked(tiny_run, tmp_path):
    r = _rb("infer", str(tiny_run["video"]), "--model", "physfsunet_tiny", "--no-plot", cwd=tmp_path)
    assert r.returncode == 2 and "random weights" in r.stderr and "--random-weights" in r.stderr
    assert "Traceback" not in r.stderr and not list(tmp_path.iterdir())
    r = _rb("infer", str(tiny_run["video"]), "--model", "physfsunet_tiny", "--random-weights", "--no-plot",
            "--window", "3", "--detector", "blazeface", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "random weights" in r.stderr and "whole video:" in r.stdout


def test_infer_writes_into_the_current_directory_never_beside_the_raw_video(tiny_run, tmp_path):
    before = sorted(p.name for p in tiny_run["video"].parent.parent.iterdir())
    r = _rb("infer", str(tiny_run["video"]), "--model", "pos", "--no-plot", "--window", "3",
            "--detector", "blazeface", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / f"{tiny_run['video'].stem}_pos_infer" / "bvp.csv").is_file()
    assert sorted(p.name for p in tiny_run["video"].parent.parent.iterdir()) == before


def test_one_model_id_spelling_across_commands(tiny_run, tmp_path):
    from rppgbench.cli.submit import _run_model_id
    from rppgbench.models import model_cfg
    from rppgbench.runner_validate import validate_protocol

    assert model_cfg("physfsunet_tiny").name == model_cfg("physfsunet.tiny").name == "physfsunet.tiny"
    _, _, plans = validate_protocol("synthetic_quick", ["physfsunet.tiny", "PHASENET-tiny"], build=False)
    assert [p.id for p in plans] == ["phasenet_tiny", "physfsunet_tiny", "null"]
    assert _run_model_id(str(tiny_run["out"]), "physfsunet.tiny") == "physfsunet_tiny"
    assert _run_model_id(str(tiny_run["out"]), "pos") == "pos"
    r = _rb("ls", "models")
    assert r.returncode == 0 and "physfsunet.tiny" in r.stdout and "physfsunet_tiny" not in r.stdout


def test_runs_folder_is_ignored_by_git():
    ignored = (Path(__file__).resolve().parents[1] / ".gitignore").read_text().split()
    assert "runs/" in ignored
