"""``SyntheticAdapter``: reads the raw layout written by :func:`write_raw_dataset` (see ``writer.py``)."""
from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from rppgbench._checks import DataError
from rppgbench.datasets.base import DatasetAdapter, DatasetInfo, LabelTrack, RawRecording
from rppgbench.datasets.synthetic.writer import MANIFEST_COLUMNS, MANIFEST_COLUMNS_V1, RECORDING_ID_RE, VIDEO_CODECS

__all__ = ["SyntheticAdapter"]

_REQUIRED = ("ppg.csv", "frames.csv", "meta.json")


def _read_column_csv(path: Path, header: tuple[str, ...], recording: str | None) -> np.ndarray:
    """Read a numeric CSV with an exact header; returns float64 (N, len(header)). DataError names the file."""
    if not path.is_file():
        raise DataError("file is missing", path=path, recording=recording)
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        got = next(reader, None)
        if got is None or tuple(c.strip() for c in got) != header:
            raise DataError(f"header must be {','.join(header)!r}; found {','.join(got or [])!r}", path=path,
                            recording=recording)
        rows = []
        for line_no, row in enumerate(reader, start=2):
            if len(row) != len(header):
                raise DataError(f"line {line_no}: expected {len(header)} value(s), found {len(row)}", path=path,
                                recording=recording)
            try:
                vals = [float(v) for v in row]
            except ValueError:
                raise DataError(f"line {line_no}: not a number: {row!r}", path=path, recording=recording) from None
            if not all(math.isfinite(v) for v in vals):
                raise DataError(f"line {line_no}: NaN/inf value {row!r}", path=path, recording=recording)
            rows.append(vals)
    if not rows:
        raise DataError("no data rows", path=path, recording=recording)
    arr = np.asarray(rows, dtype=np.float64)
    t = arr[:, 0]
    bad = np.flatnonzero(np.diff(t) <= 0)
    if bad.size:
        i = int(bad[0])
        raise DataError(f"time_s must increase strictly; line {i + 3} has {t[i + 1]!r} after {t[i]!r}", path=path,
                        recording=recording)
    return arr


class SyntheticAdapter(DatasetAdapter):
    """The embedded synthetic dataset (``rppgbench synth``): rendered face videos with an exact PPG.

    The generator (``rppgbench.datasets.synthetic``) composites the NASA astronaut photo (public domain) on a
    background and modulates its skin with a skin-reflection model; the label is the blood-volume waveform
    itself, at 60 Hz with its own timestamps. Recording ids are ``sNN_rMM`` (subject NN, its recording MM).
    """

    #: 2: generator version 2 (aperiodic nuisances, docs/synthetic.md); stores are keyed by it
    version = 2
    info = DatasetInfo(
        name="synthetic",
        title="rppgbench synthetic (astronaut face, skin-reflection model, exact PPG)",
        fps=30.0,
        resolution="640x480",
        n_subjects="configurable (default 3)",
        n_recordings="configurable (default 6)",
        gt_type="exact blood-volume PPG (60 Hz, own timestamps)",
        url="generated locally: rppgbench synth OUT_DIR",
        licence="generated; astronaut image public domain (NASA)",
        citation=("rppgbench synthetic generator; skin model after Wang et al., 'Algorithmic principles of remote "
                  "PPG', IEEE TBME 64(7), 2017"),
        doi="10.1109/TBME.2016.2609282",
    )

    def discover(self, root: str | Path) -> list[RawRecording]:
        root = Path(root).expanduser()
        if not root.is_dir():
            raise DataError("synthetic dataset folder does not exist (create one with `rppgbench synth`)", path=root)
        manifest = root / "manifest.csv"
        if not manifest.is_file():
            raise DataError("manifest.csv is missing: not a synthetic dataset folder", path=root)
        with open(manifest, newline="") as fh:
            reader = csv.DictReader(fh)
            if tuple(reader.fieldnames or ()) not in (MANIFEST_COLUMNS, MANIFEST_COLUMNS_V1):
                raise DataError(f"header must be {','.join(MANIFEST_COLUMNS)!r}; found "
                                f"{','.join(reader.fieldnames or [])!r}", path=manifest)
            rows = list(reader)
        if not rows:
            raise DataError("lists no recordings", path=manifest)
        listed = {r["recording_id"] for r in rows}
        if len(listed) != len(rows):
            raise DataError("recording_id values are not unique", path=manifest)
        unlisted = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name not in listed
                          and not p.name.startswith("."))
        if unlisted:
            raise DataError(f"folder(s) {unlisted} are not listed in manifest.csv", path=root)
        recs = []
        for line_no, row in enumerate(rows, start=2):
            rid = row["recording_id"]
            m = RECORDING_ID_RE.match(rid or "")
            if m is None:
                raise DataError(f"line {line_no}: recording_id {rid!r} is not of the form sNN_rNN", path=manifest)
            rec_dir = root / rid
            if not rec_dir.is_dir():
                raise DataError("recording folder is missing", path=rec_dir, recording=rid)
            videos = sorted(rec_dir / f"video.{ext}" for ext in set(VIDEO_CODECS.values())
                            if (rec_dir / f"video.{ext}").is_file())
            if len(videos) != 1:
                raise DataError(f"expected exactly one video.<{'|'.join(sorted(set(VIDEO_CODECS.values())))}>; "
                                f"found {len(videos)}", path=rec_dir, recording=rid)
            for name in _REQUIRED:
                if not (rec_dir / name).is_file():
                    raise DataError("file is missing", path=rec_dir / name, recording=rid)
            meta_path = rec_dir / "meta.json"
            try:
                meta: dict[str, Any] = json.loads(meta_path.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise DataError(f"invalid JSON: {exc}", path=meta_path, recording=rid) from None
            meta.setdefault("preset", row["preset"])
            meta["manifest_mean_hr_bpm"] = float(row["mean_hr_bpm"])
            recs.append(RawRecording(
                dataset="synthetic", recording_id=rid, subject=row["subject"], session=row["session"],
                paths={"video": str(videos[0]), "label": str(rec_dir / "ppg.csv"),
                       "frames": str(rec_dir / "frames.csv"), "meta": str(meta_path)},
                metadata=meta))
        recs.sort(key=lambda r: tuple(int(v) for v in RECORDING_ID_RE.match(r.recording_id).groups()))
        return recs

    def source_identity(self, root: str | Path) -> dict[str, Any]:
        """sha256 over ``manifest.csv`` and every recording's ``meta.json`` (all generator parameters): two
        generated sets share a store only when they were generated alike."""
        import hashlib

        root = Path(root).expanduser()
        h = hashlib.sha256()
        files = [root / "manifest.csv"] + sorted(root.glob("*/meta.json"))
        for f in files:
            if f.is_file():
                h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
        return {"synthetic_manifest_sha256": h.hexdigest()}

    def _frame_times(self, rec: RawRecording) -> np.ndarray:
        return _read_column_csv(Path(rec.paths["frames"]), ("time_s",), rec.recording_id)[:, 0]

    def iter_frames(self, rec: RawRecording) -> Iterator[np.ndarray]:
        path = Path(rec.paths["video"])
        expected = self._frame_times(rec).size
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            cap.release()
            raise DataError("cannot open the video (missing or unreadable)", path=path, recording=rec.recording_id)
        n = 0
        try:
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                if frame.ndim != 3 or frame.shape[2] != 3:
                    raise DataError(f"frame {n} has shape {frame.shape}; expected (H, W, 3)", path=path,
                                    recording=rec.recording_id)
                n += 1
                if n > expected:
                    raise DataError(f"video has more frames than the {expected} listed in frames.csv", path=path,
                                    recording=rec.recording_id)
                yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        finally:
            cap.release()
        if n < expected:
            raise DataError(f"could not decode frame {n} of {path}: the video is corrupt or truncated (it yields {n} "
                            f"frames, frames.csv lists {expected})", path=path, recording=rec.recording_id)

    def frame_timestamps(self, rec: RawRecording, n_frames: int) -> np.ndarray:
        t = self._frame_times(rec)
        if t.size != n_frames:
            raise DataError(f"lists {t.size} frame times but {n_frames} frames were read",
                            path=rec.paths["frames"], recording=rec.recording_id)
        return t

    def read_label(self, rec: RawRecording) -> LabelTrack:
        arr = _read_column_csv(Path(rec.paths["label"]), ("time_s", "ppg"), rec.recording_id)
        fs = rec.metadata.get("ppg_fs")
        if fs is None and arr.shape[0] > 1:
            fs = float(1.0 / np.median(np.diff(arr[:, 0])))
        return LabelTrack(values=arr[:, 1].copy(), timestamps=arr[:, 0].copy(), fs=None if fs is None else float(fs))
