"""PhysMamba: a SlowFast network of temporal-difference Mamba blocks.

Luo, C., Xie, Y., & Yu, Z. (2024). *PhysMamba: Efficient Remote Physiological Measurement with SlowFast
Temporal Difference Mamba.* CCBR 2024 (arXiv 2409.12031). Re-implemented from the paper and from the key/shape
list of rPPG-Toolbox's ``PhysMamba`` (shared/spec/checkpoints/PhysMamba.txt), so that the toolbox's
checkpoints (``final_model_release/{PURE,UBFC-rPPG}_PhysMamba_DiffNormalized.pth``, ``module.`` keys) load
strictly. The toolbox needs the compiled CUDA package ``mamba_ssm``; here the Mamba blocks use a pure-PyTorch
selective scan (:mod:`rppgbench.models._mamba`), so the released weights run on CPU.

From the paper: a PhysNet-like stem (1x5x5, then two 3x3x3 convolutions, 2x2 spatial poolings), a slow stream
(temporal stride 4, 64 channels) and a fast stream (stride 2, 32 channels) of three temporal-difference Mamba
blocks each (CDC_T 3x3x3 conv with theta 0.5 + BN + ReLU, a bidirectional Mamba over all T*H*W tokens, channel
attention), lateral fast->slow connections after the first two blocks, upsampling of the slow stream, fusion,
temporal upsampling and spatial average pooling to the rPPG. From the release: the exact modules and key names;
each Mamba layer is LayerNorm -> bidirectional Mamba (d_state 16, d_conv 4, expand 2; forward and backward
scans summed) -> residual -> LayerNorm; channel attention = sigmoid(MLP(avg pool) + MLP(max pool)) with a
1x1x1-conv MLP of reduction 2 and no biases; the lateral connection is a 3x1x1 stride-2 temporal conv + BN +
ReLU added to the slow stream; dropout 0.25 after the first block pair and 0.5 after the others; ELU on the
fast stream's last conv and the upsamplers; initialisation of the Mamba layers' Linear weights with a
truncated normal (std 0.02) and zero biases (which also zeroes the step-size bias, as the release does).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from rppgbench.models._base import ContractMixin, build_model
from rppgbench.models._factory import ModelCfg, register_model
from rppgbench.models._mamba import BiMamba
from rppgbench.models._tdc import CDCT

__all__ = ["PhysMamba", "MambaLayer", "physmamba", "physmamba_tiny"]

PAPER = ("Luo C, Xie Y, Yu Z. PhysMamba: Efficient Remote Physiological Measurement with SlowFast Temporal "
         "Difference Mamba. CCBR 2024 (arXiv 2409.12031)")
TOOLBOX_URL = "https://github.com/ubicomplab/rPPG-Toolbox"


class ChannelAttention3D(nn.Module):
    """``x * sigmoid(fc(avgpool x) + fc(maxpool x))``; ``fc`` = 1x1x1 conv C -> C/r -> ReLU -> C (no biases)."""

    def __init__(self, channels: int, reduction: int = 2) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.Conv3d(channels, channels // reduction, 1, bias=False), nn.ReLU(),
                                nn.Conv3d(channels // reduction, channels, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        att = self.fc(F.adaptive_avg_pool3d(x, 1)) + self.fc(F.adaptive_max_pool3d(x, 1))
        return x * torch.sigmoid(att)


class MambaLayer(nn.Module):
    """``norm2(x + BiMamba(norm1(x)))`` on the ``T*H*W`` tokens of a ``(B, C, T, H, W)`` volume."""

    def __init__(self, dim: int, d_state: int = 16, d_conv: int = 4, expand: int = 2) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mamba = BiMamba(dim, d_state=d_state, d_conv=d_conv, expand=expand)
        for m in self.modules():  # the release re-initialises every Linear of the layer (dt_proj included)
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        b, c = x.shape[:2]
        tokens = x.reshape(b, c, -1).transpose(1, 2)  # (B, T*H*W, C), tokens in t, h, w order
        out = self.norm2(tokens + self.mamba(self.norm1(tokens)))
        return out.transpose(1, 2).reshape(x.shape)


class LateralConnection(nn.Module):
    """Fast -> slow: 3x1x1 temporal conv with stride 2 + BN + ReLU, added to the slow stream."""

    def __init__(self, fast: int, slow: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv3d(fast, slow, (3, 1, 1), stride=(2, 1, 1), padding=(1, 0, 0)),
                                  nn.BatchNorm3d(slow), nn.ReLU())

    def forward(self, slow: torch.Tensor, fast: torch.Tensor) -> torch.Tensor:
        return self.conv(fast) + slow


def _conv(cin: int, cout: int, kernel: Sequence[int], stride: Sequence[int], padding: Sequence[int],
          act: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(cin, cout, tuple(kernel), tuple(stride), tuple(padding)), nn.BatchNorm3d(cout),
                         act(inplace=True))


def _td_mamba_block(c: int, theta: float) -> nn.Sequential:
    """CDC_T -> BN -> ReLU -> MambaLayer -> channel attention (keys ``0.conv``, ``1``, ``3``, ``4``)."""
    return nn.Sequential(CDCT(c, c, 3, 1, bias=False, theta=theta), nn.BatchNorm3d(c), nn.ReLU(), MambaLayer(c),
                         ChannelAttention3D(c, 2))


def _upsampler(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Upsample(scale_factor=(2, 1, 1)), nn.Conv3d(cin, cout, (3, 1, 1), 1, (1, 0, 0)),
                         nn.BatchNorm3d(cout), nn.ELU())


class PhysMamba(ContractMixin, nn.Module):
    """PhysMamba (toolbox ``PhysMamba()``).

    Parameters
    ----------
    clip_len : int
        Frames T (128 released; a multiple of 4, as the slow stream has stride 4).
    frame_size : int
        Square input side (128 released; a multiple of 16).
    channels : int
        Input channels (3).
    theta : float
        CDC_T weight (0.5).
    drop_rate1, drop_rate2 : float
        Dropout after the first block pair (0.25) and after the others (0.5).
    stem : (int, int)
        Widths of the first two stem convolutions (16, 32).
    slow, fast : int
        Widths of the slow (64) and fast (32) streams; the fused head has ``(slow + fast) / 2`` channels.

    Input ``(B, C, T, H, W)`` DiffNormalized frames; output ``(B, T)``.
    """

    def __init__(self, clip_len: int | None = 128, frame_size: int | None = 128, channels: int = 3,
                 theta: float = 0.5, drop_rate1: float = 0.25, drop_rate2: float = 0.5,
                 stem: Sequence[int] = (16, 32), slow: int = 64, fast: int = 32) -> None:
        super().__init__()
        if clip_len is not None and clip_len % 4:
            raise ValueError(f"PhysMamba: clip_len must be a multiple of 4 (slow stream stride 4); got {clip_len}")
        if frame_size is not None and frame_size % 16:
            raise ValueError(f"PhysMamba: frame_size must be a multiple of 16 (four 2x spatial poolings); "
                             f"got {frame_size}")
        if (slow + fast) % 2:
            raise ValueError(f"PhysMamba: slow + fast must be even (the head has (slow + fast) / 2 channels); "
                             f"got {slow} + {fast}")
        s1, s2 = (int(w) for w in stem)
        self.contract = (channels, clip_len, frame_size, frame_size)
        self.small_input = (8, 16)
        self.ConvBlock1 = _conv(channels, s1, (1, 5, 5), (1, 1, 1), (0, 2, 2))
        self.ConvBlock2 = _conv(s1, s2, (3, 3, 3), (1, 1, 1), (1, 1, 1))
        self.ConvBlock3 = _conv(s2, slow, (3, 3, 3), (1, 1, 1), (1, 1, 1))
        self.ConvBlock4 = _conv(slow, slow, (4, 1, 1), (4, 1, 1), (0, 0, 0))
        self.ConvBlock5 = _conv(slow, fast, (2, 1, 1), (2, 1, 1), (0, 0, 0))
        self.ConvBlock6 = _conv(fast, fast, (3, 1, 1), (1, 1, 1), (1, 0, 0), act=nn.ELU)
        self.Block1 = _td_mamba_block(slow, theta)
        self.Block2 = _td_mamba_block(slow, theta)
        self.Block3 = _td_mamba_block(slow, theta)
        self.Block4 = _td_mamba_block(fast, theta)
        self.Block5 = _td_mamba_block(fast, theta)
        self.Block6 = _td_mamba_block(fast, theta)
        self.upsample1 = _upsampler(slow, slow)
        self.upsample2 = _upsampler(slow + fast, (slow + fast) // 2)
        self.ConvBlockLast = nn.Conv3d((slow + fast) // 2, 1, 1)
        self.MaxpoolSpa = nn.MaxPool3d((1, 2, 2), stride=(1, 2, 2))
        self.fuse_1 = LateralConnection(fast, slow)
        self.fuse_2 = LateralConnection(fast, slow)
        self.drop_1, self.drop_2 = nn.Dropout(drop_rate1), nn.Dropout(drop_rate1)
        self.drop_3, self.drop_4 = nn.Dropout(drop_rate2), nn.Dropout(drop_rate2)
        self.drop_5, self.drop_6 = nn.Dropout(drop_rate2), nn.Dropout(drop_rate2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        b, t = x.shape[0], x.shape[2]
        h = self.MaxpoolSpa(self.ConvBlock1(x))
        h = self.MaxpoolSpa(self.ConvBlock3(self.ConvBlock2(h)))
        s, f = self.ConvBlock4(h), self.ConvBlock5(h)  # slow (T/4) and fast (T/2) streams
        s = self.drop_1(self.MaxpoolSpa(self.Block1(s)))
        f = self.drop_2(self.MaxpoolSpa(self.Block4(f)))
        s = self.fuse_1(s, f)
        s = self.drop_3(self.MaxpoolSpa(self.Block2(s)))
        f = self.drop_4(self.MaxpoolSpa(self.Block5(f)))
        s = self.fuse_2(s, f)
        s = self.drop_5(self.upsample1(self.Block3(s)))
        f = self.drop_6(self.ConvBlock6(self.Block6(f)))
        h = self.upsample2(torch.cat((f, s), dim=1))
        return self.ConvBlockLast(F.adaptive_avg_pool3d(h, (t, 1, 1))).reshape(b, t)


# configs/train_configs/PURE_PURE_UBFC-rPPG_PHYSMAMBA_BASIC.yaml (and UBFC-rPPG_UBFC-rPPG_PURE_PHYSMAMBA.yaml) with
# neural_methods/trainer/PhysMambaTrainer.py: Adam(lr 3e-3, weight decay 5e-4), OneCycleLR(max_lr 3e-3, PyTorch
# defaults) per batch, 20 epochs, batch 4, last epoch; loss = PhysNet's per-clip negative Pearson on the
# per-clip z-scored output.
_ONECYCLE = {"name": "onecycle", "max_lr": 3e-3, "pct_start": 0.3, "anneal_strategy": "cos", "div_factor": 25.0,
             "final_div_factor": 1e4, "cycle_momentum": True}

_BASE = ModelCfg(
    name="physmamba", arch="physmamba", paper=PAPER, code_url=TOOLBOX_URL,
    description=("PhysMamba as released in rPPG-Toolbox (PhysMamba(), bidirectional Mamba with a pure-PyTorch "
                 "selective scan): 728,769 parameters; recipe of configs/train_configs/"
                 "PURE_PURE_UBFC-rPPG_PHYSMAMBA_BASIC.yaml (Adam 3e-3, wd 5e-4, OneCycle, 20 epochs, batch 4, "
                 "per-clip negative Pearson)."),
    clip_len=128, extra_frames=0, frame_size=128, input_view="diffnormalized", label_view="diffnormalized",
    fps=30.0, channels=3, loss="neg_pearson", loss_kwargs={"pearson_axis": "time"},
    optimizer={"name": "adam", "lr": 3e-3, "weight_decay": 5e-4}, scheduler=dict(_ONECYCLE), epochs=20,
    batch_size=4, published_params=728_769,
    weights=("rPPG-Toolbox release, not fetched: " + TOOLBOX_URL + " final_model_release/"
             "{PURE,UBFC-rPPG}_PhysMamba_DiffNormalized.pth (DataParallel state dicts)"),
)


@register_model(_BASE)
def physmamba(cfg: ModelCfg, **kwargs: Any) -> PhysMamba:
    """The rPPG-Toolbox PhysMamba (728,769 parameters)."""
    return build_model(PhysMamba, cfg, kwargs)


@register_model(_BASE.replace(
    name="physmamba.tiny", clip_len=32, frame_size=32, batch_size=2, epochs=1, tiny=True, published_params=None,
    weights=None, description=("Tiny PhysMamba for tests: the same code path with stem (4, 8), slow 8 and fast 4 "
                               "channels, dropout 0.1, 32 x 32 x 32 clips.")))
def physmamba_tiny(cfg: ModelCfg, **kwargs: Any) -> PhysMamba:
    """Small, fast PhysMamba (slow 8, fast 4 channels) for tests and smoke runs. Dropout 0.1 everywhere: the
    release's 0.25 / 0.5 on 4-8 channels make a 10-step loss curve mostly noise."""
    return build_model(PhysMamba, cfg, kwargs, stem=(4, 8), slow=8, fast=4, drop_rate1=0.1, drop_rate2=0.1)
