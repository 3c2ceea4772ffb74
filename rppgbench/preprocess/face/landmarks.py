"""Landmark-based boxes from the ``face-alignment`` package (Bulat & Tzimiropoulos, ICCV 2017).

Optional extra ``landmarks``. face-alignment downloads its network weights (S3FD detector and 2D-FAN) on
first use; rppgbench never fetches anything at run time, so the weights must already be in torch's hub
cache (``$TORCH_HOME/hub/checkpoints``); otherwise a clear error says so. The landmark → box glue works with
any object that has ``get_landmarks_from_image(frame) -> list of (68, 2) arrays | None``, which is how it is
tested without the package.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from rppgbench._checks import RppgbenchError
from rppgbench.preprocess.face.base import Box, FaceDetector

__all__ = ["FaceAlignmentDetector", "landmarks_to_box"]

#: file-name prefixes of the weights face-alignment loads for 2D landmarks with its default SFD detector
_WEIGHT_PREFIXES = ("s3fd", "2DFAN4")


def _hub_checkpoints() -> Path:
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache")), "torch")
    return Path(torch_home) / "hub" / "checkpoints"


def landmarks_to_box(points: np.ndarray) -> Box:
    """Tight (x, y, w, h) box around landmark points (K, 2) given as (x, y)."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    x0, y0 = np.floor(p.min(axis=0))
    x1, y1 = np.ceil(p.max(axis=0))
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


class FaceAlignmentDetector(FaceDetector):
    """Boxes around the 68 face-alignment landmarks of each face.

    Parameters
    ----------
    network : object, optional
        Anything with ``get_landmarks_from_image``; when omitted a CPU ``face_alignment.FaceAlignment`` is
        built, which requires the package and its weights on disk.
    """

    name = "face_alignment"

    def __init__(self, network: Any = None) -> None:
        if network is None:
            network = self._build()
        if not hasattr(network, "get_landmarks_from_image"):
            raise TypeError("network must provide get_landmarks_from_image(frame); "
                            f"got {type(network).__name__}")
        self._net = network

    @staticmethod
    def _build() -> Any:
        try:
            import face_alignment  # noqa: PLC0415 (optional, imports torch)
        except ImportError as exc:
            raise RppgbenchError("face detector 'face_alignment' needs the optional package face-alignment: "
                                 "pip install rppgbench[landmarks]") from exc
        ckpt = _hub_checkpoints()
        missing = [p for p in _WEIGHT_PREFIXES if not any(ckpt.glob(f"{p}*"))] if ckpt.is_dir() \
            else list(_WEIGHT_PREFIXES)
        if missing:
            raise RppgbenchError(
                f"face detector 'face_alignment': weights {missing} not found in {ckpt}. face-alignment "
                "downloads them at first use, which cannot work offline; copy the files there from a machine "
                "with internet access (or set TORCH_HOME)")
        lm = getattr(face_alignment.LandmarksType, "TWO_D", None) or face_alignment.LandmarksType._2D
        return face_alignment.FaceAlignment(lm, device="cpu", flip_input=False)

    def detect(self, frame_rgb: np.ndarray) -> list[Box]:
        found = self._net.get_landmarks_from_image(np.ascontiguousarray(frame_rgb))
        if not found:
            return []
        return [landmarks_to_box(pts) for pts in found if pts is not None and np.size(pts)]
