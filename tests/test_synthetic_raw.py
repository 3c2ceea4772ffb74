"""The synthetic raw layout: writer, SyntheticAdapter round trip, determinism, bad inputs, the ``synth`` CLI."""
from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rppgbench._checks import DataError
from rppgbench.datasets import get_adapter
from rppgbench.datasets.synthetic import (
    MANIFEST_COLUMNS,
    MIXED_CYCLE,
    SyntheticAdapter,
    SyntheticSpec,
    render_recording,
    write_raw_dataset,
)

SMALL = dict(seconds=3, width=64, height=48)


def tree_digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    return write_raw_dataset(tmp_path_factory.mktemp("synth") / "raw", recordings=5, preset="mixed", seed=3, **SMALL)


def read_manifest(root: Path) -> list[dict[str, str]]:
    with open(root / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_layout_and_manifest(raw):
    rows = read_manifest(raw)
    with open(raw / "manifest.csv") as fh:
        assert fh.readline().strip() == ",".join(MANIFEST_COLUMNS)
    assert [r["recording_id"] for r in rows] == ["s01_r00", "s01_r01", "s02_r00", "s02_r01", "s03_r00"]
    assert [r["subject"] for r in rows] == ["01", "01", "02", "02", "03"]
    assert [r["preset"] for r in rows] == [MIXED_CYCLE[i % 4] for i in range(5)]
    assert len({r["seed"] for r in rows}) == 5
    for r in rows:
        d = raw / r["recording_id"]
        assert sorted(p.name for p in d.iterdir()) == ["frames.csv", "meta.json", "ppg.csv", "video.avi"]
        meta = json.loads((d / "meta.json").read_text())
        assert meta["seed"] == int(r["seed"]) and meta["preset"] == r["preset"]
        assert f"{meta['mean_hr_bpm']:.4f}" == r["mean_hr_bpm"]
        assert int(r["n_frames"]) == 90 and (int(r["width"]), int(r["height"])) == (64, 48)
        assert (d / "ppg.csv").read_text().splitlines()[0] == "time_s,ppg"
        assert (d / "frames.csv").read_text().splitlines()[0] == "time_s"
    # a subject keeps its skin type across recordings
    tones = {r["subject"]: set() for r in rows}
    for r in rows:
        tones[r["subject"]].add(json.loads((raw / r["recording_id"] / "meta.json").read_text())["fitzpatrick"])
    assert all(len(v) == 1 for v in tones.values())
    assert not [p for p in raw.parent.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_adapter_round_trip_equals_the_render(raw):
    ad = get_adapter("synthetic")
    assert isinstance(ad, SyntheticAdapter) and ad.info.name == "synthetic" and ad.info.fps == 30.0
    recs = ad.discover(raw)
    assert [r.recording_id for r in recs] == [r["recording_id"] for r in read_manifest(raw)]
    for rec in recs:
        spec = SyntheticSpec.from_dict(rec.metadata)
        ref = render_recording(spec)
        frames = np.stack(list(ad.iter_frames(rec)))
        # lossless container: exactly the rendered pixels (after the preset's JPEG step, if any)
        np.testing.assert_array_equal(frames, ref.frames)
        np.testing.assert_array_equal(ad.frame_timestamps(rec, len(frames)), ref.frame_times)
        label = ad.read_label(rec)
        np.testing.assert_array_equal(label.values, ref.ppg)
        np.testing.assert_array_equal(label.timestamps, ref.ppg_times)
        assert label.fs == 60.0
        assert rec.metadata["mean_hr_bpm"] == ref.mean_hr_bpm
        assert rec.subject == rec.recording_id[1:3] and rec.session == rec.recording_id[-2:]
        assert {Path(p).name for p in rec.paths.values()} == {"video.avi", "ppg.csv", "frames.csv", "meta.json"}
        assert [p.name for p in ad.source_files(rec)] and all(p.is_file() for p in ad.source_files(rec))


def test_same_seed_gives_identical_bytes_other_seed_other_hr(tmp_path):
    a = write_raw_dataset(tmp_path / "a", recordings=2, preset="hard", seed=1, **SMALL)
    b = write_raw_dataset(tmp_path / "b", recordings=2, preset="hard", seed=1, **SMALL)
    c = write_raw_dataset(tmp_path / "c", recordings=2, preset="hard", seed=2, **SMALL)
    da, db = tree_digest(a), tree_digest(b)
    assert da == db and "s01_r00/video.avi" in da
    hr = lambda root: [float(r["mean_hr_bpm"]) for r in read_manifest(root)]  # noqa: E731
    assert all(abs(x - y) > 0.5 for x, y in zip(hr(a), hr(c), strict=True))
    # rewriting over a previous output replaces it (same bytes again)
    write_raw_dataset(a, recordings=2, preset="hard", seed=1, **SMALL)
    assert tree_digest(a) == da


def test_refuses_a_foreign_non_empty_folder(tmp_path):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "thesis.tex").write_text("precious")
    with pytest.raises(DataError, match="not empty") as exc:
        write_raw_dataset(target, recordings=1, **SMALL)
    assert str(target) in str(exc.value)
    assert (target / "thesis.tex").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    import rppgbench.datasets.synthetic.writer as writer

    calls = {"n": 0}
    real = writer.write_recording

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(writer, "write_recording", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        write_raw_dataset(tmp_path / "out", recordings=3, **SMALL)
    assert list(tmp_path.iterdir()) == []


def _copy(raw: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(raw, dst)
    return dst


def test_missing_or_empty_folder(tmp_path):
    ad = SyntheticAdapter()
    with pytest.raises(DataError, match="does not exist") as exc:
        ad.discover(tmp_path / "nope")
    assert "nope" in str(exc.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="manifest.csv is missing"):
        ad.discover(tmp_path / "empty")


def test_missing_file_and_unlisted_folder(raw, tmp_path):
    ad = SyntheticAdapter()
    root = _copy(raw, tmp_path / "r1")
    (root / "s02_r01" / "ppg.csv").unlink()
    with pytest.raises(DataError, match="missing") as exc:
        ad.discover(root)
    assert "s02_r01" in str(exc.value) and "ppg.csv" in str(exc.value)
    root = _copy(raw, tmp_path / "r2")
    (root / "s09_r00").mkdir()
    with pytest.raises(DataError, match="not listed"):
        ad.discover(root)


def test_truncated_and_unreadable_video(raw, tmp_path):
    ad = SyntheticAdapter()
    root = _copy(raw, tmp_path / "r")
    video = root / "s01_r00" / "video.avi"
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])
    rec = ad.discover(root)[0]
    with pytest.raises(DataError, match="truncated") as exc:
        list(ad.iter_frames(rec))
    assert str(video) in str(exc.value)
    video.write_bytes(data[:64])
    with pytest.raises(DataError, match="cannot open") as exc:
        list(ad.iter_frames(rec))
    assert str(video) in str(exc.value)


def test_bad_label_and_timestamp_files(raw, tmp_path):
    ad = SyntheticAdapter()
    root = _copy(raw, tmp_path / "r")
    rec = ad.discover(root)[1]
    ppg = Path(rec.paths["label"])
    lines = ppg.read_text().splitlines()
    ppg.write_text("\n".join(lines[:5] + [lines[5].split(",")[0] + ",nan"] + lines[6:]) + "\n")
    with pytest.raises(DataError, match="NaN") as exc:
        ad.read_label(rec)
    assert str(ppg) in str(exc.value) and "line 6" in str(exc.value)
    ppg.write_text("t,ppg\n" + "\n".join(lines[1:]) + "\n")
    with pytest.raises(DataError, match="header"):
        ad.read_label(rec)
    ppg.write_text("\n".join(lines[:3] + [lines[2]] + lines[3:]) + "\n")  # a repeated time
    with pytest.raises(DataError, match="increase"):
        ad.read_label(rec)
    frames = Path(rec.paths["frames"])
    with pytest.raises(DataError, match="89 frames") as exc:
        ad.frame_timestamps(rec, 89)
    assert str(frames) in str(exc.value)


def test_synth_cli_writes_a_dataset(tmp_path):
    from rppgbench.cli import cli, main

    out = tmp_path / "cli_raw"
    res = CliRunner().invoke(cli, ["synth", str(out), "--recordings", "2", "--seconds", "2", "--preset", "light",
                                   "--seed", "4", "--size", "48x36", "--per-subject", "1"])
    assert res.exit_code == 0, res.output
    rows = read_manifest(out)
    assert [r["preset"] for r in rows] == ["light", "light"]
    assert [r["recording_id"] for r in rows] == ["s01_r00", "s02_r00"]
    assert {(int(r["width"]), int(r["height"]), int(r["n_frames"])) for r in rows} == {(48, 36, 60)}
    for r in rows:
        assert r["recording_id"] in res.output and f"{float(r['mean_hr_bpm']):6.2f}" in res.output
    assert str(out) in res.output
    assert len(SyntheticAdapter().discover(out)) == 2
    help_text = CliRunner().invoke(cli, ["synth", "--help"]).output
    assert "Example" in help_text
    bad = CliRunner().invoke(cli, ["synth", str(out), "--size", "big"])
    assert bad.exit_code != 0 and "WIDTHxHEIGHT" in bad.output
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("x")
    with pytest.raises(SystemExit) as exc:
        main(["synth", str(tmp_path / "foreign"), "-n", "1", "-s", "2", "--size", "48x36"])
    assert exc.value.code == 2


def test_overrides_and_frame_jitter_round_trip(tmp_path):
    root = write_raw_dataset(tmp_path / "j", recordings=2, preset="clean", seed=5, hr_bpm=75.0,
                             frame_jitter_s=0.002, noise_sigma=0.0, **SMALL)
    ad = SyntheticAdapter()
    for rec in ad.discover(root):
        assert rec.metadata["hr_bpm"] == 75.0 and rec.metadata["noise_sigma"] == 0.0
        t = ad.frame_timestamps(rec, 90)
        np.testing.assert_array_equal(t, render_recording(SyntheticSpec.from_dict(rec.metadata)).frame_times)
        assert t[0] == 0.0 and np.all(np.diff(t) > 0) and np.abs(np.diff(t) - 1 / 30).max() > 1e-4


def test_write_raw_dataset_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="preset"):
        write_raw_dataset(tmp_path / "a", preset="extreme", **SMALL)
    with pytest.raises(ValueError, match="recordings"):
        write_raw_dataset(tmp_path / "a", recordings=0, **SMALL)
    with pytest.raises(ValueError, match="codec"):
        write_raw_dataset(tmp_path / "a", codec="MJPG", **SMALL)
    with pytest.raises(ValueError, match="unknown synthetic parameter"):
        write_raw_dataset(tmp_path / "a", recordings=1, wobble=3, **SMALL)
    assert not (tmp_path / "a").exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize("codec", ["FFV1", "MPNG", "RGBA"])
def test_other_lossless_codecs_round_trip_and_are_reproducible(tmp_path, codec):
    kw = dict(recordings=1, preset="clean", seed=9, seconds=2, width=48, height=36, codec=codec)
    a = write_raw_dataset(tmp_path / "a", **kw)
    b = write_raw_dataset(tmp_path / "b", **kw)
    assert tree_digest(a) == tree_digest(b)
    rec = SyntheticAdapter().discover(a)[0]
    assert rec.metadata["video_codec"] == codec
    frames = np.stack(list(SyntheticAdapter().iter_frames(rec)))
    np.testing.assert_array_equal(frames, render_recording(SyntheticSpec.from_dict(rec.metadata)).frames)
