"""A bidirectional Mamba block with a pure-PyTorch selective scan (runs on CPU; no compiled kernel needed).

Gu & Dao, *Mamba: Linear-Time Sequence Modeling with Selective State Spaces* (arXiv 2312.00752), and the
bidirectional variant of Vision Mamba (Zhu et al., ICML 2024) that PhysMamba uses: one input projection
``in_proj`` (no bias) to ``x`` and the gate ``z``; for each direction a causal depthwise convolution
(``conv1d`` / ``conv1d_b``, width ``d_conv``) + SiLU, a projection ``x_proj`` / ``x_proj_b`` to the step size
(rank ``dt_rank``) and the input-dependent ``B`` and ``C`` (``d_state`` each), ``dt_proj`` / ``dt_proj_b`` and
the selective scan with ``A = -exp(A_log)`` / ``-exp(A_b_log)`` and skip ``D`` / ``D_b``, gated by ``silu(z)``;
the backward direction runs on the reversed sequence and is reversed back; the two outputs are **summed** and
projected by the shared ``out_proj`` (no bias). Key names, shapes and ``state_dict()`` order are those of the
``mamba_ssm.Mamba(..., bimamba=True)`` that rPPG-Toolbox vendors (tools/mamba), so its checkpoints load.

:func:`selective_scan` computes, per batch b, channel d and state n,
``h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t``, ``y_t = C_t . h_t + D u_t``, then ``y * silu(z)``, with
``delta = softplus(delta + delta_bias)``. It runs exactly that recurrence (no approximation, stable for any step
size), vectorised: the sequence is cut into ``nb`` blocks of ``K ~ sqrt(L)`` steps; one pass of ``K`` steps over
all blocks at once gives each block's end state from zero and its decay product, a pass over the ``nb`` blocks
carries the states across block boundaries, and a second pass of ``K`` steps from the carried start states
gives the outputs. Python iterations ~3 sqrt(L) instead of L, memory of a few ``(B, d, nb, n)`` tensors. When the
compiled ``mamba_ssm`` kernel is importable and the tensors are on CUDA, :class:`BiMamba` uses
``mamba_ssm.ops.selective_scan_interface.selective_scan_fn`` instead (same arguments and result up to
floating-point rounding).
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["BiMamba", "selective_scan", "compiled_scan"]


def selective_scan(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
                   D: torch.Tensor | None = None, z: torch.Tensor | None = None,
                   delta_bias: torch.Tensor | None = None, delta_softplus: bool = True) -> torch.Tensor:
    """The selective scan in float32 (module docstring).

    Shapes: ``u``, ``delta``, ``z`` (batch, d, L); ``A`` (d, n) real; ``B``, ``C`` (batch, n, L) or
    (batch, 1, n, L); ``D``, ``delta_bias`` (d,). Returns (batch, d, L) in ``u``'s dtype.
    """
    dtype = u.dtype
    u, delta, A = u.float(), delta.float(), A.float()
    B, C = (m.float().reshape(m.shape[0], m.shape[-2], m.shape[-1]) for m in (B, C))
    if delta_bias is not None:
        delta = delta + delta_bias.float()[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    batch, dim, length = u.shape
    k_len = math.isqrt(max(length - 1, 0)) + 1  # steps per block
    nb = -(-length // k_len)
    pad = nb * k_len - length  # padded steps have delta 0 and u 0: they leave the state alone

    def blocks(t: torch.Tensor) -> torch.Tensor:  # (..., L) -> (..., nb, K)
        return F.pad(t, (0, pad)).reshape(*t.shape[:-1], nb, k_len)

    # per-step slices (unbind: one gradient stack in backward instead of a zero-filled tensor per step)
    dl, du = blocks(delta)[..., None].unbind(-2), blocks(delta * u)[..., None].unbind(-2)  # K x (batch, d, nb, 1)
    bb = blocks(B).permute(0, 2, 3, 1)[:, None].unbind(3)  # K x (batch, 1, nb, n)
    cb = blocks(C).permute(0, 2, 3, 1)[:, None].unbind(3)
    a_ = A[None, :, None, :]  # (1, d, 1, n)

    def step(k: int, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        decay = torch.exp(dl[k] * a_)  # (batch, d, nb, n)
        return torch.addcmul(decay * h, du[k], bb[k]), decay

    h = u.new_zeros(batch, dim, nb, A.shape[1])
    prod = torch.ones_like(h)
    for k in range(k_len):  # each block from a zero state: its end state and its total decay
        h, decay = step(k, h)
        prod = prod * decay
    carry, starts = u.new_zeros(batch, dim, A.shape[1]), []
    for j in range(nb):  # the true state at the start of every block
        starts.append(carry)
        carry = prod[:, :, j] * carry + h[:, :, j]
    h = torch.stack(starts, dim=2)
    ys = []
    for k in range(k_len):  # again from the true start states, reading out y
        h, _ = step(k, h)
        ys.append((h * cb[k]).sum(-1))
    y = torch.stack(ys, dim=-1).reshape(batch, dim, nb * k_len)[..., :length]
    if D is not None:
        y = y + u * D.float()[:, None]
    if z is not None:
        y = y * F.silu(z.float())
    return y.to(dtype)


def compiled_scan() -> Any:
    """``mamba_ssm``'s compiled ``selective_scan_fn`` when it is installed, else None."""
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn  # type: ignore[import-not-found]
    except Exception:  # not installed, or installed without its CUDA extension
        return None
    return selective_scan_fn


class BiMamba(nn.Module):
    """Bidirectional Mamba block (module docstring) on ``(B, L, d_model)`` tokens.

    ``use_kernel`` (default True) lets CUDA inputs use the compiled scan when :func:`compiled_scan` finds it;
    CPU inputs always use :func:`selective_scan`.
    """

    def __init__(self, d_model: int, d_state: int = 16, d_conv: int = 4, expand: int = 2,
                 use_kernel: bool = True) -> None:
        super().__init__()
        self.d_model, self.d_state, self.d_conv = d_model, d_state, d_conv
        self.d_inner = int(expand * d_model)
        self.dt_rank = math.ceil(d_model / 16)
        self.use_kernel = bool(use_kernel)
        di, n = self.d_inner, d_state
        a_log = torch.log(torch.arange(1, n + 1, dtype=torch.float32)).repeat(di, 1)  # S4D-real init: A = -(1..n)
        self.A_log = nn.Parameter(a_log.clone())
        self.D = nn.Parameter(torch.ones(di))
        self.A_b_log = nn.Parameter(a_log.clone())
        self.D_b = nn.Parameter(torch.ones(di))
        self.in_proj = nn.Linear(d_model, 2 * di, bias=False)
        self.conv1d = nn.Conv1d(di, di, d_conv, groups=di, padding=d_conv - 1)
        self.x_proj = nn.Linear(di, self.dt_rank + 2 * n, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, di)
        self.conv1d_b = nn.Conv1d(di, di, d_conv, groups=di, padding=d_conv - 1)
        self.x_proj_b = nn.Linear(di, self.dt_rank + 2 * n, bias=False)
        self.dt_proj_b = nn.Linear(self.dt_rank, di)
        self.out_proj = nn.Linear(di, d_model, bias=False)
        self._init_dt()

    def _init_dt(self, dt_min: float = 1e-3, dt_max: float = 0.1, floor: float = 1e-4) -> None:
        """Mamba's step-size init: ``dt_proj`` weight U(+-dt_rank^-0.5), bias = softplus^-1 of a log-uniform
        step in [dt_min, dt_max]."""
        with torch.no_grad():
            for proj in (self.dt_proj, self.dt_proj_b):
                bound = self.dt_rank ** -0.5
                nn.init.uniform_(proj.weight, -bound, bound)
                dt = torch.exp(torch.rand(self.d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
                dt = dt.clamp(min=floor)
                proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))

    def _direction(self, x: torch.Tensor, z: torch.Tensor, conv: nn.Conv1d, x_proj: nn.Linear, dt_proj: nn.Linear,
                   a_log: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """One direction on ``x``, ``z`` (batch, d_inner, L) -> (batch, d_inner, L)."""
        length = x.shape[-1]
        x = F.silu(conv(x)[..., :length])  # causal depthwise convolution
        dbc = x_proj(x.transpose(1, 2))  # (batch, L, dt_rank + 2n)
        dt, b, c = torch.split(dbc, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.linear(dt, dt_proj.weight).transpose(1, 2)  # bias is added inside the scan
        b, c = b.transpose(1, 2).contiguous(), c.transpose(1, 2).contiguous()
        a = -torch.exp(a_log.float())
        scan = compiled_scan() if (self.use_kernel and x.is_cuda) else None
        if scan is not None:
            return scan(x.contiguous(), delta.contiguous(), a, b, c, d.float(), z=z.contiguous(),
                        delta_bias=dt_proj.bias.float(), delta_softplus=True)
        return selective_scan(x, delta, a, b, c, d, z=z, delta_bias=dt_proj.bias, delta_softplus=True)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        xz = self.in_proj(tokens).transpose(1, 2)  # (batch, 2 d_inner, L)
        x, z = xz.chunk(2, dim=1)
        fwd = self._direction(x, z, self.conv1d, self.x_proj, self.dt_proj, self.A_log, self.D)
        bwd = self._direction(x.flip(-1), z.flip(-1), self.conv1d_b, self.x_proj_b, self.dt_proj_b, self.A_b_log,
                              self.D_b).flip(-1)
        return self.out_proj((fwd + bwd).transpose(1, 2))
