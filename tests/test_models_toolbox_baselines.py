"""PhysNet, PhysFormer, iBVPNet and PhysMamba (rPPG-Toolbox baselines on NCDHW clips): the registered recipes,
``rppgbench infer`` on a synthetic video, a misfitting checkpoint reported, and each model's own semantics (the
toolbox's forward tuples, iBVPNet's differencing). Keys, parameter counts, strict loading, full-contract outputs and
one training step are in test_models_baselines.py; the shared CDC_T convolution in test_models_rhythmformer.py;
the pure-PyTorch Mamba scan in test_models_physmamba.py."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from _spec_keys import spec_entries, spec_state_dict

from rppgbench.models import create_model, model_cfg
from rppgbench.models._checkpoint import compare_state_dict

#: registry name -> spec file (tests/spec/<file>.txt)
MODELS = {"physnet": "PhysNet", "physformer": "PhysFormer", "ibvpnet": "iBVPNet", "physmamba": "PhysMamba"}


@pytest.mark.parametrize("name", MODELS)
def test_misfitting_spec_state_dict_is_reported(name):
    sd = spec_state_dict(MODELS[name])
    first = next(iter(sd))
    sd.pop(first)
    missing, unexpected, mismatched = compare_state_dict(create_model(name), sd)
    assert (missing, unexpected, mismatched) == ([first], [], [])
    assert len(sd) + 1 == len(spec_entries(MODELS[name]))


# (clip_len, extra_frames, frame_size, input_view, label_view, loss, loss_kwargs, optimizer, scheduler name,
#  max_lr, epochs, batch) as the toolbox's train configs and trainers set them (see each module's comment)
RECIPES = {
    "physnet": (128, 0, 72, "diffnormalized", "diffnormalized", "neg_pearson", {"pearson_axis": "time"},
                {"name": "adam", "lr": 9e-3, "weight_decay": 0.0}, "onecycle", 9e-3, 30, 4),
    "physformer": (160, 0, 128, "diffnormalized", "diffnormalized", "physformer", {},
                   {"name": "adam", "lr": 1e-4, "weight_decay": 5e-5}, "step", None, 10, 4),
    "ibvpnet": (160, 1, 72, "raw", "standardized", "neg_pearson", {"pearson_axis": "batch"},
                {"name": "adam", "lr": 1e-3, "weight_decay": 0.0}, "onecycle", 1e-3, 30, 4),
    "physmamba": (128, 0, 128, "diffnormalized", "diffnormalized", "neg_pearson", {"pearson_axis": "time"},
                  {"name": "adam", "lr": 3e-3, "weight_decay": 5e-4}, "onecycle", 3e-3, 20, 4),
}


@pytest.mark.parametrize("name", MODELS)
def test_registered_recipe_is_the_toolbox_train_config(name):
    cfg = model_cfg(name)
    got = (cfg.clip_len, cfg.extra_frames, cfg.frame_size, cfg.input_view, cfg.label_view, cfg.loss,
           cfg.loss_kwargs, cfg.optimizer, cfg.scheduler["name"], cfg.scheduler.get("max_lr"), cfg.epochs,
           cfg.batch_size)
    assert got == RECIPES[name]
    assert cfg.fps == 30.0 and cfg.channels == 3 and "train_configs/" in cfg.description
    if name == "physformer":
        assert cfg.scheduler == {"name": "step", "step_size": 50, "gamma": 0.5}
    tiny = model_cfg(name + ".tiny")
    assert tiny.tiny and tiny.arch == cfg.arch and tiny.extra_frames == cfg.extra_frames
    assert tiny.input_view == cfg.input_view and tiny.label_view == cfg.label_view and tiny.layout == cfg.layout
    assert (cfg.layout, cfg.frame_multiple, cfg.output_norm) == ("ncdhw", 1, "none")
    assert cfg.input_shape(2) == (2, 3, cfg.clip_len + cfg.extra_frames, cfg.frame_size, cfg.frame_size)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    from rppgbench.datasets.synthetic.presets import make_spec
    from rppgbench.datasets.synthetic.render import render_recording
    from rppgbench.datasets.synthetic.writer import write_recording

    rendered = render_recording(make_spec("clean", seed=2, seconds=4, width=160, height=120, hr_bpm=80))
    return write_recording(rendered, tmp_path_factory.mktemp("baseline_infer") / "rec"), rendered.n_frames


@pytest.mark.parametrize("name", MODELS)
def test_infer_runs_the_tiny_variant_on_a_synthetic_video(name, video, tmp_path, capsys):
    from rppgbench.cli import main

    path, n_frames = video
    torch.manual_seed(0)
    ckpt = tmp_path / "w.pt"
    torch.save(create_model(name + ".tiny").state_dict(), ckpt)
    try:
        main(["infer", str(path), "--model", name + ".tiny", "--checkpoint", str(ckpt), "--output", str(tmp_path / "o"),
              "--no-plot", "--window", "2"])
    except SystemExit as exc:
        assert not exc.code, capsys.readouterr().err
    assert "whole video:" in capsys.readouterr().out
    with open(tmp_path / "o" / "bvp.csv") as fh:
        rows = list(csv.reader(fh))
    bvp = np.array(rows[1:], dtype=float)
    assert rows[0] == ["time_s", "bvp"] and bvp.shape == (n_frames, 2) and np.isfinite(bvp).all()
    assert bvp[:, 1].std() > 0


# -- per-model semantics -----------------------------------------------------------------------------------------

def test_physnet_forward_all_is_the_toolbox_tuple():
    model = create_model("physnet", clip_len=16).eval()
    x = torch.randn(1, 3, 16, 72, 72)
    with torch.no_grad():
        rppg, vis, v32, v16 = model.forward_all(x)
        assert torch.equal(rppg, model(x))
    assert rppg.shape == (1, 16) and vis is x
    assert v32.shape == (1, 64, 8, 18, 18) and v16.shape == (1, 64, 4, 9, 9)  # spec: 64x64x18x18 / 64x32x9x9 at T=128


def test_physformer_scores_temperature_and_token_grid():
    torch.manual_seed(0)
    model = create_model("physformer.tiny").eval()
    x = torch.randn(2, 3, 32, 64, 64)
    with torch.no_grad():
        rppg, *scores = model.forward_with_scores(x)
        sharp = model.forward_with_scores(x, gra_sharp=0.5)[1]
        assert torch.equal(rppg, model(x))
    tokens = 8 * 2 * 2  # T/4 x (64/8/4)^2
    assert rppg.shape == (2, 32) and len(scores) == 3
    for s in scores:
        assert s.shape == (2, 2, tokens, tokens)
        torch.testing.assert_close(s.sum(-1), torch.ones(2, 2, tokens))
    # a lower temperature sharpens the attention (larger maximum weight per row on average)
    assert sharp.amax(-1).mean() > scores[0].amax(-1).mean()
    with pytest.raises(ValueError, match="multiple of 32"):
        create_model("physformer", frame_size=72)
    with pytest.raises(ValueError, match="multiple of 4"):
        create_model("physformer", clip_len=30)


def test_ibvpnet_sees_only_normalised_frame_differences():
    """diff -> per-clip instance norm: adding a constant image or scaling the clip leaves the output unchanged."""
    torch.manual_seed(2)
    model = create_model("ibvpnet.tiny").eval()
    x = torch.rand(1, 3, 33, 64, 64) * 255
    with torch.no_grad():
        y = model(x)
        torch.testing.assert_close(model(x + 40.0 * torch.rand(1, 3, 1, 64, 64)), y, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(model(3.0 * x), y, rtol=1e-4, atol=1e-4)
    assert y.shape == (1, 32) and model.contract == (3, 33, 64, 64)
    with pytest.raises(ValueError, match="at least 64"):
        create_model("ibvpnet", frame_size=48)
