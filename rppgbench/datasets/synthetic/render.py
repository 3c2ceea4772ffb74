"""Render a synthetic recording: the astronaut face over a background, lit, moving and pulsing.

Skin reflection model (per skin pixel, channel k in R, G, B; all factors in [0, 1] image units)::

    C_k(x, t) = I(t) * ( rho_k(x) * f(x, t) * (1 - a * w_k * p(t)) + s(x, t) )

* ``rho`` — the photo's reflectance, with the skin re-toned for the requested Fitzpatrick type;
* ``f`` — relative Lambertian shading of an ellipsoid head when it rotates (1 at rest);
* ``a`` — pulse amplitude (``spec.pulse_amplitude`` times the skin-type factor), ``w`` = (0.33, 0.77, 0.53);
* ``p(t)`` — the ground-truth blood volume: **more blood, darker skin**, so skin brightness is anti-correlated
  with the PPG label;
* ``s`` — a white Blinn-Phong specular term on skin that moves with the head;
* ``I(t)`` — illumination of the whole scene (``nuisance.make_illumination``): an aperiodic intensity change,
  lights switched (steps), a slow colour-temperature drift (per-channel Planck gains) and mains flicker, which
  every image row integrates over the exposure at its own rolling-shutter read time.

Non-skin pixels follow the same equation with ``a = 0`` and no specular term. The head patch is composited over
a smooth random background with a feathered matte and moved by a per-frame affine warp (translation, roll,
scale, and the foreshortening of yaw/pitch; aperiodic moves from ``nuisance.make_motion``); when ``talking`` is
set the lower face is displaced downwards by the jaw opening before the warp and the mouth opens dark (non-skin).
Then Gaussian sensor noise is added (read at a random offset per
frame from a pool of pre-drawn values, two frames' worth per recording; white in time), values are rounded to
``uint8`` and, when ``spec.jpeg_quality`` is set, each frame goes through JPEG encode/decode. ``Rendered.frames``
are therefore exactly the pixels a lossless container stores.

Rendering is lazy and streaming: :func:`render_recording` computes the per-frame parameters (cheap) and the
frames are produced one by one by :meth:`Rendered.iter_frames`, so long recordings never sit in memory.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from rppgbench.datasets.synthetic.face import face_assets
from rppgbench.datasets.synthetic.nuisance import Illumination, make_illumination, make_motion, make_talking
from rppgbench.datasets.synthetic.ppg import PulseWave, make_pulse
from rppgbench.datasets.synthetic.presets import FITZPATRICK, SKIN_WEIGHTS, SyntheticSpec

__all__ = ["Rendered", "render_recording", "GENERATOR_VERSION"]

#: bump when the pixels or labels produced for a given spec change
GENERATOR_VERSION = 2
_AMBIENT = 0.35
_SHININESS = 24.0
_PATCH_HEIGHT = 0.9  # head-and-shoulders patch height, fraction of the frame height


@dataclass
class _Scene:
    refl: np.ndarray      # (ph, pw, 3) float32, skin re-toned
    skin: np.ndarray      # (ph, pw) float32
    alpha: np.ndarray     # (ph, pw) float32
    normals: np.ndarray   # (ph, pw, 3) float32
    base: np.ndarray      # (3, 3) patch -> frame affine at rest
    face_box: np.ndarray  # (4, 2) corners of the skin bounding box in patch pixels
    centre: np.ndarray    # (2,) face centre in frame pixels at rest
    background: np.ndarray  # (H, W, 3) float32 in [0, 1]
    jaw_weight: np.ndarray  # (ph, pw) float32: downward displacement per unit jaw opening, in face heights
    mouth_gap: np.ndarray   # (ph, pw) bool: pixels below the mouth line that open dark when the jaw drops
    mouth_y: float          # the mouth line in patch pixels
    face_h: float           # face (skin box) height in patch pixels


@dataclass
class Rendered:
    """One rendered recording; see the module docstring for the model.

    Attributes
    ----------
    spec : SyntheticSpec
    frame_times : float64 (T,) seconds from 0
    ppg, ppg_times, ppg_fs : the label at its own rate (float64)
    ppg_at_frames : float64 (T,) p(t) evaluated exactly at the frame times
    face_boxes : int (T, 4) x, y, w, h of the (moving) skin region's bounding box, clipped to the frame
    mean_hr_bpm : mean heart rate over the video span, from the generated beat times
    metadata : JSON-serialisable generator parameters and derived facts
    illumination : float64 (T,) achromatic I(t) at the frame times (steps and aperiodic change; colour drift and
        flicker are in ``light``); motion : dict of float64 (T,) trajectories (``jaw`` in face heights)
    light : the :class:`~rppgbench.datasets.synthetic.nuisance.Illumination` (per-channel, per-row gains)
    pulse : the :class:`~rppgbench.datasets.synthetic.ppg.PulseWave`
    """

    spec: SyntheticSpec
    frame_times: np.ndarray
    ppg: np.ndarray
    ppg_times: np.ndarray
    ppg_fs: float
    ppg_at_frames: np.ndarray
    face_boxes: np.ndarray
    mean_hr_bpm: float
    metadata: dict[str, Any]
    illumination: np.ndarray
    motion: dict[str, np.ndarray]
    pulse: PulseWave
    light: Illumination
    _scene: _Scene = field(repr=False)
    _affines: np.ndarray = field(repr=False)
    _cache: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def n_frames(self) -> int:
        return int(self.frame_times.size)

    # -- pixels ---------------------------------------------------------------------------------
    def iter_frames(self) -> Iterator[np.ndarray]:
        """Yield RGB ``uint8`` frames (H, W, 3) one at a time (same pixels on every call)."""
        for frame, _ in self._iter(with_mask=False):
            yield frame

    def iter_frames_and_masks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(frame, skin_mask)`` pairs; the mask is bool (H, W)."""
        yield from self._iter(with_mask=True)  # type: ignore[misc]

    def _render_all(self) -> None:
        frames = np.empty((self.n_frames, self.spec.height, self.spec.width, 3), np.uint8)
        masks = np.empty((self.n_frames, self.spec.height, self.spec.width), bool)
        for i, (fr, m) in enumerate(self._iter(with_mask=True)):
            frames[i], masks[i] = fr, m
        self._cache["frames"], self._cache["skin_mask"] = frames, masks

    @property
    def frames(self) -> np.ndarray:
        """All frames, uint8 (T, H, W, 3) RGB (rendered on first access and kept)."""
        if "frames" not in self._cache:
            self._render_all()
        return self._cache["frames"]

    @property
    def skin_mask(self) -> np.ndarray:
        """Per-frame skin mask after motion, bool (T, H, W)."""
        if "skin_mask" not in self._cache:
            self._render_all()
        return self._cache["skin_mask"]

    def _iter(self, with_mask: bool) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        spec, sc = self.spec, self._scene
        H, W = spec.height, spec.width
        a = spec.pulse_amplitude * FITZPATRICK[spec.fitzpatrick][1]
        n = sc.normals
        light = np.asarray(spec.light_dir, np.float64)
        view = np.array([0.0, 0.0, 1.0])
        inv_shade0 = 1.0 / (_AMBIENT + (1 - _AMBIENT) * np.clip(n @ light.astype(np.float32), 0, None))
        spec_gain = np.float32(255.0 * spec.specular * (1.0 if spec.fitzpatrick <= 3 else 0.7))
        refl255 = sc.refl * np.float32(255.0)
        # a * w_k on skin pixels, 0 elsewhere; planar (3, ph, pw) copies for fast per-pixel broadcasting
        pulse_dir = (a * np.asarray(SKIN_WEIGHTS, np.float32))[:, None, None] * sc.skin[None]
        refl_planar = np.ascontiguousarray(refl255.transpose(2, 0, 1))
        # at rest the colour is linear in p: colour(p) = base - p * pulse
        base = np.ascontiguousarray(refl255 + (spec_gain * _blinn(n, light, view) * sc.skin)[..., None])
        pulse = np.ascontiguousarray((refl_planar * pulse_dir).transpose(1, 2, 0))
        jaw = self.motion["jaw"]
        dynamic = spec.motion_rotation_deg > 0 or spec.motion_sway_deg > 0 or bool(np.any(jaw > 0))
        bg255 = sc.background * np.float32(255.0)
        ph, pw = sc.alpha.shape
        corners = np.array([[0, 0], [pw, 0], [0, ph], [pw, ph]], float)
        rng = np.random.default_rng([spec.seed, 3])
        npix = H * W * 3
        # sensor noise: a pool of Gaussian values read at a random offset per frame (drawing fresh normals for
        # every pixel of every frame would dominate the rendering time)
        pool = (rng.standard_normal(2 * npix, dtype=np.float32) * np.float32(spec.noise_sigma)
                if spec.noise_sigma > 0 else None)
        last_key, warped_alpha, mask = None, None, None
        static_key, static_full, pulse_roi = None, None, None
        yy, xx = np.mgrid[:ph, :pw].astype(np.float32)
        mouth = np.array([0.20, 0.06, 0.06], np.float32) * np.float32(255.0)
        for i in range(self.n_frames):
            p = np.float32(self.ppg_at_frames[i])
            m = self._affines[i]
            pts = corners @ m[:2, :2].T + m[:2, 2]
            x0, y0 = (int(v) for v in np.clip(np.floor(pts.min(axis=0)) - 1, 0, [W, H]))
            x1, y1 = (int(v) for v in np.clip(np.ceil(pts.max(axis=0)) + 1, 0, [W, H]))
            visible = x1 > x0 and y1 > y0
            m_roi = m[:2].copy()
            m_roi[:, 2] -= (x0, y0)
            size = (x1 - x0, y1 - y0)
            key = (m_roi.tobytes(), size)
            if visible and key != last_key:  # the matte only changes when the head moves
                warped_alpha = cv2.warpAffine(sc.alpha, m_roi, size, flags=cv2.INTER_LINEAR,
                                              borderMode=cv2.BORDER_CONSTANT)
                last_key = key
            skin_t = sc.skin
            if dynamic:
                rot = _rotation(self.motion["yaw_deg"][i], self.motion["pitch_deg"][i])
                l_head, v_head = rot.T @ light, rot.T @ view
                f = (_AMBIENT + (1 - _AMBIENT) * np.clip(n @ l_head.astype(np.float32), 0, None)) * inv_shade0
                spec_t = spec_gain * _blinn(n, l_head, v_head) * sc.skin
                planes = refl_planar * f[None] * (1.0 - pulse_dir * p) + spec_t[None]
                colour = cv2.merge([planes[0], planes[1], planes[2]])
                if jaw[i] > 0:  # non-rigid: the jaw pulls the lower face down; the lips part over a dark mouth
                    src_y = yy - np.float32(jaw[i] * sc.face_h) * sc.jaw_weight
                    colour = cv2.remap(colour, xx, src_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                    gap = sc.mouth_gap & (src_y < np.float32(sc.mouth_y))
                    colour[gap] = mouth
                    if with_mask:
                        skin_t = cv2.remap(sc.skin, xx, src_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                        skin_t[gap] = 0.0
                out = bg255.copy()
                if visible:
                    warped = cv2.warpAffine(colour, m_roi, size, flags=cv2.INTER_LINEAR,
                                            borderMode=cv2.BORDER_REPLICATE)
                    out[y0:y1, x0:x1] = cv2.blendLinear(warped, out[y0:y1, x0:x1], warped_alpha,
                                                        1.0 - warped_alpha)
            else:
                # still head: the frame is linear in p, so compose the two warped layers once per pose
                if key != static_key:
                    static_full = bg255.copy()
                    pulse_roi = None
                    if visible:
                        wb = cv2.warpAffine(base, m_roi, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                        wp = cv2.warpAffine(pulse, m_roi, size, flags=cv2.INTER_LINEAR,
                                            borderMode=cv2.BORDER_REPLICATE)
                        a3 = warped_alpha[..., None]
                        roi = static_full[y0:y1, x0:x1]
                        roi += a3 * (wb - roi)
                        pulse_roi = a3 * wp
                    static_key = key
                out = static_full.copy()
                if pulse_roi is not None:
                    out[y0:y1, x0:x1] -= pulse_roi * p
            out *= self.light.frame_gain(i)
            if pool is not None:
                off = int(rng.integers(0, npix))
                out += pool[off:off + npix].reshape(H, W, 3)
            out += np.float32(0.5)
            np.clip(out, 0.0, 255.0, out=out)
            frame = out.astype(np.uint8)
            if spec.jpeg_quality:
                ok, buf = cv2.imencode(".jpg", frame[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(spec.jpeg_quality)])
                frame = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
            if with_mask:
                mask = cv2.warpAffine(skin_t, m[:2], (W, H), flags=cv2.INTER_LINEAR) > 0.5
            yield frame, mask


def _rotation(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """Head rotation (yaw about the image y axis, then pitch about x) in camera coordinates."""
    y, p = np.deg2rad(yaw_deg), np.deg2rad(pitch_deg)
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    return rx @ ry


def _blinn(normals: np.ndarray, light: np.ndarray, view: np.ndarray) -> np.ndarray:
    half = light + view
    half = (half / np.linalg.norm(half)).astype(np.float32)
    return np.clip(normals @ half, 0, None) ** np.float32(_SHININESS)


def _background(seed: int, width: int, height: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 5])
    grid = rng.uniform(0.25, 0.75, size=(3, 4, 3)).astype(np.float32)
    grid = 0.6 * grid + 0.4 * grid.mean(axis=-1, keepdims=True)  # muted colours
    bg = cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(bg, 0.05, 0.95).astype(np.float32)


def _build_scene(spec: SyntheticSpec) -> _Scene:
    fa = face_assets()
    ch, cw = fa.skin.shape
    s0 = _PATCH_HEIGHT * spec.height / ch
    pw, ph = max(8, int(round(cw * s0))), max(8, int(round(ch * s0)))
    sx, sy = pw / cw, ph / ch
    gains = np.asarray(FITZPATRICK[spec.fitzpatrick][0], np.float32)

    def rs(img: np.ndarray) -> np.ndarray:
        return cv2.resize(img, (pw, ph), interpolation=cv2.INTER_AREA)

    skin = np.clip(rs(fa.skin), 0, 1)
    refl = rs(fa.reflectance)
    refl = np.clip(refl * (1 + skin[..., None] * (gains - 1)), 0, 1).astype(np.float32)
    normals = rs(fa.normals)
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True) + 1e-6
    bx, by, bw, bh = fa.face_box
    face_centre_patch = np.array([(bx + bw / 2) * sx, (by + bh / 2) * sy])
    # place the patch so the face centre sits at (W/2, 0.5 H)
    tx, ty = spec.width / 2 - face_centre_patch[0], spec.height / 2 - face_centre_patch[1]
    base = np.array([[1.0, 0, tx], [0, 1.0, ty], [0, 0, 1.0]])
    corners = np.array([[bx, by], [bx + bw, by], [bx, by + bh], [bx + bw, by + bh]], float) * [sx, sy]
    # talking: the lower lip and chin (below the mouth line, 0.66 of the face box in the photo) move down with
    # the jaw, the cheeks above stretch by up to 30 %, the neck below the chin follows over 0.15 face heights;
    # the displacement falls off sideways from the face centre (Gaussian, 0.35 face widths)
    fx0, fy0, fw, fh = bx * sx, by * sy, bw * sx, bh * sy
    yy, xx = np.mgrid[:ph, :pw].astype(np.float64)
    rel = (yy - fy0) / fh
    mouth_rel, nose_rel, chin_rel = 0.66, 0.52, 0.94
    prof = np.where(rel < mouth_rel, 0.3 * np.clip((rel - nose_rel) / (mouth_rel - nose_rel), 0, 1),
                    np.where(rel <= chin_rel, 1.0, np.clip(1.0 - (rel - chin_rel) / 0.15, 0, 1)))
    lateral = np.exp(-0.5 * ((xx - (fx0 + fw / 2)) / (0.35 * fw)) ** 2)
    gap = (rel >= mouth_rel) & (rel < chin_rel) & (np.abs(xx - (fx0 + fw / 2)) < 0.2 * fw)
    return _Scene(jaw_weight=(prof * lateral).astype(np.float32), mouth_gap=gap, mouth_y=float(fy0 + mouth_rel * fh),
                  face_h=float(fh), refl=refl, skin=skin.astype(np.float32), alpha=rs(fa.alpha).astype(np.float32),
                  normals=normals.astype(np.float32), base=base, face_box=corners,
                  centre=np.array([spec.width / 2, spec.height / 2]),
                  background=_background(spec.background_seed, spec.width, spec.height))


def render_recording(spec: SyntheticSpec) -> Rendered:
    """Generate the labels and per-frame parameters of ``spec``; frames are rendered lazily.

    Returns a :class:`Rendered`; ``.frames``/``.skin_mask`` render everything (use small sizes), while
    ``.iter_frames()`` streams.
    """
    T = spec.n_frames
    if T < 2:
        raise ValueError(f"a recording needs at least 2 frames; seconds*fps = {spec.seconds}*{spec.fps}")
    rng = np.random.default_rng([spec.seed, 2])
    frame_times = np.arange(T, dtype=np.float64) / spec.fps
    if spec.frame_jitter_s > 0:
        jit = rng.normal(0.0, spec.frame_jitter_s, size=T)
        jit[0] = 0.0
        frame_times = frame_times + np.clip(jit, -0.4 / spec.fps, 0.4 / spec.fps)
    pulse = make_pulse(rng, float(frame_times[-1]) + 1.0 / spec.fps, spec.hr_bpm, hr_drift_bpm=spec.hr_drift_bpm,
                       hrv_sd=spec.hrv_sd, rsa_bpm=spec.rsa_bpm, resp_hz=spec.resp_hz, resp_amp=spec.resp_amp,
                       resp_baseline=spec.resp_baseline)
    n_label = int(np.ceil(frame_times[-1] * spec.ppg_fs)) + 1
    ppg_times = np.arange(n_label, dtype=np.float64) / spec.ppg_fs
    ppg = pulse(ppg_times)
    ppg_at_frames = pulse(frame_times)
    mean_hr = pulse.mean_hr_bpm(0.0, float(frame_times[-1]))

    # nuisance trajectories: own random streams, so changing one nuisance leaves the others' draws alone
    motion, motion_summary = make_motion(np.random.default_rng([spec.seed, 6]), frame_times, spec.height,
                                         rotation_deg=spec.motion_rotation_deg, translation=spec.motion_translation,
                                         speed=spec.motion_speed, scale=spec.motion_scale,
                                         sway_deg=spec.motion_sway_deg)
    motion["jaw"], talk_summary = make_talking(np.random.default_rng([spec.seed, 8]), frame_times, spec.talking)
    light = make_illumination(np.random.default_rng([spec.seed, 7]), frame_times, spec.height, spec.fps,
                              change=spec.illum_change, steps_per_min=spec.illum_steps_per_min, step=spec.illum_step,
                              cct_k=spec.illum_cct_k, cct_drift_k=spec.illum_cct_drift_k, flicker=spec.illum_flicker,
                              mains_hz=spec.mains_hz, exposure_s=spec.exposure_s, clock_ppm=spec.clock_ppm,
                              gain=spec.camera_gain)

    scene = _build_scene(spec)
    affines = np.empty((T, 3, 3))
    boxes = np.empty((T, 4), dtype=np.int64)
    c = scene.centre
    for i in range(T):
        rol = np.deg2rad(motion["roll_deg"][i])
        s = 1.0 + motion["scale"][i]
        sx = s * np.cos(np.deg2rad(motion["yaw_deg"][i]))
        sy = s * np.cos(np.deg2rad(motion["pitch_deg"][i]))
        rs = np.array([[np.cos(rol) * sx, -np.sin(rol) * sy, 0], [np.sin(rol) * sx, np.cos(rol) * sy, 0], [0, 0, 1]])
        to_c = np.array([[1, 0, -c[0]], [0, 1, -c[1]], [0, 0, 1.0]])
        back = np.array([[1, 0, c[0] + motion["tx"][i]], [0, 1, c[1] + motion["ty"][i]], [0, 0, 1.0]])
        m = back @ rs @ to_c @ scene.base
        affines[i] = m
        pts = scene.face_box @ m[:2, :2].T + m[:2, 2]
        x0, y0 = np.clip(np.floor(pts.min(axis=0)), 0, [spec.width - 1, spec.height - 1])
        x1, y1 = np.clip(np.ceil(pts.max(axis=0)), 0, [spec.width, spec.height])
        boxes[i] = (int(x0), int(y0), max(1, int(x1 - x0)), max(1, int(y1 - y0)))

    meta = spec.as_dict()
    meta.update(
        generator="rppgbench.datasets.synthetic", generator_version=GENERATOR_VERSION,
        image="skimage.data.astronaut (NASA photo of Eileen Collins, public domain)",
        mean_hr_bpm=mean_hr, n_frames=T, n_beats=int(pulse.beats_in(0.0, float(frame_times[-1])).size),
        skin_weights=list(SKIN_WEIGHTS),
        pulse_amplitude_effective=spec.pulse_amplitude * FITZPATRICK[spec.fitzpatrick][1],
        skin_tone_gains=list(FITZPATRICK[spec.fitzpatrick][0]), ppg_meaning="blood volume (skin darkens as it rises)",
        nuisances=dict(motion=motion_summary, talking=talk_summary, illumination=light.summary),
    )
    return Rendered(spec=spec, frame_times=frame_times, ppg=ppg, ppg_times=ppg_times, ppg_fs=float(spec.ppg_fs),
                    ppg_at_frames=ppg_at_frames, face_boxes=boxes, mean_hr_bpm=mean_hr, metadata=meta,
                    illumination=light.intensity, motion=motion, pulse=pulse, light=light, _scene=scene,
                    _affines=affines)
