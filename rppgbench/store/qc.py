"""QC that speaks: per-recording warnings from the face-tracking QC, with documented thresholds.

``prepare`` puts them in its summary (and logs them); ``run`` logs them and records them in ``results.json``
(``provenance.qc_warnings``). Thresholds (``docs/store_format.md``):

``detector_hit_rate``  < :data:`THRESHOLDS` ``["detector_hit_rate"]`` (0.9): the detector found a face in fewer
                       than 90 % of its attempts;
``frames_whole``       > 0: the whole frame was used as the crop for some frames (no face): never silent;
``box_jitter``         > 5: the 99th percentile of the crop-box centre's frame-to-frame *change of velocity*
                       (second difference) exceeds 5 % of the box side: re-detection steps, an unstable
                       detector. Smooth head motion is not jitter: a face moving at a steady speed scores 0,
                       a 1 Hz nod of amplitude A about 0.04 A, while a box that steps by s scores s;
``skin_pixels_min``    < 50: the skin ROI of some frame holds fewer than 50 source pixels (face too small or lost).

Stores written by the legacy recipes (format 1) have no ``box_jitter`` in their QC; it is computed from the stored
boxes with :func:`box_jitter`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["THRESHOLDS", "box_jitter", "recording_warnings"]

THRESHOLDS: dict[str, float] = {"detector_hit_rate": 0.9, "box_jitter": 5.0, "skin_pixels_min": 50}


def box_jitter(boxes: np.ndarray) -> float:
    """99th percentile of the box centre's second difference ``|c[t+1] - 2 c[t] + c[t-1]|`` (the frame-to-frame
    change of its velocity), in % of the median box side: steps and shaking count, steady motion does not."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(b) < 3:
        return 0.0
    c = b[:, :2] + b[:, 2:] / 2.0
    side = float(np.median(np.maximum(b[:, 2], b[:, 3])))
    step = np.hypot(*np.diff(c, n=2, axis=0).T)
    return float(100.0 * np.percentile(step, 99) / side) if side > 0 else 0.0


def recording_warnings(qc: dict[str, Any], n_frames: int, boxes: np.ndarray | None = None) -> list[str]:
    """The QC warnings of one recording (empty when all is well)."""
    out: list[str] = []
    rate = qc.get("detector_hit_rate")
    att, hits = qc.get("detector_attempts"), qc.get("detector_hits")
    if rate is not None and np.isfinite(rate) and rate < THRESHOLDS["detector_hit_rate"]:
        out.append(f"face detector {qc.get('detector')!r} found a face in {hits} of {att} attempts "
                   f"({100 * rate:.0f} %, threshold {100 * THRESHOLDS['detector_hit_rate']:.0f} %)")
    whole = int(qc.get("frames_whole") or 0)
    if whole:
        out.append(f"whole-frame fallback: no face, the crop is the whole frame for {whole} of {n_frames} frames "
                   f"(ranges {qc.get('ranges_whole')})")
    jit = qc.get("box_jitter")
    if jit is None and boxes is not None:
        jit = box_jitter(boxes)
    if jit is not None and jit > THRESHOLDS["box_jitter"]:
        out.append(f"box jitter {jit:.1f} % of the box side per frame (99th percentile; threshold "
                   f"{THRESHOLDS['box_jitter']:g} %): the crop steps")
    npix = qc.get("skin_pixels_min")
    if npix is not None and npix < THRESHOLDS["skin_pixels_min"]:
        out.append(f"skin ROI down to {npix} pixels in a frame (threshold {THRESHOLDS['skin_pixels_min']:g}): "
                   "face too small or lost")
    return out
