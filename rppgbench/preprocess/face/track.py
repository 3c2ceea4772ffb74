"""From detections to per-frame crops: schedule, smoothing, enlargement, clamping, no-face policy.

Per frame the tracker records the crop box actually used (x, y, w, h after enlargement and clamping) and
where it came from (:data:`BOX_SOURCES`):

``detected``      a detection ran on this frame and found a face;
``held``          between scheduled detections, the last (smoothed) box is kept;
``carried``       a scheduled detection found nothing and policy ``carry`` kept the last box;
``carried_back``  before the first successful detection, policy ``carry`` used the first later box;
``whole``         a scheduled detection found nothing and policy ``whole`` used the full frame;
``median``        ``median_box``: one median box of all detections for every frame.

Geometry: the (smoothed) detection's centre is kept, its side becomes ``max(w, h) × enlarge`` (square) or
``w, h × enlarge``; the side is capped at the frame size and the box is then **shifted** (not cut) to lie
inside the frame, so the crop keeps its shape and scale near the borders. The whole-frame box is not
square; resizing it to ``size × size`` stretches it.

With policy ``carry`` and no successful detection yet, detection is retried on every frame until a face is
found; the frames before are cropped with that first box after decoding them again (``reopen``) or, when
no ``reopen`` is given, from a buffer of raw frames.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from rppgbench._checks import DataError
from rppgbench.preprocess.face.base import Box, FaceDetector

__all__ = ["BOX_SOURCES", "CropResult", "FaceTracker", "check_frame", "crop_box", "crop_resize", "source_ranges"]

BOX_SOURCES = ("detected", "held", "carried", "carried_back", "whole", "median")
DETECTED, HELD, CARRIED, CARRIED_BACK, WHOLE, MEDIAN = range(6)
_INTERP = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC}


def crop_box(det: Iterable[float], width: int, height: int, enlarge: float = 1.5, square: bool = True) -> Box:
    """The crop (x, y, w, h) for detection ``det`` in a ``width × height`` frame (see module docstring)."""
    x, y, w, h = (float(v) for v in det)
    cx, cy = x + w / 2.0, y + h / 2.0
    if square:
        side = min(max(w, h) * enlarge, width, height)
        bw = bh = max(1, int(round(side)))
    else:
        bw = max(1, int(round(min(w * enlarge, width))))
        bh = max(1, int(round(min(h * enlarge, height))))
    x0 = int(round(cx - bw / 2.0))
    y0 = int(round(cy - bh / 2.0))
    x0 = min(max(x0, 0), width - bw)
    y0 = min(max(y0, 0), height - bh)
    return x0, y0, bw, bh


def crop_resize(frame: np.ndarray, box: Box, size: int, interpolation: str = "area") -> np.ndarray:
    """Crop ``box`` from ``frame`` and resize to ``size × size`` uint8."""
    x, y, w, h = box
    patch = frame[y:y + h, x:x + w]
    if patch.shape[0] == size and patch.shape[1] == size:
        return np.ascontiguousarray(patch, dtype=np.uint8)
    return cv2.resize(patch, (size, size), interpolation=_INTERP[interpolation])


def source_ranges(sources: np.ndarray, code: int) -> list[list[int]]:
    """Half-open [start, stop) frame ranges where ``sources == code``."""
    m = np.concatenate([[False], np.asarray(sources) == code, [False]]).astype(np.int8)
    d = np.diff(m)
    return [[int(a), int(b)] for a, b in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1), strict=True)]


def check_frame(t: int, frame: Any, shape: tuple[int, int] | None, recording: str | None,
                path: str | None) -> tuple[int, int]:
    """(H, W) of frame ``t`` after checking it is RGB uint8 (H, W, 3) of the same size as the earlier frames."""
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        got = f"{getattr(frame, 'dtype', type(frame).__name__)} {getattr(frame, 'shape', '')}"
        raise DataError(f"frame {t}: expected an RGB uint8 array (H, W, 3); got {got}", recording=recording,
                        path=path)
    if shape is not None and frame.shape[:2] != shape:
        raise DataError(f"frame {t} has size {frame.shape[:2]}; earlier frames were {shape}", recording=recording,
                        path=path)
    return frame.shape[:2]


@dataclass
class CropResult:
    frames: np.ndarray  # uint8 (T, size, size, 3)
    boxes: np.ndarray  # int32 (T, 4) x, y, w, h in source pixels
    sources: np.ndarray  # uint8 (T,) index into BOX_SOURCES
    qc: dict[str, Any] = field(default_factory=dict)
    frame_shape: tuple[int, int] = (0, 0)  # source (H, W)
    #: skin ROI (tracking ``smooth`` with ``roi: keypoints`` only): mean RGB float64 (T, 3) of the source pixels
    #: inside the ROI polygons, their count int32 (T,), and the polygons float32 (T, R, 4, 2) in source pixels
    skin_rgb: np.ndarray | None = None
    skin_pixels: np.ndarray | None = None
    skin_polygons: np.ndarray | None = None


class _Smoother:
    def __init__(self, method: str, param: float) -> None:
        self.method, self.param = method, param
        self.history: list[np.ndarray] = []
        self.state: np.ndarray | None = None

    def update(self, det: Box) -> np.ndarray:
        d = np.asarray(det, dtype=np.float64)
        if self.method == "ema" and self.state is not None:
            self.state = self.param * d + (1.0 - self.param) * self.state
        elif self.method == "median":
            self.history.append(d)
            self.history = self.history[-max(1, int(self.param)):]
            self.state = np.median(np.stack(self.history), axis=0)
        else:
            self.state = d
        return self.state


class FaceTracker:
    """Run a detector on a frame stream according to a recipe and crop every frame.

    Parameters
    ----------
    detector : FaceDetector
    detect_every, smoothing, smoothing_param, median_box, enlarge, square, size, interpolation, no_face
        As in :class:`rppgbench.preprocess.recipe.Recipe`.
    recording, path : str, optional
        Named in errors (the recording id and the video file).
    """

    def __init__(self, detector: FaceDetector, *, detect_every: int = 30, smoothing: str = "none",
                 smoothing_param: float = 0.5, median_box: bool = False, enlarge: float = 1.5,
                 square: bool = True, size: int = 72, interpolation: str = "area", no_face: str = "carry",
                 recording: str | None = None, path: str | None = None) -> None:
        self.detector = detector
        self.path = path
        self.detect_every = int(detect_every)
        self.smoothing, self.smoothing_param = smoothing, smoothing_param
        self.median_box = median_box
        self.enlarge, self.square, self.size = enlarge, square, int(size)
        self.interpolation, self.no_face = interpolation, no_face
        self.recording = recording

    @classmethod
    def from_recipe(cls, detector: FaceDetector, recipe: Any, recording: str | None = None,
                    path: str | None = None) -> Any:
        """The tracker of ``recipe.tracking``: this class for ``hold`` (the rPPG-Toolbox behaviours), else
        :class:`rppgbench.preprocess.face.smooth.SmoothTracker`."""
        if getattr(recipe, "tracking", "hold") == "smooth":
            from rppgbench.preprocess.face.smooth import SmoothTracker

            return SmoothTracker(detector, detect_every=recipe.detect_every, enlarge=recipe.enlarge,
                                 square=recipe.square, size=recipe.size, interpolation=recipe.interpolation,
                                 no_face=recipe.no_face, roi=recipe.roi, recording=recording, path=path)
        return cls(detector, detect_every=recipe.detect_every, smoothing=recipe.smoothing,
                   smoothing_param=recipe.smoothing_param, median_box=recipe.median_box, enlarge=recipe.enlarge,
                   square=recipe.square, size=recipe.size, interpolation=recipe.interpolation,
                   no_face=recipe.no_face, recording=recording, path=path)

    # ------------------------------------------------------------------------------------------
    def _check_frame(self, t: int, frame: np.ndarray, shape: tuple[int, int] | None) -> tuple[int, int]:
        return check_frame(t, frame, shape, self.recording, self.path)

    def _scheduled(self, t: int) -> bool:
        return t == 0 or (self.detect_every > 0 and t % self.detect_every == 0)

    def run(self, frames: Iterable[np.ndarray],
            reopen: Callable[[], Iterator[np.ndarray]] | None = None) -> CropResult:
        """Crop every frame of ``frames``; ``reopen()`` must yield the same frames again when given."""
        if self.median_box:
            if reopen is None:
                raise ValueError("median_box needs reopen() to decode the video a second time")
            return self._run_median(frames, reopen)
        crops: list[np.ndarray | None] = []
        boxes: list[Box | None] = []
        sources: list[int] = []
        pending_raw: list[np.ndarray] = []
        smoother = _Smoother(self.smoothing, self.smoothing_param)
        box: Box | None = None
        mode = HELD  # how frames between detections are labelled (HELD, CARRIED or WHOLE)
        attempts = hits = 0
        shape = None
        for t, frame in enumerate(frames):
            shape = self._check_frame(t, frame, shape)
            H, W = shape
            if self._scheduled(t) or (box is None and mode != WHOLE):
                attempts += 1
                det = self.detector.detect_one(frame)
                if det is not None and det[2] > 0 and det[3] > 0:
                    hits += 1
                    box = crop_box(smoother.update(det), W, H, self.enlarge, self.square)
                    mode = HELD
                    src = DETECTED
                    if pending_raw or (crops and crops[0] is None):
                        self._fill_back(crops, boxes, sources, box, pending_raw, reopen)
                        pending_raw = []
                elif self.no_face == "fail":
                    raise DataError(f"no face detected in frame {t} (policy no_face='fail')",
                                    recording=self.recording, path=self.path)
                elif self.no_face == "whole":
                    mode = src = WHOLE
                else:  # carry
                    mode = src = CARRIED if box is not None else CARRIED_BACK
            else:
                src = mode
            if src == WHOLE:
                use: Box | None = (0, 0, W, H)
            elif src == CARRIED_BACK:
                use = None
            else:
                use = box
            if use is None:
                crops.append(None)
                boxes.append(None)
                if reopen is None:
                    pending_raw.append(frame)
            else:
                crops.append(crop_resize(frame, use, self.size, self.interpolation))
                boxes.append(use)
            sources.append(src)
        if not crops:
            raise DataError("the video yielded no frames", recording=self.recording, path=self.path)
        if box is None and any(c is None for c in crops):
            raise DataError(f"no face detected: detector {getattr(self.detector, 'name', '')!r} found no face in "
                            f"any of the {len(crops)} frames, which all decoded without error (policy no_face='carry')",
                            recording=self.recording, path=self.path)
        return self._result(crops, boxes, sources, attempts, hits, shape)

    def _fill_back(self, crops, boxes, sources, box, pending_raw, reopen) -> None:
        idx = [i for i, c in enumerate(crops) if c is None]
        n = idx[-1] + 1
        if reopen is None:
            raws: Iterable[np.ndarray] = pending_raw
        else:  # decode the first n frames again, one at a time
            it = iter(reopen())
            raws = (f for t, f in zip(range(n), it, strict=False) if crops[t] is None)
        filled = 0
        for i, raw in zip(idx, raws, strict=False):
            crops[i] = crop_resize(raw, box, self.size, self.interpolation)
            boxes[i] = box
            filled += 1
        if filled != len(idx):
            raise DataError(f"decoding the video again gave fewer than {n} frames",
                            recording=self.recording, path=self.path)

    def _run_median(self, frames, reopen) -> CropResult:
        dets: list[Box] = []
        attempts = hits = 0
        shape = None
        n = 0
        for t, frame in enumerate(frames):
            shape = self._check_frame(t, frame, shape)
            n += 1
            if self._scheduled(t) or (not dets and self.no_face == "carry"):
                attempts += 1
                det = self.detector.detect_one(frame)
                if det is not None and det[2] > 0 and det[3] > 0:
                    hits += 1
                    dets.append(det)
                elif self.no_face == "fail":
                    raise DataError(f"no face detected in frame {t} (policy no_face='fail')",
                                    recording=self.recording, path=self.path)
        if n == 0:
            raise DataError("the video yielded no frames", recording=self.recording, path=self.path)
        H, W = shape
        if dets:
            box = crop_box(np.median(np.asarray(dets, dtype=np.float64), axis=0), W, H, self.enlarge, self.square)
            src = MEDIAN
        elif self.no_face == "whole":
            box, src = (0, 0, W, H), WHOLE
        else:
            raise DataError(f"no face detected: detector {getattr(self.detector, 'name', '')!r} found no face in "
                            f"any of the {n} frames, which all decoded without error (policy no_face={self.no_face!r})",
                            recording=self.recording, path=self.path)
        crops = []
        for t, frame in enumerate(reopen()):
            self._check_frame(t, frame, shape)
            crops.append(crop_resize(frame, box, self.size, self.interpolation))
        if len(crops) != n:
            raise DataError(f"second decoding pass gave {len(crops)} frames; the first gave {n}",
                            recording=self.recording, path=self.path)
        return self._result(crops, [box] * n, [src] * n, attempts, hits, shape)

    def _result(self, crops, boxes, sources, attempts, hits, shape) -> CropResult:
        src = np.asarray(sources, dtype=np.uint8)
        qc: dict[str, Any] = {
            "detector": getattr(self.detector, "name", type(self.detector).__name__),
            "detector_attempts": int(attempts),
            "detector_hits": int(hits),
            "detector_hit_rate": float(hits / attempts) if attempts else float("nan"),
        }
        for code, name in enumerate(BOX_SOURCES):
            qc[f"frames_{name}"] = int(np.sum(src == code))
        for code in (CARRIED, CARRIED_BACK, WHOLE):
            qc[f"ranges_{BOX_SOURCES[code]}"] = source_ranges(src, code)
        return CropResult(frames=np.stack(crops).astype(np.uint8, copy=False),
                          boxes=np.asarray(boxes, dtype=np.int32).reshape(-1, 4), sources=src, qc=qc,
                          frame_shape=tuple(shape))
