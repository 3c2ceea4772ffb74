"""The compiled view arithmetic (rppgbench/store/_kernels.c): built wherever a C compiler is, bit-identical to the
numpy path for every possible pair of uint8 inputs, and strict about the buffers it is given."""
from __future__ import annotations

import shutil
import sysconfig
import threading

import numpy as np
import pytest

from rppgbench.store import views


def _compiler_present() -> bool:
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    return shutil.which(cc) is not None


def test_extension_is_built_where_a_compiler_is():
    if not _compiler_present():
        pytest.skip("no C compiler here: the install falls back to the numpy arithmetic (same values)")
    assert views._C is not None, "a C compiler is present but rppgbench.store._kernels was not built: reinstall"
    assert views.kernel() == "c"


@pytest.fixture
def kernels():
    if views._C is None:
        pytest.skip("rppgbench.store._kernels is not built in this install")
    return views._C


@pytest.mark.parametrize("std", [0.0371, 1.0, 3.3e-5, 7.25])
def test_diffnorm_equals_numpy_for_every_uint8_pair(kernels, std):
    # frame 0 holds every value b, frame 1 every value a: all 65,536 (a, b) pairs, incl. 0 + 0 (epsilon only)
    b, a = np.meshgrid(np.arange(256, dtype=np.uint8), np.arange(256, dtype=np.uint8), indexing="ij")
    u = np.stack([b.reshape(-1), a.reshape(-1)])
    got = np.empty((1, u.shape[1]), np.float32)
    kernels.diffnorm(u, got, 1, u.shape[1], np.float32(std))
    want = np.empty_like(got)
    prev = views.use_kernel("numpy")
    try:
        views._diffnorm(np.float32(std), u, want)
    finally:
        views.use_kernel(prev)
    assert np.isfinite(got).all() and got.tobytes() == want.tobytes()
    fa, fb = a.reshape(-1).astype(np.float32), b.reshape(-1).astype(np.float32)
    assert np.array_equal(got[0], (fa - fb) / ((fa + fb + np.float32(1e-7)) * np.float32(std)))


@pytest.mark.parametrize("mean,std", [(117.3, 41.2), (0.0, 1.0), (255.0, 1e-3)])
def test_standardized_equals_numpy_for_every_uint8_value(kernels, mean, std):
    u = np.arange(256, dtype=np.uint8)
    got = np.empty(256, np.float32)
    kernels.standardized(u, got, np.float32(mean), np.float32(1.0 / std))
    want = (u.astype(np.float32) - np.float32(mean)) * np.float32(1.0 / std)
    assert got.tobytes() == want.tobytes()


def test_kernels_refuse_wrong_buffers(kernels):
    u = np.zeros((3, 4), np.uint8)
    o = np.zeros((2, 4), np.float32)
    kernels.diffnorm(u, o, 2, 4, 1.0)
    with pytest.raises(ValueError, match=r"diffnorm src .* expected .* 12 bytes, got 8"):
        kernels.diffnorm(u[:2], o, 2, 4, 1.0)
    with pytest.raises(ValueError, match=r"diffnorm dst .* expected .* 32 bytes, got 16"):
        kernels.diffnorm(u, o[:1], 2, 4, 1.0)
    with pytest.raises(ValueError, match="n and frame must be >= 0"):
        kernels.diffnorm(u, o, -1, 4, 1.0)
    with pytest.raises(OverflowError):
        kernels.diffnorm(u, o, 1 << 40, 1 << 40, 1.0)
    with pytest.raises((BufferError, ValueError)):  # a strided view is not one flat buffer
        kernels.standardized(np.zeros((4, 4), np.uint8)[:, ::2], np.zeros(8, np.float32), 0.0, 1.0)
    with pytest.raises(TypeError):  # read-only output
        kernels.standardized(np.zeros(4, np.uint8), bytes(16), 0.0, 1.0)
    with pytest.raises(ValueError, match=r"standardized dst .* expected .* 16 bytes, got 12"):
        kernels.standardized(np.zeros(4, np.uint8), np.zeros(3, np.float32), 0.0, 1.0)


def test_strided_output_takes_the_numpy_path_with_the_same_values(kernels):
    rng = np.random.default_rng(3)
    block = rng.integers(0, 256, size=(9, 4, 5, 3), dtype=np.uint8)
    stats = {"diffnorm_std": 0.21, "frames_mean": 100.0, "frames_std": 30.0}
    for view in ("diffnormalized", "standardized"):
        flat = views.frames_view(block, view, stats, 8)
        wide = np.full((8, 4, 5, 6), np.nan, np.float32)  # out[..., :3] is strided: the kernels cannot take it
        views.frames_view(block, view, stats, 8, out=wide[..., :3])
        assert np.array_equal(wide[..., :3], flat) and np.isnan(wide[..., 3:]).all()


def test_threads_share_the_kernels(kernels):
    # the kernels release the GIL: concurrent calls on separate buffers give each caller its own exact result
    rng = np.random.default_rng(5)
    blocks = [rng.integers(0, 256, size=(33, 72, 72, 3), dtype=np.uint8) for _ in range(4)]
    stats = {"diffnorm_std": 0.05}
    want = [views.frames_view(b, "diffnormalized", stats, 32, channels_first=True) for b in blocks]
    got = [None] * 4

    def work(i):
        for _ in range(5):
            got[i] = views.frames_view(blocks[i], "diffnormalized", stats, 32, channels_first=True)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))


def test_use_kernel_names_and_missing_extension(monkeypatch):
    with pytest.raises(ValueError, match="kernel must be one of"):
        views.use_kernel("fortran")
    monkeypatch.setattr(views, "_C", None)
    with pytest.raises(RuntimeError, match="not built"):
        views.use_kernel("c")
    prev = views.use_kernel("numpy")
    try:
        assert views.kernel() == "numpy"
    finally:
        monkeypatch.undo()
        views.use_kernel(prev)


def test_view_kernels_benchmark_runs_and_checks_identity():
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "view_kernels.py"
    proc = subprocess.run([sys.executable, str(script), "--clip-len", "8", "--rounds", "1", "--repeat", "1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "identical bytes" in lines[0]
    header = lines[1].split()
    assert header[0] == "view" and "numpy" in header and (("c" in header) == (views._C is not None))
    rows = {r.split()[0]: [float(x) for x in r.split()[1:]] for r in lines[2:]}
    assert set(rows) == set(views.VIEWS) and all(len(t) == len(header) - 1 and min(t) >= 0 for t in rows.values())
