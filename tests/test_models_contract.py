"""The trainer/model contract, checked for every registered neural model (tiny variants included):
forward shape per contract and no NaN, a contract-violating input raises ValueError, and for the tiny variants
gradients reach every trainable parameter and a few optimiser steps lower the loss on a synthetic pulse batch.

Full-size models whose contract clip is expensive on CPU (PHASE-Net 128 x 128 x 128 takes ~25 s per forward
here) are run at their full frame size with a short clip instead (8 frames, or the model's ``small_input``
frames, rounded up to its ``frame_multiple``); FactorizePhys runs at its full contract. Inputs are built as
dataset clips (``B x C x T' x H x W``, one block of channels per input view) and laid out for each model's
``layout`` by ``rppgbench.training.data.model_input``; outputs come back through ``model_output``.
"""
from __future__ import annotations

import math

import pytest
import torch

from rppgbench.models import create_model, list_models, model_cfg
from rppgbench.training.data import clip_extra_frames, model_input, model_output

CHEAP_VOXELS = 161 * 72 * 72  # the FactorizePhys contract; larger contracts are run with an 8-frame clip


NEURAL = list_models(kind="neural")
TINY = [n for n in NEURAL if model_cfg(n).tiny]


def _clip_len(cfg) -> int:
    if cfg.tiny or (cfg.clip_len + cfg.extra_frames) * cfg.frame_size ** 2 <= CHEAP_VOXELS:
        return cfg.clip_len
    t = max(8, create_model(cfg.name).small_input[0])
    return -(-t // cfg.frame_multiple) * cfg.frame_multiple


def _model_and_input(name: str, batch: int = 2, seed: int = 0):
    """The model (at a clip length it runs cheaply), its input laid out for its layout, the (B, T) label, T."""
    cfg = model_cfg(name)
    t = _clip_len(cfg)
    model = create_model(name) if t == cfg.clip_len else create_model(name, clip_len=t)
    clip, label = synthetic_pulse_batch(batch, t, clip_extra_frames(cfg), cfg.frame_size, cfg.input_views, cfg.fps,
                                        cfg.channels, seed)
    return model, model_input(clip, model.cfg), label, t


def synthetic_pulse_batch(batch: int, clip_len: int, extra: int, side: int, view, fps: float,
                          channels: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw frames of a textured background with a central "skin" square whose colour is modulated by a
    pulse of a different heart rate (60-120 bpm) and phase per clip, plus sensor noise; label = the pulse at
    the clip's output frames, z-scored. ``view="standardized"`` z-scores each clip as the store would; a tuple
    of views gives one block of ``channels / len(view)`` channels per view, concatenated in order."""
    views = (view,) if isinstance(view, str) else tuple(view)
    c = channels // len(views)
    g = torch.Generator().manual_seed(seed)
    frames = clip_len + extra
    t = torch.arange(frames, dtype=torch.float32) / fps
    hr = 60.0 + 60.0 * torch.rand(batch, generator=g)
    phase = 2 * math.pi * torch.rand(batch, generator=g)
    pulse = torch.sin(2 * math.pi * (hr[:, None] / 60.0) * t[None, :] + phase[:, None])  # (B, frames)
    x = 40.0 + 20.0 * torch.rand(batch, c, 1, side, side, generator=g).expand(-1, -1, frames, -1, -1).clone()
    lo, hi = side // 4, side - side // 4
    skin = torch.tensor([170.0, 120.0, 100.0, 150.0][:c])[None, :, None]
    amp = torch.tensor([0.02, 0.04, 0.015, 0.03][:c])[None, :, None]
    x[:, :, :, lo:hi, lo:hi] = (skin * (1.0 + amp * pulse[:, None, :]))[..., None, None]
    x = x + 0.5 * torch.randn(x.shape, generator=g)
    out = []
    for v in views:
        if v == "standardized":
            out.append((x - x.mean(dim=(1, 2, 3, 4), keepdim=True)) / x.std(dim=(1, 2, 3, 4), keepdim=True))
        elif v == "diffnormalized":
            d = (x[:, :, 1:] - x[:, :, :-1]) / (x[:, :, 1:] + x[:, :, :-1] + 1e-7)
            out.append(torch.cat([d, torch.zeros_like(d[:, :, :1])], dim=2) / d.std())
        else:
            out.append(x)
    label = pulse[:, :clip_len]
    label = (label - label.mean(dim=1, keepdim=True)) / label.std(dim=1, keepdim=True)
    return torch.cat(out, dim=1).float(), label


def neg_pearson_time(pred: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """Reference per-clip negative Pearson, mean over the batch (1 - r)."""
    p = pred - pred.mean(dim=1, keepdim=True)
    q = label - label.mean(dim=1, keepdim=True)
    r = (p * q).sum(1) / torch.sqrt((p * p).sum(1) * (q * q).sum(1) + 1e-12)
    return (1.0 - r).mean()


def _train_loss(out, label: torch.Tensor, cfg) -> torch.Tensor:
    if isinstance(out, dict):
        assert set(out) >= {"bvp", "aux_loss", "logs"}, f"training dict keys {sorted(out)}"
        assert out["aux_loss"].ndim == 0 and all(isinstance(v, float) for v in out["logs"].values())
        return neg_pearson_time(model_output(out["bvp"], cfg, len(label)), label) + out["aux_loss"]
    return neg_pearson_time(model_output(out, cfg, len(label)), label)


def test_my_architectures_are_registered():
    assert {"factorizephys", "factorizephys.tiny", "factorizephys.nores", "phasenet", "phasenet.described",
            "phasenet.tiny"} <= set(NEURAL)
    assert {"factorizephys.tiny", "phasenet.tiny"} <= set(TINY)


@pytest.mark.parametrize("name", NEURAL)
def test_eval_forward_shape_and_finite(name):
    torch.manual_seed(0)
    model, x, _, t = _model_and_input(name, batch=1)
    cfg = model.cfg
    assert tuple(x.shape) == cfg.input_shape(1, t)
    with torch.no_grad():
        out = model.eval()(x)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    out = model_output(out, cfg, 1)
    assert out.shape == (1, t)
    assert torch.isfinite(out).all()


_CHANNEL_AXIS = {"ncdhw": 1, "ntchw": 2, "frames": 1}


@pytest.mark.parametrize("name", NEURAL)
def test_wrong_input_shape_raises_value_error(name):
    """An input with an axis missing or a wrong channel count is refused by every model; a wrong clip length by
    every model that declares its clip length in ``contract`` (a model may accept any length by declaring None
    there); a flattened frame count off its ``frame_multiple`` by every ``frames`` model that has one."""
    cfg = model_cfg(name)
    t = _clip_len(cfg)
    model = create_model(name, clip_len=t).eval()
    shape = list(cfg.input_shape(1, t))
    with pytest.raises(ValueError):
        model(torch.zeros(shape[:-1]))
    wrong = list(shape)
    wrong[_CHANNEL_AXIS[cfg.layout]] = cfg.channels + 2
    with pytest.raises(ValueError, match=str(cfg.channels)):
        model(torch.zeros(wrong))
    declared = getattr(model, "contract", (None, None, None, None))
    time_axis = {"ncdhw": 2, "ntchw": 1}.get(cfg.layout)
    if time_axis is not None and declared[time_axis - 1] is not None:
        frames = t + cfg.extra_frames
        assert declared[time_axis - 1] == frames
        longer = list(shape)
        longer[time_axis] = frames + 1
        with pytest.raises(ValueError, match=rf"{frames + 1}.*expected {frames}"):
            model(torch.zeros(longer))
    if cfg.layout == "frames" and cfg.frame_multiple > 1:
        longer = list(shape)
        longer[0] += 1
        msg = rf"multiple of frame_multiple={cfg.frame_multiple}.*{shape[0] + 1} frames"
        with pytest.raises(ValueError, match=msg):
            model(torch.zeros(longer))


@pytest.mark.parametrize("name", TINY)
def test_tiny_gradients_reach_every_trainable_parameter(name):
    torch.manual_seed(0)
    model, clip, label, _ = _model_and_input(name)
    out = model.train()(clip)
    bvp = model_output(out["bvp"] if isinstance(out, dict) else out, model.cfg, len(label))
    # plus a level-sensitive term: the negative Pearson ignores an output offset, so a bias feeding the output
    # directly (RhythmFormer's Conv1d head, TS-CAN's last dense layer) would get a gradient of exactly 0
    loss = _train_loss(out, label, model.cfg) + 1e-2 * bvp.pow(2).mean()
    loss.backward()
    dead = [n for n, p in model.named_parameters()
            if p.requires_grad and (p.grad is None or not torch.any(p.grad != 0))]
    assert not dead, f"{name}: no gradient reaches {dead}"


@pytest.mark.slow  # a few seconds each on an idle 2-core CPU, 20-40 s under the shared machine's load
@pytest.mark.parametrize("name", TINY)
def test_tiny_loss_falls_on_synthetic_batch(name):
    """Ten Adam steps on one synthetic pulse batch: the training loss (negative Pearson + the model's aux
    loss) of the last three steps is clearly below the first step's. Training-mode losses are compared so
    that BatchNorm running statistics (eval mode) do not blur the comparison."""
    torch.manual_seed(0)
    model, clip, label, _ = _model_and_input(name, batch=2, seed=1)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    model.train()
    for _ in range(10):
        opt.zero_grad()
        loss = _train_loss(model(clip), label, model.cfg)
        assert torch.isfinite(loss)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    first, last = losses[0], sum(losses[-3:]) / 3
    assert last < first - 0.2, f"{name}: training loss {first:.3f} -> {last:.3f} ({losses})"


class _Toy(torch.nn.Module):
    """A conv, a weight-normed conv, a GRU and a training-only Linear, to check the counting conventions."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv3d(3, 4, (3, 3, 3), padding=1)
        self.wn = torch.nn.utils.parametrizations.weight_norm(torch.nn.Conv1d(4, 5, 3, padding=1))
        self.gru = torch.nn.GRU(5, 6, num_layers=2, batch_first=True)
        self.train_only = torch.nn.Linear(6, 7)
        self.head = torch.nn.Linear(6, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.conv(x).mean(dim=(3, 4))           # B x 4 x T
        z, _ = self.gru(self.wn(f).transpose(1, 2))  # B x T x 6
        if self.training:
            z = z + self.train_only(z).sum(-1, keepdim=True)
        return self.head(z).squeeze(-1)


def test_param_and_mac_counting_conventions():
    from rppgbench.models._base import count_macs, param_counts

    toy = _Toy()
    x = torch.rand(2, 3, 5, 4, 4)
    n = {name: sum(p.numel() for p in m.parameters()) for name, m in toy.named_children()}
    counts = param_counts(toy, x)
    assert counts["exact"] == sum(n.values())
    assert counts["inference"] == sum(n.values()) - n["train_only"]
    assert counts["thop"] == n["conv"] + n["gru"] + n["head"]  # thop has no rule for the weight-normed conv
    macs = count_macs(toy, x)
    assert macs["conv"] == 2 * 4 * 5 * 4 * 4 * (3 * 27) + 2 * 5 * 5 * (4 * 3)
    assert macs["linear"] == 2 * 5 * 6
    assert macs["rnn"] == 2 * 5 * (3 * (5 + 6) * 6 + 3 * (6 + 6) * 6)
    assert macs["total"] == macs["conv"] + macs["linear"] + macs["rnn"]
    assert toy.training  # the mode is restored
