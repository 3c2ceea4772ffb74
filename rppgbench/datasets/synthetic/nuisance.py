"""Nuisance trajectories of the synthetic generator: illumination (aperiodic changes, light switched, colour
temperature drift, mains flicker seen through exposure and rolling shutter) and motion (rigid head turns, nods
and translations; talking-like jaw motion of the lower face).

Every process is aperiodic: movements and light events happen at random times with random sizes and durations,
so none of them puts a single spectral line inside the heart-rate band. The parameters, their values per preset
and where they come from are in ``docs/synthetic.md`` ("Nuisances"). All draws come from the ``rng`` passed in,
so a seed fixes every trajectory.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Illumination", "make_illumination", "make_motion", "make_talking", "planck_gains", "min_jerk",
           "WAVELENGTHS_NM"]

#: effective wavelengths of the camera's R, G, B channels (nm) for the colour-temperature gains
WAVELENGTHS_NM: tuple[float, float, float] = (610.0, 550.0, 465.0)


def planck_gains(cct_k: np.ndarray | float, ref_k: float) -> np.ndarray:
    """Relative (R, G, B) gains of a black-body source at ``cct_k`` against ``ref_k`` (Planck's law at
    :data:`WAVELENGTHS_NM`), normalised so that G is 1: an intensity-free change of colour. Shape (..., 3)."""
    c2 = 1.4388e7  # second radiation constant, nm K
    lam = np.asarray(WAVELENGTHS_NM)
    t = np.asarray(cct_k, dtype=np.float64)[..., None]

    def rad(temp: np.ndarray | float) -> np.ndarray:
        return lam ** -5.0 / np.expm1(c2 / (lam * temp))

    g = rad(t) / rad(float(ref_k))
    return g / g[..., 1:2]


def min_jerk(tau: np.ndarray) -> np.ndarray:
    """Minimum-jerk profile 10 s^3 - 15 s^4 + 6 s^5 on [0, 1] (0 before, 1 after): human point-to-point moves."""
    s = np.clip(tau, 0.0, 1.0)
    return s**3 * (10.0 - 15.0 * s + 6.0 * s**2)


def _pink(rng: np.random.Generator, n: int, fs: float, f_lo: float, f_hi: float) -> np.ndarray:
    """Zero-mean Gaussian noise with a 1/f power spectrum between ``f_lo`` and ``f_hi`` (Hz), unit s.d."""
    m = max(2 * n, 16)
    spec = rng.standard_normal(m // 2 + 1) + 1j * rng.standard_normal(m // 2 + 1)
    f = np.fft.rfftfreq(m, 1.0 / fs)
    gain = np.zeros_like(f)
    band = (f >= f_lo) & (f <= f_hi)
    gain[band] = 1.0 / np.sqrt(f[band])
    x = np.fft.irfft(spec * gain, m)[:n]
    sd = x.std()
    return (x - x.mean()) / sd if sd > 0 else np.zeros(n)


def _moves(rng: np.random.Generator, t: np.ndarray, amp: float, dur: tuple[float, float], dwell_s: float,
           speed: float | None = None) -> tuple[np.ndarray, int]:
    """Point-to-point moves between random targets in [-amp, amp]: minimum-jerk ramps of duration ``dur`` (or
    distance / speed when ``speed`` is given), separated by exponential dwells of mean ``dwell_s``.
    Returns the trajectory and the number of moves."""
    x = np.zeros_like(t)
    if amp <= 0 or t.size == 0:
        return x, 0
    pos, now, n = 0.0, float(rng.exponential(0.5 * dwell_s)), 0
    end = float(t[-1])
    while now < end:
        target = float(rng.uniform(-amp, amp))
        if speed:
            d = max(dur[0], abs(target - pos) / (speed * rng.uniform(0.7, 1.3)))
        else:
            d = float(rng.uniform(*dur))
        x += (target - pos) * min_jerk((t - now) / d)
        pos, now, n = target, now + d + float(rng.exponential(dwell_s)), n + 1
    return x, n


def make_motion(rng: np.random.Generator, t: np.ndarray, height: int, *, rotation_deg: float,
                translation: float, speed: float, scale: float, sway_deg: float) -> tuple[dict[str, np.ndarray],
                                                                                         dict[str, Any]]:
    """Rigid head motion: yaw turns, pitch nods and a little roll (minimum-jerk moves, 0.5-1.5 s each, between
    random poses), translations at a speed of ``speed`` face heights per second, scale changes, and a 1/f sway of
    ``sway_deg``. Returns the trajectories (tx, ty in pixels; angles in degrees; relative scale) and a summary."""
    fs = 1.0 / float(np.median(np.diff(t))) if t.size > 1 else 30.0
    face_h = 0.4 * height
    out: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    for name, amp, dwell in (("yaw_deg", rotation_deg, 1.0), ("pitch_deg", 0.5 * rotation_deg, 1.5),
                             ("roll_deg", 0.25 * rotation_deg, 2.0)):
        out[name], counts[name] = _moves(rng, t, amp, (0.5, 1.5), dwell)
    for name in ("tx", "ty"):
        out[name], counts[name] = _moves(rng, t, translation * height, (0.4, 3.0), 1.0, speed=speed * face_h)
    out["scale"], counts["scale"] = _moves(rng, t, scale, (0.8, 2.0), 2.0)
    if sway_deg > 0:
        for name, k in (("yaw_deg", 1.0), ("pitch_deg", 0.7), ("roll_deg", 0.4)):
            out[name] = out[name] + k * sway_deg * _pink(rng, t.size, fs, 0.05, 2.0)
        for name in ("tx", "ty"):
            out[name] = out[name] + 0.002 * height * (sway_deg / 0.5) * _pink(rng, t.size, fs, 0.05, 2.0)
    summary = dict(moves=counts, yaw_range_deg=float(np.ptp(out["yaw_deg"])) if t.size else 0.0,
                   pitch_range_deg=float(np.ptp(out["pitch_deg"])) if t.size else 0.0)
    return out, summary


def make_talking(rng: np.random.Generator, t: np.ndarray, amount: float) -> tuple[np.ndarray, dict[str, Any]]:
    """Jaw opening in [0, 1] times ``amount``: speech bursts of 1-4 s separated by pauses of 0.3-1.5 s; inside a
    burst, syllables of 0.15-0.35 s (3-6 Hz) with random peak opening 0.3-1 (a sin^2 bump each)."""
    jaw = np.zeros_like(t)
    if amount <= 0 or t.size == 0:
        return jaw, dict(syllables=0, speaking_fraction=0.0)
    end = float(t[-1])
    now, n_syl, speaking = float(rng.uniform(0.0, 0.8)), 0, 0.0
    while now < end:
        burst_end = now + float(rng.uniform(1.0, 4.0))
        speaking += min(burst_end, end) - now
        while now < burst_end and now < end:
            d = float(rng.uniform(0.15, 0.35))
            tau = (t - now) / d
            inside = (tau >= 0) & (tau <= 1)
            jaw[inside] = np.maximum(jaw[inside], rng.uniform(0.3, 1.0) * np.sin(np.pi * tau[inside]) ** 2)
            now += d
            n_syl += 1
        now = burst_end + float(rng.uniform(0.3, 1.5))
    return amount * jaw, dict(syllables=n_syl, speaking_fraction=float(speaking / max(end, 1e-9)))


@dataclass(frozen=True)
class Illumination:
    """Scene illumination at the frame times.

    intensity : (T,) achromatic level (aperiodic change and steps), 1 on average at the start
    colour : (T, 3) R, G, B gains of the colour-temperature drift (G = 1)
    flicker_rows : (T, H) or None, the factor each image row receives from mains flicker (rolling shutter)
    summary : realised events (step times and sizes, alias frequencies, exposure), stored in meta.json
    """

    intensity: np.ndarray
    colour: np.ndarray
    flicker_rows: np.ndarray | None
    summary: dict[str, Any]

    def frame_gain(self, i: int) -> np.ndarray:
        """Per-row, per-channel gain of frame ``i``: (H, 1, 3) or (1, 1, 3)."""
        g = (self.intensity[i] * self.colour[i]).astype(np.float32)[None, None, :]
        if self.flicker_rows is None:
            return g
        return g * self.flicker_rows[i].astype(np.float32)[:, None, None]


def _alias(f: float, fs: float) -> float:
    """Apparent frequency of ``f`` sampled at ``fs`` (folded into [0, fs/2])."""
    r = f % fs
    return float(min(r, fs - r))


def make_illumination(rng: np.random.Generator, t: np.ndarray, height: int, fps: float, *, change: float,
                      steps_per_min: float, step: float, cct_k: float, cct_drift_k: float, flicker: float,
                      mains_hz: float, exposure_s: float, clock_ppm: float, gain: float = 1.0) -> Illumination:
    """Build the illumination of a recording (see the module docstring and docs/synthetic.md).

    change : s.d. of the aperiodic intensity change (1/f spectrum, 0.01-4 Hz): people and clouds passing,
        screen content, auto-exposure hunting.
    steps_per_min, step : rate of lights switched on/off (Poisson) and the size of each step (relative, sign and
        size 0.5-1x drawn); a step ramps over 0.03-0.3 s (LED to fluorescent start).
    cct_k, cct_drift_k : colour temperature at the start and the range of its slow drift (Planck gains).
    flicker : modulation depth of the lamp's light at twice the mains frequency ``mains_hz`` (second harmonic
        0.3x); each image row integrates it over ``exposure_s`` starting at its rolling-shutter read time, and the
        camera clock runs ``clock_ppm`` fast, so it is seen at the aliased frequency, attenuated by the exposure.
    gain : the camera's exposure x gain relative to the clean scene; below 1 leaves headroom under 255 for the
        brighter moments (without it the brightest skin of types I-II clips, and clipping is not common-mode).
    """
    n = t.size
    fs = float(fps)
    level = np.ones(n)
    if change > 0:
        level = level + change * _pink(rng, n, fs, 0.01, 4.0)
    steps = []
    if steps_per_min > 0 and n > 1:
        k = int(rng.poisson(steps_per_min * float(t[-1]) / 60.0))
        for _ in range(k):
            at = float(rng.uniform(0.0, t[-1]))
            size = float(rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.0) * step)
            ramp = float(rng.uniform(0.03, 0.3))
            level = level * (1.0 + size * min_jerk((t - at) / ramp))
            steps.append(dict(time_s=round(at, 4), size=round(size, 4), ramp_s=round(ramp, 4)))
    level = gain * np.clip(level, 0.2, None)
    colour = np.ones((n, 3))
    cct = np.full(n, float(cct_k))
    if cct_drift_k > 0:
        f = rng.uniform(0.005, 0.05)
        cct = cct_k + cct_drift_k * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
        colour = planck_gains(cct, cct_k)
    rows = None
    summary: dict[str, Any] = dict(steps=steps, cct_range_k=[float(cct.min()), float(cct.max())])
    if flicker > 0:
        readout = 0.7 / fs                       # rolling shutter: rows read over 70 % of the frame time
        y = np.arange(height) * (readout / height)
        clock = 1.0 + clock_ppm * 1e-6           # the camera's clock: frames come slightly early or late
        wander = 0.02 * _pink(rng, n, fs, 0.002, 0.05)  # mains frequency wander (Hz), a few tens of mHz
        aliases = []
        rows = np.ones((n, height))
        for harmonic, depth in ((2, flicker), (4, 0.3 * flicker)):
            f_nom = harmonic * mains_hz
            # phase of the flicker at each frame start (in true time), with the mains wander integrated
            f_t = harmonic * (mains_hz + wander) * clock
            phase0 = float(rng.uniform(0, 2 * np.pi))
            ph = phase0 + 2 * np.pi * np.concatenate([[0.0], np.cumsum(0.5 * (f_t[1:] + f_t[:-1]) * np.diff(t))])
            att = float(np.sinc(f_nom * exposure_s))  # mean of cos over the exposure, centre-shifted below
            rows += depth * att * np.cos(ph[:, None] + 2 * np.pi * f_nom * clock * (y[None, :] + exposure_s / 2))
            aliases.append(dict(harmonic_hz=f_nom, alias_hz=_alias(f_nom * clock, fs), residual_depth=abs(depth * att)))
        summary.update(flicker=aliases)
    return Illumination(intensity=level, colour=colour, flicker_rows=rows, summary=summary)
