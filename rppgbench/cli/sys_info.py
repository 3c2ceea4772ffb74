"""``rppgbench sys-info``: the block users paste into bug reports and leaderboard submissions."""
from __future__ import annotations

import click


@click.command("sys-info", epilog="Example: rppgbench sys-info > sysinfo.txt")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def sys_info(as_json: bool) -> None:
    """Print versions of rppgbench and its dependencies, torch/CUDA/GPU and CPU facts."""
    import json

    from rppgbench.sysinfo import collect

    info = collect()
    if as_json:
        click.echo(json.dumps(info, indent=2, sort_keys=True))
        return
    width = max(len(k) for k in info)
    for key, value in info.items():
        click.echo(f"{key:<{width}}  {value}")
