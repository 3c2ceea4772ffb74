"""Temporal centre-difference 3-D convolution (CDC_T), shared by PhysFormer, PhysMamba and RhythmFormer.

Yu et al. (PhysFormer, CVPR 2022, eq. 1; from their CDC work): a 3-D convolution whose output is combined with
a temporal-difference term, ``y = conv(x) - theta * conv_1x1x1(x, k)``, where ``k`` sums the kernel over its first
and last temporal taps and all spatial taps (the bias, when there is one, enters both terms, as released).
Equivalently each neighbour in the previous and next frame contributes ``w * (x_neighbour - theta * x_centre)``:
theta 0 is a plain convolution, theta 1 sees only the temporal differences. The module holds one ``Conv3d`` under
``conv`` (the released key ``....conv.weight``).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["CDCT"]


class CDCT(nn.Module):
    """Temporal centre-difference Conv3d (stride 1; ``theta`` in [0, 1]; a temporal kernel of 1 is a plain conv)."""

    def __init__(self, cin: int, cout: int, kernel_size: int = 3, padding: int = 1, bias: bool = False,
                 theta: float = 0.7) -> None:
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, kernel_size, stride=1, padding=padding, bias=bias)
        self.theta = float(theta)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        w = self.conv.weight
        if self.theta == 0.0 or w.shape[2] <= 1:
            return out
        taps = w[:, :, 0].sum(2).sum(2) + w[:, :, -1].sum(2).sum(2)  # summed in the released order (H, then W)
        return out - self.theta * F.conv3d(x, taps[:, :, None, None, None], self.conv.bias)
