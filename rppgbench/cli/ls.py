"""``rppgbench ls``: list datasets, models, protocols and metrics (torch is imported only by ``ls models``)."""
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
        try:
            info = DATASETS.get(name).info
        except Exception as exc:  # an adapter module not written yet, or broken: say so, keep listing
            click.echo(f"{name}\n  (adapter not available: {type(exc).__name__}: {exc})")
            continue
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


@ls.command("protocols", epilog="Example: rppgbench ls protocols")
def protocols() -> None:
    """Protocol files with their version and citation."""
    try:
        from rppgbench.protocols import list_protocols
    except ImportError as exc:
        click.echo(f"(protocols not available: {exc})")
        return
    for p in list_protocols():
        if p.get("error"):
            click.echo(f"{p['name']}: INVALID ({p['error']})")
        else:
            click.echo(f"{p['name']} v{p['version']} [{p.get('family', '')}]: {p.get('citation', '')}")


@ls.command("metrics", epilog="Example: rppgbench ls metrics")
def metrics() -> None:
    """Metrics and evaluation profiles."""
    try:
        from rppgbench.evaluation import METRICS, get_profile, list_profiles
    except ImportError as exc:
        click.echo(f"(evaluation not available: {exc})")
        return
    click.echo("metrics:")
    seen: set[int] = set()
    for name in METRICS.names():
        m = METRICS.get(name)
        if id(m) in seen:  # aliases (e.g. lower-case names) share the spec
            continue
        seen.add(id(m))
        unit = f" [{m.unit}]" if m.unit else ""
        click.echo(f"  {getattr(m, 'name', name)}{unit} ({'higher' if m.higher_is_better else 'lower'} is better): "
                   f"{m.description}")
    click.echo("profiles:")
    for name in list_profiles():
        click.echo(f"  {name}: {getattr(get_profile(name), 'description', '')}")
