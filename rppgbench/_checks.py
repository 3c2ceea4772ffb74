"""Uniform argument checks and the package's error types.

Every message names the parameter (or file/field), what was expected, and what was found.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = [
    "RppgbenchError", "DataError", "RecipeMismatchError", "ProtocolError", "CheckpointError",
    "SubmissionError", "check_option", "check_range", "SAFE_ID_RE", "check_safe_id", "shown",
]

import re

#: identifiers that may become file or group names: no separators, no "..", no leading dot
SAFE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


class RppgbenchError(Exception):
    """Base class of every error the package raises on bad input."""


class DataError(RppgbenchError):
    """A raw or prepared file is missing, unreadable or inconsistent. The message names the file."""

    def __init__(self, message: str, *, path: str | Path | None = None, recording: str | None = None) -> None:
        parts = []
        if recording is not None:
            parts.append(f"recording {recording}")
        if path is not None:
            parts.append(str(path))
        prefix = ": ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.path = None if path is None else Path(path)
        self.recording = recording


class RecipeMismatchError(RppgbenchError):
    """A store was written by another recipe, or a model contract disagrees with a recipe."""


class ProtocolError(RppgbenchError):
    """A protocol file is invalid (the message names file, line and key)."""


class CheckpointError(RppgbenchError):
    """A checkpoint cannot be loaded into a model (missing/unexpected/mis-shaped keys are listed)."""


class SubmissionError(RppgbenchError):
    """A leaderboard submission is malformed, incomplete or tampered with."""


def shown(value: Any, limit: int = 200) -> str:
    """``repr`` for an error message: numpy scalars as plain Python values (``1.5``, not ``np.float64(1.5)``),
    cut to ``limit`` characters."""
    if type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def check_option(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    allowed = list(allowed)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(repr(a) for a in allowed)}; got {shown(value)}")
    return value


def check_range(name: str, value: float, low: float | None = None, high: float | None = None,
                *, low_inclusive: bool = True, high_inclusive: bool = True) -> float:
    bad = (isinstance(value, float) and math.isnan(value))
    if low is not None:
        bad |= value < low if low_inclusive else value <= low
    if high is not None:
        bad |= value > high if high_inclusive else value >= high
    if bad:
        lo = "-inf" if low is None else f"{low}"
        hi = "inf" if high is None else f"{high}"
        lb = "[" if low_inclusive else "("
        hb = "]" if high_inclusive else ")"
        raise ValueError(f"{name} must be in {lb}{lo}, {hi}{hb}; got {shown(value)}")
    return value


def check_safe_id(name: str, value: str) -> str:
    """An identifier that may become a file or group name: letters, digits, ``_ . -``; no ``..``."""
    if not isinstance(value, str) or not SAFE_ID_RE.match(value) or ".." in value:
        raise ValueError(
            f"{name} must match {SAFE_ID_RE.pattern} and contain no '..'; got {shown(value)}"
        )
    return value
