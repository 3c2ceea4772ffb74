"""Store integrity (issue 14 H1, H2, M2, M3, M4, L9, L10; issue 16 item 8): one writer per store, staging that
nothing but the driver can publish, missing chunks are errors, changed sources are prepared again, exit codes of
the installed console script."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from _store_toy import ToyAdapter, write_toy_raw

from rppgbench._checks import DataError
from rppgbench.store import open_store, prepare
from rppgbench.store._lock import STALE_AFTER_S, StoreBusyError, StoreLock, _pid_started
from rppgbench.store._publish import lock_path, publish, staging_dir, verify_group, work_dir
from rppgbench.store.recording import write_recording_group

TESTS = Path(__file__).parent


@pytest.fixture
def raw(tmp_path):
    r = tmp_path / "raw"
    write_toy_raw(r, n_recordings=2, n_frames=40)
    return r


@pytest.fixture(scope="module")
def synth_raw(tmp_path_factory):
    from rppgbench.datasets.synthetic import write_raw_dataset

    return write_raw_dataset(tmp_path_factory.mktemp("synth") / "raw", recordings=2, seconds=2, preset="clean",
                             seed=16, width=160, height=120)  # Haar finds these faces


def _rppgbench(*args, env=None, timeout=300):
    """The installed console script, as a user runs it."""
    exe = Path(sys.executable).with_name("rppgbench")
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def _tree(store: Path) -> dict[str, bytes]:
    root = store / "recordings"
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# -- issue 16 item 8: staging outside the Zarr hierarchy ----------------------------------------------------------
def test_plain_zarr_sees_only_zarr_nodes(raw, tmp_path):
    import zarr

    out = tmp_path / "s.zarr"
    assert prepare(ToyAdapter(), raw, out=out, workers=0).ok
    # a staging folder of a (dead) run, as a worker leaves it, lives next to the store, not inside it
    (staging_dir(out, "some-run") / "s1_a.x").mkdir(parents=True)
    assert sorted(p.name for p in out.iterdir()) == ["recordings", "zarr.json"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Object at _staging is not recognized as a component ..." would raise
        g = zarr.open_group(str(out), mode="r")
        names = sorted(k for k, _ in g.members(max_depth=None))
    assert "recordings/s1_a/frames" in names and not any("staging" in n for n in names)


# -- M3: missing chunks are errors ---------------------------------------------------------------------------------
def test_deleted_chunk_is_an_error_on_both_read_paths(raw, tmp_path):
    out = tmp_path / "s.zarr"
    prepare(ToyAdapter(), raw, out=out, workers=0)
    rec = out / "recordings" / "s1_a"
    meta = json.loads((rec / "zarr.json").read_text())["attributes"]["rppgbench"]
    assert meta["complete"] is True and sorted((rec / "frames" / "c").iterdir()) == [rec / "frames" / "c" / "0",
                                                                                      rec / "frames" / "c" / "1"]
    (rec / "frames" / "c" / "1" / "0" / "0" / "0").unlink()
    st = open_store(out)
    assert st.read_frames("s1_a", 0, 32).shape[0] == 32  # intact chunk still reads
    with pytest.raises(DataError, match=r"chunk file c/1/0/0/0 \(frames 32-39\) is missing"):
        st.read_frames("s1_a", 30, 40)
    st.direct_reads = False
    st.refresh()
    with pytest.raises(DataError, match=r"array 'frames' lacks 1 chunk file\(s\) \(c/1/0/0/0\)"):
        st.read_frames("s1_a")
    (rec / "ppg" / "c" / "0").unlink()
    with pytest.raises(DataError, match=r"array 'ppg' lacks 1 chunk file"):
        st.read_label("s1_a")


def test_all_fill_chunks_are_written_and_checked_before_publishing(tmp_path):
    arrays = {"frames": np.zeros((40, 8, 8, 3), np.uint8), "ppg": np.zeros(40, np.float32)}
    staged = write_recording_group(tmp_path / "stage", "r1", arrays, {}, {"kind": "rppgbench-recording"})
    assert (staged / "frames" / "c" / "1" / "0" / "0" / "0").is_file()  # an all-zero chunk is still a file
    from rppgbench.store._publish import group_files

    files = group_files(staged)
    (staged / "frames" / "c" / "0" / "0" / "0" / "0").unlink()  # lost after the worker reported
    with pytest.raises(DataError, match=r"frames/c/0/0/0/0 is missing.*array 'frames' lacks 1 of 2 chunk"):
        verify_group(staged, files, ["frames", "ppg"])
    store = tmp_path / "s.zarr"
    (store / "recordings").mkdir(parents=True)
    with pytest.raises(DataError, match="staged recording is incomplete"):
        publish(store, staged, "r1", files, ["frames", "ppg"])
    assert not (store / "recordings" / "r1").exists()


# -- M4: one writer per store; H2: nothing a stray worker writes is published -------------------------------------
def _lock_file(store: Path, **info) -> Path:
    p = lock_path(store)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "run_id": "other", **info}))
    return p


def test_second_writer_is_refused_with_the_holders_name(raw, tmp_path):
    out = tmp_path / "s.zarr"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _lock_file(out, pid=holder.pid, pid_started=_pid_started(holder.pid), started="2026-01-01T00:00:00")
        with pytest.raises(StoreBusyError, match=rf"being written by another run: host {socket.gethostname()}, "
                                                 rf"pid {holder.pid}, run other"):
            prepare(ToyAdapter(), raw, out=out, workers=0)
        assert not out.exists()  # nothing written
    finally:
        holder.kill()
        holder.wait()
    # the holder is dead now: its lock is stale and taken over
    assert prepare(ToyAdapter(), raw, out=out, workers=0).ok
    assert not lock_path(out).exists()


def test_two_prepares_started_together_one_is_refused(synth_raw, tmp_path):
    """M4 as a user meets it: the same command twice, 2 s apart. The second says who holds the store (exit 2)."""
    out = tmp_path / "s.zarr"
    exe = Path(sys.executable).with_name("rppgbench")
    first = subprocess.Popen([str(exe), "prepare", "synthetic", "--raw", str(synth_raw), "--out", str(out),
                              "--workers", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        t0 = time.monotonic()
        while not lock_path(out).exists() and first.poll() is None and time.monotonic() - t0 < 120:
            time.sleep(0.01)
        r = _rppgbench("prepare", "synthetic", "--raw", synth_raw, "--out", out, "--workers", "0")
        if first.poll() is None:  # still writing: refused, with the holder named
            assert r.returncode == 2 and f"pid {first.pid}" in r.stderr and "Traceback" not in r.stderr, r.stderr
        else:  # the first finished in between: the second found everything present
            assert r.returncode == 0 and "2 already present" in r.stdout
    finally:
        stdout, _ = first.communicate(timeout=300)
    assert first.returncode == 0 and "2 written" in stdout
    assert open_store(out).recording_ids() == ["s01_r00", "s01_r01"]


def test_stale_rule_pid_reuse_and_other_hosts(tmp_path):
    store = tmp_path / "s.zarr"
    # same host, live pid but another start time: the pid was reused, the holder is gone
    _lock_file(store, pid=os.getpid(), pid_started=-1.0)
    with StoreLock(lock_path(store), store) as lk:
        assert lk.owned()
    # another host: alive while its heartbeat is fresh, stale after STALE_AFTER_S
    p = _lock_file(store, host="elsewhere.example", pid=1)
    with pytest.raises(StoreBusyError, match="host elsewhere.example, pid 1"):
        StoreLock(lock_path(store), store).acquire()
    old = time.time() - STALE_AFTER_S - 5
    os.utime(p, (old, old))
    with StoreLock(lock_path(store), store) as lk:
        assert json.loads(p.read_text())["run_id"] == lk.run_id


def test_stray_staging_of_another_run_is_never_published(raw, tmp_path):
    """The deterministic replay of M4/H2: a worker of a killed run wrote half a recording into its staging
    folder (no frames metadata); a resumed run deletes it and writes the recording itself."""
    out = tmp_path / "s.zarr"
    ref = tmp_path / "ref.zarr"
    assert prepare(ToyAdapter(), raw, out=ref, workers=0).ok
    stray = staging_dir(out, "dead-run") / "s1_a.0123"
    (stray / "ppg").mkdir(parents=True)
    (stray / "zarr.json").write_text(json.dumps({"zarr_format": 3, "node_type": "group", "attributes": {
        "rppgbench": {"kind": "rppgbench-recording", "complete": True}}}))
    s = prepare(ToyAdapter(), raw, out=out, workers=0)
    assert s.ok and s.written == ["s1_a", "s2_a"]
    assert not (work_dir(out) / "staging" / "dead-run").exists()
    assert _tree(out) == _tree(ref)
    for rid in ("s1_a", "s2_a"):
        assert (out / "recordings" / rid / "frames" / "zarr.json").is_file()


@pytest.mark.slow
def test_killed_driver_on_external_cluster_resumes_exactly_once(synth_raw, tmp_path):
    """H2, one trial (benchmarks/prepare_soak.py runs many): external `dask scheduler` + worker, the driver is
    SIGKILLed after the first recording, the same command again: every recording once, bytes as uninterrupted."""
    sys.path.insert(0, str(TESTS.parent / "benchmarks"))
    from prepare_soak import Cluster, prepared_tree

    ref = tmp_path / "ref.zarr"
    assert _rppgbench("prepare", "synthetic", "--raw", synth_raw, "--out", ref, "--workers", "0").returncode == 0
    with Cluster(n_workers=1) as cl:
        out = tmp_path / "k.zarr"
        cmd = [Path(sys.executable).with_name("rppgbench"), "prepare", "synthetic", "--raw", synth_raw, "--out", out,
               "--scheduler", cl.address]
        proc = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        first = out / "recordings" / "s01_r00" / "zarr.json"
        t0 = time.monotonic()
        while not first.exists() and proc.poll() is None and time.monotonic() - t0 < 120:
            time.sleep(0.02)
        proc.kill()
        proc.wait()
        r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
    assert prepared_tree(out) == prepared_tree(ref)
    assert sorted(p.name for p in (out / "recordings").iterdir() if p.is_dir()) == ["s01_r00", "s01_r01"]


# -- M2: a recording is reused only while its sources are unchanged ------------------------------------------------
def test_changed_source_file_is_prepared_again(raw, tmp_path):
    out = tmp_path / "s.zarr"
    prepare(ToyAdapter(), raw, out=out, workers=0)
    before = open_store(out).read_label("s2_a")
    lab = raw / "s2_a" / "label.txt"
    vals, ts = lab.read_text().splitlines()
    lab.write_text(" ".join(f"{-float(v):.9f}" for v in vals.split()) + "\n" + ts)  # the sign flipped
    s = prepare(ToyAdapter(), raw, out=out, workers=0)
    assert s.ok and s.already_present == ["s1_a"] and s.written == ["s2_a"]
    assert "label.txt changed since the recording was prepared" in s.replaced["s2_a"]
    assert any(line.startswith("replaced s2_a: ") for line in s.lines())
    after = open_store(out).read_label("s2_a")
    np.testing.assert_allclose(after, -before, atol=1e-6)
    s = prepare(ToyAdapter(), raw, out=out, workers=0)  # now in step: nothing to do (hashes cached)
    assert s.written == [] and s.already_present == ["s1_a", "s2_a"]


# -- L9 / L10 / H1: disk full, interrupted --overwrite, unreachable scheduler, exit codes --------------------------
def test_full_disk_at_the_final_attribute_write_names_the_file(raw, tmp_path, monkeypatch):
    import errno

    from rppgbench.store import _publish

    out = tmp_path / "s.zarr"
    prepare(ToyAdapter(), raw, out=out, workers=0, limit=1)
    real = os.replace

    def full(src, dst):
        if Path(dst) == out / "zarr.json":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(_publish.os, "replace", full)
    with pytest.raises(DataError, match=rf"{out / 'zarr.json'}: cannot write: No space left on device"):
        prepare(ToyAdapter(), raw, out=out, workers=0)
    monkeypatch.setattr(_publish.os, "replace", real)
    assert not list(work_dir(out).glob("*.tmp")) and not list(out.glob(".zarr.json*"))
    assert not lock_path(out).exists()


def test_full_disk_when_taking_the_lock_leaves_no_empty_lock(raw, tmp_path, monkeypatch):
    import errno

    from rppgbench.store import _lock

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_lock.os, "fsync", full)
    out = tmp_path / "s.zarr"
    with pytest.raises(DataError, match=r"s\.zarr: output path is not writable: No space left on device"):
        prepare(ToyAdapter(), raw, out=out, workers=0)
    assert not lock_path(out).exists()


def test_disk_full_while_writing_a_recording_names_the_staging_path(tmp_path, monkeypatch):
    import errno

    import zarr

    def full(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(zarr.Array, "__setitem__", full)
    with pytest.raises(DataError, match=r"recording r1: .*stage/r1\.[0-9a-f]+: cannot write the recording: No space"):
        write_recording_group(tmp_path / "stage", "r1", {"ppg": np.ones(4, np.float32)}, {}, {})
    assert not any((tmp_path / "stage").iterdir())


def test_cli_exit_codes_and_interrupted_overwrite(synth_raw, tmp_path):
    out = tmp_path / "s.zarr"
    r = _rppgbench("prepare", "synthetic", "--raw", synth_raw, "--out", out, "--workers", "0")
    assert r.returncode == 0 and "2 written" in r.stdout, r.stderr
    # L10: an --overwrite killed after deleting zarr.json leaves a remnant; resume refuses, --overwrite accepts
    (out / "zarr.json").unlink()
    r = _rppgbench("prepare", "synthetic", "--raw", synth_raw, "--out", out, "--workers", "0")
    assert r.returncode == 2 and "interrupted prepare or --overwrite left an incomplete store" in r.stderr
    assert "Traceback" not in r.stderr
    r = _rppgbench("prepare", "synthetic", "--raw", synth_raw, "--out", out, "--workers", "0", "--overwrite")
    assert r.returncode == 0 and "2 written" in r.stdout, r.stderr
    # H1: a recording that fails makes the installed command exit 1 (not 0), the others are kept
    bad = tmp_path / "raw_bad"
    import shutil

    shutil.copytree(synth_raw, bad)
    video = bad / "s01_r01" / "video.avi"
    video.write_bytes(video.read_bytes()[: video.stat().st_size // 3])
    r = _rppgbench("prepare", "synthetic", "--raw", bad, "--out", tmp_path / "b.zarr", "--workers", "0")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "1 written" in r.stdout and "1 failed" in r.stdout and "FAILED s01_r01" in r.stdout
    r = _rppgbench("prepare", "synthetic", "--raw", bad, "--out", tmp_path / "b.zarr", "--workers", "0", "--skip-bad")
    assert r.returncode == 0 and "skipped s01_r01" in r.stdout
    # bad input: exit 2 with one line, no traceback
    r = _rppgbench("prepare", "synthetic", "--raw", tmp_path / "missing", "--workers", "0")
    assert r.returncode == 2 and r.stderr.startswith("Error: ") and "Traceback" not in r.stderr


@pytest.mark.slow
def test_unreachable_scheduler_is_a_one_line_error(synth_raw, tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    r = _rppgbench("prepare", "synthetic", "--raw", synth_raw, "--out", tmp_path / "s.zarr",
                   "--scheduler", f"tcp://127.0.0.1:{port}")
    assert r.returncode == 2 and "cannot reach the dask scheduler at 'tcp://127.0.0.1:" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and time.monotonic() - t0 < 60
    assert not lock_path(tmp_path / "s.zarr").exists()
