"""README.md tells the truth: its registry tables match the registries, and CI runs its two commands."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from rppgbench import docs_tables

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", docs_tables.TABLES)
def test_readme_tables_match_registries(name):
    current = docs_tables.extract(README, name)
    assert current is not None, f"README.md lacks the <!-- table:{name} --> block"
    assert current == docs_tables.render(name), (
        f"README.md's {name} table is out of date: run `python -m rppgbench.docs_tables --write README.md`")


def _setup_commands() -> list[str]:
    section = README.split("## Set up (two commands)", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)\n```", section, re.S)


def test_readme_has_exactly_two_setup_commands_and_ci_runs_them():
    install, tests = _setup_commands()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for step in install.split(" && ")[:2]:  # the install steps (the main job runs in the tests)
        assert step in ci, f".ci/run does not run README's install step {step!r}"
    assert tests.strip() in ci, ".ci/run does not run README's test command"
    assert "rppgbench run synthetic_quick" in install


def test_readme_main_job_protocol_exists():
    from rppgbench.protocols import LIBRARY, find_protocol

    assert find_protocol("synthetic_quick") == LIBRARY / "synthetic" / "synthetic_quick.yaml"
