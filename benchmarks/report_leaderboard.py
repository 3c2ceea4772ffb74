"""Cost of reports and leaderboard checks (what the runner adds at the end of every run, and what CI pays per
leaderboard entry). Prints wall times and ratios measured in one run; not run by pytest.

    python benchmarks/report_leaderboard.py [--models 3] [--recordings 8] [--seconds 60]

Signals are generated here (sinusoidal PPG with per-model HR offsets and noise); metrics come from
``rppgbench.evaluation.evaluate``. Figures are drawn with matplotlib's Agg backend.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=int, default=3)
    ap.add_argument("--recordings", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args()

    from _lb_helpers import PROTOCOL, manifest, write_results

    from rppgbench.leaderboard import build, submit, verify, write_reference
    from rppgbench.reporting import report
    from rppgbench.reporting.load import load_runs
    from rppgbench.reporting.tables import comparison_rows, to_latex, to_markdown

    rng = np.random.default_rng(0)
    models = {f"m{i}": ("neural" if i % 2 else "unsupervised", 1000 * i,
                        list(rng.uniform(0, 8, args.recordings)), 0.3 + 0.2 * i) for i in range(args.models)}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        t0 = time.perf_counter()
        run = write_results(d / "run", models, n_rec=args.recordings, seconds=args.seconds)
        t_write = time.perf_counter() - t0

        t0 = time.perf_counter()
        rows, metrics = comparison_rows(load_runs([run]))
        to_markdown(rows, metrics), to_latex(rows, metrics)
        t_tables = time.perf_counter() - t0

        t0 = time.perf_counter()
        index = report(run, out=d / "rep")
        t_report = time.perf_counter() - t0
        n_png = len(list((index.parent / "figures").glob("*.png")))
        size = sum(p.stat().st_size for p in index.parent.rglob("*") if p.is_file())

        root = d / "lb"
        write_reference(run, root)
        t0 = time.perf_counter()
        for m in models:
            submit(run, PROTOCOL, model=m, manifest=manifest(method_name=m), root=root, entry_id=m)
        t_submit = (time.perf_counter() - t0) / len(models)
        t0 = time.perf_counter()
        rep = verify(root)
        t_verify = (time.perf_counter() - t0) / len(models)
        t0 = time.perf_counter()
        build(root)
        t_build = time.perf_counter() - t0

    out = {
        "models": args.models, "recordings": args.recordings, "seconds": args.seconds,
        "write_results_with_evaluate_s": round(t_write, 3),
        "tables_only_s": round(t_tables, 4),
        "report_total_s": round(t_report, 3), "report_figures": n_png,
        "report_s_per_figure": round(t_report / max(n_png, 1), 3),
        "report_size_kib": round(size / 1024, 1),
        "report_vs_evaluation_ratio": round(t_report / t_write, 2),
        "submit_s_per_entry": round(t_submit, 3), "verify_s_per_entry": round(t_verify, 3),
        "verify_ok": rep.ok, "build_site_s": round(t_build, 3),
    }
    for k, v in out.items():
        print(f"{k:32s} {v}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
