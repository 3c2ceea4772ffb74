"""OpenCV Haar-cascade face detector (Viola & Jones, CVPR 2001), as used by rPPG-Toolbox's ``HC`` backend."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from rppgbench._checks import DataError
from rppgbench.preprocess.face.base import Box, FaceDetector

__all__ = ["HaarDetector"]


class HaarDetector(FaceDetector):
    """``haarcascade_frontalface_default.xml`` bundled with OpenCV (``cv2.data.haarcascades``).

    Parameters
    ----------
    scale_factor, min_neighbors : float, int
        ``detectMultiScale`` settings (OpenCV defaults 1.1 and 3, as rPPG-Toolbox uses them).
    min_size, min_size_frac : int, float
        Smallest face side searched: ``max(min_size, min_size_frac × shorter frame side)`` pixels. Faces in
        rPPG recordings fill a good part of the frame; skipping tiny scales halves the detection time on
        640×480 (48 px instead of OpenCV's 30 px) and leaves small frames at OpenCV's default.
    max_side : int
        Frames whose longer side exceeds this are downscaled before detection (boxes are scaled back);
        0 disables. Detection cost grows with the pixel count; faces in rPPG videos are large.
    """

    name = "haar"

    def __init__(self, scale_factor: float = 1.1, min_neighbors: int = 3, min_size: int = 30,
                 min_size_frac: float = 0.1, max_side: int = 0) -> None:
        path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise DataError("OpenCV could not load the Haar cascade; expected the file bundled with "
                            "opencv-python(-headless)", path=path)
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size = min_size
        self.min_size_frac = min_size_frac
        self.max_side = max_side

    def detect(self, frame_rgb: np.ndarray) -> list[Box]:
        gray = cv2.cvtColor(np.ascontiguousarray(frame_rgb), cv2.COLOR_RGB2GRAY)
        min_side = max(self.min_size, self.min_size_frac * min(gray.shape))
        scale = 1.0
        if self.max_side and max(gray.shape) > self.max_side:
            scale = self.max_side / max(gray.shape)
            gray = cv2.resize(gray, (round(gray.shape[1] * scale), round(gray.shape[0] * scale)),
                              interpolation=cv2.INTER_AREA)
        ms = max(1, round(min_side * scale))
        found = self._cascade.detectMultiScale(gray, scaleFactor=self.scale_factor,
                                               minNeighbors=self.min_neighbors, minSize=(ms, ms))
        return [tuple(int(round(v / scale)) for v in b) for b in np.asarray(found).reshape(-1, 4)]
