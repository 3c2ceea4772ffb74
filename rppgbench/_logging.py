"""The package logger. Library code logs through ``logger`` and returns values; only the CLI prints."""
from __future__ import annotations

import logging

logger = logging.getLogger("rppgbench")
logger.addHandler(logging.NullHandler())

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def set_log_level(level: int | str | bool | None) -> None:
    """Set the package log level. ``True`` means INFO, ``False``/``None`` WARNING."""
    if level is True:
        level = logging.INFO
    elif level is None or level is False:
        level = logging.WARNING
    elif isinstance(level, str):
        if level.lower() not in _LEVELS:
            raise ValueError(f"log level must be one of {sorted(_LEVELS)}, got {level!r}")
        level = _LEVELS[level.lower()]
    logger.setLevel(level)


