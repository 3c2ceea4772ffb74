"""FSAM, the Factorized Self-Attention Module of FactorizePhys (Joshi, Agaian & Cho, NeurIPS 2024).

FSAM turns a non-negative 3-D feature volume into a low-rank "attention" with a few steps of non-negative
matrix factorisation (NMF; Lee & Seung, Nature 1999), used as a global context block in the spirit of
"Is attention better than matrix decomposition?" (Geng et al., ICLR 2021). This module reproduces the
semantics of the authors' released implementation (rPPG-Toolbox = official repository), which differ from a
literal reading of the paper in ways that matter for the released weights:

* the feature volume ``B x C x T x H x W`` is turned into ``B`` matrices of ``T x (C*H*W)`` by a plain
  ``view`` of the C,T,H,W memory order, **without a permute**: row ``r`` of a matrix holds channel
  ``r // (T/C)``'s values at ``T/C`` consecutive frames, not frame ``r`` over all channels;
* the bases start as all-ones columns normalised along M (a fresh start every forward, no buffer); the
  coefficients start as a softmax over the rank axis of ``V^T W`` (all ones at rank 1);
* ``md_steps`` multiplicative updates run without gradient, then one more coefficient update runs with
  gradient (the one-step gradient of Geng et al.), so gradient reaches the input only through that update;
* the approximation error ``||V - W H^T||_F`` over the whole batch is returned (it is logged, never a loss).

Module keys match the released checkpoints: ``pre_conv_block.0`` (1x1x1 conv with bias, then ReLU),
``post_conv_block.0.conv`` (1x1x1 conv without bias, then ReLU) and ``post_conv_block.1`` (1x1x1 conv
without bias). FSAM holds 328 parameters for 16 -> 8 -> 16 channels.
"""
from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import nn

from rppgbench._checks import check_range

__all__ = ["FSAM", "nmf_bases_init", "nmf_multiplicative", "to_matrix", "from_matrix"]

_EPS = 1e-6


def to_matrix(x: torch.Tensor) -> torch.Tensor:
    """``B x C x T x H x W`` -> ``B x T x (C*H*W)`` by a plain view (the released code's "T_KAB" transform
    with S = 1; no permute, see the module docstring)."""
    b, c, t, h, w = x.shape
    return x.reshape(b, t, c * h * w)


def from_matrix(m: torch.Tensor, shape: torch.Size | tuple[int, ...]) -> torch.Tensor:
    """Inverse of :func:`to_matrix` (a view back to ``shape``)."""
    return m.reshape(shape)


def nmf_bases_init(batch: int, m: int, rank: int, *, device: torch.device | None = None,
                   dtype: torch.dtype | None = None) -> torch.Tensor:
    """The released initial bases: all ones, L2-normalised along M (every entry ``1/sqrt(m)``)."""
    return F.normalize(torch.ones(batch, m, rank, device=device, dtype=dtype), dim=1)


def _update_coef(v: torch.Tensor, w: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    # H <- H * (V^T W) / (H W^T W + eps);  v (B,M,N), w (B,M,R), h (B,N,R)
    return h * torch.bmm(v.transpose(1, 2), w) / (h.bmm(w.transpose(1, 2).bmm(w)) + _EPS)


def _update_bases(v: torch.Tensor, w: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    # W <- W * (V H) / (W H^T H + eps)
    return w * torch.bmm(v, h) / (w.bmm(h.transpose(1, 2).bmm(h)) + _EPS)


def nmf_multiplicative(v: torch.Tensor, rank: int = 1, steps: int = 4, inv_t: float = 1.0
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Factorise non-negative ``v`` (B x M x N) as ``W H^T`` with the released FSAM schedule.

    ``steps`` Lee-Seung updates of H then W run under ``torch.no_grad``; one final H update runs with
    gradient. Returns ``(W (B,M,R), H (B,N,R))``; ``W`` carries no gradient.
    """
    w = nmf_bases_init(v.shape[0], v.shape[1], rank, device=v.device, dtype=v.dtype)
    with torch.no_grad():
        h = F.softmax(inv_t * torch.bmm(v.transpose(1, 2), w), dim=-1)
        for _ in range(steps):
            h = _update_coef(v, w, h)
            w = _update_bases(v, w, h)
    h = _update_coef(v, w, h)
    return w, h


class _ConvReLU3d(nn.Module):
    """1x1x1 conv (no bias) + ReLU; the key ``conv`` matches the released ``ConvBNReLU`` wrapper (its norm is off)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(in_ch, out_ch, kernel_size=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(x))


class FSAM(nn.Module):
    """Factorized Self-Attention Module (NMF variant, 3-D).

    Parameters
    ----------
    channels : int
        Channels of the input volume (16 in FactorizePhys).
    align_channels : int
        Channels of the factorised volume (``channels // 2`` = 8 in FactorizePhys).
    md_steps : int
        No-gradient multiplicative update steps (released default 4; the PURE configs use 3).
    rank : int
        Rank R of the factorisation (1 in every released configuration).

    ``forward(x)`` expects a **non-negative** volume (FactorizePhys passes ``E - E.min()``) and returns
    ``(attention B x channels x T x H x W, appx_error scalar)``.
    """

    def __init__(self, channels: int = 16, align_channels: int = 8, md_steps: int = 4, rank: int = 1) -> None:
        super().__init__()
        check_range("md_steps", md_steps, 0, None)
        check_range("rank", rank, 1, None)
        self.md_steps = int(md_steps)
        self.rank = int(rank)
        self.pre_conv_block = nn.Sequential(nn.Conv3d(channels, align_channels, kernel_size=1, bias=True),
                                            nn.ReLU())
        self.post_conv_block = nn.Sequential(_ConvReLU3d(align_channels, align_channels),
                                             nn.Conv3d(align_channels, channels, kernel_size=1, bias=False))
        for m in self.modules():  # the released init: N(0, sqrt(2 / (k^3 * out_channels))) for conv weights
            if isinstance(m, nn.Conv3d):
                fan = m.kernel_size[0] * m.kernel_size[1] * m.kernel_size[2] * m.out_channels
                with torch.no_grad():
                    m.weight.normal_(0.0, math.sqrt(2.0 / fan))

    def factorize(self, v3d: torch.Tensor) -> torch.Tensor:
        """Rank-R NMF approximation of a non-negative volume, returned in the volume's shape."""
        # always float32: under fp16 autocast the products V H (sums over C*H*W) can overflow; the authors
        # trained in float32
        dev = v3d.device.type  # autocast knows no "meta" (the MAC counter runs models there)
        with torch.autocast(device_type=dev, enabled=False) if dev != "meta" else contextlib.nullcontext():
            v = to_matrix(v3d.float())
            w, h = nmf_multiplicative(v, rank=self.rank, steps=self.md_steps)
            return from_matrix(torch.bmm(w, h.transpose(1, 2)), v3d.shape)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v3d = self.pre_conv_block(x)
        approx = self.factorize(v3d)
        appx_error = torch.dist(v3d.float(), approx)
        return self.post_conv_block(approx), appx_error
