"""``prepare``: turn a raw dataset into a store, in parallel over recordings, resumable and loss-free.

* One task per recording runs :func:`rppgbench.store.recording.process_recording` on a dask.distributed
  cluster: a ``LocalCluster`` of ``workers`` processes by default, an existing scheduler with ``scheduler=``,
  or the calling process itself with ``workers=0`` (no dask; useful for debugging).
* **One writer per store**: the run holds the store's lock (:mod:`rppgbench.store._lock`: holder host/pid, stale
  rule); a second run is refused with the holder's name.
* Workers write each recording into this run's staging folder, outside the store (:mod:`rppgbench.store._publish`);
  **the driver** checks every array and chunk, marks the group complete and renames it into ``recordings/``. A
  killed run leaves nothing visible; re-running the same command resumes with the missing ones and the result is
  byte-identical to an uninterrupted run. A worker of a killed run can never publish anything.
* A store is keyed by everything that determines its bytes (:func:`rppgbench.store.layout.store_key`: recipe,
  adapter version, raw-folder identity of generated data). A stored recording is reused only while its source
  files still have their recorded sha256; a changed one is prepared again and replaces the old (named in the
  summary).
* A failing recording (an exception, or a worker process that died: ``KilledWorker``) is named with its
  reason in :class:`PrepareSummary` and in the store's QC attributes; the others are kept. Recordings whose
  worker died are retried once, alone, so that a crash caused by another recording running on the same
  worker is not blamed on them. With ``skip_bad=True`` failures are recorded as *skipped* (still named, never
  silent) and the run counts as successful.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rppgbench import config
from rppgbench._checks import DataError, RecipeMismatchError
from rppgbench._logging import logger
from rppgbench._progress import Progress
from rppgbench.datasets.base import DatasetAdapter, RawRecording
from rppgbench.preprocess.recipe import Recipe, resolve_recipe
from rppgbench.store._fresh import SourceCache, source_change
from rppgbench.store._lock import StoreLock
from rppgbench.store._publish import (
    atomic_write_text,
    clean_work_dir,
    lock_path,
    move_to_trash,
    publish,
    staging_dir,
    work_dir,
)
from rppgbench.store.layout import ATTR_KEY, CHUNK_FRAMES, RECORDINGS, format_version_for, jsonable, store_key
from rppgbench.store.qc import recording_warnings

__all__ = ["prepare", "PrepareSummary", "store_path", "package_versions", "create_store", "plan_prepare",
           "PreparePlan"]

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
    replaced: dict[str, str] = field(default_factory=dict)
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
               f"{len(self.skipped)} skipped" + (f", {len(self.replaced)} replaced (source changed)"
                                                  if self.replaced else ""),
               f"frames written: {self.frames} in {self.seconds:.1f} s"]
        for rid, why in self.replaced.items():
            out.append(f"replaced {rid}: {why}")
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


def _adapter_version(adapter: DatasetAdapter | type) -> int:
    return int(getattr(adapter, "version", 1))


def store_path(dataset: str | DatasetAdapter, recipe: str | Recipe | None = None, root: str | Path | None = None,
               source: dict[str, Any] | None = None) -> Path:
    """Where the store of ``dataset`` prepared with ``recipe`` lives: ``<data_root>/<dataset>/<key16>.zarr`` with
    the store key of recipe, adapter version and raw-folder identity ``source`` (generated data only)."""
    if isinstance(dataset, DatasetAdapter):
        adapter: Any = dataset
        name = dataset.name
    else:
        from rppgbench.datasets import DATASETS

        name = str(dataset)
        adapter = DATASETS.get(name)
    rcp = resolve_recipe(recipe, name)
    key = store_key(rcp.recipe_id, _adapter_version(adapter), source, rcp.extraction_version)
    return config.data_root(root) / name / f"{key[:16]}.zarr"


def _read_attrs(path: Path) -> dict[str, Any] | None:
    meta = path / "zarr.json"
    if not meta.is_file():
        return None
    try:
        attrs = json.loads(meta.read_text()).get("attributes", {}).get(ATTR_KEY)
    except (ValueError, OSError):
        return None
    return attrs if isinstance(attrs, dict) else None


def _is_store(path: Path) -> dict[str, Any] | None:
    attrs = _read_attrs(path)
    return attrs if attrs is not None and attrs.get("kind") == "rppgbench-store" else None


#: what an rppgbench store folder holds; a folder holding only these (without zarr.json) is one whose
#: deletion or creation was interrupted
_STORE_ENTRIES = ("zarr.json", RECORDINGS, "_staging")


def _store_remnant(path: Path) -> bool:
    names = [p.name for p in path.iterdir()]
    return bool(names) and all(n in _STORE_ENTRIES or n.startswith((".zarr.json.", ".write-test-")) for n in names)


def _mismatch(attrs: dict[str, Any], recipe: Recipe, key: str, version: int, source: Any) -> str | None:
    if attrs.get("recipe_id") != recipe.recipe_id:
        return (f"was written by recipe {attrs.get('recipe_id')}; this run uses recipe {recipe.recipe_id}")
    if "store_key" not in attrs:  # a store from before store keys: the recipe is all it records
        return None
    if attrs.get("adapter_version") != version:
        return (f"was written by version {attrs.get('adapter_version')} of the {recipe.dataset} adapter; this is "
                f"version {version}")
    if attrs.get("source") != source:
        return f"was prepared from another raw folder (identity {attrs.get('source')}; this one is {source})"
    return None if attrs.get("store_key") == key else f"has store key {attrs.get('store_key')}; expected {key}"


def create_store(path: Path, recipe: Recipe, *, overwrite: bool = False, adapter_version: int = 1,
                 source: dict[str, Any] | None = None) -> dict[str, Any]:
    """Create (or reopen) the store at ``path`` for ``recipe``; refuse a store keyed otherwise. Call it with the
    store's lock held. A new store appears atomically (built in the work directory, then renamed)."""
    import zarr

    key = store_key(recipe.recipe_id, adapter_version, source, recipe.extraction_version)
    work = work_dir(path)
    attrs = _is_store(path) if path.exists() else None
    if attrs is not None:
        why = _mismatch(attrs, recipe, key, adapter_version, source)
        if why is not None and not overwrite:
            raise RecipeMismatchError(f"store {path} {why}. Use another output path, or overwrite=True / "
                                      "--overwrite to replace it")
        if overwrite:
            move_to_trash(path, work)
            attrs = None
    if attrs is None and path.exists():
        if not path.is_dir():
            raise DataError("output path exists and is a file; expected a missing or empty directory", path=path)
        if any(path.iterdir()):
            if not _store_remnant(path):
                raise DataError("output path exists and is not an rppgbench store; refusing to write into it "
                                "(expected a missing or empty directory)", path=path)
            if not overwrite:
                raise DataError("an interrupted prepare or --overwrite left an incomplete store here (its zarr.json "
                                "with the store attributes is missing); run again with --overwrite to replace it",
                                path=path)
            move_to_trash(path, work)
        else:
            path.rmdir()
    if attrs is None:
        skeleton = work / f"new-{uuid.uuid4().hex[:8]}"
        try:
            g = zarr.open_group(str(skeleton), mode="w", zarr_format=3)
            g.create_group(RECORDINGS)
            attrs = {"kind": "rppgbench-store", "format_version": format_version_for(recipe), "dataset": recipe.dataset,
                     "recipe": recipe.as_dict(), "recipe_json": recipe.canonical_json(),
                     "recipe_id": recipe.recipe_id, "adapter_version": adapter_version, "source": source,
                     "store_key": key, "package_versions": package_versions(), "chunk_frames": CHUNK_FRAMES,
                     "selected": [], "discovered": [], "limit": None, "qc": {"skipped": {}, "failed": {}}}
            if recipe.extraction_version is not None:  # legacy recipes: attributes (and bytes) unchanged
                attrs["extraction_version"] = recipe.extraction_version
            _write_store_attrs(skeleton, attrs, tmp_dir=work)
            os.rename(skeleton, path)
        except OSError as exc:
            raise DataError(f"cannot create the store: {exc.strerror or exc}", path=path) from None
        finally:
            shutil.rmtree(skeleton, ignore_errors=True)
    return attrs


def _complete_attrs(group: Path) -> dict[str, Any] | None:
    """Attributes of a complete recording group, else None."""
    a = _read_attrs(group)
    return a if a is not None and a.get("complete") is True else None


def _complete_recordings(path: Path) -> dict[str, dict[str, Any]]:
    rec_dir = path / RECORDINGS
    out = {}
    for child in (rec_dir.iterdir() if rec_dir.is_dir() else []):
        a = _complete_attrs(child)
        if a is not None:
            out[child.name] = a
    return out


def _remove_incomplete(path: Path, complete: dict[str, Any]) -> None:
    """Groups under ``recordings/`` without the complete flag, and the in-store ``_staging/`` folder, both left by
    versions that staged inside the store and let workers publish."""
    if (path / "_staging").is_dir():
        move_to_trash(path / "_staging", work_dir(path))
    rec_dir = path / RECORDINGS
    for child in (rec_dir.iterdir() if rec_dir.is_dir() else []):
        if child.is_dir() and child.name not in complete:
            logger.warning("removing incomplete recording group %s left by an interrupted run", child)
            move_to_trash(child, work_dir(path))


def _run_task(adapter: DatasetAdapter, rec: RawRecording, recipe_json: str, staging: str,
              raw_root: str | None) -> dict[str, Any]:
    """Task body: never raises for bad data (the reason is returned), so only a dead worker is an exception.
    Writes into ``staging`` only; the driver publishes."""
    # OpenCV keeps its default thread pool in workers: measured (benchmarks/prepare_throughput.py) a
    # single-threaded OpenCV made a 640x480 recording ~25 % slower even with one worker per core.
    from rppgbench.store.recording import process_recording

    try:
        out = process_recording(adapter, rec, Recipe.from_json(recipe_json), staging, raw_root)
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
    dup = sorted(i for i, n in Counter(r.recording_id for r in recs).items() if n > 1)
    if dup:
        raise DataError(f"adapter {adapter.name!r} returned {len(dup)} duplicate recording id(s): "
                        f"{', '.join(dup[:10])}{' ...' if len(dup) > 10 else ''}", path=raw)
    from rppgbench._checks import check_safe_id

    for r in recs:
        check_safe_id("recording_id", r.recording_id)
    return recs


@dataclass
class PreparePlan:
    """What ``prepare`` would do (computed without the lock; see :func:`plan_prepare`)."""

    adapter: DatasetAdapter
    recipe: Recipe
    raw: Path
    path: Path
    recordings: list[RawRecording]  # after ``limit``
    discovered: list[str]  # every recording id the raw folder holds
    adapter_version: int
    source: dict[str, Any] | None
    present: list[str] = field(default_factory=list)  # complete and up to date
    stale: dict[str, str] = field(default_factory=dict)  # complete but its source changed: id -> why
    todo: list[RawRecording] = field(default_factory=list)  # to (re)write
    mismatch: str | None = None  # the store at ``path`` is keyed otherwise

    @property
    def up_to_date(self) -> bool:
        return self.mismatch is None and not self.todo and (self.path / "zarr.json").is_file()


def _raw_path(adapter: DatasetAdapter, raw: str | Path | None) -> Path:
    raw_path = config.raw_root(adapter.name, raw)
    if raw_path is None:
        raise DataError(f"no raw folder given for dataset {adapter.name!r}; pass raw= / --raw or set "
                        f"RPPGBENCH_RAW_{adapter.name.upper()}")
    return Path(raw_path)


def plan_prepare(dataset: str | DatasetAdapter, raw: str | Path | None = None, recipe: Any = None,
                 out: str | Path | None = None, limit: int | None = None) -> PreparePlan:
    """Discover the raw folder, key the store and compare it with what is stored (read-only, no lock).

    A stored recording counts as present only while its source files still have their recorded sha256.
    """
    adapter, rcp = _resolve_adapter(dataset, recipe)
    raw_path = _raw_path(adapter, raw)
    recs_all = _discover(adapter, raw_path)
    recs = recs_all
    if limit is not None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1; got {limit}")
        recs = recs_all[:limit]
    version = _adapter_version(adapter)
    source = adapter.source_identity(raw_path)
    path = Path(out).expanduser() if out is not None else store_path(adapter, rcp, source=source)
    plan = PreparePlan(adapter=adapter, recipe=rcp, raw=raw_path, path=path, recordings=recs,
                       discovered=[r.recording_id for r in recs_all], adapter_version=version, source=source)
    attrs = _is_store(path) if path.exists() else None
    if attrs is not None:
        plan.mismatch = _mismatch(attrs, rcp, store_key(rcp.recipe_id, version, source, rcp.extraction_version),
                                 version, source)
    complete = _complete_recordings(path) if attrs is not None and plan.mismatch is None else {}
    cache = SourceCache(path)
    for rec in recs:
        rid = rec.recording_id
        if rid not in complete:
            plan.todo.append(rec)
            continue
        why = source_change(adapter, rec, complete[rid], raw_path, cache)
        if why is None:
            plan.present.append(rid)
        else:
            plan.stale[rid] = why
            plan.todo.append(rec)
    if work_dir(path).is_dir():
        cache.save()
    return plan


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
        The store directory; default :func:`store_path` (``config.data_root()/<dataset>/<store_key[:16]>.zarr``).
    workers : int
        Processes of the local dask cluster (0 = run in this process without dask).
    scheduler : str, optional
        Address of an existing dask scheduler (``tcp://host:8786``); ``workers`` is then ignored.
    overwrite : bool
        Replace an existing store at the output path first (only if it is an rppgbench store, or what an
        interrupted run left of one).
    skip_bad : bool
        Record failing recordings as skipped instead of failing the run.
    limit : int, optional
        Only the first ``limit`` discovered recordings (the store records it: ``Store.missing()`` lists the rest).
    progress : callable, optional
        ``progress(done, total, recording_id, status)`` after each recording.
    """
    t0 = time.perf_counter()
    plan = plan_prepare(dataset, raw, recipe, out, limit)
    path, rcp = plan.path, plan.recipe
    try:
        lock = StoreLock(lock_path(path), path).acquire()
    except OSError as exc:
        raise DataError(f"output path is not writable: {exc.strerror or exc}", path=path) from None
    stage = staging_dir(path, lock.run_id)
    try:
        attrs = create_store(path, rcp, overwrite=overwrite, adapter_version=plan.adapter_version,
                             source=plan.source)
        clean_work_dir(path, keep_run=lock.run_id)
        # plan again under the lock: another run may have finished recordings since, or the store was replaced
        plan = plan_prepare(dataset, raw, recipe, out, limit)
        complete = _complete_recordings(path)
        _remove_incomplete(path, complete)
        summary = _run(plan, lock, stage, workers, scheduler, skip_bad, progress)
        _update_store_attrs(path, attrs, plan, summary)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        lock.release()
    summary.seconds = time.perf_counter() - t0
    for rid, why in {**summary.failed, **summary.skipped}.items():
        logger.warning("recording %s %s: %s", rid, "failed" if rid in summary.failed else "skipped", why)
    return summary


def _run(plan: PreparePlan, lock: StoreLock, stage: Path, workers: int, scheduler: str | None, skip_bad: bool,
         progress: ProgressFn | None) -> PrepareSummary:
    """Write ``plan.todo`` (tasks write into ``stage``; this driver verifies and publishes each result)."""
    path, adapter = plan.path, plan.adapter
    summary = PrepareSummary(dataset=adapter.name, store=path, recipe_id=plan.recipe.recipe_id,
                             selected=len(plan.recordings), already_present=list(plan.present))
    for rid in summary.already_present:
        a = _complete_attrs(path / RECORDINGS / rid) or {}
        ws = recording_warnings(a.get("qc") or {}, int(a.get("n_frames") or 0))
        if ws:
            summary.warnings[rid] = ws
    logger.info("prepare %s: %d recordings, %d already present, %d changed since, store %s", adapter.name,
                len(plan.recordings), len(plan.present), len(plan.stale), path)
    cache = SourceCache(path)
    results: dict[str, dict[str, Any]] = {}
    done = len(plan.present)
    total = len(plan.recordings)
    bar = Progress("prepare", total, label=adapter.name, unit="recordings", start=done)

    def _report(res: dict[str, Any]) -> None:
        nonlocal done
        rid = res["recording_id"]
        if rid in results and results[rid]["status"] == "ok":
            return  # a duplicate result of a task the cluster ran twice: already published
        if res["status"] == "ok":
            try:
                lock.check()
                publish(path, Path(res["staged"]), rid, res["files"], res["arrays"], replace=rid in plan.stale)
                cache.put(rid, res["sources"])
            except (DataError, OSError) as exc:
                res = {"recording_id": rid, "status": "failed", "reason": f"not published: {exc}"}
        results[rid] = res
        done += 1
        bar.update(done, recording=f"{rid} {res['status']}")
        if progress is not None:
            progress(done, total, rid, res["status"])

    if plan.todo:
        args = (plan.recipe.canonical_json(), str(stage), str(plan.raw))
        stage.mkdir(parents=True, exist_ok=True)
        try:
            if workers == 0 and scheduler is None:
                for rec in plan.todo:
                    _report(_run_task(adapter, rec, *args))
            else:
                from rppgbench.store._dask import run_on_dask

                run_on_dask(_run_task, adapter, plan.todo, args, workers=workers, scheduler=scheduler,
                            report=_report, run_id=lock.run_id)
        finally:
            cache.save()
    for rec in plan.todo:
        rid = rec.recording_id
        res = results.get(rid) or {"status": "failed", "reason": "no result came back from the cluster"}
        if res["status"] == "ok":
            summary.written.append(rid)
            summary.frames += int(res["n_frames"])
            if rid in plan.stale:
                summary.replaced[rid] = plan.stale[rid]
            if res.get("warnings"):
                summary.warnings[rid] = list(res["warnings"])
        elif skip_bad:
            summary.skipped[rid] = res["reason"]
        else:
            summary.failed[rid] = res["reason"]
    return summary


def _update_store_attrs(path: Path, attrs: dict[str, Any], plan: PreparePlan, summary: PrepareSummary) -> None:
    a = dict(_is_store(path) or attrs)
    present = _complete_recordings(path)
    qc = dict(a.get("qc") or {})
    skipped = {k: v for k, v in (qc.get("skipped") or {}).items() if k not in present}
    skipped.update(summary.skipped)
    failed = {k: v for k, v in summary.failed.items() if k not in present}
    selected = sorted(set(a.get("selected") or []) | {r.recording_id for r in plan.recordings})
    limited = len(plan.recordings) < len(plan.discovered)
    a.update(selected=selected, discovered=list(plan.discovered), limit=len(plan.recordings) if limited else None,
             qc={"skipped": skipped, "failed": failed})
    _write_store_attrs(path, a)


def _write_store_attrs(path: Path, attrs: dict[str, Any], tmp_dir: Path | None = None) -> None:
    """Replace the store attributes in the root ``zarr.json`` atomically (temporary file in the work directory +
    rename), so a run killed at this moment never leaves a truncated metadata file, and a full disk leaves no
    temporary file behind (the error names the file)."""
    meta_path = path / "zarr.json"
    meta = json.loads(meta_path.read_text())
    meta.setdefault("attributes", {})[ATTR_KEY] = jsonable(attrs)
    atomic_write_text(meta_path, json.dumps(meta, indent=2, allow_nan=False), tmp_dir or work_dir(path))
