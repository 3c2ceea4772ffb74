"""PhysFormer: a 3-D CNN stem, a temporal-difference video transformer and a temporal upsampling head.

Yu, Z., Shen, Y., Shi, J., Zhao, H., Torr, P., & Zhao, G. (2022). *PhysFormer: Facial Video-based Physiological
Measurement with Temporal Difference Transformer.* CVPR 2022. Re-implemented from the paper and from the
key/shape list of rPPG-Toolbox's ``ViT_ST_ST_Compact3_TDC_gra_sharp`` (shared/spec/checkpoints/PhysFormer.txt),
so that the toolbox's checkpoints (``final_model_release/*_PhysFormer_DiffNormalized.pth``, saved from
``DataParallel``: ``module.`` keys) load strictly.

From the paper: a shallow stem (Conv 1x5x5 then two 3x3x3, each with BN, ReLU and 2x2 spatial max pooling),
a 4x4x4 tube-token embedding, 12 temporal-difference transformer blocks in three stages (queries and keys from
temporal centre-difference convolutions, :mod:`rppgbench.models._tdc`; values from a 1x1x1 convolution;
attention scores divided by a "gradient sharpness" temperature tau instead of sqrt(d); a spatio-temporal
feed-forward of 1x1x1 conv -> depthwise 3x3x3 conv -> 1x1x1 conv with BN and ELU), two temporal x2 upsamplers
and a 1-D convolution to one channel; dim 96, ff 144, 4 heads, theta 0.7; the label-distribution + frequency
cross-entropy + negative Pearson loss (:func:`rppgbench.training.losses.physformer_loss`).
From the release: the exact modules and key names, LayerNorm eps 1e-6, dropout 0.1 after the attention
softmax and on both residual branches, nearest-neighbour upsampling, Linear init (Xavier uniform, bias
N(0, 1e-6)), tau = 2.0 at training and test (the toolbox trainer's ``gra_sharp``), DiffNormalized 160-frame
128x128 clips.

The release hard-codes a 4 x 4 token grid (so 128 x 128 inputs); here the grid is taken from the embedding's
output (the same at 128 x 128), so the tiny variant can run on smaller frames. ``forward(x)`` returns the
``(B, T)`` rPPG in both modes (no auxiliary loss uses the attention maps);
:meth:`PhysFormer.forward_with_scores` returns the toolbox's 4-tuple ``(rPPG, Score1, Score2, Score3)``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from rppgbench.models._base import ContractMixin, build_model
from rppgbench.models._factory import ModelCfg, register_model
from rppgbench.models._tdc import CDCT

__all__ = ["PhysFormer", "physformer", "physformer_tiny"]

PAPER = ("Yu Z, Shen Y, Shi J, Zhao H, Torr P, Zhao G. PhysFormer: Facial Video-based Physiological Measurement "
         "with Temporal Difference Transformer. CVPR 2022")
TOOLBOX_URL = "https://github.com/ubicomplab/rPPG-Toolbox"

Grid = tuple[int, int, int]


def _to_volume(x: torch.Tensor, grid: Grid) -> torch.Tensor:
    """Tokens (B, P, C) -> volume (B, C, t, h, w) (the tokens are the volume's flattened t, h, w)."""
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], *grid)


def _to_tokens(v: torch.Tensor) -> torch.Tensor:
    return v.flatten(2).transpose(1, 2)


class TDCAttention(nn.Module):
    """Multi-head self-attention with CDC_T queries/keys and 1x1x1 values; scores ``q k^T / tau``."""

    def __init__(self, dim: int, heads: int, dropout: float, theta: float) -> None:
        super().__init__()
        self.proj_q = nn.Sequential(CDCT(dim, dim, 3, 1, bias=False, theta=theta), nn.BatchNorm3d(dim))
        self.proj_k = nn.Sequential(CDCT(dim, dim, 3, 1, bias=False, theta=theta), nn.BatchNorm3d(dim))
        self.proj_v = nn.Sequential(nn.Conv3d(dim, dim, 1, bias=False))
        self.drop = nn.Dropout(dropout)
        self.heads = heads

    def forward(self, x: torch.Tensor, grid: Grid, tau: float) -> tuple[torch.Tensor, torch.Tensor]:
        b, p, c = x.shape
        v3 = _to_volume(x, grid)

        def heads(t: torch.Tensor) -> torch.Tensor:  # (B, C, t, h, w) -> (B, heads, P, C / heads)
            return _to_tokens(t).reshape(b, p, self.heads, c // self.heads).transpose(1, 2)

        q, k, v = heads(self.proj_q(v3)), heads(self.proj_k(v3)), heads(self.proj_v(v3))
        scores = self.drop(F.softmax(q @ k.transpose(-2, -1) / tau, dim=-1))
        return (scores @ v).transpose(1, 2).reshape(b, p, c), scores


class STFeedForward(nn.Module):
    """1x1x1 conv -> BN -> ELU -> depthwise 3x3x3 conv -> BN -> ELU -> 1x1x1 conv -> BN, on the token volume."""

    def __init__(self, dim: int, ff_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Sequential(nn.Conv3d(dim, ff_dim, 1, bias=False), nn.BatchNorm3d(ff_dim), nn.ELU())
        self.STConv = nn.Sequential(nn.Conv3d(ff_dim, ff_dim, 3, padding=1, groups=ff_dim, bias=False),
                                    nn.BatchNorm3d(ff_dim), nn.ELU())
        self.fc2 = nn.Sequential(nn.Conv3d(ff_dim, dim, 1, bias=False), nn.BatchNorm3d(dim))

    def forward(self, x: torch.Tensor, grid: Grid) -> torch.Tensor:
        return _to_tokens(self.fc2(self.STConv(self.fc1(_to_volume(x, grid)))))


class TDCBlock(nn.Module):
    """Pre-norm transformer block: ``x + drop(proj(attn(norm1 x)))``, then ``x + drop(pwff(norm2 x))``."""

    def __init__(self, dim: int, heads: int, ff_dim: int, dropout: float, theta: float) -> None:
        super().__init__()
        self.attn = TDCAttention(dim, heads, dropout, theta)
        self.proj = nn.Linear(dim, dim)
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.pwff = STFeedForward(dim, ff_dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, grid: Grid, tau: float) -> tuple[torch.Tensor, torch.Tensor]:
        att, scores = self.attn(self.norm1(x), grid, tau)
        x = x + self.drop(self.proj(att))
        x = x + self.drop(self.pwff(self.norm2(x), grid))
        return x, scores


class Stage(nn.Module):
    """A stack of :class:`TDCBlock` (key ``blocks.i``); returns the tokens and the last block's scores."""

    def __init__(self, depth: int, dim: int, heads: int, ff_dim: int, dropout: float, theta: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([TDCBlock(dim, heads, ff_dim, dropout, theta) for _ in range(depth)])

    def forward(self, x: torch.Tensor, grid: Grid, tau: float) -> tuple[torch.Tensor, torch.Tensor]:
        scores = x.new_zeros(())
        for block in self.blocks:
            x, scores = block(x, grid, tau)
        return x, scores


def _stem(cin: int, cout: int, kernel: Sequence[int], padding: Sequence[int]) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(cin, cout, tuple(kernel), 1, tuple(padding)), nn.BatchNorm3d(cout),
                         nn.ReLU(inplace=True), nn.MaxPool3d((1, 2, 2), stride=(1, 2, 2)))


def _upsampler(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Upsample(scale_factor=(2, 1, 1)), nn.Conv3d(cin, cout, (3, 1, 1), 1, (1, 0, 0)),
                         nn.BatchNorm3d(cout), nn.ELU())


class PhysFormer(ContractMixin, nn.Module):
    """PhysFormer (toolbox ``ViT_ST_ST_Compact3_TDC_gra_sharp``).

    Parameters
    ----------
    clip_len : int
        Frames T (160 released; a multiple of the temporal patch 4).
    frame_size : int
        Square input side (128 released: the stem's three 2x poolings and the 4x4 spatial patches give the
        release's 4 x 4 token grid). A multiple of ``8 * patches[1]``.
    channels : int
        Input channels (3).
    patches : (int, int, int)
        Tube-token size (4, 4, 4); the temporal size must be 4 (the two x2 upsamplers restore T).
    dim, ff_dim, num_heads, num_layers : int
        Width 96, feed-forward width 144, 4 heads, 12 blocks (in three equal stages) released.
    dropout : float
        0.1 (MODEL.DROP_RATE of the released configs).
    theta : float
        CDC_T weight of the temporal difference (0.7).
    gra_sharp : float
        Attention temperature tau (2.0, as the toolbox trainer passes at training and test).
    """

    def __init__(self, clip_len: int | None = 160, frame_size: int | None = 128, channels: int = 3,
                 patches: Sequence[int] = (4, 4, 4), dim: int = 96, ff_dim: int = 144, num_heads: int = 4,
                 num_layers: int = 12, dropout: float = 0.1, theta: float = 0.7, gra_sharp: float = 2.0) -> None:
        super().__init__()
        patches = tuple(int(p) for p in patches)
        if len(patches) != 3 or patches[0] != 4:
            raise ValueError(f"PhysFormer: patches must be (4, ph, pw) (the two x2 upsamplers restore T from T/4); "
                             f"got {patches!r}")
        if num_layers % 3 or dim % num_heads or dim % 4:
            raise ValueError(f"PhysFormer: num_layers must be a multiple of 3 and dim a multiple of num_heads and "
                             f"of 4; got num_layers={num_layers}, dim={dim}, num_heads={num_heads}")
        if clip_len is not None and clip_len % 4:
            raise ValueError(f"PhysFormer: clip_len must be a multiple of 4; got {clip_len}")
        for side, p in ((frame_size, patches[1]), (frame_size, patches[2])):
            if side is not None and side % (8 * p):
                raise ValueError(f"PhysFormer: frame_size must be a multiple of {8 * p} (3 spatial poolings, then "
                                 f"{p}-pixel patches; 128 released); got {side}")
        self.contract = (channels, clip_len, frame_size, frame_size)
        self.small_input = (4, 8 * max(patches[1:]))
        self.dim, self.gra_sharp = dim, float(gra_sharp)
        self.patch_embedding = nn.Conv3d(dim, dim, kernel_size=patches, stride=patches)
        depth = num_layers // 3
        self.transformer1 = Stage(depth, dim, num_heads, ff_dim, dropout, theta)
        self.transformer2 = Stage(depth, dim, num_heads, ff_dim, dropout, theta)
        self.transformer3 = Stage(depth, dim, num_heads, ff_dim, dropout, theta)
        self.Stem0 = _stem(channels, dim // 4, (1, 5, 5), (0, 2, 2))
        self.Stem1 = _stem(dim // 4, dim // 2, (3, 3, 3), (1, 1, 1))
        self.Stem2 = _stem(dim // 2, dim, (3, 3, 3), (1, 1, 1))
        self.upsample = _upsampler(dim, dim)
        self.upsample2 = _upsampler(dim, dim // 2)
        self.ConvBlockLast = nn.Conv1d(dim // 2, 1, 1)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.normal_(m.bias, std=1e-6)

    def forward_with_scores(self, x: torch.Tensor, gra_sharp: float | None = None
                            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(rPPG (B, T), Score1, Score2, Score3)`` as the toolbox's forward; each score is the last block's
        attention of a stage, ``(B, heads, P, P)``. ``gra_sharp`` defaults to :attr:`gra_sharp`."""
        self.check_input(x)
        tau = self.gra_sharp if gra_sharp is None else float(gra_sharp)
        b, t = x.shape[0], x.shape[2]
        tokens = self.patch_embedding(self.Stem2(self.Stem1(self.Stem0(x))))
        grid: Grid = tuple(tokens.shape[2:])  # type: ignore[assignment]
        h = _to_tokens(tokens)
        h, s1 = self.transformer1(h, grid, tau)
        h, s2 = self.transformer2(h, grid, tau)
        h, s3 = self.transformer3(h, grid, tau)
        v = self.upsample2(self.upsample(_to_volume(h, grid)))  # (B, dim/2, T, h, w)
        rppg = self.ConvBlockLast(v.mean(dim=(3, 4))).squeeze(1)
        return rppg.reshape(b, t), s1, s2, s3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_scores(x)[0]


# configs/train_configs/PURE_PURE_UBFC-rPPG_PHYSFORMER_BASIC.yaml with neural_methods/trainer/PhysFormerTrainer.py:
# Adam(lr 1e-4, weight decay 5e-5), StepLR(step_size 50, gamma 0.5) stepped per epoch (never fires in 10 epochs),
# 10 epochs, batch 4, last epoch; loss a * NegPearson + b * (CE + KL) on the per-clip z-scored output
# (rppgbench.training.losses.physformer_loss reproduces it).
_BASE = ModelCfg(
    name="physformer", arch="physformer", paper=PAPER, code_url=TOOLBOX_URL,
    description=("PhysFormer as released in rPPG-Toolbox (ViT_ST_ST_Compact3_TDC_gra_sharp: patches 4, dim 96, "
                 "ff 144, 4 heads, 12 layers, dropout 0.1, theta 0.7, gra_sharp 2.0): 7,380,865 parameters; "
                 "recipe of configs/train_configs/PURE_PURE_UBFC-rPPG_PHYSFORMER_BASIC.yaml (Adam 1e-4, wd 5e-5, "
                 "StepLR 50/0.5, 10 epochs, batch 4, the trainer's Pearson + frequency CE + KL loss)."),
    clip_len=160, extra_frames=0, frame_size=128, input_view="diffnormalized", label_view="diffnormalized",
    fps=30.0, channels=3, loss="physformer", loss_kwargs={},
    optimizer={"name": "adam", "lr": 1e-4, "weight_decay": 5e-5},
    scheduler={"name": "step", "step_size": 50, "gamma": 0.5}, epochs=10, batch_size=4,
    published_params=7_380_865,
    weights=("rPPG-Toolbox release, not fetched: " + TOOLBOX_URL + " final_model_release/"
             "{PURE,UBFC-rPPG,SCAMPS}_PhysFormer_DiffNormalized.pth (DataParallel state dicts)"),
)


@register_model(_BASE)
def physformer(cfg: ModelCfg, **kwargs: Any) -> PhysFormer:
    """The rPPG-Toolbox PhysFormer (7,380,865 parameters)."""
    return build_model(PhysFormer, cfg, kwargs)


@register_model(_BASE.replace(
    name="physformer.tiny", clip_len=32, frame_size=64, batch_size=2, epochs=1, tiny=True, published_params=None,
    weights=None, optimizer={"name": "adam", "lr": 1e-3, "weight_decay": 5e-5},
    description=("Tiny PhysFormer for tests: the same code path with dim 16, ff 24, 2 heads, 3 layers, on "
                 "32 x 64 x 64 clips (an 8 x 2 x 2 token grid).")))
def physformer_tiny(cfg: ModelCfg, **kwargs: Any) -> PhysFormer:
    """Small, fast PhysFormer (dim 16, 3 layers) for tests and smoke runs."""
    return build_model(PhysFormer, cfg, kwargs, dim=16, ff_dim=24, num_heads=2, num_layers=3)
