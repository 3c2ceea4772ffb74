"""A tiny dataset adapter for store/prepare tests: real lossless AVI files with a moving, pulsing face.

Raw layout written by :func:`write_toy_raw`::

    <root>/<rid>/vid.avi      FFV1 (lossless) RGB video, 30 fps, ``width × height``
    <root>/<rid>/label.txt    two lines: PPG values, timestamps (s) — PPG at ``label_fs`` Hz
    <root>/<rid>/info.json    subject, session, hr_bpm, n_frames, face ("yes" | "no" | "late")

The face is the astronaut from scikit-image, moving slowly; its skin brightness is modulated by a sine at
the recording's heart rate, which is also the label. ``RPPGBENCH_TOY_GATE`` (a file path) and
``RPPGBENCH_TOY_CRASH`` (a recording id) make the adapter wait for a file or kill its process (tests of
kill-and-resume and of worker crashes); they are environment variables so the recipe does not change.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cv2
import numpy as np

from rppgbench._checks import DataError
from rppgbench.datasets.base import DatasetAdapter, DatasetInfo, LabelTrack, RawRecording

FPS = 30.0


def _face_patch(side: int) -> np.ndarray:
    from skimage.data import astronaut

    a = astronaut()[40:260, 140:330]  # head and a bit of background
    return cv2.resize(a, (side, side), interpolation=cv2.INTER_AREA)


def render(n_frames: int, hr_bpm: float, width: int = 200, height: int = 160, face: str = "yes",
           seed: int = 0, amp: float = 0.03) -> tuple[np.ndarray, np.ndarray]:
    """Frames uint8 (T, H, W, 3) and the pulse signal at frame times."""
    rng = np.random.default_rng(seed)
    side = int(min(width, height) * 0.7)
    patch = _face_patch(side).astype(np.float64)
    t = np.arange(n_frames) / FPS
    pulse = np.sin(2 * np.pi * hr_bpm / 60.0 * t)
    bg = np.full((height, width, 3), 40.0) + rng.normal(0, 1.0, (height, width, 3))
    frames = np.empty((n_frames, height, width, 3), np.uint8)
    for i in range(n_frames):
        f = bg.copy()
        visible = face == "yes" or (face == "late" and i >= n_frames // 2)
        if visible:
            x = int((width - side) / 2 + 6 * np.sin(2 * np.pi * 0.2 * t[i]))
            y = int((height - side) / 2 + 3 * np.cos(2 * np.pi * 0.15 * t[i]))
            p = patch * (1.0 + amp * pulse[i] * np.array([0.3, 1.0, 0.5]))
            f[y:y + side, x:x + side] = p
        frames[i] = np.clip(np.round(f), 0, 255).astype(np.uint8)
    return frames, pulse


def write_video(path: Path, frames: np.ndarray, fps: float = FPS) -> None:
    h, w = frames.shape[1:3]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), fps, (w, h))
    for f in frames:
        vw.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    vw.release()


def write_toy_raw(root: Path, n_recordings: int = 3, n_frames: int = 90, width: int = 200, height: int = 160,
                  label_fs: float = 60.0, faces: dict[str, str] | None = None) -> list[str]:
    """Write toy recordings ``s1_a, s2_a, ...``; returns their ids. HR of recording k is 60 + 12 k bpm."""
    root.mkdir(parents=True, exist_ok=True)
    ids = []
    for k in range(n_recordings):
        rid = f"s{k + 1}_a"
        d = root / rid
        d.mkdir(exist_ok=True)
        hr = 60.0 + 12.0 * k
        face = (faces or {}).get(rid, "yes")
        frames, _ = render(n_frames, hr, width, height, face=face, seed=k)
        write_video(d / "vid.avi", frames)
        n_lab = int(round(n_frames / FPS * label_fs))
        tl = np.arange(n_lab) / label_fs
        ppg = np.sin(2 * np.pi * hr / 60.0 * tl)
        (d / "label.txt").write_text(" ".join(f"{v:.9f}" for v in ppg) + "\n" + " ".join(f"{v:.9f}" for v in tl))
        (d / "info.json").write_text(json.dumps({"subject": str(k + 1), "session": "a", "hr_bpm": hr,
                                                 "n_frames": n_frames, "face": face}))
        ids.append(rid)
    return ids


class ToyAdapter(DatasetAdapter):
    """Adapter for :func:`write_toy_raw` folders (registered nowhere; passed to ``prepare`` directly)."""

    info = DatasetInfo(name="toy", title="toy test data", fps=FPS, resolution="200x160", n_subjects="3",
                       n_recordings="3", gt_type="synthetic sine", url="(generated in tests)", licence="CC0",
                       citation="-")

    def __init__(self, **options) -> None:
        super().__init__()
        self.options = dict(options)

    def discover(self, root):
        recs = []
        for d in sorted(Path(root).iterdir()):
            info = d / "info.json"
            if not info.is_file():
                continue
            meta = json.loads(info.read_text())
            recs.append(RawRecording(dataset="toy", recording_id=d.name, subject=meta["subject"],
                                     session=meta["session"],
                                     paths={"video": str(d / "vid.avi"), "label": str(d / "label.txt")},
                                     metadata={"hr_bpm": meta["hr_bpm"], "face": meta["face"]}))
        return recs

    def iter_frames(self, rec):
        gate = os.environ.get("RPPGBENCH_TOY_GATE")
        if gate and rec.recording_id != self.discover(Path(rec.paths["video"]).parent.parent)[0].recording_id:
            while not Path(gate).exists():  # synchronisation with the test, not padding
                time.sleep(0.01)
        if os.environ.get("RPPGBENCH_TOY_CRASH") == rec.recording_id:
            os._exit(17)
        cap = cv2.VideoCapture(rec.paths["video"])
        if not cap.isOpened():
            raise OSError("OpenCV cannot open the video")
        try:
            while True:
                ok, bgr = cap.read()
                if not ok:
                    break
                yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        finally:
            cap.release()

    def read_label(self, rec):
        lines = Path(rec.paths["label"]).read_text().splitlines()
        vals = np.array([float(v) for v in lines[0].split()])
        ts = np.array([float(v) for v in lines[1].split()]) if len(lines) > 1 else None
        if ts is not None and ts.size != vals.size:
            raise DataError(f"label has {vals.size} values but {ts.size} timestamps; expected equal lengths",
                            path=rec.paths["label"], recording=rec.recording_id)
        return LabelTrack(values=vals, timestamps=ts, fs=60.0)
