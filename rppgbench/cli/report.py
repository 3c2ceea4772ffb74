"""``rppgbench report``: tables, plots and an index.html from one or more results directories."""
from __future__ import annotations

import click

from rppgbench.cli._options import output_option


@click.command("report", epilog="Example: rppgbench report results/synthetic_quick --output /tmp/report\n\n"
               "Example (combine protocols): rppgbench report results/a results/b --output report_ab "
               "--model-benchmark benchmarks/results/models_cpu_2026.csv")
@click.argument("results_dirs", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=str))
@output_option("Output directory (default RESULTS_DIR/report; required with several directories).",
               deprecated=("--out",))
@click.option("--model-benchmark", "model_benchmark_csv", type=click.Path(dir_okay=False, path_type=str),
              default=None, help="Model benchmark CSV (model, params, latency_ms) for the parameters × latency chart.")
def report(results_dirs: tuple[str, ...], output: str | None, model_benchmark_csv: str | None) -> None:
    """Render comparison tables (Markdown, LaTeX, CSV, HTML), Bland-Altman and scatter plots, the parameters ×
    latency × MAE chart, critical-difference diagrams and the worst recordings; print the index.html path."""
    from rppgbench.reporting.report import report as _report

    click.echo(str(_report(list(results_dirs), out=output, model_benchmark_csv=model_benchmark_csv)))
