"""PURE adapter on fixtures in both layouts (nested / side-by-side), with jittered timestamps and a dropped frame."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from rppgbench._checks import DataError
from rppgbench.datasets import get_adapter
from rppgbench.datasets.fixtures import dominant_hr_bpm, ppg_wave, write_pure
from rppgbench.preprocess.align import align_label


@pytest.fixture(scope="module")
def pure(tmp_path_factory):
    root = tmp_path_factory.mktemp("pure")
    return root, write_pure(root, subjects=(1, 6), tasks=(1, 2, 3), seconds=6.0, layout="mixed",
                            renderer="simple")  # analytic pulse: the alignment test compares against ppg_wave


def test_discover_both_layouts_missing_0602_and_tasks(pure):
    root, truth = pure
    recs = get_adapter("pure").discover(root)
    assert [r.recording_id for r in recs] == ["01-01", "01-02", "01-03", "06-01", "06-03"]  # no 06-02
    assert set(truth) == {r.recording_id for r in recs}
    assert [r.metadata["layout"] for r in recs] == ["nested", "side-by-side", "nested", "side-by-side", "nested"]
    assert [(r.subject, r.session) for r in recs][:2] == [("01", "01"), ("01", "02")]
    assert [r.metadata["task"] for r in recs[:3]] == ["steady", "talking", "slow_translation"]


def test_frames_and_timestamps_from_image_records(pure):
    root, truth = pure
    a = get_adapter("pure")
    for rec in a.discover(root):
        frames = np.stack(list(a.iter_frames(rec)))
        assert frames.shape == (180, 48, 64, 3)
        ft = a.frame_timestamps(rec, len(frames))
        assert ft[0] == 0.0 and np.all(np.diff(ft) > 0)
        data = json.loads(open(rec.paths["label"]).read())
        ns = np.array([r["Timestamp"] for r in data["/Image"]], dtype=np.int64)
        np.testing.assert_allclose(ft, (ns - ns[0]) / 1e9)
        lab = a.read_label(rec)
        assert lab.timestamps[0] < 0 and lab.timestamps[-1] > ft[-1]  # oximeter runs before and after
        assert lab.fs == pytest.approx(60.0, abs=1.0)
        y = np.interp(ft, lab.timestamps, lab.values)
        fs = 1.0 / np.median(np.diff(ft))
        assert abs(dominant_hr_bpm(y, fs) - truth[rec.recording_id]) < 2.0
        g = frames[:, 16:32, 21:43, 1].mean(axis=(1, 2))
        assert abs(dominant_hr_bpm(g, fs) - truth[rec.recording_id]) < 2.0
    with pytest.raises(DataError, match="frame timestamps for 5 decoded frames"):
        a.frame_timestamps(a.discover(root)[0], 5)


def test_time_alignment_beats_index_stretch(pure):
    """The fixture has jitter, one dropped frame and an oximeter starting 0.12 s early: aligning by the
    timestamps reproduces the true waveform at the frames; the rPPG-Toolbox index stretch does not."""
    root, truth = pure
    a = get_adapter("pure")
    rec = a.discover(root)[0]  # 01-01 has the dropped frame
    ft = a.frame_timestamps(rec, 180)
    assert np.max(np.diff(ft)) > 1.8 / 30.0  # the dropped frame's gap
    expected = 50 + 30 * ppg_wave(ft, truth["01-01"], phase=0.0)
    lab = a.read_label(rec)
    by_time, qc_t = align_label(lab, ft, "time")
    by_index, _ = align_label(lab, ft, "index")
    err_time = np.sqrt(np.mean((by_time - expected) ** 2))
    err_index = np.sqrt(np.mean((by_index - expected) ** 2))
    assert err_time < 2.0  # integer waveform + linear interpolation
    assert err_index > 5 * err_time
    assert qc_t["dropped_frames"] == 1 and qc_t["label_coverage"] == 1.0


def test_stray_entries_at_root(pure, tmp_path):
    src, _ = pure
    root = tmp_path / "pure"
    shutil.copytree(src, root)
    (root / "notes-1.txt").write_text("my notes")
    (root / "readme.md").write_text("x")
    a = get_adapter("pure")
    assert len(a.discover(root)) == 5  # warned about, never a recording, no crash
    (root / "1-04").mkdir()
    with pytest.raises(DataError, match="1-04: looks like a PURE recording"):
        a.discover(root)
    (root / "1-04").rmdir()
    (root / "07-01.json").write_text("{}")
    with pytest.raises(DataError, match="07-01.json: ground-truth JSON without a frame folder"):
        a.discover(root)


def test_bad_inputs_name_the_file(pure, tmp_path):
    src, _ = pure
    root = tmp_path / "pure"
    shutil.copytree(src, root)
    a = get_adapter("pure")
    recs = {r.recording_id: r for r in a.discover(root)}
    (root / "01-01" / "01-01.json").unlink()
    with pytest.raises(DataError, match=r"01-01/01-01.json: ground-truth JSON not found"):
        a.read_label(recs["01-01"])
    p = root / "01-02.json"
    p.write_text(p.read_text()[:1000])
    with pytest.raises(DataError, match=r"01-02.json: cannot parse JSON"):
        a.read_label(recs["01-02"])
    p = root / "01-03" / "01-03.json"
    doc = json.loads(p.read_text())
    doc["/FullPackage"][7]["Value"]["waveform"] = None
    p.write_text(json.dumps(doc))
    with pytest.raises(DataError, match=r"01-03.json: PPG waveform signal has 1 NaN/inf sample\(s\), first at index 7"):
        a.read_label(recs["01-03"])
    p = root / "06-01.json"
    doc = json.loads(p.read_text())
    doc["/FullPackage"] = doc["/FullPackage"][: len(doc["/FullPackage"]) // 2]
    p.write_text(json.dumps(doc))
    with pytest.raises(DataError, match=r"06-01.json: oximeter coverage of the frame span"):
        a.read_label(recs["06-01"])
    img = sorted((root / "06-03" / "06-03").glob("*.png"))[4]
    img.write_bytes(b"garbage")
    with pytest.raises(DataError, match=img.name):
        list(a.iter_frames(recs["06-03"]))


def test_image_list_mismatch_falls_back_to_png_names(pure, tmp_path, caplog):
    src, _ = pure
    root = tmp_path / "pure"
    shutil.copytree(src, root)
    p = root / "01-01" / "01-01.json"
    doc = json.loads(p.read_text())
    doc["/Image"] = doc["/Image"][:-1]
    p.write_text(json.dumps(doc))
    a = get_adapter("pure")
    rec = a.discover(root)[0]
    with caplog.at_level("WARNING", logger="rppgbench"):
        ft = a.frame_timestamps(rec, 180)
    assert "'/Image' lists 179 frames but 180 PNGs exist" in caplog.text
    names = sorted(int(q.stem[5:]) for q in (root / "01-01" / "01-01").glob("Image*.png"))
    np.testing.assert_allclose(ft, (np.array(names) - names[0]) / 1e9)
