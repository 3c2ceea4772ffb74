"""A direct chunk reader for the ``frames`` arrays this package writes (a speed path, not a format).

Zarr-python 3 costs ~3 ms of fixed overhead per slice read (async machinery), which dominates a 160-frame
clip read. The arrays written by :mod:`rppgbench.store.recording` have the simplest possible Zarr v3 layout
(regular chunk grid, default chunk-key encoding with "/", codecs ``bytes`` → ``blosc``), so a clip can be
assembled by reading the chunk files ``c/<i>/0/0/0`` and decompressing them with Blosc directly. The reader
uses this path only after checking that an array's ``zarr.json`` has exactly that layout; anything else (or
a store written by other software) goes through zarr-python. Tests compare both paths.

A missing chunk file is an error here (the writer writes every chunk, also those holding only the fill value),
never the fill value: lost data must not read back as plausible zeros.
"""
from __future__ import annotations

import itertools
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DirectFrames", "direct_frames_or_none"]


class DirectFrames:
    """Slicing along the first axis of a local Zarr v3 array stored as ``bytes`` + ``blosc`` chunks."""

    def __init__(self, path: Path, meta: dict[str, Any]) -> None:
        import numcodecs

        self.path = path
        self.shape = tuple(meta["shape"])
        self.chunks = tuple(meta["chunk_grid"]["configuration"]["chunk_shape"])
        self.dtype = np.dtype(meta["data_type"])
        self._blosc = numcodecs.Blosc()
        self._rest = "/".join("0" for _ in self.shape[1:])
        self._base = f"{path}/c/"
        self._token = next(_tokens)  # keys the per-thread chunk kept by _chunk (a path may be re-prepared)

    def _data(self, i: int) -> bytes:
        try:
            with open(f"{self._base}{i}/{self._rest}", "rb") as fh:  # no pathlib: a clip reads ~6 chunk files
                return fh.read()
        except FileNotFoundError:
            from rppgbench._checks import DataError

            c = self.chunks[0]
            raise DataError(f"chunk file c/{i}/{self._rest} (frames {i * c}-"
                            f"{min((i + 1) * c, self.shape[0]) - 1}) is missing: the store is damaged; prepare the "
                            "recording again (delete its group and re-run `rppgbench prepare`)",
                            path=self.path) from None

    def _chunk(self, i: int) -> np.ndarray:
        """Chunk ``i`` decoded (read-only; the last chunk decoded whole by this thread is kept for the next read)."""
        last = getattr(_last, "chunk", None)
        if last is not None and last[0] == (self._token, i):
            return last[1]
        buf = last[1] if last is not None and last[1].shape == self.chunks and last[1].dtype == self.dtype else \
            np.empty(self.chunks, self.dtype)
        _last.chunk = None  # never a stale key on a half-written buffer
        buf.flags.writeable = True
        self._blosc.decode(self._data(i), out=buf)
        buf.flags.writeable = False
        _last.chunk = ((self._token, i), buf)
        return buf

    def read(self, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        """Frames ``start:stop`` (clipped to the array), into ``out`` when given (C-contiguous, of that shape).

        Chunks that lie wholly inside the range are decoded straight into the result; a chunk cut by the range is
        decoded into a per-thread buffer and kept: consecutive clips (a sequential DataLoader, overlapping
        windows) share their boundary chunk and decode it once.
        """
        start, stop = max(0, int(start)), min(int(stop), self.shape[0])
        shape = (max(0, stop - start),) + self.shape[1:]
        if out is None:
            out = np.empty(shape, dtype=self.dtype)
        elif out.shape != shape or out.dtype != self.dtype or not out.flags.c_contiguous:
            raise ValueError(f"out must be C-contiguous {self.dtype} {shape}; got {out.dtype} {out.shape}")
        if stop <= start:
            return out
        c = self.chunks[0]
        last = getattr(_last, "chunk", None)
        for i in range(start // c, (stop - 1) // c + 1):
            a, b = max(start, i * c), min(stop, (i + 1) * c)
            whole = a == i * c and b - a == c
            if whole and not (last is not None and last[0] == (self._token, i)):
                self._blosc.decode(self._data(i), out=out[a - start:b - start])
            else:
                out[a - start:b - start] = self._chunk(i)[a - i * c:b - i * c]
        return out


_last = threading.local()
_tokens = itertools.count()


def direct_frames_or_none(path: Path) -> DirectFrames | None:
    """A :class:`DirectFrames` for the array at ``path`` when its layout is the plain one, else None."""
    try:
        meta = json.loads((path / "zarr.json").read_text())
    except (OSError, ValueError):
        return None
    codecs = meta.get("codecs") or []
    cke = meta.get("chunk_key_encoding") or {}
    ok = (meta.get("zarr_format") == 3 and meta.get("node_type") == "array"
          and (meta.get("chunk_grid") or {}).get("name") == "regular"
          and cke.get("name") == "default" and (cke.get("configuration") or {}).get("separator", "/") == "/"
          and len(codecs) == 2 and codecs[0].get("name") == "bytes" and codecs[1].get("name") == "blosc"
          and not meta.get("storage_transformers")
          and meta.get("data_type") in ("uint8", "int8")
          and list(meta["chunk_grid"]["configuration"]["chunk_shape"][1:]) == list(meta["shape"][1:]))
    return DirectFrames(path, meta) if ok else None
