"""Kill-and-resume soak of ``rppgbench prepare``: the driver is SIGKILLed at random points and the same command
is run again, until the store is complete. Every trial must end with every recording exactly once, byte-identical
to an uninterrupted run, and at every kill the store must show only complete, fully readable recordings.

Two modes, run side by side with the same raw data:

* ``--mode external`` (default): an external ``dask scheduler`` and ``--workers`` ``dask worker`` processes on
  localhost, started once; ``prepare --scheduler tcp://...``. The workers outlive each killed driver and go on
  running its tasks: this is the case where a stray worker used to publish half-written recordings (issue 14 H2).
* ``--mode local``: ``prepare --workers 0`` in the driver process (each kill also kills the work).

    python benchmarks/prepare_soak.py --trials 10                      # external scheduler + 2 workers
    python benchmarks/prepare_soak.py --trials 20 --mode local
    python benchmarks/prepare_soak.py --trials 10 --kills 2            # two kills per trial

Prints one line per trial (kill times, recordings complete at each kill, resume runs) and a summary; exits 1 when
any trial failed.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

BIN = Path(sys.executable).with_name("rppgbench")
DASK = Path(sys.executable).with_name("dask")


def prepared_tree(store: Path) -> dict[str, bytes]:
    """Every file under ``recordings/`` → bytes (array chunks and metadata: what must be identical)."""
    root = store / "recordings"
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


class Cluster:
    """``dask scheduler`` + ``n_workers`` ``dask worker`` processes on localhost (context manager)."""

    def __init__(self, n_workers: int = 2) -> None:
        self.n_workers = n_workers
        self.dir = Path(tempfile.mkdtemp(prefix="soak-cluster-"))
        self.procs: list[subprocess.Popen] = []
        self.address = ""

    def __enter__(self) -> Cluster:
        sched_file = self.dir / "scheduler.json"
        log = open(self.dir / "cluster.log", "wb")  # noqa: SIM115 - closed with the processes
        self._log = log
        self.procs.append(subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0",
                                            "--no-dashboard", "--scheduler-file", str(sched_file)],
                                           stdout=log, stderr=log, start_new_session=True))
        t0 = time.monotonic()
        while not sched_file.is_file():
            if time.monotonic() - t0 > 60:
                raise RuntimeError(f"dask scheduler did not start; see {self.dir / 'cluster.log'}")
            time.sleep(0.1)
        time.sleep(0.2)
        self.address = json.loads(sched_file.read_text())["address"]
        for _ in range(self.n_workers):
            self.procs.append(subprocess.Popen([str(DASK), "worker", self.address, "--nthreads", "1",
                                                "--no-dashboard", "--local-directory", str(self.dir)],
                                               stdout=log, stderr=log, start_new_session=True))
        from distributed import Client

        with Client(self.address, timeout=60) as c:
            c.wait_for_workers(self.n_workers, timeout=120)
        return self

    def __exit__(self, *exc) -> None:
        for p in reversed(self.procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def _check_visible(store: Path) -> int:
    """At a kill: every listed recording reads completely (all arrays, no missing chunk); plain zarr sees only
    Zarr nodes. Returns the number of listed recordings."""
    if not (store / "zarr.json").is_file():
        return 0
    import zarr

    from rppgbench.store import open_store

    st = open_store(store)
    for rid in st.recording_ids():
        st.read_frames(rid)
        st.read_label(rid)
        st.timestamps(rid), st.boxes(rid), st.box_sources(rid), st.frame_index(rid)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        list(zarr.open_group(str(store), mode="r").members(max_depth=None))
    return len(st.recording_ids())


def _timed_run(cmd: list[str], full: Path, ids: list[str], reference: dict) -> tuple[float, float, float, bool]:
    """An uninterrupted run: (wall s, time of the first and of the last published recording, identical?)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t_first = t_last = None
    while proc.poll() is None:
        n = sum(p.is_dir() for p in (full / "recordings").iterdir()) if (full / "recordings").is_dir() else 0
        if t_first is None and n:
            t_first = time.perf_counter() - t0
        if t_last is None and n == len(ids):
            t_last = time.perf_counter() - t0
        time.sleep(0.01)
    t_full = time.perf_counter() - t0
    return (t_full, t_first or 0.5 * t_full, t_last or t_full,
            proc.returncode == 0 and prepared_tree(full) == reference)


def _command(raw: Path, out: Path, mode: str, address: str) -> list[str]:
    cmd = [str(BIN), "prepare", "synthetic", "--raw", str(raw), "--output", str(out)]
    return cmd + (["--scheduler", address] if mode == "external" else ["--workers", "0"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--mode", choices=["external", "local"], default="external")
    ap.add_argument("--workers", type=int, default=2, help="dask workers of the external cluster")
    ap.add_argument("--kills", type=int, default=1, help="SIGKILLs per trial before letting a run finish")
    ap.add_argument("--recordings", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--per-subject", type=int, default=2, help="recordings per subject (seed 16: 8 subjects "
                    "whose faces Haar finds)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the kill times")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    tmp = Path(tempfile.mkdtemp(prefix="prepare-soak-"))
    from rppgbench.datasets.synthetic import write_raw_dataset

    raw = write_raw_dataset(tmp / "raw", recordings=a.recordings, recordings_per_subject=a.per_subject,
                            seconds=a.seconds, preset="mixed", seed=16, width=160, height=120)
    ids = sorted(p.name for p in raw.iterdir() if p.is_dir())
    ref = tmp / "ref.zarr"
    t0 = time.perf_counter()
    r = subprocess.run([str(BIN), "prepare", "synthetic", "--raw", str(raw), "--output", str(ref), "--workers", "0"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout, r.stderr)
        return 1
    print(f"reference: {len(ids)} recordings x {a.seconds:g} s, uninterrupted workers=0 run "
          f"{time.perf_counter() - t0:.1f} s")
    reference = prepared_tree(ref)
    failures = 0
    kills_total = mid = 0
    cluster = Cluster(a.workers) if a.mode == "external" else None
    try:
        address = cluster.__enter__().address if cluster else ""
        for warm in range(2):  # the second (warm workers) gives the timing of the trials
            full = tmp / f"full{warm}.zarr"
            t_full, t_first, t_last, same = _timed_run(_command(raw, full, a.mode, address), full, ids, reference)
            failures += not same
        print(f"mode {a.mode}{f' ({a.workers} workers at {address})' if cluster else ''}: uninterrupted run "
              f"{t_full:.1f} s (recordings published from {t_first:.1f} s to {t_last:.1f} s), identical to the "
              f"reference: {same}")
        for trial in range(a.trials):
            out = tmp / f"trial{trial}.zarr"
            kills, seen, runs = [], [], 0
            for _ in range(a.kills):
                if seen and seen[-1] == len(ids):
                    break  # already complete: a further kill would test nothing
                # a quarter of the kills anywhere in the run, the others while recordings are being published
                delay = rng.uniform(0.2, t_full) if rng.random() < 0.25 else \
                    rng.uniform(max(0.2, t_first - 1.0), t_last + 0.5)
                proc = subprocess.Popen(_command(raw, out, a.mode, address), stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
                time.sleep(delay)
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                runs += 1
                kills.append(delay)
                seen.append(_check_visible(out))
            while True:  # resume until a run finishes
                runs += 1
                r = subprocess.run(_command(raw, out, a.mode, address), capture_output=True, text=True)
                if r.returncode == 0 or runs > a.kills + 3:
                    break
            got = prepared_tree(out) if out.exists() else {}
            listed = sorted(p.name for p in (out / "recordings").iterdir() if p.is_dir()) if out.exists() else []
            ok = r.returncode == 0 and listed == ids and got == reference
            kills_total += len(seen)
            mid += sum(0 < k < len(ids) for k in seen)
            failures += not ok
            print(f"trial {trial:2d}: killed at {', '.join(f'{k:.2f}' for k in kills)} s with "
                  f"{', '.join(map(str, seen))} of {len(ids)} recordings visible; {runs} runs; final exit "
                  f"{r.returncode}; {len(listed)} recordings, each once; byte-identical: {got == reference}"
                  f"{'' if ok else '  <-- FAILED: ' + r.stderr[-400:]}")
            shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(out.parent / f".{out.name}.work", ignore_errors=True)
    finally:
        if cluster:
            cluster.__exit__(None, None, None)
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{a.trials - failures if failures <= a.trials else 0}/{a.trials} trials byte-identical with every "
          f"recording exactly once; {mid} of {kills_total} kills hit a partly written store")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
