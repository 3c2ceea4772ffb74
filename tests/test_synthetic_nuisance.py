"""The synthetic nuisances are aperiodic: no single spectral line inside the heart-rate band (issue 12)."""
from __future__ import annotations

import numpy as np
import pytest

from rppgbench.datasets.synthetic import make_spec, render_recording
from rppgbench.datasets.synthetic.nuisance import make_illumination, make_motion, make_talking, planck_gains

FS = 30.0
BAND = (0.7, 3.0)  # the heart-rate band, 42-180 bpm


def _band_power(x: np.ndarray, fs: float = FS) -> tuple[np.ndarray, np.ndarray, float]:
    """Periodogram of ``x`` (mean removed, Hann window): in-band bin powers, their frequencies, total power."""
    x = np.asarray(x, np.float64) - np.mean(x)
    p = np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2
    f = np.fft.rfftfreq(x.size, 1.0 / fs)
    band = (f >= BAND[0]) & (f <= BAND[1])
    return p[band], f[band], float(p[1:].sum())


def _largest_line_share(x: np.ndarray) -> float:
    """Share of the in-band power in the strongest in-band line (3 bins: one Hann main lobe)."""
    pb, _f, _tot = _band_power(x)
    k = int(np.argmax(pb))
    return float(pb[max(0, k - 1):k + 2].sum() / pb.sum())


def _t(seconds: float = 60.0) -> np.ndarray:
    return np.arange(int(seconds * FS)) / FS


@pytest.mark.parametrize("mains", [50.0, 60.0])
def test_mains_flicker_aliases_out_of_the_hr_band(mains):
    light = make_illumination(np.random.default_rng(0), _t(), 120, FS, change=0.0, steps_per_min=0.0, step=0.0,
                              cct_k=4000.0, cct_drift_k=0.0, flicker=0.3, mains_hz=mains, exposure_s=1 / 200,
                              clock_ppm=500.0)
    face = light.flicker_rows[:, 30:90].mean(axis=1)  # the rows a face covers, averaged as an ROI mean does
    pb, _f, tot = _band_power(face)
    assert face.std() > 0.002  # it is there (attenuated by the 5 ms exposure, partly averaged over the rows)
    assert pb.sum() < 0.02 * tot  # but it is not inside the HR band: 100 Hz -> ~10 Hz, 120 Hz -> ~0.06 Hz
    alias = {a["harmonic_hz"]: a["alias_hz"] for a in light.summary["flicker"]}
    if mains == 50.0:
        assert abs(alias[100.0] - 10.0) < 0.1
    else:
        assert alias[120.0] < 0.1
    # rows see different phases (rolling shutter): the bands are not uniform over the image
    assert np.ptp(light.flicker_rows[0]) > 0.01


def test_intensity_change_and_steps_are_broadband_not_a_line():
    shares = []
    for seed in range(5):
        light = make_illumination(np.random.default_rng(seed), _t(), 120, FS, change=0.03, steps_per_min=3.0,
                                  step=0.3, cct_k=4000.0, cct_drift_k=400.0, flicker=0.0, mains_hz=50.0,
                                  exposure_s=1 / 60, clock_ppm=0.0)
        shares.append(_largest_line_share(light.intensity))
        assert light.colour.shape == (light.intensity.size, 3)
    assert max(shares) < 0.3, shares  # a single sinusoid would put ~100 % of the band in one line


def test_a_sinusoid_is_one_line():
    """The measure the tests above use: what the old presets' in-band flicker/motion scored."""
    t = _t()
    noise = 0.01 * np.random.default_rng(0).standard_normal(t.size)
    assert _largest_line_share(np.sin(2 * np.pi * 1.3 * t) + noise) > 0.95


def test_planck_gains_warm_light_is_redder():
    g = planck_gains(np.array([3000.0, 4000.0, 6500.0]), 4000.0)
    np.testing.assert_allclose(g[1], 1.0)
    assert g[0, 0] > 1.0 > g[0, 2] and g[2, 0] < 1.0 < g[2, 2]
    np.testing.assert_allclose(g[:, 1], 1.0)


def test_head_motion_and_talking_are_aperiodic():
    shares, low = [], []
    for seed in range(5):
        motion, summary = make_motion(np.random.default_rng(seed), _t(), 120, rotation_deg=25.0, translation=0.08,
                                      speed=0.1, scale=0.05, sway_deg=0.3)
        assert np.abs(motion["yaw_deg"]).max() < 25.0 + 2.0  # targets within +-25 deg, plus the sway
        assert summary["moves"]["yaw_deg"] >= 10  # turns every few seconds over a minute
        for name in ("yaw_deg", "pitch_deg", "tx"):
            shares.append(_largest_line_share(motion[name]))
        pb, _f, tot = _band_power(motion["yaw_deg"])
        low.append(1 - pb.sum() / tot)
        jaw, tsum = make_talking(np.random.default_rng(seed), _t(), 0.04)
        assert 0.0 <= jaw.min() and jaw.max() <= 0.04 and 0.3 < tsum["speaking_fraction"] <= 1.0
        shares.append(_largest_line_share(jaw))
    assert max(shares) < 0.6, shares  # a sinusoid: > 0.95 (test_a_sinusoid_is_one_line)
    assert min(low) > 0.8, low  # head turns are slow: most of their power lies below the HR band


def test_rendered_light_and_motion_recorded_and_deterministic():
    s = make_spec("hard", seed=5, seconds=4, width=64, height=48)
    a, b = render_recording(s), render_recording(s)
    np.testing.assert_array_equal(a.frames, b.frames)
    nz = a.metadata["nuisances"]
    assert set(nz) == {"motion", "talking", "illumination"}
    assert nz["illumination"]["flicker"][0]["harmonic_hz"] == 2 * s.mains_hz
    assert a.motion["jaw"].max() > 0 and np.ptp(a.motion["yaw_deg"]) > 1.0


def test_talking_moves_only_the_lower_face():
    kw = dict(seed=1, seconds=3, width=160, height=120, noise_sigma=0.0, pulse_amplitude=0.0)
    still = render_recording(make_spec("clean", **kw))
    talk = render_recording(make_spec("clean", talking=0.06, motion_sway_deg=0.0, **kw))
    i = int(np.argmax(talk.motion["jaw"]))
    diff = np.abs(talk.frames[i].astype(int) - still.frames[i].astype(int)).max(axis=-1)
    x, y, w, h = still.face_boxes[i]
    rows = np.flatnonzero(diff.max(axis=1) > 8)
    assert rows.size and rows.min() > y + 0.45 * h  # nothing above the nose changes
