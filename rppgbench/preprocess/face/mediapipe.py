"""MediaPipe face detector (BlazeFace; Bazarevsky et al., arXiv:1907.05047). Optional extra ``mediapipe``."""
from __future__ import annotations

import numpy as np

from rppgbench._checks import RppgbenchError
from rppgbench.preprocess.face.base import Box, FaceDetector

__all__ = ["MediaPipeDetector"]


class MediaPipeDetector(FaceDetector):
    """MediaPipe ``face_detection`` solution; ``model_selection`` 1 = full range (faces up to ~5 m)."""

    name = "mediapipe"

    def __init__(self, model_selection: int = 1, min_confidence: float = 0.5) -> None:
        try:
            import mediapipe as mp  # noqa: PLC0415 (optional, heavy)
        except ImportError as exc:
            raise RppgbenchError("face detector 'mediapipe' needs the optional package mediapipe: "
                                 "pip install rppgbench[mediapipe]") from exc
        self._det = mp.solutions.face_detection.FaceDetection(model_selection=model_selection,
                                                              min_detection_confidence=min_confidence)

    def detect(self, frame_rgb: np.ndarray) -> list[Box]:
        h, w = frame_rgb.shape[:2]
        res = self._det.process(np.ascontiguousarray(frame_rgb))
        out: list[Box] = []
        for d in res.detections or []:
            bb = d.location_data.relative_bounding_box
            out.append((int(round(bb.xmin * w)), int(round(bb.ymin * h)),
                        int(round(bb.width * w)), int(round(bb.height * h))))
        return out
