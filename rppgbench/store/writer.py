"""``prepare``: turn a raw dataset into a store, in parallel over recordings, resumable and loss-free.

* One task per recording runs :func:`rppgbench.store.recording.process_recording` on a dask.distributed
  cluster: a ``LocalCluster`` of ``workers`` processes by default, an existing scheduler with ``scheduler=``,
  or the calling process itself with ``workers=0`` (no dask; useful for debugging).
* Every recording is written under ``_staging/`` and renamed into ``recordings/`` when complete, so a killed
  run leaves no half-written recording visible; re-running the same command resumes with the missing ones
  and the result is byte-identical (array data) to an uninterrupted run.
* A failing recording (an exception, or a worker process that died: ``KilledWorker``) is named with its
  reason in :class:`PrepareSummary` and in the store's QC attributes; the others are kept. Recordings whose
  worker died are retried once, alone, so that a crash caused by another recording running on the same
  worker is not blamed on them.
* With ``skip_bad=True`` failures are recorded as *skipped* (still named, never silent) and the run counts
  as successful.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rppgbench import config
from rppgbench._checks import DataError, RecipeMismatchError
from rppgbench._logging import logger
from rppgbench.datasets.base import DatasetAdapter, RawRecording
from rppgbench.preprocess.recipe import Recipe, resolve_recipe
from rppgbench.store.layout import ATTR_KEY, CHUNK_FRAMES, RECORDINGS, STAGING, format_version_for, jsonable

__all__ = ["prepare", "PrepareSummary", "store_path", "package_versions", "create_store"]

ProgressFn = Callable[[int, int, str, str], None]


@dataclass
class PrepareSummary:
    """What a ``prepare`` run did. ``ok`` is False when any recording failed (and was not skipped)."""

    dataset: str
    store: Path
    recipe_id: str
    selected: int = 0
    written: list[str] = field(default_factory=list)
    already_present: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    frames: int = 0
    seconds: float = 0.0
    #: QC warnings per recording (``rppgbench.store.qc``): detector hit rate, whole-frame fallback, box jitter,
    #: skin-pixel count below the documented thresholds
    warnings: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed

    def lines(self) -> list[str]:
        out = [f"dataset {self.dataset}, recipe {self.recipe_id[:16]}",
               f"store: {self.store}",
               f"recordings: {self.selected} selected, {len(self.written)} written, "
               f"{len(self.already_present)} already present, {len(self.failed)} failed, "
               f"{len(self.skipped)} skipped",
               f"frames written: {self.frames} in {self.seconds:.1f} s"]
        for rid, why in self.failed.items():
            out.append(f"FAILED {rid}: {why}")
        for rid, why in self.skipped.items():
            out.append(f"skipped {rid}: {why}")
        if self.warnings:
            out.append(f"QC warnings for {len(self.warnings)} recording(s) (thresholds: docs/store_format.md):")
            for rid, ws in sorted(self.warnings.items()):
                out.extend(f"WARNING {rid}: {w}" for w in ws)
        return out


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for pkg in ("rppgbench", "numpy", "zarr", "numcodecs", "opencv-python-headless", "opencv-python", "scipy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def store_path(dataset: str, recipe: str | Recipe | None = None, root: str | Path | None = None) -> Path:
    """Where the store of ``dataset`` prepared with ``recipe`` lives: ``<data_root>/<dataset>/<id16>.zarr``."""
    return resolve_recipe(recipe, dataset).store_path(root)


def _is_store(path: Path) -> dict[str, Any] | None:
    meta = path / "zarr.json"
    if not meta.is_file():
        return None
    try:
        attrs = json.loads(meta.read_text()).get("attributes", {}).get(ATTR_KEY)
    except (ValueError, OSError):
        return None
    return attrs if isinstance(attrs, dict) and attrs.get("kind") == "rppgbench-store" else None


def create_store(path: Path, recipe: Recipe, *, overwrite: bool = False) -> dict[str, Any]:
    """Create (or reopen) the store at ``path`` for ``recipe``; refuse a store of another recipe."""
    import zarr

    attrs = _is_store(path) if path.exists() else None
    if attrs is not None and attrs.get("recipe_id") != recipe.recipe_id:
        if not overwrite:
            raise RecipeMismatchError(
                f"store {path} was written by recipe {attrs.get('recipe_id')}; this run uses recipe "
                f"{recipe.recipe_id}. Use another output path, or overwrite=True / --overwrite to replace it")
    if attrs is not None and overwrite:
        shutil.rmtree(path)
        attrs = None
    if attrs is None and path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise DataError("output path exists and is not an rppgbench store; refusing to write into it "
                        "(expected a missing or empty directory)", path=path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{time.time_ns()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise DataError(f"output path is not writable: {exc.strerror or exc}", path=path) from None
    if attrs is None:
        g = zarr.open_group(str(path), mode="w", zarr_format=3)
        g.create_group(RECORDINGS)  # the root zarr.json exists from here on; attributes are added atomically
        attrs = {"kind": "rppgbench-store", "format_version": format_version_for(recipe), "dataset": recipe.dataset,
                 "recipe": recipe.as_dict(), "recipe_json": recipe.canonical_json(), "recipe_id": recipe.recipe_id,
                 "package_versions": package_versions(), "chunk_frames": CHUNK_FRAMES, "selected": [],
                 "qc": {"skipped": {}, "failed": {}}}
        _write_store_attrs(path, attrs)
    return attrs


def _complete_attrs(group: Path) -> dict[str, Any] | None:
    """Attributes of a complete recording group, else None."""
    meta = group / "zarr.json"
    if not meta.is_file():
        return None
    try:
        a = json.loads(meta.read_text()).get("attributes", {}).get(ATTR_KEY, {})
    except (ValueError, OSError):
        return None
    return a if isinstance(a, dict) and a.get("complete") is True else None


def _complete_recordings(path: Path) -> set[str]:
    rec_dir = path / RECORDINGS
    if not rec_dir.is_dir():
        return set()
    return {child.name for child in rec_dir.iterdir() if _complete_attrs(child) is not None}


def _clean_leftovers(path: Path, complete: set[str]) -> None:
    """Delete staging leftovers and incomplete recording groups of a killed run (inside this store only)."""
    shutil.rmtree(path / STAGING, ignore_errors=True)
    rec_dir = path / RECORDINGS
    for child in (rec_dir.iterdir() if rec_dir.is_dir() else []):
        if child.is_dir() and child.name not in complete:
            logger.warning("removing incomplete recording group %s left by an interrupted run", child)
            shutil.rmtree(child)


def _run_task(adapter: DatasetAdapter, rec: RawRecording, recipe_json: str, store_dir: str,
              raw_root: str | None) -> dict[str, Any]:
    """Task body: never raises for bad data (the reason is returned), so only a dead worker is an exception."""
    # OpenCV keeps its default thread pool in workers: measured (benchmarks/prepare_throughput.py) a
    # single-threaded OpenCV made a 640x480 recording ~25 % slower even with one worker per core.
    from rppgbench.store.recording import process_recording

    done = _complete_attrs(Path(store_dir) / RECORDINGS / rec.recording_id)
    if done is not None:  # finished by an earlier attempt whose worker died before reporting back
        from rppgbench.store.qc import recording_warnings

        return {"recording_id": rec.recording_id, "status": "ok", "n_frames": int(done["n_frames"]), "seconds": 0.0,
                "warnings": recording_warnings(done.get("qc") or {}, int(done["n_frames"]))}
    try:
        out = process_recording(adapter, rec, Recipe.from_json(recipe_json), store_dir, raw_root)
        out["status"] = "ok"
        return out
    except Exception as exc:
        logger.debug("recording %s failed", rec.recording_id, exc_info=True)
        return {"recording_id": rec.recording_id, "status": "failed", "reason": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(limit=6)}


def _resolve_adapter(dataset: str | DatasetAdapter, recipe: Any) -> tuple[DatasetAdapter, Recipe]:
    if isinstance(dataset, DatasetAdapter):
        adapter = dataset
        r = resolve_recipe(recipe)
        if r.dataset and r.dataset != adapter.name:
            raise ValueError(f"recipe is bound to dataset {r.dataset!r}, not {adapter.name!r}")
        r = r.for_dataset(adapter.name, **getattr(adapter, "options", {}))
        return adapter, r
    from rppgbench.datasets import get_adapter

    r = resolve_recipe(recipe, str(dataset))
    return get_adapter(str(dataset), **r.dataset_options), r


def _discover(adapter: DatasetAdapter, raw: Path) -> list[RawRecording]:
    if not raw.exists():
        raise DataError(f"raw folder of dataset {adapter.name!r} does not exist; expected the files as "
                        f"distributed ({adapter.info.url})", path=raw)
    if raw.is_dir() and not any(raw.iterdir()):
        raise DataError(f"raw folder of dataset {adapter.name!r} is empty; expected the files as distributed "
                        f"({adapter.info.url})", path=raw)
    recs = list(adapter.discover(raw))
    if not recs:
        raise DataError(f"no {adapter.name} recordings found; expected the dataset's own folder layout "
                        f"(see docs and {adapter.info.url})", path=raw)
    ids = [r.recording_id for r in recs]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise DataError(f"adapter {adapter.name!r} returned duplicate recording ids {dup}", path=raw)
    from rppgbench._checks import check_safe_id

    for r in recs:
        check_safe_id("recording_id", r.recording_id)
    return recs


def prepare(dataset: str | DatasetAdapter, raw: str | Path | None = None, recipe: Any = None,
            out: str | Path | None = None, workers: int = 2, scheduler: str | None = None,
            overwrite: bool = False, skip_bad: bool = False, limit: int | None = None,
            progress: ProgressFn | None = None) -> PrepareSummary:
    """Prepare ``dataset`` from its raw folder into a store.

    Parameters
    ----------
    dataset : str or DatasetAdapter
        A registered dataset name, or an adapter instance (its ``options`` join the recipe).
    raw : path, optional
        Raw folder; default ``$RPPGBENCH_RAW_<DATASET>``.
    recipe : name, path, dict or Recipe, optional
        Default ``skin72`` (:data:`rppgbench.preprocess.recipe.DEFAULT_RECIPE`).
    out : path, optional
        The store directory; default ``config.data_root()/<dataset>/<recipe_id[:16]>.zarr``.
    workers : int
        Processes of the local dask cluster (0 = run in this process without dask).
    scheduler : str, optional
        Address of an existing dask scheduler (``tcp://host:8786``); ``workers`` is then ignored.
    overwrite : bool
        Delete an existing store at the output path first (only if it is an rppgbench store).
    skip_bad : bool
        Record failing recordings as skipped instead of failing the run.
    limit : int, optional
        Only the first ``limit`` discovered recordings.
    progress : callable, optional
        ``progress(done, total, recording_id, status)`` after each recording.
    """
    t0 = time.perf_counter()
    adapter, rcp = _resolve_adapter(dataset, recipe)
    raw_path = config.raw_root(adapter.name, raw)
    if raw_path is None:
        raise DataError(f"no raw folder given for dataset {adapter.name!r}; pass raw= / --raw or set "
                        f"RPPGBENCH_RAW_{adapter.name.upper()}")
    recs = _discover(adapter, Path(raw_path))
    if limit is not None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1; got {limit}")
        recs = recs[:limit]
    path = Path(out).expanduser() if out is not None else rcp.store_path()
    attrs = create_store(path, rcp, overwrite=overwrite)
    complete = _complete_recordings(path)
    _clean_leftovers(path, complete)
    summary = PrepareSummary(dataset=adapter.name, store=path, recipe_id=rcp.recipe_id, selected=len(recs))
    summary.already_present = [r.recording_id for r in recs if r.recording_id in complete]
    from rppgbench.store.qc import recording_warnings

    for rid in summary.already_present:
        a = _complete_attrs(path / RECORDINGS / rid) or {}
        ws = recording_warnings(a.get("qc") or {}, int(a.get("n_frames") or 0))
        if ws:
            summary.warnings[rid] = ws
    todo = [r for r in recs if r.recording_id not in complete]
    logger.info("prepare %s: %d recordings, %d already present, store %s", adapter.name, len(recs),
                len(summary.already_present), path)
    results: dict[str, dict[str, Any]] = {}
    done = len(summary.already_present)
    total = len(recs)

    def _report(res: dict[str, Any]) -> None:
        nonlocal done
        results[res["recording_id"]] = res
        done += 1
        if progress is not None:
            progress(done, total, res["recording_id"], res["status"])

    if todo:
        args = (rcp.canonical_json(), str(path), str(raw_path))
        if workers == 0 and scheduler is None:
            for rec in todo:
                _report(_run_task(adapter, rec, *args))
        else:
            from rppgbench.store._dask import run_on_dask

            run_on_dask(_run_task, adapter, todo, args, workers=workers, scheduler=scheduler, report=_report)
    for rec in todo:
        res = results[rec.recording_id]
        if res["status"] == "ok":
            summary.written.append(rec.recording_id)
            summary.frames += int(res["n_frames"])
            if res.get("warnings"):
                summary.warnings[rec.recording_id] = list(res["warnings"])
        elif skip_bad:
            summary.skipped[rec.recording_id] = res["reason"]
        else:
            summary.failed[rec.recording_id] = res["reason"]
    _update_store_attrs(path, attrs, recs, summary)
    summary.seconds = time.perf_counter() - t0
    for rid, why in {**summary.failed, **summary.skipped}.items():
        logger.warning("recording %s %s: %s", rid, "failed" if rid in summary.failed else "skipped", why)
    return summary


def _update_store_attrs(path: Path, attrs: dict[str, Any], recs: list[RawRecording],
                        summary: PrepareSummary) -> None:
    a = dict(_is_store(path) or attrs)
    present = _complete_recordings(path)
    qc = dict(a.get("qc") or {})
    skipped = {k: v for k, v in (qc.get("skipped") or {}).items() if k not in present}
    skipped.update(summary.skipped)
    failed = {k: v for k, v in summary.failed.items() if k not in present}
    selected = sorted(set(a.get("selected") or []) | {r.recording_id for r in recs})
    a.update(selected=selected, qc={"skipped": skipped, "failed": failed})
    _write_store_attrs(path, a)


def _write_store_attrs(path: Path, attrs: dict[str, Any]) -> None:
    """Replace the store attributes in the root ``zarr.json`` atomically (temporary file + rename), so a
    run killed at this moment never leaves a truncated metadata file."""
    meta_path = path / "zarr.json"
    meta = json.loads(meta_path.read_text())
    meta.setdefault("attributes", {})[ATTR_KEY] = jsonable(attrs)
    tmp = path / f".zarr.json.{time.time_ns()}.tmp"
    tmp.write_text(json.dumps(meta, indent=2, allow_nan=False))
    os.replace(tmp, meta_path)
