"""prepare: kill-and-resume gives the bytes of an uninterrupted run; dask scheduler path; worker crashes."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _store_toy import ToyAdapter, write_toy_raw

from rppgbench.store import open_store, prepare
from rppgbench.store._publish import work_dir

TESTS = Path(__file__).parent


def _tree(store: Path) -> dict[str, bytes]:
    """Every file under recordings/ (array chunks and their zarr.json) → bytes."""
    root = store / "recordings"
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def raw_and_reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    raw = root / "raw"
    ids = write_toy_raw(raw, n_recordings=3, n_frames=45)
    ref = root / "ref.zarr"
    s = prepare(ToyAdapter(), raw, out=ref, workers=0)
    assert s.ok and s.written == ids
    return raw, ref, ids


def test_killed_run_resumes_to_identical_bytes(raw_and_reference, tmp_path):
    raw, ref, ids = raw_and_reference
    out = tmp_path / "killed.zarr"
    gate = tmp_path / "gate-never-created"
    code = ("import sys; sys.path.insert(0, sys.argv[1]);"
            "from _store_toy import ToyAdapter; from rppgbench.store import prepare;"
            "prepare(ToyAdapter(), sys.argv[2], out=sys.argv[3], workers=0)")
    env = {**os.environ, "RPPGBENCH_TOY_GATE": str(gate)}
    proc = subprocess.Popen([sys.executable, "-c", code, str(TESTS), str(raw), str(out)], env=env,
                            start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = out / "recordings" / ids[0] / "zarr.json"
    deadline = time.monotonic() + 60
    try:
        while not first.exists():  # wait for the first completed recording, then kill
            assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
            assert time.monotonic() < deadline, "first recording never completed"
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    st = open_store(out)
    assert st.recording_ids() == [ids[0]]
    assert set(st.missing()) == set()  # store attrs are only updated at the end of a run
    # leftovers of a harder kill: a half-written staging group of the dead run (outside the store), the
    # in-store _staging/ of older versions, and an incomplete group in recordings/
    work = work_dir(out)
    dead = work / "staging" / "dead-run" / f"{ids[1]}.deadbeef"
    (dead / "frames").mkdir(parents=True)
    (dead / "frames" / "junk").write_bytes(b"x" * 10)
    (out / "_staging" / f"{ids[1]}.999.deadbeef").mkdir(parents=True)
    bad = out / "recordings" / ids[2]
    bad.mkdir()
    (bad / "zarr.json").write_text('{"zarr_format": 3, "node_type": "group", "attributes": {}}')
    assert open_store(out).recording_ids() == [ids[0]]  # incomplete groups are never listed

    s = prepare(ToyAdapter(), raw, out=out, workers=0)
    assert s.ok and s.already_present == [ids[0]] and s.written == ids[1:]
    assert not (out / "_staging").exists() and not (work / "staging" / "dead-run").exists()
    assert not (work / "lock").exists()  # released
    assert open_store(out).recording_ids() == ids
    a, b = _tree(ref), _tree(out)
    assert sorted(a) == sorted(b)
    assert all(a[k] == b[k] for k in a)


def test_dask_scheduler_address_gives_same_bytes(raw_and_reference, tmp_path):
    from distributed import LocalCluster

    raw, ref, ids = raw_and_reference
    done = []
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        s = prepare(ToyAdapter(), raw, out=tmp_path / "d.zarr", scheduler=cluster.scheduler_address,
                    progress=lambda d, t, rid, status: done.append((d, t, rid, status)))
    assert s.ok and sorted(s.written) == ids and s.frames == 135
    assert sorted(r for _, _, r, _ in done) == ids and [d for d, *_ in done] == [1, 2, 3]
    assert all(t == 3 and status == "ok" for _, t, _, status in done)
    assert _tree(ref) == _tree(tmp_path / "d.zarr")


@pytest.mark.slow
def test_worker_crash_is_reported_and_others_kept(raw_and_reference, tmp_path, monkeypatch):
    """A worker process killed by os._exit while preparing s2_a: s2_a is named, the others are written,
    and the CLI exits non-zero."""
    from click.testing import CliRunner

    from rppgbench.cli.prepare import prepare as prepare_cmd
    from rppgbench.datasets import DATASETS

    raw, ref, ids = raw_and_reference
    monkeypatch.setenv("RPPGBENCH_TOY_CRASH", ids[1])
    monkeypatch.setitem(DATASETS._objects, "toy", ToyAdapter)
    out = tmp_path / "c.zarr"
    res = CliRunner().invoke(prepare_cmd, ["toy", "--raw", str(raw), "--output", str(out), "--workers", "1"])
    assert res.exit_code == 1, res.output
    assert f"FAILED {ids[1]}: worker process died" in res.output
    assert "2 written" in res.output and "1 failed" in res.output
    st = open_store(out)
    assert st.recording_ids() == [ids[0], ids[2]]
    assert list(st.missing()) == [ids[1]] and "worker process died" in st.missing()[ids[1]]
    assert st.attrs["qc"]["failed"][ids[1]].startswith("worker process died")
    # the survivors are byte-identical to the reference; a re-run without the crash completes the store
    ra, rb = _tree(ref), _tree(out)
    assert all(ra[k] == rb[k] for k in rb)
    monkeypatch.delenv("RPPGBENCH_TOY_CRASH")
    res = CliRunner().invoke(prepare_cmd, ["toy", "--raw", str(raw), "--output", str(out), "--workers", "0"])
    assert res.exit_code == 0, res.output
    assert open_store(out).recording_ids() == ids and open_store(out).missing() == {}
    assert _tree(ref) == _tree(out)
