"""``report(results_dirs, out)``: comparison tables, Bland-Altman and scatter plots, the parameters ×
latency × MAE chart, critical-difference diagrams, the worst recordings, and a self-contained ``index.html``.

Deterministic: equal inputs give byte-identical files (sorted iteration, fixed figure metadata, no clock).
"""
from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rppgbench._checks import DataError
from rppgbench._logging import logger
from rppgbench._util import atomic_dir, json_clean
from rppgbench.reporting import html as H
from rppgbench.reporting.cd import friedman_nemenyi, plot_cd
from rppgbench.reporting.load import RunResults, load_runs
from rppgbench.reporting.plots import (
    bland_altman_figure,
    bubble_figure,
    cost_figure,
    recording_figure,
    save_figure,
    scatter_figure,
)
from rppgbench.reporting.tables import comparison_rows, to_csv, to_html, to_latex, to_markdown
from rppgbench.reporting.verdict import headline
from rppgbench.results.null import NULL_ID

__all__ = ["report", "ba_stats", "read_model_benchmark", "cd_inputs", "N_WORST"]

#: worst recordings drawn per model
N_WORST = 2


def ba_stats(hr_pred: Any, hr_ref: Any) -> dict[str, Any]:
    """Bland-Altman statistics from :func:`rppgbench.evaluation.bland_altman` in the form the plots use:
    ``bias`` (mean of reference − prediction), ``sd``, ``loa_classic`` and ``loa_toolbox`` (√2 limits)."""
    from rppgbench.evaluation.bland_altman import bland_altman

    ba = bland_altman(np.asarray(hr_ref, dtype=float), np.asarray(hr_pred, dtype=float))
    return {"bias": float(ba["mean_diff"]), "sd": float(ba["sd_diff"]), "ddof": int(ba["ddof"]),
            "loa_classic": tuple(float(v) for v in ba["loa_classic"]),
            "loa_toolbox": tuple(float(v) for v in ba["loa_toolbox"]), "n": int(ba["n"]),
            "n_excluded": int(ba["n_excluded"])}


#: optional numeric columns of the model benchmark CSV (benchmarks/models.py) carried into the report's cost table
_BENCH_EXTRA = ("macs_total", "latency_ms_per_frame", "ms_per_gmac", "peak_mem_mb", "latency_ms_amp")


def read_model_benchmark(path: str | Path) -> dict[str, dict[str, float]]:
    """Read a model benchmark CSV (columns include ``model``, ``params``, ``latency_ms``; ``benchmarks/models.py``
    writes them).

    Several rows of one model (e.g. repeated runs) are combined: median latency, first parameter count. Rows of
    a non-default configuration (a non-empty ``variant`` column) are skipped. The optional columns
    ``macs_total``, ``latency_ms_per_frame``, ``ms_per_gmac``, ``peak_mem_mb`` and ``latency_ms_amp`` are kept
    (medians) when present and numeric.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("model benchmark CSV not found", path=path)
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        cols = set(reader.fieldnames or [])
        missing = {"model", "params", "latency_ms"} - cols
        if missing:
            raise DataError(f"missing column(s) {', '.join(sorted(missing))}; found {sorted(cols)}", path=path)
        acc: dict[str, dict[str, Any]] = {}
        for i, row in enumerate(reader, start=2):
            if row.get("variant"):
                continue
            try:
                params = float(row["params"])
                lat = float(row["latency_ms"])
            except (TypeError, ValueError) as exc:
                raise DataError(f"line {i}: params and latency_ms must be numbers; found "
                                f"{row['params']!r}, {row['latency_ms']!r}", path=path) from exc
            a = acc.setdefault(row["model"], {"params": params, "lat": [], **{k: [] for k in _BENCH_EXTRA}})
            a["lat"].append(lat)
            for k in _BENCH_EXTRA:
                try:
                    a[k].append(float(row[k]))
                except (KeyError, TypeError, ValueError):
                    pass
    return {m: {"params": a["params"], "latency_ms": float(np.median(a["lat"])),
                **{k: float(np.median(a[k])) for k in _BENCH_EXTRA if a[k]}} for m, a in acc.items()}


def _cost_section(bench: dict[str, dict[str, float]], figs: Path) -> tuple[str, dict[str, Any]]:
    """The cost of every benchmarked model (not only those of the runs): chart and table."""
    name = "figures/model_cost.png"
    save_figure(cost_figure(bench), figs.parent / name)
    head = ["model", "params", "GMACs", "ms per clip", "ms per frame", "ms per GMAC", "peak MB", "AMP ms"]
    keys = ["params", "macs_total", "latency_ms", "latency_ms_per_frame", "ms_per_gmac", "peak_mem_mb",
            "latency_ms_amp"]

    def cell(k: str, v: float | None) -> str:
        if v is None:
            return ""
        return f"{v:,.0f}" if k == "params" else f"{v / 1e9:.2f}" if k == "macs_total" else f"{v:,.1f}"

    rows = ["<tr>" + "".join(f"<th>{H.esc(h)}</th>" for h in head) + "</tr>"]
    for m in sorted(bench):
        rows.append("<tr>" + f"<td>{H.esc(m)}</td>" + "".join(
            f"<td>{H.esc(cell(k, bench[m].get(k)))}</td>" for k in keys) + "</tr>")
    html = ("<h2>Model cost</h2>" + H.img(name, "parameters and latency of every benchmarked model")
            + "<table>" + "".join(rows) + "</table>")
    return html, {"figure": name, "models": sorted(bench)}


def _num(x: Any) -> float:
    return math.nan if x is None else float(x)


def _slug(*parts: str) -> str:
    return "_".join(re.sub(r"[^A-Za-z0-9.-]+", "-", str(p)).strip("-.") or "x" for p in parts)


def cd_inputs(run: RunResults, dataset: str) -> tuple[list[str], list[str], np.ndarray, list[str]]:
    """Per-recording absolute errors of every model of ``run`` on ``dataset`` as an (N, k) matrix.

    Only recordings that every model evaluated with a finite error are ranked; the ones left out are returned
    (4th item) so the report can state them.
    """
    by_model: dict[str, dict[str, float]] = {}
    for rec in run.per_recording:
        if rec["test_dataset"] != dataset:
            continue
        by_model.setdefault(rec["model"], {})[str(rec["recording"])] = _num(rec["abs_error"])
    models = sorted(by_model)
    if not models:
        return [], [], np.zeros((0, 0)), []
    finite = [{r for r, e in v.items() if math.isfinite(e)} for v in by_model.values()]
    common = sorted(set.intersection(*finite))  # a recording without an HR error cannot be ranked
    every = sorted(set.union(*(set(v) for v in by_model.values())))
    left_out = [r for r in every if r not in set(common)]
    x = np.array([[by_model[m][r] for m in models] for r in common], dtype=float).reshape(len(common), len(models))
    return models, common, x, left_out


def _window_hrs(run: RunResults, model: str, dataset: str) -> tuple[np.ndarray, np.ndarray, str]:
    """Per-window HR of ``model`` on ``dataset`` from the predictions file, else per-recording HR."""
    try:
        pred = run.predictions(model)
    except DataError as exc:
        logger.warning("%s; falling back to per-recording HR for the Bland-Altman plot", exc)
        recs = [r for r in run.per_recording if r["model"] == model and r["test_dataset"] == dataset]
        return (np.array([_num(r["hr_pred"]) for r in recs]), np.array([_num(r["hr_ref"]) for r in recs]),
                "recordings")
    ids = [r for r in pred["recording_ids"] if r.split("/", 1)[0] == dataset]
    hp = [np.asarray(pred["hr_pred"][r], float) for r in ids if r in pred["hr_pred"]]
    hr = [np.asarray(pred["hr_ref"][r], float) for r in ids if r in pred["hr_ref"]]
    if not hp:
        return np.zeros(0), np.zeros(0), "windows"
    return np.concatenate(hp), np.concatenate(hr), "windows"


def report(results_dirs: Sequence[str | Path] | str | Path, out: str | Path | None = None,
           model_benchmark_csv: str | Path | None = None) -> Path:
    """Render a report of one or more results directories.

    Parameters
    ----------
    results_dirs : path or sequence of paths
        Results directories (``docs/results_format.md``); several are combined (e.g. one per protocol).
    out : path, optional
        Output directory; default ``<results_dir>/report`` for a single directory (required for several).
    model_benchmark_csv : path, optional
        ``benchmarks/results/models_<device>_*.csv`` with ``model``, ``params``, ``latency_ms``. Without it,
        parameters come from ``results.json`` and the chart says that latency is unavailable.

    Returns
    -------
    Path
        The ``index.html`` written (the directory is replaced atomically).
    """
    dirs = [results_dirs] if isinstance(results_dirs, (str, Path)) else list(results_dirs)
    runs = load_runs(dirs)
    if out is None:
        if len(runs) != 1:
            raise ValueError(f"out must be given when combining {len(runs)} results directories")
        out = runs[0].path / "report"
    out = Path(out)
    bench = read_model_benchmark(model_benchmark_csv) if model_benchmark_csv else None
    with atomic_dir(out) as tmp:
        summary = _render(runs, tmp, bench)
        (tmp / "report.json").write_text(json.dumps(summary, indent=2, sort_keys=True, allow_nan=False)
                                         + "\n", encoding="utf-8")
    logger.info("report written to %s", out / "index.html")
    return out / "index.html"


def _render(runs: list[RunResults], tmp: Path, bench: dict | None) -> dict[str, Any]:
    rows, metrics = comparison_rows(runs)
    tables = tmp / "tables"
    tables.mkdir()
    (tables / "comparison.md").write_text(to_markdown(rows, metrics), encoding="utf-8")
    (tables / "comparison.tex").write_text(to_latex(rows, metrics), encoding="utf-8")
    (tables / "comparison.csv").write_text(to_csv(rows, metrics), encoding="utf-8")
    (tables / "comparison.html").write_text(H.page("Comparison tables", to_html(rows, metrics)), encoding="utf-8")
    figs = tmp / "figures"
    summary: dict[str, Any] = {"tables": ["tables/comparison.md", "tables/comparison.tex", "tables/comparison.csv",
                                          "tables/comparison.html"],
                               "sections": [], "headlines": []}
    by_proto = {run.protocol: run for run in runs}
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["protocol"], r["test_dataset"]), []).append(r)
    # first screen: who won, by how much, how sure (one box per protocol and test dataset)
    verdicts = []
    for (proto, ds), grows in groups.items():
        run = by_proto[proto]
        hl = headline(run, ds, grows, grows[0]["primary_metric"])
        hl.update({"protocol": proto, "test_dataset": ds})
        summary["headlines"].append(hl)
        verdicts.append(_verdict_html(run, hl))
    # the rest of the page, with its table of contents
    toc: list[tuple[str, str, int]] = [("comparison", "Comparison tables", 0)]
    rest = ['<h2 id="comparison">Comparison tables</h2><p class="note">Also as ',
            " · ".join(H.link(t, t.split("/")[-1]) for t in summary["tables"]), ".</p>", to_html(rows, metrics)]
    if bench:
        html, summary["model_cost"] = _cost_section(bench, figs)
        rest.append(html.replace("<h2>Model cost</h2>", '<h2 id="model-cost">Model cost</h2>', 1))
        toc.append(("model-cost", "Model cost", 0))
    for run in runs:
        for ds in sorted({r["test_dataset"] for r in run.rows}):
            ordered = [r["model"] for r in groups.get((run.protocol, ds), [])]
            sec = _dataset_section(run, ds, rows, figs, bench, ordered)
            summary["sections"].append(sec["summary"])
            rest.append(sec["html"])
            toc.extend(sec["toc"])
    rest.append('<h2 id="runs">Runs</h2><ul>')
    for run in runs:
        prov = run.data.get("provenance", {})
        p = run.data["protocol"]
        rest.append(f"<li>{H.esc(run.path.name)}: protocol <b>{H.esc(p.get('name'))}</b> v{H.esc(p.get('version'))}"
                    f" (sha256 {H.esc(str(p.get('sha256', ''))[:12])}), profile {H.esc(run.evaluation.get('profile'))}"
                    f", rppgbench {H.esc(prov.get('rppgbench_version'))}, commit "
                    f"{H.esc(str(prov.get('git_commit', ''))[:10])}, device {H.esc(prov.get('device'))}</li>")
        rest += _dry_run_labels(run.data)
    rest.append("</ul>")
    toc.append(("runs", "Runs and provenance", 0))
    nav = ['<nav id="contents"><h2>Contents</h2><ol>']
    for i, (anchor, text, level) in enumerate(toc):
        nav.append(("<li>" if level == 0 else "") + H.link("#" + anchor, text) if level == 0
                   else ("<ul>" if toc[i - 1][2] == 0 else "") + f"<li>{H.link('#' + anchor, text)}</li>")
        last = i + 1 == len(toc) or toc[i + 1][2] == 0
        if level == 1 and last:
            nav.append("</ul>")
        if last:
            nav.append("</li>")
    nav.append("</ol></nav>")
    protos = ", ".join(f"{r.protocol} v{r.data['protocol'].get('version')}" for r in runs)
    body = ["<h1>rppgbench report</h1>",
            f'<p class="meta">{H.esc(protos)} · {len({r["model"] for r in rows})} models on {len(groups)} test '
            f'set(s) · '
            f'{H.link("#contents", "contents")} · {H.link("#runs", "provenance")}</p>',
            *_dry_run_banner(runs), *verdicts, *nav, *rest]
    (tmp / "index.html").write_text(H.page("rppgbench report", "\n".join(body)), encoding="utf-8")
    return json_clean(summary)


def _fmt_margin(m: dict[str, Any], unit: str) -> str:
    lo, hi = m["ci"]
    how = (f"paired over {m['n_windows']} windows of {m['n_recordings']} recordings, SE {m['se']:.2f} "
           f"{m['se_rule']}, t on {m['df']} df" if m["method"] == "paired"
           else f"unpaired, SE {m['se']:.2f} from the two table SEs, normal")
    sure = ("resolved: the 95 % interval excludes 0" if m["resolved"]
            else "not resolved: the 95 % interval includes 0")
    return f"{m['diff']:+.2f} {unit}, 95 % CI [{lo:.2f}, {hi:.2f}] ({how}); {sure}"


def _verdict_html(run: RunResults, hl: dict[str, Any]) -> str:
    """The box at the top of the report for one protocol and test dataset."""
    metric, unit = hl["metric"], hl["unit"]
    head = f"<h3>{H.esc(hl['protocol'])} → {H.esc(hl['test_dataset'])}</h3>"
    if hl["winner"] is None:
        return f'<div class="verdict">{head}<p>No model has a finite {H.esc(metric)}.</p></div>'
    w = hl["winner_value"]
    null_name = str(run.models.get(str(hl["null"]), {}).get("name", hl["null"]))
    vs_null = hl["vs_null"]
    val = f"{H.esc(metric)} {w['value']:.2f} ± {w['se']:.2f} {H.esc(unit)}"
    n = f"mean ± SE over {H.esc(hl['n_windows'])} windows of {H.esc(hl['n_recordings'])} recordings"
    if vs_null is not None and vs_null["diff"] <= 0:
        nv = hl["null_value"]
        lead = (f"<p><b>No model beats the null baseline</b> on {H.esc(metric)} ({H.esc(null_name)}: "
                f"{nv['value']:.2f} ± {nv['se']:.2f} {H.esc(unit)}). Best model: <b>{H.esc(hl['winner'])}</b>, "
                f"{val} ({n}).</p>")
    else:
        lead = f"<p>Winner: <b>{H.esc(hl['winner'])}</b>, {val} ({n}).</p>"
    items = []
    if hl["vs_runner_up"] is not None:
        items.append(f"<li>vs runner-up <b>{H.esc(hl['runner_up'])}</b>: "
                     f"{H.esc(_fmt_margin(hl['vs_runner_up'], unit))}</li>")
    else:
        items.append("<li>No runner-up: one model besides the null baseline.</li>")
    if vs_null is not None:
        items.append(f"<li>vs null baseline ({H.esc(null_name)}): {H.esc(_fmt_margin(vs_null, unit))}</li>")
    else:
        items.append("<li>No null baseline in this run.</li>")
    return (f'<div class="verdict">{head}{lead}<ul>{"".join(items)}</ul><p class="note">Margins are how much '
            f"better the best model is (positive = better) on the protocol's primary metric {H.esc(metric)}.</p></div>")


def _dry_run_labels(data: dict[str, Any]) -> list[str]:
    """Lines under a run: models evaluated from a checkpoint (path, sha256, source) and a stand-in/smoke banner."""
    out = []
    for mid, ck in sorted((data.get("provenance", {}).get("checkpoints") or {}).items()):
        name, sha = Path(str(ck.get("path"))).name, str(ck.get("sha256", ""))[:16]
        out.append(f'<li class="note">{H.esc(mid)}: evaluated from checkpoint {H.esc(name)} (sha256 {H.esc(sha)}…, '
                   f'source {H.esc(ck.get("source") or "not given")}), not trained in this run</li>')
    from rppgbench.results.labels import is_dry_run

    why = is_dry_run(data)
    if why:
        out.append(f'<li class="note"><b>STAND-IN / DRY RUN</b>: {H.esc(why)}; these numbers are not benchmark '
                   "results</li>")
    return out


def _dry_run_banner(runs: list[RunResults]) -> list[str]:
    """A banner at the top of the report when any run is a stand-in/smoke dry run."""
    from rppgbench.results.labels import is_dry_run

    whys = [f"{r.path.name}: {why}" for r in runs if (why := is_dry_run(r.data))]
    if not whys:
        return []
    return [f'<p class="verdict"><b>STAND-IN / DRY RUN</b> — not benchmark results ({H.esc("; ".join(whys))})</p>']


def _dataset_section(run: RunResults, ds: str, rows: list[dict[str, Any]], figs: Path,
                     bench: dict | None, ordered: Sequence[str] = ()) -> dict[str, Any]:
    """Critical difference, parameters chart and one collapsed ``<details>`` per model (in ``ordered``, the
    comparison table's rank order, then any others by name); returns html, summary and table-of-contents items."""
    proto = run.protocol
    models = sorted({r["model"] for r in run.rows if r["test_dataset"] == ds})
    ranked = [m for m in ordered if m in models] + [m for m in models if m not in ordered]
    info: dict[str, Any] = {"protocol": proto, "test_dataset": ds, "models": models, "figures": {}}
    sid = _slug(proto, ds)
    toc = [(f"sec-{sid}", f"{proto} → {ds}", 0), (f"cd-{sid}", "Critical difference", 1),
           (f"params-{sid}", "Parameters × latency × MAE", 1), (f"models-{sid}", "Per model (collapsed)", 1)]
    parts = [f'<h2 id="sec-{H.esc(sid)}">{H.esc(proto)} → {H.esc(ds)}</h2>', f'<h3 id="cd-{H.esc(sid)}">'
             "Critical difference (Friedman + Nemenyi)</h3>"]
    # critical difference
    cd_models, recs, x, left_out = cd_inputs(run, ds)
    if len(cd_models) >= 2 and len(recs) >= 2:
        res = friedman_nemenyi(x, cd_models)
        name = f"figures/cd_{_slug(proto, ds)}.png"
        save_figure(plot_cd(res, title=f"{proto} → {ds}: absolute HR error per recording"), figs.parent / name)
        info["cd"] = res.to_dict()
        info["figures"]["cd"] = name
        parts.append(H.img(name, "critical difference"))
        parts.append(f'<p class="note">k={len(cd_models)} models, N={len(recs)} recordings; Friedman '
                     f"χ²={res.chi2:.3f} (p={res.p_chi2:.3g}), Iman-Davenport F={res.f_stat:.3f} "
                     f"(p={res.p_f:.3g}); CD={res.cd:.3f} at α={res.alpha}.</p>")
        if left_out:
            info["cd_left_out"] = left_out
            logger.warning("%s/%s: %d recording(s) not evaluated by every model are left out of the "
                           "critical-difference ranking: %s", proto, ds, len(left_out), left_out)
            parts.append(f'<p class="note">Not ranked (not evaluated by every model): {H.esc(", ".join(left_out))}</p>')
    else:
        parts.append(f'<p class="note">No critical-difference diagram: needs ≥ 2 models and ≥ 2 common '
                     f"recordings (have {len(cd_models)} and {len(recs)}).</p>")
    # parameters x latency x MAE
    points = []
    for m in models:
        mae = next((r for r in rows if r["protocol"] == proto and r["test_dataset"] == ds and r["model"] == m), {})
        mae = mae.get("MAE")
        mcfg = run.models.get(m, {})
        params = bench[m]["params"] if bench and m in bench else mcfg.get("n_params", 0)
        lat = bench[m]["latency_ms"] if bench and m in bench else None
        points.append({"model": m, "params": params or 0, "latency_ms": lat,
                       "value": None if mae is None else mae["value"]})
    name = f"figures/bubble_{_slug(proto, ds)}.png"
    save_figure(bubble_figure(points, title=f"{proto} → {ds}"), figs.parent / name)
    info["figures"]["bubble"] = name
    info["latency_available"] = bool(points) and all(p["latency_ms"] is not None for p in points)
    parts.append(f'<h3 id="params-{H.esc(sid)}">Parameters × latency × MAE</h3>'
                 + H.img(name, "parameters latency MAE"))
    # per model, collapsed: Bland-Altman, scatter, worst recordings
    parts.append(f'<h3 id="models-{H.esc(sid)}">Per model</h3><p class="note">In the comparison table\'s order; '
                 "click a model to open its Bland-Altman and scatter plots and its worst recordings.</p>")
    for rank, m in enumerate(ranked, start=1):
        hp, hr, unit = _window_hrs(run, m, ds)
        mi: dict[str, Any] = {"n_points": int(hp.size), "points": unit}
        row = next((r for r in rows if r["protocol"] == proto and r["test_dataset"] == ds and r["model"] == m), {})
        mae = row.get("MAE")
        what = "" if not mae else f" — MAE {mae['value']:.2f} ± {mae['se']:.2f} bpm"
        tag = " (null baseline)" if m == NULL_ID else ""
        parts.append(f'<details id="model-{H.esc(_slug(proto, ds, m))}"><summary>{rank}. {H.esc(m)}{H.esc(tag)}'
                     f"{H.esc(what)}</summary>")
        if int(np.sum(np.isfinite(hp) & np.isfinite(hr))) >= 2:
            st = ba_stats(hp, hr)
            mi["bland_altman"] = st
            ba_name = f"figures/ba_{_slug(proto, ds, m)}.png"
            sc_name = f"figures/scatter_{_slug(proto, ds, m)}.png"
            save_figure(bland_altman_figure(hp, hr, st, title=f"{m} on {ds} ({hp.size} {unit})"),
                        figs.parent / ba_name)
            save_figure(scatter_figure(hp, hr, title=f"{m} on {ds}"), figs.parent / sc_name)
            mi["figures"] = {"bland_altman": ba_name, "scatter": sc_name}
            parts.append(H.img(ba_name, f"Bland-Altman {m}", f"Bland-Altman: bias {st['bias']:.2f} bpm, "
                               f"classic LoA [{st['loa_classic'][0]:.2f}, {st['loa_classic'][1]:.2f}], "
                               f"√2 LoA [{st['loa_toolbox'][0]:.2f}, {st['loa_toolbox'][1]:.2f}]"))
            parts.append(H.img(sc_name, f"scatter {m}", "predicted vs reference HR"))
        else:
            parts.append(f'<p class="note">Too few HR points ({hp.size}) for Bland-Altman.</p>')
        mi["worst"] = _worst(run, m, ds, figs, parts)
        parts.append("</details>")
        info.setdefault("per_model", {})[m] = mi
    return {"summary": info, "html": "\n".join(parts), "toc": toc}


def _worst(run: RunResults, m: str, ds: str, figs: Path, parts: list[str]) -> list[dict[str, Any]]:
    recs = sorted((r for r in run.per_recording if r["model"] == m and r["test_dataset"] == ds),
                  key=lambda r: (-_num(r["abs_error"]) if math.isfinite(_num(r["abs_error"])) else -math.inf,
                                 str(r["recording"])))[:N_WORST]
    out = []
    try:
        pred = run.predictions(m)
    except DataError as exc:
        parts.append(f'<p class="note">No waveforms: {H.esc(exc)}</p>')
        return [{"recording": r["recording"], "abs_error": r["abs_error"]} for r in recs]
    for r in recs:
        rid = f"{ds}/{r['recording']}"
        if rid not in pred["pred"] or rid not in pred["label"]:
            parts.append(f'<p class="note">No waveform for {H.esc(rid)} in predictions/{H.esc(m)}.npz.</p>')
            continue
        name = f"figures/worst_{_slug(run.protocol, ds, m, str(r['recording']))}.png"
        title = f"{m} on {rid}: |error| {_num(r['abs_error']):.2f} bpm"
        save_figure(recording_figure(pred["pred"][rid], pred["label"][rid], pred["fs"], title=title),
                    figs.parent / name)
        parts.append(H.img(name, f"worst recording {rid}", title))
        out.append({"recording": r["recording"], "abs_error": _num(r["abs_error"]), "figure": name})
    return out
