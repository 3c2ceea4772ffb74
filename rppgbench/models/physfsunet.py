"""physFSUNet: 3D CNN with differential-frame fusion stem, STAS blocks and an upsampling decoder.

Paper: K. Cen, C.-H. Fu, H. Hong, "Robust and Generalizable Heart Rate Estimation via Deep Learning for Remote
Photoplethysmography in Complex Scenarios", arXiv:2507.07795 (2025). No code or weights were released.

**This module is a reconstruction.** What the paper fixes (FROM-PAPER):

* the differential frame fusion (eq. 3): four differences of the frames shifted by -2..+2 (12 channels),
  Stem11 (raw) / Stem12 (diff) "5x5, stride 1, padding 2" conv + BN + ReLU, Stem21 / Stem22 "3x3" conv + BN
  + ReLU, fused as ``I_stem = a*Stem21(I_raw) + b*Stem22(a*I_raw + b*I_diff)``;
* STAS blocks made of temporal-shift (TSM) 3D convolutions, the EfficientPhys attention mask
  (1x1 conv -> sigmoid -> ``H*W*s / (2*||s||_1)``), max spatial / spatio-temporal pooling and dropout;
* an upsampling decoder with an MLP head ("UDF"), 831K parameters, the hybrid loss
  (:func:`rppgbench.training.losses.physfsunet_hybrid`), AdamW lr 9e-3, weight decay 0, batch 4, 30 epochs.

What is reconstructed (RECONSTRUCTED; docs/models.md, physFSUNet): the backbone is PhysNet
(Yu et al., BMVC 2019; its ``MaxpoolSpa``/``MaxpoolSpaTem`` match the paper's wording) with ConvBlock1 replaced
by the fusion stem and ConvBlock10 by an MLP; stem width 16; the stem kernels are 5x5x5 cubes (the only
reading that lands within 1 % of 831K: 828,437 parameters, -0.3 %); TSM with fold 1/3 and zero padding
before each conv of a STAS block (channels [0, C/3) take frame t+1, [C/3, 2C/3) frame t-1); one attention
mask per STAS block after its second conv; dropout 0.2; a = b = 0.5 (RhythmFormer's default); MLP
64 -> 256 -> 1 per frame; optional additive skips (off by default, not in the paper). The chunk (160 frames),
crop (128x128), Standardized input/label views and the OneCycle schedule follow the rPPG-Toolbox RhythmFormer
recipe that the paper's training settings match.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from rppgbench.models._base import ContractMixin, build_model
from rppgbench.models._factory import ModelCfg, register_model

__all__ = ["PhysFSUNet", "temporal_shift", "frame_differences", "physfsunet", "physfsunet_tiny"]

_PAPER = ("Cen, Fu, Hong. Robust and Generalizable Heart Rate Estimation via Deep Learning for Remote "
          "Photoplethysmography in Complex Scenarios. arXiv:2507.07795, 2025")


def frame_differences(x: torch.Tensor) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, 4C, T, H, W): ``[D(t-1)-D(t-2), D(t)-D(t-1), D(t+1)-D(t), D(t+2)-D(t+1)]``
    with the frame sequence extended by repeating its first and last frames."""
    padded = torch.cat([x[:, :, :1], x[:, :, :1], x, x[:, :, -1:], x[:, :, -1:]], dim=2)
    t = x.shape[2]
    shifted = [padded[:, :, i:i + t] for i in range(5)]  # frames t-2 .. t+2
    return torch.cat([shifted[i + 1] - shifted[i] for i in range(4)], dim=1)


def temporal_shift(x: torch.Tensor, fold_div: int = 3) -> torch.Tensor:
    """Zero-padded temporal shift of (B, C, T, H, W): channels [0, C/fold_div) take frame t+1,
    [C/fold_div, 2C/fold_div) take frame t-1, the rest are unchanged (Lin et al., TSM, ICCV 2019)."""
    c = x.shape[1]
    fold = c // fold_div
    out = torch.zeros_like(x)
    out[:, :fold, :-1] = x[:, :fold, 1:]
    out[:, fold:2 * fold, 1:] = x[:, fold:2 * fold, :-1]
    out[:, 2 * fold:] = x[:, 2 * fold:]
    return out


def _cbr(cin: int, cout: int, k: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(cin, cout, k, stride=1, padding=k // 2), nn.BatchNorm3d(cout), nn.ReLU(inplace=True))


class AttentionMask(nn.Module):
    """EfficientPhys soft mask: ``sigmoid(conv1x1(x))`` scaled per frame to ``H*W*s / (2*sum(s))``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(channels, 1, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.sigmoid(self.conv(x))
        h, w = s.shape[-2:]
        return s / s.sum(dim=(3, 4), keepdim=True) * (h * w * 0.5)


class STASBlock(nn.Module):
    """TSM -> conv -> TSM -> conv -> attention mask -> max pooling -> dropout."""

    def __init__(self, cin: int, cmid: int, cout: int, pool: tuple[int, int, int] | None, dropout: float) -> None:
        super().__init__()
        self.conv1 = _cbr(cin, cmid, 3)
        self.conv2 = _cbr(cmid, cout, 3)
        self.attn = AttentionMask(cout)
        self.pool = nn.MaxPool3d(pool, stride=pool) if pool is not None else nn.Identity()
        self.drop = nn.Dropout(dropout) if pool is not None and dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(temporal_shift(x))
        x = self.conv2(temporal_shift(x))
        x = x * self.attn(x)
        return self.drop(self.pool(x))


class PhysFSUNet(ContractMixin, nn.Module):
    """physFSUNet (reconstruction; see the module docstring).

    Parameters
    ----------
    clip_len, frame_size : int | None
        Recorded for reference only: the network accepts any ``T`` divisible by 4 and ``H = W`` divisible by 16.
    channels : int
        Colour channels of the input (3).
    stem_channels : int
        Width of the fusion stem (16).
    widths : (int, int)
        STAS1's middle width and the width of every later block (32, 64), as in PhysNet.
    mlp_hidden : int
        Hidden width of the per-frame MLP head (256).
    dropout : float
        Dropout after pooling in STAS1-3 and inside the MLP (0.2).
    fusion_alpha, fusion_beta : float
        Weights a, b of the fusion (eq. 3) (0.5, 0.5).
    skips : bool
        Add the spatially pooled STAS2 / STAS1 outputs to the inputs of the two upsamplers (not in the paper).

    Input ``(B, C, T, H, W)`` with ``T`` divisible by 4 and ``H, W`` by 16; output ``(B, T)``.
    """

    def __init__(self, clip_len: int | None = None, frame_size: int | None = None, channels: int = 3,
                 stem_channels: int = 16, widths: tuple[int, int] = (32, 64),
                 mlp_hidden: int = 256, dropout: float = 0.2, fusion_alpha: float = 0.5, fusion_beta: float = 0.5,
                 skips: bool = False) -> None:
        super().__init__()
        in_channels = int(channels)
        self.clip_len, self.frame_size = clip_len, frame_size
        self.contract = (in_channels, None, None, None)
        s, (w1, w) = stem_channels, widths
        self.fusion_alpha, self.fusion_beta, self.skips = float(fusion_alpha), float(fusion_beta), bool(skips)
        self.stem11 = _cbr(in_channels, s, 5)
        self.stem12 = _cbr(4 * in_channels, s, 5)
        self.stem21 = _cbr(s, s, 3)
        self.stem22 = _cbr(s, s, 3)
        self.stem_pool = nn.MaxPool3d((1, 2, 2), stride=(1, 2, 2))
        self.stas1 = STASBlock(s, w1, w, (2, 2, 2), dropout)
        self.stas2 = STASBlock(w, w, w, (2, 2, 2), dropout)
        self.stas3 = STASBlock(w, w, w, (1, 2, 2), dropout)
        self.stas4 = STASBlock(w, w, w, None, 0.0)
        self.up1 = self._up(w)
        self.up2 = self._up(w)
        self.head = nn.Sequential(nn.Linear(w, mlp_hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                                  nn.Linear(mlp_hidden, 1))

    @staticmethod
    def _up(c: int) -> nn.Sequential:
        return nn.Sequential(nn.ConvTranspose3d(c, c, (4, 1, 1), stride=(2, 1, 1), padding=(1, 0, 0)),
                             nn.BatchNorm3d(c), nn.ELU(inplace=True))

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.fusion_alpha, self.fusion_beta
        raw = self.stem11(x)
        diff = self.stem12(frame_differences(x))
        return a * self.stem21(raw) + b * self.stem22(a * raw + b * diff)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        t = x.shape[2]
        h = self.stem_pool(self.stem(x))
        f1 = self.stas1(h)
        f2 = self.stas2(f1)
        h = self.stas4(self.stas3(f2))
        if self.skips:
            h = h + F.adaptive_avg_pool3d(f2, h.shape[2:])
        h = self.up1(h)
        if self.skips:
            h = h + F.adaptive_avg_pool3d(f1, h.shape[2:])
        h = self.up2(h)
        h = F.adaptive_avg_pool3d(h, (t, 1, 1)).flatten(2).transpose(1, 2)  # (B, T, C)
        return self.head(h).squeeze(-1)


_TRAIN = dict(loss="physfsunet_hybrid", loss_kwargs={"hr_kl": "psd"},
              optimizer={"name": "adamw", "lr": 9e-3, "weight_decay": 0.0},
              scheduler={"name": "onecycle", "max_lr": 9e-3}, epochs=30, batch_size=4)


@register_model(ModelCfg(
    name="physfsunet", arch="physfsunet", paper=_PAPER, code_url="",
    description="Reconstructed physFSUNet (no code released): fusion stem + 4 STAS blocks + upsampling/MLP decoder",
    clip_len=160, frame_size=128, input_view="standardized", label_view="standardized", fps=30.0,
    published_params=831_000, weights="none released", **_TRAIN))
def physfsunet(cfg: ModelCfg, **kwargs: Any) -> PhysFSUNet:
    """physFSUNet at the paper's size (828,437 parameters in this reconstruction; 831K published)."""
    return build_model(PhysFSUNet, cfg, kwargs)


@register_model(ModelCfg(
    name="physfsunet.tiny", arch="physfsunet", paper=_PAPER, tiny=True,
    description="Tiny physFSUNet for tests and CPU smoke runs (same layers, narrow)",
    clip_len=64, frame_size=16, input_view="standardized", label_view="standardized", fps=30.0,
    **{**_TRAIN, "epochs": 2, "optimizer": {"name": "adamw", "lr": 1e-2, "weight_decay": 0.0},
       "scheduler": {"name": "onecycle", "max_lr": 1e-2}}))
def physfsunet_tiny(cfg: ModelCfg, **kwargs: Any) -> PhysFSUNet:
    """A narrow physFSUNet (stem 4, widths 8/8, MLP 16; 22,321 parameters): about 1 s per training step of 4
    clips on a 2-thread CPU (benchmarks/training.py)."""
    return build_model(PhysFSUNet, cfg, kwargs, stem_channels=4, widths=(8, 8), mlp_hidden=16,
                       dropout=0.1)
