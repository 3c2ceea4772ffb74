"""UBFC-rPPG adapter on fixtures in the real DATASET_2 / DATASET_1 layouts."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from rppgbench._checks import DataError
from rppgbench.datasets import get_adapter
from rppgbench.datasets.fixtures import dominant_hr_bpm, write_ubfc_rppg, write_ubfc_rppg_dataset1


@pytest.fixture(scope="module")
def d2(tmp_path_factory):
    root = tmp_path_factory.mktemp("ubfc2")
    return root, write_ubfc_rppg(root, subjects=(1, 3, 10, 38), seconds=8.0)


def _green(frames):
    h, w = frames.shape[1:3]
    return frames[:, h // 3: 2 * h // 3, w // 3: 2 * w // 3, 1].mean(axis=(1, 2))


def test_discover_numeric_order_and_ids(d2):
    root, truth = d2
    (root / ".DS_Store").write_text("")
    recs = get_adapter("ubfc_rppg").discover(root)
    assert [r.recording_id for r in recs] == ["subject1", "subject3", "subject10", "subject38"]
    assert [r.subject for r in recs] == ["1", "3", "10", "38"]
    assert set(truth) == {r.recording_id for r in recs}
    assert all(r.dataset == "ubfc_rppg" and r.paths["video"].endswith("vid.avi") for r in recs)


def test_frames_labels_and_hr_recovered_by_time(d2):
    root, truth = d2
    a = get_adapter("ubfc_rppg")
    for rec in a.discover(root):
        frames = np.stack(list(a.iter_frames(rec)))
        assert frames.dtype == np.uint8 and frames.shape[1:] == (48, 64, 3)
        ft = a.frame_timestamps(rec, len(frames))
        assert ft.shape == (len(frames),) and np.all(np.diff(ft) > 0) and ft[0] == 0.0
        lab = a.read_label(rec)
        assert lab.timestamps is not None and np.all(np.diff(lab.timestamps) > 0)
        tu = np.linspace(ft[0], ft[-1], ft.size)  # jittered frame clock -> uniform grid at the mean rate
        fs = (ft.size - 1) / (ft[-1] - ft[0])
        y = np.interp(tu, lab.timestamps, lab.values)
        assert abs(dominant_hr_bpm(y, fs) - truth[rec.recording_id]) < 1.0
        g = np.interp(tu, ft, _green(frames))
        assert abs(dominant_hr_bpm(g, fs) - truth[rec.recording_id]) < 2.0


def test_sensor_hr_line_is_ignored(d2):
    root, truth = d2
    a = get_adapter("ubfc_rppg")
    rec = {r.recording_id: r for r in a.discover(root)}["subject3"]
    # the fixture's sensor line says 60 bpm for subject3; the trace pulses at truth["subject3"]
    assert rec.metadata["sensor_hr_mean"] == pytest.approx(60.0)
    lab = a.read_label(rec)
    assert set(lab.extra) == set()  # the HR line is not carried into the label
    hr = dominant_hr_bpm(lab.values, lab.fs)
    assert abs(hr - truth["subject3"]) < 2.0 and abs(hr - 60.0) > 10.0


def test_duplicated_timestamp_is_spread_not_dropped(d2):
    root, _ = d2
    a = get_adapter("ubfc_rppg")
    rec = a.discover(root)[0]  # subject1 carries the duplicate
    raw = np.array((root / "subject1" / "ground_truth.txt").read_text().splitlines()[2].split(), float)
    k = int(np.flatnonzero(np.diff(raw) == 0)[0]) + 1
    lab = a.read_label(rec)
    assert lab.values.size == raw.size  # no sample dropped
    t = lab.timestamps
    assert t[k - 1] < t[k] < t[k + 1]
    assert t[k] == pytest.approx((raw[k - 1] + raw[k + 1]) / 2 - raw[0])


def test_off_by_one_label_length(d2):
    root, _ = d2
    a = get_adapter("ubfc_rppg")
    rec = a.discover(root)[-1]  # subject38: one GT sample more than frames
    n = sum(1 for _ in a.iter_frames(rec))
    lab = a.read_label(rec)
    assert lab.values.size == n + 1
    ft = a.frame_timestamps(rec, n)
    np.testing.assert_array_equal(ft, lab.timestamps[:n])
    longer = a.frame_timestamps(rec, n + 3)  # fewer GT samples than frames: extrapolated
    assert longer.size == n + 3 and np.all(np.diff(longer) > 0)


def test_dataset1_layout(tmp_path):
    truth = write_ubfc_rppg_dataset1(tmp_path / "DATASET_1", seconds=6.0)
    write_ubfc_rppg(tmp_path / "DATASET_2", subjects=(5,), seconds=2.0)
    a = get_adapter("ubfc_rppg", part="dataset_1")
    recs = a.discover(tmp_path)
    assert [r.recording_id for r in recs] == ["d1_5", "d1_12", "d1_after-exercise"]
    assert recs[1].paths["video"].endswith("vid-12.avi")
    for rec in recs:
        n = sum(1 for _ in a.iter_frames(rec))
        ft = a.frame_timestamps(rec, n)
        assert 1.0 / np.diff(ft)[0] == pytest.approx(28.67, abs=0.05)  # the container rate, not 30
        lab = a.read_label(rec)
        assert lab.fs == pytest.approx(62.0, abs=1.0)
        y = np.interp(ft, lab.timestamps, lab.values)
        assert abs(dominant_hr_bpm(y, 1.0 / np.diff(ft)[0]) - truth[rec.recording_id]) < 2.5
    both = get_adapter("ubfc_rppg", part="all").discover(tmp_path)
    assert [r.recording_id for r in both] == ["subject5", "d1_5", "d1_12", "d1_after-exercise"]


def test_bad_inputs_name_the_file(d2, tmp_path):
    src, _ = d2
    root = tmp_path / "ubfc"
    shutil.copytree(src, root)
    a = get_adapter("ubfc_rppg")
    (root / "subject3" / "ground_truth.txt").unlink()
    rec3 = {r.recording_id: r for r in a.discover(root)}["subject3"]
    with pytest.raises(DataError, match=r"recording subject3: .*subject3/ground_truth.txt: ground-truth file not"):
        a.read_label(rec3)
    gt = root / "subject10" / "ground_truth.txt"
    lines = gt.read_text().splitlines()
    vals = lines[0].split()
    vals[5] = "nan"
    gt.write_text("\n".join([" ".join(vals)] + lines[1:]))
    rec10 = {r.recording_id: r for r in a.discover(root)}["subject10"]
    with pytest.raises(DataError, match=r"subject10/ground_truth.txt: PPG \(line 1\) signal has 1 NaN"):
        a.read_label(rec10)
    gt1 = root / "subject1" / "ground_truth.txt"
    short = [" ".join(ln.split()[:150]) for ln in gt1.read_text().splitlines()]
    gt1.write_text("\n".join(short))
    rec1 = a.discover(root)[0]
    with pytest.raises(DataError, match=r"subject1/ground_truth.txt: ground-truth samples / video frames"):
        a.read_label(rec1)
    vid = root / "subject38" / "vid.avi"
    vid.write_bytes(vid.read_bytes()[:100])
    rec38 = a.discover(root)[-1]
    with pytest.raises(DataError, match=r"subject38/vid.avi"):
        list(a.iter_frames(rec38))
    (root / "notes-1.txt").write_text("hello")  # harmless-looking stray: warned about, not a recording
    assert len(a.discover(root)) == 4
    (root / "subjectX").mkdir()
    with pytest.raises(DataError, match="subjectX: looks like a UBFC-rPPG recording"):
        a.discover(root)


def test_options_are_checked():
    with pytest.raises(ValueError, match="part must be one of"):
        get_adapter("ubfc_rppg", part="dataset_3")
    with pytest.raises(TypeError):
        get_adapter("ubfc_rppg", sq_policy="mask")
    with pytest.raises(DataError, match="not found"):
        get_adapter("ubfc_rppg").discover("/nonexistent/ubfc")
