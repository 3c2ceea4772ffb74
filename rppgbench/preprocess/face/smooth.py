"""Smooth face tracking (recipe ``tracking: smooth``): sparse detections, dense motion, no steps.

Per frame ``t`` the face is ``M(t) · c(t)``:

* ``M(t)`` — the cumulative similarity motion (translation, rotation, scale) of the face region, measured between
  consecutive frames by Lucas-Kanade tracking of corners in a grey patch of at most 64×64 pixels (the face
  interior) and a RANSAC partial-affine fit; it follows the fast head motion that sparse detections cannot see
  (motion up to 2 Hz vs. one detection every ``detect_every`` frames);
* ``c(t)`` — the detections pulled back into frame-0 coordinates by ``M⁻¹`` (box centre, size and keypoints).
  Were flow and detector exact, ``c`` would be constant; its value at each detection is averaged over the
  neighbouring ``2 × 3 + 1`` detections (which removes the detector's noise, which follows the head pose, and
  the flow's fast drift) and interpolated linearly between detections, held before the first and after the last.
  Nothing ever jumps at a detection frame.

Frames between detections are buffered (raw frames: ``(3 + 1) × detect_every`` of them, more while detections
fail) and emitted when the averages they need are known. The crop box is an integer box that follows the smooth
float box only once it has moved by more than 1.5 px (hysteresis), so a still face keeps exactly one crop:
tracking never steps the spatial mean of a static face. The skin ROI (:mod:`rppgbench.preprocess.face.roi`) is
placed with sub-pixel precision on the full-resolution frame. Measured in ``docs/extraction.md``.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import cv2
import numpy as np

from rppgbench._checks import DataError
from rppgbench.preprocess.face.base import Face, FaceDetector
from rppgbench.preprocess.face.roi import (
    OVAL,
    REQUIRED_KEYPOINTS,
    ROI_HOLES,
    SkinColour,
    keypoint_polygons,
    polygon_mean,
    roi_polygons,
)
from rppgbench.preprocess.face.track import (
    BOX_SOURCES,
    CARRIED,
    CARRIED_BACK,
    DETECTED,
    HELD,
    WHOLE,
    CropResult,
    check_frame,
    crop_resize,
    source_ranges,
)

__all__ = ["SmoothTracker"]

_PATCH = 64
#: side of the flow patch relative to the detection box: the face interior only (a static background in the
#: patch would pull the measured shift towards zero)
_FLOW_PATCH_SIDE = 0.8
#: residuals are averaged over this many detections on either side (lookahead buffer: _SMOOTH + 1 intervals)
_SMOOTH = 3
#: the integer crop box moves only when the smooth box has moved by more than this (pixels)
_HYSTERESIS = 1.5


class _Flow:
    """Similarity motion (translation, rotation, scale) of the face region between consecutive frames: corners of
    a grey patch of at most :data:`_PATCH` px tracked by pyramidal Lucas-Kanade, a partial affine fitted with
    RANSAC. Identity when too few points are tracked (a flat or vanished face).

    The patch region stays put (:meth:`place`: at detections, and when the face has moved by 10 % of the region's
    side), so each frame's patch is cut and converted once and serves as the next frame's reference."""

    def __init__(self) -> None:
        self.failures = 0
        self.region: tuple[int, int, int, int] | None = None  # x, y, side, patch side
        self.prev_patch: np.ndarray | None = None
        self.points: np.ndarray | None = None  # corners tracked into the previous patch (reused while >= 20)

    def place(self, shape: tuple[int, int], centre: np.ndarray, side: float) -> None:
        """Put the patch region (side ``side`` px around ``centre``, inside the frame)."""
        H, W = shape
        s = int(min(max(16, round(side)), W, H))
        x = int(min(max(round(centre[0] - s / 2), 0), W - s))
        y = int(min(max(round(centre[1] - s / 2), 0), H - s))
        region = (x, y, s, min(_PATCH, s))
        if region != self.region:
            self.region, self.prev_patch, self.points = region, None, None

    def _patch(self, frame: np.ndarray) -> np.ndarray:
        x, y, s, n = self.region
        roi = frame[y:y + s, x:x + s]
        if n != s:
            roi = cv2.resize(roi, (n, n), interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(roi, cv2.COLOR_RGB2GRAY)

    def step(self, prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
        """3x3 matrix mapping ``prev`` pixel coordinates to ``cur`` ones (call :meth:`place` first)."""
        a = self.prev_patch if self.prev_patch is not None else self._patch(prev)
        b = self._patch(cur)
        self.prev_patch = b
        pts = self.points if self.points is not None and len(self.points) >= 20 else \
            cv2.goodFeaturesToTrack(a, 40, 0.01, 3)
        m = None
        self.points = None
        if pts is not None and len(pts) >= 4:
            nxt, st, _ = cv2.calcOpticalFlowPyrLK(a, b, pts, None, winSize=(9, 9), maxLevel=2)
            ok = st.ravel() == 1
            if ok.sum() >= 4:
                m, inl = cv2.estimateAffinePartial2D(pts[ok], nxt[ok], method=cv2.RANSAC, ransacReprojThreshold=0.5)
                if m is not None:
                    n = a.shape[0]
                    keep = nxt[ok][inl.ravel() == 1]
                    inside = np.all((keep >= 2) & (keep <= n - 3), axis=-1).ravel()
                    self.points = keep[inside]
        if m is None or not np.all(np.isfinite(m)):
            self.failures += 1
            return np.eye(3)
        x, y, s, n = self.region
        k = n / s
        S = np.array([[k, 0, -k * x], [0, k, -k * y], [0, 0, 1.0]])
        return np.linalg.solve(S, np.vstack([m, [0, 0, 1.0]]) @ S)


def _apply(a: np.ndarray, pts: np.ndarray) -> np.ndarray:
    p = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
    return p @ a[:2, :2].T + a[:2, 2]


def _scale(a: np.ndarray) -> float:
    return float(np.sqrt(abs(np.linalg.det(a[:2, :2]))))


class SmoothTracker:
    """Crop every frame with a smooth box and measure the skin ROI colour (see module docstring).

    Parameters as in :class:`rppgbench.preprocess.face.track.FaceTracker`; ``roi`` is ``keypoints`` (the skin ROI
    of :mod:`rppgbench.preprocess.face.roi`; needs a detector with eye and mouth keypoints) or ``box`` (no skin
    trace).
    """

    def __init__(self, detector: FaceDetector, *, detect_every: int = 10, enlarge: float = 1.5, square: bool = True,
                 size: int = 72, interpolation: str = "area", no_face: str = "carry", roi: str = "keypoints",
                 recording: str | None = None, path: str | None = None) -> None:
        if detect_every < 1:
            raise ValueError(f"tracking 'smooth' needs detect_every >= 1; got {detect_every}")
        self.detector = detector
        self.detect_every = int(detect_every)
        self.enlarge, self.square, self.size = enlarge, square, int(size)
        self.interpolation, self.no_face, self.roi = interpolation, no_face, roi
        self.recording, self.path = recording, path
        names = tuple(getattr(detector, "keypoint_names", ()))
        if roi == "keypoints" and not all(k in names for k in REQUIRED_KEYPOINTS):
            raise DataError(f"recipe roi 'keypoints' needs a detector with {list(REQUIRED_KEYPOINTS)} keypoints; "
                            f"detector {getattr(detector, 'name', type(detector).__name__)!r} gives "
                            f"{list(names) or 'none'} (use detector: blazeface, or roi: box)",
                            recording=recording, path=path)
        self.names = names

    # ------------------------------------------------------------------------------------------
    def run(self, frames: Iterable[np.ndarray], reopen: Any = None) -> CropResult:
        flow = _Flow()
        T = 0
        shape: tuple[int, int] | None = None
        buf: list[tuple[int, np.ndarray, np.ndarray, bool]] = []  # (t, frame, motion matrix, scheduled)
        anchors: list[tuple[int, np.ndarray]] = []  # (t, canonical vector: centre, size, keypoints)
        out = _Output(self)
        motion = np.eye(3)  # cumulative similarity: frame-0 coordinates -> frame-t coordinates
        prev: np.ndarray | None = None
        centre = side = None  # current estimate of the face region, for the flow patch
        attempts = hits = 0
        for t, frame in enumerate(frames):
            shape = check_frame(t, frame, shape, self.recording, self.path)
            T += 1
            if prev is not None and centre is not None:
                motion = flow.step(prev, frame) @ motion
            scheduled = t % self.detect_every == 0 or not anchors
            face: Face | None = None
            if scheduled:
                attempts += 1
                face = self.detector.detect_face(frame)
                if face is not None and self.roi == "keypoints" and face.keypoints is None:
                    face = None
                if face is None and self.no_face == "fail":
                    raise DataError(f"no face detected in frame {t} (policy no_face='fail')",
                                    recording=self.recording, path=self.path)
            buf.append((t, frame, motion.copy(), scheduled))
            if face is not None:
                hits += 1
                x, y, w, h = face.box
                c = np.array([x + w / 2.0, y + h / 2.0])
                kp = np.zeros((0, 2)) if face.keypoints is None else np.asarray(face.keypoints, np.float64)
                # the detection pulled back into frame-0 coordinates ("canonical"): constant if flow and detector
                # were exact, so its average over neighbouring detections removes both their errors' fast parts
                inv = np.linalg.inv(motion)
                sc = _scale(motion)
                anchors.append((t, np.concatenate([_apply(inv, c).ravel(), [w / sc, h / sc], _apply(inv, kp).ravel()])))
                centre, side = c, max(w, h) * _FLOW_PATCH_SIDE
                flow.place(shape, centre, side)
                out.flush(buf, anchors, final=False)
            elif anchors:  # keep the patch on the face: move it once the face has moved by 10 % of its side
                pred = _apply(motion, anchors[-1][1][:2]).ravel()
                if np.max(np.abs(pred - centre)) > 0.1 * side:
                    centre = pred
                    flow.place(shape, centre, side)
                if len(buf) > 8 * self.detect_every + 300:  # long gap: emit with the held residual
                    out.flush(buf, anchors, final=True)
            prev = frame
        if T == 0:
            raise DataError("the video yielded no frames", recording=self.recording, path=self.path)
        if not anchors:
            if self.no_face != "whole":
                raise DataError(f"no face detected: detector {getattr(self.detector, 'name', '')!r} found no face in "
                                f"any of the {T} frames, which all decoded without error (policy "
                                f"no_face={self.no_face!r})",
                                recording=self.recording, path=self.path)
            out.whole(buf, shape)
        else:
            out.flush(buf, anchors, final=True)
        out.flow_failures = flow.failures
        return out.result(attempts, hits, shape)


class _Output:
    """Accumulates crops, boxes, sources and skin colours as buffered frames are resolved."""

    def __init__(self, tr: SmoothTracker) -> None:
        self.tr = tr
        self.crops: list[np.ndarray] = []
        self.boxes: list[tuple[int, int, int, int]] = []
        self.sources: list[int] = []
        self.skin: list[np.ndarray] = []
        self.npix: list[int] = []
        self.polys: list[np.ndarray] = []
        self.target: np.ndarray | None = None
        self._cache: dict[tuple[int, int], np.ndarray] = {}
        self.flow_failures = 0
        self.colour: SkinColour | None = None
        self.fallbacks = 0  # frames whose skin test passed no pixel (the oval's geometric mask was averaged)

    def _int_box(self, fbox: np.ndarray) -> tuple[int, int, int, int]:
        """Integer box that follows the float box ``fbox`` only when it has moved by more than
        :data:`_HYSTERESIS` pixels (position or size): a still face keeps one box, whatever the detector noise."""
        if self.target is None or np.max(np.abs(fbox - self.target)) > _HYSTERESIS:
            self.target = fbox.copy()
        x, y, w, h = (int(round(v)) for v in self.target)
        return x, y, w, h

    def _emit(self, frame: np.ndarray, centre: np.ndarray, size: np.ndarray, kp: np.ndarray | None, src: int) -> None:
        tr = self.tr
        H, W = frame.shape[:2]
        if tr.square:
            bw = bh = min(max(size) * tr.enlarge, W, H)
        else:
            bw, bh = min(size[0] * tr.enlarge, W), min(size[1] * tr.enlarge, H)
        fx = min(max(centre[0] - bw / 2.0, 0.0), W - bw)
        fy = min(max(centre[1] - bh / 2.0, 0.0), H - bh)
        x, y, w, h = self._int_box(np.array([fx, fy, bw, bh], np.float64))
        w, h = max(1, min(w, W)), max(1, min(h, H))
        x, y = min(max(x, 0), W - w), min(max(y, 0), H - h)
        box = (x, y, w, h)
        self.crops.append(crop_resize(frame, box, tr.size, tr.interpolation))
        self.boxes.append(box)
        self.sources.append(src)
        if tr.roi == "keypoints" and kp is not None:
            if self.colour is None:
                self.colour = SkinColour(frame, keypoint_polygons(kp, tr.names))
            roi = roi_polygons(kp, tr.names)
            mean, n, fallback = polygon_mean(frame, roi, self.colour)
            self.fallbacks += int(fallback)
            self.polys.append(roi)
        else:
            mean, n = np.full(3, np.nan), 0
            self.polys.append(np.full((1 + len(ROI_HOLES), OVAL["vertices"], 2), np.nan, np.float32))
        self.skin.append(mean)
        self.npix.append(n)

    def flush(self, buf: list, anchors: list, final: bool) -> None:
        """Emit the buffered frames whose two bracketing anchors have their final smoothed residual (anchor ``j``
        is final once ``_SMOOTH`` later anchors exist), all of them when ``final``."""
        n = len(anchors)
        ready = n - 1 if final else n - 1 - _SMOOTH  # index of the last anchor whose smoothed value is final
        if ready < 0:
            return
        last_t = anchors[ready][0] if not final else None
        keep = []
        for item in buf:
            t, frame, motion, scheduled = item
            if last_t is not None and t > last_t:
                keep.append(item)
                continue
            r = _interp(anchors, t, self._smoothed)
            if t < anchors[0][0]:
                src = CARRIED_BACK
            elif scheduled and any(a[0] == t for a in anchors[-_SMOOTH - 2:]):
                src = DETECTED
            elif scheduled:
                src = CARRIED  # a scheduled detection that found nothing
            else:
                src = HELD
            c, size = _apply(motion, r[:2]).ravel(), r[2:4] * _scale(motion)
            kp = _apply(motion, r[4:]) if r.size > 4 else None
            self._emit(frame, c, size, kp, src)
        buf[:] = keep

    def _smoothed(self, anchors: list, j: int) -> np.ndarray:
        """Centred moving average of the raw residuals over anchors ``j - _SMOOTH .. j + _SMOOTH`` (fewer at the
        ends): the detections' own noise, which follows the head pose, is averaged out; the flow carries the motion."""
        key = (j, len(anchors)) if j + _SMOOTH >= len(anchors) else (j, -1)
        hit = self._cache.get(key)
        if hit is None:
            lo, hi = max(0, j - _SMOOTH), min(len(anchors), j + _SMOOTH + 1)
            hit = np.mean([a[1] for a in anchors[lo:hi]], axis=0)
            self._cache[key] = hit
        return hit

    def whole(self, buf: list, shape: tuple[int, int]) -> None:
        H, W = shape
        for _t, frame, _m, _s in buf:
            self.crops.append(crop_resize(frame, (0, 0, W, H), self.tr.size, self.tr.interpolation))
            self.boxes.append((0, 0, W, H))
            self.sources.append(WHOLE)
            self.skin.append(np.full(3, np.nan))
            self.npix.append(0)
            self.polys.append(np.full((1 + len(ROI_HOLES), OVAL["vertices"], 2), np.nan, np.float32))
        buf.clear()

    def result(self, attempts: int, hits: int, shape: tuple[int, int]) -> CropResult:
        src = np.asarray(self.sources, dtype=np.uint8)
        boxes = np.asarray(self.boxes, dtype=np.int32).reshape(-1, 4)
        qc: dict[str, Any] = {
            "detector": getattr(self.tr.detector, "name", type(self.tr.detector).__name__),
            "detector_attempts": int(attempts), "detector_hits": int(hits),
            "detector_hit_rate": float(hits / attempts) if attempts else float("nan"),
        }
        for code, name in enumerate(BOX_SOURCES):
            qc[f"frames_{name}"] = int(np.sum(src == code))
        for code in (CARRIED, CARRIED_BACK, WHOLE):
            qc[f"ranges_{BOX_SOURCES[code]}"] = source_ranges(src, code)
        from rppgbench.store.qc import box_jitter  # noqa: PLC0415 (one definition of the QC figure)

        qc["box_jitter"] = box_jitter(boxes)
        qc["flow_failures"] = int(self.flow_failures)
        npix = np.asarray(self.npix, dtype=np.int32)
        qc["skin_pixels_min"] = int(npix.min()) if npix.size else 0
        qc["skin_pixels_median"] = float(np.median(npix)) if npix.size else 0.0
        if self.tr.roi == "keypoints":
            qc["skin_fallback_frames"] = int(self.fallbacks)
        if self.colour is not None:
            qc["skin_colour"] = self.colour.stats()
        return CropResult(frames=np.stack(self.crops).astype(np.uint8, copy=False), boxes=boxes, sources=src, qc=qc,
                          frame_shape=tuple(shape), skin_rgb=np.asarray(self.skin, dtype=np.float64).reshape(-1, 3),
                          skin_pixels=npix, skin_polygons=np.asarray(self.polys, dtype=np.float32))


def _interp(anchors: list, t: int, smoothed: Any) -> np.ndarray:
    """Smoothed residual vector at frame ``t``: linear between the anchors around ``t``, held outside them."""
    ts = [a[0] for a in anchors]
    if t <= ts[0]:
        return smoothed(anchors, 0)
    if t >= ts[-1]:
        return smoothed(anchors, len(ts) - 1)
    j = int(np.searchsorted(ts, t, side="right"))  # ts[j-1] <= t < ts[j]
    w = (t - ts[j - 1]) / (ts[j] - ts[j - 1])
    return (1 - w) * smoothed(anchors, j - 1) + w * smoothed(anchors, j)
