"""Building blocks of PHASE-Net (Zhao et al., CVPR 2026, arXiv 2509.24850): spatial/temporal mixers, the
efficient spatio-temporal (EST) block, the adaptive spatial filter (ASF), the gated TCN, the GRU regressor
and the training-only latent decoder.

Attribute names follow the authors' released code (https://github.com/Alex036225/PhaseNet) so that state-dict
keys match the released model definition (the key list is in ``tests/_spec_keys.py``); see
:mod:`rppgbench.models.phasenet` for what is reproduced and what is reconstructed from the paper.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from rppgbench._checks import check_option, check_range

__all__ = ["TIM", "ZAS", "block_transpose", "SELayer", "ESTBlock", "SpatialAttentionHead", "GatedTemporalBlock",
           "GatedTCN", "Decoder1D", "SequenceRegressor", "make_mixer", "MIXERS", "instance_norm_relu_",
           "conv3d_cl"]

MIXERS = ("tim_bugcompat", "tim", "zas")

#: bytes of one chunk in :func:`instance_norm_relu_` (a few MB: stays in the last-level cache)
_CHUNK_BYTES = 4 << 20


def conv3d_cl(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
              padding: tuple[int, ...] = (0, 0, 0), groups: int = 1) -> torch.Tensor:
    """Stride-1 ``conv3d`` of a channels-last-3d tensor, result channels-last-3d (inference helper).

    Calls oneDNN directly when PyTorch has it: ``F.conv3d`` sends 1x1-in-space kernels to the slow native
    kernel when running on one thread, and that kernel returns a contiguous (channels-first) result."""
    if torch.backends.mkldnn.is_available() and x.dtype == torch.float32:
        return torch.mkldnn_convolution(x, weight, bias, list(padding), [1, 1, 1], [1, 1, 1], groups)
    out = F.conv3d(x, weight, bias, padding=padding, groups=groups)
    return out.contiguous(memory_format=torch.channels_last_3d)


def instance_norm_relu_(x: torch.Tensor, relu: bool = True, eps: float = 1e-5,
                        want_mean: bool = False) -> torch.Tensor | None:
    """In place ``x <- relu(instance_norm(x))`` (``relu=False``: the norm only) for a **channels-last-3d** tensor.

    Inference helper of the fast CPU path (no autograd). ``F.instance_norm`` on a channels-last tensor is slow
    and each full-size temporary costs page faults, so this works on cache-sized chunks of the
    ``(T*H*W, C)`` view: one read pass for the statistics (shifted by the first chunk's mean, sums in float64),
    one read-write pass to apply them. The biased variance and ``eps`` are those of ``nn.InstanceNorm3d``.
    With ``want_mean`` the per-sample channel means of the result, ``B x C`` (float32), are returned (the
    squeeze-excitation input, gathered during the apply pass).
    """
    if not x.is_contiguous(memory_format=torch.channels_last_3d) or x.ndim != 5:
        raise ValueError("instance_norm_relu_: needs a 5-D channels_last_3d tensor")
    b_, c_ = x.shape[:2]
    n = x[0, 0].numel()
    rows = max(_CHUNK_BYTES // (4 * c_), 1)
    means = torch.zeros(b_, c_, dtype=torch.float64) if want_mean else None
    for b in range(b_):
        x2 = x[b].permute(1, 2, 3, 0).view(n, c_)  # a view: channels are the fastest axis
        shift = x2[:rows].mean(0)
        s = torch.zeros(c_, dtype=torch.float64)
        ss = torch.zeros(c_, dtype=torch.float64)
        for i in range(0, n, rows):
            d = x2[i:i + rows] - shift
            s += d.sum(0)
            ss += d.square_().sum(0)
        dm = s / n
        var = (ss / n - dm * dm).clamp_min(0.0)
        scale = torch.rsqrt(var + eps)
        bias = (-(dm + shift.double()) * scale).float()
        scale = scale.float()
        for i in range(0, n, rows):
            c = x2[i:i + rows]
            torch.addcmul(bias, c, scale, out=c)
            if relu:
                c.relu_()
            if means is not None:
                means[b] += c.sum(0)
    return None if means is None else (means / n).float()


class TIM(nn.Module):
    """Temporal interlace with zero padding (the released mixer; no parameters, no FLOPs).

    Channels ``[0, f)`` take frame ``t+1`` (zero at the last frame), channels ``[f, f+p)`` take frame ``t-1``
    (zero at the first frame), the rest pass unchanged; ``f = int(C * future)``, ``p = int(C * past)``.

    With ``bugcompat=True`` the released behaviour is kept: its "past" copy writes to an empty slice, so
    channels ``[f, f+p)`` come out **all zero**. The released checkpoints were trained that way.
    """

    def __init__(self, channels: int, future: float = 1 / 8, past: float = 1 / 8, bugcompat: bool = True) -> None:
        super().__init__()
        self.f = max(int(channels * future), 0)
        self.p = max(int(channels * past), 0)
        self.bugcompat = bool(bugcompat)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f, p = self.f, self.p
        t = x.shape[2]
        if f + p == 0 or t == 1:
            return x
        out = torch.zeros_like(x)
        out[:, f + p:] = x[:, f + p:]
        if f > 0:
            out[:, :f, :-1] = x[:, :f, 1:]
        if p > 0 and not self.bugcompat:
            out[:, f:f + p, 1:] = x[:, f:f + p, :-1]
        return out

    def forward_(self, x: torch.Tensor) -> torch.Tensor:
        """The same mixing in place (inference only): overwrites and returns ``x``."""
        f, p = self.f, self.p
        if f + p == 0 or x.shape[2] == 1:
            return x
        past = x[:, f:f + p, :-1].clone() if p > 0 and not self.bugcompat else None
        if f > 0:
            x[:, :f, :-1] = x[:, :f, 1:].clone()
            x[:, :f, -1] = 0
        if p > 0:
            if past is None:
                x[:, f:f + p] = 0
            else:
                x[:, f:f + p, 1:] = past
                x[:, f:f + p, 0] = 0
        return x

    def extra_repr(self) -> str:
        return f"future={self.f}, past={self.p}, bugcompat={self.bugcompat}"


def block_transpose(x: torch.Tensor, block: int) -> torch.Tensor:
    """Cut the last two axes (H, W with H == W) into square blocks of side ``block`` and transpose every
    block in place (swap its row and column index). A pure permutation: self-inverse and norm-preserving."""
    *lead, h, w = x.shape
    if h != w or h % block:
        raise ValueError(f"block_transpose: needs square maps whose side is divisible by the block side {block}; "
                         f"got H x W = {h} x {w}")
    n = h // block
    y = x.reshape(*lead, n, block, n, block)
    k = len(lead)
    # axes (..., i, r, j, c) -> (..., i, c, j, r)
    perm = list(range(k)) + [k, k + 3, k + 2, k + 1]
    return y.permute(*perm).reshape(x.shape)


class ZAS(nn.Module):
    """Zero-FLOPs Axial Swapper (RECONSTRUCTED from the paper text; no implementation is published).

    On the last ``k = floor(p * C)`` channels of ``B x C x T x H x W``, the ``H x W`` map is cut into blocks
    and each block is transposed in place; the other channels pass unchanged. ``layout="grid"`` (default)
    cuts a ``b x b`` grid of equal blocks of side ``H/b`` (mixes distant facial regions, the paper's intent);
    ``layout="tiles"`` transposes ``b x b``-pixel tiles. Zero parameters, self-inverse, norm-preserving.
    """

    def __init__(self, channels: int, p: float = 0.25, b: int = 2, layout: str = "grid") -> None:
        super().__init__()
        check_range("zas_p", p, 0.0, 1.0)
        check_range("zas_b", b, 1, None)
        check_option("zas_layout", layout, ("grid", "tiles"))
        self.k = int(p * channels)
        self.b = int(b)
        self.layout = layout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.k == 0:
            return x
        h = x.shape[-1]
        if self.layout == "grid":
            if h % self.b:
                raise ValueError(f"ZAS: the map side {h} must be divisible by the grid size zas_b={self.b}")
            block = h // self.b
        else:
            block = self.b
        c = x.shape[1]
        return torch.cat([x[:, :c - self.k], block_transpose(x[:, c - self.k:], block)], dim=1)

    def extra_repr(self) -> str:
        return f"k={self.k}, b={self.b}, layout={self.layout!r}"


def make_mixer(kind: str, channels: int, zas_p: float = 0.25, zas_b: int = 2, zas_layout: str = "grid") -> nn.Module:
    """The spatial/temporal mixer placed after ``stage1`` of every EST block."""
    check_option("mixer", kind, MIXERS)
    if kind == "zas":
        return ZAS(channels, zas_p, zas_b, zas_layout)
    return TIM(channels, bugcompat=(kind == "tim_bugcompat"))


class SELayer(nn.Module):
    """Squeeze-and-excitation over channels (Hu et al., CVPR 2018); convs without bias, reduction 4."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        self.fc = nn.Sequential(
            nn.Conv3d(channels, channels // reduction, kernel_size=1, bias=False),
            nn.ReLU(),
            nn.Conv3d(channels // reduction, channels, kernel_size=1, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(F.adaptive_avg_pool3d(x, 1))


class ESTBlock(nn.Module):
    """Efficient spatio-temporal block: 1x1x1 expand -> mixer -> depthwise (1,3,3) -> depthwise (3,1,1) -> SE
    -> 1x1x1 project (IN, no ReLU) [+ residual when widths match] -> MaxPool (1,2,2)."""

    def __init__(self, in_ch: int, out_ch: int, expand: int = 4, mixer: nn.Module | None = None,
                 temporal_kernel: int = 3) -> None:
        super().__init__()
        hid = in_ch * expand
        self.use_residual = in_ch == out_ch
        self.stage1 = nn.Sequential(nn.Conv3d(in_ch, hid, 1, bias=False), nn.InstanceNorm3d(hid), nn.ReLU())
        self.tsm = mixer if mixer is not None else nn.Identity()
        self.stage2 = nn.Sequential(nn.Conv3d(hid, hid, (1, 3, 3), padding=(0, 1, 1), groups=hid, bias=False),
                                    nn.InstanceNorm3d(hid), nn.ReLU())
        self.stage3 = nn.Sequential(nn.Conv3d(hid, hid, (temporal_kernel, 1, 1), padding=(temporal_kernel // 2, 0, 0),
                                              groups=hid, bias=False),
                                    nn.InstanceNorm3d(hid), nn.ReLU())
        self.se = SELayer(hid)
        self.proj = nn.Sequential(nn.Conv3d(hid, out_ch, 1, bias=False), nn.InstanceNorm3d(out_ch))
        self.pool = nn.MaxPool3d((1, 2, 2), stride=(1, 2, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.proj(self.se(self.stage3(self.stage2(self.tsm(self.stage1(x))))))
        return self.pool(y + x if self.use_residual else y)

    def forward_fast(self, x: torch.Tensor) -> torch.Tensor:
        """The same function for inference on CPU (no autograd): channels-last-3d convolutions, instance norm,
        ReLU and the mixer in place (:func:`instance_norm_relu_`), and the squeeze-excitation scale folded into
        the projection weights. ``x`` must be channels_last_3d; so is the result."""
        y = conv3d_cl(x, self.stage1[0].weight)
        instance_norm_relu_(y)
        y = self.tsm.forward_(y) if isinstance(self.tsm, TIM) else self.tsm(y)
        y = y.contiguous(memory_format=torch.channels_last_3d)
        conv = self.stage2[0]
        y = conv3d_cl(y, conv.weight, padding=conv.padding, groups=conv.groups)
        instance_norm_relu_(y)
        conv = self.stage3[0]
        y = conv3d_cl(y, conv.weight, padding=conv.padding, groups=conv.groups)
        pooled = instance_norm_relu_(y, want_mean=True)
        b, c = pooled.shape
        scale = self.se.fc(pooled.view(b, c, 1, 1, 1))  # B x C x 1 x 1 x 1
        w = self.proj[0].weight
        if b == 1:  # proj(y * s) == (W diag(s)) y: no pass over y for the excitation
            y = conv3d_cl(y, w * scale.view(1, c, 1, 1, 1))
        else:
            y = conv3d_cl(y.mul_(scale), w)
        instance_norm_relu_(y, relu=False)
        if self.use_residual:
            y += x
        return F.max_pool3d(y, self.pool.kernel_size, self.pool.stride)


class SpatialAttentionHead(nn.Module):
    """Adaptive spatial filter mask: per frame, conv 3x3 C -> C/2 (+bias), ReLU, conv 3x3 C/2 -> 1 (+bias),
    softmax over the H*W positions. Returns ``B x 1 x T x H x W`` weights summing to 1 per frame."""

    def __init__(self, channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.attention_conv = nn.Sequential(
            nn.Conv2d(channels, channels // 2, kernel_size, padding=pad), nn.ReLU(),
            nn.Conv2d(channels // 2, 1, kernel_size, padding=pad))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        logits = self.attention_conv(x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w))
        weights = F.softmax(logits.reshape(b * t, 1, h * w), dim=2)
        return weights.reshape(b, t, 1, h, w).permute(0, 2, 1, 3, 4)


class GatedTemporalBlock(nn.Module):
    """``relu(dropout(tanh(Wl * x) * sigmoid(Wg * x)) + residual)`` with weight-normed dilated Conv1d.

    ``padding="symmetric"`` pads ``(k-1)d/2`` on both sides (released, non-causal); ``"causal"`` pads
    ``(k-1)d`` on the left only (the paper's causal TCN). The residual is a 1x1 conv when widths differ.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, dilation: int = 1, dropout: float = 0.2,
                 padding: str = "symmetric") -> None:
        super().__init__()
        check_option("tcn_padding", padding, ("symmetric", "causal"))
        self.causal_pad = (kernel_size - 1) * dilation if padding == "causal" else 0
        sym = 0 if padding == "causal" else (kernel_size - 1) * dilation // 2
        self.conv_linear = weight_norm(nn.Conv1d(in_ch, out_ch, kernel_size, padding=sym, dilation=dilation))
        self.conv_gate = weight_norm(nn.Conv1d(in_ch, out_ch, kernel_size, padding=sym, dilation=dilation))
        self.dropout = nn.Dropout(dropout)
        self.downsample = nn.Conv1d(in_ch, out_ch, 1) if in_ch != out_ch else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xp = F.pad(x, (self.causal_pad, 0)) if self.causal_pad else x
        out = self.dropout(torch.tanh(self.conv_linear(xp)) * torch.sigmoid(self.conv_gate(xp)))
        res = x if self.downsample is None else self.downsample(x)
        return F.relu(out + res)


class GatedTCN(nn.Module):
    """Stack of gated blocks with dilation ``2**i`` and a final 1x1 conv; ``(B, T, F_in) -> (B, T, F_out)``."""

    def __init__(self, in_size: int, out_size: int, channels: list[int], kernel_size: int = 3,
                 dropout: float = 0.2, padding: str = "symmetric") -> None:
        super().__init__()
        blocks = []
        for i, ch in enumerate(channels):
            blocks.append(GatedTemporalBlock(in_size if i == 0 else channels[i - 1], ch, kernel_size, 2 ** i,
                                             dropout, padding))
        self.network = nn.Sequential(*blocks)
        self.final_conv = nn.Conv1d(channels[-1], out_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_conv(self.network(x.transpose(1, 2))).transpose(1, 2)


class Decoder1D(nn.Module):
    """Training-only decoder of the latent code back to a feature vector (released ``Decoder1D``)."""

    def __init__(self, latent_dim: int = 32, feature_dim: int = 128, start_len: int = 8, num_blocks: int = 3) -> None:
        super().__init__()
        self.start_channels = max(feature_dim // (2 ** (num_blocks - 1)), 1)
        self.start_len = start_len
        self.initial_dense = nn.Sequential(nn.Linear(latent_dim, self.start_channels * start_len), nn.ReLU())
        layers: list[nn.Module] = []
        ch = self.start_channels
        for _ in range(num_blocks):
            layers += [nn.ConvTranspose1d(ch, ch * 2, 4, 2, 1), nn.InstanceNorm1d(ch * 2), nn.ReLU()]
            ch *= 2
        layers.append(nn.Conv1d(ch, ch, kernel_size=3, padding=1))
        self.deconv = nn.Sequential(*layers)
        self.final_fc = nn.Linear(start_len * 2 ** num_blocks * ch, feature_dim)

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        x = self.initial_dense(c).reshape(-1, self.start_channels, self.start_len)
        return self.final_fc(self.deconv(x).flatten(1))


class SequenceRegressor(nn.Module):
    """2-layer unidirectional GRU, then Linear -> ReLU -> Linear to one value per frame."""

    def __init__(self, feature_dim: int, hidden_dim: int = 64) -> None:
        super().__init__()
        self.gru = nn.GRU(feature_dim, hidden_dim, num_layers=2, batch_first=True)
        self.head = nn.Sequential(nn.Linear(hidden_dim, 32), nn.ReLU(), nn.Linear(32, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(z)
        return self.head(out).squeeze(-1)
