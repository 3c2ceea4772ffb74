"""End to end on the embedded synthetic dataset: the generator's heart rate is recovered from stored frames."""
from __future__ import annotations

import numpy as np
import pytest

from rppgbench.store import open_store, prepare


@pytest.fixture(scope="module")
def synthetic_store(tmp_path_factory):
    from rppgbench.datasets.synthetic import write_raw_dataset

    root = tmp_path_factory.mktemp("syn")
    raw = write_raw_dataset(root / "raw", recordings=2, seconds=8, preset="clean", seed=3, width=320,
                            height=240, recordings_per_subject=1)
    s = prepare("synthetic", raw, recipe="fp72", out=root / "store.zarr", workers=0)
    assert s.ok, s.failed
    return open_store(root / "store.zarr")


def _green_hr(trace: np.ndarray, fps: float) -> float:
    """HR (bpm) of the spectral peak of the linearly detrended green trace in 0.7-3 Hz, zero-padded FFT."""
    g = trace[:, 1]
    t = np.arange(g.size)
    g = g - np.polyval(np.polyfit(t, g, 1), t)
    g = g * np.hanning(g.size)
    nfft = 1 << 14
    spec = np.abs(np.fft.rfft(g, nfft)) ** 2
    freqs = np.fft.rfftfreq(nfft, 1.0 / fps)
    band = (freqs >= 0.7) & (freqs <= 3.0)
    return float(freqs[band][np.argmax(spec[band])] * 60.0)


def test_known_hr_recovered_from_stored_frames(synthetic_store):
    st = synthetic_store
    df = st.recordings()
    assert list(df.recording_id) == ["s01_r00", "s02_r00"] and list(df.subject) == ["01", "02"]
    assert list(df.n_frames) == [240, 240] and list(df.preset) == ["clean", "clean"]
    assert (df.qc_detector_hit_rate > 0).all() and (df.qc_label_time_base == "file").all()
    # every frame has a box from a detection, held or carried (Haar misses some rendered frames: QC says so)
    assert (df.qc_frames_detected + df.qc_frames_held + df.qc_frames_carried + df.qc_frames_carried_back
            == df.n_frames).all()
    for rid, true_hr in zip(df.recording_id, df.mean_hr_bpm, strict=True):
        hr = _green_hr(st.rgb_trace(rid), 30.0)
        assert abs(hr - true_hr) < 3.0, (rid, hr, true_hr)
        # the stored label carries the same rhythm
        lab = st.read_label(rid)
        assert abs(_green_hr(np.stack([lab, lab, lab], 1), 30.0) - true_hr) < 3.0


def test_store_size_on_clean_is_small(synthetic_store):
    """Frames of the clean preset compress below the documented 12 KB per 72x72 frame."""
    st = synthetic_store
    n = sum(st.n_frames(r) for r in st.recording_ids())
    size = sum(p.stat().st_size for p in (st.path / "recordings").rglob("frames/c/**/*") if p.is_file())
    assert 0 < size / n < 12_000
