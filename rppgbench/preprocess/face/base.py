"""The face-detector interface."""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

__all__ = ["Box", "FaceDetector", "largest"]

#: (x, y, w, h) in pixels, x/y the top-left corner
Box = tuple[int, int, int, int]


class FaceDetector(ABC):
    """Find faces in one RGB uint8 frame (H, W, 3)."""

    name: str = ""

    @abstractmethod
    def detect(self, frame_rgb: np.ndarray) -> list[Box]:
        """All faces found, as (x, y, w, h) boxes; an empty list when none."""

    def detect_one(self, frame_rgb: np.ndarray) -> Box | None:
        """The largest face (by area), or None."""
        return largest(self.detect(frame_rgb))


def largest(boxes: list[Box]) -> Box | None:
    if not boxes:
        return None
    best = max(boxes, key=lambda b: (int(b[2]) * int(b[3]), -int(b[1]), -int(b[0])))
    return tuple(int(v) for v in best)  # type: ignore[return-value]
