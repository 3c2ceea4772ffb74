"""Every real-dataset adapter through the real ``prepare`` path: fixture → store → known HR recovered from the
stored label and from the stored frames."""
from __future__ import annotations

import numpy as np
import pytest

from rppgbench.datasets import fixtures as fx
from rppgbench.datasets import get_adapter
from rppgbench.signal import bandpass, detrend, nfft_for_resolution, periodogram_hr
from rppgbench.store import open_store, prepare

RECIPE = {"size": 24, "detect_every": 0, "no_face": "whole"}  # fixtures hold no real face: whole-frame crops

CASES = {
    "ubfc_rppg": (lambda r: fx.write_ubfc_rppg(r, subjects=(1, 3, 38), seconds=6.0), {}),
    "pure": (lambda r: fx.write_pure(r, subjects=(1,), tasks=(1, 2), seconds=6.0, layout="mixed"), {}),
    "mmpd": (lambda r: fx.write_mmpd(r, subjects=(3,), recordings=(0, 3), seconds=6.0), {}),
    "buaa_mihe": (lambda r: fx.write_buaa_mihe(r, subjects=(1,), lux=(10.0, 100.0), seconds=6.0,
                                               label_format="mixed"), {}),
    "ibvp": (lambda r: fx.write_ibvp(r, participants=(1,), conditions=("a", "b"), seconds=6.0,
                                     thermal_size=(16, 13)), {"sq_policy": "delete", "thermal_size": [16, 13]}),
    "scamps": (lambda r: fx.write_scamps(r, ids=(1, 2), seconds=6.0), {}),
}


def _uniform(x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, float]:
    """Resample a series at jittered times ``t`` onto a uniform grid with the same mean rate."""
    tu = np.linspace(t[0], t[-1], t.size)
    return np.interp(tu, t, np.asarray(x, dtype=np.float64)), (t.size - 1) / (t[-1] - t[0])


def _hr(x: np.ndarray, fs: float) -> float:
    """Hann-windowed, zero-padded periodogram peak (sub-bin accurate on a 6 s fixture)."""
    return fx.dominant_hr_bpm(np.asarray(x, dtype=np.float64), fs)


def _hr_tbx(x: np.ndarray, fs: float) -> float:
    """rPPG-Toolbox-style estimate with rppgbench.signal: detrend (lambda 100), band-pass, periodogram peak."""
    z = bandpass(detrend(np.asarray(x, dtype=np.float64), 100.0), fs, 0.6, 3.3)
    return periodogram_hr(z, fs, nfft=nfft_for_resolution(z.size, fs, 0.25)).hr


@pytest.mark.parametrize("name", sorted(CASES))
def test_prepare_recovers_known_hr(name, tmp_path):
    write, options = CASES[name]
    truth = write(tmp_path / "raw")
    adapter = get_adapter(name, **options)
    summary = prepare(adapter, raw=tmp_path / "raw", recipe=RECIPE, out=tmp_path / "store.zarr", workers=0)
    assert sorted(summary.written) == sorted(truth) and not summary.failed
    store = open_store(tmp_path / "store.zarr")
    assert sorted(store.recording_ids()) == sorted(truth)
    for rid, bpm in truth.items():
        ts = store.timestamps(rid)
        assert store.read_label(rid).shape == ts.shape
        label, fs = _uniform(store.read_label(rid), ts)
        qc = store.qc(rid)
        if name == "ibvp" and rid == "p01_a":
            assert qc["frames_masked"] == 30  # SQ2 <= 0.3 from 2 s to 3 s, deleted by sq_policy="delete"
            continue  # a 1 s gap inside the series: HR is checked on the clean recording
        assert abs(_hr(label, fs) - bpm) < 1.0, (rid, _hr(label, fs), bpm)
        assert abs(_hr_tbx(label, fs) - bpm) < 2.5, (rid, _hr_tbx(label, fs), bpm)
        green, _ = _uniform(store.rgb_trace(rid)[:, 1], ts)
        # whole-frame crops (no detectable face at 64x48) of a face covering ~6 % of the frame, 6 s: 2.5 bpm
        assert abs(_hr(green, fs) - bpm) < 2.5, (rid, _hr(green, fs), bpm)


def test_pure_store_label_is_time_aligned(tmp_path):
    truth = fx.write_pure(tmp_path / "raw", subjects=(1,), tasks=(1,), seconds=6.0, renderer="simple")
    prepare("pure", raw=tmp_path / "raw", recipe=RECIPE, out=tmp_path / "s.zarr", workers=0)
    store = open_store(tmp_path / "s.zarr")
    ts = store.timestamps("01-01")
    expected = 50 + 30 * fx.ppg_wave(ts, truth["01-01"])
    assert np.sqrt(np.mean((store.read_label("01-01") - expected) ** 2)) < 2.0
    assert store.qc("01-01")["dropped_frames"] == 1 and store.qc("01-01")["label_time_base"] == "file"


@pytest.mark.slow
def test_prepare_with_face_detection_on_synthetic_face(tmp_path):
    """At 320x240 the synthetic face is found by the Haar detector; HR from the face crops is close."""
    truth = fx.write_ubfc_rppg(tmp_path / "raw", subjects=(3,), seconds=6.0, size=(320, 240))
    prepare("ubfc_rppg", raw=tmp_path / "raw", recipe={"size": 36, "detect_every": 30}, out=tmp_path / "s.zarr",
            workers=0)
    store = open_store(tmp_path / "s.zarr")
    qc = store.qc("subject3")
    assert qc["detector_hit_rate"] == 1.0 and qc["frames_whole"] == 0
    green, fs = _uniform(store.rgb_trace("subject3")[:, 1], store.timestamps("subject3"))
    # GREEN on the whole crop (this recipe has no skin ROI) of a 160x120 clean recording: within 2 bpm (1.6 measured
    # with synthetic generator version 2)
    assert abs(_hr(green, fs) - truth["subject3"]) < 2.0
