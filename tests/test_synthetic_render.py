"""The synthetic generator's physics and labels, checked on rendered pixels (tiny sizes, a few seconds)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.signal import detrend, periodogram

from rppgbench.datasets.synthetic import (
    MIXED_CYCLE,
    PRESETS,
    SKIN_WEIGHTS,
    Rendered,
    SyntheticSpec,
    make_pulse,
    make_spec,
    render_recording,
)
from rppgbench.signal.methods import green, pos

FS = 30.0


def spectral_hr(x: np.ndarray, fs: float, lo: float = 0.7, hi: float = 3.0) -> float:
    """Periodogram peak (Hann window, zero-padded) of the linearly detrended signal within [lo, hi] Hz, in bpm."""
    f, p = periodogram(detrend(np.asarray(x, float)), fs, window="hann", nfft=16384)
    band = (f >= lo) & (f <= hi)
    return 60.0 * float(f[band][np.argmax(p[band])])


def skin_rgb(r: Rendered) -> np.ndarray:
    """(T, 3) spatial mean of each frame over its own skin mask."""
    return np.array([fr[m].mean(axis=0) for fr, m in zip(r.frames.astype(np.float64), r.skin_mask, strict=True)])


def box_rgb(r: Rendered) -> np.ndarray:
    out = []
    for fr, (x, y, w, h) in zip(r.frames.astype(np.float64), r.face_boxes, strict=True):
        out.append(fr[y:y + h, x:x + w].reshape(-1, 3).mean(axis=0))
    return np.asarray(out)


@pytest.fixture(scope="module")
def clean_renders() -> list[Rendered]:
    return [render_recording(make_spec("clean", seed=s, seconds=10, width=96, height=72)) for s in range(3)]


def test_rendered_arrays_have_the_documented_shapes(clean_renders):
    r = clean_renders[0]
    T = r.n_frames
    assert T == 300
    assert r.frames.shape == (T, 72, 96, 3) and r.frames.dtype == np.uint8
    assert r.skin_mask.shape == (T, 72, 96) and r.skin_mask.dtype == bool
    assert r.face_boxes.shape == (T, 4) and np.issubdtype(r.face_boxes.dtype, np.integer)
    np.testing.assert_array_equal(r.frame_times, np.arange(T) / FS)
    assert r.ppg_fs == 60.0
    np.testing.assert_allclose(np.diff(r.ppg_times), 1 / 60.0, rtol=0, atol=1e-12)
    assert r.ppg_times[0] == 0.0 and r.ppg_times[-1] >= r.frame_times[-1]
    # the label at frame times is the same function as the label file: equal where the clocks coincide
    np.testing.assert_array_equal(r.ppg_at_frames[::1], r.pulse(r.frame_times))
    np.testing.assert_allclose(r.ppg[::2][:T], r.ppg_at_frames, rtol=0, atol=1e-12)
    json.dumps(r.metadata)  # JSON-serialisable
    assert r.metadata["mean_hr_bpm"] == r.mean_hr_bpm and r.metadata["preset"] == "clean"
    # iter_frames streams exactly the same pixels
    for i, fr in enumerate(r.iter_frames()):
        np.testing.assert_array_equal(fr, r.frames[i])


def test_face_box_contains_the_skin_mask(clean_renders):
    r = render_recording(make_spec("motion", seed=4, seconds=3, width=96, height=72))
    for m, (x, y, w, h) in zip(r.skin_mask, r.face_boxes, strict=True):
        ys, xs = np.nonzero(m)
        assert xs.min() >= x - 1 and xs.max() <= x + w and ys.min() >= y - 1 and ys.max() <= y + h
        assert m.sum() > 0.4 * w * h  # the box is tight around the face


@pytest.mark.parametrize("use_box", [False, True])
def test_green_spectrum_recovers_known_hr_on_clean(clean_renders, use_box):
    for r in clean_renders:
        rgb = box_rgb(r) if use_box else skin_rgb(r)
        assert abs(spectral_hr(rgb[:, 1], FS) - r.mean_hr_bpm) < 2.0, r.spec


def test_skin_darkens_when_blood_volume_rises(clean_renders):
    for r in clean_renders:
        g = skin_rgb(r)[:, 1]
        assert np.corrcoef(g, r.ppg_at_frames)[0, 1] < -0.5
    # non-skin pixels carry no pulse: a background patch only has sensor noise around a constant
    r = clean_renders[0]
    bg = r.frames[:, :8, :8, 1].reshape(r.n_frames, -1).mean(axis=1)
    assert abs(np.corrcoef(bg, r.ppg_at_frames)[0, 1]) < 0.3


def test_pulse_strength_follows_the_skin_model():
    """Noise-free, still, steady light: skin colour = rho_k * (1 - a w_k p), so the channel ratios of the
    relative pulse amplitudes follow w = (0.33, 0.77, 0.53)."""
    r = render_recording(make_spec("clean", seed=1, seconds=6, width=160, height=120, noise_sigma=0.0,
                                   specular=0.0, pulse_amplitude=0.02))
    rgb = skin_rgb(r)
    rel = rgb / rgb.mean(axis=0)
    p = r.ppg_at_frames - r.ppg_at_frames.mean()
    slopes = np.array([np.polyfit(p, rel[:, k] - 1, 1)[0] for k in range(3)])
    assert np.all(slopes < 0)
    np.testing.assert_allclose(slopes / slopes[1], np.array(SKIN_WEIGHTS) / SKIN_WEIGHTS[1], atol=0.08)


def test_same_seed_same_pixels_and_labels_other_seed_other_hr():
    a = render_recording(make_spec("hard", seed=7, seconds=3, width=64, height=48))
    b = render_recording(make_spec("hard", seed=7, seconds=3, width=64, height=48))
    c = render_recording(make_spec("hard", seed=8, seconds=3, width=64, height=48))
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.ppg, b.ppg)
    assert json.dumps(a.metadata, sort_keys=True) == json.dumps(b.metadata, sort_keys=True)
    assert abs(a.mean_hr_bpm - c.mean_hr_bpm) > 0.5
    assert not np.array_equal(a.frames, c.frames)


def test_mean_hr_matches_the_generated_beats():
    r = render_recording(make_spec("clean", seed=5, seconds=20, width=64, height=48))
    onsets = r.pulse.onsets
    T_end = r.frame_times[-1]
    # beats elapsed over [0, T_end]: whole intervals inside plus the two partial ones at the edges
    k0 = np.searchsorted(onsets, 0.0, side="right") - 1
    k1 = np.searchsorted(onsets, T_end, side="right") - 1
    frac0 = (0.0 - onsets[k0]) / (onsets[k0 + 1] - onsets[k0])
    frac1 = (T_end - onsets[k1]) / (onsets[k1 + 1] - onsets[k1])
    beats = (k1 - k0) + frac1 - frac0
    assert r.mean_hr_bpm == pytest.approx(60.0 * beats / T_end, rel=1e-12)
    # and the label's own spectrum peaks there
    assert abs(spectral_hr(r.ppg, r.ppg_fs) - r.mean_hr_bpm) < 2.0
    assert abs(r.mean_hr_bpm - r.spec.hr_bpm) < 6.0


def test_ppg_shape_hrv_and_respiration():
    rng = np.random.default_rng(0)
    pw = make_pulse(rng, 60.0, 72.0, hr_drift_bpm=3.0, hrv_sd=0.03, rsa_bpm=2.0, resp_hz=0.25, resp_amp=0.15,
                    resp_baseline=0.1)
    # one beat: systolic peak, dicrotic notch, diastolic peak; periodic (continuous across beats)
    phi = np.linspace(0, 1, 2001)
    g = pw.shape_at(phi)
    maxima = np.flatnonzero((g[1:-1] > g[:-2]) & (g[1:-1] > g[2:])) + 1
    minima = np.flatnonzero((g[1:-1] < g[:-2]) & (g[1:-1] < g[2:])) + 1
    assert len(maxima) == 2 and g[maxima[0]] > g[maxima[1]]
    notch = minima[(minima > maxima[0]) & (minima < maxima[1])]
    assert notch.size == 1 and g[notch[0]] < g[maxima[1]]
    assert pw.shape_at(np.array([0.0]))[0] == pytest.approx(pw.shape_at(np.array([1.0 - 1e-12]))[0], abs=1e-9)
    # heart rate varies beat to beat
    ibi = np.diff(pw.onsets)
    assert ibi.std() / ibi.mean() > 0.01 and np.all(np.abs(60 / ibi - 72) < 20)
    # respiration: the slow part of p(t) (mean over each beat) oscillates at the breathing rate
    t = np.arange(0, 60, 1 / 60.0)
    p = pw(t)
    assert np.all(np.isfinite(p))
    slow = np.convolve(p, np.ones(50) / 50, mode="same")[100:-100]
    assert abs(spectral_hr(slow, 60.0, lo=0.1, hi=0.5) / 60.0 - 0.25) < 0.03


def test_hard_preset_defeats_green_but_not_pos():
    err_g, err_p = [], []
    for seed in range(4):  # 160x120: enough skin pixels for POS to survive the JPEG step on dark skin
        r = render_recording(make_spec("hard", seed=seed, seconds=10, width=160, height=120))
        rgb = skin_rgb(r)
        err_g.append(abs(spectral_hr(green(rgb, FS), FS) - r.mean_hr_bpm))
        err_p.append(abs(spectral_hr(pos(rgb, FS), FS) - r.mean_hr_bpm))
    assert np.median(err_g) > 10.0, err_g
    assert np.median(err_p) < 3.0, err_p
    assert np.mean(err_g) > 2.0 * np.mean(err_p), (err_g, err_p)


def test_presets_and_spec_validation():
    assert set(PRESETS) == set(MIXED_CYCLE) == {"clean", "motion", "light", "hard"}
    assert [make_spec("mixed", seed=s, seconds=2).preset for s in range(8)] == list(MIXED_CYCLE) * 2
    s = make_spec("hard", seed=3, seconds=2, width=64, height=48)
    assert s.jpeg_quality > 0 and s.motion_rotation_deg > 0 and s.illum_flicker > 0
    assert SyntheticSpec.from_dict(json.loads(json.dumps(s.as_dict()))) == s
    assert make_spec("clean", seed=1, hr_bpm=66.0).hr_bpm == 66.0
    assert make_spec("clean", seed=1, fitzpatrick=6).fitzpatrick == 6
    with pytest.raises(ValueError, match="preset"):
        make_spec("noisy")
    with pytest.raises(ValueError, match="unknown synthetic parameter"):
        make_spec("clean", flicker=1)
    with pytest.raises(ValueError, match="fitzpatrick"):
        make_spec("clean", fitzpatrick=7)
    with pytest.raises(ValueError, match="hr_bpm"):
        make_spec("clean", hr_bpm=300)
    with pytest.raises(ValueError, match="seed"):
        make_spec("clean", seed=-1)


def test_darker_skin_gives_a_weaker_pulse():
    amps = []
    for tone in (1, 6):
        r = render_recording(make_spec("clean", seed=2, seconds=5, width=96, height=72, fitzpatrick=tone,
                                       noise_sigma=0.0))
        g = skin_rgb(r)[:, 1]
        amps.append(np.polyfit(r.ppg_at_frames, g, 1)[0])  # DN per unit blood volume (negative)
    assert amps[0] < amps[1] < 0
    assert abs(amps[1]) < 0.5 * abs(amps[0])


def test_sensor_noise_is_white_with_the_requested_strength():
    r = render_recording(make_spec("clean", seed=3, seconds=20, width=96, height=72, pulse_amplitude=0.0,
                                   specular=0.0, noise_sigma=4.0))
    g = skin_rgb(r)[:, 1]
    x = g - g.mean()
    n_skin = r.skin_mask.sum(axis=(1, 2)).mean()
    expected = np.sqrt((4.0**2 + 1 / 12) / n_skin)  # Gaussian noise plus rounding, averaged over the skin
    assert 0.8 * expected < x.std() < 1.25 * expected
    for lag in (1, 2, 3, 5):
        assert abs(np.corrcoef(x[:-lag], x[lag:])[0, 1]) < 0.15


def test_illumination_reaches_the_background_without_pulse():
    # achromatic part only (no colour drift, no rolling-shutter flicker): the background follows I(t) exactly
    r = render_recording(make_spec("light", seed=2, seconds=10, width=96, height=72, noise_sigma=0.0,
                                   illum_cct_drift_k=0.0, illum_flicker=0.0))
    corner = r.frames[:, :10, :10].reshape(r.n_frames, -1).astype(np.float64).mean(axis=1)
    np.testing.assert_allclose(corner / corner.mean(), r.illumination / r.illumination.mean(), atol=0.01)
    assert r.illumination.std() > 0.01
    assert abs(spectral_hr(r.ppg_at_frames, FS) - r.mean_hr_bpm) < 2.0
    # with the colour drift, R/B of the background follows the Planck gains of the drifting colour temperature
    c = render_recording(make_spec("light", seed=2, seconds=10, width=96, height=72, noise_sigma=0.0,
                                   illum_flicker=0.0))
    px = c.frames[:, :10, :10].reshape(c.n_frames, -1, 3).astype(np.float64).mean(axis=1)
    rb = px[:, 0] / px[:, 2]
    g = c.light.colour
    np.testing.assert_allclose(rb / rb[0], (g[:, 0] / g[:, 2]) / (g[0, 0] / g[0, 2]), atol=0.02)
