"""One writer per store: an exclusive lock file that names its holder, with a stale-lock rule.

The lock is a small JSON file created with ``O_CREAT | O_EXCL`` (atomic on local filesystems and on NFSv3+):
``{"host", "pid", "pid_started", "run_id", "started", "command"}``. While it is held a daemon thread touches it
every :data:`HEARTBEAT_S` seconds. A lock is **stale**, and is taken over, when

* its holder ran on this host and that process no longer exists, or exists with another start time (the pid was
  reused), or
* its holder ran on another host and the file has not been touched for :data:`STALE_AFTER_S` seconds
  (a live holder touches it every :data:`HEARTBEAT_S` s; the other host's processes cannot be inspected).

Anything else is refused with an error naming the holder (host, pid, run, start time) and the lock file.
Taking over a stale lock is itself serialised by a short-lived ``<lock>.break`` file so that two runs that
find the same stale lock cannot both win.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from rppgbench._checks import DataError
from rppgbench._logging import logger

__all__ = ["StoreLock", "StoreBusyError", "HEARTBEAT_S", "STALE_AFTER_S", "holder_alive"]

HEARTBEAT_S = 30.0
STALE_AFTER_S = 600.0
#: a ``.break`` file older than this was left by a run killed while breaking a stale lock
_BREAK_STALE_S = 60.0


class StoreBusyError(DataError):
    """Another live run holds the store's lock."""


def _pid_started(pid: int) -> float | None:
    """Start time of process ``pid`` (clock ticks since boot, from /proc), or None when unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:  # the command name (field 2) may hold spaces and parentheses: split after the last ')'
        return float(stat.rsplit(")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return None


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def holder_alive(info: dict[str, Any], mtime: float, now: float | None = None) -> bool:
    """The stale-lock rule (see the module docstring): True while the holder must be considered alive."""
    now = time.time() if now is None else now
    if info.get("host") == socket.gethostname():
        pid = info.get("pid")
        if not isinstance(pid, int) or not _pid_exists(pid):
            return False
        started = _pid_started(pid)
        return info.get("pid_started") is None or started is None or started == info.get("pid_started")
    return now - mtime < STALE_AFTER_S


class StoreLock:
    """Exclusive lock of one store (use as a context manager, or :meth:`acquire` / :meth:`release`)."""

    def __init__(self, path: str | os.PathLike, store: str | os.PathLike, heartbeat_s: float = HEARTBEAT_S) -> None:
        self.path = Path(path)
        self.store = Path(store)
        self.heartbeat_s = heartbeat_s
        self.run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.info = {"host": socket.gethostname(), "pid": os.getpid(), "pid_started": _pid_started(os.getpid()),
                     "run_id": self.run_id, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                     "command": " ".join(sys.argv)[:500]}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = False

    # -- acquisition -------------------------------------------------------------------------
    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(self.info, fh)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:  # e.g. disk full: leave no empty lock behind
            self.path.unlink(missing_ok=True)
            raise
        return True

    def _read(self) -> tuple[dict[str, Any] | None, float | None]:
        try:
            text = self.path.read_text()
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return None, None
        try:
            info = json.loads(text)
        except ValueError:  # a holder killed between creating and writing the file: treat as a dead local holder
            info = {}
        return (info if isinstance(info, dict) else {}), mtime

    def _break_stale(self, seen: dict[str, Any]) -> None:
        """Remove the stale lock ``seen`` unless another run replaced it meanwhile."""
        brk = self.path.with_name(self.path.name + ".break")
        try:
            fd = os.open(brk, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                if time.time() - brk.stat().st_mtime > _BREAK_STALE_S:
                    brk.unlink()
            except FileNotFoundError:
                pass
            return
        os.close(fd)
        try:
            now, _ = self._read()
            if now == seen:  # still the same stale holder: nobody else took it over
                self.path.unlink()
        finally:
            brk.unlink(missing_ok=True)

    def acquire(self) -> StoreLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(20):
            if self._create():
                self._start_heartbeat()
                return self
            info, mtime = self._read()
            if info is None:
                continue  # released between our two calls
            if not info:
                # an empty or torn file: the holder died while writing it, or is writing it right now
                if time.time() - (mtime or 0) < 5.0:
                    time.sleep(0.2)
                    continue
            elif holder_alive(info, mtime or 0.0):
                raise StoreBusyError(
                    f"the store is being written by another run: host {info.get('host')}, pid {info.get('pid')}, "
                    f"run {info.get('run_id')}, started {info.get('started')} ({info.get('command', '')!s:.120}). "
                    f"Wait for it to finish. If that run is dead (e.g. on another machine), delete the lock file "
                    f"{self.path}; a lock on another host counts as stale {STALE_AFTER_S:.0f} s after its last "
                    "heartbeat", path=self.store)
            logger.warning("taking over the stale lock of store %s (holder host %s pid %s run %s is gone)",
                           self.store, info.get("host"), info.get("pid"), info.get("run_id"))
            self._break_stale(info)
        raise StoreBusyError(f"could not acquire the lock file {self.path} (contended)", path=self.store)

    # -- heartbeat ---------------------------------------------------------------------------
    def owned(self) -> bool:
        info, _ = self._read()
        return info == self.info

    def check(self) -> None:
        """Raise when the lock was taken away (only a broken rule or a manual delete can do that)."""
        if self.lost or not self.owned():
            self.lost = True
            raise StoreBusyError(f"lost the store lock {self.path} (deleted or taken over by another run); "
                                 "nothing more is published by this run", path=self.store)

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            if not self.owned():
                self.lost = True
                logger.error("store lock %s is no longer held by this run", self.path)
                return
            try:
                os.utime(self.path)
            except OSError as exc:
                logger.warning("cannot refresh the store lock %s: %s", self.path, exc)

    def _start_heartbeat(self) -> None:
        self._thread = threading.Thread(target=self._beat, name="rppgbench-store-lock", daemon=True)
        self._thread.start()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.owned():
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> StoreLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()
