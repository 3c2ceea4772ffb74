"""The compiled view arithmetic (rppgbench/_kernels.c): built wherever a C compiler is, bit-identical to the
numpy path for every possible pair of uint8 inputs, and strict about the buffers it is given."""
from __future__ import annotations

import itertools
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
    assert views._C is not None, "a C compiler is present but rppgbench._kernels was not built: reinstall"
    assert views.kernel() == "c"


@pytest.fixture
def kernels():
    if views._C is None:
        pytest.skip("rppgbench._kernels is not built in this install")
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


# --- the per-channel loops of PHASE-Net's CPU encoder (rppgbench/models/_phasenet_fused.py) ---------------------

def test_col_moments_equal_float64_sums(kernels):
    rng = np.random.default_rng(11)
    for rows, cols in [(1, 1), (63, 5), (64, 16), (1000, 300), (129, 256)]:  # partial row blocks, > one tile
        x = (rng.standard_normal((rows, cols)) * 3 + 1).astype(np.float32)
        s, ss = np.full(cols, 2.0), np.full(cols, 5.0)  # the kernel adds to what is there
        kernels.col_moments(x, rows, cols, s, ss)
        xd = x.astype(np.float64)
        np.testing.assert_allclose(s - 2.0, xd.sum(0), rtol=1e-6, atol=1e-4)
        np.testing.assert_allclose(ss - 5.0, (xd * xd).sum(0), rtol=1e-6)
        only = np.zeros(cols)
        kernels.col_moments(x, rows, cols, only, None)
        np.testing.assert_allclose(only, xd.sum(0), rtol=1e-6, atol=1e-4)


def test_affine_in_place_out_of_place_and_sums_only(kernels):
    rng = np.random.default_rng(12)
    rows, cols = 300, 70
    x = rng.standard_normal((rows, cols)).astype(np.float32)
    x[0, 0] = np.nan
    scale = rng.uniform(0.5, 2, cols).astype(np.float32)
    bias = rng.standard_normal(cols).astype(np.float32)
    for relu in (False, True):
        want = x * scale + bias
        if relu:
            want = np.where(want < 0, np.float32(0), want)  # NaN stays NaN, as torch's relu keeps it
        out = np.empty_like(x)
        colsum = np.zeros(cols)
        kernels.affine(x, out, rows, cols, scale, bias, relu, colsum)
        assert np.array_equal(out, want, equal_nan=True)
        np.testing.assert_allclose(colsum[1:], want[:, 1:].astype(np.float64).sum(0), rtol=1e-5, atol=1e-4)
        sums_only = np.zeros(cols)
        kernels.affine(x, None, rows, cols, scale, bias, relu, sums_only)
        np.testing.assert_allclose(sums_only[1:], colsum[1:], rtol=1e-6)
        inplace = x.copy()
        kernels.affine(inplace, inplace, rows, cols, scale, bias, relu, None)
        assert np.array_equal(inplace, want, equal_nan=True)
    with pytest.raises(ValueError, match="overlap"):
        kernels.affine(x[1:], x[:-1], rows - 1, cols, scale, bias, False, None)
    with pytest.raises(ValueError, match="nothing to compute"):
        kernels.affine(x, None, rows, cols, scale, bias, False, None)
    with pytest.raises(ValueError, match=r"affine scale .* expected"):
        kernels.affine(x, out, rows, cols, scale[:-1], bias, False, None)


@pytest.mark.parametrize("h,w,c,k", [(1, 1, 3, 3), (7, 5, 16, 3), (6, 9, 37, 5), (32, 32, 64, 3)])
def test_dw_spatial_equals_depthwise_conv2d_with_mixed_channels(kernels, h, w, c, k):
    import torch

    rng = np.random.default_rng(h * w + c)
    frames = [rng.standard_normal((h, w, c)).astype(np.float32) for _ in range(3)]
    weight = rng.standard_normal((c, 1, k, k)).astype(np.float32)
    taps = np.ascontiguousarray(weight.reshape(c, k * k).T)
    f, p = c // 8, c // 8
    # channels [0, f) from frame 1, [f, f+p) zeros, the rest from frame 0: PHASE-Net's interlace at the clip start
    mixed = frames[0].copy()
    mixed[..., :f] = frames[1][..., :f]
    mixed[..., f:f + p] = 0

    def conv(frame):
        return torch.nn.functional.conv2d(frame.permute(2, 0, 1)[None], torch.from_numpy(weight), padding=k // 2,
                                          groups=c)[0].permute(1, 2, 0).numpy()

    ref, ref_relu = conv(torch.from_numpy(mixed)), conv(torch.from_numpy(mixed).relu())
    for (segs, relu) in itertools.product(([(f, frames[1]), (f + p, None), (c, frames[0])], [(c, mixed)]),
                                          (False, True)):
        out = np.full((h, w, c), np.nan, np.float32)
        s, ss = np.zeros(c), np.zeros(c)
        kernels.dw_spatial(segs, out, h, w, c, taps, k, k, relu, s, ss)
        np.testing.assert_allclose(out, ref_relu if relu else ref, rtol=1e-5, atol=1e-5)
        od = out.reshape(-1, c).astype(np.float64)
        np.testing.assert_allclose(s, od.sum(0), rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(ss, (od * od).sum(0), rtol=1e-5)
    with pytest.raises(ValueError, match="channel ends must rise"):
        kernels.dw_spatial([(c + 1, frames[0])], out, h, w, c, taps, k, k)
    with pytest.raises(ValueError, match="overlaps dst"):
        kernels.dw_spatial([(c, out)], out, h, w, c, taps, k, k)
    with pytest.raises(ValueError, match="odd kernel sizes"):
        kernels.dw_spatial([(c, frames[0])], out, h, w, c, taps, 2, 2)


def test_dw_temporal_equals_the_weighted_sum(kernels):
    rng = np.random.default_rng(13)
    rows, c = 500, 40
    frames = [rng.standard_normal((rows, c)).astype(np.float32) for _ in range(3)]
    taps = rng.standard_normal((3, c)).astype(np.float32)
    for present in ([0, 1, 2], [1, 2], [0, 1], []):
        srcs = [frames[j] if j in present else None for j in range(3)]
        want = np.zeros((rows, c), np.float64)
        for j in present:
            want += frames[j].astype(np.float64) * taps[j]
        out = np.full((rows, c), np.nan, np.float32)
        s, ss = np.zeros(c), np.zeros(c)
        kernels.dw_temporal(srcs, out, rows, c, taps, s, ss)
        np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(s, out.astype(np.float64).sum(0), rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match="overlaps dst"):
        kernels.dw_temporal([out, None, None], out, rows, c, taps)
    with pytest.raises(ValueError, match=r"dw_temporal taps .* expected"):
        kernels.dw_temporal(frames, out, rows, c, taps[:2])
    with pytest.raises(ValueError, match="at most 256 channels"):
        big = np.zeros((2, 300), np.float32)
        kernels.dw_temporal([big], np.zeros((2, 300), np.float32), 2, 300, np.zeros((1, 300), np.float32),
                            np.zeros(300), np.zeros(300))


def test_pool2x2_is_the_max_pool_and_sums_its_input(kernels):
    import torch

    rng = np.random.default_rng(14)
    n, h, w, c = 3, 6, 10, 20
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    want = torch.nn.functional.max_pool2d(torch.from_numpy(x).permute(0, 3, 1, 2), 2).permute(0, 2, 3, 1).numpy()
    out = np.empty((n, h // 2, w // 2, c), np.float32)
    s, ss = np.zeros(c), np.zeros(c)
    kernels.pool2x2(x, out, n, h, w, c, s, ss)
    assert np.array_equal(out, want)
    xd = x.reshape(-1, c).astype(np.float64)
    np.testing.assert_allclose(s, xd.sum(0), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(ss, (xd * xd).sum(0), rtol=1e-5)
    kernels.pool2x2(x, out, n, h, w, c)  # without the sums
    assert np.array_equal(out, want)
    with pytest.raises(ValueError, match="even h and w"):
        kernels.pool2x2(x, out, n, h, w - 1, c)
    with pytest.raises(ValueError, match=r"pool2x2 dst .* expected"):
        kernels.pool2x2(x, out[:1], n, h, w, c)
