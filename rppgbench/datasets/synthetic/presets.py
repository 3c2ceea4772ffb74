"""Generator parameters (:class:`SyntheticSpec`), difficulty presets and skin-tone table.

Presets set the nuisance factors; per-recording values that are drawn at random (heart rate, breathing rate,
skin tone, light direction, colour temperature, mains frequency, exposure, camera clock error) come from the seed
in :func:`make_spec`, so a spec fully describes a recording and is stored in its ``meta.json``.

``clean``   still head, steady light, low sensor noise, no compression.
``motion``  aperiodic rigid head motion (turns up to 25 deg, nods, translations at 10 % of the face height per
            second, scale changes; PURE's rotation and translation tasks) plus talking-like jaw motion of the
            lower face (MMPD's "Talking") and a small 1/f sway.
``light``   aperiodic intensity change (1/f, 3 % s.d.), lights switched (steps of up to 30 %, about 3 a
            minute), slow colour-temperature drift (+-400 K) and mains flicker (100/120 Hz at 15 % depth) seen
            through the exposure and a rolling shutter, i.e. aliased and attenuated.
``hard``    stronger motion and light together (PURE's medium rotation, 35 deg, and fast translation), darker
            skin tones allowed, more sensor noise and JPEG compression.
``mixed``   recording ``i`` of a dataset uses ``MIXED_CYCLE[i % 4]``; for a single spec, ``seed % 4``.

Parameters, values and sources: ``docs/synthetic.md`` ("Nuisances"); the trajectories: ``nuisance.py``.
Intensity changes, steps and shading are common to R, G and B (chrominance methods such as POS, Wang et al.,
IEEE TBME 2017, and CHROM, de Haan & Jeanne, IEEE TBME 2013, cancel them; GREEN, Verkruysse et al., Opt. Express
2008, does not); the colour-temperature drift, the white specular highlight and the non-rigid jaw motion are not.
"""
from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from rppgbench._checks import check_option, check_range

__all__ = ["SyntheticSpec", "make_spec", "PRESETS", "PRESET_NAMES", "MIXED_CYCLE", "FITZPATRICK", "SKIN_WEIGHTS"]

#: relative pulsatile absorption of the (R, G, B) channels (haemoglobin absorbs green most)
SKIN_WEIGHTS: tuple[float, float, float] = (0.33, 0.77, 0.53)

#: Fitzpatrick type -> (gain on the photo's skin reflectance per R, G, B, factor on the pulse amplitude).
#: Type III is the astronaut photo as it is; darker types absorb more (more in blue/green, melanin) and show
#: a smaller relative pulsatile component.
FITZPATRICK: dict[int, tuple[tuple[float, float, float], float]] = {
    1: ((1.12, 1.14, 1.16), 1.15),
    2: ((1.06, 1.07, 1.08), 1.08),
    3: ((1.00, 1.00, 1.00), 1.00),
    4: ((0.82, 0.76, 0.72), 0.85),
    5: ((0.62, 0.52, 0.46), 0.70),
    6: ((0.42, 0.32, 0.27), 0.55),
}

_BASE: dict[str, Any] = dict(
    pulse_amplitude=0.01,       # a: relative skin darkening at full blood volume (before skin-tone factor)
    hr_drift_bpm=2.0, hrv_sd=0.02, rsa_bpm=1.5, resp_amp=0.10, resp_baseline=0.05,
    motion_rotation_deg=0.0,    # largest yaw of a head turn (pitch nods 0.5x, roll 0.25x), degrees
    motion_translation=0.0,     # largest head translation, fraction of frame height
    motion_speed=0.0,           # translation speed, face heights per second
    motion_scale=0.0,           # largest relative scale change (towards/away from the camera)
    motion_sway_deg=0.0,        # s.d. of the 1/f postural sway (degrees of yaw)
    talking=0.0,                # jaw opening of a syllable at full effort, fraction of the face height
    illum_change=0.0,           # s.d. of the aperiodic (1/f, 0.01-4 Hz) intensity change, relative
    illum_steps_per_min=0.0,    # lights switched on/off per minute (Poisson)
    illum_step=0.0,             # largest relative size of a step
    illum_cct_drift_k=0.0,      # range of the slow colour-temperature drift (kelvin)
    illum_flicker=0.0,          # lamp modulation depth at twice the mains frequency (before the exposure)
    camera_gain=1.0,            # exposure x gain of the camera relative to the clean scene (headroom below 255)
    specular=0.04,              # strength of the white specular highlight on skin
    noise_sigma=1.0,            # sensor read noise, digital numbers (0-255 scale)
    jpeg_quality=0,             # 0: no compression; else JPEG quality applied per frame before writing
    fitzpatrick_choices=(1, 2, 3, 4),
)

_MOTION = dict(motion_rotation_deg=25.0, motion_translation=0.08, motion_speed=0.10, motion_scale=0.05,
               motion_sway_deg=0.3, talking=0.04, specular=0.08)
_LIGHT = dict(camera_gain=0.8, illum_change=0.03, illum_steps_per_min=3.0, illum_step=0.3, illum_cct_drift_k=400.0,
              illum_flicker=0.15)
PRESETS: dict[str, dict[str, Any]] = {
    "clean": dict(_BASE),
    "motion": {**_BASE, **_MOTION, "noise_sigma": 2.0},
    "light": {**_BASE, **_LIGHT, "noise_sigma": 2.0},
    "hard": {**_BASE, **_MOTION, **_LIGHT, **dict(motion_rotation_deg=35.0, motion_speed=0.14, talking=0.05,
                 illum_change=0.04, illum_steps_per_min=4.0, illum_step=0.4, illum_cct_drift_k=600.0,
                 illum_flicker=0.3, specular=0.10, noise_sigma=2.5, jpeg_quality=90,
                 fitzpatrick_choices=(1, 2, 3, 4, 5, 6))},
}
MIXED_CYCLE: tuple[str, ...] = ("clean", "motion", "light", "hard")
PRESET_NAMES: tuple[str, ...] = (*PRESETS, "mixed")


@dataclass(frozen=True)
class SyntheticSpec:
    """Everything that determines one synthetic recording (with ``seed``, the bytes are fixed).

    Random draws that are not listed here (motion trajectories, flicker phases, sensor noise, HRV jitter) come
    from ``seed`` inside :func:`~rppgbench.datasets.synthetic.render.render_recording`.
    """

    preset: str
    seed: int
    seconds: float
    fps: float
    width: int
    height: int
    hr_bpm: float               # target mean heart rate (the realised mean is in Rendered.mean_hr_bpm)
    resp_hz: float              # breathing rate
    fitzpatrick: int            # skin type I-VI (1-6)
    pulse_amplitude: float
    hr_drift_bpm: float
    hrv_sd: float
    rsa_bpm: float
    resp_amp: float
    resp_baseline: float
    motion_rotation_deg: float
    motion_translation: float
    motion_speed: float
    motion_scale: float
    motion_sway_deg: float
    talking: float
    illum_change: float
    illum_steps_per_min: float
    illum_step: float
    illum_cct_drift_k: float
    illum_flicker: float
    camera_gain: float
    illum_cct_k: float          # colour temperature of the light at the start (kelvin)
    mains_hz: float             # 50 or 60 (the lamp flickers at twice this)
    exposure_s: float           # camera exposure time (integrates the flicker)
    clock_ppm: float            # camera clock error: frames come (1 + ppm 1e-6) times faster than nominal
    light_dir: tuple[float, float, float] = (0.25, -0.35, 0.90)
    specular: float = 0.04
    noise_sigma: float = 1.0
    jpeg_quality: int = 0
    ppg_fs: float = 60.0
    frame_jitter_s: float = 0.0  # s.d. of frame timestamp jitter (0: exact 1/fps grid)
    background_seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(round(self.seconds * self.fps))

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["light_dir"] = list(self.light_dir)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SyntheticSpec:
        """Rebuild a spec from :meth:`as_dict` output or a recording's ``meta.json`` (other keys are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        missing = sorted(n for n in names - set(d) if n not in _OPTIONAL)
        if missing:
            raise ValueError(f"synthetic metadata lacks field(s) {missing}")
        kw = {k: v for k, v in d.items() if k in names}
        if "light_dir" in kw:
            kw["light_dir"] = tuple(float(v) for v in kw["light_dir"])
        return cls(**kw)


_SPEC_FIELDS = {f.name for f in dataclasses.fields(SyntheticSpec)}
_OPTIONAL = {f.name for f in dataclasses.fields(SyntheticSpec)
             if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING}


def make_spec(preset: str = "clean", seed: int = 0, seconds: float = 10.0, fps: float = 30.0,
              width: int = 640, height: int = 480, hr_bpm: float | None = None, **overrides: Any) -> SyntheticSpec:
    """Build a :class:`SyntheticSpec` from a preset, drawing per-recording values from ``seed``.

    Parameters
    ----------
    preset : one of ``clean``, ``motion``, ``light``, ``hard``, ``mixed`` (``mixed`` picks
        ``MIXED_CYCLE[seed % 4]``).
    seed : non-negative int; the same seed and arguments give the same recording.
    hr_bpm : target mean heart rate; drawn uniformly in [55, 110] bpm when None.
    overrides : any :class:`SyntheticSpec` field (e.g. ``fitzpatrick=6``, ``noise_sigma=0``).
    """
    check_option("preset", preset, PRESET_NAMES)
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int; got {seed!r}")
    check_range("seconds", float(seconds), 1.0, 3600.0)
    check_range("fps", float(fps), 5.0, 240.0)
    check_range("width", int(width), 32, 4096)
    check_range("height", int(height), 32, 4096)
    unknown = sorted(set(overrides) - _SPEC_FIELDS)
    if unknown:
        raise ValueError(f"unknown synthetic parameter(s) {unknown}; known: {sorted(_SPEC_FIELDS)}")
    if preset == "mixed":
        preset = MIXED_CYCLE[int(seed) % len(MIXED_CYCLE)]
    params = dict(PRESETS[preset])
    choices = params.pop("fitzpatrick_choices")
    rng = np.random.default_rng([int(seed), 1])
    drawn = dict(
        hr_bpm=float(rng.uniform(55.0, 110.0)),
        resp_hz=float(rng.uniform(0.2, 0.3)),
        fitzpatrick=int(rng.choice(choices)),
        illum_cct_k=float(rng.uniform(3000.0, 6500.0)),
        mains_hz=float(rng.choice([50.0, 60.0])),
        exposure_s=float(1.0 / rng.uniform(33.0, 120.0)),
        clock_ppm=float(rng.uniform(-1000.0, 1000.0)),
        light_dir=tuple(float(v) for v in _unit(np.array([rng.uniform(-0.4, 0.4), rng.uniform(-0.5, -0.1), 1.0]))),
        background_seed=int(rng.integers(0, 2**31 - 1)),
    )
    if hr_bpm is not None:
        drawn["hr_bpm"] = float(check_range("hr_bpm", float(hr_bpm), 40.0, 180.0))
    params.update(drawn)
    params.update(overrides)
    params["light_dir"] = tuple(float(v) for v in params["light_dir"])
    spec = SyntheticSpec(preset=preset, seed=int(seed), seconds=float(seconds), fps=float(fps), width=int(width),
                         height=int(height), **params)
    if spec.fitzpatrick not in FITZPATRICK:
        raise ValueError(f"fitzpatrick must be one of 1-6; got {spec.fitzpatrick!r}")
    check_range("pulse_amplitude", float(spec.pulse_amplitude), 0.0, 0.1)
    check_range("noise_sigma", float(spec.noise_sigma), 0.0, 64.0)
    if spec.jpeg_quality != 0:
        check_range("jpeg_quality", int(spec.jpeg_quality), 1, 100)
    check_range("ppg_fs", float(spec.ppg_fs), 10.0, 1000.0)
    check_range("frame_jitter_s", float(spec.frame_jitter_s), 0.0, 0.2 / float(fps))
    for name in ("motion_translation", "motion_speed", "motion_sway_deg", "illum_steps_per_min",
                 "illum_cct_drift_k", "specular", "hr_drift_bpm", "hrv_sd", "rsa_bpm", "resp_amp", "resp_baseline"):
        check_range(name, float(getattr(spec, name)), 0.0, None)
    check_range("motion_rotation_deg", float(spec.motion_rotation_deg), 0.0, 60.0)
    check_range("motion_scale", float(spec.motion_scale), 0.0, 0.5)
    check_range("talking", float(spec.talking), 0.0, 0.15)
    check_range("illum_change", float(spec.illum_change), 0.0, 0.3)
    check_range("illum_step", float(spec.illum_step), 0.0, 0.8)
    check_range("illum_flicker", float(spec.illum_flicker), 0.0, 1.0)
    check_range("camera_gain", float(spec.camera_gain), 0.1, 2.0)
    check_range("illum_cct_k", float(spec.illum_cct_k), 1500.0, 12000.0)
    check_range("illum_cct_k - illum_cct_drift_k", spec.illum_cct_k - spec.illum_cct_drift_k, 1000.0, None)
    check_range("mains_hz", float(spec.mains_hz), 40.0, 70.0)
    check_range("exposure_s", float(spec.exposure_s), 1e-5, 1.0 / float(fps))
    check_range("clock_ppm", float(spec.clock_ppm), -1e4, 1e4)
    return spec


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)
