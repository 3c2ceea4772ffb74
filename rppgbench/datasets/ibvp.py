"""iBVP (Joshi & Cho, Electronics 2024): RGB + thermal face video with ear PPG and signal-quality labels.

Expected layout::

    <root>/pII_x/pII_x_rgb/*.bmp        RGB frames (640x480, 30 fps), sorted by name (numbers numerically)
    <root>/pII_x/pII_x_t/*.raw          optional thermal frames: headerless little-endian uint16, 640x512;
                                        degrees C = value * 0.04 - 273.15
    <root>/pII_x/pII_x_bvp.csv          header BVP,SQPhysMD,SQ1,SQ2,Perfusion_Value; 30 Hz, one row per frame

``II`` = participant (two digits), ``x`` = condition ``a`` (rhythmic slow breathing and rest), ``b`` (easy
math), ``c`` (difficult math), ``d`` (guided head movement). Participants with limited consent ship in
``Confidential_No-media-use/``; recordings found in that folder are listed too (``metadata["limited_consent"]``
is true for p08, p10, p13, p16, p29, p31, p33 wherever they are). Recording id ``pII_x``, subject ``"pII"``,
session ``"x"``.

Options
-------
sq_policy : ``"mask"`` (default) or ``"delete"``.
    ``mask`` is non-destructive: SQ2 goes to ``LabelTrack.extra["sq"]`` and a 0/1 ``extra["sq_ok"]``
    (SQ2 > ``sq_threshold``) alongside it, both aligned and stored with the PPG, so evaluation can exclude or
    weight low-quality windows while the video keeps its real time axis (chunks never straddle a gap).
    ``delete`` reproduces rPPG-Toolbox: :meth:`IBVPAdapter.frame_mask` drops frames whose aligned SQ2 is
    <= ``sq_threshold`` (the store records the dropped count in QC). Mask is the default because deleting frames
    silently changes the test set and joins discontinuous video inside chunks; use ``delete`` only to reproduce
    published rPPG-Toolbox/FactorizePhys iBVP numbers.
sq_threshold : float, default 0.3 (the rPPG-Toolbox threshold).
modality : ``"rgb"`` (default) or ``"rgbt"``.
    The store holds RGB frames only. With ``rgbt`` the thermal folder is required, the RGB stream is truncated
    to the thermal frame count (as rPPG-Toolbox truncates both to the shorter one; done through ``frame_mask``),
    and thermal frames are available from :meth:`IBVPAdapter.iter_thermal` (°C, float32); they are **not**
    written to the store.
thermal_size : (width, height), default (640, 512): size of the headerless ``.raw`` frames.

UNVERIFIED: frame file names (sorted naturally, so zero padding does not matter); participant count (32/33) and
which of the 132 possible sessions are missing; the exact SQ value set (assumed [0, 1]); the header row
(assumed present, as rPPG-Toolbox reads it; a file whose first row is numeric is read with the column order
above).

References
----------
J. Joshi, Y. Cho. "iBVP Dataset: RGB-Thermal rPPG Dataset with High Resolution Signal Quality Labels."
Electronics 13(7):1334, 2024. doi:10.3390/electronics13071334
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rppgbench._checks import DataError, check_option, check_range
from rppgbench._logging import logger
from rppgbench.datasets import _io
from rppgbench.datasets.base import DatasetAdapter, DatasetInfo, LabelTrack, RawRecording

__all__ = ["IBVPAdapter", "CONDITIONS", "LIMITED_CONSENT", "BVP_COLUMNS", "raw_to_celsius"]

CONDITIONS = {"a": "rhythmic_breathing_rest", "b": "easy_math", "c": "difficult_math", "d": "head_movement"}
LIMITED_CONSENT = frozenset({"p08", "p10", "p13", "p16", "p29", "p31", "p33"})
CONFIDENTIAL_FOLDER = "Confidential_No-media-use"
_REC_RE = re.compile(r"^(p\d+)_([a-z])$", re.IGNORECASE)


#: column order of ``pII_x_bvp.csv`` (used as names when a file has no header row)
BVP_COLUMNS = ("BVP", "SQPhysMD", "SQ1", "SQ2", "Perfusion_Value")


def _has_header(path: Path) -> bool:
    """False when the first line of the CSV is numeric (a header-less file; UNVERIFIED variant)."""
    try:
        with open(path, errors="replace") as fh:
            first = fh.readline().split(",")[0].strip()
        float(first)
        return False
    except (OSError, ValueError):
        return True


def raw_to_celsius(raw: np.ndarray) -> np.ndarray:
    """FLIR A65SC uint16 counts → degrees Celsius (``v * 0.04 - 273.15``), float32."""
    return (np.asarray(raw, dtype=np.float32) * np.float32(0.04) - np.float32(273.15)).astype(np.float32)


class IBVPAdapter(DatasetAdapter):
    """Adapter for iBVP. Options: ``sq_policy``, ``sq_threshold``, ``modality``, ``thermal_size`` (see module)."""

    info = DatasetInfo(
        name="ibvp",
        title="iBVP (RGB-thermal rPPG with signal-quality labels)",
        fps=30.0,
        resolution="640x480 (RGB); 640x512 (thermal)",
        n_subjects="32-33 (UNVERIFIED)",
        n_recordings="124",
        gt_type="ear PPG (PhysioKit), 30 Hz one row per frame, with per-sample signal-quality labels",
        url="https://github.com/PhysiologicAILab/iBVP-Dataset",
        licence="Research use under the dataset's end-user licence agreement, requested from the authors "
                "(UCL); media of limited-consent participants may not be published (exact terms UNVERIFIED)",
        citation="Joshi & Cho, iBVP Dataset: RGB-Thermal rPPG Dataset with High Resolution Signal Quality "
                 "Labels, Electronics 13(7):1334, 2024",
        doi="10.3390/electronics13071334",
    )

    def __init__(self, sq_policy: str = "mask", sq_threshold: float = 0.3, modality: str = "rgb",
                 thermal_size: Sequence[int] = (640, 512)) -> None:
        check_option("ibvp option sq_policy", sq_policy, ("mask", "delete"))
        check_option("ibvp option modality", modality, ("rgb", "rgbt"))
        check_range("ibvp option sq_threshold", float(sq_threshold), 0.0, 1.0)
        if len(thermal_size) != 2 or any(int(v) <= 0 for v in thermal_size):
            raise ValueError(f"ibvp option thermal_size must be (width, height) > 0; got {thermal_size!r}")
        self.options = {"sq_policy": sq_policy, "sq_threshold": float(sq_threshold), "modality": modality,
                        "thermal_size": [int(thermal_size[0]), int(thermal_size[1])]}

    # ----------------------------------------------------------------------------------------------- discover
    def discover(self, root: str | Path) -> list[RawRecording]:
        root = Path(root)
        if not root.is_dir():
            raise DataError("iBVP root folder not found", path=root)
        found: list[tuple[int, str, Path]] = []
        for base in (root, root / CONFIDENTIAL_FOLDER):
            if not base.is_dir():
                continue
            for p in base.iterdir():
                if _io.is_harmless(p) or (base == root and p.name == CONFIDENTIAL_FOLDER):
                    continue
                m = _REC_RE.match(p.name)
                if m and p.is_dir() and m.group(2).lower() in CONDITIONS:
                    found.append((int(m.group(1)[1:]), m.group(2).lower(), p))
                elif p.is_dir() and re.match(r"^p\d+", p.name, re.IGNORECASE):
                    raise DataError("looks like an iBVP recording but is not a folder pII_x with x in a-d", path=p)
                else:
                    logger.warning("ibvp: ignoring unexpected entry %s", p)
        ids = [p.name for _, _, p in found]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise DataError(f"recording {dup[0]} exists both at the root and in {CONFIDENTIAL_FOLDER}/", path=root)
        recs = []
        for _num, cond, d in sorted(found, key=lambda x: (x[0], x[1])):
            rid = d.name
            part = rid.split("_")[0].lower()
            thermal = d / f"{rid}_t"
            meta: dict[str, Any] = {"condition": CONDITIONS[cond], "limited_consent": part in LIMITED_CONSENT,
                                    "has_thermal": thermal.is_dir()}
            if d.parent.name == CONFIDENTIAL_FOLDER:
                meta["folder"] = CONFIDENTIAL_FOLDER
            paths = {"frames": str(d / f"{rid}_rgb"), "label": str(d / f"{rid}_bvp.csv")}
            if thermal.is_dir():
                paths["thermal"] = str(thermal)
            elif self.options["modality"] == "rgbt":
                raise DataError("modality 'rgbt' needs the thermal folder, which is missing", path=thermal,
                                recording=rid)
            recs.append(RawRecording(dataset="ibvp", recording_id=rid, subject=part, session=cond, paths=paths,
                                     metadata=meta))
        if not recs:
            raise DataError("no iBVP recordings (pII_x/ folders) found", path=root)
        return recs

    # ----------------------------------------------------------------------------------------------- frames
    @staticmethod
    def _list(folder: Path, suffix: str, rid: str) -> list[Path]:
        if not folder.is_dir():
            raise DataError("frame folder not found", path=folder, recording=rid)
        files = []
        for p in folder.iterdir():
            if p.suffix.lower() == suffix:
                files.append(p)
            elif not _io.is_harmless(p):
                logger.warning("ibvp: ignoring unexpected file %s", p)
        if not files:
            raise DataError(f"no {suffix} frames found", path=folder, recording=rid)
        return sorted(files, key=lambda q: _io.natural_key(q.name))

    def iter_frames(self, rec: RawRecording) -> Iterator[np.ndarray]:
        return _io.iter_images(self._list(Path(rec.paths["frames"]), ".bmp", rec.recording_id), rec.recording_id)

    def iter_thermal(self, rec: RawRecording) -> Iterator[np.ndarray]:
        """Thermal frames in degrees Celsius, float32 (height, width)."""
        if "thermal" not in rec.paths:
            raise DataError("recording has no thermal folder", recording=rec.recording_id)
        w, h = self.options["thermal_size"]
        for p in self._list(Path(rec.paths["thermal"]), ".raw", rec.recording_id):
            data = p.read_bytes()
            if len(data) != w * h * 2:
                raise DataError(f"thermal frame has {len(data)} bytes; expected {w}*{h}*2 = {w * h * 2} "
                                "(headerless little-endian uint16; see option thermal_size)", path=p,
                                recording=rec.recording_id)
            yield raw_to_celsius(np.frombuffer(data, dtype="<u2").reshape(h, w))

    def source_files(self, rec: RawRecording) -> list[Path]:
        """RGB frames and the CSV; thermal frames only with ``modality="rgbt"`` (the store checksums these files,
        and ~3.5 GB of thermal frames per session do not change what an RGB store holds)."""
        files = sorted(self._list(Path(rec.paths["frames"]), ".bmp", rec.recording_id))
        files.append(Path(rec.paths["label"]))
        if self.options["modality"] == "rgbt" and "thermal" in rec.paths:
            files += sorted(self._list(Path(rec.paths["thermal"]), ".raw", rec.recording_id))
        return [f for f in files if f.exists()]

    def n_thermal_frames(self, rec: RawRecording) -> int:
        return len(self._list(Path(rec.paths["thermal"]), ".raw", rec.recording_id))

    # ----------------------------------------------------------------------------------------------- labels
    def read_label(self, rec: RawRecording) -> LabelTrack:
        path = Path(rec.paths["label"])
        rid = rec.recording_id
        header = _has_header(path)
        df = _io.read_csv(path, rid, columns=["BVP", "SQ2"], header=header, names=None if header else BVP_COLUMNS)
        bvp = _io.check_label_values(df["BVP"].to_numpy(), path, rid, "BVP")
        sq = _io.check_label_values(df["SQ2"].to_numpy(), path, rid, "SQ2")
        n_rgb = len(self._list(Path(rec.paths["frames"]), ".bmp", rid))
        _io.check_length_ratio(bvp.size, n_rgb, path, rid, "BVP rows / RGB frames")
        thr = self.options["sq_threshold"]
        extra = {"sq": sq, "sq_ok": (sq > thr).astype(np.float64)}
        return LabelTrack(values=bvp, timestamps=None, fs=float(self.info.fps) * bvp.size / n_rgb, extra=extra)

    def frame_mask(self, rec: RawRecording, aligned: dict[str, np.ndarray]) -> np.ndarray | None:
        keep = None
        if self.options["sq_policy"] == "delete":
            if "sq" not in aligned:
                raise DataError(f"sq_policy 'delete' needs the aligned 'sq' label; got keys {sorted(aligned)}",
                                recording=rec.recording_id)
            keep = np.asarray(aligned["sq"], dtype=np.float64) > self.options["sq_threshold"]
        if self.options["modality"] == "rgbt":
            n_t = self.n_thermal_frames(rec)
            n = len(next(iter(aligned.values()))) if keep is None else keep.size
            if keep is None:
                keep = np.ones(n, dtype=bool)
            keep = keep.copy()
            keep[n_t:] = False
        return keep
