"""PhysNet: a 3-D CNN encoder-decoder that maps a face clip to its rPPG waveform.

Yu, Z., Li, X., & Zhao, G. (2019). *Remote Photoplethysmograph Signal Measurement from Facial Videos Using
Spatio-Temporal Networks.* BMVC 2019. Re-implemented from the paper and from the key/shape list of
rPPG-Toolbox's ``PhysNet_padding_Encoder_Decoder_MAX`` (shared/spec/checkpoints/PhysNet.txt), so that the
toolbox's released checkpoints (``final_model_release/*PhysNet*.pth``, bare keys) load strictly.

From the paper: the "3DCNN-ED" network -- a 1x5x5 stem, eight 3x3x3 convolutions (Conv3d + BatchNorm + ReLU)
with spatial and spatio-temporal max pooling that halve the time axis twice, two transposed temporal
convolutions that restore it, spatial global pooling and a 1x1x1 convolution to one channel; trained with the
negative Pearson loss. From the release (the toolbox's variant): channel widths 16/32/64, ELU after the two
``ConvTranspose3d(4x1x1, stride 2x1x1)`` upsamplers, spatial **average** pooling at the end
(``AdaptiveAvgPool3d((T, 1, 1))``), DiffNormalized 128-frame 72x72 clips. The toolbox's forward returns a
4-tuple ``(rPPG, x_visual, x_visual3232, x_visual1616)``; :meth:`PhysNet.forward_all` returns the same, while
``forward`` returns the ``(B, T)`` rPPG only (the contract of every rppgbench model).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from rppgbench.models._base import ContractMixin, build_model
from rppgbench.models._factory import ModelCfg, register_model

__all__ = ["PhysNet", "physnet", "physnet_tiny"]

PAPER = ("Yu Z, Li X, Zhao G. Remote Photoplethysmograph Signal Measurement from Facial Videos Using "
         "Spatio-Temporal Networks. BMVC 2019")
TOOLBOX_URL = "https://github.com/ubicomplab/rPPG-Toolbox"


def _cbr(cin: int, cout: int, kernel: Sequence[int], padding: Sequence[int]) -> nn.Sequential:
    """Conv3d (with bias) -> BatchNorm3d -> ReLU (keys ``.0`` conv, ``.1`` norm)."""
    return nn.Sequential(nn.Conv3d(cin, cout, tuple(kernel), stride=1, padding=tuple(padding)),
                         nn.BatchNorm3d(cout), nn.ReLU(inplace=True))


def _temporal_upsampler(c: int) -> nn.Sequential:
    """ConvTranspose3d doubling T (kernel 4x1x1, stride 2x1x1, padding 1x0x0) -> BatchNorm3d -> ELU."""
    return nn.Sequential(nn.ConvTranspose3d(c, c, (4, 1, 1), stride=(2, 1, 1), padding=(1, 0, 0)),
                         nn.BatchNorm3d(c), nn.ELU())


class PhysNet(ContractMixin, nn.Module):
    """PhysNet (toolbox ``PhysNet_padding_Encoder_Decoder_MAX``).

    Parameters
    ----------
    clip_len : int
        Frames per clip T (128 in every release); the output has T samples. It creates no parameters.
    frame_size : int
        Square input side (72 released); any side of at least 8 runs.
    channels : int
        Input channels (3).
    widths : (int, int, int)
        Channel widths of the stem, the second block and the rest (16, 32, 64 released; the tiny variant uses
        smaller ones).

    Input ``(B, C, T, H, W)`` DiffNormalized frames; output ``(B, T)``.
    """

    def __init__(self, clip_len: int | None = 128, frame_size: int | None = 72, channels: int = 3,
                 widths: Sequence[int] = (16, 32, 64)) -> None:
        super().__init__()
        if len(widths) != 3:
            raise ValueError(f"PhysNet: widths must hold 3 channel widths; got {widths!r}")
        a, b, c = (int(w) for w in widths)
        self.contract = (channels, clip_len, frame_size, frame_size)
        self.small_input = (4, 16)
        k3, p1 = (3, 3, 3), (1, 1, 1)
        self.ConvBlock1 = _cbr(channels, a, (1, 5, 5), (0, 2, 2))
        self.ConvBlock2 = _cbr(a, b, k3, p1)
        self.ConvBlock3 = _cbr(b, c, k3, p1)
        for i in range(4, 10):
            setattr(self, f"ConvBlock{i}", _cbr(c, c, k3, p1))
        self.upsample = _temporal_upsampler(c)
        self.upsample2 = _temporal_upsampler(c)
        self.ConvBlock10 = nn.Conv3d(c, 1, 1)
        self.MaxpoolSpa = nn.MaxPool3d((1, 2, 2), stride=(1, 2, 2))
        self.MaxpoolSpaTem = nn.MaxPool3d((2, 2, 2), stride=2)

    def forward_all(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(rPPG (B, T), x_visual (the input), x_visual3232, x_visual1616)`` as the toolbox's forward: the
        features after ConvBlock5 (T/2 frames, H/4) and after ConvBlock7 (T/4 frames, H/8)."""
        self.check_input(x)
        t = x.shape[2]
        h = self.MaxpoolSpa(self.ConvBlock1(x))
        h = self.MaxpoolSpaTem(self.ConvBlock3(self.ConvBlock2(h)))
        v32 = self.ConvBlock5(self.ConvBlock4(h))
        v16 = self.ConvBlock7(self.ConvBlock6(self.MaxpoolSpaTem(v32)))
        h = self.ConvBlock9(self.ConvBlock8(self.MaxpoolSpa(v16)))
        h = self.upsample2(self.upsample(h))
        h = self.ConvBlock10(F.adaptive_avg_pool3d(h, (t, 1, 1)))
        return h.reshape(x.shape[0], t), x, v32, v16

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_all(x)[0]


# configs/train_configs/{PURE_PURE_UBFC-rPPG,UBFC-rPPG_UBFC-rPPG_PURE,SCAMPS_SCAMPS_UBFC-rPPG}_PHYSNET_BASIC.yaml
# with neural_methods/trainer/PhysnetTrainer.py: Adam(lr 9e-3, no weight decay), OneCycleLR(max_lr 9e-3, PyTorch
# defaults) stepped per batch, 30 epochs, batch 4, last epoch; loss = PhysNet's per-clip negative Pearson (the
# trainer z-scores pred and label with one scalar each first, which per-clip Pearson does not see).
_ONECYCLE = {"name": "onecycle", "max_lr": 9e-3, "pct_start": 0.3, "anneal_strategy": "cos", "div_factor": 25.0,
             "final_div_factor": 1e4, "cycle_momentum": True}

_BASE = ModelCfg(
    name="physnet", arch="physnet", paper=PAPER, code_url=TOOLBOX_URL,
    description=("PhysNet as released in rPPG-Toolbox (PhysNet_padding_Encoder_Decoder_MAX, frames 128): "
                 "768,577 parameters; recipe of configs/train_configs/PURE_PURE_UBFC-rPPG_PHYSNET_BASIC.yaml "
                 "(Adam + OneCycle 9e-3, 30 epochs, batch 4, per-clip negative Pearson)."),
    clip_len=128, extra_frames=0, frame_size=72, input_view="diffnormalized", label_view="diffnormalized",
    fps=30.0, channels=3, loss="neg_pearson", loss_kwargs={"pearson_axis": "time"},
    optimizer={"name": "adam", "lr": 9e-3, "weight_decay": 0.0}, scheduler=dict(_ONECYCLE), epochs=30,
    batch_size=4, published_params=768_577,
    weights=("rPPG-Toolbox release, not fetched: " + TOOLBOX_URL + " final_model_release/"
             "{PURE,UBFC-rPPG,SCAMPS,BP4D_PseudoLabel}_PhysNet_DiffNormalized.pth, MA-UBFC_physnet.pth "
             "(bare state dicts)"),
)


@register_model(_BASE)
def physnet(cfg: ModelCfg, **kwargs: Any) -> PhysNet:
    """The rPPG-Toolbox PhysNet (768,577 parameters)."""
    return build_model(PhysNet, cfg, kwargs)


@register_model(_BASE.replace(
    name="physnet.tiny", clip_len=32, frame_size=32, batch_size=2, epochs=1, tiny=True, published_params=None,
    weights=None, description="Tiny PhysNet for tests: the same code path with widths (4, 8, 8), 32x32x32 clips."))
def physnet_tiny(cfg: ModelCfg, **kwargs: Any) -> PhysNet:
    """Small, fast PhysNet (widths 4/8/8) for tests and smoke runs."""
    return build_model(PhysNet, cfg, kwargs, widths=(4, 8, 8))
