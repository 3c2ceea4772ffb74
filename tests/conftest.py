"""Shared fixtures. Tests run on CPU, on data generated into tmp_path; nothing is downloaded."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(autouse=True)
def _isolated_data_root(tmp_path, monkeypatch):
    """Never write to the user's real store root from a test."""
    monkeypatch.setenv("RPPGBENCH_DATA", str(tmp_path / "_data"))
    monkeypatch.setenv("RPPGBENCH_RESULTS", str(tmp_path / "_results"))
