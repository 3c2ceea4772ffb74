"""PHASE-Net's visual encoder for CPU inference, frame chunk by frame chunk (inference helper, no autograd).

The encoder is memory-bound: at the default size every hidden tensor of the first EST block is 537 MB, and run
op by op each of its ~16 full passes (a convolution, an instance norm's two statistics passes and its apply
pass, ...) goes to DRAM, and each fresh 537 MB tensor costs ~0.4 s of page faults. Here every block is one
pipeline over chunks of a few frames (a few MB: the chunk stays in cache from one op to the next), with the
instance norms resolved as follows, which is the same function as the module path:

- The norm after the 1x1x1 expansion is exact from the block input's channel means and covariance
  (``u = W x`` is linear: ``mean(u) = W mean(x)``, ``var(u_c) = w_c^T Cov(x) w_c``), so it is folded into
  the expansion's weights and bias; the covariance is gathered while the previous stage writes the input.
- The norms after the depthwise convolutions need the statistics of their whole input first: pass 1
  (expansion, mixer, depthwise (1,k,k)) writes one workspace and gathers its statistics; pass 2 reads it back
  chunk by chunk, normalises and runs the temporal depthwise convolution into the same workspace (a carry of
  ``k // 2`` frames keeps the frames it overwrote); pass 3 normalises the result in place (norm + ReLU) and
  sums it for the squeeze-excitation means; pass 4 projects it with the excitation folded into the
  projection weights, gathers the projection's statistics and max-pools it.
- The last norm is applied after the max pool: ``max(a y + b) = a max(y) + b`` for ``a > 0`` (exact, also
  in floating point, as rounding is monotone), so only the pooled map, a quarter of the projection, is
  written and then normalised in place.

Statistics are sums of per-chunk float32 sums accumulated in float64, about the first chunk's mean where a
channel's mean is large against its spread (:class:`Moments`); the biased variance and ``eps`` are those of
``nn.InstanceNorm3d``. Samples of a batch run one after the other
(instance norm and squeeze-excitation are per sample). Blocks with a residual connection, another stage
layout or dtype are run by :meth:`ESTBlock.forward_fast` instead (:func:`fused_block_supported`).
"""
from __future__ import annotations

import ctypes
import sys
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F

from rppgbench.models._phasenet_blocks import TIM, ZAS, ESTBlock

try:  # one-pass per-channel loops (setup.py; optional: torch's ops give the same function, a little slower)
    from rppgbench import _kernels as _C
except ImportError:  # pragma: no cover - exercised where the extension could not be built
    _C = None

__all__ = ["Moments", "empty_huge", "encode_fused", "est_block_fused", "fused_block_supported", "release_workspace"]

#: bytes of one chunk of the widest tensor of a stage: a few MB, so that a chunk stays in cache between ops
CHUNK_BYTES = 4 << 20
EPS = 1e-5
#: a channel whose first-chunk mean^2 exceeds this many variances makes :class:`Moments` sum about a shift
SHIFT_RATIO = 9.0


class Moments:
    """Running per-channel sums of the rows of ``(rows, C)`` float32 chunks: mean and biased variance, or with
    ``cov=True`` mean and covariance matrix. Float32 sums per chunk, accumulated in float64.

    The sums are taken about a shift, the first chunk's mean, when some channel's mean is large against its
    spread there (mean^2 > :data:`SHIFT_RATIO` x variance): float32 sums of squares of raw values would then
    lose the variance to cancellation. Otherwise the shift is zero and a chunk is summed where it lies, without
    a shifted copy (one pass fewer per chunk): at ``mean^2 <= 9 var`` a float32 sum of squares loses at most a
    factor 10 in relative precision (~1e-6 of the variance), far inside the 1e-5 tolerance against
    ``nn.InstanceNorm3d``."""

    def __init__(self, cov: bool = False) -> None:
        self.cov = cov
        self.n = 0
        self.shift: torch.Tensor | None = None
        self.shifted = False
        self.s: torch.Tensor | None = None
        self.ss: torch.Tensor | None = None

    def add(self, x2: torch.Tensor, scratch: torch.Tensor | None = None) -> None:
        """Add the rows of ``x2`` ``(rows, C)`` (not modified); ``scratch``: a float32 buffer of at least
        ``x2.numel()`` elements for the shifted copy (allocated when None)."""
        if self.shift is None:
            c = x2.shape[1]
            mean = x2.mean(0)
            var = (x2 - mean).square_().mean(0)
            self.shifted = bool((mean * mean > SHIFT_RATIO * var).any())
            self.shift = mean if self.shifted else torch.zeros_like(mean)
            self.s = torch.zeros(c, dtype=torch.float64)
            self.ss = torch.zeros((c, c) if self.cov else c, dtype=torch.float64)
        if self.shifted:
            d = torch.sub(x2, self.shift, out=scratch[:x2.numel()].view(x2.shape)) if scratch is not None \
                else x2 - self.shift
        else:
            d = x2
        if _native(d):  # sums (and squares) in one pass; the covariance stays a BLAS product
            dn, c = d.numpy(), d.shape[1]
            sums = (self.s.numpy(), np.zeros(c) if self.cov else self.ss.numpy())
            _in_parts(lambda r0, r1, sm: _C.col_moments(dn[r0:r1], r1 - r0, c, sm[0], None if self.cov else sm[1]),
                      d.shape[0], c, sums)
            if self.cov:
                self.ss += d.t() @ d
        else:
            self.s += d.sum(0)
            self.ss += (d.t() @ d) if self.cov else torch.linalg.vecdot(d, d, dim=0)
        self.n += x2.shape[0]

    def sink(self, rows: int) -> tuple | None:
        """Where a compiled loop may add the sums of ``rows`` more rows itself while writing them: ``(s, ss)`` as
        float64 arrays (and the rows are counted), or None when it may not (no first chunk yet, a shift, a
        covariance, or no compiled loops): then call :meth:`add`."""
        if _C is None or self.shift is None or self.shifted or self.cov:
            return None
        self.n += rows
        return self.s.numpy(), self.ss.numpy()

    def mean_var(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mean, var)`` or ``(mean, cov)`` in float64."""
        dm = self.s / self.n
        second = self.ss / self.n
        var = second - torch.outer(dm, dm) if self.cov else (second - dm * dm).clamp_min(0.0)
        return dm + self.shift.double(), var

    def norm_affine(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(scale, bias)`` in float32 with ``instance_norm(x) = x * scale + bias``."""
        mean, var = self.mean_var()
        if self.cov:
            var = var.diagonal().clamp_min(0.0)
        scale = torch.rsqrt(var + EPS)
        return scale.float(), (-mean * scale).float()


def _native(*ts: torch.Tensor) -> bool:
    """Whether the compiled loops can take these tensors: built, float32/float64 CPU and contiguous."""
    return _C is not None and all(t.device.type == "cpu" and t.is_contiguous() and not t.requires_grad for t in ts)


def affine_(src: torch.Tensor, dst: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor, relu: bool,
            colsum: torch.Tensor | None = None) -> torch.Tensor:
    """``dst <- src * scale + bias`` per channel (last axis; then ReLU), ``dst`` may be ``src``; adds the channel
    sums of the result to the float64 ``colsum`` when given. Returns ``dst``."""
    c = src.shape[-1]
    if _native(src, dst, scale, bias) and src.dtype == dst.dtype == scale.dtype == bias.dtype == torch.float32:
        a, b = src.reshape(-1, c).numpy(), dst.reshape(-1, c).numpy()
        sc, bi = scale.numpy(), bias.numpy()
        sums = None if colsum is None else (colsum.numpy(), np.zeros(c))  # the kernel has one sum: ss stays 0
        _in_parts(lambda r0, r1, sm: _C.affine(a[r0:r1], b[r0:r1], r1 - r0, c, sc, bi, relu,
                                               None if sm is None else sm[0]), a.shape[0], c, sums)
        return dst
    torch.addcmul(bias, src, scale, out=dst)
    if relu:
        dst.relu_()
    if colsum is not None:
        colsum += dst.reshape(-1, c).sum(0)
    return dst


#: channels up to which the compiled convolutions also gather statistics (TILE in rppgbench/_kernels.c)
_C_MAX_SUM_CHANNELS = 256
#: elements per part below which a compiled loop is not split over threads (a part must outweigh the hand-off)
_MIN_PART_ELEMS = 1 << 17

_POOL: dict = {"pool": None, "workers": 0}  # the helper threads of _in_parts, grown on demand
_POOL_LOCK = threading.Lock()


def _pool(workers: int) -> ThreadPoolExecutor:
    with _POOL_LOCK:
        if _POOL["workers"] < workers:
            _POOL["pool"] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rppgbench-phasenet")
            _POOL["workers"] = workers
        return _POOL["pool"]


def _in_parts(fn, rows: int, row_elems: int, sums: tuple | None = None) -> None:
    """``fn(r0, r1, sums_part)`` over row ranges split across ``torch.get_num_threads()`` threads (the compiled
    loops release the GIL; torch's own ops use that many threads too); this thread runs the first range. With
    ``sums`` (float64 arrays ``(s, ss)``) each range adds into its own pair, summed into ``sums`` afterwards."""
    k = max(1, min(torch.get_num_threads(), rows, rows * row_elems // _MIN_PART_ELEMS))
    if k == 1:
        fn(0, rows, sums)
        return
    step = -(-rows // k)
    ranges = [(r0, min(r0 + step, rows)) for r0 in range(0, rows, step)]
    parts = [None if sums is None else (np.zeros_like(sums[0]), np.zeros_like(sums[1])) for _ in ranges]
    futures = [_pool(len(ranges) - 1).submit(fn, r0, r1, part) for (r0, r1), part in zip(ranges[1:], parts[1:],
                                                                                            strict=True)]
    fn(*ranges[0], parts[0])
    for f in futures:
        f.result()
    if sums is not None:
        for part in parts:  # (a tuple: add in place into its arrays)
            np.add(sums[0], part[0], out=sums[0])
            np.add(sums[1], part[1], out=sums[1])

_HUGE = 2 << 20  # bytes of a transparent huge page on x86-64 and arm64 Linux
_MADV_HUGEPAGE = 14


def empty_huge(n: int) -> torch.Tensor:
    """A float32 tensor of ``n`` elements whose whole 2 MB pages are marked ``MADV_HUGEPAGE`` (Linux).

    The encoder's workspaces are hundreds of MB, allocated on a model's first call (then kept); with 4 KB pages
    their first touch costs ~0.3 s of page faults per 537 MB on a 2-core EPYC VM, with huge pages ~0.1 s
    (first touch of a filled 537 MB tensor, measured 2026-12-02). Where ``madvise`` is unavailable, or the
    kernel's THP mode is ``never``, this is ``torch.empty(n)``."""
    if n * 4 < 4 * _HUGE or not sys.platform.startswith("linux"):
        return torch.empty(n)
    buf = torch.empty(n + _HUGE // 4)
    start = buf.data_ptr()
    aligned = (start + _HUGE - 1) // _HUGE * _HUGE
    off = (aligned - start) // 4
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        libc.madvise(aligned, n * 4 // _HUGE * _HUGE, _MADV_HUGEPAGE)  # advice only: a failure changes nothing
    except (OSError, AttributeError):
        pass
    return buf[off:off + n]


def _frames_per_chunk(frame_elems: int, total: int) -> int:
    return max(1, min(total, CHUNK_BYTES // (4 * frame_elems)))


def fused_block_supported(block: ESTBlock, x: torch.Tensor) -> bool:
    """Whether :func:`est_block_fused` runs ``block`` on ``x`` ``(T, H, W, C)`` (else
    :meth:`ESTBlock.forward_fast` does)."""
    c2, c3 = block.stage2[0], block.stage3[0]
    return (x.dtype == torch.float32 and not block.use_residual and isinstance(block.tsm, (TIM, ZAS))
            and c2.kernel_size[0] == 1 and c2.padding[0] == 0 and all(k % 2 for k in c2.kernel_size)
            and tuple(c2.padding[1:]) == (c2.kernel_size[1] // 2, c2.kernel_size[2] // 2)
            and c3.kernel_size[1:] == (1, 1) and c3.kernel_size[0] % 2 == 1
            and c3.padding == (c3.kernel_size[0] // 2, 0, 0)
            and all(c.stride == (1, 1, 1) and c.dilation == (1, 1, 1) for c in (c2, c3))
            and tuple(block.pool.kernel_size) == (1, 2, 2) and tuple(block.pool.stride) == (1, 2, 2)
            and x.shape[1] % 2 == 0 and x.shape[2] % 2 == 0)


class _Expanded:
    """Frames of ``relu(norm(W x))`` with the mixer applied, computed once each (a ring of three frames)."""

    def __init__(self, block: ESTBlock, x: torch.Tensor, w1t: torch.Tensor, b1: torch.Tensor) -> None:
        t_len, h, w, _ = x.shape
        hid = w1t.shape[1]
        self.x, self.w1t, self.b1, self.mixer = x, w1t, b1, block.tsm
        self.ring = torch.empty(3, h, w, hid)
        self.done = -1  # frames [0, done] have been expanded into ring[t % 3]
        tim = isinstance(self.mixer, TIM) and t_len > 1
        self.f = self.mixer.f if tim else 0
        self.p = self.mixer.p if tim and not self.mixer.bugcompat else 0
        self.saved = torch.empty(2, h, w, self.p) if self.p else None  # unmixed "past" channels of t-1, t
        # with the compiled loops the ReLU is applied as dw_spatial reads the frames (segments(): no pass of its own)
        self.relu_on_read = False

    def _expand(self, t: int) -> None:
        dst = self.ring[t % 3]
        torch.addmm(self.b1, self.x[t].view(-1, self.x.shape[-1]), self.w1t, out=dst.view(-1, dst.shape[-1]))
        if not self.relu_on_read:
            dst.relu_()
        self.done = t

    def segments(self, t: int) -> list | None:
        """The mixed frame ``t`` as channel segments ``[(end, frame or None), ...]`` of unmixed expanded frames
        (``None``: zeros) for the compiled spatial convolution, or None where only :meth:`frame` applies (ZAS).
        Frames must be asked for in order; nothing is copied (the ring of 3 holds t-1, t, t+1)."""
        if isinstance(self.mixer, ZAS):
            return None
        self.relu_on_read = True  # the caller passes relu=True to dw_spatial (frame() is then not used)
        t_len, hid = self.x.shape[0], self.w1t.shape[1]
        if self.done < t:
            self._expand(t)
        f, p = self.f, self.p
        segs = []
        if f:
            if t + 1 < t_len and self.done < t + 1:
                self._expand(t + 1)
            segs.append((f, self.ring[(t + 1) % 3].numpy() if t + 1 < t_len else None))
        if p:
            segs.append((f + p, self.ring[(t - 1) % 3].numpy() if t > 0 else None))
        segs.append((hid, self.ring[t % 3].numpy()))
        return segs

    def frame(self, t: int) -> torch.Tensor:
        """The mixed frame ``t`` ``(H, W, C)``; frames must be asked for in order (0, 1, ...)."""
        t_len = self.x.shape[0]
        if self.done < t:
            self._expand(t)
        cur = self.ring[t % 3]
        if isinstance(self.mixer, ZAS):
            return self.mixer(cur.permute(2, 0, 1).unsqueeze(0))[0].permute(1, 2, 0)
        f, p = self.f, self.p
        if p:
            self.saved[t % 2].copy_(cur[..., f:f + p])
            if t == 0:
                cur[..., f:f + p] = 0
            else:
                cur[..., f:f + p] = self.saved[(t - 1) % 2]
        if f:
            if t + 1 < t_len:
                self._expand(t + 1)
                cur[..., :f] = self.ring[(t + 1) % 3][..., :f]
            else:
                cur[..., :f] = 0
        return cur


def est_block_fused(block: ESTBlock, x: torch.Tensor, x_moments: Moments | None, work: torch.Tensor,
                    out: torch.Tensor, want_moments: bool) -> Moments | None:
    """One EST block on one sample: ``x`` is ``(T, H, W, C_in)`` contiguous (channels last), ``work`` a float32
    buffer of at least ``T*H*W*C_hid`` elements, ``out`` ``(T, H/2, W/2, C_out)`` (written, must not overlap
    ``work``; it may overlap ``x``, which is dead after pass 1). ``x_moments``: the channel mean and covariance
    of ``x`` (computed here when None). Returns those of ``out`` when ``want_moments``."""
    t_len, h, w, cin = x.shape
    conv1, conv2, conv3 = block.stage1[0], block.stage2[0], block.stage3[0]
    hid = conv1.out_channels
    v = work[:t_len * h * w * hid].view(t_len, h, w, hid)
    nf = _frames_per_chunk(h * w * hid, t_len)
    scratch = torch.empty(nf * h * w * hid)
    if x_moments is None:
        x_moments = Moments(cov=True)
        for t0 in range(0, t_len, nf):
            x_moments.add(x[t0:t0 + nf].reshape(-1, cin), scratch)
    # the first norm folded into the expansion: relu(s * (W x - mean)) = relu((s W) x - s mean)
    w1 = conv1.weight.reshape(hid, cin).double()
    mean_x, cov_x = x_moments.mean_var()
    s1 = torch.rsqrt(((w1 @ cov_x) * w1).sum(1).clamp_min(0.0) + EPS)
    w1t = (w1 * s1[:, None]).t().float().contiguous()  # (C_in, C_hid)
    b1 = (-(w1 @ mean_x) * s1).float()
    mixer = block.tsm
    if isinstance(mixer, TIM) and mixer.bugcompat and mixer.p and t_len > 1:
        w1t[:, mixer.f:mixer.f + mixer.p] = 0  # the released interlace zeroes these channels: relu(0) = 0
        b1[mixer.f:mixer.f + mixer.p] = 0

    # pass 1: expansion (+ folded norm, ReLU), mixer, depthwise (1,k,k) -> v; statistics of v
    expanded = _Expanded(block, x, w1t, b1)
    st2 = Moments()
    k2 = conv2.weight.reshape(hid, 1, *conv2.kernel_size[1:])
    pad2 = tuple(conv2.padding[1:])
    kh, kw = conv2.kernel_size[1:]
    taps2 = k2.reshape(hid, kh * kw).t().contiguous()  # (kh*kw, C_hid): the compiled channels-last conv's layout
    native = _native(v, taps2) and hid <= _C_MAX_SUM_CHANNELS
    for t in range(t_len):
        segs = expanded.segments(t) if native else None
        relu = segs is not None  # segments(): the frames are expanded without their ReLU
        if segs is None:
            segs = [(hid, expanded.frame(t).contiguous().numpy())] if native else None
        if segs is not None:  # straight into v[t] from the unmixed frames: no mixed copy, no channels-first temporary
            sink = st2.sink(h * w)
            vt, tp = v[t].numpy(), taps2.numpy()
            _in_parts(lambda i0, i1, sm, segs=segs, vt=vt, tp=tp, relu=relu: _C.dw_spatial(
                segs, vt, h, w, hid, tp, kh, kw, relu, *(sm or (None, None)), i0, i1), h, w * hid, sink)
        else:
            d = F.conv2d(expanded.frame(t).unsqueeze(0).permute(0, 3, 1, 2), k2, None, padding=pad2, groups=hid)
            v[t].copy_(d[0].permute(1, 2, 0))
            sink = None
        if sink is None:
            st2.add(v[t].view(-1, hid), scratch)
    del expanded
    s2, b2 = st2.norm_affine()

    # pass 2: norm + ReLU, temporal depthwise conv in place (a ring of k frames of the normalised input)
    kt = conv3.kernel_size[0]
    pad = kt // 2
    taps3 = conv3.weight.reshape(hid, kt).t().contiguous()  # (kt, C_hid)
    ring = torch.empty(kt, h, w, hid)  # frame tau of relu(norm(v)) in ring[tau % kt]
    zero = torch.zeros(h, w, hid) if pad else None

    def load(tau: int) -> None:
        affine_(v[tau], ring[tau % kt], s2, b2, relu=True)

    for tau in range(min(pad, t_len)):
        load(tau)
    st3 = Moments()
    for t in range(t_len):
        if t + pad < t_len:
            load(t + pad)  # v[t + pad] is still the input: outputs are written up to frame t - 1
        vt = v[t]
        taus = [t + j - pad for j in range(kt)]
        sink = None
        if native:  # the kt taps in one pass (a padding frame is skipped), the statistics gathered while writing
            sink = st3.sink(h * w)
            srcs = [ring[tau % kt].view(-1, hid).numpy() if 0 <= tau < t_len else None for tau in taus]
            dst, tp = vt.view(-1, hid).numpy(), taps3.numpy()
            _in_parts(lambda r0, r1, sm, srcs=srcs, dst=dst, tp=tp: _C.dw_temporal(
                [None if f is None else f[r0:r1] for f in srcs], dst[r0:r1], r1 - r0, hid, tp,
                *(sm or (None, None))), h * w, hid, sink)
        else:
            for j, tau in enumerate(taus):
                src = ring[tau % kt] if 0 <= tau < t_len else zero
                if j == 0:
                    torch.mul(src, taps3[j], out=vt)
                else:
                    vt.addcmul_(src, taps3[j])
        if sink is None:
            st3.add(vt.view(-1, hid), scratch)
    s3, b3 = st3.norm_affine()

    # pass 3: v <- relu(norm(v)) in place, and its squeeze-excitation means
    total = torch.zeros(hid, dtype=torch.float64)
    for t0 in range(0, t_len, nf):
        n = min(nf, t_len - t0)
        a3 = v[t0:t0 + n].view(-1, hid)
        affine_(a3, a3, s3, b3, relu=True, colsum=total)
    pooled = (total / (t_len * h * w)).float()
    excite = block.se.fc(pooled.view(1, hid, 1, 1, 1)).view(1, hid)
    cout = block.proj[0].out_channels
    wpt = (block.proj[0].weight.reshape(cout, hid) * excite).t().contiguous()  # (C_hid, C_out)

    # pass 4: projection of v (excitation folded in), statistics, max pool (the norm comes after it)
    st4 = Moments()
    ybuf = torch.empty(nf * h * w * cout)
    yscratch = torch.empty(nf * h * w * cout)
    for t0 in range(0, t_len, nf):
        n = min(nf, t_len - t0)
        y = ybuf[:n * h * w * cout].view(-1, cout)
        torch.mm(v[t0:t0 + n].view(-1, hid), wpt, out=y)
        o = out[t0:t0 + n]
        sink = st4.sink(n * h * w) if native and o.is_contiguous() and cout <= _C_MAX_SUM_CHANNELS else None
        if sink is not None:  # the pool and the statistics of y in one pass
            _C.pool2x2(y.numpy(), o.numpy(), n, h, w, cout, *sink)
            continue
        st4.add(y, yscratch)
        yv = y.view(n, h, w, cout)
        torch.maximum(yv[:, 0::2, 0::2], yv[:, 0::2, 1::2], out=o)
        torch.maximum(o, yv[:, 1::2, 0::2], out=o)
        torch.maximum(o, yv[:, 1::2, 1::2], out=o)
    s4, b4 = st4.norm_affine()
    moments = Moments(cov=True) if want_moments else None
    _apply_norm_(out.view(-1, cout), s4, b4, relu=False, moments=moments, scratch=yscratch)
    return moments


def _apply_norm_(x2: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor, relu: bool, moments: Moments | None,
                 scratch: torch.Tensor) -> None:
    """``x2 <- x2 * scale + bias`` (then ReLU) in place by row chunks, gathering ``moments`` of the result."""
    c = x2.shape[1]
    rows = max(min(CHUNK_BYTES // (4 * c), scratch.numel() // c), 1)
    for i in range(0, x2.shape[0], rows):
        ch = x2[i:i + rows]
        affine_(ch, ch, scale, bias, relu)
        if moments is not None:
            moments.add(ch, scratch)


def _stem(conv: torch.nn.Conv3d, x: torch.Tensor, out: torch.Tensor) -> tuple[torch.Tensor, Moments]:
    """Stem conv (1,k,k) + instance norm + ReLU of one sample ``x`` (3, T, H, W): the result ``(T, H, W, C)`` and
    its channel mean and covariance. oneDNN convolutions over chunks of frames (channels-last results) copied
    into ``out`` (a flat float32 buffer of at least ``T*H*W*C`` elements, e.g. a kept workspace: no fresh
    full-size tensor per call); then the norm in place by row chunks."""
    c = conv.out_channels
    t_len, h, w = x.shape[1:]

    def conv_frames(xs: torch.Tensor) -> torch.Tensor:
        xc = xs.unsqueeze(0).contiguous(memory_format=torch.channels_last_3d)
        if torch.backends.mkldnn.is_available():
            return torch.mkldnn_convolution(xc, conv.weight, conv.bias, list(conv.padding), [1, 1, 1], [1, 1, 1], 1)
        return F.conv3d(xc, conv.weight, conv.bias, padding=conv.padding)

    res = out[:t_len * h * w * c].view(t_len, h, w, c)
    nf = _frames_per_chunk(h * w * c, t_len)
    for t0 in range(0, t_len, nf):
        res[t0:t0 + nf].copy_(conv_frames(x[:, t0:t0 + nf])[0].permute(1, 2, 3, 0))
    o2 = res.view(-1, c)
    rows = max(CHUNK_BYTES // (4 * c), 1)
    scratch = torch.empty(rows * c)
    st = Moments()
    for i in range(0, o2.shape[0], rows):
        st.add(o2[i:i + rows], scratch)
    scale, bias = st.norm_affine()
    moments = Moments(cov=True)
    _apply_norm_(o2, scale, bias, relu=True, moments=moments, scratch=scratch)
    return res, moments


def stem_supported(conv: torch.nn.Conv3d, x: torch.Tensor) -> bool:
    return (x.dtype == torch.float32 and conv.kernel_size[0] == 1 and conv.padding[0] == 0
            and conv.stride == (1, 1, 1) and conv.dilation == (1, 1, 1) and conv.groups == 1)


#: per encoder module, its workspaces between calls (taken out while a call uses them, so that a concurrent call
#: on the same model allocates its own); dropped with the module
_WORKSPACES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_WS_LOCK = threading.Lock()


def _take_workspace(module: torch.nn.Module) -> dict:
    with _WS_LOCK:
        return _WORKSPACES.pop(module, {})


def _give_back_workspace(module: torch.nn.Module, ws: dict) -> None:
    with _WS_LOCK:
        _WORKSPACES[module] = ws


def release_workspace(module: torch.nn.Module) -> None:
    """Free the workspaces :func:`encode_fused` keeps for ``module`` (the model's ``base_encoder``)."""
    with _WS_LOCK:
        _WORKSPACES.pop(module, None)


def encode_fused(base_encoder: torch.nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """``base_encoder(x)`` (stem conv, instance norm, ReLU, EST blocks) for CPU inference, ``B x 3 x T x H x W``
    -> ``B x C x T x h x w`` in channels-last-3d memory format; blocks that :func:`fused_block_supported`
    rejects run :meth:`ESTBlock.forward_fast`.

    The two workspaces (at the default size 537 MB and 134 MB) are kept for the next call on the same encoder,
    as inference runs clip after clip: a fresh 0.6 GB costs ~0.3-1 s of page faults per call on a 2-core VM,
    a quarter of the encoder's time (``benchmarks/phasenet_cpu.py``). They are freed with the module or by
    :func:`release_workspace`; the result never lies in them."""
    stem, blocks = base_encoder[0], list(base_encoder)[3:]
    bsz, _, t_len, h, w = x.shape
    # two workspaces: `act` holds the stem's and the blocks' outputs (a block's input is dead after its pass 1, so
    # its output may overwrite it), `work` their hidden maps
    sizes, work_size, side_h, side_w = [0], 0, h, w
    for blk in blocks:
        work_size = max(work_size, t_len * side_h * side_w * blk.stage1[0].out_channels)
        side_h, side_w = side_h // 2, side_w // 2
        sizes.append(t_len * side_h * side_w * blk.proj[0].out_channels)
    sizes[0] = t_len * h * w * stem.out_channels  # the stem's output is the first block's input, in `act` too
    ws = _take_workspace(base_encoder)
    act = ws["act"] if ws.get("act") is not None and ws["act"].numel() >= max(sizes) else empty_huge(max(sizes))
    work = ws["work"] if ws.get("work") is not None and ws["work"].numel() >= work_size else empty_huge(work_size)
    outs = []
    for b in range(bsz):
        cur, moments = _stem(stem, x[b], act if blocks else torch.empty(sizes[0]))  # no blocks: the result
        for i, blk in enumerate(blocks):
            if fused_block_supported(blk, cur):
                th, tw = cur.shape[1] // 2, cur.shape[2] // 2
                # the last block writes a fresh tensor: the result outlives the workspace's next use
                buf = act if i + 1 < len(blocks) else torch.empty(sizes[i + 1])
                nxt = buf[:sizes[i + 1]].view(t_len, th, tw, blk.proj[0].out_channels)
                moments = est_block_fused(blk, cur, moments, work, nxt, want_moments=i + 1 < len(blocks))
            else:
                y = blk.forward_fast(cur.unsqueeze(0).permute(0, 4, 1, 2, 3))
                nxt = y[0].permute(1, 2, 3, 0).contiguous()
                moments = None
            cur = nxt
        outs.append(cur)  # a fresh tensor (the last block's output, or the stem's when there is no block)
    _give_back_workspace(base_encoder, {"act": act, "work": work})
    if bsz == 1:
        return outs[0].unsqueeze(0).permute(0, 4, 1, 2, 3)
    return torch.stack(outs).permute(0, 4, 1, 2, 3)
