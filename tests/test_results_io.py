"""results.json / predictions npz / rPPG-Toolbox pickle: round trips, schema errors, atomic writes."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from rppgbench._checks import DataError
from rppgbench.results import (
    read_predictions,
    read_results,
    read_toolbox_pickle,
    strip_volatile,
    write_predictions,
    write_results,
    write_toolbox_pickle,
)


def minimal_results(value=1.5, se=float("nan")) -> dict:
    return {
        "format_version": 1,
        "protocol": {"name": "p", "version": 1, "sha256": "a" * 64, "citation": {"paper": "x"}, "path": "p.yaml"},
        "evaluation": {"profile": "rppgbench", "window_s": 10.0, "hr_method": "fft", "fs": 30.0},
        "splits": {"train": ["synthetic/s1_r0"], "test": ["synthetic/s2_r0"]},
        "rows": [{"protocol": "p", "model": "pos", "test_dataset": "synthetic", "metric": "MAE", "value": value,
                  "se": se, "unit": "bpm", "n_windows": np.int64(3), "n_recordings": 1, "profile": "rppgbench",
                  "hr_resolution_bpm": 0.88, "window_s": 10.0}],
        "per_recording": [{"model": "pos", "test_dataset": "synthetic", "recording": "s2_r0", "subject": "2",
                           "hr_pred": 70.0, "hr_ref": 71.5, "abs_error": 1.5, "n_windows": 3}],
        "models": {"pos": {"config": {"name": "pos"}, "kind": "unsupervised", "train_wall_s": 0.0}},
        "provenance": {"started": "2026-01-01T00:00:00Z", "wall_s": 3.2, "rppgbench_version": "0.1.0"},
    }


def test_results_round_trip_nan_becomes_null(tmp_path):
    path = write_results(tmp_path, minimal_results())
    text = path.read_text()
    assert '"se": null' in text and "NaN" not in text
    back = read_results(tmp_path)
    assert back["rows"][0]["value"] == 1.5 and back["rows"][0]["se"] is None and back["rows"][0]["n_windows"] == 3
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_results_schema_errors_name_the_field(tmp_path):
    bad = minimal_results()
    bad["rows"][0]["metric"] = "MAEE"
    with pytest.raises(DataError, match=r"field rows\[0\]\.metric: must be one of MAE"):
        write_results(tmp_path, bad)
    assert not (tmp_path / "results.json").exists()  # nothing half-written visible
    bad = minimal_results()
    del bad["provenance"]
    with pytest.raises(DataError, match="field provenance: missing"):
        write_results(tmp_path, bad)
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(DataError, match=r"not valid JSON \(line 1\)"):
        read_results(tmp_path)


def test_strip_volatile_ignores_times_only():
    a, b = minimal_results(), minimal_results()
    b["provenance"]["started"] = "2027-01-01T00:00:00Z"
    b["provenance"]["wall_s"] = 99.0
    assert strip_volatile(a) == strip_volatile(b)
    b["rows"][0]["value"] = 1.6
    assert strip_volatile(a) != strip_volatile(b)


def test_predictions_npz_round_trip(tmp_path):
    t = np.arange(300) / 30.0
    sig = {"synthetic/b": (np.sin(2 * np.pi * 1.2 * t), np.cos(t)), "synthetic/a": (np.ones(5), np.zeros(5))}
    hr = {"synthetic/b": (np.array([72.0, 73.0]), np.array([71.0, 72.5]))}
    path = write_predictions(tmp_path / "predictions" / "pos.npz", 30.0, sig, hr)
    back = read_predictions(path)
    assert back["fs"] == 30.0 and back["recording_ids"] == ["synthetic/a", "synthetic/b"]
    assert back["signals"]["synthetic/b"][0].dtype == np.float32
    np.testing.assert_allclose(back["signals"]["synthetic/b"][0], sig["synthetic/b"][0].astype(np.float32))
    np.testing.assert_array_equal(back["hr"]["synthetic/b"][1], [71.0, 72.5])
    with np.load(path) as z:  # the documented key layout
        assert set(z.files) == {"fs", "recording_ids", "pred__synthetic/a", "label__synthetic/a",
                                "pred__synthetic/b", "label__synthetic/b", "hr_pred__synthetic/b",
                                "hr_ref__synthetic/b"}
    with pytest.raises(ValueError, match="pred has 3 samples, label 2"):
        write_predictions(tmp_path / "x.npz", 30.0, {"d/r": (np.ones(3), np.ones(2))})


def test_toolbox_pickle_chunks_like_tbx(tmp_path):
    pred = np.arange(350, dtype=float)
    label = -pred
    path = write_toolbox_pickle(tmp_path / "m_toolbox.pkl", {"ubfc_rppg/subject38": (pred, label)}, 30.0,
                                "standardized", chunk_len=160)
    d = read_toolbox_pickle(path)
    assert d["label_type"] == "Standardized" and d["fs"] == 30.0
    chunks = d["predictions"]["ubfc_rppg/subject38"]
    assert sorted(chunks) == [0, 1]  # 350 // 160 = 2 full chunks; the 30-frame tail is dropped as in TBX
    np.testing.assert_array_equal(chunks[1], pred[160:320].astype(np.float32))
    np.testing.assert_array_equal(d["labels"]["ubfc_rppg/subject38"][0], label[:160].astype(np.float32))
    whole = read_toolbox_pickle(write_toolbox_pickle(tmp_path / "u.pkl", {"a/b": (pred, label)}, 30.0, "raw", None))
    assert list(whole["predictions"]["a/b"]) == [0] and whole["predictions"]["a/b"][0].size == 350
    assert whole["label_type"] == "Raw"
    with pytest.raises(ValueError, match="label_type must be one of"):
        write_toolbox_pickle(tmp_path / "v.pkl", {"a/b": (pred, label)}, 30.0, "Standardised", None)


def test_json_written_is_strict_json(tmp_path):
    r = minimal_results(value=float("inf"))
    with pytest.raises(DataError, match=r"rows\[0\]\.value"):
        # inf is cleaned to null, which is allowed; make sure a string is refused instead
        r2 = minimal_results()
        r2["rows"][0]["value"] = "1.5"
        write_results(tmp_path, r2)
    write_results(tmp_path, r)
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["rows"][0]["value"] is None and not math.isnan(data["provenance"]["wall_s"])


def test_one_npz_parser_bounds_unpacked_size_and_keeps_arrays_as_stored(tmp_path, monkeypatch):
    import importlib

    from rppgbench.evaluation.io import read_npz

    sub_mod = importlib.import_module("rppgbench.leaderboard.submit")  # the module (the package exports the function)

    bomb = tmp_path / "bomb.npz"  # 8 MB of zeros compresses to a few kB
    np.savez_compressed(bomb, fs=np.asarray(30.0), recording_ids=np.asarray(["d/r1"]),
                        **{"pred__d/r1": np.zeros(1_000_000), "label__d/r1": np.zeros(1_000_000, np.float32)})
    assert bomb.stat().st_size < 100_000
    with pytest.raises(DataError, match=r"bomb\.npz: would decompress to \d+ bytes in all; the limit is 100000 bytes"):
        read_npz(bomb, max_bytes=100_000)
    npz = read_npz(bomb)
    assert npz.recording_ids == ["d/r1"] and npz.fs == 30.0 and npz.unknown == []
    assert npz.arrays["label"]["d/r1"].dtype == np.float32  # label hashes are taken over the stored bytes
    assert read_predictions(bomb)["signals"]["d/r1"][0].shape == (1_000_000,)
    monkeypatch.setattr(sub_mod, "MAX_PREDICTIONS_BYTES", 100_000)
    with pytest.raises(sub_mod.SubmissionError, match="would decompress"):
        sub_mod.load_submission_predictions(bomb)
    np.savez(tmp_path / "extra.npz", fs=np.asarray(30.0), recording_ids=np.asarray(["a"]), pred__a=np.zeros(3),
             label__a=np.zeros(3), weights=np.zeros(2))
    with pytest.raises(DataError, match=r"extra\.npz: unexpected key 'weights'"):
        read_predictions(tmp_path / "extra.npz")
