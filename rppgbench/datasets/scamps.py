"""SCAMPS (McDuff et al., NeurIPS 2022 Datasets & Benchmarks): 2800 synthetic avatar videos with PPG labels.

Expected layout::

    <root>/P000001.mat … P002800.mat           MATLAB v7.3 (HDF5) files, flat
    <root>/{Train,Val,Test}/P*.mat             or split into folders as rPPG-Toolbox asks (metadata["split"])
    <root>/ScampsTrainTestSplit.csv            optional, ignored

Each file holds ``Xsub`` (the 240x240 face crop; MATLAB (T, H, W, 3), i.e. **h5py shape (3, W, H, T)** because HDF5
shows a MATLAB column-major array with its axes reversed), float in [0, 1], RGB; and ``d_ppg`` (PPG, one sample per
frame at 30 Hz; any vector orientation is flattened). Frames are read through h5py in blocks and transposed (3, W,
H, n) → (n, H, W, 3) (blocks of ~256 MB, at least 32 frames) — a fixture with a marker in the top-left corner pins
the orientation — then converted with ``round(x * 255)`` to uint8. Masks (``skin_mask`` …) are not read; their frame
count may be T − 1 (the 599-vs-600 quirk) and is reported as ``metadata["mask_frames"]`` without raising.

Recording id and subject: the file stem (``P000001``; 5 or 6 digits accepted), sorted numerically; session
``""``. ``metadata``: ``n_frames``, ``resolution`` (``"WxH"``), ``split`` when found in a split folder.

UNVERIFIED: the official split sizes and CSV columns (not parsed); the names of HR/BR summary variables (not
read); the file-name digit count; per-video metadata beyond the waveforms.

References
----------
D. McDuff, M. Wander, X. Liu, B. L. Hill, J. Hernandez, J. Lester, T. Baltrusaitis. "SCAMPS: Synthetics for
Camera Measurement of Physiological Signals." NeurIPS 2022 Datasets and Benchmarks Track. arXiv:2206.04197
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

__all__ = ["SCAMPSAdapter", "read_xsub_block"]

_FILE_RE = re.compile(r"^P(\d+)\.mat$", re.IGNORECASE)
_SPLITS = {"train": "train", "val": "valid", "valid": "valid", "validation": "valid", "test": "test"}
_MIN_BLOCK = 32
_BLOCK_BYTES = 256 * 2**20


def read_xsub_block(ds, start: int, stop: int) -> np.ndarray:
    """Frames ``start:stop`` of an h5py ``Xsub`` dataset of shape (3, W, H, T) as float (n, H, W, 3)."""
    return np.transpose(ds[:, :, :, start:stop], (3, 2, 1, 0))


class SCAMPSAdapter(DatasetAdapter):
    """Adapter for SCAMPS; no options."""

    info = DatasetInfo(
        name="scamps",
        title="SCAMPS (Synthetics for Camera Measurement of Physiological Signals)",
        fps=30.0,
        resolution="240x240 (Xsub face crop)",
        n_subjects="2800 synthetic avatars (one per video)",
        n_recordings="2800",
        gt_type="synthetic PPG, one sample per frame (30 Hz)",
        url="https://github.com/danmcduff/scampsdataset",
        licence="Research use under the licence stated in the SCAMPS repository (RAIL-style terms, UNVERIFIED)",
        citation="McDuff et al., SCAMPS: Synthetics for Camera Measurement of Physiological Signals, "
                 "NeurIPS 2022 Datasets and Benchmarks",
        doi="10.48550/arXiv.2206.04197",
    )

    def discover(self, root: str | Path) -> list[RawRecording]:
        root = Path(root)
        if not root.is_dir():
            raise DataError("SCAMPS root folder not found", path=root)
        found: list[tuple[int, str, Path, str | None]] = []
        for p in root.iterdir():
            if _io.is_harmless(p):
                continue
            if p.is_dir() and p.name.lower() in _SPLITS:
                for q in p.iterdir():
                    if not _io.is_harmless(q):
                        self._classify(q, _SPLITS[p.name.lower()], found)
            else:
                self._classify(p, None, found)
        stems = [f[1] for f in found]
        dup = sorted({s for s in stems if stems.count(s) > 1})
        if dup:
            raise DataError(f"{dup[0]}.mat appears in more than one folder", path=root)
        recs = []
        for _, stem, path, split in sorted(found, key=lambda f: (f[0], f[1])):
            meta = self._metadata(path, stem)
            if split is not None:
                meta["split"] = split
            recs.append(RawRecording(dataset="scamps", recording_id=stem, subject=stem, session="",
                                     paths={"mat": str(path)}, metadata=meta))
        if not recs:
            raise DataError("no SCAMPS recordings (P<digits>.mat) found", path=root)
        return recs

    @staticmethod
    def _classify(p: Path, split: str | None, found: list) -> None:
        m = _FILE_RE.match(p.name)
        if m and p.is_file():
            found.append((int(m.group(1)), p.stem, p, split))
        elif p.suffix.lower() == ".mat":
            raise DataError("unexpected .mat file (SCAMPS videos are named P<digits>.mat)", path=p)
        elif p.suffix.lower() == ".csv":
            logger.info("scamps: ignoring %s (split/label tables are not parsed)", p)
        else:
            logger.warning("scamps: ignoring unexpected entry %s", p)

    @staticmethod
    def _metadata(path: Path, rid: str) -> dict[str, Any]:
        meta: dict[str, Any] = {}
        try:
            with _io.open_mat73(path, rid) as fh:
                if "Xsub" in fh and fh["Xsub"].ndim == 4:
                    _, w, h, t = fh["Xsub"].shape
                    meta.update(n_frames=int(t), resolution=f"{w}x{h}")
                for name in ("skin_mask", "combined_mask", "numerical_mask"):
                    if name in fh and fh[name].ndim == 3:
                        meta["mask_frames"] = int(fh[name].shape[-1])
                        break
        except (DataError, OSError, KeyError) as exc:
            logger.warning("scamps: %s", exc)
            meta["metadata_error"] = str(exc)
        return meta

    # ----------------------------------------------------------------------------------------------- reading
    def iter_frames(self, rec: RawRecording) -> Iterator[np.ndarray]:
        path = Path(rec.paths["mat"])
        rid = rec.recording_id
        with _io.open_mat73(path, rid) as fh:
            ds = _io.h5_dataset(fh, "Xsub", path, rid)
            if ds.ndim != 4 or ds.shape[0] != 3 or ds.shape[3] == 0:
                raise DataError(f"'Xsub' must have h5py shape (3, W, H, T) with T > 0 (MATLAB (T, H, W, 3)); "
                                f"got {ds.shape}", path=path, recording=rid)
            n = ds.shape[3]
            # time varies fastest in the file, so one frame is a strided read: read ~_BLOCK_BYTES at a time
            step = max(_MIN_BLOCK, int(_BLOCK_BYTES // max(1, ds.dtype.itemsize * int(np.prod(ds.shape[:3])))))
            for start in range(0, n, step):
                try:
                    block = read_xsub_block(ds, start, min(n, start + step))
                except OSError as exc:
                    raise DataError(f"cannot read frames {start}-{min(n, start + step) - 1} of 'Xsub' "
                                    f"(truncated?): {exc}", path=path, recording=rid) from exc
                if block.dtype == np.uint8:
                    frames = block
                else:
                    if not np.all(np.isfinite(block)):
                        raise DataError(f"'Xsub' has NaN/inf pixels in frames {start}-{start + len(block) - 1}",
                                        path=path, recording=rid)
                    frames = _io.float01_to_uint8(block)
                for f in frames:
                    yield np.ascontiguousarray(f)

    def read_label(self, rec: RawRecording) -> LabelTrack:
        path = Path(rec.paths["mat"])
        rid = rec.recording_id
        with _io.open_mat73(path, rid) as fh:
            try:
                ppg = _io.h5_dataset(fh, "d_ppg", path, rid)[()]
            except OSError as exc:
                raise DataError(f"cannot read 'd_ppg' (truncated?): {exc}", path=path, recording=rid) from exc
            xs = _io.h5_dataset(fh, "Xsub", path, rid)
            n_video = int(xs.shape[-1])
        values = _io.check_label_values(ppg, path, rid, "d_ppg")
        _io.check_length_ratio(values.size, n_video, path, rid, "len(d_ppg) / Xsub frames")
        return LabelTrack(values=values, timestamps=None, fs=float(self.info.fps) * values.size / n_video)
