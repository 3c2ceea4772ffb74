"""Ground-truth pulse waveform of the synthetic dataset: beat times with drift and HRV, beat shape, respiration.

The waveform ``p(t)`` is **blood volume** (larger = more blood), as recorded by a finger oximeter. It is
defined for any time ``t`` (seconds) by

* a sequence of beat onsets ``b_0 < b_1 < ...`` whose intervals follow an instantaneous heart rate with a slow
  drift, respiratory sinus arrhythmia (RSA) and beat-to-beat jitter (HRV);
* a beat phase ``phi(t) = (t - b_k) / (b_{k+1} - b_k)`` inside beat ``k``, so the phase is continuous in time;
* a beat shape ``g(phi)``: a sum of periodic Gaussians (systolic peak, a late-systolic shoulder and the
  diastolic wave, which leaves a dicrotic notch between them), in the spirit of the sum-of-Gaussians
  ECG/PPG models (McSharry et al., IEEE TBME 2003);
* respiratory amplitude and baseline modulation at the breathing rate (0.2-0.3 Hz).

Because ``g`` is periodic in the phase and the phase is continuous, ``p(t)`` is continuous; it can be evaluated
exactly at frame times (for rendering) and at the label rate (for the label file).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PulseWave", "make_pulse", "BEAT_SHAPE"]

#: default beat shape: (centre phase, width, amplitude) of each Gaussian; systolic, shoulder, diastolic
BEAT_SHAPE: tuple[tuple[float, float, float], ...] = ((0.20, 0.070, 1.00), (0.31, 0.060, 0.22),
                                                      (0.52, 0.095, 0.45))


@dataclass(frozen=True)
class PulseWave:
    """A generated PPG: beat onsets plus shape and respiration parameters; call it with times in seconds.

    Attributes
    ----------
    onsets : float64 (K,)
        Beat onset times in seconds; the first is <= 0 and the last is past the end of the recording.
    shape : tuple of (mu, sigma, amplitude)
        The beat-shape Gaussians on the phase axis [0, 1).
    resp_hz, resp_amp, resp_baseline, resp_phase : float
        Breathing rate, relative amplitude modulation, additive baseline wander, and phase (radians).
    """

    onsets: np.ndarray
    shape: tuple[tuple[float, float, float], ...]
    resp_hz: float
    resp_amp: float
    resp_baseline: float
    resp_phase: float

    def beat_phase(self, t: np.ndarray) -> np.ndarray:
        """Continuous beat count at ``t``: ``k + phi`` inside beat ``k`` (counted from the first onset)."""
        t = np.asarray(t, dtype=np.float64)
        on = self.onsets
        if np.any(t < on[0]) or np.any(t >= on[-1]):
            raise ValueError(f"times must lie in [{on[0]:.3f}, {on[-1]:.3f}) s; got [{t.min():.3f}, {t.max():.3f}]")
        k = np.searchsorted(on, t, side="right") - 1
        return k + (t - on[k]) / (on[k + 1] - on[k])

    def shape_at(self, phi: np.ndarray) -> np.ndarray:
        """The periodic beat shape ``g(phi)`` (phase in beats; only the fractional part matters)."""
        frac = np.mod(np.asarray(phi, dtype=np.float64), 1.0)
        g = np.zeros_like(frac)
        for mu, sigma, amp in self.shape:
            for wrap in (-1.0, 0.0, 1.0):  # periodic: neighbouring beats' tails
                g += amp * np.exp(-0.5 * ((frac - mu - wrap) / sigma) ** 2)
        return g

    def __call__(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        g = self.shape_at(self.beat_phase(t))
        arg = 2.0 * np.pi * self.resp_hz * t + self.resp_phase
        return (1.0 + self.resp_amp * np.sin(arg)) * g + self.resp_baseline * np.sin(arg + 0.5 * np.pi)

    def mean_hr_bpm(self, t0: float, t1: float) -> float:
        """Mean heart rate over ``[t0, t1]``: beats elapsed (fractional, from the beat times) per minute."""
        if not t1 > t0:
            raise ValueError(f"t1 must be > t0; got t0={t0}, t1={t1}")
        ph = self.beat_phase(np.array([t0, t1]))
        return float(60.0 * (ph[1] - ph[0]) / (t1 - t0))

    def beats_in(self, t0: float, t1: float) -> np.ndarray:
        """Systolic peak times (phase of the first shape Gaussian) inside ``[t0, t1]``."""
        on = self.onsets
        peaks = on[:-1] + self.shape[0][0] * np.diff(on)
        return peaks[(peaks >= t0) & (peaks <= t1)]


def make_pulse(rng: np.random.Generator, seconds: float, hr_bpm: float, *, hr_drift_bpm: float = 3.0,
               hrv_sd: float = 0.03, rsa_bpm: float = 2.0, resp_hz: float = 0.25, resp_amp: float = 0.1,
               resp_baseline: float = 0.08, shape_jitter: float = 0.1) -> PulseWave:
    """Draw a pulse for ``seconds`` of recording at mean rate ``hr_bpm``.

    The instantaneous rate is ``hr_bpm + hr_drift_bpm * d(t) + rsa_bpm * sin(2 pi resp_hz t + .)`` where ``d`` is
    a smooth random drift in [-1, 1] (two slow sinusoids, periods 20-60 s); each interval is then scaled by
    ``1 + hrv_sd * N(0, 1)`` (clipped to +-3 sd). ``shape_jitter`` perturbs the beat-shape positions/amplitudes by
    up to that fraction, per recording.
    """
    if not 30.0 <= hr_bpm <= 200.0:
        raise ValueError(f"hr_bpm must be in [30, 200]; got {hr_bpm!r}")
    if seconds <= 0:
        raise ValueError(f"seconds must be > 0; got {seconds!r}")
    f_d = rng.uniform(1 / 60.0, 1 / 20.0, size=2)
    ph_d = rng.uniform(0, 2 * np.pi, size=2)
    ph_rsa = rng.uniform(0, 2 * np.pi)
    resp_phase = float(rng.uniform(0, 2 * np.pi))

    def inst_hr(t: float) -> float:
        drift = 0.5 * (np.sin(2 * np.pi * f_d[0] * t + ph_d[0]) + np.sin(2 * np.pi * f_d[1] * t + ph_d[1]))
        rsa = np.sin(2 * np.pi * resp_hz * t + ph_rsa)
        return max(30.0, hr_bpm + hr_drift_bpm * drift + rsa_bpm * rsa)

    first_ibi = 60.0 / inst_hr(0.0)
    t = -float(rng.uniform(0.05, 0.95)) * first_ibi
    onsets = [t]
    while t < seconds + 1.0:  # a margin so that every frame/label time has a following onset
        jitter = float(np.clip(rng.standard_normal(), -3.0, 3.0)) * hrv_sd
        t = t + 60.0 / inst_hr(t) * (1.0 + jitter)
        onsets.append(t)
    shape = []
    for mu, sigma, amp in BEAT_SHAPE:
        j = rng.uniform(-shape_jitter, shape_jitter, size=3)
        shape.append((float(mu * (1 + 0.3 * j[0])), float(sigma * (1 + j[1])), float(amp * (1 + j[2]))))
    return PulseWave(onsets=np.asarray(onsets), shape=tuple(shape), resp_hz=float(resp_hz),
                     resp_amp=float(resp_amp), resp_baseline=float(resp_baseline), resp_phase=resp_phase)
