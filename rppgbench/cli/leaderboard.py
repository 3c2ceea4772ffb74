"""``rppgbench leaderboard build|verify|refresh|reference|seed``."""
from __future__ import annotations

import sys
from typing import Any

import click

from rppgbench.cli._options import output_option


@click.group("leaderboard", epilog="Example: rppgbench leaderboard verify && rppgbench leaderboard build")
def leaderboard() -> None:
    """Verify committed entries and build the leaderboard README and static site."""


@leaderboard.command("build", epilog="Example: rppgbench leaderboard build --root leaderboards --output /tmp/site")
@click.option("--root", default="leaderboards", show_default=True, type=click.Path(file_okay=False, path_type=str))
@output_option("Site directory (default ROOT/site).", deprecated=("--out",))
@click.option("--no-readme", is_flag=True, help="Do not rewrite ROOT/README.md.")
def build(root: str, output: str | None, no_readme: bool) -> None:
    """Render ROOT/README.md tables and the static HTML site; print the site's index.html path."""
    from rppgbench.leaderboard.build import build as _build

    click.echo(str(_build(root, output, readme=not no_readme)))


@leaderboard.command("verify", epilog="Example: rppgbench leaderboard verify --root leaderboards")
@click.option("--root", default="leaderboards", show_default=True, type=click.Path(file_okay=False, path_type=str))
@click.option("--protocols-root", default=None, type=click.Path(file_okay=False, path_type=str),
              help="Protocol YAML folder each reference.json is checked against (default: the shipped protocols).")
def verify(root: str, protocols_root: str | None) -> None:
    """Re-check every entry (files, label hashes, recomputed metrics, claims, duplicates) and each reference
    against its protocol; exit 1 on any problem."""
    from rppgbench.leaderboard.verify import verify as _verify

    _echo_report(_verify(root, protocols_root), "checked", "with problems")


def _echo_report(rep: Any, ok_word: str, problem_words: str) -> None:
    """Print a VerifyReport's lines and its count line; exit 1 when it has problems."""
    for line in rep.lines():
        click.echo(line)
    click.echo(f"{len(rep.checked)} entr{'y' if len(rep.checked) == 1 else 'ies'} {ok_word}, "
               f"{len(rep.problems)} {problem_words}")
    if not rep.ok:
        sys.exit(1)


@leaderboard.command("refresh", epilog="Example: rppgbench leaderboard refresh && rppgbench leaderboard verify")
@click.option("--root", default="leaderboards", show_default=True, type=click.Path(file_okay=False, path_type=str))
@click.option("--protocols-root", default=None, type=click.Path(file_okay=False, path_type=str),
              help="Protocol YAML folder each reference.json is checked against (default: the shipped protocols).")
def refresh(root: str, protocols_root: str | None) -> None:
    """Maintainers: rewrite every entry's metrics.json from its predictions (after an evaluation change);
    entries whose metric values changed are left alone and listed; exit 1 if any."""
    from rppgbench.leaderboard.refresh import refresh as _refresh

    _echo_report(_refresh(root, protocols_root), "current", "left as they were")


@leaderboard.command("reference", epilog="Example: rppgbench leaderboard reference results/synthetic_quick "
                     "--ship-labels")
@click.argument("results_dir", type=click.Path(file_okay=False, path_type=str))
@click.option("--root", default="leaderboards", show_default=True, type=click.Path(file_okay=False, path_type=str))
@click.option("--ship-labels", is_flag=True, help="Also store the label arrays (only for redistributable data).")
@click.option("--overwrite", is_flag=True, help="Replace an existing reference.")
def reference(results_dir: str, root: str, ship_labels: bool, overwrite: bool) -> None:
    """Maintainers: write ROOT/<protocol>/reference.json (label hashes) from a trusted run."""
    from rppgbench.leaderboard.seed import write_reference

    click.echo(str(write_reference(results_dir, root, ship_labels=ship_labels, overwrite=overwrite)))


@leaderboard.command("seed", epilog="Example: rppgbench leaderboard seed results/synthetic_quick")
@click.argument("results_dir", type=click.Path(file_okay=False, path_type=str))
@click.option("--root", default="leaderboards", show_default=True, type=click.Path(file_okay=False, path_type=str))
@click.option("--model", "models", multiple=True, help="Seed only this model id (repeatable), e.g. --model null.")
def seed(results_dir: str, root: str, models: tuple[str, ...]) -> None:
    """Maintainers: submit every model of a trusted synthetic run (writes the reference with labels first)."""
    from rppgbench.leaderboard.seed import seed_from_results

    for entry in seed_from_results(results_dir, root, models=list(models) or None):
        click.echo(str(entry))
