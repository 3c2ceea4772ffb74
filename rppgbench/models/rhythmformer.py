"""RhythmFormer: a hierarchical temporal periodic transformer with periodic sparse (routing) attention.

Zou, B., Guo, Z., Chen, J., Zhuo, J., Huang, W., & Ma, H. (2025). *RhythmFormer: Extracting Patterned rPPG
Signals based on Periodic Sparse Attention.* Pattern Recognition (arXiv 2402.12788, 2024). rPPG-Toolbox
implementation: ``neural_methods/model/RhythmFormer.py`` (class ``RhythmFormer()`` with its defaults,
https://github.com/ubicomplab/rPPG-Toolbox).

Structure (paper), with the sizes of the released configuration:

* **fusion stem** (per frame, 2-D): a raw-frame stem (5x5 conv, stride 2 -> BN -> ReLU -> 3x3 max pool, stride 2)
  and a difference stem on the four differences of the frames t-2 .. t+2 (edges repeated; 12 channels), fused
  as ``a * stem21(a * raw + b * diff) + b * stem22(diff)`` with a = b = 0.5; 64 channels at H/4 x W/4;
* **patch embedding**: a (1, 4, 4) conv with stride (1, 4, 4) -> 64 x T x H/16 x W/16 (8 x 8 at 128 x 128);
* **three TPT stages** (temporal scales t_patch 2, 4, 8): log2(t_patch) temporal halvings (BN -> (2,1,1) conv
  with stride 2), two transformer blocks, and as many upsamplings (nearest x2 in time -> (3,1,1) conv -> BN -> ELU);
* **block**: ``x + attn(BN(x))`` then ``x + mlp(BN(x))``; the MLP is 1x1 conv -> BN -> GELU -> 3x3x3 conv -> BN ->
  GELU -> 1x1 conv -> BN with ratio 1.5;
* **periodic sparse attention** (bi-level routing attention of BiFormer in space-time): q and k from a temporal
  centre-difference 3x3x3 conv (theta 0.2, PhysFormer's CDC_T) + BN, v from a 1x1 conv; the map is cut into
  regions of (max(4 // t_patch, 1), H'/4, W'/4); each query region attends, token to token, to the ``topk = 40``
  regions whose mean query and mean key have the largest dot product; a depthwise 3x3x3 conv of v is added
  (LePE) and a 1x1 conv projects the result;
* **head**: spatial mean, then a 1x1 Conv1d to one value per frame.

Facts of the release kept here (``tests/spec/RhythmFormer.txt``): the 416 state-dict entries
(3,326,017 parameters) with their names; the attention scale is ``dim ** -0.5`` with dim the block width (64),
not the head width; the routing score is computed exactly as released (average pooling of the detached q and k
per region, a matrix product, ``torch.topk``) because near-ties would otherwise select other regions; each block
registers a ``qkv_linear`` 1x1 conv that its forward never uses. Choices here: those ``qkv_linear`` weights are
kept so that released checkpoints load strictly, but frozen (``requires_grad=False``: they never receive a
gradient in the toolbox either, so AdamW never changes them); the frame count and frame size are checked up front
(``T`` a multiple of ``2 ** 3``, enough regions for ``topk``; ``H = W`` a multiple of 16 whose routing grid
divides evenly) instead of failing inside a reshape.

Contract, as rPPG-Toolbox's trainer ``test()`` feeds it: ``N x 160 x 3 x 128 x 128`` Standardized frames,
frames before channels (layout ``ntchw``); output ``N x 160``, which the trainer z-normalises per row
(``output_norm="zscore"``, applied by :func:`rppgbench.training.predict_recordings`). Training defaults
(rPPG-Toolbox ``configs/train_configs/PURE_PURE_UBFC-rPPG_RHYTHMFORMER_BASIC.yaml`` and
``neural_methods/trainer/RhythmFormerTrainer.py``): loss ``0.2 * (1 - Pearson) + CE(PSD)`` on per-clip z-scored
predictions (the toolbox's third term, its HR loss, is identically 0; see ``training/losses.py``), AdamW lr 9e-3
with weight decay 0, OneCycleLR (max_lr 9e-3) stepped per batch, 30 epochs, batch 4; the toolbox tests the epoch
of lowest validation loss (``USE_LAST_EPOCH: False``), which a protocol sets with ``selection: best``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rppgbench.models._base import ContractMixin, build_model
from rppgbench.models._factory import ModelCfg, register_model
from rppgbench.models._tdc import CDCT

__all__ = ["RhythmFormer", "rhythmformer", "rhythmformer_tiny", "frame_differences_ntchw"]

PAPER = ("Zou B, Guo Z, Chen J, Zhuo J, Huang W, Ma H. RhythmFormer: Extracting Patterned rPPG Signals based on "
         "Periodic Sparse Attention. Pattern Recognition 2025 (arXiv 2402.12788)")
CODE_URL = "https://github.com/ubicomplab/rPPG-Toolbox"


def frame_differences_ntchw(x: torch.Tensor) -> torch.Tensor:
    """(N, D, C, H, W) -> (N, D, 4C, H, W): ``[f(t-1)-f(t-2), f(t)-f(t-1), f(t+1)-f(t), f(t+2)-f(t+1)]`` with the
    frame index clamped to the clip (its first and last frames repeated)."""
    d = x.shape[1]
    t = torch.arange(d, device=x.device)
    f = [x[:, (t + s).clamp(0, d - 1)] for s in (-2, -1, 0, 1, 2)]
    return torch.cat([f[i + 1] - f[i] for i in range(4)], dim=2)


class FusionStem(nn.Module):
    """The per-frame fusion stem (keys ``stem11``, ``stem12``, ``stem21``, ``stem22``); (N, D, C, H, W) ->
    (N*D, width, H/4, W/4)."""

    def __init__(self, channels: int = 3, width: int = 64, alpha: float = 0.5, beta: float = 0.5) -> None:
        super().__init__()

        def down(cin: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, width, 5, stride=2, padding=2), nn.BatchNorm2d(width),
                                 nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2, padding=1))

        def same() -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True))

        self.stem11 = down(channels)
        self.stem12 = down(4 * channels)
        self.stem21 = same()
        self.stem22 = same()
        self.alpha, self.beta = float(alpha), float(beta)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, d, c, h, w = x.shape
        diff = self.stem12(frame_differences_ntchw(x).reshape(n * d, 4 * c, h, w))
        raw = self.stem11(x.reshape(n * d, c, h, w))
        a, b = self.alpha, self.beta
        return a * self.stem21(a * raw + b * diff) + b * self.stem22(diff)


def _to_regions(x: torch.Tensor, region: tuple[int, int, int], heads: int) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, heads, regions, tokens per region, C / heads), regions in (t, h, w) order."""
    b, c, t, h, w = x.shape
    rt, rh, rw = region
    x = x.view(b, heads, c // heads, t // rt, rt, h // rh, rh, w // rw, rw)
    return x.permute(0, 1, 3, 5, 7, 4, 6, 8, 2).reshape(b, heads, -1, rt * rh * rw, c // heads)


def _from_regions(x: torch.Tensor, shape: torch.Size, region: tuple[int, int, int]) -> torch.Tensor:
    """Inverse of :func:`_to_regions` for an output of ``shape`` (B, C, T, H, W)."""
    b, heads, _, _, d = x.shape
    _, c, t, h, w = shape
    rt, rh, rw = region
    x = x.reshape(b, heads, t // rt, h // rh, w // rw, rt, rh, rw, d)
    return x.permute(0, 1, 8, 2, 5, 3, 6, 4, 7).reshape(b, heads * d, t, h, w)


class RoutingAttention(nn.Module):
    """Periodic sparse attention: region-level routing to the ``topk`` best regions, then token attention."""

    def __init__(self, dim: int, num_heads: int, t_patch: int, topk: int, side_dwconv: int = 3) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"RhythmFormer: width {dim} must be divisible by the number of heads {num_heads}")
        self.num_heads, self.t_patch, self.topk = int(num_heads), int(t_patch), int(topk)
        self.scale = dim ** -0.5  # the block width, as released (not the head width)
        self.lepe = nn.Conv3d(dim, dim, side_dwconv, padding=side_dwconv // 2, groups=dim)
        self.qkv_linear = nn.Conv3d(dim, 3 * dim, 1)  # registered but unused, as released (frozen here)
        self.qkv_linear.requires_grad_(False)
        self.output_linear = nn.Conv3d(dim, dim, 1)
        self.proj_q = nn.Sequential(CDCT(dim, dim, theta=0.2), nn.BatchNorm3d(dim))
        self.proj_k = nn.Sequential(CDCT(dim, dim, theta=0.2), nn.BatchNorm3d(dim))
        self.proj_v = nn.Sequential(nn.Conv3d(dim, dim, 1, bias=False))

    def region_size(self, h: int, w: int) -> tuple[int, int, int]:
        return max(4 // self.t_patch, 1), h // 4, w // 4

    def route(self, q: torch.Tensor, k: torch.Tensor, region: tuple[int, int, int]) -> torch.Tensor:
        """Indices (B, regions, topk) of the key regions each query region attends to."""
        q_r = F.avg_pool3d(q.detach(), kernel_size=region, ceil_mode=True, count_include_pad=False)
        k_r = F.avg_pool3d(k.detach(), kernel_size=region, ceil_mode=True, count_include_pad=False)
        score = q_r.permute(0, 2, 3, 4, 1).flatten(1, 3) @ k_r.flatten(2, 4)
        return torch.topk(score, k=self.topk, dim=-1).indices

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        region = self.region_size(x.shape[3], x.shape[4])
        q, k, v = self.proj_q(x), self.proj_k(x), self.proj_v(x)
        idx = self.route(q, k, region)
        qs, ks, vs = (_to_regions(z, region, self.num_heads) for z in (q, k, v))
        b, m, n_reg, tokens, d = ks.shape
        batch = torch.arange(b, device=x.device)[:, None, None]

        def gather(s: torch.Tensor) -> torch.Tensor:  # (B, m, R, r, d) -> (B, m, R, topk * r, d)
            picked = s.permute(0, 2, 1, 3, 4)[batch, idx]  # (B, R, topk, m, r, d)
            return picked.permute(0, 3, 1, 2, 4, 5).reshape(b, m, n_reg, self.topk * tokens, d)

        attn = torch.softmax((qs * self.scale) @ gather(ks).transpose(-1, -2), dim=-1)
        out = _from_regions(attn @ gather(vs), x.shape, region)
        return self.output_linear(out + self.lepe(v))


class DropPath(nn.Module):
    """Stochastic depth per sample (identity at rate 0 and in eval mode)."""

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = float(rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.rate == 0.0 or not self.training:
            return x
        keep = 1.0 - self.rate
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class Block(nn.Module):
    """``x + attn(BN(x))``, ``x + mlp(BN(x))`` (keys ``norm1``, ``attn``, ``norm2``, ``mlp``)."""

    def __init__(self, dim: int, num_heads: int, t_patch: int, topk: int, mlp_ratio: float, side_dwconv: int,
                 drop_path: float) -> None:
        super().__init__()
        hidden = int(mlp_ratio * dim)
        self.norm1 = nn.BatchNorm3d(dim)
        self.attn = RoutingAttention(dim, num_heads, t_patch, topk, side_dwconv)
        self.norm2 = nn.BatchNorm3d(dim)
        self.mlp = nn.Sequential(nn.Conv3d(dim, hidden, 1), nn.BatchNorm3d(hidden), nn.GELU(),
                                 nn.Conv3d(hidden, hidden, 3, padding=1), nn.BatchNorm3d(hidden), nn.GELU(),
                                 nn.Conv3d(hidden, dim, 1), nn.BatchNorm3d(dim))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class TPTStage(nn.Module):
    """Temporal halvings, transformer blocks, temporal doublings (keys ``downsample_layers``,
    ``upsample_layers``, ``blocks``)."""

    def __init__(self, dim: int, depth: int, num_heads: int, t_patch: int, topk: int, mlp_ratio: float,
                 side_dwconv: int, drop_path: Sequence[float]) -> None:
        super().__init__()
        levels = int(t_patch).bit_length() - 1
        if 1 << levels != t_patch:
            raise ValueError(f"RhythmFormer: t_patch must be a power of two; got {t_patch}")
        self.downsample_layers = nn.ModuleList(
            nn.Sequential(nn.BatchNorm3d(dim), nn.Conv3d(dim, dim, (2, 1, 1), stride=(2, 1, 1))) for _ in range(levels))
        self.upsample_layers = nn.ModuleList(
            nn.Sequential(nn.Upsample(scale_factor=(2, 1, 1)), nn.Conv3d(dim, dim, (3, 1, 1), padding=(1, 0, 0)),
                          nn.BatchNorm3d(dim), nn.ELU()) for _ in range(levels))
        self.blocks = nn.ModuleList(Block(dim, num_heads, t_patch, topk, mlp_ratio, side_dwconv, drop_path[i])
                                    for i in range(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.downsample_layers:
            x = layer(x)
        for blk in self.blocks:
            x = blk(x)
        for layer in self.upsample_layers:
            x = layer(x)
        return x


class RhythmFormer(ContractMixin, nn.Module):
    """RhythmFormer on ``N x T x C x H x W`` frames (frames before channels); returns ``N x T``.

    Parameters
    ----------
    clip_len : int | None
        Checked, not fixed: any ``T`` that is a multiple of ``2 ** log2(max(t_patchs))`` (8) and gives every stage
        at least ``topk`` regions works (the released 160-frame clips; at 128 x 128 at least 24 frames).
    frame_size : int
        ``H = W``; a multiple of 16 whose H/16 map divides into 4 x 4 routing regions (128 released, 64 works).
    channels : int
        Colour channels (3).
    stem_width, dim : int
        Fusion-stem and transformer widths (64, 64).
    head_dim : int
        Width per attention head (16: 4 heads).
    depth, t_patchs, topks : sequences, one entry per stage
        Blocks per stage (2, 2, 2), temporal scales (2, 4, 8) and routed regions (40, 40, 40).
    mlp_ratio : float
        MLP width ratio (1.5).
    side_dwconv : int
        Kernel of the depthwise LePE conv (3).
    drop_path_rate : float
        Largest stochastic-depth rate, linearly increasing over the blocks (0 released).
    fusion_alpha, fusion_beta : float
        Fusion-stem weights (0.5, 0.5).
    """

    layout = "ntchw"

    def __init__(self, clip_len: int | None = 160, frame_size: int | None = 128, channels: int = 3,
                 stem_width: int = 64, dim: int = 64, head_dim: int = 16, depth: Sequence[int] = (2, 2, 2),
                 t_patchs: Sequence[int] = (2, 4, 8), topks: Sequence[int] = (40, 40, 40), mlp_ratio: float = 1.5,
                 side_dwconv: int = 3, drop_path_rate: float = 0.0, fusion_alpha: float = 0.5,
                 fusion_beta: float = 0.5) -> None:
        super().__init__()
        if not len(depth) == len(t_patchs) == len(topks):
            raise ValueError(f"RhythmFormer: depth, t_patchs and topks need one entry per stage; got {depth}, "
                             f"{t_patchs}, {topks}")
        if frame_size is not None:
            self._check_side(int(frame_size))
        self.t_patchs, self.topks = tuple(int(t) for t in t_patchs), tuple(int(k) for k in topks)
        self.stem_width = int(stem_width)
        self.contract = (None, channels, frame_size, frame_size)
        self.small_input = (self.min_frames(64), 64)  # the smallest side the routing grid allows
        if clip_len is not None:
            self._check_frames(int(clip_len), int(frame_size or 128), "clip_len")
        self.Fusion_Stem = FusionStem(channels, stem_width, fusion_alpha, fusion_beta)
        self.patch_embedding = nn.Conv3d(stem_width, dim, (1, 4, 4), stride=(1, 4, 4))
        self.ConvBlockLast = nn.Conv1d(dim, 1, 1)
        rates = torch.linspace(0, drop_path_rate, sum(depth)).tolist()
        self.stages = nn.ModuleList()
        for i, (n, tp, k) in enumerate(zip(depth, self.t_patchs, self.topks, strict=True)):
            first = sum(depth[:i])
            self.stages.append(TPTStage(dim, n, dim // head_dim, tp, k, mlp_ratio, side_dwconv,
                                        rates[first:first + n]))

    @staticmethod
    def _check_side(side: int) -> None:
        m = side // 16
        if side % 16 or m < 4 or m % (m // 4):
            raise ValueError(f"RhythmFormer: frame_size must be a multiple of 16 whose H/16 feature map splits into "
                             f"4 x 4 routing regions (64, 128, ...); got {side}")

    def _regions(self, frames: int, side: int) -> list[int]:
        m = side // 16
        per_t = (m // (m // 4)) ** 2
        return [frames // tp // max(4 // tp, 1) * per_t for tp in self.t_patchs]

    def min_frames(self, side: int) -> int:
        """The shortest clip every stage can route (a multiple of the largest temporal scale)."""
        step = max(max(self.t_patchs), 4)
        t = step
        while any(r < k for r, k in zip(self._regions(t, side), self.topks, strict=True)):
            t += step
        return t

    def _check_frames(self, t: int, side: int, what: str = "the number of frames") -> None:
        step = max(max(self.t_patchs), 4)
        if t % step or any(r < k for r, k in zip(self._regions(t, side), self.topks, strict=True)):
            raise ValueError(f"RhythmFormer: {what} must be a multiple of {step} and at least "
                             f"{self.min_frames(side)} (so that every stage has topk={max(self.topks)} regions to "
                             f"route to); got {t}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        n, t, _, h, w = x.shape
        if h != w:
            raise ValueError(f"RhythmFormer: frames must be square; got {h} x {w}")
        self._check_side(h)
        self._check_frames(t, h)
        f = self.Fusion_Stem(x)
        f = f.view(n, t, self.stem_width, h // 4, w // 4).permute(0, 2, 1, 3, 4)
        f = self.patch_embedding(f)
        for stage in self.stages:
            f = stage(f)
        return self.ConvBlockLast(f.mean(3).mean(3)).squeeze(1)


_LOSS_KWARGS = {"alpha": 0.2, "lam": 1.0, "theta": 1.0, "hr_kl": "none", "zscore_mode": "sample"}
_ADAMW = {"name": "adamw", "lr": 9e-3, "weight_decay": 0.0}
_ONECYCLE = {"name": "onecycle", "max_lr": 9e-3, "pct_start": 0.3, "anneal_strategy": "cos", "div_factor": 25.0,
             "final_div_factor": 1e4, "cycle_momentum": True}

_BASE = ModelCfg(
    name="rhythmformer", arch="rhythmformer", paper=PAPER, code_url=CODE_URL,
    description=("RhythmFormer as in rPPG-Toolbox: 3,326,017 parameters, keys of its released checkpoints. "
                 "Standardized frames before channels; each predicted clip is z-scored, as the toolbox tests it. "
                 "Loss 0.2*(1-Pearson) + CE of the PSD (the RhythmFormer trainer's effective loss)."),
    clip_len=160, extra_frames=0, frame_size=128, input_view="standardized", label_view="standardized",
    fps=30.0, channels=3, layout="ntchw", frame_multiple=8, output_norm="zscore",
    loss="physfsunet_hybrid", loss_kwargs=_LOSS_KWARGS, optimizer=_ADAMW, scheduler=_ONECYCLE, epochs=30,
    batch_size=4, published_params=3_326_017,
    weights=("rPPG-Toolbox release, not fetched: " + CODE_URL + " final_model_release/"
             "{PURE,UBFC-rPPG}_RhythmFormer.pth (DataParallel state dicts; absent from the public snapshot)"),
)


@register_model(_BASE)
def rhythmformer(cfg: ModelCfg, **kwargs: Any) -> RhythmFormer:
    """RhythmFormer at the toolbox's size (3,326,017 parameters)."""
    return build_model(RhythmFormer, cfg, kwargs)


@register_model(_BASE.replace(
    name="rhythmformer.tiny", clip_len=32, frame_size=64, epochs=1, batch_size=2, tiny=True, published_params=None,
    weights=None, description=("Tiny RhythmFormer for tests: the same code path, widths 16, 2 heads, one block per "
                               "stage, topk 8, 64x64 frames, 32-frame clips.")))
def rhythmformer_tiny(cfg: ModelCfg, **kwargs: Any) -> RhythmFormer:
    """A narrow RhythmFormer (stem and blocks 16 wide, 2 heads, 1 block per stage, topk 8)."""
    return build_model(RhythmFormer, cfg, kwargs, stem_width=16, dim=16, head_dim=8, depth=(1, 1, 1),
                       topks=(8, 8, 8))
