"""Degenerate raw data is refused by ``prepare`` (issue 14 L5, L7): frame clocks that do not advance or are in the
wrong unit, flat ground truth. (L6 detector QC and L11's corrupt-versus-faceless video: tests/test_extraction.py.)"""
from __future__ import annotations

import numpy as np
import pytest

from rppgbench._checks import DataError
from rppgbench.datasets import get_adapter
from rppgbench.datasets._io import check_frame_clock, repair_timestamps
from rppgbench.datasets.fixtures import write_ubfc_rppg
from rppgbench.store import prepare

RECIPE = {"size": 24, "detect_every": 0, "no_face": "whole"}  # the UBFC fixture holds no real face


@pytest.fixture
def ubfc(tmp_path):
    root = tmp_path / "ubfc"
    write_ubfc_rppg(root, subjects=(1, 3), seconds=4.0)
    return root


def _gt_lines(root, subject):
    p = root / f"subject{subject}" / "ground_truth.txt"
    return p, [ln.split() for ln in p.read_text().splitlines() if ln.strip()]


def _write_gt(p, rows):
    p.write_text("\n".join(" ".join(r) for r in rows) + "\n")


def test_all_equal_and_millisecond_frame_clocks_are_refused(ubfc, tmp_path):
    """L5: UBFC line 3 all 0.0 (was: a made-up 1 s clock, fps_measured 1.0) or in ms (was: fps 0.029)."""
    p, rows = _gt_lines(ubfc, 1)
    _write_gt(p, [rows[0], rows[1], ["0.0"] * len(rows[2])])
    p3, rows3 = _gt_lines(ubfc, 3)
    _write_gt(p3, [rows3[0], rows3[1], [repr(float(v) * 1000.0) for v in rows3[2]]])
    s = prepare(get_adapter("ubfc_rppg"), ubfc, recipe=RECIPE, out=tmp_path / "s.zarr", workers=0)
    assert s.written == [] and sorted(s.failed) == ["subject1", "subject3"]
    assert f"{p}: all {len(rows[2])} timestamps are equal (0): the file holds no frame clock" in s.failed["subject1"]
    assert "frame timestamps imply 0.03" in s.failed["subject3"] and "timestamps in milliseconds?" in \
        s.failed["subject3"] and "vid.avi" in s.failed["subject3"]


def test_frame_clock_check_on_its_own():
    t = np.arange(100) / 30.0
    check_frame_clock(t, 30.0, "v.avi", "r")  # a good clock passes
    check_frame_clock(t * (30 / 29.5), 30.0, "v.avi", "r")  # UBFC-like 29.5 fps passes
    with pytest.raises(DataError, match=r"r: v\.avi: frame timestamps imply 300 fps"):
        check_frame_clock(t / 10, 30.0, "v.avi", "r")
    with pytest.raises(DataError, match=r"frame timestamps decrease at frame 51"):
        check_frame_clock(np.r_[t[:51], t[51:] - 1.0], 30.0, "v.avi", "r")
    with pytest.raises(DataError, match=r"do not advance \(median interval 0 s"):
        check_frame_clock(np.r_[np.zeros(60), t[:40]], 30.0, "v.avi", "r")
    with pytest.raises(DataError, match="all 5 timestamps are equal"):
        repair_timestamps(np.zeros(5), "gt.txt", "r")


def test_flat_ground_truth_is_refused(ubfc, tmp_path):
    """L7: UBFC line 1 all 1.0 (a dead sensor) was written with label_std 0."""
    p, rows = _gt_lines(ubfc, 3)
    _write_gt(p, [["1.0"] * len(rows[0]), rows[1], rows[2]])
    s = prepare(get_adapter("ubfc_rppg"), ubfc, recipe=RECIPE, out=tmp_path / "s.zarr", workers=0)
    assert s.written == ["subject1"]
    assert f"{p}: the label is constant (1) over all" in s.failed["subject3"]
    assert "dead or disconnected sensor" in s.failed["subject3"]
