"""The classic unsupervised rPPG methods, written from the papers' definitions.

Every method has the same signature ``method(rgb, fs) -> bvp``: ``rgb`` is the float64 ``(T, 3)`` trace of the
spatial mean of the skin pixels (R, G, B columns; see :func:`spatial_mean`) and ``fs`` its frame rate in Hz; the
result is a float64 ``(T,)`` blood-volume-pulse estimate, not band-passed beyond what the method itself defines
(evaluation applies its own detrend and band-pass).

Polarity: the stored ground truth rises with blood volume, while skin darkens when blood volume rises. Every method
here returns a signal that is positively correlated with blood volume:

- GREEN, CHROM, POS, PBV have a fixed algebraic polarity; where the paper's projection yields the inverted pulse
  (GREEN, POS, PBV) the output is negated. CHROM's ``X - alpha*Y`` already rises with blood volume.
- ICA, LGI and OMIT have no intrinsic sign (ICA sources and projections are defined up to sign), so their output is
  oriented to correlate positively with the band-passed GREEN estimate of the same trace.

References
----------
- GREEN: Verkruysse, Svaasand & Nelson, "Remote plethysmographic imaging using ambient light", Opt. Express 2008.
- ICA: Poh, McDuff & Picard, Opt. Express 2010; "Advancements in noncontact, multiparameter physiological
  measurements using a webcam", IEEE TBME 2011 (detrend, z-score, JADE, highest spectral peak).
- CHROM: de Haan & Jeanne, "Robust pulse rate from chrominance-based rPPG", IEEE TBME 2013.
- PBV: de Haan & van Leest, "Improved motion robustness of remote-PPG by using the blood volume pulse signature",
  Physiol. Meas. 2014.
- POS: Wang, den Brinker, Stuijk & de Haan, "Algorithmic principles of remote PPG", IEEE TBME 2017.
- LGI: Pilz, Zaunseder, Krajewski & Blazek, "Local group invariance for heart rate estimation from face videos in
  the wild", CVPR Workshops 2018.
- OMIT: Casado & López, "Face2PPG: An unsupervised pipeline for blood volume pulse extraction from faces",
  IEEE JBHI 2023.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.signal import get_window, periodogram

from rppgbench._checks import shown
from rppgbench.signal.detrend import detrend
from rppgbench.signal.filters import bandpass

__all__ = ["METHODS", "green", "ica", "chrom", "pos", "lgi", "pbv", "omit", "spatial_mean", "check_rgb", "jade",
           "PBV_SIGNATURE"]

_EPS = 1e-12
#: pulse band used inside the methods that band-pass (40-240 bpm, de Haan & Jeanne 2013)
PULSE_BAND = (40.0 / 60.0, 4.0)


def check_rgb(rgb: np.ndarray, fs: float, min_len: int = 2) -> np.ndarray:
    """Validate an RGB trace: float64 ``(T, 3)``, finite, ``T >= min_len``, ``fs > 0``."""
    x = np.asarray(rgb, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 3:
        raise ValueError(f"rgb must have shape (T, 3); got {x.shape}")
    if x.shape[0] < min_len:
        raise ValueError(f"rgb needs at least {min_len} frames; got {x.shape[0]}")
    if not np.all(np.isfinite(x)):
        bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
        raise ValueError(f"rgb must be finite; {bad.size} frame(s) contain NaN/inf, first at frame {int(bad[0])}")
    if not (isinstance(fs, (int, float, np.floating, np.integer)) and fs > 0):
        raise ValueError(f"fs must be > 0 Hz; got {shown(fs)}")
    return x


def _band(fs: float) -> tuple[float, float]:
    lo, hi = PULSE_BAND
    return lo, min(hi, 0.45 * fs)


def _safe_bandpass(x: np.ndarray, fs: float, order: int) -> np.ndarray:
    lo, hi = _band(fs)
    if x.shape[0] < 2 or hi <= lo:
        return x - x.mean(axis=0)
    return bandpass(x, fs, lo, hi, order=order, axis=0)


def _norm_mean(c: np.ndarray) -> np.ndarray:
    """Temporal normalisation C / mean(C) per channel (a zero mean channel is left at 1)."""
    mu = c.mean(axis=0)
    mu = np.where(np.abs(mu) < _EPS, 1.0, mu)
    return c / mu


def _hann_overlap_add(x: np.ndarray, fs: float, win_s: float,
                      fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply ``fn`` to Hann-weighted half-overlapping windows of ``win_s`` seconds and overlap-add the results."""
    t = x.shape[0]
    length = int(round(win_s * fs))
    length += length % 2
    if length >= t or length < 4:
        return fn(x)
    hop = length // 2
    starts = list(range(0, t - length + 1, hop))
    if starts[-1] + length < t:
        starts.append(t - length)
    w = get_window("hann", length)  # periodic: half-overlapping copies sum to one
    out = np.zeros(t)
    for s in starts:
        out[s:s + length] += w * fn(x[s:s + length])
    return out


def _orient(bvp: np.ndarray, rgb: np.ndarray, fs: float) -> np.ndarray:
    """Flip ``bvp`` if it is anti-correlated with the band-passed GREEN estimate."""
    ref = _safe_bandpass(green(rgb, fs), fs, order=2)
    cand = _safe_bandpass(bvp, fs, order=2)
    return -bvp if float(np.dot(ref, cand)) < 0 else bvp


# ----------------------------------------------------------------------------------------------- methods
def green(rgb: np.ndarray, fs: float) -> np.ndarray:
    """GREEN (Verkruysse 2008): the green channel, normalised by its mean and negated (``1 - G/mean(G)``)."""
    x = check_rgb(rgb, fs)
    g = x[:, 1]
    mu = g.mean()
    return -(g / (mu if abs(mu) > _EPS else 1.0) - 1.0)


def chrom(rgb: np.ndarray, fs: float, win_s: float = 1.6) -> np.ndarray:
    """CHROM (de Haan & Jeanne 2013).

    In each Hann window of ``win_s`` s (half overlap): normalise the channels by their means, form the
    chrominance signals X = 3R - 2G and Y = 1.5R + G - 1.5B, band-pass both (order 3, 40-240 bpm), and take
    S = X - (std X / std Y) Y; the windows are overlap-added.
    """
    x = check_rgb(rgb, fs)

    def one(seg: np.ndarray) -> np.ndarray:
        cn = _norm_mean(seg)
        xs = 3.0 * cn[:, 0] - 2.0 * cn[:, 1]
        ys = 1.5 * cn[:, 0] + cn[:, 1] - 1.5 * cn[:, 2]
        xf = _safe_bandpass(xs, fs, order=3)
        yf = _safe_bandpass(ys, fs, order=3)
        alpha = np.std(xf) / max(np.std(yf), _EPS)
        s = xf - alpha * yf
        return s - s.mean()

    return _hann_overlap_add(x, fs, win_s, one)


def pos(rgb: np.ndarray, fs: float, win_s: float = 1.6) -> np.ndarray:
    """POS (Wang et al. 2017), negated so that it rises with blood volume.

    For every window of l = ceil(``win_s``·fs) frames (stride one frame): Cn = C / mean(C), S1 = G - B,
    S2 = G + B - 2R, h = S1 + (std S1 / std S2)·S2; ``h - mean(h)`` is overlap-added into the output.
    """
    x = check_rgb(rgb, fs)
    t = x.shape[0]
    length = min(int(np.ceil(win_s * fs)), t)
    win = np.lib.stride_tricks.sliding_window_view(x, length, axis=0)  # (K, 3, l)
    mu = win.mean(axis=2, keepdims=True)
    cn = win / np.where(np.abs(mu) < _EPS, 1.0, mu)
    s1 = cn[:, 1] - cn[:, 2]
    s2 = cn[:, 1] + cn[:, 2] - 2.0 * cn[:, 0]
    alpha = s1.std(axis=1, keepdims=True) / np.maximum(s2.std(axis=1, keepdims=True), _EPS)
    h = s1 + alpha * s2
    h -= h.mean(axis=1, keepdims=True)
    out = np.zeros(t)
    k = h.shape[0]
    for j in range(length):
        out[j:j + k] += h[:, j]
    return -out


#: blood-volume pulse signature (relative pulsatile amplitudes of R, G, B) given by de Haan & van Leest 2014
PBV_SIGNATURE = (0.33, 0.77, 0.53)


def pbv(rgb: np.ndarray, fs: float, win_s: float = 1.6,
        signature: tuple[float, float, float] | str = PBV_SIGNATURE) -> np.ndarray:
    """PBV (de Haan & van Leest 2014), negated so that it rises with blood volume.

    In each Hann window: Cn = C/mean(C) - 1 band-passed (order 3, 40-240 bpm); Q = Cn^T Cn; the projection
    W = k·Q^-1·P_bv with k such that W·P_bv = 1, i.e. the minimum-energy combination that passes the blood-volume
    signature P_bv with unit gain; the pulse is Cn·W. ``signature`` is the unit-normalised P_bv: the paper's
    (0.33, 0.77, 0.53) by default, or ``"data"`` to estimate it per window as the standard deviations of the
    band-passed channels (rPPG-Toolbox's variant; it follows whatever dominates the window, motion included).
    """
    x = check_rgb(rgb, fs)
    fixed = None
    if isinstance(signature, str):
        if signature != "data":
            raise ValueError(f"signature must be 3 numbers or 'data'; got {signature!r}")
    else:
        fixed = np.asarray(signature, dtype=np.float64)
        if fixed.shape != (3,) or not np.all(np.isfinite(fixed)) or np.linalg.norm(fixed) == 0:
            raise ValueError(f"signature must be 3 finite numbers, not all zero; got {signature!r}")
        fixed = fixed / np.linalg.norm(fixed)

    def one(seg: np.ndarray) -> np.ndarray:
        cf = _safe_bandpass(_norm_mean(seg) - 1.0, fs, order=3)
        if fixed is None:
            sig = cf.std(axis=0)
            nrm = np.linalg.norm(sig)
            if nrm < _EPS:
                return np.zeros(seg.shape[0])
            sig = sig / nrm
        else:
            sig = fixed
        q = cf.T @ cf
        q += np.eye(3) * (1e-9 * np.trace(q) + _EPS)
        w = np.linalg.solve(q, sig)
        w /= max(float(sig @ w), _EPS)
        return cf @ w

    return -_hann_overlap_add(x, fs, win_s, one)


def _remove_direction(x: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Project the rows of ``x`` (T, 3) onto the orthogonal complement of unit vector ``u``: X (I - u u^T)."""
    p = np.eye(3) - np.outer(u, u)
    return x @ p


def lgi(rgb: np.ndarray, fs: float) -> np.ndarray:
    """LGI (Pilz et al. 2018): remove the dominant direction of the RGB trace (first right singular vector of the
    (T, 3) matrix, the local group's invariant) and return the green component of the projection, oriented
    to correlate positively with GREEN."""
    x = check_rgb(rgb, fs)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    y = _remove_direction(x, vt[0])
    return _orient(y[:, 1] - y[:, 1].mean(), x, fs)


def omit(rgb: np.ndarray, fs: float) -> np.ndarray:
    """OMIT (Casado & López 2023): QR-decompose the (3, T) RGB matrix, remove the direction of the first
    orthonormal column Q[:, 0] and return the green component, oriented to correlate positively with GREEN."""
    x = check_rgb(rgb, fs)
    q, _ = np.linalg.qr(x.T)
    y = _remove_direction(x, q[:, 0])
    return _orient(y[:, 1] - y[:, 1].mean(), x, fs)


def jade(x: np.ndarray, max_sweeps: int = 100) -> np.ndarray:
    """JADE (Cardoso & Souloumiac 1993): unmixing matrix B (m, m) such that B @ x are the estimated sources.

    ``x`` is (m, T). The data are whitened, the m(m+1)/2 fourth-order cumulant matrices of the whitened data are
    jointly diagonalised by Jacobi (Givens) rotations.
    """
    x = np.asarray(x, dtype=np.float64)
    m, t = x.shape
    xc = x - x.mean(axis=1, keepdims=True)
    d, u = np.linalg.eigh(xc @ xc.T / t)
    d = np.maximum(d, _EPS)
    wh = (u / np.sqrt(d)).T
    z = wh @ xc
    cms = []
    for i in range(m):
        for j in range(i, m):
            q = (z * (z[i] * z[j])) @ z.T / t
            if i == j:
                q -= np.eye(m)
            q[i, j] -= 1.0
            q[j, i] -= 1.0
            cms.append(q if i == j else np.sqrt(2.0) * q)
    cm = np.array(cms)  # (K, m, m)
    v = np.eye(m)
    thresh = 1e-8 / np.sqrt(t)
    for _ in range(max_sweeps):
        rotated = False
        for p in range(m - 1):
            for r in range(p + 1, m):
                g = np.stack([cm[:, p, p] - cm[:, r, r], cm[:, p, r] + cm[:, r, p]])
                gg = g @ g.T
                ton = gg[0, 0] - gg[1, 1]
                toff = gg[0, 1] + gg[1, 0]
                theta = 0.5 * np.arctan2(toff, ton + np.sqrt(ton * ton + toff * toff))
                if abs(theta) > thresh:
                    rotated = True
                    c, s = np.cos(theta), np.sin(theta)
                    rot = np.array([[c, -s], [s, c]])
                    idx = [p, r]
                    v[:, idx] = v[:, idx] @ rot
                    cm[:, idx, :] = np.einsum("ji,kjl->kil", rot, cm[:, idx, :])
                    cm[:, :, idx] = cm[:, :, idx] @ rot
        if not rotated:
            break
    return v.T @ wh


def ica(rgb: np.ndarray, fs: float, lam: float | None = None) -> np.ndarray:
    """ICA (Poh et al. 2010/2011): detrend each channel (smoothness priors), z-score, unmix with JADE and return the
    source whose normalised power spectrum has the highest peak in 40-240 bpm, oriented to correlate positively
    with GREEN.

    Poh 2011 used lambda = 10 at 15 fps. The detrend's cut-off scales with fs/sqrt(lambda), so ``lam=None`` uses
    ``100·(fs/30)²`` (about 0.45 Hz, below the pulse band at any frame rate; 100 at 30 fps as in rPPG-Toolbox).
    """
    x = check_rgb(rgb, fs, min_len=4)
    lam = 100.0 * (fs / 30.0) ** 2 if lam is None else lam
    xd = detrend(x, lam)
    sd = xd.std(axis=0)
    xz = (xd - xd.mean(axis=0)) / np.where(sd < _EPS, 1.0, sd)
    b = jade(xz.T)
    src = b @ xz.T  # (3, T)
    lo, hi = _band(fs)
    f, p = periodogram(src, fs=fs, axis=1, detrend=False)
    inband = (f >= lo) & (f <= hi)
    tot = np.maximum(p.sum(axis=1), _EPS)
    score = (p[:, inband].max(axis=1) / tot) if inband.any() else np.zeros(3)
    best = src[int(np.argmax(score))]
    return _orient(best - best.mean(), x, fs)


#: name -> method(rgb (T, 3) float64, fs) -> bvp (T,) float64
METHODS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "green": green, "ica": ica, "chrom": chrom, "pos": pos, "lgi": lgi, "pbv": pbv, "omit": omit,
}


def spatial_mean(frames: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Per-frame mean colour of ``frames`` (T, H, W, 3) over ``mask`` ((H, W) or (T, H, W) bool; all pixels if None).

    Returns float64 (T, 3). A frame whose mask selects no pixel is an error naming the frame.
    """
    v = np.asarray(frames)
    if v.ndim != 4 or v.shape[-1] != 3:
        raise ValueError(f"frames must have shape (T, H, W, 3); got {v.shape}")
    if mask is None:
        return v.reshape(v.shape[0], -1, 3).mean(axis=1, dtype=np.float64)
    m = np.asarray(mask, dtype=bool)
    if m.shape == v.shape[1:3]:
        m = np.broadcast_to(m, v.shape[:3])
    if m.shape != v.shape[:3]:
        raise ValueError(f"mask must have shape (H, W) = {v.shape[1:3]} or (T, H, W) = {v.shape[:3]}; got {m.shape}")
    counts = m.reshape(m.shape[0], -1).sum(axis=1)
    if np.any(counts == 0):
        bad = int(np.flatnonzero(counts == 0)[0])
        raise ValueError(f"mask selects no pixel in {int(np.sum(counts == 0))} frame(s), first at frame {bad}")
    sums = np.einsum("thwc,thw->tc", v.astype(np.float64, copy=False), m.astype(np.float64))
    return sums / counts[:, None]
