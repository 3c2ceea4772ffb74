"""Shared raw readers (rppgbench.datasets._io) and the fixture renderer."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from rppgbench._checks import DataError
from rppgbench.datasets import _io
from rppgbench.datasets.fixtures import dominant_hr_bpm, frame_times, ppg_wave, render_frames
from rppgbench.datasets.fixtures._write import write_avi, write_image


def test_ffv1_avi_roundtrip_is_bit_exact(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (7, 24, 32, 3), dtype=np.uint8)
    write_avi(tmp_path / "v.avi", frames, 30.0)
    back = np.stack(list(_io.iter_video(tmp_path / "v.avi")))
    assert back.shape == frames.shape
    np.testing.assert_array_equal(back, frames)  # lossless and RGB order preserved
    assert _io.video_frame_count(tmp_path / "v.avi") == 7
    assert _io.video_frame_count(tmp_path / "v.avi", exact=True) == 7
    assert _io.video_fps(tmp_path / "v.avi") == pytest.approx(30.0)


def test_png_and_bmp_sequences_roundtrip_rgb(tmp_path):
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (3, 10, 12, 3), dtype=np.uint8)
    paths = []
    for i, f in enumerate(frames):
        p = tmp_path / f"{i}.{'png' if i % 2 else 'bmp'}"
        write_image(p, f)
        paths.append(p)
    np.testing.assert_array_equal(np.stack(list(_io.iter_images(paths))), frames)


def test_empty_and_truncated_video_name_the_file(tmp_path):
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty.avi.*0 bytes"):
        list(_io.iter_video(empty, "rec1"))
    frames = np.zeros((5, 16, 16, 3), np.uint8)
    write_avi(tmp_path / "full.avi", frames, 30.0)
    bad = tmp_path / "trunc.avi"
    bad.write_bytes((tmp_path / "full.avi").read_bytes()[:200])
    with pytest.raises(DataError, match="trunc.avi"):
        list(_io.iter_video(bad, "rec1"))
    with pytest.raises(DataError, match="recording rec1: .*missing.avi.*not found"):
        list(_io.iter_video(tmp_path / "missing.avi", "rec1"))


def test_unreadable_image_frame_names_the_file(tmp_path):
    good = tmp_path / "a.png"
    write_image(good, np.zeros((4, 4, 3), np.uint8))
    bad = tmp_path / "b.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"b\.png.*unreadable image \(frame 1\)"):
        list(_io.iter_images([good, bad], "r"))


def test_mat_v5_truncated_and_v73_detection(tmp_path):
    p = tmp_path / "x.mat"
    scipy.io.savemat(p, {"a": np.arange(1000.0), "s": "LED-low", "k": np.array([[4.0]])})
    assert not _io.is_mat73(p)
    m = _io.load_mat_v5(p, variables=["s", "k"])
    assert _io.mat_string(m["s"]) == "LED-low" and _io.mat_scalar(m["k"]) == 4.0
    with pytest.raises(DataError, match=r"missing MATLAB variable\(s\) \['zz'\]"):
        _io.load_mat_v5(p, required=["zz"])
    t = tmp_path / "t.mat"
    t.write_bytes(p.read_bytes()[:300])
    with pytest.raises(DataError, match="t.mat.*truncated"):
        _io.load_mat_v5(t, "r", required=["a"])
    import hdf5storage

    h = tmp_path / "h.mat"
    hdf5storage.savemat(str(h), {"a": np.arange(3.0)}, format="7.3", matlab_compatible=True)
    assert _io.is_mat73(h)
    with pytest.raises(DataError, match="v7.3"):
        _io.load_mat_v5(h)
    with pytest.raises(DataError, match="no HDF5 signature"):
        _io.open_mat73(p)


def test_repair_timestamps_spreads_duplicates_and_rejects_decrease(tmp_path):
    t = np.array([0.0, 0.1, 0.1, 0.3, 0.4, 0.4])
    r = _io.repair_timestamps(t, tmp_path / "gt", None)
    np.testing.assert_allclose(r, [0.0, 0.1, 0.2, 0.3, 0.4, 0.5])  # trailing run: one median step apart
    assert np.all(np.diff(r) > 0)
    with pytest.raises(DataError, match="decrease at sample 2"):
        _io.repair_timestamps(np.array([0.0, 0.2, 0.1]), tmp_path / "gt", None)


def test_label_checks(tmp_path):
    with pytest.raises(DataError, match=r"1 NaN/inf sample\(s\), first at index 2"):
        _io.check_label_values([1.0, 2.0, np.nan], tmp_path / "l.csv", "r")
    _io.check_length_ratio(105, 100, tmp_path / "l.csv", "r")
    with pytest.raises(DataError, match="l.csv.*1.200"):
        _io.check_length_ratio(120, 100, tmp_path / "l.csv", "r")


def test_natural_sort_and_harmless():
    names = ["subject10", "subject3", "subject1", "subject38"]
    assert sorted(names, key=_io.natural_key) == ["subject1", "subject3", "subject10", "subject38"]
    from pathlib import Path

    assert _io.is_harmless(Path(".DS_Store")) and _io.is_harmless(Path("README.txt"))
    assert _io.is_harmless(Path("size.csv")) and not _io.is_harmless(Path("notes-1.txt"))


def test_renderer_pulse_is_recoverable_and_markers():
    t = frame_times(300, 30.0, jitter=0.1, seed=3)
    frames = render_frames(t, ppg_wave(t, 84.0), 40, 32, marker=True)
    green = frames[:, 12:20, 16:24, 1].mean(axis=(1, 2))
    assert abs(dominant_hr_bpm(green, 30.0) - 84.0) < 1.5
    assert tuple(frames[0, 0, 0]) == (255, 0, 0) and tuple(frames[0, 0, -1]) == (0, 255, 0)
    dropped = frame_times(10, 30.0, drop=4)
    assert dropped.size == 10 and np.isclose(np.diff(dropped)[3], 2 / 30.0)
