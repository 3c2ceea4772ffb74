"""Face detectors behind one registry, and the box tracker that turns detections into crops.

Every detector is a class with ``detect(frame_rgb) -> list[(x, y, w, h)]`` (pixels, any order).
``haar`` (OpenCV's bundled frontal-face cascade) is the default and needs nothing extra; ``mediapipe`` and
``face_alignment`` are optional extras imported only when used.
"""
from __future__ import annotations

from rppgbench._registry import Registry
from rppgbench.preprocess.face.base import Box, FaceDetector

__all__ = ["FACE_DETECTORS", "FaceDetector", "Box", "make_detector"]

FACE_DETECTORS: Registry[type[FaceDetector]] = Registry("face detector", base=FaceDetector)
FACE_DETECTORS.register_lazy("haar", "rppgbench.preprocess.face.haar:HaarDetector",
                             extra="", description="OpenCV Haar cascade (frontal face), largest box")
FACE_DETECTORS.register_lazy("mediapipe", "rppgbench.preprocess.face.mediapipe:MediaPipeDetector",
                             extra="mediapipe", description="MediaPipe short/full-range face detector")
FACE_DETECTORS.register_lazy("face_alignment", "rppgbench.preprocess.face.landmarks:FaceAlignmentDetector",
                             extra="landmarks", description="face-alignment 2D landmarks → bounding box")


def make_detector(name: str, **kwargs) -> FaceDetector:
    """Instantiate the detector registered as ``name``."""
    return FACE_DETECTORS.get(name)(**kwargs)
