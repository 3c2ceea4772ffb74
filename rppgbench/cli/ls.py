"""``rppgbench ls``: list what the registries hold (torch is never imported: model contracts are read from source)."""
from __future__ import annotations

import click


@click.group("ls", epilog="Example: rppgbench ls datasets")
def ls() -> None:
    """List what rppgbench knows about."""


@ls.command("datasets", epilog="Example: rppgbench ls datasets")
def datasets() -> None:
    """Registered dataset adapters: fps, resolution, subjects, ground truth, where to get them, licence."""
    from rppgbench.datasets import DATASETS

    for name in DATASETS.names():
        info = DATASETS.get(name).info
        click.echo(f"{name}: {info.title}")
        click.echo(f"  fps {info.fps:g}, {info.resolution}, subjects {info.n_subjects}, "
                   f"recordings {info.n_recordings}")
        click.echo(f"  ground truth: {info.gt_type}")
        click.echo(f"  request/download: {info.url}")
        click.echo(f"  licence: {info.licence}")


@ls.command("models", epilog="Example: rppgbench ls models")
def models() -> None:
    """Registered models with their input contract and, for neural models, the parameters and MACs measured at
    the contract size (the generated table ``rppgbench/models/costs.csv``; thop-style parameter count, the
    papers' convention)."""
    from rppgbench.models import list_models, model_cfg
    from rppgbench.models.costs import read_costs

    costs = read_costs()
    for name in list_models():
        c = model_cfg(name)
        clip = "whole recording" if c.clip_len is None else f"clip {c.clip_len}+{c.extra_frames}"
        size = "" if c.frame_size is None else f", {c.frame_size}x{c.frame_size}"
        params = f", {c.published_params:,} params (published)" if c.published_params else ""
        layout = "" if c.layout == "ncdhw" else f", layout {c.layout}"
        multiple = f", frames a multiple of {c.frame_multiple}" if c.frame_multiple > 1 else ""
        cost = ""
        if c.kind == "neural":
            row = costs.get(name)
            cost = (f"; measured {row['params_thop']:,} params thop-style ({row['params_exact']:,} in all), "
                    f"{row['macs_total'] / 1e9:.2f} GMACs at {row['input_shape']}" if row else
                    "; cost not measured (python -m rppgbench.models.costs --write)")
        click.echo(f"{name}: {c.kind}, {clip}{size}, input {c.view_label}, label {c.label_view}{layout}{multiple}"
                   f"{params}{cost}")


@ls.command("protocols", epilog="Example: rppgbench ls protocols --protocols-root my_protocols")
@click.option("--protocols-root", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Folder of protocol families (default: the protocols shipped in the package).")
def protocols(protocols_root: str | None) -> None:
    """Protocol files with their version and citation."""
    from rppgbench.protocols import list_protocols

    for p in list_protocols(protocols_root):
        if p.get("error"):
            click.echo(f"{p['name']}: INVALID ({p['error']})")
        else:
            click.echo(f"{p['name']} v{p['version']} [{p.get('family', '')}]: {p.get('citation', '')}")


@ls.command("metrics", epilog="Example: rppgbench ls metrics")
def metrics() -> None:
    """Metrics (names are case-insensitive in protocols) and evaluation profiles."""
    from rppgbench.evaluation.metrics import METRICS
    from rppgbench.evaluation.profiles import PROFILES

    click.echo("metrics:")
    for name in METRICS.registered():
        m = METRICS.get(name)
        unit = f" [{m.unit}]" if m.unit else ""
        click.echo(f"  {m.name}{unit} ({'higher' if m.higher_is_better else 'lower'} is better): {m.description}")
    click.echo("profiles:")
    for name in PROFILES.names():
        click.echo(f"  {name}: {PROFILES.get(name).description}")


@ls.command("detectors", epilog="Example: rppgbench ls detectors")
def detectors() -> None:
    """Face detectors a recipe (or `infer --detector`) can name, with the extra each one needs."""
    from rppgbench.preprocess.face import FACE_DETECTORS

    for name in FACE_DETECTORS.names():
        meta = FACE_DETECTORS.meta(name)
        extra = f" (pip install 'rppgbench[{meta['extra']}]')" if meta.get("extra") else ""
        click.echo(f"{name}: {meta.get('description', '')}{extra}")


@ls.command("recipes", epilog="Example: rppgbench ls recipes")
def recipes() -> None:
    """Named preprocessing recipes (`prepare --recipe NAME`, `recipe: NAME` in a protocol) and their fields."""
    from rppgbench.preprocess.recipe import NAMED_RECIPES

    for name in NAMED_RECIPES.names():
        fields = ", ".join(f"{k}={v}" for k, v in NAMED_RECIPES.get(name).items())
        click.echo(f"{name}: {NAMED_RECIPES.meta(name).get('description', '')} ({fields})")
