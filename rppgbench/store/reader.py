"""Reading a prepared store: the recording table, frames, labels and views computed on read."""
from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from rppgbench._checks import DataError, check_option
from rppgbench._util import did_you_mean, natural_key
from rppgbench.store._publish import missing_chunks
from rppgbench.store.layout import ATTR_KEY, RECORDINGS
from rppgbench.store.views import VIEWS, as_views, frames_view, scratch
from rppgbench.store.views import label_view as _label_view

__all__ = ["Store", "open_store"]

#: largest uint8 block (bytes) that read_clip decodes into its per-thread scratch buffer (a 160-frame 72x72 clip
#: is 2.5 MB); longer reads get fresh memory, so no thread keeps a whole recording's worth of buffer
_SCRATCH_MAX = 16 << 20

_TABLE_FIRST = ["recording_id", "dataset", "subject", "session", "n_frames", "fps", "duration_s"]


def open_store(path: str | Path) -> Store:
    """Open the store at ``path`` (DataError if it is not an rppgbench store)."""
    return Store(path)


class Store:
    """Read access to one store. Only complete recordings are visible.

    Attributes
    ----------
    path : Path
    attrs : dict
        Store attributes (recipe, recipe_id, dataset, format_version, package_versions, qc, ...).
    recipe : Recipe
    recipe_id, dataset : str
    """

    #: read frame chunks directly when the array layout allows it (see ``store._chunks``); False forces zarr
    direct_reads: bool = True

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        meta = self.path / "zarr.json"
        if not meta.is_file():
            raise DataError("not a Zarr store (no zarr.json); run `rppgbench prepare` first", path=self.path)
        try:
            attrs = json.loads(meta.read_text()).get("attributes", {}).get(ATTR_KEY)
        except ValueError as exc:
            raise DataError(f"unreadable zarr.json: {exc}", path=meta) from None
        if not isinstance(attrs, dict) or attrs.get("kind") != "rppgbench-store":
            raise DataError("a Zarr group but not an rppgbench store (attributes['rppgbench'] missing)",
                            path=self.path)
        self.attrs: dict[str, Any] = attrs
        self.recipe_id: str = attrs["recipe_id"]
        self.dataset: str = attrs["dataset"]
        self._rec_attrs: dict[str, dict[str, Any]] = {}
        self._arrays: dict[tuple[str, str], Any] = {}
        self._scan()

    def __getstate__(self) -> dict[str, Any]:  # picklable for DataLoader workers: reopen arrays lazily
        state = self.__dict__.copy()
        state["_arrays"] = {}
        return state

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r}, dataset={self.dataset!r}, recordings={len(self._rec_attrs)})"

    @cached_property
    def recipe(self):  # -> Recipe
        from rppgbench.preprocess.recipe import Recipe

        return Recipe.from_dict(dict(self.attrs["recipe"]))

    def _scan(self) -> None:
        rec_dir = self.path / RECORDINGS
        found: dict[str, dict[str, Any]] = {}
        for child in sorted(rec_dir.iterdir()) if rec_dir.is_dir() else []:
            meta = child / "zarr.json"
            if not meta.is_file():
                continue
            try:
                a = json.loads(meta.read_text()).get("attributes", {}).get(ATTR_KEY)
            except ValueError:
                continue
            if isinstance(a, dict) and a.get("complete") is True:
                found[child.name] = a
        self._rec_attrs = found

    def refresh(self) -> None:
        """Re-read the list of complete recordings (after another process added some)."""
        self._scan()
        self._arrays.clear()

    # -- listing -------------------------------------------------------------------------------
    def recording_ids(self) -> list[str]:
        """Ids of the complete recordings in natural order (``subject2`` before ``subject10``)."""
        return sorted(self._rec_attrs, key=natural_key)

    def missing(self) -> dict[str, str]:
        """Recordings of the raw folder that are absent: id → reason (failed/skipped/not yet written, or not
        selected because the last prepare ran with ``--limit``)."""
        qc = self.attrs.get("qc") or {}
        out = {}
        selected = self.attrs.get("selected") or []
        for rid in sorted(selected, key=natural_key):
            if rid in self._rec_attrs:
                continue
            why = (qc.get("skipped") or {}).get(rid) or (qc.get("failed") or {}).get(rid) or "not written yet"
            out[rid] = why
        chosen = set(selected)
        for rid in self.attrs.get("discovered") or []:
            if rid not in chosen and rid not in self._rec_attrs:
                out[rid] = f"not prepared: the store was made with --limit {self.attrs.get('limit')}"
        return out

    def limited(self) -> list[str]:
        """Recordings of the raw folder left out because the store was prepared with ``--limit``."""
        chosen = set(self.attrs.get("selected") or []) | set(self._rec_attrs)
        return [rid for rid in self.attrs.get("discovered") or [] if rid not in chosen]

    def recordings(self):  # -> pandas.DataFrame
        """One row per complete recording, in natural order of recording_id: ids, subject, session, n_frames, fps,
        duration_s, every metadata field, and ``qc_*`` scalar columns."""
        import pandas as pd

        rows = []
        for rid in self.recording_ids():
            a = self._rec_attrs[rid]
            row = {k: a.get(k) for k in _TABLE_FIRST}
            row["fps_measured"] = a.get("fps_measured")
            for k, v in (a.get("metadata") or {}).items():
                if k not in row:
                    row[k] = v
            for k, v in (a.get("qc") or {}).items():
                if not isinstance(v, (list, dict)):
                    row[f"qc_{k}"] = v
            rows.append(row)
        df = pd.DataFrame(rows)
        if df.empty:
            df = pd.DataFrame(columns=_TABLE_FIRST)
        return df.reset_index(drop=True)

    def attrs_of(self, rid: str) -> dict[str, Any]:
        """All attributes of recording ``rid``."""
        if rid not in self._rec_attrs:
            raise DataError(f"no complete recording {rid!r} in this store{did_you_mean(rid, self.recording_ids())}",
                            path=self.path)
        return self._rec_attrs[rid]

    def n_frames(self, rid: str) -> int:
        return int(self.attrs_of(rid)["n_frames"])

    def qc(self, rid: str) -> dict[str, Any]:
        return dict(self.attrs_of(rid).get("qc") or {})

    def qc_warnings(self, rid: str) -> list[str]:
        """QC warnings of ``rid`` (:func:`rppgbench.store.qc.recording_warnings`; box jitter from the boxes when
        the QC lacks it)."""
        from rppgbench.store.qc import recording_warnings

        qc = self.qc(rid)
        return recording_warnings(qc, self.n_frames(rid), None if "box_jitter" in qc else self.boxes(rid))

    def stats(self, rid: str) -> dict[str, Any]:
        return dict(self.attrs_of(rid).get("stats") or {})

    # -- arrays --------------------------------------------------------------------------------
    def _array(self, rid: str, name: str) -> Any:
        key = (rid, name)
        if key not in self._arrays:
            import zarr

            self.attrs_of(rid)
            p = self.path / RECORDINGS / rid / name
            if not (p / "zarr.json").is_file():
                raise DataError(f"array {name!r} missing", path=p, recording=rid)
            lost = missing_chunks(p)
            if lost:  # zarr would return its fill value for them: lost data must never read back as data
                raise DataError(f"array {name!r} lacks {len(lost)} chunk file(s) ({', '.join(lost[:5])}"
                                f"{', ...' if len(lost) > 5 else ''}): the store is damaged; prepare the recording "
                                "again", path=p, recording=rid)
            self._arrays[key] = zarr.open_array(str(p), mode="r", zarr_format=3)
        return self._arrays[key]

    def _bounds(self, rid: str, start: int, stop: int | None) -> tuple[int, int, int]:
        T = self.n_frames(rid)
        stop = T if stop is None else int(stop)
        start = int(start)
        if not (0 <= start <= stop <= T):
            raise ValueError(f"frame range [{start}, {stop}) must lie within [0, {T}] for recording {rid}")
        return start, stop, T

    def _frames(self, rid: str, start: int, stop: int, reuse: bool = False) -> np.ndarray:
        """uint8 frames ``start:stop``; with ``reuse`` (the caller consumes them at once) a clip-sized block goes
        into a per-thread scratch buffer instead of fresh memory."""
        key = (rid, "frames:direct")
        if key not in self._arrays:
            from rppgbench.store._chunks import direct_frames_or_none

            self.attrs_of(rid)
            self._arrays[key] = direct_frames_or_none(self.path / RECORDINGS / rid / "frames") \
                if self.direct_reads else None
        direct = self._arrays[key]
        if direct is None:
            return np.asarray(self._array(rid, "frames")[start:stop])
        shape = (max(0, stop - start),) + direct.shape[1:]
        n = int(np.prod(shape))
        return direct.read(start, stop, scratch("frames", n, direct.dtype).reshape(shape)
                           if reuse and n <= _SCRATCH_MAX else None)

    def _ppg(self, rid: str) -> np.ndarray:
        """The whole aligned PPG of ``rid`` (a few KB), kept in memory after the first read: a Zarr slice
        read costs milliseconds of fixed overhead, which would dominate every clip."""
        key = (rid, "ppg:memory")
        if key not in self._arrays:
            self._arrays[key] = np.asarray(self._array(rid, "ppg")[:])
        return self._arrays[key]

    def read_frames(self, rid: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """uint8 (t, H, W, 3) frames ``start:stop``."""
        start, stop, _ = self._bounds(rid, start, stop)
        return self._frames(rid, start, stop)

    def read_clip(self, rid: str, start: int = 0, stop: int | None = None, view: str | Sequence[str] = "raw",
                  label_view: str = "raw", channels_first: bool = False,
                  out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """float32 frames (t, H, W, 3) — (3, t, H, W) with ``channels_first`` — and label (t,) in the requested
        views (see ``store.views``). A sequence of views gives 3 x (number of views) channels, the views'
        channels concatenated in that order. ``out`` (float32, that shape, any strides) receives the frames
        instead of a new array."""
        views = as_views(view)
        check_option("label_view", label_view, VIEWS)
        start, stop, T = self._bounds(rid, start, stop)
        n = stop - start
        st = self.stats(rid)
        nxt = min(stop + 1, T) if "diffnormalized" in views else stop
        x = frames_view(self._frames(rid, start, nxt, reuse=True), views, st, n, channels_first=channels_first,
                        out=out)
        lnxt = min(stop + 1, T) if label_view == "diffnormalized" else stop
        y = _label_view(self._ppg(rid)[start:lnxt], label_view, st, n)
        return x, y

    def read_label(self, rid: str, view: str = "raw", start: int = 0, stop: int | None = None) -> np.ndarray:
        """float32 (t,) aligned PPG in ``view``."""
        check_option("view", view, VIEWS)
        start, stop, T = self._bounds(rid, start, stop)
        nxt = min(stop + 1, T) if view == "diffnormalized" else stop
        return _label_view(self._ppg(rid)[start:nxt], view, self.stats(rid), stop - start)

    def timestamps(self, rid: str) -> np.ndarray:
        return np.asarray(self._array(rid, "timestamps")[:])

    def boxes(self, rid: str) -> np.ndarray:
        """int32 (T, 4) crop boxes (x, y, w, h) in source pixels."""
        return np.asarray(self._array(rid, "boxes")[:])

    def box_sources(self, rid: str) -> np.ndarray:
        return np.asarray(self._array(rid, "box_source")[:])

    def frame_index(self, rid: str) -> np.ndarray:
        return np.asarray(self._array(rid, "frame_index")[:])

    def extra_names(self, rid: str) -> list[str]:
        return list(self.attrs_of(rid).get("extra") or [])

    def extra(self, rid: str, name: str) -> np.ndarray:
        """float32 (T,) extra label column ``name`` aligned like the PPG (e.g. iBVP ``sq``)."""
        if name not in self.extra_names(rid):
            raise DataError(f"no extra column {name!r}; available: {self.extra_names(rid)}", recording=rid,
                            path=self.path)
        return np.asarray(self._array(rid, f"extra/{name}")[:])

    def has_skin(self, rid: str) -> bool:
        """True when the recording has a skin ROI trace (store format 2 with recipe ``roi: keypoints``)."""
        return (self.path / RECORDINGS / rid / "skin_rgb" / "zarr.json").is_file()

    def skin_trace(self, rid: str) -> np.ndarray:
        """float64 (T, 3) mean RGB of the skin ROI of each frame (source resolution; see docs/store_format.md).

        Frames without a ROI (none in a store whose QC shows no whole-frame fallback) are NaN.
        """
        if not self.has_skin(rid):
            raise DataError("this recording has no skin ROI (its recipe uses roi: box; prepare it with a recipe "
                            "such as skin72)", recording=rid, path=self.path)
        return np.asarray(self._array(rid, "skin_rgb")[:], dtype=np.float64)

    def skin_pixels(self, rid: str) -> np.ndarray:
        """int32 (T,) number of source pixels in the skin ROI of each frame."""
        return np.asarray(self._array(rid, "skin_pixels")[:])

    def skin_mask(self, rid: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """bool (t, H, W) skin ROI of frames ``start:stop`` drawn into the stored crops: the ROI oval moved into
        crop coordinates, intersected with the recording's skin-colour test applied to the crop pixels (centred on
        each crop's own oval pixels, as at extraction)."""
        from rppgbench.preprocess.face.roi import SkinColour, polygon_mask

        start, stop, _ = self._bounds(rid, start, stop)
        frames = self._frames(rid, start, stop)
        polys = np.asarray(self._array(rid, "skin_polygons")[start:stop], dtype=np.float64)
        boxes = self.boxes(rid)[start:stop]
        col = (self.qc(rid).get("skin_colour") or None)
        colour = SkinColour.from_stats(col) if col else None
        H, W = frames.shape[1:3]
        out = np.zeros((len(frames), H, W), dtype=bool)
        for i, (f, p, (x, y, w, h)) in enumerate(zip(frames, polys, boxes, strict=True)):
            if not np.all(np.isfinite(p)):
                continue
            m = polygon_mask(p, (H, W), offset=(x, y), scale=(W / w, H / h), holes=True)
            if colour is not None:
                c = colour.centre(f, m)
                if c is not None and (t := m & (colour.mask(f, c) > 0)).any():
                    m = t
            out[i] = m
        return out

    def rgb_trace(self, rid: str, mask: np.ndarray | None = None, block: int = 256, roi: str = "auto") -> np.ndarray:
        """float64 (T, 3) colour trace of ``rid`` for the unsupervised methods.

        ``roi``: ``auto`` (the default) is the skin ROI trace (:meth:`skin_trace`) when the recording has one, else
        the spatial mean of each stored crop; ``skin`` requires the skin trace; ``box`` is always the crop mean
        (over ``mask`` (H, W) bool when given). Frames of a skin trace without ROI (whole-frame fallback) are
        filled with the crop mean and logged.
        """
        check_option("roi", roi, ("auto", "skin", "box"))
        if mask is None and (roi == "skin" or (roi == "auto" and self.has_skin(rid))):
            tr = self.skin_trace(rid)
            bad = ~np.all(np.isfinite(tr), axis=1)
            if bad.any():
                from rppgbench._logging import logger

                logger.warning("recording %s: %d of %d frames have no skin ROI; the crop mean is used for them",
                               rid, int(bad.sum()), len(tr))
                tr[bad] = self.rgb_trace(rid, roi="box")[bad]
            return tr
        arr = self._array(rid, "frames")
        T = self.n_frames(rid)
        out = np.empty((T, 3), dtype=np.float64)
        if mask is not None:
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != tuple(arr.shape[1:3]):
                raise ValueError(f"mask must have shape {tuple(arr.shape[1:3])}; got {mask.shape}")
            if not mask.any():
                raise ValueError("mask selects no pixel")
        for i in range(0, T, block):
            f = self._frames(rid, i, min(i + block, T)).astype(np.float64)
            out[i:i + len(f)] = f[:, mask].mean(axis=1) if mask is not None else f.mean(axis=(1, 2))
        return out
