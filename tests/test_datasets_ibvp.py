"""iBVP adapter: BMP frames, thermal .raw, BVP/SQ CSV, sq_policy mask|delete, modality rgb|rgbt."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from rppgbench._checks import DataError
from rppgbench.datasets import get_adapter
from rppgbench.datasets.fixtures import dominant_hr_bpm, write_ibvp
from rppgbench.datasets.ibvp import raw_to_celsius
from rppgbench.preprocess.align import align_label

TS = (32, 26)  # tiny thermal frames for speed (real: 640x512, tested separately)


@pytest.fixture(scope="module")
def ibvp(tmp_path_factory):
    root = tmp_path_factory.mktemp("ibvp")
    return root, write_ibvp(root, participants=(1, 8), conditions=("a", "b"), seconds=6.0, thermal_size=TS)


def test_discover_ids_conditions_and_consent(ibvp, tmp_path):
    root, truth = ibvp
    recs = get_adapter("ibvp").discover(root)
    assert [r.recording_id for r in recs] == ["p01_a", "p01_b", "p08_a", "p08_b"]
    assert set(truth) == {r.recording_id for r in recs}
    assert [(r.subject, r.session) for r in recs][:2] == [("p01", "a"), ("p01", "b")]
    assert recs[0].metadata["condition"] == "rhythmic_breathing_rest" and recs[1].metadata["condition"] == "easy_math"
    assert [r.metadata["limited_consent"] for r in recs] == [False, False, True, True]
    moved = tmp_path / "ibvp"
    shutil.copytree(root, moved)
    (moved / "Confidential_No-media-use").mkdir()
    shutil.move(str(moved / "p08_a"), str(moved / "Confidential_No-media-use" / "p08_a"))
    recs2 = get_adapter("ibvp").discover(moved)
    assert [r.recording_id for r in recs2] == ["p01_a", "p01_b", "p08_a", "p08_b"]
    assert recs2[2].metadata["folder"] == "Confidential_No-media-use"


def test_frames_labels_thermal_and_hr(ibvp):
    root, truth = ibvp
    a = get_adapter("ibvp", thermal_size=TS)
    for rec in a.discover(root):
        frames = np.stack(list(a.iter_frames(rec)))
        assert frames.shape == (180, 48, 64, 3)
        lab = a.read_label(rec)
        assert lab.values.size == 180 and lab.timestamps is None and lab.fs == 30.0
        assert abs(dominant_hr_bpm(lab.values, 30.0) - truth[rec.recording_id]) < 2
        g = frames[:, 16:32, 21:43, 1].mean(axis=(1, 2))
        assert abs(dominant_hr_bpm(g, 30.0) - truth[rec.recording_id]) < 2
        thermal = np.stack(list(a.iter_thermal(rec)))
        assert thermal.dtype == np.float32 and thermal.shape[1:] == (26, 32)
        assert thermal.shape[0] == (179 if rec.recording_id == "p01_a" else 180)  # RGB/thermal differ by one
        assert thermal[:, 13, 16].mean() == pytest.approx(34.0, abs=0.1)
        assert thermal[0, 0, 0] == pytest.approx(24.0, abs=0.03)
    np.testing.assert_allclose(raw_to_celsius(np.array([7500], np.uint16)), [26.85], atol=1e-3)


def test_sq_policies_and_rgbt_truncation(ibvp):
    root, _ = ibvp
    rec = get_adapter("ibvp").discover(root)[0]  # p01_a: SQ2 = 0.1 from 2 s to 3 s
    ft = np.arange(180) / 30.0
    lab = get_adapter("ibvp").read_label(rec)
    low = (ft >= 2.0) & (ft < 3.0)
    np.testing.assert_allclose(lab.extra["sq"][low], 0.1)
    np.testing.assert_array_equal(lab.extra["sq_ok"], (~low).astype(float))
    aligned, qc = align_label(lab, ft, "time")
    al = {"ppg": aligned, **qc["extra"]}
    assert get_adapter("ibvp").frame_mask(rec, al) is None  # default mask policy keeps every frame
    keep = get_adapter("ibvp", sq_policy="delete").frame_mask(rec, al)
    np.testing.assert_array_equal(keep, ~low)  # exactly the 30 low-quality frames go
    rgbt = get_adapter("ibvp", modality="rgbt", thermal_size=TS)
    keep_t = rgbt.frame_mask(rgbt.discover(root)[0], al)
    assert keep_t.sum() == 179 and not keep_t[-1]
    both = get_adapter("ibvp", modality="rgbt", sq_policy="delete", thermal_size=TS)
    assert both.frame_mask(both.discover(root)[0], al).sum() == 149
    with pytest.raises(DataError, match="needs the aligned 'sq' label"):
        get_adapter("ibvp", sq_policy="delete").frame_mask(rec, {"ppg": aligned})


def test_source_files_follow_modality(ibvp):
    root, _ = ibvp
    rec = get_adapter("ibvp").discover(root)[0]
    rgb = get_adapter("ibvp").source_files(rec)
    assert len(rgb) == 181 and rgb[-1].name == "p01_a_bvp.csv" and not any(p.suffix == ".raw" for p in rgb)
    rgbt = get_adapter("ibvp", modality="rgbt", thermal_size=TS).source_files(rec)
    assert len(rgbt) == 181 + 179


def test_headerless_csv_variant(ibvp, tmp_path):
    src, truth = ibvp
    root = tmp_path / "ibvp"
    shutil.copytree(src, root)
    csv = root / "p01_b" / "p01_b_bvp.csv"
    with_header = get_adapter("ibvp").read_label(get_adapter("ibvp").discover(root)[1])
    csv.write_text("\n".join(csv.read_text().splitlines()[1:]) + "\n")
    without = get_adapter("ibvp").read_label(get_adapter("ibvp").discover(root)[1])
    np.testing.assert_array_equal(without.values, with_header.values)
    np.testing.assert_array_equal(without.extra["sq"], with_header.extra["sq"])


def test_real_size_thermal(tmp_path):
    write_ibvp(tmp_path, participants=(2,), conditions=("c",), seconds=0.2)
    a = get_adapter("ibvp")
    rec = a.discover(tmp_path)[0]
    th = np.stack(list(a.iter_thermal(rec)))
    assert th.shape == (5, 512, 640)  # first recording: one thermal frame fewer than the 6 RGB frames


def test_options_and_bad_inputs_name_the_file(ibvp, tmp_path):
    src, _ = ibvp
    with pytest.raises(ValueError, match="sq_policy must be one of"):
        get_adapter("ibvp", sq_policy="drop")
    with pytest.raises(ValueError, match="modality must be one of"):
        get_adapter("ibvp", modality="t")
    root = tmp_path / "ibvp"
    shutil.copytree(src, root)
    a = get_adapter("ibvp")  # default thermal size 640x512 does not fit the tiny fixture
    recs = {r.recording_id: r for r in a.discover(root)}
    with pytest.raises(DataError, match=r"p01_b_t/00000.raw: thermal frame has 1664 bytes; expected 640\*512\*2"):
        next(a.iter_thermal(recs["p01_b"]))
    csv = root / "p01_b" / "p01_b_bvp.csv"
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join([lines[0].replace("SQ2", "SQ3")] + lines[1:]))
    with pytest.raises(DataError, match=r"p01_b_bvp.csv: CSV is missing column\(s\) \['SQ2'\]"):
        a.read_label(recs["p01_b"])
    csv.write_text("\n".join(lines[:100]))
    with pytest.raises(DataError, match=r"p01_b_bvp.csv: BVP rows / RGB frames = 99 / 180"):
        a.read_label(recs["p01_b"])
    (root / "p08_a" / "p08_a_bvp.csv").unlink()
    with pytest.raises(DataError, match=r"p08_a_bvp.csv: ground-truth file not found"):
        a.read_label(recs["p08_a"])
    bmp = root / "p08_b" / "p08_b_rgb" / "00003.bmp"
    bmp.write_bytes(b"BM broken")
    with pytest.raises(DataError, match=r"00003.bmp: unreadable image \(frame 3\)"):
        list(a.iter_frames(recs["p08_b"]))
    shutil.rmtree(root / "p08_b" / "p08_b_t")
    with pytest.raises(DataError, match=r"p08_b_t: modality 'rgbt' needs the thermal folder"):
        get_adapter("ibvp", modality="rgbt").discover(root)
    (root / "p09_e").mkdir()
    with pytest.raises(DataError, match="p09_e: looks like an iBVP recording"):
        a.discover(root)
