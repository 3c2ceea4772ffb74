"""The seven unsupervised methods: known HR recovered, polarity (positive with blood volume), registry wrappers."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from rppgbench.signal import bandpass, detrend, periodogram_hr, spatial_mean
from rppgbench.signal.methods import METHODS, jade

FS = 30.0
W = np.array([0.33, 0.77, 0.53])  # relative pulsatile absorption of R, G, B


def _pulse(hr_bpm: float, n: int, fs: float = FS) -> np.ndarray:
    """Blood volume p(t): fundamental plus a second harmonic, unit scale."""
    t = np.arange(n) / fs
    ph = 2 * np.pi * hr_bpm / 60.0 * t
    return np.sin(ph) + 0.35 * np.sin(2 * ph + 0.8)


def skin_trace(hr_bpm: float, n: int, seed: int, rho=(0.72, 0.48, 0.36), a=0.01, noise=0.0015,
               specular=0.01) -> tuple[np.ndarray, np.ndarray]:
    """C_k(t) = I(t)·(rho_k·(1 - a·w_k·p(t)) + s(t)) + noise, in 0..255 units; returns (rgb (T, 3), p)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    p = _pulse(hr_bpm, n)
    illum = 1.0 + 0.04 * np.sin(2 * np.pi * 0.13 * t + rng.uniform(0, 6)) + 0.01 * t / t[-1]
    spec = specular * (1 + 0.5 * np.sin(2 * np.pi * 0.21 * t + rng.uniform(0, 6)))
    rgb = illum[:, None] * (np.asarray(rho) * (1 - a * W * p[:, None]) + spec[:, None])
    rgb += noise * rng.standard_normal(rgb.shape)
    return 200.0 * rgb, p


def _clean(x: np.ndarray) -> np.ndarray:
    return bandpass(detrend(x, 100.0), FS, 0.6, 3.3)


@pytest.mark.parametrize("name", sorted(METHODS))
@pytest.mark.parametrize("hr,seed", [(62.0, 1), (96.0, 2)])
def test_method_recovers_hr_and_polarity(name, hr, seed):
    n = 600
    rgb, p = skin_trace(hr, n, seed)
    bvp = METHODS[name](rgb, FS)
    assert bvp.shape == (n,) and bvp.dtype == np.float64
    est = periodogram_hr(_clean(bvp), FS, 0.6, 3.3, nfft=16384)
    assert abs(est.hr - hr) <= 1.0, (name, est)
    r = np.corrcoef(_clean(bvp), _clean(p))[0, 1]
    assert r > 0.5, f"{name}: correlation with blood volume {r:.3f} (polarity or quality)"


def test_methods_reject_bad_traces():
    for fn in METHODS.values():
        with pytest.raises(ValueError, match=r"shape \(T, 3\)"):
            fn(np.zeros((10, 4)), FS)
        bad = np.ones((50, 3))
        bad[7, 1] = np.nan
        with pytest.raises(ValueError, match="frame 7"):
            fn(bad, FS)
        with pytest.raises(ValueError, match="fs"):
            fn(np.ones((50, 3)), 0.0)


def test_jade_separates_mixture():
    rng = np.random.default_rng(0)
    t = np.arange(3000) / FS
    src = np.stack([np.sign(np.sin(2 * np.pi * 1.1 * t)), np.sin(2 * np.pi * 0.37 * t) ** 3,
                    rng.uniform(-1, 1, t.size)])
    mix = np.array([[1.0, 0.5, 0.3], [0.2, 1.0, 0.6], [0.4, 0.1, 1.0]])
    est = jade(mix @ src) @ (mix @ src)
    corr = np.abs(np.corrcoef(np.vstack([src, est]))[:3, 3:])
    assert np.all(corr.max(axis=1) > 0.98)  # each true source matched by one estimate


def test_spatial_mean_with_and_without_mask():
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, size=(4, 5, 6, 3), dtype=np.uint8)
    np.testing.assert_allclose(spatial_mean(frames), frames.reshape(4, -1, 3).mean(axis=1))
    mask = np.zeros((5, 6), bool)
    mask[1:3, 2:5] = True
    np.testing.assert_allclose(spatial_mean(frames, mask), frames[:, 1:3, 2:5].reshape(4, -1, 3).mean(axis=1))
    tmask = np.broadcast_to(mask, (4, 5, 6)).copy()
    tmask[2] = False
    tmask[2, 0, 0] = True
    got = spatial_mean(frames, tmask)
    np.testing.assert_allclose(got[2], frames[2, 0, 0].astype(float))
    tmask[3] = False
    with pytest.raises(ValueError, match="frame 3"):
        spatial_mean(frames, tmask)
    with pytest.raises(ValueError, match="mask must have shape"):
        spatial_mean(frames, np.ones((6, 5), bool))


def test_registered_models_contract_and_predict():
    from rppgbench.models import create_model, list_models, model_cfg

    names = ["chrom", "green", "ica", "lgi", "omit", "pbv", "pos"]
    assert set(names) <= set(list_models(kind="unsupervised"))
    rgb, p = skin_trace(75.0, 450, seed=4)
    # frames whose skin region carries the trace, background constant
    frames = np.zeros((450, 8, 8, 3), np.uint8)
    frames[:, 2:6, 2:6] = np.clip(np.round(rgb), 0, 255).astype(np.uint8)[:, None, None, :]
    mask = np.zeros((8, 8), bool)
    mask[2:6, 2:6] = True
    for name in names:
        cfg = model_cfg(name)
        assert (cfg.kind, cfg.clip_len, cfg.input_view, cfg.label_view, cfg.frame_size) == \
            ("unsupervised", None, "raw", "raw", None)
        assert cfg.paper
        m = create_model(name)
        assert m.n_params == 0
        np.testing.assert_allclose(m.predict(rgb, FS), METHODS[name](rgb, FS))
        bvp = m.predict(frames, FS, mask=mask)
        assert abs(periodogram_hr(_clean(bvp), FS, 0.6, 3.3, nfft=16384).hr - 75.0) <= 1.0
        with pytest.raises(ValueError, match="frames"):
            m.predict(np.zeros((10, 4)), FS)


def test_unsupervised_module_does_not_import_torch():
    code = ("import sys, rppgbench.models.unsupervised, rppgbench.signal, rppgbench.evaluation;"
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0


def _render(seed: int, seconds: float):
    from rppgbench.datasets.synthetic import make_spec, render_recording

    return render_recording(make_spec("clean", seed=seed, seconds=seconds, width=48, height=48))


@pytest.mark.parametrize("seed", [1, 2])
def test_methods_on_rendered_clips(seed):
    rec = _render(seed, 10.0)
    rgb = spatial_mean(rec.frames, rec.skin_mask)
    ref = _clean(rec.ppg_at_frames)
    for name, fn in METHODS.items():
        bvp = _clean(fn(rgb, FS))
        hr = periodogram_hr(bvp, FS, 0.6, 3.3, nfft=16384).hr
        assert abs(hr - rec.mean_hr_bpm) <= 3.0, (name, hr, rec.mean_hr_bpm)
        assert np.corrcoef(bvp, ref)[0, 1] > 0.5, name


def test_pbv_signature_options():
    from rppgbench.signal.methods import pbv

    rgb, p = skin_trace(70.0, 600, seed=8)
    for sig in ((0.33, 0.77, 0.53), "data"):
        bvp = _clean(pbv(rgb, FS, signature=sig))
        assert abs(periodogram_hr(bvp, FS, 0.6, 3.3, nfft=16384).hr - 70.0) <= 1.0
        assert np.corrcoef(bvp, _clean(p))[0, 1] > 0.5
    with pytest.raises(ValueError, match="signature"):
        pbv(rgb, FS, signature=(0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="signature"):
        pbv(rgb, FS, signature="paper")
