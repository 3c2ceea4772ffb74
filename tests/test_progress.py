"""Progress of long steps: library records (rppgbench._progress), drawn by the CLI on stderr; -q hides them."""
from __future__ import annotations

import io
import logging
import subprocess

from rppgbench._progress import PROGRESS_LOGGER, Progress
from rppgbench.cli._progress import ProgressHandler


def _with_handler(handler: logging.Handler):
    PROGRESS_LOGGER.addHandler(handler)
    old = PROGRESS_LOGGER.level
    PROGRESS_LOGGER.setLevel(logging.INFO)
    return old


def test_plain_lines_when_not_a_tty_first_milestones_and_last():
    buf = io.StringIO()
    h = ProgressHandler(buf, tty=False, every_s=3600)
    old = _with_handler(h)
    try:
        bar = Progress("train", 6, label="m", unit="steps")
        for i in range(1, 7):
            bar.update(i, milestone=i == 3, loss=0.5)
    finally:
        PROGRESS_LOGGER.removeHandler(h)
        PROGRESS_LOGGER.setLevel(old)
    lines = buf.getvalue().splitlines()
    assert [ln.split("  ")[1].split()[0] for ln in lines] == ["1/6", "3/6", "6/6"]  # throttled in between
    assert "\r" not in buf.getvalue() and "\x1b" not in buf.getvalue()
    assert lines[0].startswith("train m  1/6 steps  17%") and "loss 0.5" in lines[0] and "ETA" in lines[0]
    assert "ETA" not in lines[-1]


def test_tty_redraws_one_line_and_keeps_it_when_another_step_starts():
    buf = io.StringIO()
    h = ProgressHandler(buf, tty=True)
    old = _with_handler(h)
    try:
        a = Progress("prepare", 2, label="x", unit="recordings")
        a.update(1)
        b = Progress("train", 2, label="y", unit="steps")
        b.update(1)
        h.break_line()
        b.update(2)
    finally:
        PROGRESS_LOGGER.removeHandler(h)
        PROGRESS_LOGGER.setLevel(old)
    out = buf.getvalue()
    assert out.count("\r\x1b[2K") == 3
    assert out.split("\n")[0].endswith("prepare x  1/2 recordings  50% · 0s elapsed, ETA 0s")
    assert out.endswith("100% · 0s elapsed\n")


def test_records_stay_off_the_package_log_and_are_not_built_without_a_listener(monkeypatch):
    assert PROGRESS_LOGGER.propagate is False  # never mixed into the "rppgbench" log lines
    built = []
    monkeypatch.setattr("rppgbench._progress.ProgressEvent.text", lambda self: built.append(self) or "")
    old = PROGRESS_LOGGER.level
    PROGRESS_LOGGER.setLevel(logging.WARNING)  # what -q and a library user without a handler get
    try:
        Progress("generate", 1).update(1)
    finally:
        PROGRESS_LOGGER.setLevel(old)
    assert built == []


def _synth(tmp_path, *flags):
    return subprocess.run(["rppgbench", *flags, "synth", str(tmp_path / "raw"), "--recordings", "2", "--seconds",
                           "2", "--size", "64x48"], capture_output=True, text=True, timeout=300)


def test_cli_shows_progress_on_stderr_and_q_hides_it(tmp_path):
    r = _synth(tmp_path)
    assert r.returncode == 0, r.stderr
    assert "generate raw  2/2 recordings 100%" in r.stderr  # stderr is a pipe here: plain lines
    assert "generate" not in r.stdout
    r = _synth(tmp_path, "-q")
    assert r.returncode == 0, r.stderr
    assert "generate" not in r.stderr


def test_prepare_and_run_share_the_worker_default():
    from rppgbench.cli._options import PREPARE_WORKERS
    from rppgbench.cli.prepare import prepare
    from rppgbench.cli.run import run

    defaults = [next(p.default for p in cmd.params if p.name == "workers") for cmd in (prepare, run)]
    assert defaults == [PREPARE_WORKERS, PREPARE_WORKERS] and PREPARE_WORKERS >= 1
