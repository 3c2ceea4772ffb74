"""The report a reader can scan (issue 18 item 5): the first screen says who won, by how much and how sure;
a table of contents; tables sorted by the primary metric with the best value bold and the null row marked;
per-model sections collapsed; the parameters chart keeps parameter-free methods legible."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from _lb_helpers import write_results
from scipy.stats import t as student_t

from rppgbench.evaluation.metrics import cluster_se
from rppgbench.reporting import report
from rppgbench.reporting.plots import bubble_figure, spread_labels

EVIL = "x<i>y&z"  # a model id that is also markup: shown as text everywhere
MODELS = {  # name -> (kind, n_params, per-recording HR shifts in bpm, noise); EVIL has the lowest MAE
    EVIL: ("neural", 52000, [0.0, 0.0, 1.0, 0.0], 0.3),
    "pos": ("unsupervised", 0, [0.0, 4.0, 0.0, 9.0], 0.6),
    "chrom": ("unsupervised", 0, [6.0, 0.0, 12.0, 3.0], 0.8),
    "null": ("baseline", 0, [15.0, 9.0, 20.0, 11.0], 0.3),
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    d = tmp_path_factory.mktemp("scan")
    run = write_results(d / "run", MODELS, n_rec=4)
    index = report(run, out=d / "rep")
    return run, index


def _mae(run):
    res = json.loads((run / "results.json").read_text())
    return {r["model"]: r for r in res["rows"] if r["metric"] == "MAE"}


def test_first_screen_answers_who_won_by_how_much_how_sure(rendered):
    run, index = rendered
    mae = _mae(run)
    order = sorted((m for m in mae if m != "null"), key=lambda m: mae[m]["value"])
    hl = json.loads((index.parent / "report.json").read_text())["headlines"][0]
    assert (hl["metric"], hl["winner"], hl["runner_up"], hl["null"]) == ("MAE", order[0], order[1], "null")
    assert hl["winner"] == EVIL
    # the margin over the runner-up is the paired per-window difference of absolute errors, SE cluster-robust by
    # recording (the rppgbench profile), 95 % interval with t on G - 1 degrees of freedom
    z = {m: np.load(run / "predictions" / f"{m}.npz") for m in (order[0], order[1], "null")}
    ids = [str(i) for i in z[order[0]]["recording_ids"]]

    def abs_err(m):
        return np.concatenate([np.abs(z[m][f"hr_pred__{i}"] - z[m][f"hr_ref__{i}"]) for i in ids])

    clusters = np.concatenate([np.full(z[order[0]][f"hr_pred__{i}"].size, k) for k, i in enumerate(ids)])
    for key, other in (("vs_runner_up", order[1]), ("vs_null", "null")):
        d = abs_err(other) - abs_err(order[0])
        got = hl[key]
        assert got["method"] == "paired" and got["n_windows"] == d.size and got["n_recordings"] == len(ids)
        assert got["diff"] == pytest.approx(mae[other]["value"] - mae[order[0]]["value"], abs=1e-9)
        assert got["se"] == pytest.approx(cluster_se(d, clusters))
        half = student_t.ppf(0.975, len(ids) - 1) * got["se"]
        assert got["ci"] == pytest.approx([got["diff"] - half, got["diff"] + half])
        assert got["resolved"] == (got["ci"][0] > 0 or got["ci"][1] < 0)
    html = index.read_text()
    # the verdict box comes first, right after the title; the model id is escaped in it
    first = html.index('<div class="verdict">')
    assert first < html.index('<nav id="contents">') < html.index("<table")
    box = html[first:html.index("</div>", first)]
    assert "Winner: <b>x&lt;i&gt;y&amp;z</b>" in box and "<i>y" not in box
    w = mae[EVIL]
    assert f"MAE {w['value']:.2f} ± {w['se']:.2f} bpm" in box
    assert f"vs runner-up <b>{order[1]}</b>: {hl['vs_runner_up']['diff']:+.2f} bpm, 95 % CI" in box
    assert "cluster-robust by recording" in box and "vs null baseline" in box


def test_contents_sorted_tables_and_collapsed_models(rendered):
    run, index = rendered
    html = index.read_text()
    mae = _mae(run)
    # every table-of-contents link points at an element of the page
    nav = html[html.index('<nav id="contents">'):html.index("</nav>")]
    targets = re.findall(r'href="#([^"]+)"', nav)
    assert len(targets) >= 5 and all(f'id="{t}"' in html for t in targets)
    # Markdown table: rows best first by MAE, the best value of each column in bold, the null row marked
    md = (index.parent / "tables/comparison.md").read_text()
    lines = [ln for ln in md.splitlines() if ln.startswith("| ") and not ln.startswith("| Model")]
    names = [ln.split(" | ")[0][2:] for ln in lines]
    want = sorted(mae, key=lambda m: mae[m]["value"])
    assert [n.replace("\\", "") for n in names] == [
        "_null (null baseline)_" if m == "null" else m.replace("<", "&lt;").replace(">", "&gt;") for m in want]
    mae_cells = [ln.split(" | ")[1] for ln in lines]
    assert mae_cells[0].startswith("**") and not any(c.startswith("**") for c in mae_cells[1:])
    assert "sorted by MAE (best first)" in md
    # HTML: one shaded null row, the best MAE bold, one collapsed <details> per model in table order
    assert html.count('<tr class="null">') == 1
    best = mae[want[0]]
    assert f"<b>{best['value']:.2f} ± {best['se']:.2f}</b>" in html
    details = re.findall(r"<details[^>]*><summary>([^<]*)</summary>", html)
    assert len(details) == len(MODELS) and "<details open" not in html
    assert [s.split(". ", 1)[0] for s in details] == [str(i) for i in range(1, len(MODELS) + 1)]
    assert details[0].startswith("1. x&lt;i&gt;y&amp;z — MAE") and "null (null baseline)" in details[-1]


def test_primary_metric_of_the_protocol_orders_the_table_and_the_verdict(tmp_path):
    two = {"pos": MODELS["pos"], "chrom": MODELS["chrom"]}
    run = write_results(tmp_path / "r", two, n_rec=4)
    res = json.loads((run / "results.json").read_text())
    res["evaluation"]["metrics"] = ["Pearson", "MAE"]
    (run / "results.json").write_text(json.dumps(res))
    index = report(run)
    hl = json.loads((index.parent / "report.json").read_text())["headlines"][0]
    r = {x["model"]: x["value"] for x in res["rows"] if x["metric"] == "Pearson"}
    assert hl["metric"] == "Pearson" and hl["winner"] == max(r, key=r.get)  # higher is better
    m = hl["vs_runner_up"]
    assert m["method"] == "unpaired" and m["diff"] == pytest.approx(max(r.values()) - min(r.values()))
    assert hl["vs_null"] is None and "No null baseline in this run." in index.read_text()


def test_spread_labels_keeps_the_gap_and_stays_beside_the_points():
    ys = [14.02, 14.10, 14.11, 14.65, 7.58, 23.46, 16.24, 13.78]
    pos = spread_labels(ys, 1.0)
    s = sorted(pos)
    assert all(b - a >= 1.0 - 1e-12 for a, b in zip(s, s[1:], strict=False))
    assert np.mean(pos) == pytest.approx(np.mean(ys))
    assert [ys[i] for i in np.argsort(pos, kind="stable")] == sorted(ys)  # label order follows point order


def test_parameters_chart_labels_of_parameter_free_methods_do_not_overlap():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    maes = {"null": 7.58, "pos": 13.78, "pbv": 14.02, "omit": 14.10, "lgi": 14.11, "ica": 14.65, "chrom": 16.24,
            "green": 23.46, "a method with a very long name indeed": 9.0}
    pts = [{"model": m, "params": 0, "latency_ms": None, "value": v} for m, v in maes.items()]
    pts += [{"model": "physfsunet_tiny", "params": 22321, "latency_ms": None, "value": 11.50},
            {"model": "phasenet_tiny", "params": 52526, "latency_ms": None, "value": 15.34}]
    fig = bubble_figure(pts, title="t")
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    assert len(fig.axes) == 2 and fig.axes[0].get_xlabel() == "parameter-free"
    # the text of each label only (an Annotation's own extent includes its leader line)
    boxes = [(a.get_text(), Text.get_window_extent(a, renderer)) for ax in fig.axes for a in ax.texts]
    assert sorted(t.split(" (")[0] for t, _ in boxes) == sorted(
        [*(m if len(m) <= 22 else m[:21] + "…" for m in maes), "physfsunet_tiny", "phasenet_tiny"])
    for ax in fig.axes:  # a label stays inside its own panel (not hidden behind the next one)
        box = ax.get_window_extent(renderer)
        assert all(box.x0 <= Text.get_window_extent(a, renderer).x1 <= box.x1 for a in ax.texts)
    fig_box = fig.bbox
    for i, (ta, a) in enumerate(boxes):
        assert fig_box.x0 <= a.x0 and a.x1 <= fig_box.x1 and fig_box.y0 <= a.y0 and a.y1 <= fig_box.y1, ta
        for tb, b in boxes[i + 1:]:
            assert not a.overlaps(b), (ta, tb)
