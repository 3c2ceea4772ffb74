"""``rppgbench prepare``: raw dataset → Zarr store (parallel, resumable, loss-free)."""
from __future__ import annotations

import click

from rppgbench.cli._options import output_option, workers_option

EPILOG = """\b
Example:
  rppgbench synth /tmp/raw --recordings 4
  rppgbench prepare synthetic --raw /tmp/raw --workers 2

\b
Recipes: skin72 (default: BlazeFace, smooth tracking, skin ROI), and the rPPG-Toolbox
ones fp72 (Haar every 30 frames, box held), tb72 (first-frame box), pn128 (128x128,
first-frame box) -- `rppgbench ls recipes` -- or a YAML/JSON recipe file (see
docs/store_format.md). Re-running the same command resumes an interrupted run (one run
per store at a time). Exit codes: 0 all written, 1 a recording failed, 2 bad input."""


@click.command("prepare", epilog=EPILOG)
@click.argument("dataset")
@click.option("--raw", type=click.Path(path_type=str), default=None,
              help="Raw dataset folder (default: $RPPGBENCH_RAW_<DATASET>).")
@click.option("--recipe", default="skin72", show_default=True, help="Recipe name or YAML/JSON file.")
@output_option("Store directory (default: $RPPGBENCH_DATA/<dataset>/<store key>.zarr).", deprecated=("--out",))
@workers_option
@click.option("--scheduler", default=None, help="Address of an existing dask scheduler, e.g. tcp://host:8786.")
@click.option("--overwrite", is_flag=True, help="Replace an existing store at the output path.")
@click.option("--skip-bad", is_flag=True, help="Record failing recordings as skipped and continue (exit 0).")
@click.option("--limit", type=int, default=None, help="Only the first N recordings.")
@click.pass_context
def prepare(ctx: click.Context, dataset: str, raw: str | None, recipe: str, output: str | None, workers: int,
            scheduler: str | None, overwrite: bool, skip_bad: bool, limit: int | None) -> None:
    """Crop faces, align labels and write DATASET into a Zarr store."""
    from rppgbench.store.writer import prepare as run_prepare

    # progress per recording comes from the library's progress records (drawn on stderr; -q hides it)
    summary = run_prepare(dataset, raw, recipe=recipe, out=output, workers=workers, scheduler=scheduler,
                          overwrite=overwrite, skip_bad=skip_bad, limit=limit)
    for line in summary.lines():
        click.echo(line)
    if not summary.ok:
        click.echo(f"{len(summary.failed)} recording(s) failed; re-run to retry them or use --skip-bad", err=True)
        ctx.exit(1)
