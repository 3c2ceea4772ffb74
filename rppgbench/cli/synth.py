"""``rppgbench synth``: write the embedded synthetic dataset in its raw layout."""
from __future__ import annotations

import re

import click

_SIZE_RE = re.compile(r"^(\d+)[xX](\d+)$")


def _parse_skin_types(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        types = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated Fitzpatrick types 1-6 such as 5,6; got {value!r}") from None
    if not types or any(t < 1 or t > 6 for t in types) or len(set(types)) != len(types):
        raise click.BadParameter(f"expected distinct Fitzpatrick types 1-6 such as 5,6; got {value!r}")
    return types


def _parse_size(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, int]:
    m = _SIZE_RE.match(value.strip())
    if m is None:
        raise click.BadParameter(f"expected WIDTHxHEIGHT such as 640x480; got {value!r}")
    return int(m.group(1)), int(m.group(2))


@click.command(
    "synth",
    epilog="Example: rppgbench synth /tmp/synth_raw --recordings 6 --seconds 30 --preset mixed --seed 0 "
           "--size 640x480  (then: rppgbench prepare synthetic --raw /tmp/synth_raw)",
)
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--recordings", "-n", default=6, show_default=True, type=click.IntRange(min=1),
              help="Number of recordings.")
@click.option("--per-subject", "per_subject", default=2, show_default=True, type=click.IntRange(min=1),
              help="Recordings per subject (subject ids s01, s02, ...).")
@click.option("--seconds", "-s", default=30.0, show_default=True, type=float, help="Length of each recording.")
@click.option("--preset", "-p", default="mixed", show_default=True,
              type=click.Choice(["clean", "motion", "light", "hard", "mixed"]),
              help="Difficulty preset; 'mixed' cycles clean, motion, light, hard over the recordings.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Dataset seed.")
@click.option("--fps", default=30.0, show_default=True, type=float, help="Frame rate.")
@click.option("--size", "size", default="640x480", show_default=True, callback=_parse_size,
              help="Frame size WIDTHxHEIGHT.")
@click.option("--skin-types", "skin_types", default=None, callback=_parse_skin_types,
              help="Fitzpatrick types to use, e.g. 5,6 (subjects cycle through them); default: drawn from 1-6.")
@click.option("--codec", default="HFYU", show_default=True, type=click.Choice(["HFYU", "FFV1", "MPNG", "RGBA"]),
              help="Lossless video codec (HuffYUV AVI by default).")
def synth(out_dir: str, recordings: int, per_subject: int, seconds: float, preset: str, seed: int, fps: float,
          size: tuple[int, int], codec: str, skin_types: tuple[int, ...] | None) -> None:
    """Render a synthetic rPPG dataset (face video + exact PPG) into OUT_DIR.

    OUT_DIR must be absent, empty, or an earlier output of this command (which is replaced). The files are
    written to a temporary folder first and renamed into place, so an interrupted run leaves nothing that
    looks complete. Same arguments and seed give byte-identical files.
    """
    import csv

    from rppgbench.datasets.synthetic import write_raw_dataset

    width, height = size
    out = write_raw_dataset(out_dir, recordings=recordings, seconds=seconds, preset=preset, seed=seed, fps=fps,
                            width=width, height=height, codec=codec, recordings_per_subject=per_subject,
                            skin_types=skin_types)
    with open(out / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    click.echo(f"wrote {len(rows)} recording(s) to {out}")
    for row in rows:
        click.echo(f"  {row['recording_id']}  subject {row['subject']}  type {row['fitzpatrick']}  {row['preset']:<6}  "
                   f"mean HR {float(row['mean_hr_bpm']):6.2f} bpm  {row['n_frames']} frames "
                   f"{row['width']}x{row['height']} @ {float(row['fps']):g} fps")
    click.echo(f"manifest: {out / 'manifest.csv'}")
