"""iBVPNet: a 3-D CNN with a spatio-temporal encoder, a long-kernel temporal encoder and a temporal decoder.

Joshi, J., & Cho, Y. (2024). *iBVP Dataset: RGB-Thermal rPPG Dataset with High Resolution Signal Quality
Labels.* Electronics 13(7):1334. Re-implemented from the paper and from the key/shape list of rPPG-Toolbox's
``iBVPNet`` (shared/spec/checkpoints/iBVPNet.txt), so that the toolbox's checkpoints (``PURE_iBVPNet.pth``,
bare keys) load strictly.

From the paper: frame differences of the raw clip, normalised, go through a spatio-temporal encoder (1x3x3 and
3x3x3 convolutions with spatial max pooling), a temporal encoder with long temporal kernels (11 and 7) and
spatio-temporal pooling, and a decoder that upsamples time back; spatial max pooling to 1x1 and a 1x1x1
convolution give the BVP. Every block is Conv3d -> Tanh -> InstanceNorm3d. From the release: filters
8/16/24/40/64, the exact kernels, strides and paddings (the decoder's transposed convolutions use padding
(2, 1, 1), which trims 2 pixels spatially and pads the following 1x3x3 stride-2 convolution by 2 frames),
``AdaptiveMaxPool3d((T, 1, 1))`` at the end, InstanceNorm without affine parameters, 161 raw 72x72 frames in
(the loader's 160-frame clip with its last frame repeated), 160 samples out.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from rppgbench._checks import check_option
from rppgbench.models._base import ContractMixin, build_model
from rppgbench.models._factory import ModelCfg, register_model

__all__ = ["IBVPNet", "NF", "MIN_FRAME_SIZE", "ibvpnet", "ibvpnet_tiny"]

#: filters of the released model
NF = (8, 16, 24, 40, 64)
#: the smallest square input whose decoder still ends at >= 1 pixel (three /2 poolings, a -1 pool and the
#: decoder's two -2 transposed convolutions with stride-2 convolutions between them)
MIN_FRAME_SIZE = 64

PAPER = ("Joshi J, Cho Y. iBVP Dataset: RGB-Thermal rPPG Dataset with High Resolution Signal Quality Labels. "
         "Electronics 13(7):1334, 2024")
TOOLBOX_URL = "https://github.com/ubicomplab/rPPG-Toolbox"


class ConvTanhIN(nn.Module):
    """Conv3d (with bias) -> Tanh -> InstanceNorm3d; key ``conv_block_3d.0``."""

    def __init__(self, cin: int, cout: int, kernel: Sequence[int], padding: Sequence[int]) -> None:
        super().__init__()
        self.conv_block_3d = nn.Sequential(nn.Conv3d(cin, cout, tuple(kernel), 1, tuple(padding)), nn.Tanh(),
                                           nn.InstanceNorm3d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_block_3d(x)


class TemporalUp(nn.Module):
    """ConvTranspose3d (k_t x 1 x 1, stride 2 x 1 x 1) -> Tanh -> IN -> Conv3d (1 x 3 x 3, stride 1 x 2 x 2) ->
    Tanh -> IN, both with padding (2, 1, 1) as released; key ``deconv_block_3d.{0,3}``."""

    def __init__(self, cin: int, cout: int, k_t: int = 7) -> None:
        super().__init__()
        pad = (2, 1, 1)
        self.deconv_block_3d = nn.Sequential(
            nn.ConvTranspose3d(cin, cin, (k_t, 1, 1), (2, 1, 1), pad), nn.Tanh(), nn.InstanceNorm3d(cin),
            nn.Conv3d(cin, cout, (1, 3, 3), (1, 2, 2), pad), nn.Tanh(), nn.InstanceNorm3d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.deconv_block_3d(x)


class Encoder(nn.Module):
    """Keys ``spatio_temporal_encoder.{0,1,3,4,6,7}`` and ``temporal_encoder.{0,1,3,4,6,7}``."""

    def __init__(self, cin: int, nf: Sequence[int]) -> None:
        super().__init__()
        a, b, c, d, e = nf
        s133, s333 = ((1, 3, 3), (0, 1, 1)), ((3, 3, 3), (1, 1, 1))
        self.spatio_temporal_encoder = nn.Sequential(
            ConvTanhIN(cin, a, *s133), ConvTanhIN(a, b, *s333), nn.MaxPool3d((1, 2, 2), (1, 2, 2)),
            ConvTanhIN(b, c, *s133), ConvTanhIN(c, d, *s333), nn.MaxPool3d((1, 2, 2), (1, 2, 2)),
            ConvTanhIN(d, e, *s133), ConvTanhIN(e, e, *s333))

        def pair(k: int) -> list[nn.Module]:  # temporal-only conv, then spatio-temporal conv, both k frames long
            return [ConvTanhIN(e, e, (k, 1, 1), (k // 2, 0, 0)), ConvTanhIN(e, e, (k, 3, 3), (k // 2, 1, 1))]

        self.temporal_encoder = nn.Sequential(
            *pair(11), nn.MaxPool3d((2, 2, 2), (2, 2, 2)),
            *pair(11), nn.MaxPool3d((2, 2, 2), (2, 1, 1)),
            *pair(7))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.temporal_encoder(self.spatio_temporal_encoder(x))


class Decoder(nn.Module):
    """Key ``decoder_block.{0,1}``: two :class:`TemporalUp` blocks (64 -> 40 -> 24 released)."""

    def __init__(self, nf: Sequence[int]) -> None:
        super().__init__()
        self.decoder_block = nn.Sequential(TemporalUp(nf[4], nf[3]), TemporalUp(nf[3], nf[2]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder_block(x)


class TimePool(nn.Module):
    """Max pooling to ``(T, 1, 1)`` for the clip's T (the release's ``AdaptiveMaxPool3d((frames, 1, 1))``)."""

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        return F.adaptive_max_pool3d(x, (frames, 1, 1))


class IBVPNet(ContractMixin, nn.Module):
    """iBVPNet (toolbox ``iBVPNet``).

    Parameters
    ----------
    clip_len : int
        Output samples T (160 released); the input has T + 1 frames (``extra_frames=1``).
    frame_size : int
        Square input side (72 released; at least :data:`MIN_FRAME_SIZE`).
    channels : int
        1 (thermal / last channel), 3 (RGB) or 4 (RGB + thermal, normalised separately), as released.
    nf : 5 ints
        Filters (8, 16, 24, 40, 64 released; the tiny variant uses fewer).

    Input ``(B, C, T + 1, H, W)`` raw pixels; the model differences along time (``torch.diff``) and
    instance-normalises each sample and channel; output ``(B, T)``.
    """

    def __init__(self, clip_len: int | None = 160, frame_size: int | None = 72, channels: int = 3,
                 nf: Sequence[int] = NF) -> None:
        super().__init__()
        check_option("channels", channels, (1, 3, 4))
        if len(nf) != 5:
            raise ValueError(f"iBVPNet: nf must hold 5 filter counts; got {nf!r}")
        if frame_size is not None and frame_size < MIN_FRAME_SIZE:
            raise ValueError(f"iBVPNet: frame_size must be at least {MIN_FRAME_SIZE} so that the decoder ends at "
                             f">= 1 pixel (72 released); got {frame_size}")
        self.in_channels = channels
        self.contract = (channels, None if clip_len is None else clip_len + 1, frame_size, frame_size)
        self.small_input = (9, MIN_FRAME_SIZE)
        if channels == 4:
            self.rgb_norm = nn.InstanceNorm3d(3)
            self.thermal_norm = nn.InstanceNorm3d(1)
        else:
            self.norm = nn.InstanceNorm3d(channels)
        self.ibvpnet = nn.Sequential(Encoder(channels, nf), Decoder(nf), TimePool(), nn.Conv3d(nf[2], 1, 1))

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """Frame differences along time, then per-sample, per-channel instance normalisation."""
        d = torch.diff(x, dim=2)
        if self.in_channels == 4:
            return torch.cat([self.rgb_norm(d[:, :3]), self.thermal_norm(d[:, 3:])], dim=1)
        return self.norm(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        t = x.shape[2] - 1
        enc, dec, pool, head = self.ibvpnet
        h = pool(dec(enc(self.preprocess(x))), t)
        return head(h).reshape(x.shape[0], t)


# configs/train_configs/PURE_PURE_iBVP_iBVPNet_BASIC.yaml (and iBVP_iBVP_PURE_iBVPNet_BASIC.yaml) with
# neural_methods/trainer/iBVPNetTrainer.py: Adam(lr 1e-3), OneCycleLR(max_lr 1e-3, PyTorch defaults) per batch,
# 30 epochs, batch 4, last epoch; loss neural_methods/loss/NegPearsonLoss.py = the batch-axis negative Pearson
# after one scalar z-scoring of pred and label (our neg_pearson with pearson_axis="batch").
_ONECYCLE = {"name": "onecycle", "max_lr": 1e-3, "pct_start": 0.3, "anneal_strategy": "cos", "div_factor": 25.0,
             "final_div_factor": 1e4, "cycle_momentum": True}

_BASE = ModelCfg(
    name="ibvpnet", arch="ibvpnet", paper=PAPER, code_url=TOOLBOX_URL,
    description=("iBVPNet as released in rPPG-Toolbox (frames 160, 3 channels): 1,426,865 parameters; 161 raw "
                 "frames in, differenced by the model; recipe of configs/train_configs/"
                 "PURE_PURE_iBVP_iBVPNet_BASIC.yaml (Adam + OneCycle 1e-3, 30 epochs, batch 4, the toolbox's "
                 "batch-axis negative Pearson)."),
    clip_len=160, extra_frames=1, frame_size=72, input_view="raw", label_view="standardized", fps=30.0,
    channels=3, loss="neg_pearson", loss_kwargs={"pearson_axis": "batch"},
    optimizer={"name": "adam", "lr": 1e-3, "weight_decay": 0.0}, scheduler=dict(_ONECYCLE), epochs=30,
    batch_size=4, published_params=1_426_865,
    weights=("rPPG-Toolbox release, not fetched: " + TOOLBOX_URL + " final_model_release/PURE_iBVPNet.pth "
             "(bare state dict)"),
)


@register_model(_BASE)
def ibvpnet(cfg: ModelCfg, **kwargs: Any) -> IBVPNet:
    """The rPPG-Toolbox iBVPNet (1,426,865 parameters)."""
    return build_model(IBVPNet, cfg, kwargs)


@register_model(_BASE.replace(
    name="ibvpnet.tiny", clip_len=32, frame_size=64, batch_size=2, epochs=1, tiny=True, published_params=None,
    weights=None, loss_kwargs={"pearson_axis": "time"},
    description=("Tiny iBVPNet for tests: the same code path with filters (4, 4, 6, 6, 8), 33 x 64 x 64 clips "
                 "(64 is the smallest side the decoder allows).")))
def ibvpnet_tiny(cfg: ModelCfg, **kwargs: Any) -> IBVPNet:
    """Small, fast iBVPNet (filters 4/4/6/6/8) for tests and smoke runs."""
    return build_model(IBVPNet, cfg, kwargs, nf=(4, 4, 6, 6, 8))
