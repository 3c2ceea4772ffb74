"""BUAA-MIHE adapter: folder names with spaces, lux levels, both label formats."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from rppgbench._checks import DataError
from rppgbench.datasets import get_adapter
from rppgbench.datasets.buaa_mihe import LUX_LEVELS
from rppgbench.datasets.fixtures import dominant_hr_bpm, write_buaa_mihe


@pytest.fixture(scope="module")
def buaa(tmp_path_factory):
    root = tmp_path_factory.mktemp("buaa")
    return root, write_buaa_mihe(root, subjects=(1, 2), lux=(1.0, 10.0, 100.0), seconds=6.0, label_format="mixed")


def test_discover_spaces_and_lux_metadata(buaa):
    root, truth = buaa
    assert (root / "Sub 01" / "lux 10.0" / "lux10.0_APH.avi").is_file()
    recs = get_adapter("buaa_mihe").discover(root)
    assert [r.recording_id for r in recs] == ["sub01_lux1.0", "sub01_lux10.0", "sub01_lux100.0",
                                              "sub02_lux1.0", "sub02_lux10.0", "sub02_lux100.0"]
    assert set(truth) == {r.recording_id for r in recs}
    assert [r.metadata["lux"] for r in recs[:3]] == [1.0, 10.0, 100.0]
    assert [r.metadata["label_format"] for r in recs[:2]] == ["wave_csv", "ppgdata_mat"]
    assert recs[0].subject == "01" and recs[0].session == "lux1.0" and recs[3].metadata["initials"] == "GDB"
    assert recs[0].metadata["sensor_hr_mean"] == pytest.approx(truth["sub01_lux1.0"])
    assert len([r for r in recs if r.metadata["lux"] >= 10]) == 4  # the NEST-style selection is metadata-based


def test_all_eleven_levels_and_capital_lux(tmp_path):
    write_buaa_mihe(tmp_path, subjects=(13,), lux=LUX_LEVELS, seconds=1.0, folder_case="Lux")
    assert (tmp_path / "Sub 13" / "Lux 15.8").is_dir()
    recs = get_adapter("buaa_mihe").discover(tmp_path)
    assert [r.metadata["lux"] for r in recs] == list(LUX_LEVELS)  # numeric, not lexicographic (100 last)
    assert recs[-1].recording_id == "sub13_lux100.0"


def test_labels_span_video_and_hr(buaa):
    root, truth = buaa
    a = get_adapter("buaa_mihe")
    means = {}
    for rec in a.discover(root):
        frames = np.stack(list(a.iter_frames(rec)))
        means[rec.recording_id] = frames.mean()
        lab = a.read_label(rec)
        assert lab.timestamps is None and lab.values.size == 369
        assert lab.fs == pytest.approx(61.45, abs=0.1)
        assert abs(dominant_hr_bpm(lab.values, lab.fs) - truth[rec.recording_id]) < 2
        ft = a.frame_timestamps(rec, len(frames))
        assert ft[1] == pytest.approx(1 / 30.0)
        if rec.metadata["lux"] >= 10:
            g = frames[:, 16:32, 21:43, 1].mean(axis=(1, 2))
            assert abs(dominant_hr_bpm(g, 30.0) - truth[rec.recording_id]) < 2
    assert means["sub01_lux1.0"] < 0.15 * means["sub01_lux100.0"]  # very dark below 10 lux


def test_bad_inputs_name_the_file(buaa, tmp_path):
    src, _ = buaa
    root = tmp_path / "buaa"
    shutil.copytree(src, root)
    a = get_adapter("buaa_mihe")
    (root / "Sub 01" / "lux 1.0" / "lux1.0_APH_wave.csv").unlink()
    recs = {r.recording_id: r for r in a.discover(root)}
    with pytest.raises(DataError, match=r"Sub 01/lux 1.0/lux1.0_APH_wave.csv: ground-truth file not found"):
        a.read_label(recs["sub01_lux1.0"])
    wave = root / "Sub 01" / "lux 100.0" / "lux100.0_APH_wave.csv"
    lines = wave.read_text().splitlines()
    wave.write_text("\n".join(lines[:3] + ["nan"] + lines[4:]))
    with pytest.raises(DataError, match=r"lux100.0_APH_wave.csv: PPG signal has 1 NaN"):
        a.read_label(recs["sub01_lux100.0"])
    wave.write_text("\n".join(lines[:150]))
    with pytest.raises(DataError, match=r"lux100.0_APH_wave.csv: label duration at 60 Hz / video duration"):
        a.read_label(recs["sub01_lux100.0"])
    mat = root / "Sub 01" / "lux 10.0" / "PPGData.mat"
    mat.write_bytes(mat.read_bytes()[:400])
    with pytest.raises(DataError, match=r"lux 10.0/PPGData.mat: cannot read MATLAB v5 file"):
        a.read_label(recs["sub01_lux10.0"])
    shutil.copy(root / "Sub 02" / "lux 1.0" / "lux1.0_GDB.avi", root / "Sub 02" / "lux 1.0" / "lux1.0_XYZ.avi")
    with pytest.raises(DataError, match=r"Sub 02/lux 1.0: expected exactly one .avi"):
        a.discover(root)
    (root / "Sub 02" / "lux 1.0" / "lux1.0_XYZ.avi").unlink()
    (root / "Sub 02" / "lux dark").mkdir()
    with pytest.raises(DataError, match=r"lux dark: looks like a BUAA-MIHE illumination folder"):
        a.discover(root)
