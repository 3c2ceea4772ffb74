"""ONNX export (``rppgbench export``) and onnxruntime inference (``rppgbench infer --onnx``) of the tiny variants
of FactorizePhys, PHASE-Net and physFSUNet: outputs equal PyTorch's to 1e-4, the contract travels in the file."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from rppgbench.models import create_model, model_cfg

onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install 'rppgbench[onnx]')")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install 'rppgbench[onnx]')")

from rppgbench.models.onnx_export import CONTRACT_KEY, OnnxModel, export_onnx, read_contract  # noqa: E402

TINY = ["factorizephys.tiny", "phasenet.tiny", "physfsunet.tiny"]


def _random_input(cfg, seed: int, batch: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    shape = (batch, cfg.channels, cfg.clip_len + cfg.extra_frames, cfg.frame_size, cfg.frame_size)
    return torch.rand(*shape, generator=g) * 255.0 if cfg.input_view == "raw" else torch.randn(*shape, generator=g)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    d = tmp_path_factory.mktemp("onnx")
    out = {}
    for name in TINY:
        torch.manual_seed(0)
        model = create_model(name)
        ckpt = d / f"{name}.pt"
        torch.save(model.state_dict(), ckpt)
        res = export_onnx(name, d / f"{name}.onnx", checkpoint=str(ckpt))
        out[name] = (res, model.eval(), ckpt)
    return out


@pytest.mark.parametrize("name", TINY)
def test_exported_graph_equals_pytorch_and_carries_the_contract(exported, name):
    res, model, _ = exported[name]
    assert res["max_abs_diff"] is not None and res["max_abs_diff"] <= 1e-4
    assert res["exporter"] == "torchscript" and res["path"].is_file()
    assert not list(res["path"].parent.glob(".*.tmp"))
    assert read_contract(res["path"]) == model_cfg(name)
    meta = {p.key: p.value for p in onnx.load(str(res["path"])).metadata_props}
    assert CONTRACT_KEY in meta
    runner = OnnxModel(res["path"])
    x = _random_input(model.cfg, seed=7, batch=2)  # another input, two samples (run one by one)
    with torch.no_grad():
        want = model(x).numpy()
    got = runner(x).numpy()
    assert got.shape == (2, model.cfg.clip_len) and np.abs(got - want).max() <= 1e-4
    with pytest.raises(ValueError, match="input must be B x"):
        runner.run(np.zeros((1, 3, 5, 8, 8), np.float32))


def test_phasenet_fast_path_is_not_what_gets_exported(exported):
    """Tracing runs the module-by-module path; the fast CPU path stays on in the model after export."""
    _, model, _ = exported["phasenet.tiny"]
    assert model.fast_cpu is True


def test_infer_onnx_equals_infer_with_the_checkpoint(exported, tmp_path):
    from rppgbench.datasets.synthetic.presets import make_spec
    from rppgbench.datasets.synthetic.render import render_recording
    from rppgbench.datasets.synthetic.writer import write_recording

    video = write_recording(render_recording(make_spec("clean", seed=1, seconds=4, width=160, height=120,
                                                       hr_bpm=80)), tmp_path / "rec")
    res, _, ckpt = exported["physfsunet.tiny"]
    a = subprocess.run(["rppgbench", "infer", str(video), "--onnx", str(res["path"]), "--out", str(tmp_path / "a"),
                        "--no-plot"], capture_output=True, text=True)
    assert a.returncode == 0, a.stderr
    assert "model physfsunet.tiny" in a.stdout
    b = subprocess.run(["rppgbench", "infer", str(video), "--model", "physfsunet.tiny", "--checkpoint", str(ckpt),
                        "--out", str(tmp_path / "b"), "--no-plot"], capture_output=True, text=True)
    assert b.returncode == 0, b.stderr
    bvp_a = np.loadtxt(tmp_path / "a" / "bvp.csv", delimiter=",", skiprows=1)
    bvp_b = np.loadtxt(tmp_path / "b" / "bvp.csv", delimiter=",", skiprows=1)
    assert bvp_a.shape == bvp_b.shape == (120, 2)
    np.testing.assert_allclose(bvp_a[:, 1], bvp_b[:, 1], rtol=0, atol=1e-4 * np.abs(bvp_b[:, 1]).max())
    bad = subprocess.run(["rppgbench", "infer", str(video), "--onnx", str(res["path"]), "--model", "pos"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "exactly one of --model" in bad.stderr


def test_export_cli_and_errors(tmp_path):
    out = tmp_path / "f.onnx"
    r = subprocess.run(["rppgbench", "export", "factorizephys.tiny", "--onnx", str(out)], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    assert "no --checkpoint" in r.stderr and "max |onnxruntime - PyTorch|" in r.stdout and out.is_file()
    r = subprocess.run(["rppgbench", "export", "pos", "--onnx", str(tmp_path / "p.onnx")], capture_output=True,
                       text=True)
    assert r.returncode == 2 and "neural model" in r.stderr and not (tmp_path / "p.onnx").exists()
    r = subprocess.run(["rppgbench", "export", "factorizephys.tiny", "--checkpoint", str(tmp_path / "none.pt"),
                        "--onnx", str(tmp_path / "x.onnx")], capture_output=True, text=True)
    assert r.returncode == 2 and "does not exist" in r.stderr
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    r = subprocess.run(["rppgbench", "infer", str(junk), "--onnx", str(junk)], capture_output=True, text=True)
    assert r.returncode == 2 and "junk.onnx" in r.stderr and "Traceback" not in r.stderr


def test_missing_onnx_gives_a_clear_error():
    code = ("import sys; sys.modules['onnx'] = None\n"
            "from rppgbench.cli import main\n"
            "main(['export', 'factorizephys.tiny', '--onnx', 'never.onnx'])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 2 and "rppgbench[onnx]" in r.stderr and "Traceback" not in r.stderr
