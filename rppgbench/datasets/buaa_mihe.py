"""BUAA-MIHE / BUAA-MIHR (Xi et al., IEEE FG 2020): face videos under 11 illumination levels, 1 to 100 lux.

Expected layout (reconstructed from third-party code; no official loader exists)::

    <root>/Sub NN/lux X.Y/luxX.Y_<INITIALS>.avi        video (~30 fps, ~60 s)
    <root>/Sub NN/lux X.Y/luxX.Y_<INITIALS>_wave.csv   PPG, one column with a header row, ~60 Hz, no timestamps
    <root>/Sub NN/lux X.Y/luxX.Y_<INITIALS>.csv        optional oximeter HR series (column PULSE, ~1 Hz)
    <root>/Sub NN/lux X.Y/PPGData.mat                  alternative PPG: MATLAB v5 struct PPG (data, fs, peaks);
                                                       ``luxX.Y_PPGData.mat`` is accepted too

Folder names contain spaces; ``Sub``/``sub`` and ``lux``/``Lux`` are matched case-insensitively, the space is
optional. Levels are 1.0, 1.6, 2.5, 4.0, 6.3, 10.0, 15.8, 25.1, 39.8, 63.1, 100.0 lux. Every level found is
listed; selecting ``lux >= 10`` (as the NEST-style DG protocols do) is a protocol decision made on
``metadata["lux"]`` (a float). Recording id ``sub<NN>_lux<X.Y>`` (e.g. ``sub01_lux10.0``), subject ``"NN"``,
session ``"lux<X.Y>"``; ``metadata``: ``lux``, ``initials``, ``label_format`` (``wave_csv`` or ``ppgdata_mat``)
and ``sensor_hr_mean`` (mean of the PULSE column when that file exists; never used as ground truth).

The PPG has no time base: it is taken to span the video (``LabelTrack.timestamps = None``), as every public
BUAA loader does. ``_wave.csv`` is preferred when both label files exist. The label duration is checked
against the video duration at the PPGData ``fs`` (or the nominal 60 Hz for ``_wave.csv``) within 10 %.

UNVERIFIED: which layout is the official archive (``_wave.csv`` vs ``PPGData.mat``, ``lux`` vs ``Lux``); the
video resolution and codec (any OpenCV-decodable AVI is read, fps from the container); the exact PPG rate
(~60-61.5 Hz); the ``_wave.csv`` header text (the first row is skipped only when it is not a number); the subject
count (13-15).

References
----------
L. Xi, W. Chen, C. Zhao, X. Wu, J. Wang. "Image Enhancement for Remote Photoplethysmography in a Low-Light
Environment." IEEE FG 2020. arXiv:2303.09336
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from rppgbench._checks import DataError
from rppgbench._logging import logger
from rppgbench.datasets import _io
from rppgbench.datasets.base import DatasetAdapter, DatasetInfo, LabelTrack, RawRecording

__all__ = ["BUAAMIHEAdapter", "LUX_LEVELS"]

LUX_LEVELS = (1.0, 1.6, 2.5, 4.0, 6.3, 10.0, 15.8, 25.1, 39.8, 63.1, 100.0)
_SUB_RE = re.compile(r"^sub\s*(\d+)$", re.IGNORECASE)
_LUX_RE = re.compile(r"^lux\s*(\d+(?:\.\d+)?)$", re.IGNORECASE)
_VID_RE = re.compile(r"^lux\s*\d+(?:\.\d+)?_(.+)\.avi$", re.IGNORECASE)
_NOMINAL_PPG_HZ = 60.0


def _read_wave_csv(path: Path, rid: str) -> np.ndarray:
    if not path.is_file():
        raise DataError("ground-truth file not found", path=path, recording=rid)
    rows = [ln.split(",")[0].strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    if rows:
        try:
            float(rows[0])
        except ValueError:
            rows = rows[1:]  # header row
    if not rows:
        raise DataError("PPG CSV has no data rows", path=path, recording=rid)
    try:
        vals = [float(v) if v.lower() not in ("nan", "") else np.nan for v in rows]
    except ValueError as exc:
        raise DataError(f"PPG CSV has a non-numeric value: {exc}", path=path, recording=rid) from exc
    return _io.check_label_values(vals, path, rid, "PPG")


def _read_ppgdata(path: Path, rid: str) -> tuple[np.ndarray, float | None]:
    mat = _io.load_mat_v5(path, rid, variables=["PPG"], required=["PPG"])
    ppg = mat["PPG"]
    if ppg.dtype.names is None or "data" not in ppg.dtype.names:
        raise DataError(f"'PPG' must be a struct with a 'data' field; got fields {ppg.dtype.names}", path=path,
                        recording=rid)
    values = _io.check_label_values(ppg["data"].reshape(-1)[0], path, rid, "PPG.data")
    fs = None
    if "fs" in ppg.dtype.names:
        try:
            fs = _io.mat_scalar(ppg["fs"].reshape(-1)[0])
        except ValueError as exc:
            raise DataError(f"PPG.fs is not a single number: {exc}", path=path, recording=rid) from exc
        if not (np.isfinite(fs) and fs > 0):
            raise DataError(f"PPG.fs must be a positive number; got {fs}", path=path, recording=rid)
    return values, fs


class BUAAMIHEAdapter(DatasetAdapter):
    """Adapter for BUAA-MIHE (BUAA-MIHR); no options."""

    info = DatasetInfo(
        name="buaa_mihe",
        title="BUAA-MIHE / BUAA-MIHR (multi-illumination HR dataset)",
        fps=30.0,
        resolution="640x480 (UNVERIFIED)",
        n_subjects="13-15 (UNVERIFIED)",
        n_recordings="~143: 11 lux levels per subject (UNVERIFIED)",
        gt_type="contact PPG, ~60 Hz, no timestamps (spans the video)",
        url="https://arxiv.org/abs/2303.09336 (request from the authors; official download page UNVERIFIED)",
        licence="Research use; by request to the authors under their agreement (terms UNVERIFIED)",
        citation="Xi et al., Image Enhancement for Remote Photoplethysmography in a Low-Light Environment, "
                 "IEEE FG 2020",
        doi="10.48550/arXiv.2303.09336",
    )

    def discover(self, root: str | Path) -> list[RawRecording]:
        root = Path(root)
        if not root.is_dir():
            raise DataError("BUAA-MIHE root folder not found", path=root)
        subs: list[tuple[int, str, Path]] = []
        for p in root.iterdir():
            if _io.is_harmless(p):
                continue
            m = _SUB_RE.match(p.name)
            if m and p.is_dir():
                subs.append((int(m.group(1)), m.group(1), p))
            elif p.is_dir() and p.name.lower().startswith("sub"):
                raise DataError("looks like a BUAA-MIHE subject folder but is not named 'Sub NN'", path=p)
            else:
                logger.warning("buaa_mihe: ignoring unexpected entry %s", p)
        recs: list[RawRecording] = []
        for _, code, sd in sorted(subs):
            levels: list[tuple[float, Path]] = []
            for p in sd.iterdir():
                if _io.is_harmless(p):
                    continue
                m = _LUX_RE.match(p.name)
                if m and p.is_dir():
                    levels.append((float(m.group(1)), p))
                elif p.is_dir() and p.name.lower().startswith("lux"):
                    raise DataError("looks like a BUAA-MIHE illumination folder but is not named 'lux X.Y'", path=p)
                else:
                    logger.warning("buaa_mihe: ignoring unexpected entry %s", p)
            for lux, ld in sorted(levels):
                recs.append(self._recording(code, lux, ld))
        if not recs:
            raise DataError("no BUAA-MIHE recordings ('Sub NN/lux X.Y/' folders) found", path=root)
        return recs

    def _recording(self, code: str, lux: float, folder: Path) -> RawRecording:
        rid = f"sub{code}_lux{lux:.1f}"
        vids = sorted(q for q in folder.iterdir() if q.suffix.lower() == ".avi")
        if len(vids) != 1:
            raise DataError(f"expected exactly one .avi video; found {[q.name for q in vids]}", path=folder,
                            recording=rid)
        vid = vids[0]
        m = _VID_RE.match(vid.name)
        meta: dict[str, Any] = {"lux": lux, "initials": m.group(1) if m else ""}
        wave = folder / f"{vid.stem}_wave.csv"
        mats = sorted(q for q in folder.iterdir() if q.name.lower().endswith("ppgdata.mat"))
        if wave.is_file():
            label, meta["label_format"] = wave, "wave_csv"
        elif len(mats) == 1:
            label, meta["label_format"] = mats[0], "ppgdata_mat"
        elif len(mats) > 1:
            raise DataError(f"several PPGData.mat files: {[q.name for q in mats]}", path=folder, recording=rid)
        else:  # reported by read_label, naming the expected file
            label, meta["label_format"] = wave, "wave_csv"
        hr_csv = folder / f"{vid.stem}.csv"
        paths = {"video": str(vid), "label": str(label)}
        if hr_csv.is_file():
            paths["hr"] = str(hr_csv)
            try:
                df = _io.read_csv(hr_csv, rid, columns=["PULSE"])
                meta["sensor_hr_mean"] = float(np.nanmean(df["PULSE"].to_numpy(dtype=np.float64)))
            except (DataError, ValueError) as exc:
                logger.warning("buaa_mihe: %s", exc)
        return RawRecording(dataset="buaa_mihe", recording_id=rid, subject=code, session=f"lux{lux:.1f}",
                            paths=paths, metadata=meta)

    # ----------------------------------------------------------------------------------------------- reading
    def iter_frames(self, rec: RawRecording) -> Iterator[np.ndarray]:
        return _io.iter_video(rec.paths["video"], rec.recording_id)

    def _fps(self, rec: RawRecording) -> float:
        return _io.video_fps(rec.paths["video"], rec.recording_id) or float(self.info.fps)

    def frame_timestamps(self, rec: RawRecording, n_frames: int) -> np.ndarray:
        return np.arange(n_frames, dtype=np.float64) / self._fps(rec)

    def read_label(self, rec: RawRecording) -> LabelTrack:
        path = Path(rec.paths["label"])
        rid = rec.recording_id
        if rec.metadata.get("label_format") == "ppgdata_mat":
            values, fs = _read_ppgdata(path, rid)
        else:
            values, fs = _read_wave_csv(path, rid), None
        n_video = _io.video_frame_count(rec.paths["video"], rid)
        video_dur = n_video / self._fps(rec)
        rate = fs if fs is not None else _NOMINAL_PPG_HZ
        _io.check_length_ratio(values.size / rate, video_dur, path, rid,
                               f"label duration at {rate:g} Hz / video duration (s)")
        return LabelTrack(values=values, timestamps=None, fs=values.size / video_dur if fs is None else fs)
