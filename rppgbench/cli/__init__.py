"""The ``rppgbench`` command line. Each subcommand lives in its own module and is imported lazily,
so ``rppgbench --help`` and ``rppgbench ls datasets`` start fast and never import torch.

Adding a command: write ``rppgbench/cli/<name>.py`` exposing a click command, then add one line to
``COMMANDS`` below.
"""
from __future__ import annotations

import importlib
import logging
import sys

import click

from rppgbench import __version__
from rppgbench._checks import RppgbenchError
from rppgbench._logging import logger

#: command name -> "module:attr" (imported on first use)
COMMANDS: dict[str, str] = {
    "prepare": "rppgbench.cli.prepare:prepare",
    "synth": "rppgbench.cli.synth:synth",
    "ls": "rppgbench.cli.ls:ls",
    "sys-info": "rppgbench.cli.sys_info:sys_info",
    "metrics": "rppgbench.cli.metrics:metrics",
    "infer": "rppgbench.cli.infer:infer",
    "export": "rppgbench.cli.export:export",
    "run": "rppgbench.cli.run:run",
    "validate": "rppgbench.cli.validate:validate",
    "report": "rppgbench.cli.report:report",
    "submit": "rppgbench.cli.submit:submit",
    "leaderboard": "rppgbench.cli.leaderboard:leaderboard",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported only when invoked or listed in --help."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.commands:
            return self.commands[name]
        target = COMMANDS.get(name)
        if target is None:
            return None
        mod_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(mod_name)
        except ModuleNotFoundError as exc:
            if exc.name == mod_name:  # the command's module is not written yet
                return None
            raise
        return getattr(module, attr)


def _setup_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("rppgbench")
    root.handlers = [h for h in root.handlers if not isinstance(h, logging.StreamHandler)] + [handler]
    root.setLevel(level)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog="Example: rppgbench synth /tmp/raw && rppgbench prepare synthetic --raw /tmp/raw")
@click.version_option(__version__, "--version", prog_name="rppgbench")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """rppgbench: prepare rPPG datasets, run paper protocols, report and compare."""
    _setup_logging(verbose)


def main(argv: list[str] | None = None) -> None:
    """Console entry point. Exit codes: 0 success; 1 the command ran but found failures (a recording that failed
    in ``prepare``, an entry with problems in ``leaderboard verify``); 2 bad input or usage (one-line message,
    no traceback); 130 interrupted."""
    try:
        rv = cli.main(args=argv, prog_name="rppgbench", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except (RppgbenchError, OSError, ValueError, KeyError) as exc:  # OSError: unreadable file, full disk, ...
        logger.debug("error detail", exc_info=True)
        msg = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        click.echo(f"Error: {msg}", err=True)
        sys.exit(2)
    # with standalone_mode=False click returns the code of ctx.exit(n) instead of exiting: pass it on
    sys.exit(rv if isinstance(rv, int) else 0)
