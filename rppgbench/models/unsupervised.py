"""The seven classic unsupervised rPPG methods as registered models (torch-free).

Each name (``green``, ``ica``, ``chrom``, ``pos``, ``lgi``, ``pbv``, ``omit``) builds an
:class:`UnsupervisedModel` whose ``predict(x, fs)`` accepts either uint8/float frames ``(T, H, W, 3)`` (reduced to their
spatial mean, optionally over a skin ``mask``) or an RGB trace ``(T, 3)`` and returns the BVP estimate ``(T,)``,
oriented to rise with blood volume (see :mod:`rppgbench.signal.methods`). They have no parameters: ``n_params = 0``.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from rppgbench.models._factory import ModelCfg, register_model
from rppgbench.signal.methods import METHODS, spatial_mean

__all__ = ["UnsupervisedModel", "PAPERS"]

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


_UNSUPERVISED = ModelCfg(name="", arch="", kind="unsupervised", clip_len=None, frame_size=None, input_view="raw",
                         label_view="raw")


def _build(name: str, kwargs: dict[str, Any]) -> UnsupervisedModel:
    return UnsupervisedModel(name, METHODS[name], **kwargs)


@register_model(_UNSUPERVISED.replace(
    name="green", arch="green", paper=PAPERS["green"],
    description="GREEN: the green channel over its mean, negated (1 - G/mean(G))."))
def green(cfg: ModelCfg, **kwargs: Any) -> UnsupervisedModel:
    """The unsupervised method GREEN (``PAPERS["green"]``); ``kwargs`` are passed to the method."""
    return _build("green", kwargs)


@register_model(_UNSUPERVISED.replace(
    name="ica", arch="ica", paper=PAPERS["ica"],
    description="ICA: detrended, z-scored RGB unmixed with JADE; the component with the strongest spectral peak."))
def ica(cfg: ModelCfg, **kwargs: Any) -> UnsupervisedModel:
    """The unsupervised method ICA (``PAPERS["ica"]``); ``kwargs`` are passed to the method."""
    return _build("ica", kwargs)


@register_model(_UNSUPERVISED.replace(
    name="chrom", arch="chrom", paper=PAPERS["chrom"],
    description="CHROM: chrominance projection X = 3R - 2G, Y = 1.5R + G - 1.5B, combined as X - (std X/std Y) Y."))
def chrom(cfg: ModelCfg, **kwargs: Any) -> UnsupervisedModel:
    """The unsupervised method CHROM (``PAPERS["chrom"]``); ``kwargs`` are passed to the method."""
    return _build("chrom", kwargs)


@register_model(_UNSUPERVISED.replace(
    name="pos", arch="pos", paper=PAPERS["pos"],
    description="POS: plane-orthogonal-to-skin projection in 1.6 s windows, overlap-added, negated."))
def pos(cfg: ModelCfg, **kwargs: Any) -> UnsupervisedModel:
    """The unsupervised method POS (``PAPERS["pos"]``); ``kwargs`` are passed to the method."""
    return _build("pos", kwargs)


@register_model(_UNSUPERVISED.replace(
    name="lgi", arch="lgi", paper=PAPERS["lgi"],
    description="LGI: local group invariance: the RGB trace without its dominant direction."))
def lgi(cfg: ModelCfg, **kwargs: Any) -> UnsupervisedModel:
    """The unsupervised method LGI (``PAPERS["lgi"]``); ``kwargs`` are passed to the method."""
    return _build("lgi", kwargs)


@register_model(_UNSUPERVISED.replace(
    name="pbv", arch="pbv", paper=PAPERS["pbv"],
    description="PBV: projection on the blood-volume-pulse signature; negated to rise with blood volume."))
def pbv(cfg: ModelCfg, **kwargs: Any) -> UnsupervisedModel:
    """The unsupervised method PBV (``PAPERS["pbv"]``); ``kwargs`` are passed to the method."""
    return _build("pbv", kwargs)


@register_model(_UNSUPERVISED.replace(
    name="omit", arch="omit", paper=PAPERS["omit"],
    description="OMIT: orthogonal matrix image transformation: QR of the RGB matrix, first direction removed."))
def omit(cfg: ModelCfg, **kwargs: Any) -> UnsupervisedModel:
    """The unsupervised method OMIT (``PAPERS["omit"]``); ``kwargs`` are passed to the method."""
    return _build("omit", kwargs)
