"""Draws the library's progress records (:mod:`rppgbench._progress`) on stderr.

On a terminal one line per step is redrawn in place (at most 10 times a second) and kept when the step ends or
another step draws; when
stderr is not a terminal (CI logs, a file) plain lines are written: the first update of a step, milestones (an
epoch's end, the last unit) and otherwise one line every ``RPPGBENCH_PROGRESS_EVERY`` seconds (default 10).
"""
from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any, TextIO

__all__ = ["ProgressHandler", "install"]


class ProgressHandler(logging.Handler):
    def __init__(self, stream: TextIO | None = None, tty: bool | None = None, every_s: float | None = None) -> None:
        super().__init__(logging.INFO)
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(tty if tty is not None else getattr(self.stream, "isatty", lambda: False)())
        if every_s is None:
            try:
                every_s = float(os.environ.get("RPPGBENCH_PROGRESS_EVERY", "10"))
            except ValueError:
                every_s = 10.0
        self.every_s = every_s
        self._last: dict[tuple[str, str], float] = {}
        self._open = False  # a redrawn line without its newline yet (terminal only)
        self._open_key: tuple[str, str] | None = None

    def break_line(self) -> None:
        """End the line being redrawn, so that a log line written next starts on its own line."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False

    def emit(self, record: logging.LogRecord) -> None:
        ev: Any = getattr(record, "progress", None)
        if ev is None:
            return
        try:
            key, now = (ev.stage, ev.label), time.monotonic()
            first = key not in self._last
            due = now - self._last.get(key, -1e9) >= (0.1 if self.tty else self.every_s)
            if not (first or due or ev.milestone):
                return
            self._last[key] = now
            text = ev.text()
            if self.tty:
                if self._open and self._open_key != key:
                    self.break_line()  # another step's line stays as it was last drawn
                self._open_key = key
                self.stream.write("\r\x1b[2K" + text)
                self._open = True
                if ev.done >= ev.total:
                    self.stream.write("\n")
                    self._open = False
            else:
                self.stream.write(text + "\n")
            self.stream.flush()
        except Exception:  # drawing progress must never break a run
            self.handleError(record)


class _BreakLine(logging.Filter):
    def __init__(self, handler: ProgressHandler) -> None:
        super().__init__()
        self.handler = handler

    def filter(self, record: logging.LogRecord) -> bool:
        self.handler.break_line()
        return True


def install(quiet: bool, log_handler: logging.Handler | None = None) -> ProgressHandler | None:
    """Attach a :class:`ProgressHandler` to ``rppgbench.progress`` (none with ``quiet``); log lines written by
    ``log_handler`` first end a line being redrawn."""
    from rppgbench._progress import PROGRESS_LOGGER

    PROGRESS_LOGGER.handlers = [h for h in PROGRESS_LOGGER.handlers if not isinstance(h, ProgressHandler)]
    if quiet:
        PROGRESS_LOGGER.setLevel(logging.WARNING)
        return None
    handler = ProgressHandler()
    PROGRESS_LOGGER.addHandler(handler)
    PROGRESS_LOGGER.setLevel(logging.INFO)
    if log_handler is not None:
        log_handler.addFilter(_BreakLine(handler))
    return handler
