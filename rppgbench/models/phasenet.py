"""PHASE-Net: Physics-Grounded Harmonic Attention System for Efficient rPPG Measurement.

Zhao, B., Guo, D., Cao, J., Xu, Y., Tan, T., Sun, Y., Zou, B., Zhang, J., & Yu, Z. (2026). CVPR 2026,
arXiv:2509.24850. Code: https://github.com/Alex036225/PhaseNet

Two readings are registered, because the released code and the paper differ (docs/models.md,
PHASE-Net):

``phasenet`` -- the released model, module for module, so that a released checkpoint loads with strict key
    checking (82 state-dict entries, keys and shapes in ``tests/_spec_keys.py``, weight norm
    through ``torch.nn.utils.parametrizations`` -> ``...parametrizations.weight.original0/1``):
    stem conv -> 3 EST blocks (mixer: the released temporal interlace **with its bug**: the "past" channels
    come out zero, ``mixer="tim_bugcompat"``) -> adaptive spatial filter (softmax mask per frame, weighted
    sum) -> Linear (z) -> [z, z_t - z_{t-1}] -> gated TCN (4 levels, **symmetric, non-causal** padding) ->
    2-layer GRU + MLP -> ``B x T``. A training-only latent reconstruction branch (projection MLP + 1-D
    decoder) adds ``0.2 x (MSE + 0.1 (1 - cos))`` to the loss.
``phasenet.described`` -- the architecture the paper's text describes: ZAS (a zero-parameter block transpose
    on 25 % of the channels, 2 x 2 grid; RECONSTRUCTED, no implementation is published), a causal gated TCN with
    3 levels, at the released widths. It is *not* the paper's 0.29 M model (whose widths are unpublished): it has
    3,201,458 parameters, 713,474 on the inference path, 318,722 thop-style (was ``phasenet.paper``).

Flags: ``mixer`` in {tim_bugcompat, tim (fixed interlace), zas}, ``zas_p``, ``zas_b``, ``zas_layout``,
``tcn_padding`` in {symmetric, causal}, ``tcn_layers``, ``recon_weight``.

Parameter counts of the release configuration: 3,300,274 in total, 812,290 on the inference path; the
paper's "0.29 M" matches a thop count (318,722 here), which skips the eight weight-normed TCN convolutions
and the training-only branch. :func:`param_counts` reports all three.
"""
from __future__ import annotations

import contextlib
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from rppgbench._checks import check_option, check_range
from rppgbench.models._base import ContractMixin, build_model
from rppgbench.models._base import param_counts as _param_counts
from rppgbench.models._factory import ModelCfg, register_model
from rppgbench.models._phasenet_blocks import (
    MIXERS,
    Decoder1D,
    ESTBlock,
    GatedTCN,
    SequenceRegressor,
    SpatialAttentionHead,
    conv3d_cl,
    instance_norm_relu_,
    make_mixer,
)
from rppgbench.models._phasenet_fused import encode_fused, stem_supported

__all__ = ["PhaseNet", "checkpoint_filter_fn", "param_counts"]

PAPER = ("Zhao B, Guo D, Cao J, Xu Y, Tan T, Sun Y, Zou B, Zhang J, Yu Z. PHASE-Net: Physics-Grounded Harmonic "
         "Attention System for Efficient Remote Photoplethysmography Measurement. CVPR 2026 (arXiv:2509.24850)")
CODE_URL = "https://github.com/Alex036225/PhaseNet"


class PhaseNet(ContractMixin, nn.Module):
    """PHASE-Net (released architecture by default).

    Parameters
    ----------
    clip_len, frame_size : int or None
        Input contract ``B x 3 x clip_len x frame_size x frame_size`` (None: any). The frame size must be
        divisible by ``2 ** len(encoder_channels[1:])`` (and by ``zas_b`` at every stage for a ZAS grid).
    channels : int
        Must be 3 (RGB).
    feature_dim, latent_dim, hidden_dim, gru_hidden : int
        Feature width (128), latent code (32), TCN width (128), GRU width (64) as released.
    tcn_layers : int
        Gated TCN levels (4 released, 3 in the paper).
    encoder_channels : tuple
        Stem width then the EST output widths ((16, 32, 64, 128) released).
    expand : int
        EST expansion ratio (4).
    mixer : {"tim_bugcompat", "tim", "zas"}
        Mixer after each EST expansion.
    zas_p, zas_b, zas_layout
        ZAS channel fraction, grid size and layout (see :class:`~rppgbench.models._phasenet_blocks.ZAS`).
    tcn_padding : {"symmetric", "causal"}
        Released (non-causal) or paper (causal) padding of the gated TCN.
    recon_weight : float
        Weight of the training-only reconstruction loss added as ``aux_loss`` (0.2 in the released trainer).
    dropout : float
        TCN dropout (0.2).
    fast_cpu : bool
        Use the fast CPU inference path of the visual encoder (:meth:`encode_fast`) when the input is on the
        CPU and autograd is off. Same function and weights (max abs difference of the output ~1e-6, tested);
        ``False`` always runs the module-by-module path.
    """

    def __init__(self, clip_len: int | None = 128, frame_size: int | None = 128, channels: int = 3,
                 feature_dim: int = 128, latent_dim: int = 32, hidden_dim: int = 128, gru_hidden: int = 64,
                 tcn_layers: int = 4, encoder_channels: tuple[int, ...] = (16, 32, 64, 128), expand: int = 4,
                 mixer: str = "tim_bugcompat", zas_p: float = 0.25, zas_b: int = 2, zas_layout: str = "grid",
                 tcn_padding: str = "symmetric", recon_weight: float = 0.2, dropout: float = 0.2,
                 fast_cpu: bool = True) -> None:
        super().__init__()
        check_option("channels", channels, (3,))
        check_option("mixer", mixer, MIXERS)
        check_option("tcn_padding", tcn_padding, ("symmetric", "causal"))
        check_range("tcn_layers", tcn_layers, 1, None)
        check_range("recon_weight", recon_weight, 0.0, None)
        encoder_channels = tuple(int(c) for c in encoder_channels)
        if len(encoder_channels) < 2:
            raise ValueError(f"PhaseNet: encoder_channels needs a stem width and at least one block width; "
                             f"got {encoder_channels}")
        n_pool = len(encoder_channels) - 1
        if frame_size is not None:
            grid = zas_b if (mixer == "zas" and zas_layout == "grid") else 1
            for i in range(n_pool):
                side = frame_size // 2 ** i
                if side % 2 or side % grid or (mixer == "zas" and zas_layout == "tiles" and side % zas_b):
                    raise ValueError(f"PhaseNet: frame_size {frame_size} gives a {side}-pixel map at EST block {i}; "
                                     f"it must be even (and divisible by zas_b={zas_b} with ZAS)")
        self.mixer = mixer
        self.fast_cpu = bool(fast_cpu)
        self.tcn_padding = tcn_padding
        self.recon_weight = float(recon_weight)
        self.sim_alpha = 0.1
        self.contract = (3, clip_len, frame_size, frame_size)
        self.small_input = (4, 2 ** n_pool * max(2, zas_b if mixer == "zas" else 1))

        stem = encoder_channels[0]
        blocks: list[nn.Module] = []
        for cin, cout in zip(encoder_channels[:-1], encoder_channels[1:], strict=True):
            blocks.append(ESTBlock(cin, cout, expand, make_mixer(mixer, cin * expand, zas_p, zas_b, zas_layout)))
        self.base_encoder = nn.Sequential(
            nn.Conv3d(3, stem, kernel_size=(1, 5, 5), padding=(0, 2, 2)), nn.InstanceNorm3d(stem), nn.ReLU(),
            *blocks)
        width = encoder_channels[-1]
        self.attention_head = SpatialAttentionHead(width)
        self.encoder_head = nn.Linear(width, feature_dim)
        self.temporal_model = GatedTCN(2 * feature_dim, feature_dim, [hidden_dim] * tcn_layers, 3, dropout,
                                       tcn_padding)
        mid = (latent_dim + feature_dim) // 2
        self.projection_encoder = nn.Sequential(nn.Linear(feature_dim, mid), nn.ReLU(), nn.Linear(mid, latent_dim))
        self.decoder = Decoder1D(latent_dim, feature_dim)
        self.regressor_head = SequenceRegressor(feature_dim, gru_hidden)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Visual encoder + adaptive spatial filter + encoder head: ``B x 3 x T x H x W -> z (B, T, F)``."""
        if self.fast_cpu and x.device.type == "cpu" and not torch.is_grad_enabled():
            feat = self.encode_fast(x)
        else:
            feat = self.base_encoder(x)
        pooled = (feat * self.attention_head(feat)).sum(dim=(-1, -2))  # B x C x T
        return self.encoder_head(pooled.transpose(1, 2))

    def encode_fast(self, x: torch.Tensor) -> torch.Tensor:
        """``base_encoder(x)`` for CPU inference without autograd, channels-last-3d: frame chunk by frame chunk
        with the instance norms resolved per pass (:func:`~rppgbench.models._phasenet_fused.encode_fused`);
        other layouts and dtypes run the blocks' in-place path (:meth:`ESTBlock.forward_fast`)."""
        stem = self.base_encoder[0]
        if stem_supported(stem, x):
            return encode_fused(self.base_encoder, x)
        y = conv3d_cl(x.contiguous(memory_format=torch.channels_last_3d), stem.weight, stem.bias, stem.padding)
        instance_norm_relu_(y)
        for block in list(self.base_encoder)[3:]:
            y = block.forward_fast(y)
        return y

    def forward_features(self, x: torch.Tensor) -> dict[str, Any]:
        """``bvp`` (B, T), ``z_raw`` (B, T, F), ``z_clean`` (B, T, F) and, in training, ``recon`` (scalar)."""
        self.check_input(x)
        z_raw = self.encode(x)
        velocity = torch.cat([torch.zeros_like(z_raw[:, :1]), z_raw[:, 1:] - z_raw[:, :-1]], dim=1)
        # without autograd the weight-norm parametrisation is evaluated once per forward, not once per call
        cache = self.fast_cpu and not torch.is_grad_enabled() and not torch.jit.is_tracing()
        with parametrize.cached() if cache else contextlib.nullcontext():
            z_clean = self.temporal_model(torch.cat([z_raw, velocity], dim=-1))
        out = {"bvp": self.regressor_head(z_clean), "z_raw": z_raw, "z_clean": z_clean, "recon": None}
        if self.training:
            out["recon"] = self.reconstruction_loss(z_clean, z_raw)
        return out

    def reconstruction_loss(self, z_clean: torch.Tensor, z_raw: torch.Tensor) -> torch.Tensor:
        """``MSE(dec(proj(z_clean)), z_raw) + 0.1 (1 - mean cosine)`` over all frames (released branch)."""
        f = z_raw.shape[-1]
        rec = self.decoder(self.projection_encoder(z_clean.reshape(-1, f)))
        target = z_raw.reshape(-1, f)
        return F.mse_loss(rec, target) + self.sim_alpha * (1.0 - F.cosine_similarity(rec, target, dim=-1).mean())

    def forward(self, x: torch.Tensor) -> torch.Tensor | dict[str, Any]:
        out = self.forward_features(x)
        if not self.training:
            return out["bvp"]
        recon = out["recon"]
        return {"bvp": out["bvp"], "aux_loss": self.recon_weight * recon, "logs": {"recon": float(recon.detach())}}


def param_counts(model: nn.Module) -> dict[str, int]:
    """``{"exact", "inference", "thop"}`` parameter counts (see :func:`rppgbench.models._base.param_counts`).

    For the release configuration: 3,300,274 / 812,290 / 318,722 (the paper's "0.29 M" is thop-style)."""
    return _param_counts(model)


def checkpoint_filter_fn(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Rename legacy weight-norm keys (``torch.nn.utils.weight_norm``: ``weight_g`` / ``weight_v``) to the
    parametrization names the released model uses (``parametrizations.weight.original0`` / ``original1``)."""
    out = {}
    for k, v in state_dict.items():
        if k.endswith(".weight_g"):
            k = k[: -len("weight_g")] + "parametrizations.weight.original0"
        elif k.endswith(".weight_v"):
            k = k[: -len("weight_v")] + "parametrizations.weight.original1"
        out[k] = v
    return out


_BASE = ModelCfg(
    name="phasenet", arch="phasenet", paper=PAPER, code_url=CODE_URL,
    description=("PHASE-Net as released (temporal interlace with its zeroed 'past' channels, symmetric 4-level "
                 "gated TCN, GRU regressor, training-only reconstruction weighted 0.2). 3,300,274 parameters, "
                 "812,290 on the inference path, 318,722 thop-style (the paper's 0.29 M)."),
    clip_len=128, extra_frames=0, frame_size=128, input_view="raw", label_view="raw", fps=30.0, channels=3,
    # the released trainer z-scores each predicted and label clip and averages a per-clip negative Pearson
    loss="neg_pearson", loss_kwargs={"pearson_axis": "time"},
    optimizer={"name": "adam", "lr": 1e-4, "weight_decay": 0.0}, scheduler=None, epochs=10,
    # released: batch 1 per GPU on 2 GPUs (DDP), i.e. per-clip losses averaged over 2 clips per step
    batch_size=2, published_params=290_000,
    weights=f"authors' UBFC-rPPG checkpoint (not fetched): {CODE_URL} (released as PhysLLM_PhaseNet_*_Epoch9.pth)",
)


@register_model(_BASE)
def phasenet(cfg: ModelCfg, **kwargs: Any) -> PhaseNet:
    """PHASE-Net, released configuration (checkpoint-compatible)."""
    return build_model(PhaseNet, cfg, kwargs)


@register_model(_BASE.replace(
    name="phasenet.described", weights=None, published_params=None,
    description=("PHASE-Net's architecture as the paper's text describes it: ZAS on 25 % of the channels with a "
                 "2x2 block grid (reconstructed), causal gated TCN with 3 levels, at the released widths; not the "
                 "paper's 0.29 M configuration (3,201,458 parameters, 318,722 thop-style).")))
def phasenet_described(cfg: ModelCfg, **kwargs: Any) -> PhaseNet:
    """PHASE-Net's described architecture (ZAS, causal 3-level gated TCN) at the released widths."""
    return build_model(PhaseNet, cfg, kwargs, mixer="zas", tcn_padding="causal", tcn_layers=3)


@register_model(_BASE.replace(
    name="phasenet.tiny", clip_len=32, frame_size=32, batch_size=2, epochs=1, tiny=True, published_params=None,
    weights=None, optimizer={"name": "adam", "lr": 1e-3, "weight_decay": 0.0},
    description="Tiny PHASE-Net for tests: the released code path with small widths, 32 frames of 32x32."))
def phasenet_tiny(cfg: ModelCfg, **kwargs: Any) -> PhaseNet:
    """Small, fast PHASE-Net (released code path, narrow widths) for tests and smoke runs."""
    return build_model(PhaseNet, cfg, kwargs, feature_dim=16, latent_dim=8, hidden_dim=16,
                       gru_hidden=16, tcn_layers=2, encoder_channels=(4, 8, 12, 16), expand=2)
