"""``rppgbench run``: run a protocol (validate, prepare missing stores, train, evaluate, write results)."""
from __future__ import annotations

import sys

import click

from rppgbench.cli._options import device_option, output_option, workers_option

EPILOG = """\b
Example:
  rppgbench run synthetic_quick
  rppgbench run protocols/intra/ubfc_rppg_intra.yaml --models factorizephys,pos --output runs/ubfc
  rppgbench run pure_intra --raw pure=/data/PURE --limit 2 --resume
  rppgbench run fp_cross_pure --checkpoint factorizephys=PURE_FactorizePhys_FSAM_Res.pth
  rppgbench run mmpd_cross --stand-ins --smoke --limit 1
  torchrun --nproc-per-node 2 -m rppgbench run synthetic_quick

\b
PROTOCOL is a protocol name (see `rppgbench ls protocols`) or a YAML path (one that does not exist is looked
up by its file stem). Every check that needs no data
runs first (schema, model names, model contracts vs recipes, output folder); then stores are opened and, when
missing, prepared from --raw / RPPGBENCH_RAW_<DATASET> (the synthetic dataset is generated on demand).
Every run also evaluates the null baseline 'null' (a sinusoid at the train split's mean HR; without a train
split at 72 bpm): --models keeps it, --models null runs it alone, --no-null leaves it out.
--checkpoint ID=PATH tests those weights instead of training (sha256 and source recorded). --stand-ins renders
a small synthetic stand-in, in the real raw layout, for every dataset with no store and no raw folder; --smoke
trains one step per model; such dry runs are labelled everywhere and refused by `leaderboard submit`. Under
torchrun, rank 0 prepares and writes, every rank trains its share of each batch (DDP)."""


def _parse_raw(values: tuple[str, ...], hint: str = "--raw", what: str = "DATASET") -> dict[str, str]:
    out = {}
    for v in values:
        ds, sep, path = v.partition("=")
        if not sep or not ds or not path:
            raise click.BadParameter(f"expected {what}=PATH; got {v!r}", param_hint=hint)
        if ds in out:
            raise click.BadParameter(f"{what} {ds!r} is given twice", param_hint=hint)
        out[ds] = path
    return out


def _fmt(v: object) -> str:
    return "nan" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def metric_table(rows: list[dict]) -> list[str]:
    """Text lines: one line per (model, test dataset) with every metric as value ± se and the verdict against
    the null baseline (MAE, rppgbench.results.null)."""
    from rppgbench.results.null import null_verdicts

    verdict = {(k[1], k[2]): v for k, v in null_verdicts(rows).items()}
    metrics: list[str] = []
    groups: dict[tuple[str, str], dict[str, str]] = {}
    for r in rows:
        if r["metric"] not in metrics:
            metrics.append(r["metric"])
        se = f" ± {_fmt(r['se'])}" if r.get("se") is not None else ""
        groups.setdefault((r["model"], r["test_dataset"]), {})[r["metric"]] = _fmt(r["value"]) + se
    head = f"{'model':<22} {'test':<11} " + " ".join(f"{m:>17}" for m in metrics) + "  vs null (MAE)"
    lines = [head, "-" * len(head)]
    for (model, ds), vals in groups.items():
        lines.append(f"{model:<22} {ds:<11} " + " ".join(f"{vals.get(m, '-'):>17}" for m in metrics)
                     + f"  {verdict.get((ds, model), 'no null')}")
    return lines


@click.command("run", epilog=EPILOG)
@click.argument("protocol")
@click.option("--models", default=None,
              help="Comma-separated subset of the protocol's model ids; the null baseline ('null') is always kept.")
@click.option("--no-null", is_flag=True, help="Leave out the null baseline (model id 'null').")
@device_option
@click.option("--limit", type=int, default=None, help="Quick run: first N recordings of each dataset per split.")
@output_option("Output folder (default $RPPGBENCH_RESULTS/<protocol>).")
@click.option("--resume", is_flag=True, help="Continue an interrupted run in --output (finished models, epochs).")
@click.option("--raw", "raw", multiple=True, metavar="DATASET=PATH", help="Raw folder of a dataset to prepare.")
@workers_option
@click.option("--no-report", is_flag=True, help="Do not write the HTML report at the end.")
@click.option("--protocols-root", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Folder of protocol families (default: the protocols shipped in the package).")
@click.option("--checkpoint", "checkpoint", multiple=True, metavar="MODEL_ID=PATH",
              help="Evaluate these weights for the model (test only, no training); repeatable.")
@click.option("--stand-ins", "stand_ins", is_flag=True,
              help="Dry run: render synthetic stand-ins for datasets with no store and no raw folder.")
@click.option("--smoke", is_flag=True, help="Dry run: each neural model trains one optimiser step.")
def run(protocol: str, models: str | None, no_null: bool, device: str | None, limit: int | None,
        output: str | None, resume: bool, raw: tuple[str, ...], workers: int, no_report: bool,
        protocols_root: str | None, checkpoint: tuple[str, ...], stand_ins: bool, smoke: bool) -> None:
    """Run PROTOCOL and write results.json, predictions, checkpoints and a report."""
    from rppgbench.runner import RunOptions, run_protocol

    opts = RunOptions(protocol=protocol, models=[m.strip() for m in models.split(",") if m.strip()] if models
                      else None, device=device, limit=limit, output=output, resume=resume, workers=workers,
                      raw=_parse_raw(raw), report=not no_report, command=" ".join(["rppgbench", *sys.argv[1:]]),
                      protocols_root=protocols_root, null=not no_null,
                      checkpoints=_parse_raw(checkpoint, "--checkpoint", "MODEL_ID"), stand_ins=stand_ins,
                      smoke=smoke)
    res = run_protocol(opts)
    if not res:  # a torchrun rank other than 0: rank 0 prints and writes
        return
    for line in metric_table(res["rows"]):
        click.echo(line)
    for mid, ck in sorted(res["provenance"].get("checkpoints", {}).items()):
        click.echo(f"{mid}: evaluated from checkpoint {ck['path']} (sha256 {ck['sha256'][:16]}…), not trained")
    from rppgbench.results.labels import is_dry_run

    why = is_dry_run(res)
    if why:
        click.echo(f"DRY RUN: {why}; not a benchmark result")
    click.echo(f"wall time {res['provenance']['wall_s']:.1f} s; results in {res['provenance']['output']}")
