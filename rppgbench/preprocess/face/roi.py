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
cheeks, :data:`OVAL`) intersected with a **skin-colour mask adapted to the subject and to the light**
(:class:`SkinColour`). The test works in log-chromaticity ``(log((R+1)/(G+1)), log((B+1)/(G+1)))``, where a
change of the illuminant (its intensity, its colour temperature: per-channel gains, the von Kries model) is an
additive offset shared by every face pixel. The subject's *spread* (a robust 2×2 covariance) is learned from the
forehead and cheek polygons at the first detection; the *centre* is re-measured in every frame (median of the
oval's pixels, refined on those that pass, averaged over frames unless it jumps), so a light step or a
colour-temperature drift moves the test with the skin. A pixel is skin when its squared Mahalanobis distance to
that centre is within :data:`COLOUR_CHI2` and it is not more than 40 % darker (:data:`DARK_CUT`) than the
frame's skin median (hair and brows of the skin's hue; relative to the frame, so the light level does not
matter). The oval's edge may cross hair or background: the colour test
removes them, and the ROI's boundary becomes the skin's own boundary, which follows the face exactly whatever
the tracking error. No fixed skin-colour thresholds are used, so no skin tone is favoured. (Before
:data:`ROI_VERSION` 2 the test was fixed YCrCb ``Cr``/``Cb`` bounds from the first detection, which lost the skin
after a light change: measured in ``docs/extraction.md``.)

If no pixel passes the test in a frame, the oval's geometric mask (with its holes) is averaged instead and the
frame is counted in QC ``skin_fallback_frames`` (:func:`polygon_mean`): never a NaN gap that a later fill with a
different region's mean would turn into a step.

The colour of the ROI is the plain mean of the source-frame pixels in it (full resolution, before any crop
resizing), per frame; their count is QC (``skin_pixels``).
"""
from __future__ import annotations

import cv2
import numpy as np

__all__ = ["ROI_POLYGONS", "OVAL", "ROI_HOLES", "roi_polygons", "keypoint_polygons", "face_oval",
           "polygon_mean", "polygon_mask", "REQUIRED_KEYPOINTS", "SkinColour", "COLOUR_CHI2",
           "log_chroma", "MIN_SD", "ROI_VERSION",
           "CENTRE_ALPHA", "CENTRE_JUMP", "DARK_CUT"]

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
#: bound of the squared Mahalanobis distance of the colour test: chi-square with 2 degrees of freedom, 99 %
COLOUR_CHI2 = 9.21
#: per-frame centre: weight of the new estimate in its exponential average, and the departure (in standard
#: deviations of the subject's log-chroma) beyond which the average restarts at the new estimate
CENTRE_ALPHA, CENTRE_JUMP = 0.2, 0.5
#: a pixel more than this much darker (log of the green channel) than the frame's skin median is not skin (hair
#: and brows of the skin's hue, deep shadow): relative to the frame, so a global light change does not move it
DARK_CUT = float(np.log(0.6))
#: floor of the learned standard deviation of each log-chroma axis (a perfectly uniform patch would otherwise
#: reject the camera noise)
MIN_SD = 0.01
#: version of the ROI extraction (colour test + no-skin fallback); part of the store key of ``roi: keypoints``
#: recipes (:attr:`rppgbench.preprocess.recipe.Recipe.extraction_version`). 1: YCrCb bounds fixed at the first
#: detection; 2: log-chromaticity test centred per frame, geometric fallback.
ROI_VERSION = 2


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


def log_chroma(rgb: np.ndarray) -> np.ndarray:
    """float32 (..., 2) log-chromaticity ``(log((R+1)/(G+1)), log((B+1)/(G+1)))`` of uint8/float RGB pixels.

    A per-channel illuminant gain (light level, colour temperature: the von Kries model) multiplies R, G and B,
    so it becomes an additive offset on both axes, the same for every pixel of the face."""
    x = np.log1p(np.asarray(rgb, dtype=np.float32))
    return np.stack([x[..., 0] - x[..., 1], x[..., 2] - x[..., 1]], axis=-1)


def _features(rgb: np.ndarray) -> np.ndarray:
    """float32 (..., 3): :func:`log_chroma` and the log-luminance ``log(G+1)``."""
    x = np.log1p(np.asarray(rgb, dtype=np.float32))
    return np.stack([x[..., 0] - x[..., 1], x[..., 2] - x[..., 1], x[..., 1]], axis=-1)


class SkinColour:
    """The subject's skin colour: the spread of its log-chroma, learned from the forehead and cheek polygons.

    At the first detection the polygon pixels' log-chroma (:func:`log_chroma`) give a robust centre (median) and
    a covariance (of the pixels within 3 robust standard deviations, 1.4826 × MAD, of the median on both axes;
    its diagonal at least :data:`MIN_SD` ²); their median log-luminance is kept too. In each frame the test is
    centred on that frame's own skin (:meth:`centre`), and a pixel is skin when its squared Mahalanobis distance
    to the centre is at most :data:`COLOUR_CHI2` (the 99 % quantile of chi-square with 2 degrees of freedom) and
    its log-luminance is at least the centre's plus :data:`DARK_CUT`. A global light change (intensity, colour
    temperature) shifts every pixel's log-chroma and log-luminance by the same offset and so moves the centre
    with the skin. The first-detection medians (:attr:`mean`: two log-chroma axes and the log-luminance) are
    the centre when none is given.
    """

    def __init__(self, frame: np.ndarray, polygons: np.ndarray) -> None:
        m = polygon_mask(polygons, frame.shape[:2])
        if m.sum() < 10:
            raise ValueError("too few pixels in the ROI polygons to learn the skin colour")
        px = _features(frame[m]).astype(np.float64)
        self.mean = [float(v) for v in np.median(px, axis=0)]  # log-chroma and log-luminance
        px = px[:, :2]
        med = np.median(px, axis=0)
        sd = 1.4826 * np.median(np.abs(px - med), axis=0)
        keep = np.all(np.abs(px - med) <= 3.0 * np.maximum(sd, 1e-6), axis=1)
        px = px[keep] if keep.sum() >= 10 else px
        cov = np.cov(px.T) if len(px) > 3 else np.zeros((2, 2))
        cov[np.diag_indices(2)] = np.maximum(np.diag(cov), MIN_SD ** 2)
        self.cov = cov.tolist()
        self._set()

    def _set(self) -> None:
        cov = np.asarray(self.cov, dtype=np.float64)
        self._icov = np.linalg.inv(cov).astype(np.float32)
        self._sd = np.sqrt(np.diag(cov)).astype(np.float32)
        self._prev: np.ndarray | None = None

    def stats(self) -> dict:
        return {"space": "log_chroma", "version": ROI_VERSION, "median": self.mean, "cov": self.cov,
                "chi2": COLOUR_CHI2}

    @classmethod
    def from_stats(cls, stats: dict) -> SkinColour:
        """Rebuild from :meth:`stats` (the recording's QC ``skin_colour``)."""
        if stats.get("space") != "log_chroma":
            raise ValueError("skin_colour QC of an older extraction (YCrCb bounds, before ROI version "
                             f"{ROI_VERSION}); prepare the store again")
        obj = cls.__new__(cls)
        obj.mean, obj.cov = list(stats["median"]), [list(r) for r in stats["cov"]]
        obj._set()
        return obj

    def _test(self, lc: np.ndarray, centre: np.ndarray) -> np.ndarray:
        d = lc - np.asarray(centre, dtype=np.float32)
        ok = np.einsum("...i,ij,...j->...", d[..., :2], self._icov, d[..., :2]) <= COLOUR_CHI2
        return ok & (d[..., 2] >= DARK_CUT) if centre.shape[-1] > 2 else ok

    def centre(self, region_rgb: np.ndarray, geometric: np.ndarray, smooth: bool = True) -> np.ndarray | None:
        """(2,) this frame's skin centre: median log-chroma of the pixels of ``geometric`` (bool mask of the
        region, e.g. the oval with its holes), then the median of those that pass the test around it (so hair
        or background inside the oval does not pull it). None when ``geometric`` selects no pixel.

        With ``smooth`` (frames given in order) the centre is an exponential average (:data:`CENTRE_ALPHA`) of
        these estimates, which keeps their frame-to-frame noise out of the mask, except when an estimate
        departs from it by more than :data:`CENTRE_JUMP` standard deviations on an axis (a light step): then
        it restarts there at once."""
        if not geometric.any():
            return None
        lc = _features(region_rgb[geometric])
        c = np.median(lc, axis=0)
        ok = self._test(lc, c)
        c = np.median(lc[ok], axis=0) if ok.sum() >= 10 else c
        if smooth:
            prev = self._prev
            if prev is not None and np.all(np.abs(c[:2] - prev) <= CENTRE_JUMP * self._sd):
                c = np.concatenate([prev + CENTRE_ALPHA * (c[:2] - prev), c[2:]])  # the luminance: as measured
            self._prev = c[:2]
        return c

    def mask(self, region_rgb: np.ndarray, centre: np.ndarray | None = None) -> np.ndarray:
        """uint8 (h, w) 255 where the pixel passes the test around ``centre`` (default: the first-detection
        median)."""
        c = np.asarray(self.mean if centre is None else centre, dtype=np.float32)
        return self._test(_features(region_rgb) if c.size > 2 else log_chroma(region_rgb), c).astype(np.uint8) * 255


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


def polygon_mean(frame: np.ndarray, polygons: np.ndarray,
                 colour: SkinColour | None = None) -> tuple[np.ndarray, int, bool]:
    """Mean RGB (float64 (3,)) of the pixels of ``frame`` inside ``polygons``, their count (0: NaN mean) and
    whether the geometric fallback was used.

    With a skin ``colour``, ``polygons`` are a ROI of :func:`roi_polygons` (oval with holes) and only the pixels
    of the subject's skin colour, centred on this frame (:meth:`SkinColour.centre`), count. When none passes
    (a light change the test did not follow), the oval's geometric mask alone is averaged and the fallback flag
    is True (counted in QC ``skin_fallback_frames``): the trace keeps the face's colour instead of a gap that a
    later fill would turn into a step."""
    h, w = frame.shape[:2]
    p = np.asarray(polygons, dtype=np.float64)
    x0 = int(np.clip(np.floor(p[..., 0].min()), 0, w))
    y0 = int(np.clip(np.floor(p[..., 1].min()), 0, h))
    x1 = int(np.clip(np.ceil(p[..., 0].max()) + 1, 0, w))
    y1 = int(np.clip(np.ceil(p[..., 1].max()) + 1, 0, h))
    if x1 <= x0 or y1 <= y0:
        return np.full(3, np.nan), 0, False
    region = frame[y0:y1, x0:x1]
    geo = polygon_mask(p, (y1 - y0, x1 - x0), offset=(x0, y0), holes=colour is not None).astype(np.uint8)
    mask, fallback = geo, False
    if colour is not None:
        c = colour.centre(region, geo > 0)
        if c is not None:
            mask = cv2.bitwise_and(geo, geo, mask=colour.mask(region, c))
            if not cv2.countNonZero(mask):
                mask, fallback = geo, True
    n = int(cv2.countNonZero(mask))
    if n == 0:
        return np.full(3, np.nan), 0, False
    m = cv2.mean(region, mask=mask)
    return np.asarray(m[:3], dtype=np.float64), n, fallback
