"""The on-disk layout of a prepared store (Zarr v3, local directory). See ``docs/store_format.md``.

::

    <store_key[:16]>.zarr/
      zarr.json                   group; attributes["rppgbench"] = store attributes (STORE_KEYS)
      recordings/                 group
        <recording_id>/           group; attributes["rppgbench"] = recording attributes (RECORDING_KEYS)
          frames       uint8   (T, H, W, 3)  chunks (CHUNK_FRAMES, H, W, 3), Blosc zstd + bitshuffle
          ppg          float32 (T,)          label aligned to the frame times
          timestamps   float64 (T,)          frame times, seconds
          boxes        int32   (T, 4)        crop box (x, y, w, h) in source pixels
          box_source   uint8   (T,)          index into BOX_SOURCES (detected, held, carried, ...)
          frame_index  int32   (T,)          index of the frame in the source video (frames may be masked)
          skin_rgb     float64 (T, 3)        format 2: mean RGB of the skin ROI pixels (source resolution)
          skin_pixels  int32   (T,)          format 2: number of source pixels in the skin ROI
          skin_polygons float32 (T, R, 4, 2) format 2: ROI polygons (x, y) in source pixels
          extra/<name> float32 (T,)          further label columns aligned like ppg (e.g. iBVP ``sq``)
    .<store_key[:16]>.zarr.work/  next to the store, outside the Zarr hierarchy: lock, staging, caches
                                  (``rppgbench.store._publish``)

A recording becomes visible only when the driver has checked its staged group (every array, every chunk) and
renamed it into ``recordings/`` (an atomic directory rename on one filesystem) with
``attributes["rppgbench"]["complete"]`` true. Every chunk is written (also all-zero ones), so a missing chunk
file is an error, never zeros.

The store key (:func:`store_key`) hashes everything that determines a store's bytes: the recipe, the dataset
adapter's version and, for generated data, the identity of the raw folder (the synthetic manifest).

Chunk length along time: :data:`CHUNK_FRAMES` = 32. Training reads random clips of 128–240 frames; a clip
of L frames starting anywhere touches ``ceil(L/32) + 1`` chunks, so at most 31 frames (≤ 25 % of a
128-frame clip) are decoded in vain, while each chunk stays large enough (≈ 0.5 MB raw at 72×72) for the
compressor to work well and for the per-chunk overhead to stay small. Whole-recording reads
(unsupervised methods) are unaffected by the choice.
"""
from __future__ import annotations

from typing import Any

from rppgbench._util import json_clean

__all__ = ["FORMAT_VERSION", "LEGACY_FORMAT_VERSION", "format_version_for", "SKIN_ARRAYS", "CHUNK_FRAMES",
           "ATTR_KEY", "RECORDINGS", "BOX_SOURCES", "frames_codec", "jsonable", "STORE_KEYS", "RECORDING_KEYS",
           "store_key"]

#: format written by recipes that use tracking/roi (skin ROI arrays, box-jitter and skin QC); a recipe whose new
#: fields all hold their legacy value writes :data:`LEGACY_FORMAT_VERSION`, byte for byte as before
FORMAT_VERSION = 2
LEGACY_FORMAT_VERSION = 1
CHUNK_FRAMES = 32
#: all rppgbench metadata sits under this key of a node's Zarr attributes
ATTR_KEY = "rppgbench"
RECORDINGS = "recordings"
BOX_SOURCES = ("detected", "held", "carried", "carried_back", "whole", "median")

STORE_KEYS = ("kind", "format_version", "dataset", "recipe", "recipe_json", "recipe_id", "adapter_version", "source",
              "store_key", "package_versions", "chunk_frames", "selected", "discovered", "limit", "qc")
RECORDING_KEYS = ("kind", "format_version", "complete", "recording_id", "dataset", "subject", "session", "metadata",
                  "fps", "fps_measured", "n_frames", "duration_s", "source_shape", "source_files", "qc", "stats",
                  "extra")


def store_key(recipe_id: str, adapter_version: int | str, source: dict[str, Any] | None,
              extraction: int | None = None) -> str:
    """sha256 of everything that determines a store's bytes: recipe, adapter version, raw-folder identity and,
    when not None, the extraction version (``Recipe.extraction_version``: the skin ROI code of ``roi: keypoints``
    recipes; None, and so absent from the hashed text, for every other recipe, whose keys are unchanged)."""
    import hashlib
    import json

    d: dict[str, Any] = {"adapter_version": str(adapter_version), "recipe_id": recipe_id, "source": source}
    if extraction is not None:
        d["extraction_version"] = int(extraction)
    text = json.dumps(d, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


SKIN_ARRAYS = ("skin_rgb", "skin_pixels", "skin_polygons")


def format_version_for(recipe: Any) -> int:
    """The store format a recipe writes: 1 for the legacy recipes (``Recipe.is_legacy``), else 2."""
    return LEGACY_FORMAT_VERSION if getattr(recipe, "is_legacy", True) else FORMAT_VERSION


def frames_codec() -> Any:
    """Blosc zstd level 5 with bit-shuffle: ~30 % smaller than byte-shuffle on face crops (measured with
    ``benchmarks/store_size.py``) and decodes fast."""
    from zarr.codecs import BloscCodec

    return BloscCodec(cname="zstd", clevel=5, shuffle="bitshuffle")


def label_codec() -> Any:
    from zarr.codecs import BloscCodec

    return BloscCodec(cname="zstd", clevel=5, shuffle="shuffle")


def jsonable(obj: Any) -> Any:
    """Plain-JSON copy for store attributes (:func:`rppgbench._util.json_clean`; other objects: their text)."""
    return json_clean(obj, fallback=str)
