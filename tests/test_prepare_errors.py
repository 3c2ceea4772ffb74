"""prepare: every bad input is an error naming the file and what was expected; no-face policies in QC."""
from __future__ import annotations

import numpy as np
import pytest
from _store_toy import ToyAdapter, write_toy_raw
from click.testing import CliRunner

from rppgbench._checks import DataError
from rppgbench.store import open_store, prepare


@pytest.fixture
def raw(tmp_path):
    r = tmp_path / "raw"
    write_toy_raw(r, n_recordings=2, n_frames=40)
    return r


def test_missing_empty_and_unrecognised_raw_folders(tmp_path):
    with pytest.raises(DataError, match=r"nope: raw folder of dataset 'toy' does not exist"):
        prepare(ToyAdapter(), tmp_path / "nope", workers=0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty: raw folder of dataset 'toy' is empty"):
        prepare(ToyAdapter(), tmp_path / "empty", workers=0)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "readme.txt").write_text("hi")
    with pytest.raises(DataError, match=r"other: no toy recordings found"):
        prepare(ToyAdapter(), tmp_path / "other", workers=0)


def test_unreadable_video_names_the_file(raw, tmp_path):
    video = raw / "s2_a" / "vid.avi"
    video.write_bytes(b"this is not a video" * 100)
    s = prepare(ToyAdapter(), raw, out=tmp_path / "s.zarr", workers=0)
    assert not s.ok and s.written == ["s1_a"] and list(s.failed) == ["s2_a"]
    assert str(video) in s.failed["s2_a"] and "could not decode frame 0 of" in s.failed["s2_a"]
    assert open_store(tmp_path / "s.zarr").missing() == {"s2_a": s.failed["s2_a"]}


def test_truncated_video_names_video_and_label(raw, tmp_path):
    video = raw / "s1_a" / "vid.avi"
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 3])
    s = prepare(ToyAdapter(), raw, out=tmp_path / "s.zarr", workers=0)
    why = s.failed["s1_a"]
    assert str(video) in why and str(raw / "s1_a" / "label.txt") in why
    assert "truncated video or label" in why and "expected a ratio within 1 ± 0.05" in why


def test_label_with_nan_or_wrong_length(raw, tmp_path):
    lab = raw / "s1_a" / "label.txt"
    vals, ts = lab.read_text().splitlines()
    v = vals.split()
    v[5] = "nan"
    lab.write_text(" ".join(v) + "\n" + ts)
    lab2 = raw / "s2_a" / "label.txt"
    vals2, ts2 = (line.split() for line in lab2.read_text().splitlines())
    lab2.write_text(" ".join(vals2[:40]) + "\n" + " ".join(ts2[:40]))  # 40 samples at 60 Hz: half the video
    s = prepare(ToyAdapter(), raw, out=tmp_path / "s.zarr", workers=0)
    assert f"{lab}: label holds 1 NaN/inf value(s), first at sample 5" in s.failed["s1_a"]
    assert str(lab2) in s.failed["s2_a"] and "lasts 0.500×" in s.failed["s2_a"]


def test_unwritable_or_foreign_output_path(raw, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(DataError, match=r"a_file/store.zarr: output path is not writable"):
        prepare(ToyAdapter(), raw, out=blocker / "store.zarr", workers=0)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    with pytest.raises(DataError, match="exists and is not an rppgbench store; refusing"):
        prepare(ToyAdapter(), raw, out=foreign, workers=0, overwrite=True)
    assert (foreign / "precious.txt").read_text() == "keep me"


def test_skip_bad_records_skipped_and_cli_exit_codes(raw, tmp_path, monkeypatch):
    from rppgbench.cli import main
    from rppgbench.cli.prepare import prepare as prepare_cmd
    from rppgbench.datasets import DATASETS

    monkeypatch.setitem(DATASETS._objects, "toy", ToyAdapter)
    (raw / "s2_a" / "vid.avi").write_bytes(b"garbage")
    out = tmp_path / "s.zarr"
    r = CliRunner().invoke(prepare_cmd, ["toy", "--raw", str(raw), "--output", str(out), "--workers", "0"])
    assert r.exit_code == 1 and "FAILED s2_a" in r.output and "1 written" in r.output
    r = CliRunner().invoke(prepare_cmd, ["toy", "--raw", str(raw), "--output", str(out), "--workers", "0",
                                         "--skip-bad"])
    assert r.exit_code == 0, r.output
    assert "skipped s2_a" in r.output and "1 already present" in r.output
    st = open_store(out)
    assert list(st.attrs["qc"]["skipped"]) == ["s2_a"] and st.attrs["qc"]["failed"] == {}
    assert "could not decode" in st.missing()["s2_a"]
    # package errors become "Error: ..." with exit code 2
    with pytest.raises(SystemExit) as exc:
        main(["prepare", "toy", "--raw", str(tmp_path / "missing"), "--workers", "0"])
    assert exc.value.code == 2


@pytest.mark.parametrize("policy", ["fail", "carry", "whole"])
def test_no_face_policies_in_the_store(tmp_path, policy):
    raw = tmp_path / "raw"
    write_toy_raw(raw, n_recordings=1, n_frames=60, faces={"s1_a": "late"})  # face from frame 30 on
    s = prepare(ToyAdapter(), raw, recipe={"no_face": policy, "detect_every": 10}, out=tmp_path / "s.zarr",
                workers=0)
    if policy == "fail":
        assert "recording s1_a" in s.failed["s1_a"] and "no face detected in frame 0" in s.failed["s1_a"]
        assert str(raw / "s1_a" / "vid.avi") in s.failed["s1_a"]
        return
    assert s.ok
    st = open_store(tmp_path / "s.zarr")
    qc = st.qc("s1_a")
    src = st.box_sources("s1_a")
    if policy == "whole":
        assert qc["ranges_whole"] == [[0, 30]] and qc["frames_whole"] == 30
        assert np.all(st.boxes("s1_a")[:30] == [0, 0, 200, 160])
        assert qc["detector_attempts"] == 6 and qc["detector_hits"] == 3
    else:
        assert qc["ranges_carried_back"] == [[0, 30]] and qc["frames_carried_back"] == 30
        assert np.all(st.boxes("s1_a")[:30] == st.boxes("s1_a")[30])
        assert qc["detector_attempts"] == 30 + 3  # retried on every frame until the face appears
    assert qc["detector_hit_rate"] == qc["detector_hits"] / qc["detector_attempts"]
    assert st.recordings().loc[0, f"qc_frames_{'whole' if policy == 'whole' else 'carried_back'}"] == 30
    assert src[30] == 0
