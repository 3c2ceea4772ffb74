"""The skin region of interest: forehead and cheek polygons placed from face keypoints, and their mean colour.

Geometry (measured on rendered faces of every Fitzpatrick type, see ``docs/extraction.md``): with the eye
midpoint as origin, ``u`` the unit vector from the right eye to the left eye (image left → right), ``v`` the
perpendicular pointing towards the mouth and ``d`` the eye distance, the ROI is three quadrilaterals in
``(u, v)`` units of ``d``: the forehead between the brows and the hair line, and one patch per cheek below the
eye, beside the nose and above the mouth corners. Scaling with ``d`` and rotating with the eye line makes the
region follow the face's size and roll; it holds no eye, brow, nostril, lip or hair pixel on a frontal face.
Keypoints come from the detector (BlazeFace: right eye, left eye, nose tip, mouth centre, ears), tracked like
the box between detections.

The colour of the ROI is the plain mean of the source-frame pixels inside the polygons (full resolution, before
any crop resizing), computed per frame; the count of those pixels is QC (``skin_pixels``).
"""
from __future__ import annotations

import cv2
import numpy as np

__all__ = ["ROI_POLYGONS", "keypoint_polygons", "polygon_mean", "polygon_mask", "REQUIRED_KEYPOINTS"]

#: (u, v) vertices of each polygon in eye-distance units (see module docstring), clockwise in the image
ROI_POLYGONS: dict[str, tuple[tuple[float, float], ...]] = {
    "forehead": ((-0.45, -0.70), (0.45, -0.70), (0.45, -0.35), (-0.45, -0.35)),
    "right_cheek": ((-0.75, 0.30), (-0.25, 0.30), (-0.28, 0.80), (-0.65, 0.80)),
    "left_cheek": ((0.25, 0.30), (0.75, 0.30), (0.65, 0.80), (0.28, 0.80)),
}
REQUIRED_KEYPOINTS = ("right_eye", "left_eye")


def keypoint_polygons(keypoints: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """float32 (R, 4, 2) polygon vertices in frame pixels for keypoints (K, 2) named by ``names``."""
    k = np.asarray(keypoints, dtype=np.float64)
    re, le = k[names.index("right_eye")], k[names.index("left_eye")]
    c = (re + le) / 2.0
    u = le - re
    d = float(np.hypot(*u))
    if d <= 0:
        raise ValueError("the two eye keypoints coincide")
    u = u / d
    v = np.array([-u[1], u[0]])  # u rotated by +90 degrees in image coordinates (y down): points to the mouth
    out = np.empty((len(ROI_POLYGONS), 4, 2), dtype=np.float32)
    for i, verts in enumerate(ROI_POLYGONS.values()):
        uv = np.asarray(verts, dtype=np.float64) * d
        out[i] = c + uv[:, :1] * u + uv[:, 1:] * v
    return out


def polygon_mask(polygons: np.ndarray, shape: tuple[int, int], offset: tuple[float, float] = (0.0, 0.0),
                 scale: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """bool (H, W) raster of ``polygons`` (R, V, 2) after ``(p - offset) * scale`` (e.g. into a crop)."""
    mask = np.zeros(shape, dtype=np.uint8)
    pts = (np.asarray(polygons, dtype=np.float64) - np.asarray(offset)) * np.asarray(scale)
    # fillPoly with 4 fractional bits: vertices keep sub-pixel positions, so a slowly moving ROI changes smoothly
    cv2.fillPoly(mask, [np.round(p * 16).astype(np.int32) for p in pts], 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def polygon_mean(frame: np.ndarray, polygons: np.ndarray) -> tuple[np.ndarray, int]:
    """Mean RGB (float64 (3,)) of the pixels of ``frame`` inside ``polygons`` and their count (0: NaN mean)."""
    h, w = frame.shape[:2]
    p = np.asarray(polygons, dtype=np.float64)
    x0 = int(np.clip(np.floor(p[..., 0].min()), 0, w))
    y0 = int(np.clip(np.floor(p[..., 1].min()), 0, h))
    x1 = int(np.clip(np.ceil(p[..., 0].max()) + 1, 0, w))
    y1 = int(np.clip(np.ceil(p[..., 1].max()) + 1, 0, h))
    if x1 <= x0 or y1 <= y0:
        return np.full(3, np.nan), 0
    mask = polygon_mask(p, (y1 - y0, x1 - x0), offset=(x0, y0)).astype(np.uint8)
    n = int(cv2.countNonZero(mask))
    if n == 0:
        return np.full(3, np.nan), 0
    m = cv2.mean(frame[y0:y1, x0:x1], mask=mask)
    return np.asarray(m[:3], dtype=np.float64), n
