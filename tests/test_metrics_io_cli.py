"""Prediction files (.npz / .csv) and the ``rppgbench metrics`` command."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from rppgbench._checks import DataError
from rppgbench.cli import main
from rppgbench.cli.metrics import metrics as metrics_cmd
from rppgbench.evaluation import evaluate, load_predictions, save_predictions

FS = 30.0


def _signals(n=600, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    out = {}
    for rid, hr in (("subject1/T1", 66.0), ("subject2/T1", 81.0), ("subject3/T2", 97.0)):
        lab = np.sin(2 * np.pi * hr / 60 * t)
        out[rid] = (np.sin(2 * np.pi * (hr + 2) / 60 * t) + 0.4 * rng.standard_normal(n), lab)
    return out


def test_npz_roundtrip_with_slashes_and_fs(tmp_path):
    sig = _signals()
    path = save_predictions(tmp_path / "p.npz", sig, fs=FS)
    assert not list(tmp_path.glob("*.partial*"))
    got = load_predictions(path)
    assert got.fs == FS and list(got) == list(sig)
    for rid in sig:
        np.testing.assert_array_equal(got[rid][0], sig[rid][0])
        np.testing.assert_array_equal(got[rid][1], sig[rid][1])


def test_npz_errors_name_file_and_key(tmp_path):
    p = tmp_path / "bad.npz"
    np.savez(p, **{"pred__a": np.zeros(10)})
    with pytest.raises(DataError, match=r"bad\.npz.*'pred__a' has no matching 'label__a'"):
        load_predictions(p)
    np.savez(p, **{"pred__a": np.zeros(10), "label__a": np.zeros(10), "weights": np.zeros(2)})
    with pytest.raises(DataError, match=r"bad\.npz.*unexpected key 'weights'"):
        load_predictions(p)
    np.savez(p, **{"pred__a": np.zeros((4, 5)), "label__a": np.zeros((4, 5))})
    with pytest.raises(DataError, match=r"'pred__a' must be a 1-D"):
        load_predictions(p)
    np.savez(p, **{"pred__a": np.zeros(5), "label__a": np.zeros(5), "fs": np.array(-1.0)})
    with pytest.raises(DataError, match="'fs'"):
        load_predictions(p)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"junk\.npz"):
        load_predictions(tmp_path / "junk.npz")
    with pytest.raises(FileNotFoundError):
        load_predictions(tmp_path / "missing.npz")
    (tmp_path / "x.txt").write_text("1")
    with pytest.raises(DataError, match="unsupported"):
        load_predictions(tmp_path / "x.txt")
    assert zipfile.is_zipfile(p)


def test_csv_long_form_with_sample_order(tmp_path):
    sig = _signals(n=50)
    rows = [{"recording": rid, "sample": i, "pred": p[i], "label": lab[i]}
            for rid, (p, lab) in sig.items() for i in range(50)]
    df = pd.DataFrame(rows).sample(frac=1.0, random_state=3)  # shuffled rows
    df.to_csv(tmp_path / "p.csv", index=False)
    got = load_predictions(tmp_path / "p.csv")
    assert got.fs is None and set(got) == set(sig)
    for rid in sig:
        np.testing.assert_allclose(got[rid][0], sig[rid][0], rtol=1e-15)
    df.drop(columns="sample").sort_values("recording", kind="stable").to_csv(tmp_path / "q.csv", index=False)
    assert set(load_predictions(tmp_path / "q.csv")) == set(sig)
    bad = df.copy()
    bad.loc[bad.index[0], "sample"] = 999
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match=r"bad\.csv.*'sample'"):
        load_predictions(tmp_path / "bad.csv")
    bad = df.drop(columns="label")
    bad.to_csv(tmp_path / "bad2.csv", index=False)
    with pytest.raises(DataError, match=r"bad2\.csv.*missing column.*label"):
        load_predictions(tmp_path / "bad2.csv")
    bad = df.copy().astype({"pred": object})
    bad.loc[bad.index[4], "pred"] = "x"
    bad.to_csv(tmp_path / "bad3.csv", index=False)
    with pytest.raises(DataError, match=r"bad3\.csv.*'pred'.*row 5"):
        load_predictions(tmp_path / "bad3.csv")


def test_cli_metrics_agrees_with_api(tmp_path):
    sig = _signals()
    path = save_predictions(tmp_path / "p.npz", sig)
    out = tmp_path / "m.json"
    runner = CliRunner()
    res = runner.invoke(metrics_cmd, [str(path), "--fs", "30", "--profile", "tb-head-2025", "--window", "10",
                                      "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert "tb-head-2025" in res.output and "HR resolution: 3.5156 bpm" in res.output
    api = evaluate(sig, FS, profile="tb-head-2025", window_s=10.0)
    for m in api.metrics.values():
        assert f"{m['value']:.4f} ±" in res.output
    data = json.loads(out.read_text())
    assert data["profile"] == "tb-head-2025" and data["hr_resolution_bpm"] == pytest.approx(api.hr_resolution_bpm)
    for name, m in api.metrics.items():
        assert data["metrics"][name]["value"] == pytest.approx(m["value"])
        assert data["metrics"][name]["se"] == pytest.approx(m["se"])
    for rid in sig:
        wins = data["recordings"][rid]["windows"]
        exp = api.windows[api.windows.recording == rid]
        assert [w["hr_pred"] for w in wins] == pytest.approx(exp.hr_pred.tolist())
        assert [w["hr_ref"] for w in wins] == pytest.approx(exp.hr_ref.tolist())
    # whole-video, fs from the file, other options
    save_predictions(tmp_path / "f.npz", sig, fs=FS)
    res = runner.invoke(metrics_cmd, [str(tmp_path / "f.npz"), "--window", "whole", "--hr-method", "peak",
                                      "--profile", "tb-neurips2023"])
    assert res.exit_code == 0, res.output
    assert "window: whole recording" in res.output and "MACC" in res.output
    assert "Example" in runner.invoke(metrics_cmd, ["--help"]).output


def test_cli_metrics_errors_exit_2(tmp_path, capsys):
    path = save_predictions(tmp_path / "p.npz", _signals())
    for argv, needle in ((["metrics", str(path), "--fs", "30", "--profile", "tb-head"], "did you mean"),
                         (["metrics", str(path), "--fs", "30", "--window", "60"], "longer than the signal"),
                         (["metrics", str(tmp_path / "none.npz"), "--fs", "30"], "not found")):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        assert needle in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["metrics", str(path)])  # no fs anywhere
    assert exc.value.code == 2


def test_run_predictions_file_is_scored_by_metrics_cli(tmp_path):
    """The predictions npz that `rppgbench run` writes (with recording_ids and per-window HR keys) is accepted."""
    from rppgbench.cli import cli
    from rppgbench.results.io import write_predictions

    fs = 30.0
    t = np.arange(600) / fs
    signals = {f"synthetic/s0{i}_r00": (np.sin(2 * np.pi * (1.0 + 0.2 * i) * t) + 0.1 * np.cos(3 * t),
                                        np.sin(2 * np.pi * (1.0 + 0.2 * i) * t + 0.3)) for i in range(3)}
    hr = {k: (np.array([60.0]), np.array([60.0])) for k in signals}
    path = write_predictions(tmp_path / "pos.npz", fs, signals, hr)
    loaded = load_predictions(path)
    assert sorted(loaded) == sorted(signals) and loaded.fs == fs
    out = tmp_path / "m.json"
    r = CliRunner().invoke(cli, ["metrics", str(path), "--fs", "30", "--profile", "tb-head-2025", "--json", str(out)])
    assert r.exit_code == 0, r.output
    api = evaluate({k: (v[0].astype(np.float32).astype(np.float64), v[1].astype(np.float32).astype(np.float64))
                     for k, v in signals.items()}, fs, profile="tb-head-2025")
    assert json.loads(out.read_text())["metrics"]["MAE"]["value"] == pytest.approx(api.metrics["MAE"]["value"])
