"""Report figures. Each function returns a matplotlib ``Figure`` (built without pyplot, so no global
state and no display backend); :func:`save_figure` writes it reproducibly (no dates, no software tag).

matplotlib is imported inside the functions only, so importing this module stays cheap.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["save_figure", "bland_altman_figure", "scatter_figure", "bubble_figure", "recording_figure",
           "bar_figure", "cost_figure", "spread_labels"]


def plain(text: object) -> str:
    """Text shown literally by matplotlib: ``$`` would start mathtext (and bad mathtext raises at draw time)."""
    return str(text).replace("$", r"\$")


def _figure(w: float, h: float, **margins: float):
    """A Figure with fixed margins (constrained layout would draw every figure twice)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=90)
    fig.subplots_adjust(**{"left": 0.13, "right": 0.97, "bottom": 0.12, "top": 0.9, **margins})
    return fig


def save_figure(fig: Any, path: str | Path) -> Path:
    """Save ``fig`` as PNG (or SVG by suffix) with fixed metadata so equal inputs give equal bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = path.suffix.lstrip(".").lower() or "png"
    meta: dict[str, Any]
    if fmt == "svg":
        meta = {"Date": None, "Creator": None}
        import matplotlib

        with matplotlib.rc_context({"svg.hashsalt": "rppgbench"}):
            fig.savefig(path, format="svg", metadata=meta)
    else:
        meta = {"Software": None}
        fig.savefig(path, format=fmt, metadata=meta)
    return path


def bland_altman_figure(hr_pred: Any, hr_ref: Any, stats: dict[str, float], title: str = ""):
    """Difference plot (reference − prediction against their mean, as rPPG-Toolbox) with the bias, the
    classic 95 % limits (bias ± 1.96·SD) and the toolbox-style limits (bias ± 1.96·√2·SD).

    ``stats`` holds ``bias``, ``sd``, ``loa_classic`` (lo, hi) and ``loa_toolbox`` (lo, hi), as returned by
    :func:`rppgbench.reporting.report.ba_stats`.
    """
    p = np.asarray(hr_pred, dtype=float)
    r = np.asarray(hr_ref, dtype=float)
    fig = _figure(6.0, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    mean = (p + r) / 2.0
    diff = r - p
    ax.scatter(mean, diff, s=14, alpha=0.7, color="tab:blue", edgecolors="none", label="windows")
    ax.axhline(stats["bias"], color="black", lw=1.2, label=f"bias {stats['bias']:.2f}")
    lo, hi = stats["loa_classic"]
    ax.axhline(lo, color="tab:red", ls="--", lw=1.0, label=f"classic LoA [{lo:.2f}, {hi:.2f}]")
    ax.axhline(hi, color="tab:red", ls="--", lw=1.0)
    lo2, hi2 = stats["loa_toolbox"]
    ax.axhline(lo2, color="tab:orange", ls=":", lw=1.2, label=f"toolbox √2 LoA [{lo2:.2f}, {hi2:.2f}]")
    ax.axhline(hi2, color="tab:orange", ls=":", lw=1.2)
    ax.set_xlabel("mean of reference and predicted HR (bpm)")
    ax.set_ylabel("reference − predicted HR (bpm)")
    ax.set_title(plain(title) if title else "Bland-Altman", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    return fig


def scatter_figure(hr_pred: Any, hr_ref: Any, title: str = ""):
    """Predicted against reference HR with the identity line."""
    p = np.asarray(hr_pred, dtype=float)
    r = np.asarray(hr_ref, dtype=float)
    fig = _figure(4.6, 4.4, left=0.16)
    ax = fig.add_subplot(1, 1, 1)
    both = np.concatenate([p, r])
    both = both[np.isfinite(both)]
    lo = float(min(40.0, np.floor(both.min() - 5))) if both.size else 40.0
    hi = float(max(150.0, np.ceil(both.max() + 5))) if both.size else 150.0
    ax.plot([lo, hi], [lo, hi], color="gray", lw=1.0, ls="--", label="y = x")
    ax.scatter(r, p, s=14, alpha=0.7, color="tab:green", edgecolors="none")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel("reference HR (bpm)")
    ax.set_ylabel("predicted HR (bpm)")
    ax.set_title(plain(title) if title else "Predicted vs reference HR", fontsize=10)
    return fig


def _short(text: object, n: int) -> str:
    """``text`` for a chart label: at most ``n`` characters (an ellipsis marks a cut), shown literally."""
    t = str(text)
    return plain(t if len(t) <= n else t[: n - 1] + "…")


def spread_labels(ys: Sequence[float], gap: float) -> list[float]:
    """Label heights near ``ys`` with at least ``gap`` between neighbours (input order kept): sorted, pushed apart
    upwards, then the stack re-centred on the points' mean so labels stay beside their points."""
    order = sorted(range(len(ys)), key=lambda i: (ys[i], i))
    pos = [0.0] * len(ys)
    prev = -math.inf
    for i in order:
        pos[i] = max(float(ys[i]), prev + gap)
        prev = pos[i]
    if ys:
        shift = (sum(pos) - sum(float(y) for y in ys)) / len(ys)
        pos = [p - shift for p in pos]
    return pos


def _labelled_points(ax, xs: Sequence[float], ys: Sequence[float], labels: Sequence[str], colors: Sequence[str],
                     sizes: Sequence[float], label_x: Sequence[float], gap: float) -> list[float]:
    """Points with labels at :func:`spread_labels` heights, each joined to its point by a thin leader line;
    returns the label heights (the caller's y-limits must include them)."""
    ly = spread_labels(ys, gap)
    for x, y, lab, c, sz, lx, yy in zip(xs, ys, labels, colors, sizes, label_x, ly, strict=True):
        ax.scatter([x], [y], s=sz, alpha=0.55, color=c, edgecolors="black", linewidths=0.6, zorder=3)
        ax.annotate(lab, (x, y), xytext=(lx, yy), textcoords="data", fontsize=7, va="center",
                    arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.6, "shrinkA": 0, "shrinkB": 3})
    return ly


def bubble_figure(points: Sequence[dict[str, Any]], title: str = "", metric: str = "MAE",
                  no_latency_note: str = "latency unavailable (no model benchmark CSV given)"):
    """Parameters × latency × error across models (FactorizePhys paper style).

    Each point has ``model``, ``params`` (int), ``latency_ms`` (float or None) and ``value`` (the metric).
    With latencies, x = latency (ms), y = metric, bubble area ∝ parameters. Without any latency, the
    parameter-free methods (0 parameters: the unsupervised methods and the null baseline) get a panel of their
    own, one column of points with their labels stacked beside them, and the others x = parameters (log); the
    title says that latency is unavailable. Labels never overlap (:func:`spread_labels`).
    """
    pts = [p for p in points if p.get("value") is not None and not math.isnan(float(p["value"]))]
    have_lat = bool(pts) and all(p.get("latency_ms") is not None for p in pts)
    ys_all = [float(p["value"]) for p in pts] or [0.0]
    lo, hi = min(ys_all), max(ys_all)
    span = (hi - lo) or max(abs(hi), 1.0)
    n = max(len(pts), 1)
    gap = max(span / 14.0, 1.12 * span * 1.4 / max(n, 8))  # two-line labels need about this much height

    def ylim(label_ys: list[float]) -> tuple[float, float]:
        every = ys_all + label_ys
        return min(every) - 0.1 * span - gap / 2, max(every) + 0.1 * span + gap / 2

    ylabel = f"{metric} (bpm)" if metric in ("MAE", "RMSE") else metric
    color = {p["model"]: f"C{i % 10}" for i, p in enumerate(pts)}
    fig = _figure(6.4, 4.4, top=0.86)
    if have_lat:
        ax = fig.add_subplot(1, 1, 1)
        pmax = max([float(p.get("params") or 0) for p in pts] + [1.0])
        xs = [float(p["latency_ms"]) for p in pts]
        ly = _labelled_points(ax, xs, [float(p["value"]) for p in pts],
                         [f"{plain(p['model'])} ({float(p.get('params') or 0) / 1e3:.1f}k params)" for p in pts],
                         [color[p["model"]] for p in pts],
                         [40 + 1600 * math.sqrt(float(p.get("params") or 0) / pmax) for p in pts],
                         [x * 1.25 for x in xs], gap)
        ax.set_xscale("log")
        ax.set_xlabel("latency per clip (ms)")
        ax.set_ylabel(ylabel)
        ax.set_ylim(*ylim(ly))
        ax.margins(x=0.6)
        ax.set_title((plain(title) + "\n" if title else "") + "bubble area ∝ parameters", fontsize=9)
        return fig
    free = [p for p in pts if not float(p.get("params") or 0)]
    paid = [p for p in pts if float(p.get("params") or 0)]
    panels = [g for g in (free, paid) if g] or [[]]
    widths = [1.0 if g is free else 1.6 for g in panels]
    gs = fig.add_gridspec(1, len(panels), width_ratios=widths, wspace=0.08)
    first = None
    label_ys: list[float] = []
    for k, group in enumerate(panels):
        ax = fig.add_subplot(gs[0, k], sharey=first)
        first = first or ax
        ys = [float(p["value"]) for p in group]
        if group is free:
            label_ys += _labelled_points(ax, [0.0] * len(group), ys, [_short(p["model"], 22) for p in group],
                             [color[p["model"]] for p in group], [60] * len(group), [0.35] * len(group), gap)
            ax.set_xlim(-0.3, 2.0)
            ax.set_xticks([0.0], ["0"])
            ax.set_xlabel("parameter-free")
        elif group:
            xs = [float(p["params"]) for p in group]
            label_ys += _labelled_points(ax, xs, ys, [f"{_short(p['model'], 26)} ({x / 1e3:.1f}k)"
                                                      for p, x in zip(group, xs, strict=True)],
                             [color[p["model"]] for p in group], [60] * len(group), [x * 1.6 for x in xs], gap)
            ax.set_xscale("log")
            ax.set_xlim(min(xs) / 3.0, max(xs) * 40.0)
            ax.set_xlabel("parameters (log)")
        if k == 0:
            ax.set_ylabel(ylabel)
        else:
            ax.tick_params(labelleft=False)
    first.set_ylim(*ylim(label_ys))  # shared by every panel
    fig.suptitle((plain(title) + "\n" if title else "") + no_latency_note, fontsize=9)
    return fig


def cost_figure(bench: dict[str, dict[str, float]], title: str = "Model cost (batch 1, contract input size)"):
    """Latency per clip (x, log) against parameters (y, log) of every benchmarked model; bubble area ∝ MACs
    when the benchmark has them. ``bench`` maps model → ``params``, ``latency_ms`` and optionally ``macs_total``
    (as :func:`rppgbench.reporting.report.read_model_benchmark` returns)."""
    fig = _figure(6.4, 4.6, top=0.88, left=0.14)
    ax = fig.add_subplot(1, 1, 1)
    names = sorted(bench)
    macs = [float(bench[m].get("macs_total") or 0.0) for m in names]
    mmax = max(macs + [1.0])
    for i, m in enumerate(names):
        x = max(float(bench[m]["latency_ms"]), 1e-3)
        y = max(float(bench[m]["params"]), 1.0)
        size = 40 + 1400 * math.sqrt(macs[i] / mmax) if macs[i] else 60
        ax.scatter([x], [y], s=size, alpha=0.55, color=f"C{i % 10}", edgecolors="black", linewidths=0.6)
        label = plain(m) + (f"\n{macs[i] / 1e9:.1f} GMACs" if macs[i] else "")
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(6, 6), fontsize=7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("latency per clip (ms)")
    ax.set_ylabel("parameters (inference path)")
    ax.set_title(plain(title) + ("\nbubble area ∝ MACs" if any(macs) else ""), fontsize=9)
    ax.margins(0.25)
    return fig


def recording_figure(pred: Any, label: Any, fs: float, title: str = "", band: tuple[float, float] = (0.6, 3.3)):
    """Waveform (z-scored prediction and reference) and periodogram of one recording."""
    from scipy.signal import periodogram

    p = np.asarray(pred, dtype=float)
    r = np.asarray(label, dtype=float)

    def z(x: np.ndarray) -> np.ndarray:
        sd = x.std()
        return (x - x.mean()) / sd if sd > 0 else x - x.mean()

    fig = _figure(8.0, 5.0, left=0.09, hspace=0.45, top=0.93)
    ax1 = fig.add_subplot(2, 1, 1)
    t = np.arange(p.size) / fs
    ax1.plot(t, z(r), color="black", lw=0.8, label="reference")
    ax1.plot(t, z(p), color="tab:red", lw=0.8, alpha=0.8, label="predicted")
    ax1.set_xlabel("time (s)")
    ax1.set_ylabel("z-score")
    ax1.legend(fontsize=7, loc="upper right")
    ax1.set_title(plain(title), fontsize=9)
    ax2 = fig.add_subplot(2, 1, 2)
    for x, color, name in ((r, "black", "reference"), (p, "tab:red", "predicted")):
        if x.size < 2:
            continue
        f, pxx = periodogram(z(x), fs=fs, detrend=False)
        keep = (f >= band[0] * 0.5) & (f <= band[1] * 1.5)
        peak = pxx[keep].max() if keep.any() and pxx[keep].max() > 0 else 1.0
        ax2.plot(f[keep] * 60.0, pxx[keep] / peak, color=color, lw=0.9, label=name)
    ax2.axvspan(band[0] * 60, band[1] * 60, color="gray", alpha=0.08)
    ax2.set_xlabel("frequency (bpm)")
    ax2.set_ylabel("normalised power")
    ax2.legend(fontsize=7, loc="upper right")
    return fig


def bar_figure(labels: Sequence[str], values: Sequence[float], errors: Sequence[float], title: str = "",
               ylabel: str = "MAE (bpm)"):
    """Horizontal bars with standard-error whiskers (leaderboard charts)."""
    fig = _figure(7.0, 1.2 + 0.35 * max(len(labels), 1), left=0.36, bottom=0.2)
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(len(labels))
    err = [0.0 if e is None or math.isnan(float(e)) else float(e) for e in errors]
    ax.barh(y, [float(v) for v in values], xerr=err, color="tab:blue", alpha=0.7, capsize=3)
    ax.set_yticks(y, [plain(s if len(str(s)) <= 34 else str(s)[:33] + "…") for s in labels], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(ylabel)
    ax.set_title(plain(title), fontsize=9)
    return fig
