"""Prepare one recording: decode → crop → align label → mask → statistics → write into a staging folder.

Runs inside a dask worker (or in the calling process when ``workers=0``). Nothing here touches the store itself:
the group is written under the run's staging folder with ``complete: false`` and the driver
(:mod:`rppgbench.store.writer`) verifies and publishes it (:mod:`rppgbench.store._publish`).
"""
from __future__ import annotations

import json
import os
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from rppgbench._checks import DataError, RppgbenchError
from rppgbench._logging import logger
from rppgbench._util import sha256_file
from rppgbench.datasets._io import check_frame_clock
from rppgbench.datasets.base import DatasetAdapter, LabelTrack, RawRecording
from rppgbench.preprocess.align import align_label
from rppgbench.preprocess.face import make_detector
from rppgbench.preprocess.face.track import FaceTracker
from rppgbench.preprocess.recipe import Recipe
from rppgbench.store._publish import group_files
from rppgbench.store.layout import (
    ATTR_KEY,
    CHUNK_FRAMES,
    format_version_for,
    frames_codec,
    jsonable,
    label_codec,
)
from rppgbench.store.qc import recording_warnings
from rppgbench.store.views import recording_stats

__all__ = ["process_recording", "write_recording_group"]

_LOCAL = threading.local()


def _detector(name: str, options: dict[str, Any] | None = None) -> Any:
    """One detector instance per thread and name: loading Haar costs ~50 ms, and OpenCV's cascade object
    must not be shared by threads running at once (dask workers may run several tasks in threads)."""
    cache = getattr(_LOCAL, "detectors", None)
    if cache is None:
        cache = _LOCAL.detectors = {}
    key = (name, json.dumps(options or {}, sort_keys=True))
    if key not in cache:
        cache[key] = make_detector(name, **(options or {}))
    return cache[key]


def _rel(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return path.name


def process_recording(adapter: DatasetAdapter, rec: RawRecording, recipe: Recipe, staging: str | Path,
                      raw_root: str | Path | None = None) -> dict[str, Any]:
    """Prepare ``rec`` and write it as a group under the folder ``staging`` (not yet part of any store).

    Returns ``{recording_id, n_frames, seconds, staged, files, arrays, sources, warnings}``: the staged group, the
    files written with their sizes, the array names, ``{source file: [size, mtime_ns, sha256]}`` and the QC
    warnings (:mod:`rppgbench.store.qc`).
    Raises :class:`DataError` (naming the recording and file) on bad input.
    """
    t0 = time.perf_counter()
    rid = rec.recording_id
    video = rec.paths.get("video") or next(iter(rec.paths.values()), None)
    label_path = rec.paths.get("label") or video
    tracker = FaceTracker.from_recipe(_detector(recipe.detector, recipe.detector_options), recipe,
                                      recording=rid, path=video)
    counter = _Counter(adapter.iter_frames(rec))
    try:
        crop = tracker.run(counter, reopen=lambda: adapter.iter_frames(rec))
    except RppgbenchError:
        raise
    except Exception as exc:  # decoder errors come in many types; name the file and the frame
        raise DataError(f"could not decode frame {counter.n} of {video}: {type(exc).__name__}: {exc}", path=video,
                        recording=rid) from exc
    n = len(crop.frames)
    try:
        ft = np.asarray(adapter.frame_timestamps(rec, n), dtype=np.float64)
    except RppgbenchError:
        raise
    except Exception as exc:
        raise DataError(f"could not read frame timestamps: {type(exc).__name__}: {exc}", path=video,
                        recording=rid) from exc
    if ft.shape != (n,):
        raise DataError(f"frame_timestamps returned shape {ft.shape}; expected ({n},) for {n} decoded frames",
                        path=video, recording=rid)
    if not np.all(np.isfinite(ft)):
        raise DataError("frame timestamps hold NaN/inf", path=video, recording=rid)
    fps_nominal = float(rec.metadata.get("fps", adapter.info.fps)) if isinstance(rec.metadata, dict) \
        else float(adapter.info.fps)
    check_frame_clock(ft, fps_nominal, video, rid)
    try:
        track = adapter.read_label(rec)
    except RppgbenchError:
        raise
    except Exception as exc:
        raise DataError(f"could not read the label: {type(exc).__name__}: {exc}", path=label_path,
                        recording=rid) from exc
    if not isinstance(track, LabelTrack):
        raise DataError(f"read_label returned {type(track).__name__}; expected LabelTrack", recording=rid)
    ppg, aqc = align_label(track, ft, recipe.label_alignment, recording=rid, path=label_path)
    ratio = aqc["label_duration_ratio"]
    if np.isfinite(ratio) and abs(ratio - 1.0) > recipe.duration_tolerance:
        raise DataError(f"video {video} has {n} frames ({aqc['frame_interval_median_s'] * n:.2f} s) but label "
                        f"{label_path} lasts {ratio:.3f}× as long ({aqc['label_samples']} samples); expected a "
                        f"ratio within 1 ± {recipe.duration_tolerance} (truncated video or label?)", recording=rid)
    extra = aqc.pop("extra")
    if n > 1 and np.ptp(ppg) == 0.0:
        raise DataError(f"the label is constant ({float(ppg[0]):g}) over all {n} frames: a dead or disconnected "
                        "sensor; expected a pulsatile PPG", path=label_path, recording=rid)
    mask = adapter.frame_mask(rec, {"ppg": ppg, **extra})
    frame_index = np.arange(n, dtype=np.int32)
    frames, boxes, sources = crop.frames, crop.boxes, crop.sources
    skin = {} if crop.skin_rgb is None else {"skin_rgb": crop.skin_rgb, "skin_pixels": crop.skin_pixels,
                                              "skin_polygons": crop.skin_polygons}
    masked = 0
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (n,):
            raise DataError(f"frame_mask returned shape {mask.shape}; expected ({n},)", recording=rid)
        masked = int(n - mask.sum())
        if masked == n:
            raise DataError(f"frame_mask removed all {n} frames", recording=rid)
        frames, boxes, sources = frames[mask], boxes[mask], sources[mask]
        skin = {k: v[mask] for k, v in skin.items()}
        ft, ppg, frame_index = ft[mask], ppg[mask], frame_index[mask]
        extra = {k: v[mask] for k, v in extra.items()}
    ppg32 = ppg.astype(np.float32)
    stats = recording_stats(frames, ppg32)
    qc = {**crop.qc, **aqc, "frames_decoded": n, "frames_masked": masked}
    if masked:
        qc["ranges_masked"] = [[int(a), int(b)] for a, b in _ranges(~mask)]
    root = Path(raw_root) if raw_root is not None else None
    src_stats = {}
    for p in adapter.source_files(rec):
        st = os.stat(p)
        src_stats[_rel(Path(p), root)] = [int(st.st_size), int(st.st_mtime_ns), sha256_file(p)]
    checksums = {k: v[2] for k, v in src_stats.items()}
    med = qc.get("frame_interval_median_s")
    T = len(frames)
    attrs = {
        "kind": "rppgbench-recording", "format_version": format_version_for(recipe), "complete": True,
        "recording_id": rid, "dataset": rec.dataset, "subject": str(rec.subject), "session": str(rec.session),
        "metadata": dict(rec.metadata), "fps": fps_nominal,
        "fps_measured": (1.0 / med) if med and np.isfinite(med) and med > 0 else None,
        "n_frames": T, "duration_s": T / fps_nominal, "source_shape": list(crop.frame_shape),
        "source_files": checksums, "qc": qc, "stats": stats, "extra": sorted(extra),
    }
    arrays = {"frames": frames, "ppg": ppg32, "timestamps": ft, "boxes": boxes.astype(np.int32),
              "box_source": sources.astype(np.uint8), "frame_index": frame_index, **skin}
    extra32 = {k: v.astype(np.float32) for k, v in extra.items()}
    staged = write_recording_group(staging, rid, arrays, extra32, attrs)
    secs = time.perf_counter() - t0
    warnings = recording_warnings(qc, T, boxes)
    for w in warnings:
        logger.warning("recording %s: %s", rid, w)
    logger.info("prepared %s: %d frames in %.1f s (staged in %s)", rid, T, secs, staged)
    return {"recording_id": rid, "n_frames": T, "seconds": secs, "staged": str(staged), "files": group_files(staged),
            "arrays": sorted(arrays) + [f"extra/{k}" for k in sorted(extra32)], "sources": src_stats,
            "warnings": warnings}


class _Counter:
    """Iterates the adapter's frames and counts them (names the frame a decoder error happened at)."""

    def __init__(self, it) -> None:
        self.it, self.n = iter(it), 0

    def __iter__(self):
        for f in self.it:
            yield f
            self.n += 1


def _ranges(flags: np.ndarray) -> list[tuple[int, int]]:
    m = np.concatenate([[0], flags.astype(np.int8), [0]])
    d = np.diff(m)
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1), strict=True))


def write_recording_group(staging_root: str | Path, rid: str, arrays: dict[str, np.ndarray],
                          extra: dict[str, np.ndarray], attrs: dict[str, Any]) -> Path:
    """Write a recording group as ``<staging_root>/<rid>.<attempt>`` with ``complete: false``; returns its path.

    Every chunk is written, also chunks holding only the fill value (``write_empty_chunks``), so that a missing
    chunk file is always an error: the driver checks every chunk before publishing and the reader before reading
    (the fill value 0 is kept as before, so stores of the legacy recipes stay byte-identical).
    """
    import zarr

    staging = Path(staging_root) / f"{rid}.{uuid.uuid4().hex[:12]}"
    staging.parent.mkdir(parents=True, exist_ok=True)
    cfg = {"write_empty_chunks": True}
    try:
        g = zarr.open_group(str(staging), mode="w", zarr_format=3)
        for name, data in arrays.items():
            if name == "frames":
                chunks = (CHUNK_FRAMES,) + data.shape[1:]
                comp = frames_codec()
            else:
                chunks = (max(CHUNK_FRAMES, min(len(data), 8192)),) + data.shape[1:]
                comp = label_codec()
            a = g.create_array(name, shape=data.shape, chunks=chunks, dtype=data.dtype, compressors=comp,
                               fill_value=0, config=cfg)
            a[...] = data
        if extra:
            eg = g.create_group("extra")
            for name, data in extra.items():
                a = eg.create_array(name, shape=data.shape, chunks=(max(CHUNK_FRAMES, min(len(data), 8192)),),
                                    dtype=np.float32, compressors=label_codec(), fill_value=0, config=cfg)
                a[...] = data
        g.attrs[ATTR_KEY] = jsonable({**attrs, "complete": False})
    except OSError as exc:  # e.g. disk full: name the place, not only the errno
        shutil.rmtree(staging, ignore_errors=True)
        raise DataError(f"cannot write the recording: {exc.strerror or exc}", path=staging, recording=rid) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging
