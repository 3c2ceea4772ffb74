"""PURE (Stricker et al., IEEE RO-MAN 2014): 10 subjects x 6 tasks, lossless PNG frames + 60 Hz finger oximeter.

Expected layout (both seen in the wild; each recording may use either)::

    nested (rPPG-Toolbox README)            side-by-side (archive as unpacked, pyVHR)
    <root>/NN-MM/NN-MM.json                 <root>/NN-MM.json
    <root>/NN-MM/NN-MM/Image<ns>.png        <root>/NN-MM/Image<ns>.png

``NN`` = subject 01..10, ``MM`` = task 01..06; ``<ns>`` is the 19-digit unix time of the frame in nanoseconds.
Recording id ``NN-MM``, subject ``"NN"``, session ``"MM"``; ``metadata["task"]`` is one of ``steady``,
``talking``, ``slow_translation``, ``fast_translation``, ``small_rotation``, ``medium_rotation`` (tasks 01-06).
59 recordings exist (06-02 is missing); the adapter lists what is on disk.

Frames are sorted by the integer timestamp in the file name (not lexicographically). The JSON holds
``"/FullPackage"`` (oximeter packets ``{"Timestamp": ns, "Value": {"waveform": int, "pulseRate": ...}}``, ~60 Hz)
and ``"/Image"`` (``{"Timestamp": ns}`` per frame). Frame times come from ``/Image`` (falling back to the PNG
names, with a warning, when ``/Image`` does not list exactly the PNGs on disk) and label times from
``/FullPackage``, both in seconds relative to the first frame, so the store aligns the oximeter to the real,
jittered frame times (rPPG-Toolbox instead stretches the waveform to the frame count). ``pulseRate`` is never
read: the heart rate is always derived from the waveform.

Stray entries at the root: known-harmless files (``.DS_Store``, ``readme*``…) are ignored; other files (e.g.
``notes-1.txt``) are ignored with a warning (PURE recordings are folders); a folder or ``.json`` named like a
recording but not ``NN-MM`` (e.g. ``1-01``), or a ``NN-MM.json`` without its frame folder, raises
:class:`~rppgbench._checks.DataError`.

UNVERIFIED: the full JSON key set (only the keys above are read); whether the official archive nests the JSON;
the actual frame drops (handled by timestamps either way).

References
----------
R. Stricker, S. Müller, H.-M. Gross. "Non-contact video-based pulse rate measurement on a mobile service robot."
IEEE RO-MAN 2014, pp. 1056-1062. doi:10.1109/ROMAN.2014.6926392
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from rppgbench._checks import DataError
from rppgbench._logging import logger
from rppgbench.datasets import _io
from rppgbench.datasets.base import DatasetAdapter, DatasetInfo, LabelTrack, RawRecording

__all__ = ["PUREAdapter", "TASKS"]

TASKS = {1: "steady", 2: "talking", 3: "slow_translation", 4: "fast_translation", 5: "small_rotation",
         6: "medium_rotation"}
_REC_RE = re.compile(r"^(\d{2})-(\d{2})$")
_LOOSE_RE = re.compile(r"^\d+-\d+(\.json)?$", re.IGNORECASE)
_IMG_RE = re.compile(r"^Image(\d+)\.png$", re.IGNORECASE)


class PUREAdapter(DatasetAdapter):
    """Adapter for PURE; no options."""

    info = DatasetInfo(
        name="pure",
        title="PURE (Pulse Rate Detection Dataset)",
        fps=30.0,
        resolution="640x480",
        n_subjects="10",
        n_recordings="59 (06-02 missing)",
        gt_type="contact PPG (pulox CMS50E finger oximeter), 60 Hz, with timestamps",
        url="https://www.tu-ilmenau.de/neurob/data-sets-code/pulse-rate-detection-dataset-pure",
        licence="Research use; request by e-mail from the TU Ilmenau Neuroinformatics and Cognitive Robotics Lab",
        citation="Stricker, Müller, Gross, Non-contact video-based pulse rate measurement on a mobile service "
                 "robot, IEEE RO-MAN 2014",
        doi="10.1109/ROMAN.2014.6926392",
    )

    # ----------------------------------------------------------------------------------------------- discover
    def discover(self, root: str | Path) -> list[RawRecording]:
        root = Path(root)
        if not root.is_dir():
            raise DataError("PURE root folder not found", path=root)
        dirs: dict[str, Path] = {}
        jsons: dict[str, Path] = {}
        for p in root.iterdir():
            if _io.is_harmless(p):
                continue
            stem = p.name[:-5] if p.name.lower().endswith(".json") else p.name
            if _REC_RE.match(stem) and (p.is_dir() and stem == p.name):
                dirs[stem] = p
            elif _REC_RE.match(stem) and p.is_file() and p.name != stem:
                jsons[stem] = p
            elif _LOOSE_RE.match(p.name):
                raise DataError("looks like a PURE recording but is not named NN-MM (two-digit subject and "
                                "task) / NN-MM.json", path=p)
            else:
                logger.warning("pure: ignoring unexpected %s %s (not a NN-MM recording)",
                               "folder" if p.is_dir() else "file", p)
        orphans = sorted(set(jsons) - set(dirs))
        if orphans:
            raise DataError(f"ground-truth JSON without a frame folder {orphans[0]}/", path=jsons[orphans[0]])
        recs = []
        for name in sorted(dirs, key=_io.natural_key):
            d = dirs[name]
            subj, task = _REC_RE.match(name).groups()
            label = d / f"{name}.json" if (d / f"{name}.json").is_file() else jsons.get(name, d / f"{name}.json")
            frames_dir = d / name if (d / name).is_dir() else d
            layout = "nested" if label.parent == d else "side-by-side"
            recs.append(RawRecording(
                dataset="pure", recording_id=name, subject=subj, session=task,
                paths={"frames": str(frames_dir), "label": str(label)},
                metadata={"task": TASKS.get(int(task), f"task{task}"), "task_code": int(task), "layout": layout},
            ))
        if not recs:
            raise DataError("no PURE recordings (NN-MM/ folders) found", path=root)
        return recs

    # ----------------------------------------------------------------------------------------------- helpers
    def _frames(self, rec: RawRecording) -> list[tuple[int, Path]]:
        d = Path(rec.paths["frames"])
        if not d.is_dir():
            raise DataError("frame folder not found", path=d, recording=rec.recording_id)
        out = []
        for p in d.iterdir():
            m = _IMG_RE.match(p.name)
            if m:
                out.append((int(m.group(1)), p))
            elif p.suffix.lower() == ".png":
                raise DataError("PNG frame not named Image<timestamp ns>.png", path=p, recording=rec.recording_id)
            elif not (p.is_dir() or p.suffix.lower() == ".json" or _io.is_harmless(p)):
                logger.warning("pure: ignoring unexpected file %s", p)
        if not out:
            raise DataError("no Image<ns>.png frames found", path=d, recording=rec.recording_id)
        out.sort()
        return out

    def _json(self, rec: RawRecording) -> dict:
        path = Path(rec.paths["label"])
        if not path.is_file():
            raise DataError("ground-truth JSON not found", path=path, recording=rec.recording_id)
        try:
            with open(path, "rb") as fh:
                data = json.load(fh)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"cannot parse JSON (truncated?): {exc}", path=path, recording=rec.recording_id) from exc
        if not isinstance(data, dict) or "/FullPackage" not in data:
            keys = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise DataError(f"missing key '/FullPackage'; found {keys}", path=path, recording=rec.recording_id)
        return data

    def _frame_ns(self, rec: RawRecording, data: dict | None = None) -> np.ndarray:
        names = np.array([ts for ts, _ in self._frames(rec)], dtype=np.int64)
        data = self._json(rec) if data is None else data
        img = data.get("/Image")
        if img:
            try:
                ts = np.array([int(r["Timestamp"]) for r in img], dtype=np.int64)
            except (KeyError, TypeError, ValueError) as exc:
                raise DataError(f"bad '/Image' entry: {exc}", path=rec.paths["label"],
                                recording=rec.recording_id) from exc
            ts.sort()
            if ts.size == names.size:
                if not np.array_equal(ts, names):
                    logger.warning("%s: '/Image' timestamps differ from the PNG names; using '/Image'",
                                   rec.recording_id)
                return ts
            logger.warning("%s: '/Image' lists %d frames but %d PNGs exist; using the PNG names",
                           rec.recording_id, ts.size, names.size)
        return names

    # ----------------------------------------------------------------------------------------------- reading
    def iter_frames(self, rec: RawRecording) -> Iterator[np.ndarray]:
        return _io.iter_images([p for _, p in self._frames(rec)], rec.recording_id)

    def frame_timestamps(self, rec: RawRecording, n_frames: int) -> np.ndarray:
        ns = self._frame_ns(rec)
        if ns.size != n_frames:
            raise DataError(f"{ns.size} frame timestamps for {n_frames} decoded frames", path=rec.paths["frames"],
                            recording=rec.recording_id)
        return (ns - ns[0]).astype(np.float64) / 1e9

    def read_label(self, rec: RawRecording) -> LabelTrack:
        path = Path(rec.paths["label"])
        rid = rec.recording_id
        data = self._json(rec)
        pk = data["/FullPackage"]
        if not isinstance(pk, list) or not pk:
            raise DataError("'/FullPackage' is empty or not a list", path=path, recording=rid)
        ts = np.empty(len(pk), dtype=np.int64)
        wave = np.empty(len(pk), dtype=np.float64)
        for i, r in enumerate(pk):
            try:
                ts[i] = int(r["Timestamp"])
                v = r["Value"]["waveform"]
                wave[i] = np.nan if v is None else float(v)
            except (KeyError, TypeError, ValueError) as exc:
                raise DataError(f"'/FullPackage'[{i}] lacks Timestamp or Value.waveform ({exc!r})", path=path,
                                recording=rid) from exc
        wave = _io.check_label_values(wave, path, rid, "PPG waveform")
        order = np.argsort(ts, kind="stable")
        ts, wave = ts[order], wave[order]
        frame_ns = self._frame_ns(rec, data)
        t = (ts - frame_ns[0]).astype(np.float64) / 1e9
        t = _io.repair_timestamps(t, path, rid)
        span = (frame_ns[-1] - frame_ns[0]) / 1e9
        covered = min(t[-1], span) - max(t[0], 0.0)
        if span > 0:
            _io.check_length_ratio(max(covered, 0.0), span, path, rid, "oximeter coverage of the frame span (s)")
        fs = 1.0 / float(np.median(np.diff(t))) if t.size > 1 else 60.0
        return LabelTrack(values=wave, timestamps=t, fs=fs)
