"""``rppgbench submit``: validate a run's predictions, recompute its metrics and add a leaderboard entry."""
from __future__ import annotations

import click


def _run_model_id(results_dir: str, model: str | None) -> str | None:
    """``model`` as the run spells it: ``physfsunet.tiny`` and ``physfsunet_tiny`` name the same model
    (:func:`rppgbench.models._factory.fold_model_id`)."""
    import json
    from pathlib import Path

    from rppgbench.models._factory import fold_model_id

    path = Path(results_dir) / "results.json"
    if model is None or not path.is_file():
        return model
    try:
        ids = list(json.loads(path.read_text(encoding="utf-8")).get("models") or {})
    except (ValueError, OSError, AttributeError):
        return model  # the submit checks name what is wrong with the file
    hits = [i for i in ids if i == model] or [i for i in ids if fold_model_id(i) == fold_model_id(model)]
    return hits[0] if len(hits) == 1 else model


@click.command("submit", epilog="Example: rppgbench submit results/synthetic_quick --leaderboard synthetic_quick "
               "--model pos --manifest my_manifest.json\n\nThe manifest (JSON) declares method_name, code_url, "
               "training_data, test_videos_seen and hardware; see leaderboards/README.md.")
@click.argument("results_dir", type=click.Path(file_okay=False, path_type=str))
@click.option("--leaderboard", "protocol", required=True, help="Protocol name = leaderboard to submit to.")
@click.option("--model", default=None, help="Model of the run to submit (required when the run holds several).")
@click.option("--manifest", type=click.Path(dir_okay=False, path_type=str), required=True,
              help="JSON file with the submitter's declarations.")
@click.option("--root", default="leaderboards", show_default=True, type=click.Path(file_okay=False, path_type=str),
              help="Leaderboard root directory.")
@click.option("--entry-id", default=None, help="Entry directory name (default: manifest entry_id or <model>-<hash>).")
@click.option("--protocols-root", default=None, type=click.Path(file_okay=False, path_type=str),
              help="Protocol YAML folder the leaderboard's reference is checked against (default: shipped).")
def submit(results_dir: str, protocol: str, model: str | None, manifest: str, root: str,
           entry_id: str | None, protocols_root: str | None) -> None:
    """Check RESULTS_DIR against the protocol's reference (every test recording once, lengths, finite values,
    label hashes), recompute the metrics, reject claims that differ, and write the entry atomically.

    Prints the entry directory, then per test dataset the recomputed metrics (mean ± SE) and the entry's rank by
    MAE among the leaderboard's entries, then any review flags."""
    import json

    from rppgbench.leaderboard.build import entry_standing
    from rppgbench.leaderboard.submit import submit as _submit
    from rppgbench.reporting.tables import fmt_value, metric_header

    model = _run_model_id(results_dir, model)
    entry = _submit(results_dir, protocol, model=model, manifest=manifest, root=root, entry_id=entry_id,
                    protocols_root=protocols_root)
    flags = json.loads((entry / "metrics.json").read_text(encoding="utf-8")).get("flags", [])
    click.echo(str(entry))
    for ds, st in entry_standing(root, protocol, entry.name).items():
        null = "" if st["null_rank"] is None else f"; the null baseline is #{st['null_rank']}"
        click.echo(f"{ds}: rank {st['rank']} of {st['of']} by MAE{null}")
        heads = {m: metric_header(m) for m in st["metrics"]}
        width = max(map(len, heads.values()), default=0)
        for m, v in st["metrics"].items():
            value = "n/a" if v.get("value") is None else fmt_value(v["value"], v.get("se"))
            click.echo(f"  {heads[m]:<{width}}  {value}")
    for f in flags:
        click.echo(f"flagged for review: {f}")
