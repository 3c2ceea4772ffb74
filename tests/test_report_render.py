"""Render reports from results directories built here (metrics computed by rppgbench.evaluation)."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from _lb_helpers import write_results

from rppgbench._checks import DataError
from rppgbench.evaluation import bland_altman
from rppgbench.reporting import report
from rppgbench.reporting.cd import friedman_nemenyi
from rppgbench.reporting.tables import fmt_value

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return write_results(tmp_path_factory.mktemp("res") / "run")


@pytest.fixture(scope="module")
def rendered(run_dir, tmp_path_factory):
    return report(run_dir, out=tmp_path_factory.mktemp("rep") / "rep")


def _all_files(d):
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_report_files_tables_and_plots(run_dir, rendered):
    index = rendered
    tmp_path = index.parent.parent
    assert index.name == "index.html" and index.parent.name == "rep"
    res = json.loads((run_dir / "results.json").read_text())
    md = (tmp_path / "rep/tables/comparison.md").read_text()
    tex = (tmp_path / "rep/tables/comparison.tex").read_text()
    html = index.read_text()
    # every computed value ± SE appears in Markdown, LaTeX (with $\pm$) and HTML
    for row in res["rows"]:
        cell = fmt_value(row["value"], row["se"])
        assert cell in md, (row, cell)
        assert cell.replace(" ± ", " $\\pm$ ") in tex
        assert cell in html
    res_bpm = max(r["hr_resolution_bpm"] for r in res["rows"])  # coarsest bin of any model
    assert "profile rppgbench" in md and f"HR resolution {res_bpm:.3f} bpm" in md
    # CSV keeps full precision
    with open(tmp_path / "rep/tables/comparison.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["model"] for r in rows} == {"pos", "chrom", "tinynet"}
    for r in rows:
        want = next(x for x in res["rows"] if x["model"] == r["model"] and x["metric"] == "MAE")
        assert float(r["MAE"]) == want["value"] and float(r["MAE_se"]) == want["se"]
    # figures: every image linked from index.html exists and is a non-empty PNG
    summary = json.loads((tmp_path / "rep/report.json").read_text())
    sec = summary["sections"][0]
    figs = [sec["figures"]["cd"], sec["figures"]["bubble"]]
    for m in ("pos", "chrom", "tinynet"):
        figs += list(sec["per_model"][m]["figures"].values())
        figs += [w["figure"] for w in sec["per_model"][m]["worst"]]
    assert len(figs) == 2 + 3 * 2 + 3 * 2
    for f in figs:
        data = (tmp_path / "rep" / f).read_bytes()
        assert data.startswith(PNG) and len(data) > 5000, f
        assert f'src="{f}"' in html
    assert sec["latency_available"] is False


def test_report_statistics_match_inputs(run_dir, rendered):
    tmp_path = rendered.parent.parent
    summary = json.loads((tmp_path / "rep/report.json").read_text())
    sec = summary["sections"][0]
    res = json.loads((run_dir / "results.json").read_text())
    # critical difference recomputed from per-recording absolute errors
    models = sorted({r["model"] for r in res["per_recording"]})
    recs = sorted({r["recording"] for r in res["per_recording"]})
    err = {(r["model"], r["recording"]): r["abs_error"] for r in res["per_recording"]}
    x = np.array([[err[(m, r)] for m in models] for r in recs])
    want = friedman_nemenyi(x, models)
    assert sec["cd"]["models"] == models
    np.testing.assert_allclose(sec["cd"]["avg_ranks"], want.avg_ranks)
    assert sec["cd"]["cd"] == pytest.approx(want.cd)
    # Bland-Altman from the pooled per-window HR of the predictions file
    z = np.load(run_dir / "predictions" / "pos.npz")
    ids = [str(i) for i in z["recording_ids"]]
    hp = np.concatenate([z[f"hr_pred__{i}"] for i in ids])
    hr = np.concatenate([z[f"hr_ref__{i}"] for i in ids])
    ba = bland_altman(hr, hp)
    got = sec["per_model"]["pos"]["bland_altman"]
    assert got["bias"] == pytest.approx(ba["mean_diff"]) and got["n"] == hp.size
    assert got["loa_toolbox"][1] - got["bias"] == pytest.approx(np.sqrt(2) * (got["loa_classic"][1] - got["bias"]))
    # worst recordings are the largest per-recording errors
    pos_err = sorted(((err[("pos", r)], r) for r in recs), key=lambda t: (-t[0], t[1]))
    assert [w["recording"] for w in sec["per_model"]["pos"]["worst"]] == [r for _, r in pos_err[:2]]


def test_report_is_deterministic_and_default_location(run_dir, rendered):
    index = report(run_dir)  # default location <run>/report
    assert index == run_dir / "report" / "index.html"
    fa, fb = _all_files(rendered.parent), _all_files(index.parent)
    assert fa.keys() == fb.keys()
    assert [k for k in fa if fa[k] != fb[k]] == []  # byte-identical for the same inputs
    assert not list(run_dir.glob(".report.*"))  # no temporary directory left behind


def test_combined_dirs_and_model_benchmark_csv(tmp_path):
    from _lb_helpers import DEFAULT_MODELS
    two = {k: DEFAULT_MODELS[k] for k in ("pos", "tinynet")}
    r1 = write_results(tmp_path / "r1", two, protocol="proto_a", n_rec=3)
    r2 = write_results(tmp_path / "r2", two, protocol="proto_b", n_rec=3, seed=5)
    bench = tmp_path / "models_cpu_test.csv"
    bench.write_text("model,params,latency_ms,device\npos,0,1.5,cpu\nchrom,0,2.0,cpu\n"
                     "tinynet,52000,10.0,cpu\ntinynet,52000,12.0,cpu\n")
    index = report([r1, r2], out=tmp_path / "both", model_benchmark_csv=bench)
    md = (index.parent / "tables/comparison.md").read_text()
    assert "Protocol proto_a" in md and "Protocol proto_b" in md
    summary = json.loads((index.parent / "report.json").read_text())
    assert [s["protocol"] for s in summary["sections"]] == ["proto_a", "proto_b"]
    assert all(s["latency_available"] for s in summary["sections"])
    with pytest.raises(ValueError, match="out must be given"):
        report([r1, r2])
    import shutil
    shutil.copytree(r1, tmp_path / "r1copy")
    with pytest.raises(ValueError, match="appears in both"):
        report([r1, tmp_path / "r1copy"], out=tmp_path / "dup")


def test_bad_inputs_name_the_file(tmp_path):
    with pytest.raises(DataError, match="no results.json"):
        report(tmp_path / "nothing", out=tmp_path / "x")
    d = tmp_path / "bad"
    d.mkdir()
    (d / "results.json").write_text(json.dumps({"format_version": 1, "protocol": {"name": "p"}}))
    with pytest.raises(DataError, match="missing field"):
        report(d)
    bench = tmp_path / "b.csv"
    bench.write_text("model,params\npos,0\n")
    r = write_results(tmp_path / "r", {"pos": ("unsupervised", 0, [0.0], 0.5)}, n_rec=3)
    with pytest.raises(DataError, match="latency_ms"):
        report(r, model_benchmark_csv=bench)
    assert not (r / "report").exists()


def test_report_cli_prints_index(run_dir, tmp_path):
    from click.testing import CliRunner

    from rppgbench.cli import cli

    out = tmp_path / "cli"
    result = CliRunner().invoke(cli, ["report", str(run_dir), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(out / "index.html")
    assert "Example" in CliRunner().invoke(cli, ["report", "--help"]).output


def test_recording_without_hr_is_left_out_of_ranking_and_stated(tmp_path):
    two = {"pos": ("unsupervised", 0, [0.0, 3.0, 6.0], 0.5), "chrom": ("unsupervised", 0, [5.0, 0.0, 1.0], 0.5)}
    run = write_results(tmp_path / "r", two, n_rec=4)
    res = json.loads((run / "results.json").read_text())
    for r in res["per_recording"]:
        if r["model"] == "pos" and r["recording"] == "s01":
            r["abs_error"] = r["hr_pred"] = None  # e.g. no HR estimate in any window
    (run / "results.json").write_text(json.dumps(res))
    index = report(run)
    sec = json.loads((index.parent / "report.json").read_text())["sections"][0]
    assert sec["cd_left_out"] == ["s01"] and sec["cd"]["n_blocks"] == 3
    assert "Not ranked (not evaluated by every model): s01" in index.read_text()
    assert sec["per_model"]["pos"]["worst"][0]["recording"] == "s01"  # no HR = worst


def test_report_cli_error_is_one_line_and_exit_2(tmp_path, capsys):
    from rppgbench.cli import main

    with pytest.raises(SystemExit) as e:
        main(["report", str(tmp_path / "missing")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and "no results.json" in err and str(tmp_path / "missing") in err


def test_model_cost_section_from_the_benchmark_script_csv(tmp_path):
    """A CSV written by benchmarks/models.py (its own columns, a variant row) gives the cost chart and table of
    every benchmarked model, also those that are not in the runs."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("bench_models", Path(__file__).parents[1] / "benchmarks/models.py")
    bench_models = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_models)
    assert bench_models.default_devices(True) == ["cpu", "cuda"] and bench_models.default_devices(False) == ["cpu"]
    row = bench_models.measure("factorizephys.tiny", {}, "cpu", warmup=0, repeats=1, amp=True)
    assert row["macs_total"] > 0
    assert row["ms_per_gmac"] == pytest.approx(row["latency_ms"] / (row["macs_total"] / 1e9), rel=1e-3)
    assert row["latency_ms_per_frame"] == pytest.approx(row["latency_ms"] / 32, rel=1e-3)
    assert row["amp_dtype"] == "bfloat16"
    assert row["latency_ms_amp"] > 0 and row["params"] == row["params_inference"]
    other = dict(row, model="physfsunet.tiny", params=22321, macs_total=149757568, latency_ms=50.0)
    variant = dict(row, variant="fsam_inference=True", latency_ms=1e9)
    path = tmp_path / "models_cpu.csv"
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=bench_models.FIELDS)
        w.writeheader()
        w.writerows([row, other, variant])
    from rppgbench.reporting.report import read_model_benchmark

    bench = read_model_benchmark(path)
    assert sorted(bench) == ["factorizephys.tiny", "physfsunet.tiny"]
    assert bench["factorizephys.tiny"]["latency_ms"] == row["latency_ms"]  # the variant row is not mixed in
    r = write_results(tmp_path / "r", {"pos": ("unsupervised", 0, [0.0], 0.5)}, n_rec=3)
    index = report(r, out=tmp_path / "rep", model_benchmark_csv=path)
    summary = json.loads((index.parent / "report.json").read_text())
    assert summary["model_cost"]["models"] == ["factorizephys.tiny", "physfsunet.tiny"]
    assert (index.parent / summary["model_cost"]["figure"]).stat().st_size > 1000
    html = index.read_text()
    assert "Model cost" in html and "physfsunet.tiny" in html and "0.15" in html  # GMACs column
