"""UBFC-rPPG (Bobbia et al., Pattern Recognition Letters 2019): DATASET_2 ("realistic") and DATASET_1 ("simple").

Expected layout
---------------
DATASET_2 (what papers call "UBFC-rPPG"; the default ``part="dataset_2"``)::

    <root>/subject<N>/vid.avi               uncompressed 8-bit video, 640x480, ~29.5 fps real (30 nominal)
    <root>/subject<N>/ground_truth.txt      3 lines: PPG trace, sensor HR (bpm), timestamps (s), one per frame

``N`` is not zero-padded and not contiguous (42 ids: 1, 3, 4, 5, 8, 9, 10-18, 20, 22-27, 30-49); recordings are
sorted numerically (``subject3`` before ``subject10``). DATASET_1 (``part="dataset_1"``)::

    <root>/<N>-gt/vid*.avi                  e.g. 5-gt/vid.avi, 12-gt/vid-12.avi
    <root>/<N>-gt/gtdump.xmp                headerless CSV: time_ms, HR, SpO2, PPG at ~62 Hz
    <root>/after-exercise/vid*.avi + gtdump.xmp

The root may be the sub-dataset folder itself or a folder holding ``DATASET_2/`` and/or ``DATASET_1/``;
``part="all"`` reads both. Recording ids: ``subject<N>`` (subject ``"<N>"``) for DATASET_2, ``d1_<N>`` /
``d1_after-exercise`` (subject ``"d1_<N>"``, session ``"dataset_1"``) for DATASET_1.

Ground truth
------------
The heart rate is always derived from the PPG trace. The oximeter HR line of ``ground_truth.txt`` is never used
as ground truth (it disagrees strongly with the trace for several subjects); its mean is only exposed as
``metadata["sensor_hr_mean"]`` for inspection. DATASET_2 timestamps give both the frame times and the label times
(one GT sample per frame). **Duplicated timestamps** (the oximeter log repeats a value now and then) are spread
evenly between the repeated value and the next distinct one, so times stay strictly increasing and no sample is
dropped (:func:`rppgbench.datasets._io.repair_timestamps`). When the GT has a few samples more or fewer than the
video has frames (an off-by-one is common), frame ``i`` keeps GT time ``i``; missing trailing frame times are
extrapolated with the median step, surplus GT samples stay in the label and the store's time alignment handles
them. A mismatch beyond 10 % raises :class:`~rppgbench._checks.DataError`.

UNVERIFIED: the exact FourCC (any codec OpenCV decodes is accepted); the DATASET_1 folder list and its real frame
rate (the container fps is used, falling back to 30); that DATASET_1 GT starts with the video (assumed).

References
----------
S. Bobbia, R. Macwan, Y. Benezeth, A. Mansouri, J. Dubois. "Unsupervised skin tissue segmentation for remote
photoplethysmography." Pattern Recognition Letters 124:82-90, 2019. doi:10.1016/j.patrec.2017.10.017
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from rppgbench._checks import DataError, check_option
from rppgbench._logging import logger
from rppgbench.datasets import _io
from rppgbench.datasets.base import DatasetAdapter, DatasetInfo, LabelTrack, RawRecording

__all__ = ["UBFCrPPGAdapter", "read_ground_truth_txt", "read_gtdump"]

_SUBJ_RE = re.compile(r"^subject(\d+)$", re.IGNORECASE)
_D1_RE = re.compile(r"^(\d+)-gt$", re.IGNORECASE)
_D1_EXTRA = "after-exercise"


def read_ground_truth_txt(path: Path, recording: str | None = None) -> tuple[np.ndarray, np.ndarray | None,
                                                                               np.ndarray | None]:
    """Parse a DATASET_2 ``ground_truth.txt`` → (ppg, sensor_hr or None, timestamps_s or None)."""
    if not path.is_file():
        raise DataError("ground-truth file not found (expected ground_truth.txt next to vid.avi)", path=path,
                        recording=recording)
    lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    if not lines:
        raise DataError("ground-truth file is empty", path=path, recording=recording)
    rows = []
    for i, ln in enumerate(lines[:3]):
        try:
            rows.append(np.array([float(v) for v in ln.replace(",", " ").split()], dtype=np.float64))
        except ValueError as exc:
            raise DataError(f"line {i + 1} is not a list of numbers: {exc}", path=path, recording=recording) from exc
    ppg = _io.check_label_values(rows[0], path, recording, "PPG (line 1)")
    hr = rows[1] if len(rows) > 1 else None
    ts = rows[2] if len(rows) > 2 else None
    for name, row in (("HR (line 2)", hr), ("timestamps (line 3)", ts)):
        if row is not None and row.size != ppg.size:
            raise DataError(f"{name} has {row.size} values but the PPG line has {ppg.size}", path=path,
                            recording=recording)
    if ts is not None:
        _io.check_label_values(ts, path, recording, "timestamps (line 3)")
        ts = _io.repair_timestamps(ts - ts[0], path, recording)
    return ppg, hr, ts


def read_gtdump(path: Path, recording: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse a DATASET_1 ``gtdump.xmp`` (headerless CSV ``time_ms, HR, SpO2, PPG``) → (ppg, hr, times_s)."""
    df = _io.read_csv(path, recording, header=False)
    if df.shape[1] < 4:
        raise DataError(f"expected 4 columns (time_ms, HR, SpO2, PPG); found {df.shape[1]}", path=path,
                        recording=recording)
    t = _io.check_label_values(df.iloc[:, 0].to_numpy(), path, recording, "time_ms (column 1)") / 1000.0
    ppg = _io.check_label_values(df.iloc[:, 3].to_numpy(), path, recording, "PPG (column 4)")
    hr = df.iloc[:, 1].to_numpy(dtype=np.float64)
    return ppg, hr, _io.repair_timestamps(t - t[0], path, recording)


class UBFCrPPGAdapter(DatasetAdapter):
    """Adapter for UBFC-rPPG. Option ``part``: ``"dataset_2"`` (default), ``"dataset_1"`` or ``"all"``."""

    info = DatasetInfo(
        name="ubfc_rppg",
        title="UBFC-rPPG",
        fps=30.0,
        resolution="640x480",
        n_subjects="42 (DATASET_2); DATASET_1: 8 (UNVERIFIED)",
        n_recordings="42 (DATASET_2)",
        gt_type="contact PPG (CMS50E finger oximeter), one sample per frame with timestamps",
        url="https://sites.google.com/view/ybenezeth/ubfcrppg",
        licence="Research use; download link after accepting the authors' terms; images of some subjects may "
                "not be published",
        citation="Bobbia et al., Unsupervised skin tissue segmentation for remote photoplethysmography, "
                 "Pattern Recognition Letters 124:82-90, 2019",
        doi="10.1016/j.patrec.2017.10.017",
    )

    def __init__(self, part: str = "dataset_2") -> None:
        check_option("ubfc_rppg option part", part, ("dataset_2", "dataset_1", "all"))
        self.options = {"part": part}

    # ----------------------------------------------------------------------------------------------- discover
    def discover(self, root: str | Path) -> list[RawRecording]:
        root = Path(root)
        if not root.is_dir():
            raise DataError("UBFC-rPPG root folder not found", path=root)
        part = self.options["part"]
        recs: list[RawRecording] = []
        if part in ("dataset_2", "all"):
            d2 = root / "DATASET_2" if (root / "DATASET_2").is_dir() else root
            recs += self._discover_d2(d2)
        if part in ("dataset_1", "all"):
            d1 = root / "DATASET_1" if (root / "DATASET_1").is_dir() else root
            recs += self._discover_d1(d1)
        if not recs:
            raise DataError(f"no UBFC-rPPG recordings found (part={part!r}; expected subject<N>/ folders for "
                            "DATASET_2 or <N>-gt/ folders for DATASET_1)", path=root)
        return recs

    def _discover_d2(self, root: Path) -> list[RawRecording]:
        found: list[tuple[int, Path]] = []
        for p in root.iterdir():
            if _io.is_harmless(p) or p.name in ("DATASET_1", "DATASET_2"):
                continue
            m = _SUBJ_RE.match(p.name)
            if m and p.is_dir():
                found.append((int(m.group(1)), p))
            elif p.is_dir() and p.name.lower().startswith("subject"):
                raise DataError("looks like a UBFC-rPPG recording but is not a folder named subject<N> "
                                "(N an integer)", path=p)
            elif _D1_RE.match(p.name) or p.name == _D1_EXTRA:
                logger.info("ubfc_rppg: %s belongs to DATASET_1; not listed with part='dataset_2'", p)
            else:
                logger.warning("ubfc_rppg: ignoring unexpected entry %s (not subject<N>/)", p)
        out = []
        for n, p in sorted(found):
            rid = f"subject{n}"
            meta: dict[str, Any] = {"part": "dataset_2"}
            gt = p / "ground_truth.txt"
            if gt.is_file():
                try:
                    _, hr, _ = read_ground_truth_txt(gt, rid)
                    if hr is not None and hr.size:
                        meta["sensor_hr_mean"] = float(np.mean(hr))
                except DataError as exc:  # reported again, as an error, by read_label
                    logger.debug("ubfc_rppg: %s", exc)
            out.append(RawRecording(dataset="ubfc_rppg", recording_id=rid, subject=str(n), session="",
                                    paths={"video": str(p / "vid.avi"), "label": str(gt)}, metadata=meta))
        return out

    def _discover_d1(self, root: Path) -> list[RawRecording]:
        found: list[tuple[tuple, str, Path]] = []
        for p in root.iterdir():
            if _io.is_harmless(p) or p.name in ("DATASET_1", "DATASET_2"):
                continue
            m = _D1_RE.match(p.name)
            if m and p.is_dir():
                found.append(((int(m.group(1)), ""), m.group(1), p))
            elif p.name == _D1_EXTRA and p.is_dir():
                found.append(((10 ** 9, p.name), p.name, p))
            elif p.is_dir() and p.name.lower().endswith("-gt"):
                raise DataError("looks like a UBFC-rPPG DATASET_1 recording but is not a folder named <N>-gt",
                                path=p)
            elif _SUBJ_RE.match(p.name):
                logger.info("ubfc_rppg: %s belongs to DATASET_2; not listed with part='dataset_1'", p)
            else:
                logger.warning("ubfc_rppg: ignoring unexpected entry %s (not <N>-gt/ or after-exercise/)", p)
        out = []
        for _, key, p in sorted(found, key=lambda x: x[0]):
            rid = f"d1_{key}"
            vids = sorted((q for q in p.glob("*.avi") if q.name.lower().startswith("vid")),
                          key=lambda q: _io.natural_key(q.name))
            if len(vids) != 1:
                raise DataError(f"expected exactly one vid*.avi in a DATASET_1 folder; found "
                                f"{[q.name for q in vids]}", path=p, recording=rid)
            out.append(RawRecording(dataset="ubfc_rppg", recording_id=rid, subject=rid, session="dataset_1",
                                    paths={"video": str(vids[0]), "label": str(p / "gtdump.xmp")},
                                    metadata={"part": "dataset_1", "folder": p.name}))
        return out

    # ----------------------------------------------------------------------------------------------- reading
    def iter_frames(self, rec: RawRecording) -> Iterator[np.ndarray]:
        return _io.iter_video(rec.paths["video"], rec.recording_id)

    def _video_fps(self, rec: RawRecording) -> float:
        if rec.metadata.get("part") == "dataset_1":
            return _io.video_fps(rec.paths["video"], rec.recording_id) or float(self.info.fps)
        return float(self.info.fps)

    def read_label(self, rec: RawRecording) -> LabelTrack:
        path = Path(rec.paths["label"])
        rid = rec.recording_id
        n_video = _io.video_frame_count(rec.paths["video"], rid)
        if rec.metadata.get("part") == "dataset_1":
            ppg, _, t = read_gtdump(path, rid)
            fs = 1.0 / float(np.median(np.diff(t))) if t.size > 1 else None
            video_dur = n_video / self._video_fps(rec)
            _io.check_length_ratio(t[-1] - t[0] + (1.0 / fs if fs else 0.0), video_dur, path, rid,
                                   "label duration / video duration (s)")
            return LabelTrack(values=ppg, timestamps=t, fs=fs)
        ppg, _, t = read_ground_truth_txt(path, rid)
        _io.check_length_ratio(ppg.size, n_video, path, rid, "ground-truth samples / video frames")
        if t is None:
            return LabelTrack(values=ppg, timestamps=None, fs=float(self.info.fps))
        fs = 1.0 / float(np.median(np.diff(t))) if t.size > 1 else float(self.info.fps)
        return LabelTrack(values=ppg, timestamps=t, fs=fs)

    def frame_timestamps(self, rec: RawRecording, n_frames: int) -> np.ndarray:
        rid = rec.recording_id
        if rec.metadata.get("part") == "dataset_1":
            return np.arange(n_frames, dtype=np.float64) / self._video_fps(rec)
        path = Path(rec.paths["label"])
        _, _, t = read_ground_truth_txt(path, rid)
        if t is None:
            return np.arange(n_frames, dtype=np.float64) / float(self.info.fps)
        _io.check_length_ratio(t.size, n_frames, path, rid, "ground-truth timestamps / video frames")
        if t.size >= n_frames:
            if t.size > n_frames:
                logger.info("%s: %d GT timestamps for %d frames; frame i keeps GT time i", rid, t.size, n_frames)
            return t[:n_frames].copy()
        step = float(np.median(np.diff(t))) if t.size > 1 else 1.0 / float(self.info.fps)
        extra = t[-1] + step * np.arange(1, n_frames - t.size + 1)
        logger.info("%s: %d GT timestamps for %d frames; extrapolated %d frame time(s)", rid, t.size, n_frames,
                    n_frames - t.size)
        return np.concatenate([t, extra])
