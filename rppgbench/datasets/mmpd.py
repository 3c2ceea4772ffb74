"""MMPD, the Multi-domain Mobile Video Physiology Dataset (Tang et al., EMBC 2023), full (320x240) and mini (80x60).

Expected layout::

    <root>/subject<N>/p<N>_<k>.mat      N = 1..33 (not zero-padded), k = 0..19; MATLAB v5/v7 (scipy.io.loadmat)
    <root>/size.csv                     optional integrity list (ignored)

Each ``.mat`` holds ``video`` (T, H, W, 3) float in [0, 1] (portrait: (T, 320, 240, 3) full, (T, 80, 60, 3) mini;
converted as ``round(x * 255)`` to uint8; uint8 videos pass through), ``GT_ppg`` (a (1, T) row vector, ~30 Hz,
one sample per frame; when its length differs from T it is taken to span the video, as rPPG-Toolbox's
``resample_ppg`` does), and string labels ``light``, ``motion``, ``exercise`` (``'True'``/``'False'`` strings),
``gender``, ``glasser``, ``hair_cover``, ``makeup`` plus numeric ``skin_color`` (``[[3..6]]``, Fitzpatrick).

Recording id ``subject<N>_p<N>_<k>`` (the folder and file stem; unique), subject ``"<N>"``, session ``"<k>"``.
``metadata``: ``k``, ``light``, ``motion`` (normalised: the legacy ``'Watching Videos'`` becomes ``'Walking'``,
the raw string is kept in ``motion_raw``), ``exercise``/``glasser``/``hair_cover``/``makeup`` as booleans,
``skin_color`` (int), ``gender``, ``resolution`` (``"WxH"``), ``n_frames``, and ``tbx_codes`` (rPPG-Toolbox INFO
codes L/MO/E/S/GE/GL/H/MA, for emulating its filters). Labels are read per file, as stored; when a subject's
``skin_color`` or ``gender`` differ between its files (subject 24's ``p24_0`` in ``meta_label.csv``) a warning
names the odd file and ``metadata["inconsistent_subject_attributes"]`` lists the fields.

A file whose labels cannot be read is still listed (``metadata["metadata_error"]``) so the store reports it;
reading it raises :class:`~rppgbench._checks.DataError`. The whole ``video`` variable is loaded to stream it
(v5 files cannot be read partially): ~1.6 GB per full-size float32 recording.

UNVERIFIED: ``video`` dtype (float32/64), RGB channel order (no swap, as rPPG-Toolbox), exact T per file, whether
p24_0's .mat carries the inconsistent labels; unknown label strings are kept verbatim (``tbx_codes`` then 0).

References
----------
J. Tang, K. Chen, Y. Wang, Y. Shi, S. Patel, D. McDuff, X. Liu. "MMPD: Multi-Domain Mobile Video Physiology
Dataset." IEEE EMBC 2023. arXiv:2302.03840
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from rppgbench._checks import DataError
from rppgbench._logging import logger
from rppgbench.datasets import _io
from rppgbench.datasets.base import DatasetAdapter, DatasetInfo, LabelTrack, RawRecording

__all__ = ["MMPDAdapter", "LABEL_VARIABLES", "parse_labels"]

LABEL_VARIABLES = ("light", "motion", "exercise", "skin_color", "gender", "glasser", "hair_cover", "makeup")
_SUBJ_RE = re.compile(r"^subject(\d+)$", re.IGNORECASE)
_FILE_RE = re.compile(r"^p(\d+)_(\d+)\.mat$", re.IGNORECASE)
_LIGHT = {"LED-low": 1, "LED-high": 2, "Incandescent": 3, "Nature": 4}
_MOTION = {"Stationary": 1, "Stationary (after exercise)": 1, "Rotation": 2, "Talking": 3, "Walking": 4}
_BLOCK = 64
_BOOL = {"true": True, "false": False, "1": True, "0": False}


def _to_bool(name: str, value: Any) -> bool:
    arr = np.asarray(value)
    if arr.dtype.kind in "biuf" and arr.size == 1:
        return bool(arr.reshape(-1)[0])
    s = _io.mat_string(value).lower()
    if s not in _BOOL:
        raise ValueError(f"{name} must be 'True' or 'False'; got {s!r}")
    return _BOOL[s]


def parse_labels(mat: dict[str, Any]) -> dict[str, Any]:
    """Normalise the 8 MMPD label variables (as loaded by scipy) into JSON-friendly metadata."""
    missing = [v for v in LABEL_VARIABLES if v not in mat]
    if missing:
        raise ValueError(f"missing label variable(s) {missing}")
    motion_raw = _io.mat_string(mat["motion"])
    motion = "Walking" if motion_raw.lower() == "watching videos" else motion_raw
    meta: dict[str, Any] = {
        "light": _io.mat_string(mat["light"]),
        "motion": motion,
        "motion_raw": motion_raw,
        "exercise": _to_bool("exercise", mat["exercise"]),
        "skin_color": int(round(_io.mat_scalar(mat["skin_color"]))),
        "gender": _io.mat_string(mat["gender"]).lower(),
        "glasser": _to_bool("glasser", mat["glasser"]),
        "hair_cover": _to_bool("hair_cover", mat["hair_cover"]),
        "makeup": _to_bool("makeup", mat["makeup"]),
    }
    yes_no = {True: 1, False: 2}
    meta["tbx_codes"] = {
        "L": _LIGHT.get(meta["light"], 0), "MO": _MOTION.get(motion, 0), "E": yes_no[meta["exercise"]],
        "S": meta["skin_color"], "GE": {"male": 1, "female": 2}.get(meta["gender"], 0),
        "GL": yes_no[meta["glasser"]], "H": yes_no[meta["hair_cover"]], "MA": yes_no[meta["makeup"]],
    }
    return meta


class MMPDAdapter(DatasetAdapter):
    """Adapter for MMPD and mini-MMPD (same layout); no options."""

    info = DatasetInfo(
        name="mmpd",
        title="MMPD (Multi-domain Mobile Video Physiology Dataset)",
        fps=30.0,
        resolution="240x320 (full, portrait) / 60x80 (mini)",
        n_subjects="33",
        n_recordings="660",
        gt_type="contact PPG (finger oximeter), ~30 Hz, one sample per frame",
        url="https://github.com/McJackTang/MMPD_rPPG_dataset",
        licence="Research use only; download after signing the MMPD data release agreement",
        citation="Tang et al., MMPD: Multi-Domain Mobile Video Physiology Dataset, IEEE EMBC 2023",
        doi="10.48550/arXiv.2302.03840",
    )

    def discover(self, root: str | Path) -> list[RawRecording]:
        root = Path(root)
        if not root.is_dir():
            raise DataError("MMPD root folder not found", path=root)
        subjects: list[tuple[int, Path]] = []
        for p in root.iterdir():
            if _io.is_harmless(p):
                continue
            m = _SUBJ_RE.match(p.name)
            if m and p.is_dir():
                subjects.append((int(m.group(1)), p))
            elif (p.is_dir() and p.name.lower().startswith("subject")) or p.suffix.lower() == ".mat":
                raise DataError("looks like an MMPD recording but is not subject<N>/p<N>_<k>.mat", path=p)
            else:
                logger.warning("mmpd: ignoring unexpected entry %s", p)
        recs: list[RawRecording] = []
        for n, d in sorted(subjects):
            files: list[tuple[int, Path]] = []
            for f in d.iterdir():
                if _io.is_harmless(f):
                    continue
                m = _FILE_RE.match(f.name)
                if m and int(m.group(1)) == n:
                    files.append((int(m.group(2)), f))
                elif f.suffix.lower() == ".mat" or m:
                    raise DataError(f"unexpected .mat in subject{n}/ (expected p{n}_<k>.mat)", path=f)
                else:
                    logger.warning("mmpd: ignoring unexpected file %s", f)
            for k, f in sorted(files):
                rid = f"subject{n}_p{n}_{k}"
                recs.append(RawRecording(dataset="mmpd", recording_id=rid, subject=str(n), session=str(k),
                                         paths={"mat": str(f)}, metadata=self._metadata(f, rid, k)))
        if not recs:
            raise DataError("no MMPD recordings (subject<N>/p<N>_<k>.mat) found", path=root)
        self._check_subject_consistency(recs)
        return recs

    @staticmethod
    def _metadata(path: Path, rid: str, k: int) -> dict[str, Any]:
        meta: dict[str, Any] = {"k": k}
        try:
            mat = _io.load_mat_v5(path, rid, variables=LABEL_VARIABLES)
            meta.update(parse_labels(mat))
            shapes = _io.mat_shapes(path, rid)
            if "video" in shapes and len(shapes["video"]) == 4:
                t, h, w, _ = shapes["video"]
                meta.update(n_frames=int(t), resolution=f"{w}x{h}")
        except (DataError, ValueError, OSError) as exc:
            logger.warning("mmpd: %s: cannot read labels: %s", path, exc)
            meta["metadata_error"] = str(exc)
        return meta

    @staticmethod
    def _check_subject_consistency(recs: list[RawRecording]) -> None:
        by_subject: dict[str, list[RawRecording]] = {}
        for r in recs:
            by_subject.setdefault(r.subject, []).append(r)
        for subj, rs in by_subject.items():
            for field in ("skin_color", "gender"):
                vals = [r.metadata.get(field) for r in rs if field in r.metadata]
                if len(set(vals)) <= 1:
                    continue
                majority = Counter(vals).most_common(1)[0][0]
                for r in rs:
                    if field in r.metadata and r.metadata[field] != majority:
                        r.metadata.setdefault("inconsistent_subject_attributes", []).append(field)
                        logger.warning("mmpd: %s says %s=%r but most files of subject %s say %r (kept as stored)",
                                       r.paths["mat"], field, r.metadata[field], subj, majority)

    # ----------------------------------------------------------------------------------------------- reading
    def _video(self, rec: RawRecording) -> np.ndarray:
        path = Path(rec.paths["mat"])
        video = _io.load_mat_v5(path, rec.recording_id, variables=["video"], required=["video"])["video"]
        if video.ndim != 4 or video.shape[-1] != 3 or video.shape[0] == 0:
            raise DataError(f"'video' must have shape (T, H, W, 3) with T > 0; got {video.shape}", path=path,
                            recording=rec.recording_id)
        return video

    def iter_frames(self, rec: RawRecording) -> Iterator[np.ndarray]:
        video = self._video(rec)
        path = Path(rec.paths["mat"])
        if video.dtype == np.uint8:
            for f in video:
                yield np.ascontiguousarray(f)
            return
        if video.dtype.kind != "f":
            raise DataError(f"'video' must be float in [0, 1] or uint8; got {video.dtype}", path=path,
                            recording=rec.recording_id)
        # scipy returns MATLAB's column-major layout (time varies fastest): convert a block of frames to uint8,
        # then make it C-contiguous (transposing uint8 moves 4-8x fewer bytes than transposing floats)
        for start in range(0, video.shape[0], _BLOCK):
            block = video[start:start + _BLOCK]
            bad = ~np.isfinite(block)
            if bad.any():
                i = start + int(np.flatnonzero(bad.reshape(len(block), -1).any(axis=1))[0])
                raise DataError(f"frame {i} of 'video' has NaN/inf pixels", path=path, recording=rec.recording_id)
            yield from np.ascontiguousarray(_io.float01_to_uint8(block))

    def read_label(self, rec: RawRecording) -> LabelTrack:
        path = Path(rec.paths["mat"])
        rid = rec.recording_id
        mat = _io.load_mat_v5(path, rid, variables=["GT_ppg"], required=["GT_ppg"])
        ppg = _io.check_label_values(mat["GT_ppg"], path, rid, "GT_ppg")
        shapes = _io.mat_shapes(path, rid)
        if "video" not in shapes:
            raise DataError("missing MATLAB variable 'video'", path=path, recording=rid)
        n_video = int(shapes["video"][0])
        _io.check_length_ratio(ppg.size, n_video, path, rid, "len(GT_ppg) / video frames")
        if ppg.size != n_video:
            logger.info("%s: GT_ppg has %d samples for %d frames; it is taken to span the video", rid, ppg.size,
                        n_video)
        return LabelTrack(values=ppg, timestamps=None, fs=float(self.info.fps) * ppg.size / n_video)
