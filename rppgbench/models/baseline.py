"""Null baselines: a pulse that knows nothing about the video (torch-free).

A null model predicts a pure sinusoid at one fixed heart rate for every recording, whatever the frames show. Its
errors are those of guessing the population's heart rate, so a method that does not beat it has learned nothing
from the video that the label distribution does not already give. ``rppgbench run`` adds one to every protocol
(model id :data:`rppgbench.results.null.NULL_ID`; see docs/models.md "Null baseline"):

- ``null.train_mean_hr``: the HR is the mean over the windows of the **train split's** labels, each window's HR
  computed exactly as the evaluation computes a reference HR (the protocol's profile, window and HR method).
  The runner fits it (:meth:`NullModel.fit`); the test labels are never used.
- ``null.constant_hr``: for protocols without a train split. The HR is :data:`CONSTANT_HR_BPM`, a published
  population value (:data:`CONSTANT_HR_SOURCE`), not anything computed from the evaluated data.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from rppgbench.models._factory import ModelCfg, register_model

__all__ = ["NullModel", "CONSTANT_HR_BPM", "CONSTANT_HR_SOURCE", "TRAIN_MEAN", "CONSTANT"]

#: registry names of the two null baselines
TRAIN_MEAN = "null.train_mean_hr"
CONSTANT = "null.constant_hr"

#: mean seated resting pulse rate of US adults, measured after ~4 min of quiet seated rest (the posture of the
#: rPPG datasets' recordings): "the mean RPR in adulthood plateaus at 72 beats/min (SE 0.2)"
CONSTANT_HR_BPM = 72.0
_OSTCHEGA = ("Ostchega Y, Porter KS, Hughes J, Dillon CF, Nwankwo T. Resting pulse rate reference data for children, "
             "adolescents, and adults: United States, 1999-2008. National Health Statistics Reports no. 41, 2011")
CONSTANT_HR_SOURCE = _OSTCHEGA + " (NHANES, 35,302 persons, seated after ~4 min of rest): adult mean 72 beats/min"

_NULL = ModelCfg(name="", arch="null", kind="baseline", clip_len=None, frame_size=None, input_view="raw",
                 label_view="raw", paper="")


class NullModel:
    """A sinusoid at ``hr_bpm`` for every recording; ``predict`` uses only the number of samples of its input."""

    n_params = 0

    def __init__(self, name: str, hr_bpm: float | None, source: str, reference: str = "") -> None:
        self.name = name
        self.hr_bpm = None if hr_bpm is None else _check_hr(hr_bpm, name)
        self.source = source  # "train" (fitted on the train split's labels) or "constant"
        self.reference = reference
        self.n_train_windows = 0
        self.n_train_recordings = 0
        self.train_skipped: dict[str, str] = {}  # train recordings left out of the mean, with the reason

    @property
    def needs_train(self) -> bool:
        """True when the HR comes from the train split (the runner calls :meth:`fit`)."""
        return self.source == "train"

    def fit(self, train_hr_bpm: Any, n_recordings: int) -> NullModel:
        """Set the HR to the mean of ``train_hr_bpm`` (one reference HR per train window, NaNs ignored)."""
        hr = np.asarray(train_hr_bpm, dtype=np.float64).ravel()
        hr = hr[np.isfinite(hr)]
        if hr.size == 0:
            raise ValueError(f"{self.name}: no train window with a reference HR; cannot fit the null baseline")
        self.hr_bpm = _check_hr(float(np.mean(hr)), self.name)
        self.n_train_windows = int(hr.size)
        self.n_train_recordings = int(n_recordings)
        return self

    def predict(self, x: Any, fs: float) -> np.ndarray:
        """Sinusoid (T,) at ``hr_bpm`` sampled at ``fs`` Hz; ``x`` is a sample count or any array of T rows
        (frames, an RGB trace): only its length is used."""
        if self.hr_bpm is None:
            raise ValueError(f"{self.name}: the HR is not set; fit() it on the train split's reference HRs first")
        n = int(x) if np.ndim(x) == 0 else len(x)
        if n < 1 or not fs > 0:
            raise ValueError(f"{self.name}.predict: need >= 1 sample and fs > 0; got {n} samples, fs={fs!r}")
        return np.sin(2.0 * np.pi * self.hr_bpm / 60.0 * np.arange(n) / float(fs))

    __call__ = predict

    def describe(self) -> dict[str, Any]:
        """What the results record about this null: which one ran, its HR and where the HR came from."""
        return {"name": self.name, "hr_bpm": self.hr_bpm, "source": self.source, "reference": self.reference,
                "n_train_windows": self.n_train_windows, "n_train_recordings": self.n_train_recordings,
                "train_skipped": dict(self.train_skipped)}

    def __repr__(self) -> str:
        return f"NullModel({self.name!r}, hr_bpm={self.hr_bpm!r}, source={self.source!r})"


def _check_hr(hr: Any, name: str) -> float:
    if isinstance(hr, bool) or not isinstance(hr, (int, float, np.floating, np.integer)) or not math.isfinite(hr) \
            or not 0 < float(hr) < 600:
        raise ValueError(f"{name}: hr_bpm must be a heart rate in (0, 600) bpm; got {hr!r}")
    return float(hr)


@register_model(_NULL.replace(
    name=TRAIN_MEAN, description="Null baseline: a sinusoid at the mean HR of the train split's labels "
                                 "(each train window's HR as the evaluation computes it)."))
def train_mean_hr(cfg: ModelCfg, hr_bpm: float | None = None) -> NullModel:
    """The train-mean null; the runner fits its HR on the train split (``hr_bpm`` sets it directly)."""
    return NullModel(cfg.name, hr_bpm, "train")


@register_model(_NULL.replace(
    name=CONSTANT, paper=_OSTCHEGA,
    description="Null baseline for protocols without a train split: a sinusoid at 72 bpm, the published mean "
                "seated resting pulse rate of adults (Ostchega et al. 2011)."))
def constant_hr(cfg: ModelCfg, hr_bpm: float = CONSTANT_HR_BPM) -> NullModel:
    """The constant null at ``hr_bpm`` (default :data:`CONSTANT_HR_BPM`, source :data:`CONSTANT_HR_SOURCE`)."""
    return NullModel(cfg.name, hr_bpm, "constant", CONSTANT_HR_SOURCE if hr_bpm == CONSTANT_HR_BPM else
                     "hr_bpm given as an override")
