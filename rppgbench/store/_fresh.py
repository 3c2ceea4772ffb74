"""Is a prepared recording still what its raw files would give? A recording is reused only when the source files
it was made from still have the sha256 recorded in its attributes (``source_files``).

Hashing a whole dataset on every run would cost minutes, so the driver keeps a cache
``<work dir>/sources.json``: ``{recording_id: {file: [size, mtime_ns, sha256]}}``. A file whose size and mtime
equal the cached ones has the cached hash; any other file is hashed again. Deleting the cache is always safe.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rppgbench._logging import logger
from rppgbench.store._publish import atomic_write_text, work_dir

__all__ = ["SourceCache", "source_change"]


class SourceCache:
    """The size/mtime → sha256 cache of one store (see the module docstring)."""

    def __init__(self, store: Path) -> None:
        self.work = work_dir(store)
        self.path = self.work / "sources.json"
        self.data: dict[str, dict[str, list[Any]]] = {}
        self.dirty = False
        try:
            data = json.loads(self.path.read_text())
            if isinstance(data, dict):
                self.data = data
        except (OSError, ValueError):
            pass

    def put(self, rid: str, sources: dict[str, list[Any]]) -> None:
        self.data[rid] = {k: list(v) for k, v in sources.items()}
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        try:
            atomic_write_text(self.path, json.dumps(self.data, sort_keys=True), self.work)
            self.dirty = False
        except Exception as exc:  # a cache: losing it only costs time
            logger.debug("could not save the source cache %s: %s", self.path, exc)


def source_change(adapter: Any, rec: Any, attrs: dict[str, Any], raw_root: Path, cache: SourceCache) -> str | None:
    """Why the stored recording ``rec`` no longer matches its raw files (None when it still does)."""
    from rppgbench._util import sha256_file
    from rppgbench.store.recording import _rel

    stored = attrs.get("source_files")
    if not isinstance(stored, dict):
        return "the stored recording has no source checksums"
    files = {_rel(Path(p), raw_root): Path(p) for p in adapter.source_files(rec)}
    added, removed = sorted(set(files) - set(stored)), sorted(set(stored) - set(files))
    if added or removed:
        parts = ([f"new file(s) {', '.join(added[:3])}"] if added else []) + \
                ([f"file(s) gone: {', '.join(removed[:3])}"] if removed else [])
        return "source files changed since it was prepared: " + "; ".join(parts)
    known = cache.data.get(rec.recording_id, {})
    fresh: dict[str, list[Any]] = {}
    reason = None
    for rel, p in sorted(files.items()):
        st = os.stat(p)
        hit = known.get(rel)
        if hit is not None and len(hit) == 3 and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            sha = hit[2]
        else:
            sha = sha256_file(p)
        fresh[rel] = [int(st.st_size), int(st.st_mtime_ns), sha]
        if sha != stored[rel] and reason is None:
            reason = f"{p} changed since the recording was prepared (sha256 {sha[:12]}…, stored {stored[rel][:12]}…)"
    if reason is None and fresh != known:
        cache.put(rec.recording_id, fresh)
    return reason
