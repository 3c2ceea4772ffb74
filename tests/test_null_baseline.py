"""The null baseline: the model, the verdict rule, report tables that flag rows not beating it, the leaderboard
entry it gets, and the maintainers' refresh of metrics.json after an evaluation change."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from _lb_helpers import DEFAULT_MODELS, FS, PROTOCOLS, make_labels, write_results

from rppgbench.evaluation import evaluate
from rppgbench.models import create_model, model_cfg
from rppgbench.models.baseline import CONSTANT_HR_BPM
from rppgbench.results.null import NULL_ID, beats_null, null_verdicts

REPO_LEADERBOARDS = Path(__file__).resolve().parents[1] / "leaderboards"


def test_null_models_are_torch_free_sinusoids_at_their_hr():
    import subprocess
    import sys

    code = ("import sys; from rppgbench.models import create_model; m = create_model('null.constant_hr'); "
            "m.predict(10, 30.0); print('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == \
        "False\n"
    for name in ("null.train_mean_hr", "null.constant_hr"):
        cfg = model_cfg(name)
        assert (cfg.kind, cfg.clip_len, cfg.frame_size, cfg.label_view) == ("baseline", None, None, "raw")
    m = create_model("null.constant_hr")
    assert m.hr_bpm == CONSTANT_HR_BPM == 72.0 and "Ostchega" in m.reference and not m.needs_train
    label = np.sin(2 * np.pi * 1.5 * np.arange(900) / FS)
    pred = m.predict(label.size, FS)
    assert pred.shape == (900,) and np.array_equal(m.predict(np.zeros((900, 3)), FS), pred)  # only the length
    res = evaluate({"a": (pred, label), "b": (pred, label)}, FS)
    assert np.allclose(res.windows.hr_pred, 72.0, atol=0.2) and np.allclose(res.windows.hr_ref, 90.0, atol=0.2)
    t = create_model("null.train_mean_hr")
    assert t.needs_train and t.hr_bpm is None
    with pytest.raises(ValueError, match="fit"):
        t.predict(10, FS)
    t.fit([70.0, np.nan, 80.0, 84.0], n_recordings=2)
    assert t.hr_bpm == pytest.approx(78.0) and t.describe()["n_train_windows"] == 3
    with pytest.raises(ValueError, match="no train window"):
        create_model("null.train_mean_hr").fit([np.nan], 1)
    with pytest.raises(ValueError, match="hr_bpm must be a heart rate"):
        create_model("null.constant_hr", hr_bpm=-5)


def test_verdict_rule_is_strictly_lower_mae():
    assert beats_null(5.0, 6.0) is True and beats_null(6.0, 6.0) is False and beats_null(7.0, 6.0) is False
    assert beats_null(None, 6.0) is None and beats_null(float("nan"), 6.0) is None
    rows = [{"protocol": "p", "test_dataset": d, "model": m, "metric": "MAE", "value": v}
            for d, m, v in (("a", NULL_ID, 6.0), ("a", "x", 5.0), ("a", "y", 6.0), ("b", "x", 1.0))]
    assert null_verdicts(rows) == {("p", "a", NULL_ID): "null baseline", ("p", "a", "x"): "beats null",
                                   ("p", "a", "y"): "does not beat null", ("p", "b", "x"): "no null"}


@pytest.fixture(scope="module")
def run_with_null(tmp_path_factory):
    """A results directory whose 'null' model is a sinusoid at one constant HR (75 bpm) for every recording."""
    _, hrs = make_labels(n_rec=5, seconds=30.0, seed=0)
    shifts = [75.0 - hrs[rid] for rid in sorted(hrs)]
    models = {"pos": DEFAULT_MODELS["pos"], "chrom": ("unsupervised", 0, [30.0, 25.0, 40.0, 28.0, 35.0], 0.8),
              NULL_ID: ("baseline", 0, shifts, 0.0)}
    run = write_results(tmp_path_factory.mktemp("n") / "run", models)
    res = json.loads((run / "results.json").read_text())
    res["splits"]["train"] = ["synthetic/s90", "synthetic/s91"]
    res["models"][NULL_ID].update(name="null.train_mean_hr", null={
        "name": "null.train_mean_hr", "hr_bpm": 75.0, "source": "train", "reference": "", "n_train_windows": 6,
        "n_train_recordings": 2, "train_skipped": {}})
    (run / "results.json").write_text(json.dumps(res))
    return run


def test_report_tables_flag_rows_that_do_not_beat_the_null(run_with_null, tmp_path):
    from rppgbench.reporting import report

    rows = json.loads((run_with_null / "results.json").read_text())["rows"]
    mae = {r["model"]: r["value"] for r in rows if r["metric"] == "MAE"}
    assert mae["pos"] < mae[NULL_ID] < mae["chrom"]  # the data make one model beat the null and one not
    index = report(run_with_null, out=tmp_path / "rep")
    md = (tmp_path / "rep/tables/comparison.md").read_text()
    # the null row's model cell is marked: "_null (null baseline)_"
    line = {r.split(" | ")[0].strip("| _").removesuffix(" (null baseline)"): r for r in md.splitlines()
            if r.startswith("| ")}
    assert "| does not beat null |" in line["chrom"] and "| beats null |" in line["pos"]
    assert "| null baseline |" in line[NULL_ID] and "vs null (MAE)" in line["Model"]
    tex = (tmp_path / "rep/tables/comparison.tex").read_text()
    assert "does not beat null" in tex and "vs null (MAE)" in tex
    import csv

    with open(tmp_path / "rep/tables/comparison.csv") as fh:
        verdict = {r["model"]: r["vs_null"] for r in csv.DictReader(fh)}
    assert verdict == {"chrom": "does not beat null", "pos": "beats null", NULL_ID: "null baseline"}
    html = index.read_text()
    assert '<td class="flag">does not beat null</td>' in html
    summary = json.loads((tmp_path / "rep/report.json").read_text())
    assert "bland_altman" in summary["sections"][0]["per_model"][NULL_ID]  # the null has its Bland-Altman plot


def test_run_summary_table_says_which_rows_beat_the_null(run_with_null):
    from rppgbench.cli.run import metric_table

    lines = metric_table(json.loads((run_with_null / "results.json").read_text())["rows"])
    assert lines[0].endswith("vs null (MAE)")
    verdict = {ln.split()[0]: ln for ln in lines[2:]}
    assert verdict["chrom"].endswith("does not beat null") and verdict["pos"].endswith("beats null")


def test_seeding_the_null_entry_names_which_null_ran(run_with_null, tmp_path):
    from rppgbench.leaderboard import seed_from_results, verify

    root = tmp_path / "lb"
    entries = seed_from_results(run_with_null, root, models=[NULL_ID], protocols_root=PROTOCOLS)
    assert [e.name for e in entries] == [NULL_ID]
    man = json.loads((entries[0] / "manifest.json").read_text())
    assert man["method_name"] == "null.train_mean_hr" and man["model"]["kind"] == "baseline"
    assert man["training_data"] == ["synthetic"] and man["notes"].startswith(
        "Null baseline null.train_mean_hr: a sinusoid at 75.00 bpm (the mean reference HR of the train split")
    assert verify(root, PROTOCOLS).ok


def test_committed_leaderboard_holds_the_null_entry():
    man = json.loads((REPO_LEADERBOARDS / "synthetic_quick" / NULL_ID / "manifest.json").read_text())
    assert man["model"]["kind"] == "baseline" and man["method_name"] == "null.train_mean_hr"
    assert man["model"]["config"]["name"] == "null.train_mean_hr"


def test_refresh_rewrites_derived_metrics_only(tmp_path):
    from rppgbench.leaderboard import verify
    from rppgbench.leaderboard.refresh import refresh

    root = tmp_path / "lb"
    shutil.copytree(REPO_LEADERBOARDS, root, ignore=shutil.ignore_patterns("site"))
    entry = root / "synthetic_quick" / "pos"
    met = json.loads((entry / "metrics.json").read_text())
    met["datasets"]["synthetic"]["MAE"]["se"] *= 0.5  # as if written by an older SE rule
    (entry / "metrics.json").write_text(json.dumps(met))
    assert not verify(root).ok
    rep = refresh(root)
    assert rep.ok and "synthetic_quick/pos" in rep.checked and verify(root).ok
    man = json.loads((entry / "manifest.json").read_text())
    man["claimed_metrics"]["synthetic"]["MAE"] += 1.0  # a changed value is not refreshed: re-submit
    (entry / "manifest.json").write_text(json.dumps(man))
    before = (entry / "metrics.json").read_bytes()
    rep = refresh(root)
    assert "claims" in rep.problems["synthetic_quick/pos"][0] and (entry / "metrics.json").read_bytes() == before
    import subprocess

    proc = subprocess.run(["rppgbench", "leaderboard", "refresh", "--root", str(root)], capture_output=True,
                          text=True)
    assert proc.returncode == 1 and "FAIL synthetic_quick/pos" in proc.stdout and "1 left as they were" in proc.stdout
    shutil.copy(REPO_LEADERBOARDS / "synthetic_quick" / "pos" / "manifest.json", entry / "manifest.json")
    proc = subprocess.run(["rppgbench", "leaderboard", "refresh", "--root", str(root)], capture_output=True,
                          text=True)
    assert proc.returncode == 0 and "entries current, 0 left as they were" in proc.stdout
