"""Training losses behind the ``LOSSES`` registry.

Every loss has the signature ``loss(pred, label, *, epoch, epochs, fs, **kwargs) -> scalar tensor`` where
``pred`` and ``label`` are ``(B, T)`` tensors, ``epoch`` is 0-based and ``epochs`` is the planned run
length (losses with an epoch-dependent weight use them; the others ignore them). A model's
:class:`~rppgbench.models.ModelCfg` names its loss in ``cfg.loss`` and passes ``cfg.loss_kwargs``.

Registered losses
-----------------
``neg_pearson``
    Negative Pearson correlation. ``pearson_axis="time"`` is the usual per-clip temporal Pearson
    (PhysNet, Yu et al., BMVC 2019), averaged over the batch. ``pearson_axis="batch"`` reproduces the
    rPPG-Toolbox ``Neg_Pearson`` that the released FactorizePhys weights were trained with (Joshi et al.,
    NeurIPS 2024): the whole batch tensor is z-scored with one scalar mean and std, then the cosine
    similarity is taken **over the batch axis** at every time step after removing the batch mean, and
    ``1 - cos`` is averaged over time. Note what that implies: a batch of one gives the constant 1.0
    (no gradient), and a prediction equal to the label plus a per-clip constant does not score 0.
``mse``
    Mean squared error, optionally after z-scoring each clip.
``physformer``
    The rPPG-Toolbox PhysFormer trainer's loss (Yu et al., CVPR 2022): per-clip negative Pearson plus the
    frequency cross-entropy and label-distribution KL terms on a 40-179 bpm grid; see :func:`physformer_loss`.
``physfsunet_hybrid``
    The physFSUNet hybrid loss (Cen et al., arXiv 2507.07795, eqs. 5-11):
    ``alpha*(1 - r) + beta(e)*(CE_PSD + KL_HR)`` with ``beta(e) = lam * theta**(e / E)`` (0-based epoch
    ``e``), sigma = 3 bpm; see :func:`physfsunet_hybrid`.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from rppgbench._checks import check_option, check_range
from rppgbench._registry import Registry

__all__ = ["LOSSES", "neg_pearson", "mse", "physfsunet_hybrid", "physformer_loss", "psd_on_bpm_grid", "label_hr_bpm",
           "welch_hr_bpm", "get_loss", "zscore"]

LOSSES: Registry[Callable[..., torch.Tensor]] = Registry("loss")

_EPS = 1e-8


def _check_pair(pred: torch.Tensor, label: torch.Tensor) -> None:
    if pred.ndim != 2 or label.ndim != 2:
        raise ValueError(f"loss expects pred and label of shape (B, T); got pred {tuple(pred.shape)}, "
                         f"label {tuple(label.shape)}")
    if pred.shape != label.shape:
        raise ValueError(f"loss: pred shape {tuple(pred.shape)} does not match label shape {tuple(label.shape)}")


def zscore(x: torch.Tensor, mode: str | None) -> torch.Tensor:
    """Z-score ``x`` (B, T): ``"sample"`` per clip, ``"batch"`` with one scalar mean/std over the whole
    tensor (rPPG-Toolbox FactorizePhys trainer; ``torch.std`` is the unbiased estimate), ``None`` unchanged."""
    check_option("zscore", mode, ("sample", "batch", None))
    if mode is None:
        return x
    if mode == "batch":
        return (x - x.mean()) / x.std()
    return (x - x.mean(dim=1, keepdim=True)) / (x.std(dim=1, keepdim=True) + _EPS)


def _pearson_time(pred: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """Per-clip temporal Pearson correlation, shape (B,)."""
    p = pred - pred.mean(dim=1, keepdim=True)
    g = label - label.mean(dim=1, keepdim=True)
    num = (p * g).sum(dim=1)
    den = torch.sqrt((p * p).sum(dim=1) * (g * g).sum(dim=1)) + _EPS
    return num / den


@LOSSES.register("neg_pearson")
def neg_pearson(pred: torch.Tensor, label: torch.Tensor, *, epoch: int = 0, epochs: int = 1, fs: float = 30.0,
                pearson_axis: str = "time", zscore_mode: str | None = "default") -> torch.Tensor:
    """Negative Pearson loss ``mean(1 - r)``.

    Parameters
    ----------
    pred, label : Tensor (B, T)
    pearson_axis : {"time", "batch"}
        ``"time"``: Pearson of each clip over time, then the batch mean (paper semantics).
        ``"batch"``: rPPG-Toolbox variant (cosine similarity over dim 0 after subtracting the dim-0
        mean, ``eps=1e-6``), see the module docstring.
    zscore_mode : {"default", "sample", "batch", None}
        Normalisation applied to pred and label first. ``"default"`` is ``"batch"`` for the batch axis
        (the toolbox trainer's one-scalar z-scoring) and ``None`` for the time axis (Pearson is invariant
        to per-clip affine changes anyway).
    """
    _check_pair(pred, label)
    check_option("pearson_axis", pearson_axis, ("time", "batch"))
    if zscore_mode == "default":
        zscore_mode = "batch" if pearson_axis == "batch" else None
    pred = zscore(pred, zscore_mode)
    label = zscore(label, zscore_mode)
    if pearson_axis == "time":
        return (1.0 - _pearson_time(pred, label)).mean()
    cos = F.cosine_similarity(pred - pred.mean(dim=0, keepdim=True), label - label.mean(dim=0, keepdim=True),
                              dim=0, eps=1e-6)
    return (1.0 - cos).mean()


@LOSSES.register("mse")
def mse(pred: torch.Tensor, label: torch.Tensor, *, epoch: int = 0, epochs: int = 1, fs: float = 30.0,
        zscore_mode: str | None = None) -> torch.Tensor:
    """Mean squared error, after optional z-scoring (``zscore_mode`` as in :func:`zscore`)."""
    _check_pair(pred, label)
    return F.mse_loss(zscore(pred, zscore_mode), zscore(label, zscore_mode))


# -- physFSUNet hybrid loss ----------------------------------------------------------------------------------

BPM_GRID = np.arange(45, 150, dtype=np.float64)  # 105 bins, 1 bpm apart (the RhythmFormer/physFSUNet grid)


def psd_on_bpm_grid(x: torch.Tensor, fs: float, bpm: np.ndarray = BPM_GRID, periodic: bool = True) -> torch.Tensor:
    """Differentiable normalised power spectrum of each clip at the heart-rate grid ``bpm``.

    Each clip (row of ``x``, shape (B, N)) is multiplied by a Hann window (periodic, or the symmetric
    ``np.hanning(N)`` with ``periodic=False``); the power of the explicit DFT is evaluated at the fractional
    bins ``k = (bpm/60) / (fs/N)``, and each row is scaled to sum to 1. Returns (B, len(bpm)).
    """
    n = x.shape[-1]
    k = torch.as_tensor(np.asarray(bpm, dtype=np.float64) / 60.0 / (fs / n), dtype=x.dtype, device=x.device)
    t = torch.arange(n, dtype=x.dtype, device=x.device)
    phase = 2.0 * math.pi * k[:, None] * t[None, :] / n  # (K, N)
    xw = x * torch.hann_window(n, periodic=periodic, dtype=x.dtype, device=x.device)
    power = (xw @ torch.sin(phase).T) ** 2 + (xw @ torch.cos(phase).T) ** 2  # (B, K)
    return power / (power.sum(dim=1, keepdim=True) + 1e-12)


def _smoothness_detrend(x: np.ndarray, lam: float = 100.0) -> np.ndarray:
    """Tarvainen et al. (2002) smoothness-priors detrending of a 1-D signal (dense; clips are short)."""
    n = x.shape[0]
    if n < 3:
        return x - x.mean()
    d2 = np.zeros((n - 2, n))
    idx = np.arange(n - 2)
    d2[idx, idx], d2[idx, idx + 1], d2[idx, idx + 2] = 1.0, -2.0, 1.0
    trend = np.linalg.solve(np.eye(n) + lam ** 2 * d2.T @ d2, x)
    return x - trend


def label_hr_bpm(label: np.ndarray, fs: float) -> float:
    """Heart rate (bpm) of one label clip, as the rPPG-Toolbox post-processing computes it.

    Smoothness-priors detrend (lambda 100), 1st-order Butterworth band-pass 0.6-3.3 Hz (filtfilt),
    periodogram with ``nfft`` = next power of two, peak inside the band, times 60.
    """
    from scipy import signal as sps

    x = _smoothness_detrend(np.asarray(label, dtype=np.float64))
    b, a = sps.butter(1, [0.6 / fs * 2.0, 3.3 / fs * 2.0], btype="bandpass")
    padlen = min(3 * max(len(a), len(b)), x.shape[0] - 1)
    x = sps.filtfilt(b, a, x, padlen=padlen)
    nfft = 1 << int(math.ceil(math.log2(max(x.shape[0], 2))))
    freqs, pxx = sps.periodogram(x, fs=fs, nfft=nfft, detrend=False)
    band = (freqs >= 0.6) & (freqs <= 3.3)
    return float(freqs[band][np.argmax(pxx[band])] * 60.0)


def _gauss_on_grid(mu_bpm: np.ndarray, sigma: float, bpm: np.ndarray = BPM_GRID) -> np.ndarray:
    g = np.exp(-((bpm[None, :] - mu_bpm[:, None]) ** 2) / (2.0 * sigma ** 2)) / (math.sqrt(2.0 * math.pi) * sigma)
    return np.maximum(g, 1e-15)


@LOSSES.register("physfsunet_hybrid")
def physfsunet_hybrid(pred: torch.Tensor, label: torch.Tensor, *, epoch: int = 0, epochs: int = 1,
                      fs: float = 30.0, alpha: float = 1.0, lam: float = 1.0, theta: float = 1.5,
                      sigma: float = 3.0, hr_kl: str = "psd", zscore_mode: str | None = "sample",
                      return_parts: bool = False) -> torch.Tensor | dict[str, torch.Tensor]:
    """physFSUNet hybrid loss ``alpha*(1 - r) + beta(e)*(L_CE + L_HR)`` (Cen et al., arXiv 2507.07795).

    * ``r``: per-clip temporal Pearson correlation.
    * ``beta(e) = lam * theta**(e / epochs)`` for the 0-based ``epoch`` e (the paper's 1-based
      ``lam*theta**((e-1)/E)``): 1.0 at the first epoch, rising to ``theta**((E-1)/E)``.
    * ``L_CE``: cross-entropy with the normalised predicted PSD on the 45-149 bpm grid
      (:func:`psd_on_bpm_grid`) used as logits, target class ``int(HR_gt) - 45`` where ``HR_gt`` is the
      toolbox estimate of the label's heart rate (:func:`label_hr_bpm`), clamped to the grid.
    * ``L_HR``:
      ``hr_kl="psd"`` (default, differentiable): ``KL(N(HR_gt, sigma^2) sampled on the grid, floored at
      1e-15 || predicted normalised PSD)`` summed over the grid;
      ``hr_kl="argmax"`` (the paper's literal form): KL between two Gaussians of equal ``sigma`` placed at
      the argmax-PSD heart rates of label and prediction, ``(mu_gt - mu_pred)^2 / (2 sigma^2)``, which
      carries **no gradient**;
      ``hr_kl="none"``: ``L_HR = 0``. With ``alpha=0.2, lam=1, theta=1`` that is the loss the rPPG-Toolbox
      RhythmFormer trainer optimises (its ``HR_loss`` compares one-element "distributions" and is identically 0,
      rPPG-Toolbox@d807b01 ``neural_methods/loss/RythmFormerLossComputer.py``; its PSD window is the symmetric
      ``np.hanning``, here the periodic Hann window).

    Each term is computed per clip and averaged over the batch. ``zscore_mode`` normalises pred and
    label first (``"sample"``: each clip, as the RhythmFormer trainer does). With ``return_parts`` a dict
    ``{"loss", "time", "ce", "hr", "beta"}`` is returned instead of the scalar.
    """
    _check_pair(pred, label)
    check_option("hr_kl", hr_kl, ("psd", "argmax", "none"))
    check_range("sigma", sigma, 0.0, None, low_inclusive=False)
    check_range("epochs", epochs, 1, None)
    pred = zscore(pred, zscore_mode)
    label = zscore(label, zscore_mode)
    l_time = 1.0 - _pearson_time(pred, label)  # (B,)
    lab_np = label.detach().double().cpu().numpy()
    hr_gt = np.array([label_hr_bpm(row, fs) for row in lab_np])
    target = torch.as_tensor(np.clip(hr_gt.astype(np.int64) - 45, 0, len(BPM_GRID) - 1), device=pred.device)
    psd = psd_on_bpm_grid(pred.float(), fs)  # (B, K)
    l_ce = F.cross_entropy(psd, target, reduction="none")
    if hr_kl == "none":
        l_hr = torch.zeros_like(l_ce)
    elif hr_kl == "psd":
        gauss = torch.as_tensor(_gauss_on_grid(hr_gt, sigma), dtype=psd.dtype, device=psd.device)
        l_hr = (gauss * (gauss.log() - torch.log(psd + 1e-15))).sum(dim=1)
    else:
        with torch.no_grad():
            mu_pred = torch.as_tensor(BPM_GRID, device=psd.device, dtype=psd.dtype)[psd.argmax(dim=1)]
            mu_gt = torch.as_tensor(BPM_GRID, device=psd.device, dtype=psd.dtype)[
                psd_on_bpm_grid(label.float(), fs).argmax(dim=1)]
            l_hr = (mu_gt - mu_pred) ** 2 / (2.0 * sigma ** 2)
    beta = lam * theta ** (epoch / epochs)
    total = (alpha * l_time + beta * (l_ce + l_hr)).mean()
    if return_parts:
        return {"loss": total, "time": l_time.mean(), "ce": l_ce.mean(), "hr": l_hr.mean(),
                "beta": torch.tensor(beta)}
    return total


PHYSFORMER_BPM = np.arange(40, 180, dtype=np.float64)  # 140 bins, the PhysFormer trainer's grid


def welch_hr_bpm(label: np.ndarray, fs: float, lo: float = 30.0, hi: float = 180.0) -> float:
    """Heart rate (bpm) of one label clip as the rPPG-Toolbox PhysFormer trainer's ``get_hr``: Welch PSD
    (Hann, ``nperseg = min(N - 1, 256)``, ``nfft = int(1e5 / fs)``), peak strictly inside (lo, hi) bpm."""
    from scipy import signal as sps

    x = np.asarray(label, dtype=np.float64)
    freqs, pxx = sps.welch(x, fs, nfft=int(1e5 / fs), nperseg=min(x.shape[0] - 1, 256))
    band = (freqs > lo / 60.0) & (freqs < hi / 60.0)
    if not band.any():
        raise ValueError(f"welch_hr_bpm: a {x.shape[0]}-sample clip at {fs} Hz has no Welch bin in ({lo}, {hi}) bpm")
    return float(freqs[band][np.argmax(pxx[band])] * 60.0)


@LOSSES.register("physformer")
def physformer_loss(pred: torch.Tensor, label: torch.Tensor, *, epoch: int = 0, epochs: int = 1, fs: float = 30.0,
                    a_start: float = 1.0, b_start: float = 1.0, exp_b: float = 1.0, switch_epoch: int = 10,
                    a_late: float = 0.05, b_late: float = 5.0, std: float = 1.0,
                    return_parts: bool = False) -> torch.Tensor | dict[str, torch.Tensor]:
    """The rPPG-Toolbox PhysFormer trainer's loss ``a * L_pearson + b * (L_CE + L_KL)`` (Yu et al., CVPR 2022).

    * ``pred`` is z-scored per clip (unbiased std), ``L_pearson`` is the per-clip negative Pearson with the label.
    * The label's heart rate ``HR`` comes from :func:`welch_hr_bpm` (30-180 bpm).
    * ``PSD``: the normalised power of the symmetric-Hann-windowed DFT of each z-scored clip on the 40-179 bpm
      grid (:func:`psd_on_bpm_grid` with ``periodic=False``), summing to 1.
    * ``L_CE = cross_entropy(PSD as logits, int(HR - 40))`` (class clamped to the grid; the trainer would fail
      outside it).
    * ``L_KL = KLDivLoss(sum)(log_softmax(PSD), G)`` with ``G`` the N(int(HR), std^2) density sampled on the grid,
      floored at 1e-15 -- the trainer's label-distribution term, log-softmax of a probability vector included.
    * CE and KL are per clip, then averaged over the batch.
    * weights: ``a = a_start, b = b_start * exp_b ** (epoch / 10)`` for the 0-based ``epoch <= switch_epoch``,
      else ``a = a_late, b = b_late`` (1, 1 for every epoch of the released 10-epoch runs).
    """
    _check_pair(pred, label)
    check_range("std", std, 0.0, None, low_inclusive=False)
    pred = (pred - pred.mean(dim=1, keepdim=True)) / pred.std(dim=1, keepdim=True)
    l_pearson = (1.0 - _pearson_time(pred, label)).mean()
    lab = label.detach().double().cpu().numpy()
    hr = np.array([welch_hr_bpm(row, fs) for row in lab])
    psd = psd_on_bpm_grid(pred.float(), fs, PHYSFORMER_BPM, periodic=False)  # (B, 140)
    target = torch.as_tensor(np.clip((hr - PHYSFORMER_BPM[0]).astype(np.int64), 0, len(PHYSFORMER_BPM) - 1),
                             device=pred.device)
    l_ce = F.cross_entropy(psd, target)
    gauss = np.exp(-(PHYSFORMER_BPM[None, :] - np.trunc(hr)[:, None]) ** 2 / (2 * std ** 2)) / (
        math.sqrt(2 * math.pi) * std)
    gauss = torch.as_tensor(np.maximum(gauss, 1e-15), dtype=psd.dtype, device=psd.device)
    l_kl = F.kl_div(F.log_softmax(psd, dim=-1), gauss, reduction="none").sum(dim=1).mean()
    if epoch > switch_epoch:
        a, b = a_late, b_late
    else:
        a, b = a_start, b_start * exp_b ** (epoch / 10.0)
    total = a * l_pearson + b * (l_ce + l_kl)
    if return_parts:
        return {"loss": total, "pearson": l_pearson, "ce": l_ce, "kl": l_kl, "a": torch.tensor(a),
                "b": torch.tensor(b)}
    return total


def get_loss(name: str, **kwargs) -> Callable[..., torch.Tensor]:
    """The registered loss ``name`` with ``kwargs`` bound (``epoch``/``epochs``/``fs`` still per call)."""
    fn = LOSSES.get(name)
    if not kwargs:
        return fn

    def bound(pred: torch.Tensor, label: torch.Tensor, **call_kw) -> torch.Tensor:
        return fn(pred, label, **{**kwargs, **call_kw})

    bound.__name__ = f"{name}_bound"
    return bound
