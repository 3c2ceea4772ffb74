"""Comparison tables: mean ± standard error per protocol, test dataset and model, in Markdown, LaTeX, CSV
and HTML. The profile, window length and HR resolution are stated in every table so numbers are never
compared across incompatible definitions by accident. Every row says whether the model beats the null baseline
(its MAE strictly below the null's on the same protocol and test dataset; :mod:`rppgbench.results.null`), and
how many recording tails shorter than the window were not scored.
"""
from __future__ import annotations

import csv
import html
import io
import math
from collections.abc import Callable, Sequence
from typing import Any

from rppgbench.evaluation.metrics import METRIC_NAMES, metric_spec
from rppgbench.reporting.load import RunResults
from rppgbench.results.null import NULL_ID, null_verdicts

__all__ = ["comparison_rows", "fmt_value", "metric_header", "best_values", "to_markdown", "to_latex", "to_csv",
           "to_html"]

_KEY_COLS = ("protocol", "test_dataset", "model")
_INFO_COLS = ("profile", "window_s", "hr_resolution_bpm", "n_recordings", "n_windows", "n_tails_dropped")
#: header of the column holding :func:`rppgbench.results.null.null_verdicts` (``vs_null`` in rows and CSV)
VS_NULL = "vs null (MAE)"


def fmt_value(value: float, se: float | None = None, digits: int = 2) -> str:
    """``1.23 ± 0.20``; NaN shows as ``n/a``; a missing SE shows the value alone."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    s = f"{value:.{digits}f}"
    if se is not None and not (isinstance(se, float) and math.isnan(se)):
        s += f" ± {se:.{digits}f}"
    return s


def comparison_rows(runs: Sequence[RunResults]) -> tuple[list[dict[str, Any]], list[str]]:
    """Pivot the tidy ``rows`` of all runs into one row per (protocol, test dataset, model).

    Returns
    -------
    rows : list of dict
        Keys: protocol, test_dataset, model, profile, window_s, hr_resolution_bpm, n_recordings, n_windows,
        n_tails_dropped (when the rows have it), ``vs_null`` (null baseline / beats null / does not beat null /
        no null) and for every metric ``<metric>`` → ``{"value", "se", "unit"}``.
    metrics : list of str
        Metrics present, in the order of :data:`~rppgbench.evaluation.metrics.METRIC_NAMES` first, then any
        others alphabetically.
    """
    pivot: dict[tuple[str, str, str], dict[str, Any]] = {}
    seen_metrics: set[str] = set()
    for run in runs:
        ev = run.evaluation
        for r in run.rows:
            key = (str(r.get("protocol", run.protocol)), str(r["test_dataset"]), str(r["model"]))
            entry = pivot.setdefault(key, dict(zip(_KEY_COLS, key, strict=True)))
            for col in _INFO_COLS:
                if col in r and r[col] is not None:
                    entry[col] = r[col]
            entry.setdefault("profile", ev.get("profile"))
            entry.setdefault("window_s", ev.get("window_s"))
            entry[str(r["metric"])] = {"value": float(r["value"]), "se": float(r["se"]),
                                       "unit": r.get("unit", metric_spec(r["metric"]).unit)}
            seen_metrics.add(str(r["metric"]))
    verdicts: dict[tuple[str, str, str], str] = {}
    for run in runs:
        verdicts.update(null_verdicts(run.rows, run.protocol))
    for key, entry in pivot.items():
        entry["vs_null"] = verdicts.get(key, "no null")
    metrics = [m for m in METRIC_NAMES if m in seen_metrics] + sorted(seen_metrics - set(METRIC_NAMES))
    primary = {run.protocol: _primary(run, metrics) for run in runs}
    for key, entry in pivot.items():
        entry["primary_metric"] = primary.get(key[0], metrics[0] if metrics else "MAE")
    rows = sorted(pivot.values(), key=_rank_key)
    return rows, metrics


def _primary(run: RunResults, metrics: Sequence[str]) -> str:
    """The protocol's primary metric: the first of results.json's ``evaluation.metrics`` (MAE by default)."""
    listed = run.evaluation.get("metrics") or ["MAE"]
    return str(listed[0])


def _rank_key(r: dict[str, Any]) -> tuple:
    """Group by (protocol, test dataset), then best first by the protocol's primary metric (its better direction
    from the metric registry), a missing or NaN value last, ties by model id."""
    m = r.get(r["primary_metric"])
    v = math.nan if m is None else float(m["value"])
    hib = metric_spec(r["primary_metric"]).higher_is_better
    return (r["protocol"], r["test_dataset"], math.isnan(v), 0.0 if math.isnan(v) else (-v if hib else v),
            r["model"])


def best_values(rows: Sequence[dict[str, Any]], metrics: Sequence[str]) -> dict[str, float]:
    """Per metric, the best finite value among ``rows`` (one protocol and test dataset) in its better direction."""
    out = {}
    for m in metrics:
        vals = [float(r[m]["value"]) for r in rows if r.get(m) is not None and math.isfinite(float(r[m]["value"]))]
        if vals:
            out[m] = max(vals) if metric_spec(m).higher_is_better else min(vals)
    return out


def _is_best(row: dict[str, Any], metric: str, best: dict[str, float]) -> bool:
    v = row.get(metric)
    return v is not None and metric in best and float(v["value"]) == best[metric]


def _model_label(row: dict[str, Any]) -> str:
    return f"{row['model']} (null baseline)" if row["model"] == NULL_ID else str(row["model"])


def metric_header(metric: str, arrows: tuple[str, str] | None = ("↓", "↑"),
                  text: Callable[[str], str] = str) -> str:
    """``MAE (bpm) ↓``: the metric, its unit when it has one and the arrow (lower-better, higher-better) of its
    better direction, all from the metric registry; ``text`` escapes name and unit (e.g. for LaTeX);
    ``arrows=None`` leaves the arrow out."""
    spec = metric_spec(metric)
    head = f"{text(metric)} ({text(spec.unit)})" if spec.unit else text(metric)
    return head if arrows is None else f"{head} {arrows[spec.higher_is_better]}"


def _cell(row: dict[str, Any], metric: str) -> str:
    m = row.get(metric)
    return "n/a" if m is None else fmt_value(m["value"], m["se"])


def _groups(rows: list[dict[str, Any]]) -> list[tuple[tuple[str, str], list[dict[str, Any]]]]:
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault((r["protocol"], r["test_dataset"]), []).append(r)
    return list(out.items())


def _caption(group: tuple[str, str], rows: list[dict[str, Any]]) -> str:
    first = rows[0]
    res = [float(r["hr_resolution_bpm"]) for r in rows if r.get("hr_resolution_bpm") is not None]
    res = [r for r in res if not math.isnan(r)]
    res_s = f"{max(res):.3f} bpm" if res else "n/a"  # the coarsest FFT bin of any model
    return (f"Protocol {group[0]}, test dataset {group[1]}: mean ± standard error over evaluation windows "
            f"(the profile's SE rule, docs/metrics.md); "
            f"profile {first.get('profile')}, window {first.get('window_s')} s, HR resolution {res_s}; "
            f"sorted by {first.get('primary_metric', 'MAE')} (best first), the best value of each column in bold")


def _md_escape(s: str) -> str:
    return str(s).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def to_markdown(rows: list[dict[str, Any]], metrics: Sequence[str]) -> str:
    """One Markdown table per (protocol, test dataset), each preceded by a caption line."""
    out = []
    for group, grows in _groups(rows):
        out.append(f"**{_md_escape(_caption(group, grows))}**\n")
        head = ["Model", *(metric_header(m) for m in metrics), VS_NULL, "Recordings", "Windows", "Tails not scored"]
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "|".join(["---"] + ["---:"] * len(metrics) + ["---"] + ["---:"] * 3) + "|")
        best = best_values(grows, metrics)
        for r in grows:
            model = _md_escape(_model_label(r))
            cells = [f"_{model}_" if r["model"] == NULL_ID else model,
                     *(f"**{_cell(r, m)}**" if _is_best(r, m, best) else _cell(r, m) for m in metrics),
                     _md_escape(r.get("vs_null", "")),
                     str(r.get("n_recordings", "")), str(r.get("n_windows", "")), str(r.get("n_tails_dropped", ""))]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _tex(s: Any) -> str:
    return "".join(_LATEX_SPECIAL.get(c, c) for c in str(s))


def to_latex(rows: list[dict[str, Any]], metrics: Sequence[str]) -> str:
    """``table`` environments (booktabs) with ``$\\pm$``, one per (protocol, test dataset)."""
    out = []
    for group, grows in _groups(rows):
        out.append("\\begin{table}[t]\n\\centering")
        out.append(f"\\caption{{{_tex(_caption(group, grows))}}}")
        out.append("\\begin{tabular}{l" + "r" * len(metrics) + "l}\n\\toprule")
        heads = [metric_header(m, ("$\\downarrow$", "$\\uparrow$"), _tex) for m in metrics]
        out.append("Model & " + " & ".join(heads) + f" & {_tex(VS_NULL)} \\\\\n\\midrule")
        best = best_values(grows, metrics)
        for r in grows:
            cells = [_tex(_cell(r, m)).replace(" ± ", " $\\pm$ ") for m in metrics]
            cells = [f"\\textbf{{{c}}}" if _is_best(r, m, best) else c for c, m in zip(cells, metrics, strict=True)]
            model = _tex(_model_label(r))
            model = f"\\textit{{{model}}}" if r["model"] == NULL_ID else model
            out.append(model + " & " + " & ".join(cells) + f" & {_tex(r.get('vs_null', ''))} \\\\")
        out.append("\\bottomrule\n\\end{tabular}\n\\end{table}\n")
    return "\n".join(out)


def to_csv(rows: list[dict[str, Any]], metrics: Sequence[str]) -> str:
    """Machine-readable: one line per (protocol, test dataset, model), full precision, value and SE columns."""
    buf = io.StringIO()
    cols = [*_KEY_COLS, *_INFO_COLS, "vs_null"]
    for m in metrics:
        cols += [m, f"{m}_se"]
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        line = [r.get(c, "") for c in (*_KEY_COLS, *_INFO_COLS, "vs_null")]
        for m in metrics:
            v = r.get(m)
            line += ["", ""] if v is None else [repr(v["value"]), repr(v["se"])]
        w.writerow(line)
    return buf.getvalue()


def to_html(rows: list[dict[str, Any]], metrics: Sequence[str], *, sortable: bool = False) -> str:
    """HTML ``<table>`` fragments (every string escaped); ``sortable`` adds ``class="sortable"`` and
    numeric ``data-sort`` values for the leaderboard's sort script."""
    esc = lambda s: html.escape(str(s), quote=True)  # noqa: E731
    out = []
    cls = ' class="sortable"' if sortable else ""
    for group, grows in _groups(rows):
        out.append(f'<div class="scroll"><table{cls}>\n<caption>{esc(_caption(group, grows))}</caption>')
        head = "".join(f"<th>{esc(metric_header(m))}</th>" for m in metrics)
        out.append(f"<thead><tr><th>Model</th>{head}<th>{esc(VS_NULL)}</th><th>Recordings</th><th>Windows</th>"
                   "<th>Tails not scored</th></tr></thead>\n<tbody>")
        best = best_values(grows, metrics)
        for r in grows:
            tds = []
            for m in metrics:
                v = r.get(m)
                num = "" if v is None or math.isnan(v["value"]) else repr(float(v["value"]))
                cell = f"<b>{esc(_cell(r, m))}</b>" if _is_best(r, m, best) else esc(_cell(r, m))
                tds.append(f'<td data-sort="{esc(num)}">{cell}</td>')
            verdict = r.get("vs_null", "")
            flag = ' class="flag"' if verdict == "does not beat null" else ""
            null = r["model"] == NULL_ID
            name = esc(r["model"])  # the null row: shaded and italic, its verdict cell says "null baseline"
            tr = '<tr class="null">' if null else "<tr>"
            out.append(f"{tr}<td>{name}</td>{''.join(tds)}<td{flag}>{esc(verdict)}</td>"
                       f"<td>{esc(r.get('n_recordings', ''))}</td><td>{esc(r.get('n_windows', ''))}</td>"
                       f"<td>{esc(r.get('n_tails_dropped', ''))}</td></tr>")
        out.append("</tbody></table></div>")
    return "\n".join(out)
