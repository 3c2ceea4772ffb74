"""TS-CAN: the temporal shift convolutional attention network.

Liu, X., Fromm, J., Patel, S., & McDuff, D. (2020). *Multi-Task Temporal Shift Attention Networks for On-Device
Contactless Vitals Measurement.* NeurIPS 2020. rPPG-Toolbox implementation: ``neural_methods/model/TS_CAN.py``
(class ``TSCAN``, https://github.com/ubicomplab/rPPG-Toolbox).

DeepPhys's two-branch attention network with a temporal shift before every motion convolution (the shared
layers are in :mod:`rppgbench.models._can`). Contract, as rPPG-Toolbox's trainer ``test()`` feeds it
(``tests/spec/TSCAN.txt``): ``(N*D) x 6 x 72 x 72`` frames, the loader's ``N`` clips of ``D = 180``
frames flattened into one sequence; channels 0-2 DiffNormalized, 3-5 Standardized; the frame count a multiple of
``frame_depth = 10`` (``frame_multiple``: the clip length must be a multiple of it, so the toolbox's truncation of
the batch never drops a frame here); output ``(N*D) x 1``. Parameter names and shapes equal the toolbox's 24
state-dict entries (2,228,643 parameters); its released files were saved from ``DataParallel`` (``module.``
prefix, stripped on load).

Training defaults (rPPG-Toolbox ``configs/train_configs/PURE_PURE_UBFC-rPPG_TSCAN_BASIC.yaml`` and
``neural_methods/trainer/TscanTrainer.py``; every TS-CAN train config uses the same values): MSE on
DiffNormalized labels, AdamW lr 9e-3 with weight decay 0, OneCycleLR (max_lr 9e-3, PyTorch defaults, stepped
per batch), 30 epochs, batch 4, last epoch tested.
"""
from __future__ import annotations

from typing import Any

from rppgbench.models._base import build_model
from rppgbench.models._can import CAN
from rppgbench.models._factory import ModelCfg, register_model

__all__ = ["TSCAN", "tscan", "tscan_tiny"]

PAPER = ("Liu X, Fromm J, Patel S, McDuff D. Multi-Task Temporal Shift Attention Networks for On-Device "
         "Contactless Vitals Measurement. NeurIPS 2020")
CODE_URL = "https://github.com/ubicomplab/rPPG-Toolbox"


class TSCAN(CAN):
    """TS-CAN on ``N x 6 x H x W`` frames (motion then appearance channels), ``N`` a multiple of
    ``frame_multiple`` (the toolbox's ``frame_depth``); returns ``N x 1``.

    ``clip_len`` is recorded only: any multiple of ``frame_multiple`` frames works. Other arguments: see
    :class:`~rppgbench.models._can.CAN`.
    """

    def __init__(self, clip_len: int | None = 180, frame_size: int = 72, channels: int = 6,
                 frame_multiple: int = 10, nb_filters1: int = 32, nb_filters2: int = 64, kernel_size: int = 3,
                 pool_size: int = 2, nb_dense: int = 128, dropout_rate1: float = 0.25,
                 dropout_rate2: float = 0.5) -> None:
        super().__init__(frame_size, channels, appearance=True, shift_segment=frame_multiple,
                         nb_filters1=nb_filters1, nb_filters2=nb_filters2, kernel_size=kernel_size,
                         pool_size=pool_size, nb_dense=nb_dense, dropout_rate1=dropout_rate1,
                         dropout_rate2=dropout_rate2)
        self.clip_len = clip_len


# AdamW (weight decay 0) + torch OneCycleLR with PyTorch defaults, stepped every batch (the toolbox trainers)
_ADAMW = {"name": "adamw", "lr": 9e-3, "weight_decay": 0.0}
_ONECYCLE = {"name": "onecycle", "max_lr": 9e-3, "pct_start": 0.3, "anneal_strategy": "cos",
                    "div_factor": 25.0, "final_div_factor": 1e4, "cycle_momentum": True}

_BASE = ModelCfg(
    name="tscan", arch="tscan", paper=PAPER, code_url=CODE_URL,
    description=("TS-CAN as in rPPG-Toolbox (frame_depth 10): 2,228,643 parameters, keys of its released "
                 "checkpoints. Frames of DiffNormalized + Standardized channels, one output per frame."),
    clip_len=180, extra_frames=0, frame_size=72, input_view=("diffnormalized", "standardized"),
    label_view="diffnormalized", fps=30.0, channels=6, layout="frames", frame_multiple=10,
    loss="mse", optimizer=_ADAMW, scheduler=_ONECYCLE, epochs=30, batch_size=4,
    published_params=2_228_643,
    weights=("rPPG-Toolbox release, not fetched: " + CODE_URL + " final_model_release/"
             "{PURE,UBFC-rPPG,SCAMPS}_TSCAN.pth, MA-UBFC_tscan.pth, BP4D_PseudoLabel_TSCAN.pth (DataParallel state "
             "dicts; absent from the public snapshot)"),
)


@register_model(_BASE)
def tscan(cfg: ModelCfg, **kwargs: Any) -> TSCAN:
    """TS-CAN at the toolbox's size (2,228,643 parameters)."""
    return build_model(TSCAN, cfg, kwargs)


@register_model(_BASE.replace(
    name="tscan.tiny", clip_len=20, frame_size=36, epochs=1, batch_size=2, tiny=True, published_params=None,
    weights=None, description="Tiny TS-CAN for tests: the same code path, widths 8/16, dense 16, 36x36, 20 frames."))
def tscan_tiny(cfg: ModelCfg, **kwargs: Any) -> TSCAN:
    """A narrow TS-CAN (widths 8/16, dense 16) for tests and smoke runs."""
    return build_model(TSCAN, cfg, kwargs, nb_filters1=8, nb_filters2=16, nb_dense=16)
