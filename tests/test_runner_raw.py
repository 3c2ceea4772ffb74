"""The runner never regenerates synthetic data over a raw folder the user gave it."""
from __future__ import annotations

from rppgbench.datasets.synthetic import write_raw_dataset
from rppgbench.runner import _ensure_synthetic_raw


def _snapshot(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_user_synthetic_raw_is_used_as_given(tmp_path):
    raw = write_raw_dataset(tmp_path / "mine", recordings=1, seconds=2, preset="clean", seed=3, width=64, height=48)
    before = _snapshot(raw)
    generate = {"recordings": 2, "seconds": 3, "preset": "mixed", "seed": 16, "width": 96, "height": 72}
    assert _ensure_synthetic_raw(generate, raw) == raw
    assert _snapshot(raw) == before


def test_missing_raw_folder_is_generated_from_the_protocol_block(tmp_path):
    target = tmp_path / "new"
    generate = {"recordings": 1, "seconds": 2, "preset": "clean", "seed": 1, "width": 64, "height": 48}
    assert _ensure_synthetic_raw(generate, target) == target
    assert (target / "manifest.csv").is_file() and (target / ".rppgbench_generated.json").is_file()
