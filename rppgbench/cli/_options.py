"""Options shared by several commands, so each concept has one spelling and one default everywhere.

- ``--output``: where a command writes (``prepare``, ``run``, ``report``, ``infer``, ``leaderboard build``). The
  old spelling ``--out`` still works on the commands that had it: it is hidden from ``--help`` and logs a
  deprecation warning.
- ``--workers``: processes that prepare stores (``prepare`` and ``run``; default :data:`PREPARE_WORKERS`).
- ``--device``: torch device; default CUDA when torch sees a GPU, else CPU (``run`` and ``infer``).
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from rppgbench._logging import logger

__all__ = ["output_option", "device_option", "workers_option", "DEVICE_HELP", "PREPARE_WORKERS"]

#: worker processes for preparing stores, the one default of ``prepare --workers`` and ``run --workers``
PREPARE_WORKERS = 2

DEVICE_HELP = "torch device (cpu, cuda, cuda:1); default CUDA when torch sees a GPU, else CPU."


def _deprecated_alias(old: str, new: str, dest: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A hidden option ``old`` that sets parameter ``dest`` (the option ``new``) and warns that it is deprecated."""
    alias_dest = f"_alias_{dest}"

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            value = kwargs.pop(alias_dest, None)
            if value is not None:
                logger.warning("%s is deprecated; use %s", old, new)
                if kwargs.get(dest) is not None and kwargs[dest] != value:
                    raise click.UsageError(f"{old} (deprecated) and {new} disagree; give {new} only")
                kwargs[dest] = value
            return fn(*args, **kwargs)

        return click.option(old, alias_dest, hidden=True, default=None, type=click.Path(path_type=str))(wrapper)

    return deco


def output_option(help: str, *, dest: str = "output", file_okay: bool = False,
                  deprecated: tuple[str, ...] = ()) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--output PATH`` stored as ``dest``; each spelling in ``deprecated`` (e.g. ``"--out"``) is a hidden alias."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        for old in deprecated:
            fn = _deprecated_alias(old, "--output", dest)(fn)
        return click.option("--output", dest, type=click.Path(file_okay=file_okay, path_type=str), default=None,
                            help=help)(fn)

    return deco


def device_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--device`` with the one default rule (:func:`rppgbench.training.trainer.resolve_device`)."""
    return click.option("--device", default=None, help=DEVICE_HELP)(fn)


def workers_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--workers N`` for preparing stores, with the one default :data:`PREPARE_WORKERS`."""
    return click.option("--workers", type=click.IntRange(min=0), default=PREPARE_WORKERS, show_default=True,
                        help="Local dask worker processes that prepare stores (0: run in this process).")(fn)
