"""DeepPhys: the convolutional attention network.

Chen, W., & McDuff, D. (2018). *DeepPhys: Video-Based Physiological Measurement Using Convolutional Attention
Networks.* ECCV 2018. rPPG-Toolbox implementation: ``neural_methods/model/DeepPhys.py`` (class ``DeepPhys``,
https://github.com/ubicomplab/rPPG-Toolbox).

A motion branch on normalised frame differences gated by soft attention masks from an appearance branch on the
frame itself (layers in :mod:`rppgbench.models._can`). Contract, as rPPG-Toolbox's trainer ``test()`` feeds it
(``tests/spec/DeepPhys.txt``): ``(N*D) x 6 x 72 x 72`` frames (``N`` clips of ``D = 180`` frames
flattened), channels 0-2 DiffNormalized, 3-5 Standardized; every frame is processed on its own, so any frame
count works; output ``(N*D) x 1``. Parameter names and shapes equal the toolbox's 24 state-dict entries
(2,228,643 parameters, the same set as TS-CAN); released files carry the ``DataParallel`` ``module.`` prefix.

Training defaults (rPPG-Toolbox ``configs/train_configs/PURE_PURE_UBFC-rPPG_DEEPPHYS_BASIC.yaml`` and
``neural_methods/trainer/DeepPhysTrainer.py``; every DeepPhys train config uses the same values): MSE on
DiffNormalized labels, AdamW lr 9e-3 with weight decay 0, OneCycleLR (max_lr 9e-3) stepped per batch, 30 epochs,
batch 4, last epoch tested.
"""
from __future__ import annotations

from typing import Any

from rppgbench.models._base import build_model
from rppgbench.models._can import CAN
from rppgbench.models._factory import ModelCfg, register_model

__all__ = ["DeepPhys", "deepphys", "deepphys_tiny"]

PAPER = ("Chen W, McDuff D. DeepPhys: Video-Based Physiological Measurement Using Convolutional Attention "
         "Networks. ECCV 2018")
CODE_URL = "https://github.com/ubicomplab/rPPG-Toolbox"


class DeepPhys(CAN):
    """DeepPhys on ``N x 6 x H x W`` frames (motion then appearance channels); returns ``N x 1``.

    ``clip_len`` is recorded only (frames are independent). Other arguments: :class:`~rppgbench.models._can.CAN`.
    """

    def __init__(self, clip_len: int | None = 180, frame_size: int = 72, channels: int = 6, nb_filters1: int = 32,
                 nb_filters2: int = 64, kernel_size: int = 3, pool_size: int = 2, nb_dense: int = 128,
                 dropout_rate1: float = 0.25, dropout_rate2: float = 0.5) -> None:
        super().__init__(frame_size, channels, appearance=True, shift_segment=None, nb_filters1=nb_filters1,
                         nb_filters2=nb_filters2, kernel_size=kernel_size, pool_size=pool_size, nb_dense=nb_dense,
                         dropout_rate1=dropout_rate1, dropout_rate2=dropout_rate2)
        self.clip_len = clip_len


_BASE = ModelCfg(
    name="deepphys", arch="deepphys", paper=PAPER, code_url=CODE_URL,
    description=("DeepPhys as in rPPG-Toolbox: 2,228,643 parameters, keys of its released checkpoints. Frames of "
                 "DiffNormalized + Standardized channels, one output per frame."),
    clip_len=180, extra_frames=0, frame_size=72, input_view=("diffnormalized", "standardized"),
    label_view="diffnormalized", fps=30.0, channels=6, layout="frames", frame_multiple=1,
    loss="mse", optimizer={"name": "adamw", "lr": 9e-3, "weight_decay": 0.0},
    scheduler={"name": "onecycle", "max_lr": 9e-3, "pct_start": 0.3, "anneal_strategy": "cos", "div_factor": 25.0,
               "final_div_factor": 1e4, "cycle_momentum": True},
    epochs=30, batch_size=4, published_params=2_228_643,
    weights=("rPPG-Toolbox release, not fetched: " + CODE_URL + " final_model_release/"
             "{PURE,UBFC-rPPG,SCAMPS}_DeepPhys.pth, MA-UBFC_deepphys.pth, BP4D_PseudoLabel_DeepPhys.pth (DataParallel "
             "state dicts; absent from the public snapshot)"),
)


@register_model(_BASE)
def deepphys(cfg: ModelCfg, **kwargs: Any) -> DeepPhys:
    """DeepPhys at the toolbox's size (2,228,643 parameters)."""
    return build_model(DeepPhys, cfg, kwargs)


@register_model(_BASE.replace(
    name="deepphys.tiny", clip_len=16, frame_size=36, epochs=1, batch_size=2, tiny=True, published_params=None,
    weights=None, description="Tiny DeepPhys for tests: the same code path, widths 8/16, dense 16, 36x36, 16 frames."))
def deepphys_tiny(cfg: ModelCfg, **kwargs: Any) -> DeepPhys:
    """A narrow DeepPhys (widths 8/16, dense 16) for tests and smoke runs."""
    return build_model(DeepPhys, cfg, kwargs, nb_filters1=8, nb_filters2=16, nb_dense=16)
