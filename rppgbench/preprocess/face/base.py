"""The face-detector interface."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

__all__ = ["Box", "Face", "FaceDetector", "largest"]

#: (x, y, w, h) in pixels, x/y the top-left corner
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Face:
    """One detected face: ``box`` (x, y, w, h) in float pixels, a ``score`` (NaN when the detector has none)
    and, for detectors with landmarks, ``keypoints`` (K, 2) as (x, y) pixels in the order of the detector's
    ``keypoint_names``."""

    box: tuple[float, float, float, float]
    score: float = float("nan")
    keypoints: np.ndarray | None = None

    def int_box(self) -> Box:
        x, y, w, h = self.box
        return int(round(x)), int(round(y)), int(round(w)), int(round(h))


class FaceDetector(ABC):
    """Find faces in one RGB uint8 frame (H, W, 3).

    A detector implements :meth:`detect` (integer boxes, the only requirement) and may override
    :meth:`detect_faces` to give sub-pixel boxes, scores and keypoints; ``keypoint_names`` then names the
    keypoints (BlazeFace: eyes, nose tip, mouth, ears). The skin ROI of a recipe with ``roi: keypoints`` needs
    a detector whose keypoints include ``right_eye``, ``left_eye`` and ``mouth``.
    """

    name: str = ""
    keypoint_names: tuple[str, ...] = ()

    @abstractmethod
    def detect(self, frame_rgb: np.ndarray) -> list[Box]:
        """All faces found, as (x, y, w, h) boxes; an empty list when none."""

    def detect_faces(self, frame_rgb: np.ndarray) -> list[Face]:
        """All faces found with what the detector knows about them (default: the boxes of :meth:`detect`)."""
        return [Face(box=tuple(float(v) for v in b)) for b in self.detect(frame_rgb)]  # type: ignore[arg-type]

    def detect_one(self, frame_rgb: np.ndarray) -> Box | None:
        """The largest face (by area), or None."""
        return largest(self.detect(frame_rgb))

    def detect_face(self, frame_rgb: np.ndarray) -> Face | None:
        """The largest :class:`Face` (by box area), or None."""
        faces = [f for f in self.detect_faces(frame_rgb) if f.box[2] > 0 and f.box[3] > 0]
        if not faces:
            return None
        return max(faces, key=lambda f: (f.box[2] * f.box[3], -f.box[1], -f.box[0]))


def largest(boxes: list[Box]) -> Box | None:
    if not boxes:
        return None
    best = max(boxes, key=lambda b: (int(b[2]) * int(b[3]), -int(b[1]), -int(b[0])))
    return tuple(int(v) for v in best)  # type: ignore[return-value]
