"""``rppgbench validate``: every protocol check that needs no data."""
from __future__ import annotations

import click

EPILOG = """\b
Example:
  rppgbench validate protocols/intra/ubfc_rppg_intra.yaml synthetic_quick
  rppgbench validate my_protocols/*/*.yaml

\b
PROTOCOLS are names (`rppgbench ls protocols`) or YAML paths; a path that does not exist is looked up by its
file stem. Checks the schema (unknown keys and wrong types name file and line), includes, the dataset, model,
recipe, face-detector, profile and metric names against their registries, each model's input contract against
the dataset recipes (frame size, fps, 3 channels per input view; a clip length off a model's frame_multiple is
refused with the model's overrides), and names the null baseline every run adds (null.train_mean_hr, or
null.constant_hr without a train split). Torch is not imported; --build also instantiates every model once with
its overrides (imports torch; `run` always does).
"""


@click.command("validate", epilog=EPILOG)
@click.argument("protocols", nargs=-1, required=True)
@click.option("--protocols-root", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Folder of protocol families for names (default: the protocols shipped in the package).")
@click.option("--build", is_flag=True, default=False,
              help="Also build each model once with its overrides (imports torch).")
def validate(protocols: tuple[str, ...], protocols_root: str | None, build: bool) -> None:
    """Validate PROTOCOLS (names or YAML paths); print OK per file, stop at the first error."""
    from pathlib import Path

    from rppgbench.runner_validate import validate_protocol

    for name in protocols:
        if any(part.startswith("_") for part in Path(name).parent.parts):
            click.echo(f"skip {name} (shared part, validated through the files that include it)")
            continue
        proto, recipes, plans = validate_protocol(name, None, protocols_root, build=build)
        null = [p.name for p in plans if p.cfg.kind == "baseline"]
        click.echo(f"OK {proto.path} ({proto.name} v{proto.version}, {len(plans) - len(null)} model(s) + null "
                   f"baseline {', '.join(null) or 'none'}, sha256 {proto.protocol_hash[:12]})")
