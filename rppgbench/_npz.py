"""Reading ``.npz`` files from untrusted sources within a budget, with errors that name the file and the key.

``numpy.load`` decompresses a member completely before anything can look at its shape, and random bytes are
reported as "pickled data". :func:`open_npz` instead reads the zip central directory first and refuses, before
decompressing anything, a file that is not a zip archive, holds duplicate or non-``.npy`` members, too many
members, or members whose declared uncompressed size exceeds the per-member or total budget (a zip bomb). Each
array's ``.npy`` header is then read on its own: object dtypes are refused, and the declared shape must fit the
budget and agree with the member's size, so that no array is allocated larger than what the headers promised.
Decompression itself is bounded by the declared sizes (``zipfile`` stops at the declared length and checks the
CRC), so a header that lies gives an error, never more memory.
"""
from __future__ import annotations

import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from rppgbench._checks import DataError

__all__ = ["NpzReader", "open_npz", "DEFAULT_MAX_MEMBERS", "DEFAULT_MAX_MEMBER_BYTES", "DEFAULT_MAX_TOTAL_BYTES"]

DEFAULT_MAX_MEMBERS = 100_000
#: 64 MB per array: 8 M float64 samples (74 hours at 30 fps)
DEFAULT_MAX_MEMBER_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_TOTAL_BYTES = 256 * 1024 * 1024


def _shown(names: list[str], n: int = 5) -> str:
    return ", ".join(repr(x) for x in names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


class NpzReader:
    """An open, checked ``.npz`` (use :func:`open_npz`). ``files`` lists the keys (member names without .npy)."""

    def __init__(self, path: Path, zf: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo],
                 error: type[Exception], max_member_bytes: int) -> None:
        self.path = path
        self._zf = zf
        self._members = members
        self._error = error
        self._max = max_member_bytes
        self.files = list(members)

    def _fail(self, msg: str) -> Exception:
        return DataError(msg, path=self.path) if self._error is DataError else self._error(f"{self.path}: {msg}")

    def header(self, key: str) -> tuple[tuple[int, ...], np.dtype]:
        """(shape, dtype) from the ``.npy`` header of ``key``, without reading the data."""
        info = self._members[key]
        try:
            with self._zf.open(info) as fh:
                version = np.lib.format.read_magic(fh)
                if version == (1, 0):
                    shape, _fortran, dtype = np.lib.format.read_array_header_1_0(fh, max_header_size=10000)
                elif version == (2, 0):
                    shape, _fortran, dtype = np.lib.format.read_array_header_2_0(fh, max_header_size=10000)
                else:
                    raise ValueError(f".npy format version {version} is not supported; expected 1.0 or 2.0")
                offset = fh.tell()
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise self._fail(f"key {key!r} is not a valid .npy array: {exc}") from None
        if dtype.hasobject:
            raise self._fail(f"key {key!r} holds Python objects (dtype {dtype}); only numeric and string arrays "
                             "are accepted (no pickles)")
        nbytes = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
        if nbytes > self._max:
            raise self._fail(f"key {key!r} declares shape {shape} of {dtype} = {nbytes} bytes; the limit per array "
                             f"is {self._max} bytes")
        if offset + nbytes != info.file_size:
            raise self._fail(f"key {key!r}: its header declares {nbytes} bytes of data but the member holds "
                             f"{info.file_size - offset}")
        return tuple(shape), dtype

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self._members:
            raise self._fail(f"has no key {key!r}; keys: {_shown(self.files)}")
        self.header(key)
        try:
            with self._zf.open(self._members[key]) as fh:
                return np.lib.format.read_array(fh, allow_pickle=False, max_header_size=10000)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise self._fail(f"key {key!r} cannot be read (truncated or corrupt file?): {type(exc).__name__}: "
                             f"{exc}") from None

    def close(self) -> None:
        self._zf.close()

    def __enter__(self) -> NpzReader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def open_npz(path: str | Path, *, max_members: int = DEFAULT_MAX_MEMBERS,
             max_member_bytes: int = DEFAULT_MAX_MEMBER_BYTES, max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
             error: type[Exception] = DataError) -> NpzReader:
    """Open ``path`` as an ``.npz`` after checking its zip directory against the budgets (see module docstring).
    Errors are ``error`` (DataError by default) and name the file."""
    path = Path(path)

    def fail(msg: str) -> Exception:
        return DataError(msg, path=path) if error is DataError else error(f"{path}: {msg}")

    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise fail(f"cannot read: {exc.strerror or exc}") from None
    if magic[:2] != b"PK":
        raise fail("is not an .npz archive (no zip signature; expected a file written by numpy.savez)")
    try:
        zf = zipfile.ZipFile(path)
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise fail(f"is not a readable .npz (zip) archive (truncated or corrupt?): {exc}") from None
    try:
        if len(infos) > max_members:
            raise fail(f"holds {len(infos)} arrays; the limit is {max_members}")
        members: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in infos:
            name = info.filename
            if not name.endswith(".npy") or info.is_dir():
                raise fail(f"member {name!r} is not a .npy array")
            key = name[:-4]
            if key in members:
                raise fail(f"holds the array {key!r} twice")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise fail(f"array {key!r} uses zip compression method {info.compress_type}; expected stored or "
                           "deflated (numpy.savez / savez_compressed)")
            if info.file_size > max_member_bytes + 4096:  # + room for the .npy header
                raise fail(f"array {key!r} would decompress to {info.file_size} bytes; the limit per array is "
                           f"{max_member_bytes} bytes")
            total += info.file_size
            members[key] = info
        if total > max_total_bytes:
            raise fail(f"would decompress to {total} bytes in all; the limit is {max_total_bytes} bytes")
    except BaseException:
        zf.close()
        raise
    return NpzReader(path, zf, members, error, max_member_bytes)
