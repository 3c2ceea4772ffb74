"""The skin region of interest: the face oval placed from keypoints, intersected with the subject's own skin colour.

Geometry (measured on rendered faces of every Fitzpatrick type, see ``docs/extraction.md``): with the eye
midpoint as origin, ``u`` the unit vector from the right eye to the left eye (image left → right), ``v`` the
perpendicular pointing towards the mouth and ``d`` the eye distance, the ROI is three quadrilaterals in
``(u, v)`` units of ``d``: the forehead between the brows and the hair line, and one patch per cheek below the
eye, beside the nose and above the mouth corners. Scaling with ``d`` and rotating with the eye line makes the
region follow the face's size and roll; it holds no eye, brow, nostril, lip or hair pixel on a frontal face.
Keypoints come from the detector (BlazeFace: right eye, left eye, nose tip, mouth centre, ears), tracked like
the box between detections.

Those small polygons alone are too sensitive to tracking error (a 1-2 px misplacement moves them across the skin
texture, which under head motion puts the motion into the trace: measured in ``docs/extraction.md``). The ROI
actually averaged is therefore the **face oval** (an ellipse from the forehead to the chin and between the
cheeks, :data:`OVAL`) intersected with a **skin-colour mask adapted to the subject**: the chroma (YCrCb ``Cr``,
``Cb``) of the polygon pixels at the first detection gives a mean and standard deviation, and a pixel is skin
when both lie within :data:`COLOUR_K` standard deviations. The oval's
edge may cross hair or background: the colour test removes them, and the ROI's boundary becomes the skin's own
boundary, which follows the face exactly whatever the tracking error. No fixed skin-colour thresholds are used,
so no skin tone is favoured.

The colour of the ROI is the plain mean of the source-frame pixels in it (full resolution, before any crop
resizing), per frame; their count is QC (``skin_pixels``).
"""
from __future__ import annotations

import cv2
import numpy as np

__all__ = ["ROI_POLYGONS", "OVAL", "ROI_HOLES", "roi_polygons", "COLOUR_K", "keypoint_polygons", "face_oval",
           "polygon_mean", "polygon_mask", "REQUIRED_KEYPOINTS", "SkinColour"]

#: (u, v) vertices of each polygon in eye-distance units (see module docstring), clockwise in the image
ROI_POLYGONS: dict[str, tuple[tuple[float, float], ...]] = {
    "forehead": ((-0.45, -0.70), (0.45, -0.70), (0.45, -0.35), (-0.45, -0.35)),
    "right_cheek": ((-0.75, 0.30), (-0.25, 0.30), (-0.28, 0.80), (-0.65, 0.80)),
    "left_cheek": ((0.25, 0.30), (0.75, 0.30), (0.65, 0.80), (0.28, 0.80)),
}
REQUIRED_KEYPOINTS = ("right_eye", "left_eye")
#: face oval: centre (0, v0), semi-axes (a, b) in eye-distance units, vertices
OVAL = {"v0": 0.40, "a": 0.95, "b": 1.15, "vertices": 24}
#: holes cut out of the oval: keypoint name -> semi-axes (along u, along v) in eye-distance units (the eyes and
#: the mouth, whose colours may pass the chroma test)
ROI_HOLES: dict[str, tuple[float, float]] = {"right_eye": (0.32, 0.18), "left_eye": (0.32, 0.18),
                                             "mouth": (0.45, 0.22)}
#: half-width of the colour test in standard deviations of the subject's hue and saturation
COLOUR_K = 3.0


def _frame_axes(keypoints: np.ndarray, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    k = np.asarray(keypoints, dtype=np.float64)
    re, le = k[names.index("right_eye")], k[names.index("left_eye")]
    c = (re + le) / 2.0
    u = le - re
    d = float(np.hypot(*u))
    if d <= 0:
        raise ValueError("the two eye keypoints coincide")
    u = u / d
    return c, u, np.array([-u[1], u[0]]), d


_TH = np.linspace(0.0, 2 * np.pi, int(OVAL["vertices"]), endpoint=False)
_COS, _SIN = np.cos(_TH), np.sin(_TH)


def _ellipse(c: np.ndarray, u: np.ndarray, v: np.ndarray, a: float, b: float) -> np.ndarray:
    return c + np.outer(a * _COS, u) + np.outer(b * _SIN, v)


def roi_polygons(keypoints: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """float32 (1 + holes, V, 2): the face oval, then the holes of :data:`ROI_HOLES` (frame pixels)."""
    k = np.asarray(keypoints, dtype=np.float64)
    c, u, v, d = _frame_axes(k, names)
    out = [_ellipse(c + OVAL["v0"] * d * v, u, v, OVAL["a"] * d, OVAL["b"] * d)]
    for name, (a, b) in ROI_HOLES.items():
        out.append(_ellipse(k[names.index(name)], u, v, a * d, b * d))
    return np.asarray(out, dtype=np.float32)


def face_oval(keypoints: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """float32 (1, V, 2) vertices of the face oval (see :data:`OVAL`) in frame pixels."""
    c, u, v, d = _frame_axes(keypoints, names)
    th = np.linspace(0.0, 2 * np.pi, int(OVAL["vertices"]), endpoint=False)
    pts = c + np.outer(OVAL["a"] * d * np.cos(th), u) + np.outer((OVAL["v0"] + OVAL["b"] * np.sin(th)) * d, v)
    return pts[None].astype(np.float32)


class SkinColour:
    """The subject's skin colour: chroma (YCrCb ``Cr``, ``Cb``) bounds learned from the forehead and cheek polygons.

    A pixel is skin when its ``Cr`` and ``Cb`` lie within :data:`COLOUR_K` standard deviations of the polygon
    pixels' means (luminance is not tested, so shading and light level do not matter to first order).
    """

    def __init__(self, frame: np.ndarray, polygons: np.ndarray) -> None:
        ycc = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2YCrCb)
        m = polygon_mask(polygons, frame.shape[:2])
        if m.sum() < 10:
            raise ValueError("too few pixels in the ROI polygons to learn the skin colour")
        px = ycc[m].astype(np.float64)
        self.mean = [float(v) for v in px.mean(axis=0)]
        self.sd = [max(float(v), 1.0) for v in px.std(axis=0)]

    def stats(self) -> dict:
        return {"ycrcb_mean": self.mean, "ycrcb_sd": self.sd, "k": COLOUR_K}

    @classmethod
    def from_stats(cls, stats: dict) -> SkinColour:
        """Rebuild from :meth:`stats` (the recording's QC ``skin_colour``)."""
        obj = cls.__new__(cls)
        obj.mean, obj.sd = list(stats["ycrcb_mean"]), list(stats["ycrcb_sd"])
        return obj

    def mask(self, region_rgb: np.ndarray) -> np.ndarray:
        """uint8 (h, w) 255 where the pixel has the subject's skin chroma."""
        ycc = cv2.cvtColor(np.ascontiguousarray(region_rgb), cv2.COLOR_RGB2YCrCb)
        lo = (0, self.mean[1] - COLOUR_K * self.sd[1], self.mean[2] - COLOUR_K * self.sd[2])
        hi = (255, self.mean[1] + COLOUR_K * self.sd[1], self.mean[2] + COLOUR_K * self.sd[2])
        return cv2.inRange(ycc, lo, hi)


def keypoint_polygons(keypoints: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """float32 (R, 4, 2) polygon vertices in frame pixels for keypoints (K, 2) named by ``names``."""
    c, u, v, d = _frame_axes(keypoints, names)  # v: u rotated by +90 degrees (y down), towards the mouth
    out = np.empty((len(ROI_POLYGONS), 4, 2), dtype=np.float32)
    for i, verts in enumerate(ROI_POLYGONS.values()):
        uv = np.asarray(verts, dtype=np.float64) * d
        out[i] = c + uv[:, :1] * u + uv[:, 1:] * v
    return out


def polygon_mask(polygons: np.ndarray, shape: tuple[int, int], offset: tuple[float, float] = (0.0, 0.0),
                 scale: tuple[float, float] = (1.0, 1.0), holes: bool = False) -> np.ndarray:
    """bool (H, W) raster of ``polygons`` (R, V, 2) after ``(p - offset) * scale`` (e.g. into a crop); with
    ``holes`` polygon 0 is filled and the others are cut out of it (:func:`roi_polygons`)."""
    mask = np.zeros(shape, dtype=np.uint8)
    pts = (np.asarray(polygons, dtype=np.float64) - np.asarray(offset)) * np.asarray(scale)
    # fillPoly with 4 fractional bits: vertices keep sub-pixel positions, so a slowly moving ROI changes smoothly
    fixed = [np.round(p * 16).astype(np.int32) for p in pts]
    if holes:
        cv2.fillPoly(mask, fixed[:1], 1, lineType=cv2.LINE_8, shift=4)
        if len(fixed) > 1:
            cv2.fillPoly(mask, fixed[1:], 0, lineType=cv2.LINE_8, shift=4)
    else:
        cv2.fillPoly(mask, fixed, 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def polygon_mean(frame: np.ndarray, polygons: np.ndarray, colour: SkinColour | None = None) -> tuple[np.ndarray, int]:
    """Mean RGB (float64 (3,)) of the pixels of ``frame`` inside ``polygons`` and their count (0: NaN mean).

    With a skin ``colour``, ``polygons`` are a ROI of :func:`roi_polygons` (oval with holes) and only the pixels
    of that colour count."""
    h, w = frame.shape[:2]
    p = np.asarray(polygons, dtype=np.float64)
    x0 = int(np.clip(np.floor(p[..., 0].min()), 0, w))
    y0 = int(np.clip(np.floor(p[..., 1].min()), 0, h))
    x1 = int(np.clip(np.ceil(p[..., 0].max()) + 1, 0, w))
    y1 = int(np.clip(np.ceil(p[..., 1].max()) + 1, 0, h))
    if x1 <= x0 or y1 <= y0:
        return np.full(3, np.nan), 0
    mask = polygon_mask(p, (y1 - y0, x1 - x0), offset=(x0, y0), holes=colour is not None).astype(np.uint8)
    if colour is not None:
        mask = cv2.bitwise_and(mask, mask, mask=colour.mask(frame[y0:y1, x0:x1]))
    n = int(cv2.countNonZero(mask))
    if n == 0:
        return np.full(3, np.nan), 0
    m = cv2.mean(frame[y0:y1, x0:x1], mask=mask)
    return np.asarray(m[:3], dtype=np.float64), n
