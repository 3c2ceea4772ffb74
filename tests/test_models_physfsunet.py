"""physFSUNet reconstruction: parameter count vs the paper, building blocks, registry entries, tiny training."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rppgbench.models import create_model, model_cfg
from rppgbench.models.physfsunet import AttentionMask, PhysFSUNet, frame_differences, temporal_shift
from rppgbench.training import ArrayClipDataset, TrainConfig, Trainer

PUBLISHED = 831_000  # "831K" (Cen et al., arXiv 2507.07795)


def cbr(cin, cout, k):  # Conv3d with bias + BatchNorm3d (weight, bias)
    return cin * cout * k ** 3 + cout + 2 * cout


def expected_params(stem=16, w1=32, w=64, hidden=256, c=3):
    stem_p = cbr(c, stem, 5) + cbr(4 * c, stem, 5) + 2 * cbr(stem, stem, 3)
    att = w + 1
    stas = (cbr(stem, w1, 3) + cbr(w1, w, 3) + att) + 3 * (2 * cbr(w, w, 3) + att)
    up = 2 * (w * w * 4 + w + 2 * w)
    mlp = w * hidden + hidden + hidden + 1
    return stem_p + stas + up + mlp


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_param_count_within_one_percent_of_the_paper():
    m = create_model("physfsunet")
    n = n_params(m)
    assert n == expected_params()
    assert abs(n - PUBLISHED) / PUBLISHED < 0.01
    assert m.cfg.published_params == PUBLISHED
    assert n_params(PhysFSUNet(skips=True)) == n  # the optional skips add no parameters


def test_full_size_forward_shapes_small_input():
    m = PhysFSUNet().eval()
    with torch.no_grad():
        y = m(torch.randn(2, 3, 32, 32, 32))
    assert y.shape == (2, 32)
    with pytest.raises(ValueError, match=r"axis 1 is 4, expected 3"):
        m(torch.randn(1, 4, 32, 32, 32))


def test_frame_differences_reference():
    x = torch.randn(2, 3, 7, 4, 4)
    d = frame_differences(x)
    assert d.shape == (2, 12, 7, 4, 4)
    xn = x.numpy()
    idx = lambda t: np.clip(t, 0, 6)  # noqa: E731  edge-replicated frame index
    for t in range(7):
        for j, (a, b) in enumerate([(-1, -2), (0, -1), (1, 0), (2, 1)]):
            np.testing.assert_allclose(d[:, 3 * j:3 * j + 3, t].numpy(), xn[:, :, idx(t + a)] - xn[:, :, idx(t + b)],
                                       atol=1e-6)


def test_temporal_shift_reference():
    x = torch.arange(2 * 6 * 5, dtype=torch.float32).reshape(2, 6, 5, 1, 1)
    y = temporal_shift(x).numpy()[..., 0, 0]
    xn = x.numpy()[..., 0, 0]
    np.testing.assert_array_equal(y[:, :2, :4], xn[:, :2, 1:])  # channels [0, C/3) read frame t+1
    np.testing.assert_array_equal(y[:, :2, 4], 0)
    np.testing.assert_array_equal(y[:, 2:4, 1:], xn[:, 2:4, :4])  # [C/3, 2C/3) read frame t-1
    np.testing.assert_array_equal(y[:, 2:4, 0], 0)
    np.testing.assert_array_equal(y[:, 4:], xn[:, 4:])


def test_attention_mask_normalisation():
    att = AttentionMask(8)
    x = torch.randn(2, 8, 5, 6, 7)
    m = att(x)
    s = torch.sigmoid(att.conv(x))
    torch.testing.assert_close(m.sum(dim=(3, 4)), torch.full((2, 1, 5), 6 * 7 / 2.0))
    torch.testing.assert_close(m, s * 6 * 7 / (2 * s.sum(dim=(3, 4), keepdim=True)))


def test_registry_entries_follow_the_spec():
    cfg = model_cfg("physfsunet")
    assert (cfg.clip_len, cfg.frame_size, cfg.input_view, cfg.label_view) == (160, 128, "standardized", "standardized")
    assert cfg.optimizer == {"name": "adamw", "lr": 9e-3, "weight_decay": 0.0}
    assert cfg.scheduler["name"] == "onecycle" and cfg.scheduler["max_lr"] == 9e-3
    assert (cfg.epochs, cfg.batch_size, cfg.loss) == (30, 4, "physfsunet_hybrid")
    assert cfg.loss_kwargs == {"hr_kl": "psd"}
    tiny = model_cfg("physfsunet.tiny")
    assert tiny.tiny and tiny.arch == "physfsunet"
    assert "reconstruction" in PhysFSUNet.__module__ + (__import__(PhysFSUNet.__module__, fromlist=["x"]).__doc__)
    with pytest.raises(ValueError, match="unknown option"):
        create_model("physfsunet.tiny", not_an_option=1)


def pulse_clips(n_rec, n_frames, size, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / 30.0
    videos, labels = {}, {}
    for i in range(n_rec):
        pulse = np.sin(2 * np.pi * rng.uniform(60, 110) / 60 * t + rng.uniform(0, 6.3))
        v = rng.normal(0, 1.0, (3, n_frames, size, size)) + 1.5 * pulse[None, :, None, None]
        videos[f"r{i}"] = v.astype(np.float32)
        labels[f"r{i}"] = pulse.astype(np.float32)
    return videos, labels


@pytest.mark.slow
def test_tiny_trains_and_round_trips_through_a_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = create_model("physfsunet.tiny")
    cfg = model.cfg
    ds = ArrayClipDataset(*pulse_clips(4, cfg.clip_len, cfg.frame_size, 0), cfg.clip_len)
    # one fixed batch of 4 clips, 8 steps of the model's own hybrid loss; theta=1 keeps beta at 1 so the
    # per-epoch losses are comparable (with the default theta=1.5 beta grows over the run by design)
    hist = Trainer(model, cfg, TrainConfig(epochs=8, seed=0, out_dir=tmp_path, loss_kwargs={"theta": 1.0},
                                           scheduler={"name": "none"})).fit(ds)
    assert len(hist) == 8 and all(h["steps"] == 1 for h in hist)
    assert np.mean([h["train_loss"] for h in hist[-3:]]) < hist[0]["train_loss"] - 0.5
    again = create_model("physfsunet.tiny", checkpoint=str(tmp_path / "model.pt")).eval()
    x = torch.stack([ds[i][0] for i in range(len(ds))])
    with torch.no_grad():
        torch.testing.assert_close(again(x), model.eval()(x))
