"""The seven classic unsupervised rPPG methods as registered models (torch-free).

Each name (``green``, ``ica``, ``chrom``, ``pos``, ``lgi``, ``pbv``, ``omit``) builds an
:class:`UnsupervisedModel` whose ``predict(x, fs)`` accepts either uint8/float frames ``(T, H, W, 3)`` (reduced to their
spatial mean, optionally over a skin ``mask``) or an RGB trace ``(T, 3)`` and returns the BVP estimate ``(T,)``,
oriented to rise with blood volume (see :mod:`rppgbench.signal.methods`). They have no parameters: ``n_params = 0``.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from rppgbench.models._factory import ModelCfg, register_model
from rppgbench.signal.methods import METHODS, spatial_mean

__all__ = ["UnsupervisedModel", "PAPERS"]

_CFG_FIELDS = {f.name for f in dataclasses.fields(ModelCfg)}

PAPERS = {
    "green": "Verkruysse, Svaasand & Nelson, Remote plethysmographic imaging using ambient light, Opt. Express 2008",
    "ica": "Poh, McDuff & Picard, Non-contact, automated cardiac pulse measurements using video imaging and blind "
           "source separation, Opt. Express 2010; IEEE TBME 2011",
    "chrom": "de Haan & Jeanne, Robust pulse rate from chrominance-based rPPG, IEEE TBME 2013",
    "pos": "Wang, den Brinker, Stuijk & de Haan, Algorithmic principles of remote PPG, IEEE TBME 2017",
    "lgi": "Pilz, Zaunseder, Krajewski & Blazek, Local group invariance for heart rate estimation from face videos "
           "in the wild, CVPRW 2018",
    "pbv": "de Haan & van Leest, Improved motion robustness of remote-PPG by using the blood volume pulse "
           "signature, Physiol. Meas. 2014",
    "omit": "Casado & López, Face2PPG: An unsupervised pipeline for blood volume pulse extraction from faces, "
            "IEEE JBHI 2023",
}


class UnsupervisedModel:
    """A parameter-free rPPG method with the registry's uniform ``predict`` interface."""

    n_params = 0

    def __init__(self, name: str, fn: Callable[[np.ndarray, float], np.ndarray], **kwargs: Any) -> None:
        self.name = name
        self.fn = fn
        self.kwargs = kwargs

    def predict(self, x: np.ndarray, fs: float, mask: np.ndarray | None = None) -> np.ndarray:
        """BVP (T,) float64 from frames (T, H, W, 3) or an RGB trace (T, 3) sampled at ``fs`` Hz."""
        arr = np.asarray(x)
        if arr.ndim == 4:
            rgb = spatial_mean(arr, mask)
        elif arr.ndim == 2 and arr.shape[1] == 3:
            if mask is not None:
                raise ValueError(f"{self.name}.predict: mask applies to frames (T, H, W, 3), not to an RGB trace")
            rgb = arr.astype(np.float64)
        else:
            raise ValueError(f"{self.name}.predict: x must be frames (T, H, W, 3) or an RGB trace (T, 3); "
                             f"got shape {arr.shape}")
        return self.fn(rgb, fs, **self.kwargs)

    __call__ = predict

    def __repr__(self) -> str:
        return f"UnsupervisedModel({self.name!r})"


def _make_entry(name: str) -> Callable[..., UnsupervisedModel]:
    fn = METHODS[name]

    def entry(**overrides: Any) -> UnsupervisedModel:
        # ModelCfg fields (e.g. fps) may be passed by create_model; only method keywords reach the method
        kwargs = {k: v for k, v in overrides.items() if k not in _CFG_FIELDS}
        return UnsupervisedModel(name, fn, **kwargs)

    entry.__name__ = f"{name}_entry"
    entry.__doc__ = f"Build the unsupervised method {name.upper()} ({PAPERS[name]})."
    return entry


for _name in ("green", "ica", "chrom", "pos", "lgi", "pbv", "omit"):
    register_model(ModelCfg(name=_name, arch=_name, kind="unsupervised", clip_len=None, input_view="raw",
                            label_view="raw", frame_size=None, paper=PAPERS[_name],
                            description=(METHODS[_name].__doc__ or "").strip().splitlines()[0]))(_make_entry(_name))
