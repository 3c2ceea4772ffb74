"""FactorizePhys: a 3-D CNN with the Factorized Self-Attention Module (FSAM).

Joshi, J., Agaian, S. S., & Cho, Y. (2024). *FactorizePhys: Matrix Factorization for Multidimensional
Attention in Remote Physiological Sensing.* NeurIPS 2024. Code: https://github.com/PhysiologicAILab/FactorizePhys
(identical to the copy in rPPG-Toolbox).

This is a module-for-module re-implementation of the released "FSAM_Res" model, so that the authors' released
checkpoints (``final_model_release/*_FactorizePhys_FSAM_Res.pth``, saved from a ``DataParallel`` wrapper,
keys prefixed ``module.``) load with strict key checking. Behaviour kept from the released code:

* input ``B x 3 x (T+1) x 72 x 72`` raw pixels; the model differences along time (``torch.diff``, no
  normalisation by the sum) and instance-normalises each sample and channel, and returns ``B x T``;
* every conv block is Conv3d (no bias) -> Tanh -> InstanceNorm3d; spatial convolutions are "valid", so the
  spatial input must be 71-74 pixels for the head to end at 1 x 1 (72 in every release);
* FSAM (see :mod:`rppgbench.models._fsam`) sees ``E - min(E)`` with **one minimum over the whole batch**;
  the fusion is ``IN((E - min E + b1) * (A - min A + b1))`` with ``b1 = 1`` a constant (the released code
  meant it as a parameter, but on CUDA it was never registered, so the checkpoints have no ``bias1``);
  with ``residual=True`` ("_Res") the head sees ``E + fused``;
* FSAM runs in training; at inference it is **off by default** (the head sees ``E`` directly), as in the
  authors' released test settings, and on with ``fsam_inference=True``. FSAM's parameters are always part of
  the module, so checkpoints load strictly either way.

Training-mode forward returns ``{"bvp": (B, T), "aux_loss": 0, "logs": {"appx_error": ...}}``; the NMF
approximation error is logged only, never added to the loss (as in the authors' trainer).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from rppgbench._checks import check_option, check_range
from rppgbench.models._base import ContractMixin, build_model
from rppgbench.models._factory import ModelCfg, register_model
from rppgbench.models._fsam import FSAM

__all__ = ["FactorizePhys", "checkpoint_filter_fn", "NF"]

#: channel widths of the released model
NF = (8, 12, 16)

PAPER = ("Joshi J, Agaian SS, Cho Y. FactorizePhys: Matrix Factorization for Multidimensional Attention in "
         "Remote Physiological Sensing. NeurIPS 2024")
CODE_URL = "https://github.com/PhysiologicAILab/FactorizePhys"


class ConvBlock3D(nn.Module):
    """Conv3d (no bias, 3x3x3) -> Tanh -> InstanceNorm3d; key ``conv_block_3d.0`` as released."""

    def __init__(self, in_ch: int, out_ch: int, stride: Sequence[int], padding: Sequence[int]) -> None:
        super().__init__()
        self.conv_block_3d = nn.Sequential(
            nn.Conv3d(in_ch, out_ch, kernel_size=3, stride=tuple(stride), padding=tuple(padding), bias=False),
            nn.Tanh(),
            nn.InstanceNorm3d(out_ch),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_block_3d(x)


class FeatureExtractor(nn.Module):
    """Voxel-embedding extractor (keys ``rppg_feature_extractor.FeatureExtractor.{0..7}``)."""

    def __init__(self, in_ch: int, nf: Sequence[int], dropout: float) -> None:
        super().__init__()
        a, b, c = nf
        self.FeatureExtractor = nn.Sequential(
            ConvBlock3D(in_ch, a, (1, 1, 1), (1, 1, 1)),
            ConvBlock3D(a, b, (1, 2, 2), (1, 0, 0)),
            ConvBlock3D(b, b, (1, 1, 1), (1, 0, 0)),
            nn.Dropout3d(dropout),
            ConvBlock3D(b, b, (1, 1, 1), (1, 0, 0)),
            ConvBlock3D(b, c, (1, 2, 2), (1, 0, 0)),
            ConvBlock3D(c, c, (1, 1, 1), (1, 0, 0)),
            nn.Dropout3d(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.FeatureExtractor(x)


class BVPHead(nn.Module):
    """Head with FSAM (keys ``rppg_head.conv_block``, ``.fsam``, ``.final_layer``)."""

    def __init__(self, nf: Sequence[int], dropout: float, md_steps: int, rank: int, residual: bool) -> None:
        super().__init__()
        a, b, c = nf
        self.residual = bool(residual)
        self.conv_block = nn.Sequential(
            ConvBlock3D(c, c, (1, 1, 1), (1, 0, 0)),
            ConvBlock3D(c, c, (1, 1, 1), (1, 0, 0)),
            ConvBlock3D(c, c, (1, 1, 1), (1, 0, 0)),
            nn.Dropout3d(dropout),
        )
        self.fsam = FSAM(c, c // 2, md_steps=md_steps, rank=rank)
        self.fsam_norm = nn.InstanceNorm3d(c)
        # b1: a constant, not a parameter (the released checkpoints contain no bias1; see module docstring)
        self.register_buffer("bias1", torch.tensor(1.0), persistent=False)
        self.final_layer = nn.Sequential(
            ConvBlock3D(c, b, (1, 1, 1), (1, 0, 0)),
            ConvBlock3D(b, a, (1, 1, 1), (1, 0, 0)),
            nn.Conv3d(a, 1, kernel_size=3, stride=1, padding=(1, 0, 0), bias=False),
        )

    def fuse(self, e: torch.Tensor, att: torch.Tensor) -> torch.Tensor:
        """``IN((E - min E + b1) * (A - min A + b1))``, plus ``E`` when residual (global minima)."""
        x = (e - e.min() + self.bias1) * (att - att.min() + self.bias1)
        fused = self.fsam_norm(x)
        return e + fused if self.residual else fused

    def forward(self, voxel_embeddings: torch.Tensor, use_fsam: bool) -> dict[str, Any]:
        return self.from_embeddings(self.conv_block(voxel_embeddings), use_fsam)

    def from_embeddings(self, e: torch.Tensor, use_fsam: bool) -> dict[str, Any]:
        """The head after ``conv_block``: FSAM + fusion (when ``use_fsam``) and ``final_layer`` on ``E``."""
        if use_fsam:
            att, appx_error = self.fsam(e - e.min())
            factorized = self.fuse(e, att)
            out = self.final_layer(factorized)
        else:
            factorized, appx_error = None, None
            out = self.final_layer(e)
        return {"head_input": e, "out": out, "factorized_embeddings": factorized, "appx_error": appx_error}


class FactorizePhys(ContractMixin, nn.Module):
    """FactorizePhys with FSAM (the released "FSAM_Res" configuration by default).

    Parameters
    ----------
    clip_len : int
        Output samples T; the input has T + 1 frames.
    frame_size : int
        Square input side (72 released; the valid convolutions need 71-74).
    channels : int
        1 (thermal / last channel), 3 (RGB) or 4 (RGB + thermal, normalised separately), as released.
    fsam_inference : bool
        Run FSAM in eval mode too (released test settings: off).
    residual : bool
        "_Res" variant: the head sees ``E + fused`` instead of ``fused``.
    md_steps : int
        No-gradient NMF steps (4 = toolbox default and UBFC/iBVP/SCAMPS configs; 3 in the PURE configs).
    rank : int
        NMF rank (1 released).
    dropout : float
        Dropout3d probability (0.1 released).
    nf : tuple of 3 ints
        Channel widths (8, 12, 16 released; the tiny variant uses smaller ones).
    """

    def __init__(self, clip_len: int | None = 160, frame_size: int | None = 72, channels: int = 3,
                 fsam_inference: bool = False, residual: bool = True, md_steps: int = 4, rank: int = 1,
                 dropout: float = 0.1, nf: Sequence[int] = NF) -> None:
        super().__init__()
        check_option("channels", channels, (1, 3, 4))
        check_range("dropout", dropout, 0.0, 1.0)
        if frame_size is not None and not 71 <= frame_size <= 74:
            raise ValueError(f"FactorizePhys: frame_size must be 71-74 so that the valid convolutions end at 1x1 "
                             f"(72 released); got {frame_size}")
        if len(nf) != 3:
            raise ValueError(f"FactorizePhys: nf must hold 3 channel widths; got {nf!r}")
        self.in_channels = channels
        self.fsam_inference = bool(fsam_inference)
        self.contract = (channels, None if clip_len is None else clip_len + 1, frame_size, frame_size)
        self.small_input = (5, frame_size or 72)
        if channels == 4:
            self.rgb_norm = nn.InstanceNorm3d(3)
            self.thermal_norm = nn.InstanceNorm3d(1)
        else:
            self.norm = nn.InstanceNorm3d(channels)
        self.rppg_feature_extractor = FeatureExtractor(channels, nf, dropout)
        self.rppg_head = BVPHead(nf, dropout, md_steps, rank, residual)

    @property
    def use_fsam(self) -> bool:
        """Whether FSAM runs in the current mode (always in training; at eval only with ``fsam_inference``)."""
        return self.training or self.fsam_inference

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """Frame differences along time, then per-sample, per-channel instance normalisation."""
        d = x[:, :, 1:] - x[:, :, :-1]  # torch.diff(x, dim=2) written out (same arithmetic; ONNX-exportable)
        if self.in_channels == 4:
            return torch.cat([self.rgb_norm(d[:, :3]), self.thermal_norm(d[:, -1:])], dim=1)
        return self.norm(d)

    def forward_features(self, x: torch.Tensor) -> dict[str, Any]:
        """All intermediate outputs: ``bvp`` (B,T), ``voxel_embeddings``, ``head_input`` (E),
        ``factorized_embeddings`` and ``appx_error`` (None when FSAM does not run)."""
        self.check_input(x)
        batch, length = x.shape[0], x.shape[2] - 1
        voxel = self.rppg_feature_extractor(self.preprocess(x))
        head = self.rppg_head(voxel, self.use_fsam)
        head["bvp"] = head.pop("out").reshape(batch, length)
        head["voxel_embeddings"] = voxel
        return head

    def forward(self, x: torch.Tensor) -> torch.Tensor | dict[str, Any]:
        feats = self.forward_features(x)
        if not self.training:
            return feats["bvp"]
        err = feats["appx_error"]
        return {"bvp": feats["bvp"], "aux_loss": feats["bvp"].new_zeros(()),
                "logs": {"appx_error": float(err.detach()) if err is not None else float("nan")}}


def checkpoint_filter_fn(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Drop a ``bias1`` entry if present (a CPU-saved copy of the released code registers it; here b1 is a
    constant 1.0 -- the entry is dropped only when it equals 1, otherwise it is kept and reported)."""
    out = dict(state_dict)
    b1 = out.get("rppg_head.bias1")
    if b1 is not None and b1.numel() == 1 and float(b1) == 1.0:
        del out["rppg_head.bias1"]
    return out


_ADAM = {"name": "adam", "lr": 1e-3, "weight_decay": 0.0}
# torch.optim.lr_scheduler.OneCycleLR with PyTorch defaults (pct_start 0.3, cosine, div 25, final_div 1e4,
# cycle_momentum True -> Adam's beta1 cycles 0.95 -> 0.85 -> 0.95), stepped every batch, as the authors' trainer
_ONECYCLE = {"name": "onecycle", "max_lr": 1e-3, "pct_start": 0.3, "anneal_strategy": "cos", "div_factor": 25.0,
             "final_div_factor": 1e4, "cycle_momentum": True}

_BASE = ModelCfg(
    name="factorizephys", arch="factorizephys", paper=PAPER, code_url=CODE_URL,
    description=("FactorizePhys with FSAM, residual ('FSAM_Res'), md_steps 4, rank 1; FSAM off at inference "
                 "(fsam_inference=True turns it on). Loss: toolbox Neg_Pearson over the batch axis, as the "
                 "released weights were trained (loss_kwargs pearson_axis='time' gives the paper's per-clip "
                 "Pearson). 52,168 parameters (= released checkpoints; the poster rounds to 0.05 M)."),
    clip_len=160, extra_frames=1, frame_size=72, input_view="raw", label_view="standardized", fps=30.0,
    channels=3, loss="neg_pearson", loss_kwargs={"pearson_axis": "batch"}, optimizer=dict(_ADAM),
    scheduler=dict(_ONECYCLE), epochs=10, batch_size=4, published_params=52_168,
    weights=("authors' release, not fetched: " + CODE_URL + " final_model_release/"
             "{PURE,UBFC-rPPG,iBVP,SCAMPS}_FactorizePhys_FSAM_Res.pth (DataParallel state dicts)"),
)


@register_model(_BASE)
def factorizephys(cfg: ModelCfg, **kwargs: Any) -> FactorizePhys:
    """The released FactorizePhys FSAM_Res (52,168 parameters)."""
    return build_model(FactorizePhys, cfg, kwargs)


@register_model(_BASE.replace(
    name="factorizephys.nores",
    description="FactorizePhys with FSAM without the residual connection (the paper's 'FSAM' variant).",
    weights=None))
def factorizephys_nores(cfg: ModelCfg, **kwargs: Any) -> FactorizePhys:
    """FactorizePhys with FSAM, head on the fused volume only (no residual)."""
    return build_model(FactorizePhys, cfg, kwargs, residual=False)


@register_model(_BASE.replace(
    name="factorizephys.tiny", clip_len=32, batch_size=2, epochs=1, tiny=True, published_params=None,
    weights=None, loss_kwargs={"pearson_axis": "time"},
    description=("Tiny FactorizePhys for tests: the same code path with channel widths (4, 6, 8) and 32-frame "
                 "clips. The spatial size stays 72 because the valid convolutions need 71-74 pixels.")))
def factorizephys_tiny(cfg: ModelCfg, **kwargs: Any) -> FactorizePhys:
    """Small, fast FactorizePhys (widths 4/6/8, 32 frames) for tests and smoke runs."""
    return build_model(FactorizePhys, cfg, kwargs, nf=(4, 6, 8))
