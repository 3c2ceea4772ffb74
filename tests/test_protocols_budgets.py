"""Protocol files are input with budgets (issue 14 M5, L4, L8): alias bombs, recursive aliases, deep nesting,
tags on sequences, includes outside the allowed folders, non-UTF-8 files, non-finite or absurd numbers."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rppgbench._checks import ProtocolError
from rppgbench.protocols import load_protocol

GOOD = """protocol: {name}
version: 1
citation: {{paper: "test"}}
datasets:
  synthetic: {{recipe: fp72}}
splits:
  test: {{dataset: synthetic, subjects: all}}
models: [pos]
"""


def _write(tmp_path: Path, name: str, extra: str = "", text: str | None = None) -> Path:
    p = tmp_path / f"{name}.yaml"
    p.write_text(GOOD.format(name=name) + extra if text is None else text)
    return p


def _validate(path: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("rppgbench")
    return subprocess.run([str(exe), "validate", str(path)], capture_output=True, text=True, timeout=300)


BOMB = "x0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10))


def test_alias_bomb_is_refused_fast_and_small(tmp_path):
    """M5: 9 levels of 9 aliases (~600 bytes) expand to 9**10 items; refused before expansion, exit 2."""
    p = _write(tmp_path, "bomb", text=GOOD.format(name="bomb") + BOMB)
    assert p.stat().st_size < 1000
    exe = Path(sys.executable).with_name("rppgbench")
    # a fresh wrapper process, so that ru_maxrss of its children is the validate command's own peak
    code = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
            "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.stderr.write(r.stderr)")
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-c", code, str(exe), "validate", str(p)], capture_output=True, text=True,
                       timeout=300)
    rc, kb = map(int, r.stdout.split())
    assert rc == 2 and "alias bomb" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert time.monotonic() - t0 < 60
    assert kb / 1024 < 300, f"peak RSS {kb / 1024:.0f} MB"


@pytest.mark.parametrize("text, msg", [
    ("x: &a [*a]\n", r"recursive alias at x"),
    ("x: &a {k: *a}\n", r"recursive alias at x"),
    ("x: " + "[" * 5000 + "]" * 5000 + "\n", r"nested more than 64 levels deep"),
    ("x: " + "".join(f"\n{'  ' * i}k{i}:" for i in range(1, 80)) + " 1\n", r"nested more than 64 levels deep"),
    ("x: !!python/tuple [1, 2]\n", r"unsupported YAML tag 'tag:yaml.org,2002:python/tuple'"),
    ("x: !!python/object:os.system {a: 1}\n", r"unsupported YAML tag"),
    ("x: !!python/name:os.system ''\n", r"could not determine a constructor"),
    ("x: [" + ", ".join(["*a"] * 1001) + "]\ny: &a 1\n", r"found undefined alias|more than 1000 alias uses"),
])
def test_yaml_budgets_and_tags(tmp_path, text, msg):
    p = _write(tmp_path, "t", text=GOOD.format(name="t") + text)
    with pytest.raises(ProtocolError, match=msg) as exc:
        load_protocol(p)
    assert str(exc.value).startswith(str(p.name)) or str(p) in str(exc.value)


def test_include_may_not_leave_the_allowed_folders(tmp_path, monkeypatch):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.yaml").write_text("training: {epochs: 3}\n")
    proj = tmp_path / "proj"
    proj.mkdir()
    monkeypatch.chdir(proj)
    p = _write(proj, "inc", "include: ../elsewhere/secret.yaml\n")
    with pytest.raises(ProtocolError, match=r"include '\.\./elsewhere/secret\.yaml' points outside the protocols root"):
        load_protocol(p)
    p = _write(proj, "inc2", "include: ../../../../../../../../etc/passwd\n")
    with pytest.raises(ProtocolError, match="points outside"):
        load_protocol(p)
    (proj / "notes.txt").write_text("training: {epochs: 3}\n")
    p = _write(proj, "inc3", "include: notes.txt\n")
    with pytest.raises(ProtocolError, match=r"include 'notes\.txt' must be a \.yaml file"):
        load_protocol(p)
    (proj / "_base").mkdir()
    (proj / "_base" / "ok.yaml").write_text("training: {epochs: 3}\n")
    (proj / "fam").mkdir()
    p = _write(proj / "fam", "inc4", "include: ../_base/ok.yaml\n")  # a user's own tree below the working dir
    assert load_protocol(p).training.epochs == 3


def test_non_utf8_file_is_named(tmp_path):
    p = tmp_path / "latin.yaml"
    p.write_bytes(GOOD.format(name="latin").encode() + b"# caf\xe9\n")
    with pytest.raises(ProtocolError, match=r"latin\.yaml: not UTF-8 text \(byte \d+"):
        load_protocol(p)


@pytest.mark.parametrize("extra, msg", [
    ("evaluation: {window_s: .nan}\n", r"evaluation\.window_s must be a finite number; got nan"),
    ("evaluation: {window_s: .inf}\n", r"evaluation\.window_s must be a finite number; got inf"),
    ("evaluation: {window_s: 1000000}\n", r"evaluation\.window_s must be <= 86400"),
    ("training: {lr: .nan}\n", r"training\.lr must be a finite number; got nan"),
    ("training: {lr: 1.0e+9}\n", r"training\.lr must be <= 10"),
    ("training: {seed: 99999999999999}\n", r"training\.seed must be <= 4294967295"),
    ("training: {epochs: 1000000000}\n", r"training\.epochs must be <= 100000"),
    ("training: {seed: 99999999999999999999999}\n", r"training\.seed is out of range"),
])
def test_numbers_are_range_checked(tmp_path, extra, msg):
    p = _write(tmp_path, "n", extra)
    with pytest.raises(ProtocolError, match=msg):
        load_protocol(p)


def test_validate_exit_code_for_an_infinite_window(tmp_path):
    r = _validate(_write(tmp_path, "p_infwin", "evaluation: {window_s: .inf}\n"))
    assert r.returncode == 2 and "window_s must be a finite number" in r.stderr and "Traceback" not in r.stderr
    r = _validate(_write(tmp_path, "p_ok"))
    assert r.returncode == 0, r.stderr
    assert os.path.basename("p_ok.yaml") in r.stdout or "p_ok" in r.stdout
