"""Progress of long steps (generate, prepare, train, predict) as log records, never printed here.

Library code creates a :class:`Progress` per step and calls :meth:`Progress.update`; each update is a record on
the logger ``rppgbench.progress`` (level INFO, ``propagate=False``) carrying a :class:`ProgressEvent` in
``record.progress``. Nothing shows unless a handler is attached: the CLI attaches one that draws a line on a
terminal and writes plain lines in a log (``rppgbench/cli/_progress.py``); ``-q`` attaches none. A Python user
can attach their own handler::

    import logging
    from rppgbench._progress import PROGRESS_LOGGER
    PROGRESS_LOGGER.setLevel(logging.INFO)
    PROGRESS_LOGGER.addHandler(my_handler)   # record.progress is a ProgressEvent
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PROGRESS_LOGGER", "Progress", "ProgressEvent"]

PROGRESS_LOGGER = logging.getLogger("rppgbench.progress")
PROGRESS_LOGGER.propagate = False  # progress is drawn by its own handler, not mixed into the log
PROGRESS_LOGGER.addHandler(logging.NullHandler())


@dataclass(frozen=True)
class ProgressEvent:
    """One update of a step: ``done`` of ``total`` ``unit`` after ``elapsed_s``; ``eta_s`` is the remaining time
    at the rate of this step so far (``None`` before the first unit). ``milestone`` marks an update that a log
    should always keep (an epoch's end, the last unit)."""

    stage: str
    label: str
    done: int
    total: int
    unit: str
    elapsed_s: float
    eta_s: float | None
    fields: dict[str, Any] = field(default_factory=dict)
    milestone: bool = False

    def text(self) -> str:
        """``train physnet  37/120 steps  31% · epoch 2/5 · loss 0.4312 · 12s elapsed, ETA 27s``."""
        pct = f" {100.0 * self.done / self.total:3.0f}%" if self.total else ""
        parts = [f"{self.stage} {self.label}".strip() + f"  {self.done}/{self.total} {self.unit}{pct}"]
        for k, v in self.fields.items():
            parts.append(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}")
        eta = "" if self.eta_s is None or self.done >= self.total else f", ETA {_fmt_s(self.eta_s)}"
        parts.append(f"{_fmt_s(self.elapsed_s)} elapsed{eta}")
        return " · ".join(parts)


def _fmt_s(s: float) -> str:
    s = max(0.0, float(s))
    if s < 60:
        return f"{s:.0f}s"
    if s < 3600:
        return f"{int(s // 60)}m{int(s % 60):02d}s"
    return f"{int(s // 3600)}h{int(s % 3600 // 60):02d}m"


class Progress:
    """Progress of one step of ``total`` units. ``start`` units may already be done (a resumed step): the ETA
    uses the rate of the units done in this process only."""

    def __init__(self, stage: str, total: int, *, label: str = "", unit: str = "", start: int = 0) -> None:
        self.stage, self.label, self.unit = stage, label, unit
        self.total, self.start = int(total), int(start)
        self.t0 = time.perf_counter()

    def update(self, done: int, *, milestone: bool = False, **fields: Any) -> None:
        if not PROGRESS_LOGGER.isEnabledFor(logging.INFO):
            return
        elapsed = time.perf_counter() - self.t0
        ran = done - self.start
        eta = elapsed / ran * (self.total - done) if ran > 0 else None
        ev = ProgressEvent(self.stage, self.label, int(done), self.total, self.unit, elapsed, eta, dict(fields),
                           milestone or done >= self.total)
        PROGRESS_LOGGER.info("%s", ev.text(), extra={"progress": ev})
