"""Which store a run uses (issue 14 H3, M1, M2, M9): a store is keyed by everything that determines its bytes, a
store made with ``prepare --limit`` is never used for a full protocol without a word, and a changed raw file is
prepared again."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rppgbench._checks import DataError
from rppgbench.datasets.synthetic import write_raw_dataset
from rppgbench.runner import RunOptions, run_protocol
from rppgbench.store import open_store, prepare

pytestmark = pytest.mark.filterwarnings("ignore:Pearson needs at least 3 windows")

PROTO = """protocol: {name}
version: 1
citation: {{paper: "test"}}
datasets:
  synthetic:
    recipe: {{base: fp72, size: 32}}
{generate}
splits:
  test: {{dataset: synthetic, subjects: all}}
models: [pos]
evaluation: {{window_s: null}}
"""
GEN = "    generate: {{recordings: 2, recordings_per_subject: 1, seconds: {s}, preset: clean, seed: {seed}, " \
      "width: 160, height: 120}}"


def _proto(tmp_path: Path, name: str, generate: str = "") -> Path:
    p = tmp_path / f"{name}.yaml"
    p.write_text(PROTO.format(name=name, generate=generate))
    return p


def _raw(path: Path, seed: int = 16, preset: str = "clean") -> Path:
    return write_raw_dataset(path, recordings=2, recordings_per_subject=1, seconds=3, preset=preset, seed=seed,
                             width=160, height=120)


def _per_rec(res: dict, model: str = "pos") -> dict[str, float]:
    """Per-recording HR of ``model`` (the null baseline's rows are in every run too)."""
    return {r["recording"]: r["hr_pred"] for r in res["per_recording"] if r["model"] == model}


@pytest.fixture
def no_raw_env(monkeypatch):
    monkeypatch.delenv("RPPGBENCH_RAW_SYNTHETIC", raising=False)


def test_other_generate_block_gets_its_own_store(tmp_path, no_raw_env):
    """H3: protocol B (another seed and length) never evaluates protocol A's data."""
    a = _proto(tmp_path, "pa", GEN.format(s=3, seed=16))
    b = _proto(tmp_path, "pb", GEN.format(s=4, seed=17))
    ra = run_protocol(RunOptions(a, output=tmp_path / "oa", report=False))
    rb = run_protocol(RunOptions(b, output=tmp_path / "ob", report=False))
    sa, sb = (list(r["provenance"]["stores"].values())[0] for r in (ra, rb))
    assert sa != sb
    assert {open_store(sa).n_frames(i) for i in open_store(sa).recording_ids()} == {90}
    assert {open_store(sb).n_frames(i) for i in open_store(sb).recording_ids()} == {120}
    assert _per_rec(ra) != _per_rec(rb)
    key = next(iter(rb["provenance"]["store_keys"].values()))
    assert key["source"] == open_store(sb).attrs["source"] and key["limit"] is None


def test_other_raw_folder_at_the_same_data_root_gets_its_own_store(tmp_path, no_raw_env):
    """M9: --raw synthetic=A then --raw synthetic=B (same recipe, same data root) evaluate A and B."""
    A = _raw(tmp_path / "A", seed=16)
    B = _raw(tmp_path / "B", seed=16, preset="motion")
    p = _proto(tmp_path, "pm")
    ra = run_protocol(RunOptions(p, output=tmp_path / "oa", raw={"synthetic": str(A)}, report=False))
    rb = run_protocol(RunOptions(p, output=tmp_path / "ob", raw={"synthetic": str(B)}, report=False))
    assert ra["provenance"]["stores"] != rb["provenance"]["stores"]
    assert _per_rec(ra) != _per_rec(rb)
    # without --raw the run cannot tell which of the two stores is meant: it asks
    with pytest.raises(DataError, match=r"has 2 prepared stores of recipe .* say which raw folder"):
        run_protocol(RunOptions(p, output=tmp_path / "oc", report=False))


def test_limited_store_is_refused_for_a_full_protocol_and_completed_with_raw(tmp_path, no_raw_env):
    """M1: `prepare --limit 1` (raw has 2) then `run` of a protocol testing all subjects."""
    raw = _raw(tmp_path / "raw", seed=16)
    p = _proto(tmp_path, "pl")
    s = prepare("synthetic", raw, recipe={"base": "fp72", "size": 32}, workers=0, limit=1)
    st = open_store(s.store)
    assert st.limited() == ["s02_r00"] and "--limit 1" in st.missing()["s02_r00"]
    exe = Path(sys.executable).with_name("rppgbench")
    r = subprocess.run([str(exe), "run", str(p), "--output", str(tmp_path / "o1")], capture_output=True, text=True,
                       env={**os.environ}, timeout=600)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "holds 1 of the 2 recordings of its raw folder: it was prepared with --limit 1" in r.stderr
    assert "Traceback" not in r.stderr
    # run --limit: a smoke test on the partial store, said loudly and recorded
    res = run_protocol(RunOptions(p, output=tmp_path / "o2", limit=1, report=False))
    prov = res["provenance"]
    assert list(prov["store_keys"].values())[0]["limit"] == 1 and prov["limit"] == 1
    assert "--limit 1" in list(prov["store_missing"].values())[0]["s02_r00"]
    # with the raw folder known the run completes the store first
    res = run_protocol(RunOptions(p, output=tmp_path / "o3", raw={"synthetic": str(raw)}, report=False))
    assert sorted(_per_rec(res)) == ["s01_r00", "s02_r00"] and open_store(s.store).limited() == []


def test_run_with_raw_prepares_a_changed_recording_again(tmp_path, no_raw_env):
    """M2 through `run`: a label file changed after preparing is noticed (sha256), not silently reused."""
    raw = _raw(tmp_path / "raw", seed=16)
    p = _proto(tmp_path, "pc")
    run_protocol(RunOptions(p, output=tmp_path / "o1", raw={"synthetic": str(raw)}, report=False))
    st = open_store(next(iter(run_protocol(RunOptions(p, output=tmp_path / "o2", raw={"synthetic": str(raw)},
                                                      report=False))["provenance"]["stores"].values())))
    before = st.read_label("s02_r00")
    ppg = raw / "s02_r00" / "ppg.csv"
    head, *rows = ppg.read_text().splitlines()
    ppg.write_text("\n".join([head] + [f"{t},{-float(v)!r}" for t, v in (r.split(",") for r in rows)]) + "\n")
    run_protocol(RunOptions(p, output=tmp_path / "o3", raw={"synthetic": str(raw)}, report=False))
    st.refresh()
    assert (st.read_label("s02_r00") != before).any()
