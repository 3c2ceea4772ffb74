"""Hostile submissions (issue 14 H4, M6, M7, M8, L1, L2, L3, L11): decompression bombs, lying headers, corrupt
files, deep JSON, quadratic inputs, absurd numbers, copies of other entries, a reference detached from its
protocol, flat predictions. Every refusal names the file and what was expected; none leaks a traceback."""
from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from _lb_helpers import DEFAULT_MODELS, PROTOCOL, PROTOCOLS, manifest, write_results

from rppgbench._checks import DataError, SubmissionError
from rppgbench._npz import open_npz
from rppgbench.leaderboard import build, submit, verify, write_reference
from rppgbench.leaderboard import schema as S
from rppgbench.leaderboard._recompute import recompute_metrics
from rppgbench.leaderboard.submit import check_predictions

TWO = {k: DEFAULT_MODELS[k] for k in ("pos", "tinynet")}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    run = write_results(d / "run", TWO, n_rec=4)
    root = d / "lb"
    write_reference(run, root)
    return run, root


@pytest.fixture
def env(base, tmp_path):
    run, root = base
    shutil.copytree(run, tmp_path / "run")
    shutil.copytree(root, tmp_path / "lb")
    return tmp_path / "run", tmp_path / "lb"


def _submit(run, root, model="pos", **kw):
    return submit(run, PROTOCOL, model=model, manifest=manifest(), root=root, protocols_root=PROTOCOLS, **kw)


def _arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _npy_header(shape: tuple[int, ...], dtype: str = "<f4") -> bytes:
    """A .npy v1.0 header (what numpy writes before the data)."""
    d = f"{{'descr': '{dtype}', 'fortran_order': False, 'shape': {shape!r}, }}"
    pad = 64 - (10 + len(d) + 1) % 64
    h = (d + " " * pad + "\n").encode("latin1")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h


def write_bomb(path: Path, arrays: dict[str, np.ndarray], bomb_key: str, n_samples: int) -> None:
    """A valid .npz holding ``arrays`` plus one float32 member of ``n_samples`` zeros, deflated while streaming
    (never held in memory): a few hundred KB on disk per 250 MB decompressed."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for k, a in arrays.items():
            with zf.open(f"{k}.npy", "w") as fh:
                np.lib.format.write_array(fh, np.asarray(a), allow_pickle=False)
        with zf.open(f"{bomb_key}.npy", "w", force_zip64=True) as fh:
            fh.write(_npy_header((n_samples,)))
            block = bytes(1 << 22)
            left = 4 * n_samples
            while left:
                fh.write(block[:min(left, len(block))])
                left -= min(left, len(block))


# -- H4: decompression budget ------------------------------------------------------------------------------------
def test_zip_bomb_member_is_refused_from_the_zip_directory(env):
    run, root = env
    npz = run / "predictions" / "pos.npz"
    arrays = _arrays(npz)
    write_bomb(npz, {k: v for k, v in arrays.items() if k != "pred__synthetic/s00"}, "pred__synthetic/s00",
               25_000_000)  # 100 MB decompressed
    assert npz.stat().st_size < 1_000_000
    t0 = time.process_time()
    with pytest.raises(SubmissionError, match=r"pos\.npz: array 'pred__synthetic/s00' would decompress to "
                                              r"100000\d\d\d bytes; the limit per array is 65536 bytes"):
        _submit(run, root)
    assert time.process_time() - t0 < 2.0  # nothing was decompressed


def test_lying_npy_header_is_refused_before_allocation(tmp_path):
    """A member whose zip size is small but whose .npy header declares 250 M samples."""
    path = tmp_path / "liar.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("pred__x.npy", _npy_header((250_000_000,)) + bytes(16))
    with open_npz(path) as z, pytest.raises(DataError, match=r"liar\.npz: key 'pred__x' declares shape "
                                                             r"\(250000000,\) of float32 = 1000000000 bytes"):
        z["pred__x"]
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("pred__x.npy", _npy_header((100,)) + bytes(16))
    with open_npz(path) as z, pytest.raises(DataError, match=r"its header declares 400 bytes of data but the "
                                                             r"member holds 16"):
        z["pred__x"]


@pytest.mark.slow
def test_submit_peak_memory_on_a_gigabyte_bomb_is_small(env, tmp_path):
    """The measured case of the issue: a ~1 MB npz decompressing to > 1 GB, through the installed command."""
    run, root = env
    npz = run / "predictions" / "pos.npz"
    arrays = _arrays(npz)
    write_bomb(npz, {k: v for k, v in arrays.items() if k != "pred__synthetic/s01"}, "pred__synthetic/s01",
               270_000_000)
    assert npz.stat().st_size < 1_300_000
    mf = tmp_path / "m.json"
    mf.write_text(json.dumps(manifest()))
    exe = Path(sys.executable).with_name("rppgbench")
    code = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
            "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
            "print(r.stderr, file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", code, str(exe), "submit", str(run), "--leaderboard", PROTOCOL,
                        "--model", "pos", "--manifest", str(mf), "--root", str(root), "--protocols-root",
                        str(PROTOCOLS)], capture_output=True, text=True, timeout=300)
    rc, kb = map(int, r.stdout.split())
    assert rc == 2 and "'pred__synthetic/s01' would decompress to 1080000" in r.stderr and "Traceback" not in r.stderr
    assert kb / 1024 < 300, f"peak RSS {kb / 1024:.0f} MB"


# -- L1 / L11: corrupt files are named, never a traceback ---------------------------------------------------------
def test_corrupt_npz_files_are_named(env, tmp_path):
    run, root = env
    npz = run / "predictions" / "pos.npz"
    good = npz.read_bytes()
    npz.write_bytes(good[: len(good) // 2])  # truncated
    with pytest.raises(SubmissionError, match=r"pos\.npz: is not a readable \.npz \(zip\) archive"):
        _submit(run, root)
    flipped = bytearray(good)
    flipped[len(good) // 3] ^= 0xFF  # a bit-flip inside a member: CRC or inflate error, named
    npz.write_bytes(bytes(flipped))
    with pytest.raises(SubmissionError, match=r"pos\.npz: (key '.*' (cannot be read|is not a valid \.npy)|is not a)"):
        _submit(run, root)
    npz.write_bytes(os.urandom(4096))
    with pytest.raises(SubmissionError, match=r"pos\.npz: is not an \.npz archive \(no zip signature"):
        _submit(run, root)
    a = {k: v for k, v in _arrays_from(good, tmp_path).items()}
    a["fs"] = np.array([30.0, 30.0])
    np.savez(npz, **a)
    with pytest.raises(SubmissionError, match=r"fs must be one finite number > 0 \(Hz\); found dtype float64 "
                                              r"shape \(2,\)"):
        _submit(run, root)
    a["fs"] = np.array([None, 1], dtype=object)
    np.savez(npz, **a)
    with pytest.raises(SubmissionError, match=r"key 'fs' holds Python objects \(dtype object\)"):
        _submit(run, root)


def _arrays_from(data: bytes, tmp_path: Path) -> dict[str, np.ndarray]:
    p = tmp_path / "copy.npz"
    p.write_bytes(data)
    return _arrays(p)


def test_deeply_nested_json_is_refused(env):
    run, root = env
    (run / "results.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(SubmissionError, match=r"results\.json nests 100000 levels deep; the limit is 64"):
        _submit(run, root)


def test_verify_reports_a_broken_entry_and_checks_the_others(env):
    run, root = env
    _submit(run, root, entry_id="a")
    _submit(run, root, model="tinynet", entry_id="b")
    npz = root / PROTOCOL / "a" / "predictions.npz"
    npz.write_bytes(npz.read_bytes()[:200])
    rep = verify(root, PROTOCOLS)
    assert rep.checked == [f"{PROTOCOL}/a", f"{PROTOCOL}/b"]
    assert list(rep.problems) == [f"{PROTOCOL}/a"] and "predictions.npz" in rep.problems[f"{PROTOCOL}/a"][0]
    exe = Path(sys.executable).with_name("rppgbench")
    r = subprocess.run([str(exe), "leaderboard", "verify", "--root", str(root), "--protocols-root", str(PROTOCOLS)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "2 entries checked, 1 with problems" in r.stdout and "Traceback" not in r.stderr


def test_metrics_command_names_file_and_key(tmp_path):
    exe = Path(sys.executable).with_name("rppgbench")
    p = tmp_path / "obj.npz"
    np.savez(p, **{"pred__a": np.array([1, None], dtype=object), "label__a": np.zeros(2)})
    r = subprocess.run([str(exe), "metrics", str(p), "--fs", "30"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and f"{p}: key 'pred__a' holds Python objects" in r.stderr
    p.write_bytes(os.urandom(2000))
    r = subprocess.run([str(exe), "metrics", str(p), "--fs", "30"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "is not an .npz archive (no zip signature" in r.stderr
    assert "pickled" not in r.stderr and "Traceback" not in r.stderr


# -- M6 / L11: linear time and bounded messages -------------------------------------------------------------------
def test_duplicate_check_is_linear_and_messages_are_bounded(base):
    run, root = base
    ref = S.read_reference(root / PROTOCOL)
    ids = [f"synthetic/x{i:05d}" for i in range(20_004)] * 2
    sub = {"recording_ids": ids, "fs": 30.0, "arrays": {}}
    t0 = time.perf_counter()
    with pytest.raises(SubmissionError) as exc:
        check_predictions(sub, ref, "p.npz", "raw")
    assert time.perf_counter() - t0 < 2.0
    msg = str(exc.value)
    assert "20004 recording(s) listed more than once" in msg and "... and 19994 more" in msg and len(msg) < 3000


def test_too_many_recording_ids_refused_from_the_header(env):
    run, root = env
    npz = run / "predictions" / "pos.npz"
    a = _arrays(npz)
    a["recording_ids"] = np.array([f"synthetic/x{i:05d}" for i in range(40_008)])
    np.savez(npz, **a)
    t0 = time.perf_counter()
    with pytest.raises(SubmissionError, match=r"'recording_ids' would decompress to 2560\d\d\d bytes; the limit per "
                                              r"array is 65536|recording_ids lists 40008 recordings"):
        _submit(run, root)
    assert time.perf_counter() - t0 < 5.0


# -- M7: numbers from results.json are range-checked ---------------------------------------------------------------
@pytest.mark.parametrize("n_params", [1e300, -5, "many", True, 10**14])
def test_n_params_is_range_checked(env, n_params):
    run, root = env
    res = json.loads((run / "results.json").read_text())
    res["models"]["pos"]["n_params"] = n_params
    (run / "results.json").write_text(json.dumps(res))
    with pytest.raises(SubmissionError, match=r"models\.pos\.n_params must be an integer in \[0, 10000000000000\]"):
        _submit(run, root)


def test_build_names_a_bad_entry_instead_of_breaking(env):
    run, root = env
    entry = _submit(run, root, entry_id="e")
    man = json.loads((entry / "manifest.json").read_text())
    man["model"]["n_params"] = 10**300
    (entry / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(SubmissionError, match=r"e/manifest\.json\.model\.n_params must be in \[0, 10000000000000\]"):
        build(root, root / "site")
    assert any("n_params" in p for p in verify(root, PROTOCOLS).problems[f"{PROTOCOL}/e"])


# -- M8: copies are refused ----------------------------------------------------------------------------------------
def test_copy_of_an_entry_is_refused_and_verify_reports_copies(env):
    run, root = env
    _submit(run, root, entry_id="orig")
    with pytest.raises(SubmissionError, match=r"identical to those of the existing entry 'orig'"):
        _submit(run, root, entry_id="copy-a")
    shutil.copytree(root / PROTOCOL / "orig", root / PROTOCOL / "sneaky")  # committed by hand
    man = json.loads((root / PROTOCOL / "sneaky" / "manifest.json").read_text())
    man["entry_id"] = "sneaky"
    (root / PROTOCOL / "sneaky" / "manifest.json").write_text(json.dumps(man))
    rep = verify(root, PROTOCOLS)
    assert rep.problems == {f"{PROTOCOL}/sneaky": [rep.problems[f"{PROTOCOL}/sneaky"][0]]}
    assert f"identical predictions to {PROTOCOL}/orig" in rep.problems[f"{PROTOCOL}/sneaky"][0]


# -- L2: the reference belongs to its protocol ---------------------------------------------------------------------
def test_reference_detached_from_its_protocol_fails_verify(env):
    run, root = env
    _submit(run, root, entry_id="p")
    assert verify(root, PROTOCOLS).ok
    ref_path = root / PROTOCOL / "reference.json"
    ref = json.loads(ref_path.read_text())
    ref["evaluation"]["window_s"] = 5.0
    ref_path.write_text(json.dumps(ref))
    rep = verify(root, PROTOCOLS)  # even with every metrics.json regenerated, the window is not the protocol's
    assert rep.problems[PROTOCOL] == [f"{ref_path}: evaluation.window_s is 5.0, but protocol "
                                      f"{rep.problems[PROTOCOL][0].split('protocol ')[1].split(' says')[0]} says "
                                      "10.0; the reference must use the protocol's evaluation settings"]
    with pytest.raises(SubmissionError, match="evaluation.window_s is 5.0"):
        _submit(run, root, model="tinynet")
    ref["evaluation"]["window_s"] = 10.0
    ref["protocol"]["sha256"] = "0" * 64
    ref_path.write_text(json.dumps(ref))
    assert "regenerate the reference" in verify(root, PROTOCOLS).problems[PROTOCOL][0]


# -- L3: flat predictions and the constant-HR baseline -------------------------------------------------------------
def _consistent(run: Path, root: Path, model: str, preds: dict[str, np.ndarray]) -> None:
    """Rewrite ``model``'s predictions and its claimed metrics consistently (as a cheater would)."""
    npz = run / "predictions" / f"{model}.npz"
    a = _arrays(npz)
    for rid, p in preds.items():
        a[f"pred__{rid}"] = p
    np.savez(npz, **a)
    ref = S.read_reference(root / PROTOCOL)
    labels = {r: a[f"label__{r}"] for r in ref["recordings"]}
    rec = recompute_metrics({r: a[f"pred__{r}"] for r in labels}, labels, ref["evaluation"], "raw")
    res = json.loads((run / "results.json").read_text())
    for row in res["rows"]:
        if row["model"] == model:
            row["value"] = rec["datasets"]["synthetic"][row["metric"]]["value"]
    (run / "results.json").write_text(json.dumps(res))


def test_flat_predictions_are_flagged_and_get_no_snr(env):
    run, root = env
    ref = S.read_reference(root / PROTOCOL)
    _consistent(run, root, "pos", {r: np.zeros(v["views"]["raw"]["n_samples"], np.float32)
                                   for r, v in ref["recordings"].items()})
    met = json.loads((_submit(run, root, entry_id="flat") / "metrics.json").read_text())
    assert met["datasets"]["synthetic"]["SNR"]["value"] is None  # not 0.0 dB, which ranked above every real entry
    assert met["flat_windows"]["synthetic"] == met["n_windows"]["synthetic"] == 12
    flags = met["flags"]
    assert any(f.startswith("flat (constant) predicted waveform in 12 of 12 evaluation windows") for f in flags)
    assert any("does not beat the constant-HR baseline" in f for f in flags)
    base = met["null_baseline"]["synthetic"]
    assert base["MAE"] > 0 and 60 <= base["hr_bpm"] <= 100


def test_entry_that_beats_the_baseline_is_not_flagged(env):
    run, root = env
    met = json.loads((_submit(run, root, model="tinynet", entry_id="t") / "metrics.json").read_text())
    mae = met["datasets"]["synthetic"]["MAE"]["value"]
    assert mae < met["null_baseline"]["synthetic"]["MAE"] and met["flags"] == []
    assert met["n_excluded"] == {"synthetic": 0} and met["predictions_sha256"]
