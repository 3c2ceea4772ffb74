"""The face used by the synthetic generator: the public-domain NASA ``astronaut`` photo (Eileen Collins)
shipped by scikit-image, its skin mask, a compositing matte and approximate surface normals.

Skin mask (deterministic, derived from the photo): inside an ellipse around the face **and** inside a YCrCb skin
colour box (Cr 135-180, Cb 80-135, Y > 60; a common rule for skin chrominance), then a morphological opening and
a one-pixel erosion so eyes, brows and hair fringe are excluded. Everything in the head patch outside that mask
(hair, eyes, collar, the photo's own backdrop) is "non-skin": it receives illumination but no pulse.

Normals: the head is approximated by an ellipsoid whose silhouette is the head ellipse; its normals drive the
Lambertian shading and the specular highlight when the head rotates.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["FaceAssets", "face_assets", "CROP", "FACE_ELLIPSE"]

#: head-and-shoulders crop of the 512x512 photo: (x0, y0, x1, y1)
CROP = (112, 0, 336, 280)
#: face ellipse in photo coordinates: (cx, cy, semi-axis x, semi-axis y)
FACE_ELLIPSE = (222.0, 128.0, 44.0, 62.0)
#: head ellipse (hair included) used for the matte and normals
HEAD_ELLIPSE = (224.0, 118.0, 84.0, 112.0)


@dataclass(frozen=True)
class FaceAssets:
    """Photo crop data, all (h, w) in crop pixels.

    reflectance : float32 (h, w, 3) RGB in [0, 1]
    skin : float32 (h, w) 1 on skin, 0 elsewhere
    alpha : float32 (h, w) compositing matte (feathered ellipse covering head and shoulders)
    normals : float32 (h, w, 3) unit normals (x right, y down, z toward the camera)
    face_box : (x, y, w, h) bounding box of the skin mask in crop pixels
    """

    reflectance: np.ndarray
    skin: np.ndarray
    alpha: np.ndarray
    normals: np.ndarray
    face_box: tuple[int, int, int, int]


def _ellipse(shape: tuple[int, int], cx: float, cy: float, ax: float, ay: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    return ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2


@functools.lru_cache(maxsize=1)
def face_assets() -> FaceAssets:
    """Load and analyse the photo once per process (about 20 ms)."""
    from skimage import data

    photo = data.astronaut()  # (512, 512, 3) uint8 RGB, public domain (NASA)
    x0, y0, x1, y1 = CROP
    crop = np.ascontiguousarray(photo[y0:y1, x0:x1])
    h, w = crop.shape[:2]
    ycc = cv2.cvtColor(crop, cv2.COLOR_RGB2YCrCb).astype(np.int32)
    lum, cr, cb = ycc[..., 0], ycc[..., 1], ycc[..., 2]
    colour_ok = (cr >= 135) & (cr <= 180) & (cb >= 80) & (cb <= 135) & (lum > 60)
    fcx, fcy, fax, fay = FACE_ELLIPSE
    in_face = _ellipse((h, w), fcx - x0, fcy - y0, fax, fay) <= 1.0
    skin = (colour_ok & in_face).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    skin = cv2.morphologyEx(skin, cv2.MORPH_OPEN, kernel)
    skin = cv2.erode(skin, kernel)
    ys, xs = np.nonzero(skin)
    face_box = (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))

    hcx, hcy, hax, hay = HEAD_ELLIPSE
    # matte: the head ellipse united with the shoulders below it, feathered over a few pixels
    r_head = _ellipse((h, w), hcx - x0, hcy - y0, hax, hay)
    r_body = _ellipse((h, w), hcx - x0, h + 10.0, 1.4 * hax, 0.55 * h)
    r = np.minimum(r_head, r_body)
    alpha = np.clip((1.08 - r) / 0.16, 0.0, 1.0)
    # cut the photo's own light backdrop out of the matte: bright, unsaturated pixels above the collar and
    # outside the face that connect to the crop border
    hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV).astype(np.float64) / 255.0
    yy = np.mgrid[:h, :w][0]
    backdrop = (hsv[..., 1] < 0.25) & (hsv[..., 2] > 0.5) & (yy < 180 - y0)
    backdrop &= _ellipse((h, w), fcx - x0, fcy - y0, 1.15 * fax, 1.15 * fay) > 1.0
    backdrop = cv2.morphologyEx(backdrop.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    n_lab, labels = cv2.connectedComponents(backdrop, connectivity=4)
    border = np.unique(np.concatenate([labels[0], labels[:, 0], labels[:, -1]]))
    backdrop = np.isin(labels, border[border > 0]).astype(np.float32)
    backdrop = cv2.GaussianBlur(backdrop, (5, 5), 1.2)
    alpha = (alpha * (1.0 - backdrop)).astype(np.float32)

    # ellipsoid normals over the head ellipse; flat (facing the camera) outside it
    yy, xx = np.mgrid[:h, :w].astype(np.float64)
    nx = (xx - (hcx - x0)) / hax
    ny = (yy - (hcy - y0)) / hay
    nz = np.sqrt(np.clip(1.0 - nx**2 - ny**2, 0.0, None))
    outside = nx**2 + ny**2 > 0.95
    nx[outside], ny[outside], nz[outside] = 0.0, 0.0, 1.0
    norm = np.sqrt(nx**2 + ny**2 + nz**2)
    normals = np.stack([nx / norm, ny / norm, nz / norm], axis=-1).astype(np.float32)
    return FaceAssets(reflectance=(crop.astype(np.float32) / 255.0), skin=skin.astype(np.float32),
                      alpha=alpha, normals=normals, face_box=face_box)
