"""EfficientPhys: a single-branch temporal shift attention network that needs no preprocessing.

Liu, X., Hill, B., Jiang, Z., Patel, S., & McDuff, D. (2023). *EfficientPhys: Enabling Simple, Fast and Accurate
Camera-Based Cardiac Measurement.* WACV 2023. rPPG-Toolbox implementation: ``neural_methods/model/EfficientPhys.py``
(class ``EfficientPhys``, https://github.com/ubicomplab/rPPG-Toolbox).

The network differences consecutive frames itself, normalises the differences with a ``BatchNorm2d(3)`` and runs
the TS-CAN motion branch with self-attention masks from its own features (layers in :mod:`rppgbench.models._can`).
Contract, as rPPG-Toolbox's trainer ``test()`` feeds it (``tests/spec/EfficientPhys.txt``):
``(N*D + 1) x 3 x 72 x 72`` Standardized frames -- the loader's ``N`` clips of ``D = 180`` frames flattened into
one sequence, then its last frame repeated once (``extra_frames=1`` in the ``frames`` layout) -- and
``N*D`` a multiple of ``frame_depth = 10``; output ``(N*D) x 1``. As in the toolbox, with ``N > 1`` the first
difference of a clip is taken against the previous clip's last frame (the flattening ignores clip boundaries).
Parameter names and shapes equal the toolbox's 21 state-dict entries (2,163,081 parameters; the BatchNorm adds
its running statistics); released files carry the ``DataParallel`` ``module.`` prefix.

Training defaults (rPPG-Toolbox ``configs/train_configs/PURE_PURE_UBFC-rPPG_EFFICIENTPHYS.yaml`` and
``neural_methods/trainer/EfficientPhysTrainer.py``): MSE on DiffNormalized labels, AdamW lr 9e-3 with weight
decay 0, OneCycleLR (max_lr 9e-3) stepped per batch, 30 epochs, batch 4, last epoch tested. (The iBVP config
``iBVP_iBVP_PURE_EFFICIENTPHYS_BASIC.yaml`` uses Raw frames, Standardized labels and 160-frame clips instead: a
protocol can override ``input_view``, ``label_view`` and ``clip_len``.)
"""
from __future__ import annotations

from typing import Any

from rppgbench.models._base import build_model
from rppgbench.models._can import CAN
from rppgbench.models._factory import ModelCfg, register_model

__all__ = ["EfficientPhys", "efficientphys", "efficientphys_tiny"]

PAPER = ("Liu X, Hill B, Jiang Z, Patel S, McDuff D. EfficientPhys: Enabling Simple, Fast and Accurate "
         "Camera-Based Cardiac Measurement. WACV 2023")
CODE_URL = "https://github.com/ubicomplab/rPPG-Toolbox"


class EfficientPhys(CAN):
    """EfficientPhys on ``(N + 1) x 3 x H x W`` frames, ``N`` a multiple of ``frame_multiple`` (the toolbox's
    ``frame_depth``); returns ``N x 1``.

    ``clip_len`` is recorded only. Other arguments: :class:`~rppgbench.models._can.CAN`.
    """

    def __init__(self, clip_len: int | None = 180, frame_size: int = 72, channels: int = 3,
                 frame_multiple: int = 10, nb_filters1: int = 32, nb_filters2: int = 64, kernel_size: int = 3,
                 pool_size: int = 2, nb_dense: int = 128, dropout_rate1: float = 0.25,
                 dropout_rate2: float = 0.5) -> None:
        super().__init__(frame_size, channels, appearance=False, shift_segment=frame_multiple,
                         difference_input=True, nb_filters1=nb_filters1, nb_filters2=nb_filters2,
                         kernel_size=kernel_size, pool_size=pool_size, nb_dense=nb_dense,
                         dropout_rate1=dropout_rate1, dropout_rate2=dropout_rate2)
        self.clip_len = clip_len


_ADAMW = {"name": "adamw", "lr": 9e-3, "weight_decay": 0.0}
_ONECYCLE = {"name": "onecycle", "max_lr": 9e-3, "pct_start": 0.3, "anneal_strategy": "cos", "div_factor": 25.0,
             "final_div_factor": 1e4, "cycle_momentum": True}

_BASE = ModelCfg(
    name="efficientphys", arch="efficientphys", paper=PAPER, code_url=CODE_URL,
    description=("EfficientPhys as in rPPG-Toolbox (frame_depth 10): 2,163,081 parameters, keys of its released "
                 "checkpoints. Standardized frames, differenced and batch-normalised by the model itself."),
    clip_len=180, extra_frames=1, frame_size=72, input_view="standardized", label_view="diffnormalized",
    fps=30.0, channels=3, layout="frames", frame_multiple=10,
    loss="mse", optimizer=_ADAMW, scheduler=_ONECYCLE, epochs=30, batch_size=4, published_params=2_163_081,
    weights=("rPPG-Toolbox release, not fetched: " + CODE_URL + " final_model_release/"
             "{PURE,UBFC-rPPG,SCAMPS,iBVP}_EfficientPhys.pth, MA-UBFC_efficientphys.pth, "
             "BP4D_PseudoLabel_EfficientPhys.pth (DataParallel state dicts; absent from the public snapshot)"),
)


@register_model(_BASE)
def efficientphys(cfg: ModelCfg, **kwargs: Any) -> EfficientPhys:
    """EfficientPhys at the toolbox's size (2,163,081 parameters)."""
    return build_model(EfficientPhys, cfg, kwargs)


@register_model(_BASE.replace(
    name="efficientphys.tiny", clip_len=20, frame_size=36, epochs=1, batch_size=2, tiny=True,
    published_params=None, weights=None,
    description="Tiny EfficientPhys for tests: the same code path, widths 8/16, dense 16, 36x36, 20 frames."))
def efficientphys_tiny(cfg: ModelCfg, **kwargs: Any) -> EfficientPhys:
    """A narrow EfficientPhys (widths 8/16, dense 16) for tests and smoke runs."""
    return build_model(EfficientPhys, cfg, kwargs, nb_filters1=8, nb_filters2=16, nb_dense=16)
