"""MMPD adapter on MATLAB v5 fixtures with the real variables and string labels."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import scipy.io

from rppgbench._checks import DataError
from rppgbench.datasets import get_adapter
from rppgbench.datasets.fixtures import dominant_hr_bpm, write_mmpd
from rppgbench.datasets.fixtures.mmpd import MMPD_CONDITIONS
from rppgbench.datasets.mmpd import parse_labels


@pytest.fixture(scope="module")
def mmpd(tmp_path_factory):
    root = tmp_path_factory.mktemp("mmpd")
    return root, write_mmpd(root, subjects=(3, 24), recordings=(0, 3, 4, 12), seconds=6.0)


def test_discover_order_and_string_labels(mmpd):
    root, truth = mmpd
    recs = get_adapter("mmpd").discover(root)  # size.csv at the root is ignored
    ids = [r.recording_id for r in recs]
    assert ids == ["subject3_p3_0", "subject3_p3_3", "subject3_p3_4", "subject3_p3_12",
                   "subject24_p24_0", "subject24_p24_3", "subject24_p24_4", "subject24_p24_12"]
    assert set(ids) == set(truth)
    by = {r.recording_id: r.metadata for r in recs}
    for r in recs:
        light, motion, exercise = MMPD_CONDITIONS[r.metadata["k"]]
        assert r.metadata["light"] == light and r.metadata["exercise"] is (exercise == "True")
        assert r.session == str(r.metadata["k"]) and r.subject in ("3", "24")
        assert r.metadata["resolution"] == "60x80" and r.metadata["n_frames"] == 180
    assert by["subject3_p3_3"]["motion_raw"] == "Watching Videos" and by["subject3_p3_3"]["motion"] == "Walking"
    assert by["subject3_p3_3"]["tbx_codes"]["MO"] == 4
    assert by["subject24_p24_3"]["motion_raw"] == "Walking"
    assert by["subject3_p3_12"]["motion"] == "Stationary (after exercise)" and by["subject3_p3_12"]["exercise"]
    assert by["subject3_p3_12"]["tbx_codes"] == {"L": 3, "MO": 1, "E": 1, "S": 3, "GE": 1, "GL": 1, "H": 2, "MA": 2}
    assert isinstance(by["subject3_p3_0"]["skin_color"], int) and by["subject3_p3_0"]["glasser"] is True


def test_p24_style_inconsistency_is_kept_and_flagged(mmpd, caplog):
    root, _ = mmpd
    with caplog.at_level("WARNING", logger="rppgbench"):
        recs = get_adapter("mmpd").discover(root)
    by = {r.recording_id: r.metadata for r in recs}
    assert (by["subject24_p24_0"]["skin_color"], by["subject24_p24_0"]["gender"]) == (4, "male")
    assert (by["subject24_p24_3"]["skin_color"], by["subject24_p24_3"]["gender"]) == (3, "female")
    assert by["subject24_p24_0"]["inconsistent_subject_attributes"] == ["skin_color", "gender"]
    assert "inconsistent_subject_attributes" not in by["subject24_p24_3"]
    assert "p24_0.mat says skin_color=4" in caplog.text


def test_frames_are_round_x255_and_hr(mmpd):
    root, truth = mmpd
    a = get_adapter("mmpd")
    for rec in a.discover(root):
        frames = np.stack(list(a.iter_frames(rec)))
        video = scipy.io.loadmat(rec.paths["mat"])["video"]
        np.testing.assert_array_equal(frames, np.round(video.astype(np.float64) * 255).astype(np.uint8))
        lab = a.read_label(rec)
        assert lab.timestamps is None
        assert abs(dominant_hr_bpm(lab.values, 30.0 * lab.values.size / len(frames)) - truth[rec.recording_id]) < 2
        g = frames[:, 30:50, 22:38, 1].mean(axis=(1, 2))
        assert abs(dominant_hr_bpm(g, 30.0) - truth[rec.recording_id]) < 2


def test_gt_length_mismatch_spans_video(mmpd):
    root, _ = mmpd
    a = get_adapter("mmpd")
    rec = a.discover(root)[-1]
    lab = a.read_label(rec)
    assert lab.values.size == 176 and lab.fs == pytest.approx(30.0 * 176 / 180)


def test_parse_labels_variants():
    mat = {"light": np.array(["Nature"]), "motion": np.array(["watching videos"]), "exercise": np.array([[1]]),
           "skin_color": np.array([[5.0]]), "gender": np.array(["Female"]), "glasser": np.array(["False"]),
           "hair_cover": np.array(["True"]), "makeup": np.array(["False"])}
    m = parse_labels(mat)
    assert (m["motion"], m["exercise"], m["skin_color"], m["gender"], m["hair_cover"]) == \
        ("Walking", True, 5, "female", True)
    with pytest.raises(ValueError, match="glasser must be 'True' or 'False'; got 'maybe'"):
        parse_labels({**mat, "glasser": np.array(["maybe"])})


def test_bad_inputs_name_the_file(mmpd, tmp_path):
    src, _ = mmpd
    root = tmp_path / "mmpd"
    shutil.copytree(src, root)
    a = get_adapter("mmpd")
    p = root / "subject3" / "p3_0.mat"
    p.write_bytes(p.read_bytes()[:5000])
    recs = {r.recording_id: r for r in a.discover(root)}
    assert "metadata_error" in recs["subject3_p3_0"].metadata  # listed, not dropped
    with pytest.raises(DataError, match=r"subject3/p3_0.mat: cannot read MATLAB v5 file"):
        list(a.iter_frames(recs["subject3_p3_0"]))
    m = scipy.io.loadmat(root / "subject3" / "p3_3.mat")
    m["GT_ppg"][0, 10] = np.nan
    scipy.io.savemat(root / "subject3" / "p3_3.mat", {k: v for k, v in m.items() if not k.startswith("__")})
    with pytest.raises(DataError, match=r"p3_3.mat: GT_ppg signal has 1 NaN/inf sample\(s\), first at index 10"):
        a.read_label(recs["subject3_p3_3"])
    m["GT_ppg"] = np.ones((1, 90))
    scipy.io.savemat(root / "subject3" / "p3_4.mat", {k: v for k, v in m.items() if not k.startswith("__")})
    with pytest.raises(DataError, match=r"p3_4.mat: len\(GT_ppg\) / video frames = 90 / 180"):
        a.read_label(recs["subject3_p3_4"])
    del m["GT_ppg"]
    scipy.io.savemat(root / "subject3" / "p3_12.mat", {k: v for k, v in m.items() if not k.startswith("__")})
    with pytest.raises(DataError, match=r"p3_12.mat: missing MATLAB variable\(s\) \['GT_ppg'\]"):
        a.read_label(recs["subject3_p3_12"])
    shutil.copy(root / "subject24" / "p24_4.mat", root / "subject3" / "p24_4.mat")
    with pytest.raises(DataError, match=r"subject3/p24_4.mat: unexpected .mat in subject3/"):
        a.discover(root)


def test_full_variant_is_portrait_320x240(tmp_path):
    truth = write_mmpd(tmp_path, subjects=(7,), recordings=(16,), variant="full", seconds=1.0, size_csv=False)
    rec = get_adapter("mmpd").discover(tmp_path)[0]
    assert rec.recording_id == "subject7_p7_16" and set(truth) == {"subject7_p7_16"}
    assert rec.metadata["resolution"] == "240x320" and rec.metadata["light"] == "Nature"
    frame = next(get_adapter("mmpd").iter_frames(rec))
    assert frame.shape == (320, 240, 3) and frame.dtype == np.uint8


def test_nan_pixels_name_the_frame(tmp_path):
    write_mmpd(tmp_path, subjects=(1,), recordings=(0,), seconds=3.0, size_csv=False, renderer="simple")
    path = tmp_path / "subject1" / "p1_0.mat"
    m = {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
    m["video"][70, 3, 4, 1] = np.nan  # in the second block of 64 frames
    scipy.io.savemat(path, m)
    rec = get_adapter("mmpd").discover(tmp_path)[0]
    with pytest.raises(DataError, match=r"subject1/p1_0.mat: frame 70 of 'video' has NaN/inf pixels"):
        list(get_adapter("mmpd").iter_frames(rec))
