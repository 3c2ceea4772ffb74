"""rPPG-Toolbox baselines (TS-CAN, DeepPhys, EfficientPhys, RhythmFormer, PhysNet, PhysFormer, iBVPNet, PhysMamba):
the contracts the spec states, the released key/shape lists (tests/spec/) and parameter counts, strict loading
with and without the DataParallel prefix, full-contract outputs, and one training step of each tiny variant.
Model-specific checks of the last four are in test_models_toolbox_baselines.py."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from _spec_keys import spec_entries, spec_params, spec_state_dict

from rppgbench.models import create_model, model_cfg
from rppgbench.models._base import param_counts
from rppgbench.store.views import frames_view, label_view, recording_stats
from rppgbench.training import ArrayClipDataset, get_loss
from rppgbench.training.data import model_input, model_output

#: registry name -> (spec file, parameters stated there)
SPEC = {"tscan": ("TSCAN", 2_228_643), "deepphys": ("DeepPhys", 2_228_643),
        "efficientphys": ("EfficientPhys", 2_163_081), "rhythmformer": ("RhythmFormer", 3_326_017),
        "physnet": ("PhysNet", 768_577), "physformer": ("PhysFormer", 7_380_865), "ibvpnet": ("iBVPNet", 1_426_865),
        "physmamba": ("PhysMamba", 728_769)}
#: full-contract output shape of one clip (TS-CAN/DeepPhys/EfficientPhys: (N*D) x 1, one value per frame)
OUT_SHAPE = {"tscan": (180, 1), "deepphys": (180, 1), "efficientphys": (180, 1), "rhythmformer": (1, 160),
             "physnet": (1, 128), "physformer": (1, 160), "ibvpnet": (1, 160), "physmamba": (1, 128)}
def test_contracts_are_the_ones_the_spec_states():
    tscan, deep, eff, rf = (model_cfg(n) for n in ("tscan", "deepphys", "efficientphys", "rhythmformer"))
    for c in (tscan, deep):  # (N*D) x 6 x 72 x 72, DiffNormalized then Standardized, D = 180
        assert (c.layout, c.clip_len, c.extra_frames, c.channels, c.frame_size) == ("frames", 180, 0, 6, 72)
        assert c.input_views == ("diffnormalized", "standardized") and c.label_view == "diffnormalized"
        assert c.input_shape(2) == (360, 6, 72, 72)
    assert tscan.frame_multiple == 10 and deep.frame_multiple == 1
    assert (eff.layout, eff.clip_len, eff.extra_frames, eff.channels, eff.frame_multiple) == ("frames", 180, 1, 3, 10)
    assert eff.input_views == ("standardized",) and eff.label_view == "diffnormalized"
    assert eff.input_shape(1) == (181, 3, 72, 72) and eff.input_shape(2) == (361, 3, 72, 72)
    assert (rf.layout, rf.clip_len, rf.frame_size, rf.output_norm) == ("ntchw", 160, 128, "zscore")
    assert rf.input_views == ("standardized",) and rf.label_view == "standardized"
    assert rf.input_shape(1) == (1, 160, 3, 128, 128)
    # training defaults of the toolbox train configs: AdamW 9e-3 (wd 0), OneCycle max_lr 9e-3, 30 epochs, batch 4
    for c in (tscan, deep, eff, rf):
        assert c.optimizer == {"name": "adamw", "lr": 9e-3, "weight_decay": 0.0}
        assert c.scheduler["name"] == "onecycle" and c.scheduler["max_lr"] == 9e-3
        assert (c.epochs, c.batch_size, c.fps) == (30, 4, 30.0)
    assert tscan.loss == deep.loss == eff.loss == "mse"
    assert rf.loss == "physfsunet_hybrid" and rf.loss_kwargs["alpha"] == 0.2 and rf.loss_kwargs["hr_kl"] == "none"
    for name in ("tscan", "deepphys", "efficientphys", "rhythmformer"):
        tiny = model_cfg(f"{name}.tiny")
        assert tiny.tiny and tiny.arch == model_cfg(name).arch and tiny.layout == model_cfg(name).layout


@pytest.mark.parametrize("name", sorted(SPEC))
def test_keys_shapes_dtypes_and_parameter_count_equal_the_spec(name):
    spec, n = SPEC[name]
    model = create_model(name)
    mine = [(k, tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in model.state_dict().items()]
    assert mine == spec_entries(spec)  # same keys, shapes, dtypes, in state_dict() order
    assert sum(p.numel() for p in model.parameters()) == n == model.cfg.published_params == spec_params(spec)


def test_rhythmformer_unused_projection_is_frozen_and_counted():
    """Each block's qkv_linear is never used by the released forward: kept for strict loading, frozen here; the
    eval output depends on every other parameter (counted on the tiny variant, the same code path)."""
    frozen = [n for n, p in create_model("rhythmformer").named_parameters() if not p.requires_grad]
    assert len(frozen) == 2 * 6 and all(".attn.qkv_linear." in n for n in frozen)  # weight and bias of 6 blocks
    tiny = create_model("rhythmformer.tiny")
    unused = sum(p.numel() for n, p in tiny.named_parameters() if ".attn.qkv_linear." in n)
    assert unused == 3 * (16 * 48 + 48)
    counts = param_counts(tiny)
    assert counts["inference"] == counts["thop"] == counts["exact"] - unused


@pytest.mark.parametrize("name", sorted(SPEC))
@pytest.mark.parametrize("prefix", ["", "module."])
def test_a_checkpoint_built_from_the_spec_list_loads_strictly(name, prefix, tmp_path):
    spec, _ = SPEC[name]
    sd = spec_state_dict(spec, prefix)
    path = tmp_path / f"{spec}.pth"
    torch.save(sd, path)
    model = create_model(name, checkpoint=str(path))
    loaded = model.state_dict()
    assert set(loaded) == {k.removeprefix(prefix) for k in sd}
    assert all(torch.equal(loaded[k.removeprefix(prefix)], v) for k, v in sd.items())


@pytest.mark.slow  # one forward at the full contract each: ~1-30 s on an idle 2-core CPU (PhysMamba the longest)
@pytest.mark.parametrize("name", sorted(SPEC))
def test_full_contract_output_is_finite_and_shaped_as_the_spec_says(name):
    torch.manual_seed(0)
    model = create_model(name).eval()
    cfg = model.cfg
    x = torch.randn(cfg.input_shape(1))
    with torch.no_grad():
        y = model(x)
    assert tuple(y.shape) == OUT_SHAPE[name] and torch.isfinite(y).all()
    assert model_output(y, cfg, 1).shape == (1, cfg.clip_len)


def _synthetic_recording(n: int, side: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 frames (n, side, side, 3): noisy background with a skin square pulsing at 72 bpm; the pulse."""
    rng = np.random.default_rng(seed)
    pulse = np.sin(2 * np.pi * 1.2 * np.arange(n) / 30.0)
    f = np.full((n, side, side, 3), 60.0) + rng.normal(0, 2.0, (n, side, side, 3))
    a, b = side // 4, side - side // 4
    f[:, a:b, a:b] = np.array([170.0, 120.0, 100.0]) * (1 + np.array([0.01, 0.03, 0.012]) * pulse[:, None, None, None])
    return np.clip(np.round(f), 0, 255).astype(np.uint8), pulse.astype(np.float32)


@pytest.mark.parametrize("name", [f"{n}.tiny" for n in sorted(SPEC)])
def test_one_training_step_lowers_the_loss_on_a_synthetic_clip(name):
    """Views computed as a store computes them, a batch laid out by model_input, the model's own loss and
    optimiser: after one step the training-mode loss (same dropout draws) is lower."""
    torch.manual_seed(0)
    model = create_model(name).train()
    cfg = model.cfg
    frames, pulse = _synthetic_recording(2 * cfg.clip_len + 1, cfg.frame_size, seed=1)
    stats = recording_stats(frames, pulse)
    x = frames_view(frames, cfg.input_views, stats, len(frames)).transpose(3, 0, 1, 2)
    y = label_view(pulse, cfg.label_view, stats, len(frames))
    ds = ArrayClipDataset({"r": x}, {"r": y}, cfg.clip_len, extra_frames=0 if cfg.layout == "frames"
                          else cfg.extra_frames)
    clips = torch.stack([ds[i][0] for i in range(2)])
    labels = torch.stack([ds[i][1] for i in range(2)])
    loss_fn = get_loss(cfg.loss, **cfg.loss_kwargs)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.optimizer["lr"], weight_decay=0.0)

    def loss() -> torch.Tensor:
        torch.manual_seed(5)
        return loss_fn(model_output(model(model_input(clips, cfg)), cfg, 2), labels, epoch=0, epochs=1, fs=cfg.fps)

    before = loss()
    before.backward()
    opt.step()
    with torch.no_grad():
        after = loss()
    b, a = before.item(), after.item()
    assert np.isfinite(b) and a < b, (b, a)
