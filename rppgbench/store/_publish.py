"""Where a store's writes happen before they are visible, and the driver-side check that publishes them.

Every store ``<parent>/<name>.zarr`` has a **work directory** next to it, ``<parent>/.<name>.zarr.work/``, on the
same filesystem (so renames are atomic) and outside the Zarr hierarchy (so plain ``zarr`` never sees it)::

    .<name>.zarr.work/
      lock                      the one-writer lock (``store._lock``)
      staging/<run_id>/         recordings being written by the run ``run_id`` (one sub-folder per attempt)
      trash/                    old groups and stores being deleted
      sources.json              size/mtime → sha256 cache of source files (speeds up the freshness check)
      *.tmp                     temporary files replaced atomically into the store

Workers write a recording into ``staging/<run_id>/<rid>.<attempt>/`` with ``complete: false`` and report the files
they wrote. Only the driver publishes: it checks that every array's metadata and **every chunk** is there with the
reported size (:func:`verify_group`), sets ``complete: true`` and renames the group into
``recordings/<rid>``. A worker left over from a killed run can only write into that dead run's staging folder,
which nobody publishes; a second run is refused by the lock.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from rppgbench._checks import DataError
from rppgbench._logging import logger
from rppgbench.store.layout import ATTR_KEY, RECORDINGS

__all__ = ["work_dir", "lock_path", "staging_dir", "clean_work_dir", "group_files", "verify_group", "publish",
           "expected_chunk_keys", "missing_chunks", "atomic_write_text", "move_to_trash"]


def work_dir(store: Path) -> Path:
    """``<parent>/.<name>.work`` of the store at ``store``."""
    store = Path(store)
    return store.parent / f".{store.name}.work"


def lock_path(store: Path) -> Path:
    return work_dir(store) / "lock"


def staging_dir(store: Path, run_id: str) -> Path:
    return work_dir(store) / "staging" / run_id


def atomic_write_text(target: Path, text: str, work: Path) -> None:
    """Write ``text`` to ``target`` through a temporary file in ``work`` (same filesystem) and ``os.replace``;
    on failure (e.g. disk full) the temporary file is removed and a DataError names ``target``."""
    work.mkdir(parents=True, exist_ok=True)
    tmp = work / f"{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        raise DataError(f"cannot write: {exc.strerror or exc}", path=target) from None
    finally:
        tmp.unlink(missing_ok=True)


def move_to_trash(path: Path, work: Path) -> None:
    """Rename ``path`` into ``work/trash`` (atomic) and delete it there."""
    trash = work / "trash"
    trash.mkdir(parents=True, exist_ok=True)
    dest = trash / f"{path.name}.{uuid.uuid4().hex[:8]}"
    os.rename(path, dest)
    shutil.rmtree(dest, ignore_errors=True)


def clean_work_dir(store: Path, keep_run: str | None = None) -> None:
    """Delete staging folders of other (dead) runs, trash and temporary files. Only called under the lock."""
    work = work_dir(store)
    st = work / "staging"
    for child in (st.iterdir() if st.is_dir() else []):
        if child.name != keep_run:
            logger.info("removing staging leftovers of an earlier run: %s", child)
            shutil.rmtree(child, ignore_errors=True)
    shutil.rmtree(work / "trash", ignore_errors=True)
    for tmp in (work.glob("*.tmp") if work.is_dir() else []):
        tmp.unlink(missing_ok=True)


def group_files(group: Path) -> dict[str, int]:
    """``{relative path: size}`` of every file under ``group`` (what a worker reports after writing)."""
    return {p.relative_to(group).as_posix(): p.stat().st_size for p in sorted(group.rglob("*")) if p.is_file()}


def expected_chunk_keys(meta: dict[str, Any]) -> list[str]:
    """Chunk file names (``c/i/j/...``) of a regular-grid Zarr v3 array with the default "/" key encoding."""
    shape = list(meta["shape"])
    chunks = list(meta["chunk_grid"]["configuration"]["chunk_shape"])
    sep = ((meta.get("chunk_key_encoding") or {}).get("configuration") or {}).get("separator", "/")
    counts = [math.ceil(s / c) if c else 0 for s, c in zip(shape, chunks, strict=True)]
    if not shape:
        return ["c"]
    keys = [[]]
    for n in counts:
        keys = [k + [str(i)] for k in keys for i in range(n)]
    return ["c" + sep + sep.join(k) for k in keys]


def missing_chunks(array_dir: Path, meta: dict[str, Any] | None = None) -> list[str]:
    """Chunk files an array at ``array_dir`` should have and does not (every chunk is written, none is implied)."""
    if meta is None:
        meta = json.loads((array_dir / "zarr.json").read_text())
    return [k for k in expected_chunk_keys(meta) if not (array_dir / k).is_file()]


def _arrays(group: Path) -> dict[str, Path]:
    """``{name: dir}`` of the arrays under a recording group (``extra/<name>`` included)."""
    out = {}
    for meta in sorted(group.rglob("zarr.json")):
        try:
            node = json.loads(meta.read_text()).get("node_type")
        except (OSError, ValueError):
            continue
        if node == "array":
            out[meta.parent.relative_to(group).as_posix()] = meta.parent
    return out


def verify_group(group: Path, files: dict[str, int], expected_arrays: list[str]) -> dict[str, int]:
    """Check a staged recording group: the files the worker reported exist with their sizes, every expected
    array has its metadata and every chunk file. Returns ``{array: number of chunks}``; raises DataError listing
    the problems."""
    problems = []
    for rel, size in sorted(files.items()):
        p = group / rel
        if not p.is_file():
            problems.append(f"{rel} is missing")
        elif p.stat().st_size != size:
            problems.append(f"{rel} has {p.stat().st_size} bytes; the worker wrote {size}")
    arrays = _arrays(group)
    for name in expected_arrays:
        if name not in arrays:
            problems.append(f"array {name!r} has no zarr.json")
    counts = {}
    for name, d in arrays.items():
        meta = json.loads((d / "zarr.json").read_text())
        lost = missing_chunks(d, meta)
        if lost:
            problems.append(f"array {name!r} lacks {len(lost)} of {len(expected_chunk_keys(meta))} chunk file(s) "
                            f"({', '.join(lost[:5])}{', ...' if len(lost) > 5 else ''})")
        counts[name] = len(expected_chunk_keys(meta))
    if problems:
        raise DataError("staged recording is incomplete: " + "; ".join(problems[:20]), path=group)
    return counts


def publish(store: Path, staged: Path, rid: str, files: dict[str, int], expected_arrays: list[str],
            replace: bool = False) -> Path:
    """Verify ``staged``, mark it complete and rename it into ``recordings/<rid>`` (driver only, under the lock).

    With ``replace`` an existing group of ``rid`` is moved to the trash first (a recording whose source changed).
    """
    import zarr

    final = store / RECORDINGS / rid
    counts = verify_group(staged, files, expected_arrays)
    g = zarr.open_group(str(staged), mode="r+", zarr_format=3)
    attrs = dict(g.attrs[ATTR_KEY])
    attrs["complete"] = True  # the same attributes, byte for byte, as a group written complete in one go
    g.attrs[ATTR_KEY] = attrs
    logger.debug("publishing %s: %d arrays, %d chunk files checked", rid, len(counts), sum(counts.values()))
    if final.exists():
        if not replace:
            raise DataError("a recording group already exists in the store; refusing to publish over it",
                            path=final, recording=rid)
        move_to_trash(final, work_dir(store))
    os.rename(staged, final)
    return final

