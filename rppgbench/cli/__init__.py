"""The ``rppgbench`` command line. Each subcommand lives in its own module and is imported lazily,
so ``rppgbench --help`` and ``rppgbench ls datasets`` start fast and never import torch.

Adding a command: write ``rppgbench/cli/<name>.py`` exposing a click command, then add one line to
``COMMANDS`` below.
"""
from __future__ import annotations

import importlib
import logging
import sys
import traceback
import warnings
from typing import Any

import click

from rppgbench import __version__
from rppgbench._checks import RppgbenchError
from rppgbench._logging import logger
from rppgbench._registry import RegistryError

#: exit code of an error in the user's input (files, options, names); click's usage errors use it too
EXIT_USER_ERROR = 2
#: exit code of an internal error (a bug), printed with its traceback
EXIT_INTERNAL_ERROR = 3

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
        return getattr(importlib.import_module(mod_name), attr)


def _setup_logging(verbosity: int, quiet: bool = False) -> None:
    from rppgbench.cli._progress import install

    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("rppgbench")
    root.handlers = [h for h in root.handlers if not isinstance(h, logging.StreamHandler)] + [handler]
    root.setLevel(level)
    install(quiet, handler)  # progress of long steps on stderr (none with -q)


def _warning_to_log(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                    file: Any = None, line: str | None = None) -> None:
    """``warnings.showwarning`` during a command: one log line through the rppgbench logger, no source echo."""
    origin = "" if "rppgbench" in filename.replace("\\", "/").split("/") else f" ({filename}:{lineno})"
    logger.warning("%s: %s%s", category.__name__, message, origin)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog="Example: rppgbench synth /tmp/raw && rppgbench prepare synthetic --raw /tmp/raw\n\n"
                    f"Exit codes: 0 done, 1 finished with failures (e.g. recordings that could not be prepared), "
                    f"{EXIT_USER_ERROR} bad input (the message says what and where), {EXIT_INTERNAL_ERROR} "
                    f"internal error (a bug: please report it), 130 interrupted.")
@click.version_option(__version__, "--version", prog_name="rppgbench")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.option("-q", "--quiet", is_flag=True,
              help="No progress lines (generate, prepare, train, predict); warnings and errors still show.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """rppgbench: prepare rPPG datasets, run paper protocols, report and compare.

    Long steps show their progress on stderr (redrawn on a terminal, plain lines in a log); -q turns it off."""
    _setup_logging(verbose, quiet)
    previous = warnings.showwarning
    warnings.showwarning = _warning_to_log  # library and numpy warnings go through the logger while a command runs

    def _restore() -> None:
        warnings.showwarning = previous

    ctx.call_on_close(_restore)


def is_user_error(exc: BaseException) -> bool:
    """Errors caused by the input (a file, an option, a name): a one-line message and exit code 2. Everything
    else is a bug in rppgbench: the package's own errors (:class:`~rppgbench._checks.RppgbenchError`), an unknown
    registry name (:class:`~rppgbench._registry.RegistryError`), a missing or unwritable file (``OSError``) and
    ``ValueError`` (what the argument checks of ``rppgbench._checks`` raise) are input errors; a plain
    ``KeyError``, ``TypeError``, ``AttributeError``, ... is a bug."""
    return isinstance(exc, (RppgbenchError, RegistryError, OSError, ValueError))


def _report_bug(exc: BaseException) -> None:
    click.echo(traceback.format_exc().rstrip(), err=True)
    click.echo(f"rppgbench {__version__}: internal error {type(exc).__name__}: {exc}\n"
               "This is a bug (in rppgbench or a plugin), not a problem with your input. Please report it with the "
               "traceback above, the command you ran and the output of `rppgbench sys-info`.", err=True)


def main(argv: list[str] | None = None) -> None:
    """Console entry point. Exit codes: 0 success; 1 the command ran but found failures (a recording that failed
    in ``prepare``, an entry with problems in ``leaderboard verify``); 2 bad input or usage (one-line message,
    no traceback); 3 a bug (its traceback, with a request to report it); 130 interrupted."""
    try:
        rv = cli.main(args=argv, prog_name="rppgbench", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:
        if not is_user_error(exc):
            _report_bug(exc)
            sys.exit(EXIT_INTERNAL_ERROR)
        logger.debug("error detail", exc_info=True)
        msg = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        click.echo(f"Error: {msg}", err=True)
        sys.exit(EXIT_USER_ERROR)
    # with standalone_mode=False click returns the code of ctx.exit(n) instead of exiting: pass it on
    sys.exit(rv if isinstance(rv, int) else 0)
