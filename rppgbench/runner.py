"""Run a protocol end to end: validate → prepare missing stores → resolve splits → train/evaluate → results.

>>> from rppgbench.runner import RunOptions, run_protocol                  # doctest: +SKIP
>>> result = run_protocol(RunOptions("synthetic_quick", limit=2, output="out"))  # doctest: +SKIP
>>> result["rows"][0]                                                      # doctest: +SKIP

Order of work (nothing is trained before every check passed):

1. :func:`rppgbench.runner_validate.plan_run`: schema, registry names, model contracts against the recipes,
   evaluation profile, output folder (another protocol's results there is an error).
2. Stores: each dataset's store (keyed by recipe, adapter version and, for generated data, the raw folder's
   identity) is opened. When the raw folder is known (``--raw``/``RPPGBENCH_RAW_<DATASET>``; the synthetic
   dataset is generated on demand from the protocol's ``generate:`` block) the store is first brought up to date
   with it (resumable ``prepare``: missing recordings written, changed ones prepared again); else a missing store
   gives the exact ``rppgbench prepare`` command and a store made with ``prepare --limit`` is refused unless
   ``--limit`` is given.
3. Splits resolved over the stores' recording tables (every subject present, non-empty, disjoint); ``--limit``.
4. Each model: neural → Trainer (checkpoints under ``checkpoints/<model>/``, resumable), predict; unsupervised →
   RGB trace → method; the null baseline (id ``null``, added to every run by :mod:`rppgbench.runner_null`) →
   a sinusoid at the train split's mean reference HR. Evaluate per test dataset; write
   ``predictions/<model>.npz`` and the rPPG-Toolbox pickle; the model's rows are kept in ``.state/<model>.json``
   so ``--resume`` skips finished models.
5. ``results.json`` (written last, atomically), then the report (``rppgbench.reporting.report``).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from rppgbench import __version__, config
from rppgbench._checks import DataError, RppgbenchError
from rppgbench._logging import logger
from rppgbench._progress import Progress
from rppgbench._util import atomic_write, json_clean
from rppgbench.evaluation.metrics import metric_spec
from rppgbench.protocols import resolve_splits
from rppgbench.results.io import write_results
from rppgbench.results.schema import FORMAT_VERSION
from rppgbench.runner_validate import RUN_MARKER, RunOptions, RunPlan, plan_run

__all__ = ["RunOptions", "run_protocol", "prepare_stores", "prepare_command", "synthetic_raw_dir"]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def prepare_command(dataset: str, recipe: Any) -> str:
    """The command that prepares ``dataset`` with ``recipe`` (for error messages)."""
    rec = recipe.name if getattr(recipe, "name", "") else "<recipe.yaml holding " + recipe.canonical_json() + ">"
    return f"rppgbench prepare {dataset} --raw PATH --recipe {rec}"


def synthetic_raw_dir(generate: dict[str, Any]) -> Path:
    """Where the synthetic raw data of a ``generate:`` block lives when ``RPPGBENCH_RAW_SYNTHETIC`` is unset:
    ``<data_root>/_raw/synthetic-<sha256(generate, generator version)[:12]>`` (a different block or generator
    version never reuses old files)."""
    from rppgbench.datasets.synthetic.render import GENERATOR_VERSION

    key = generate if GENERATOR_VERSION == 1 else {**generate, "generator_version": GENERATOR_VERSION}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    return config.data_root() / "_raw" / f"synthetic-{digest}"


def _ensure_synthetic_raw(generate: dict[str, Any], raw: Path | None) -> Path:
    from rppgbench.datasets.synthetic import write_raw_dataset

    target = raw if raw is not None else synthetic_raw_dir(generate)
    done = target / ".rppgbench_generated.json"
    if done.is_file():
        return target
    if raw is not None and (raw / "manifest.csv").is_file():
        # the user's own synthetic raw data (e.g. from `rppgbench synth`): used as it is, never regenerated over
        logger.info("using the synthetic raw data at %s as given (the protocol's generate: block is not applied)",
                    raw)
        return raw
    logger.info("generating the synthetic raw dataset into %s (%s)", target, generate)
    write_raw_dataset(target, **generate)
    atomic_write(done, json.dumps(generate, sort_keys=True).encode())
    return target


def _find_store(ds: str, recipe: Any) -> Path:
    """The store of ``ds``/``recipe`` when its raw folder is unknown: the default path for real datasets; for
    generated data (keyed by the raw folder's identity) the only store of this recipe under the data root."""
    from rppgbench.datasets import DATASETS
    from rppgbench.datasets.base import DatasetAdapter
    from rppgbench.store import store_path
    from rppgbench.store.writer import _is_store

    cls = DATASETS.get(ds)
    path = store_path(ds, recipe)
    if cls.source_identity is DatasetAdapter.source_identity:
        return path
    version = int(getattr(cls, "version", 1))
    hits = []
    for cand in sorted(path.parent.glob("*.zarr")) if path.parent.is_dir() else []:
        a = _is_store(cand)
        if a and a.get("recipe_id") == recipe.recipe_id and a.get("adapter_version") == version:
            hits.append((cand, a.get("source")))
    if len(hits) == 1:
        logger.info("dataset %s: using the only prepared store of recipe %s, %s (raw-folder identity %s)", ds,
                    recipe.name or recipe.recipe_id[:16], hits[0][0], hits[0][1])
        return hits[0][0]
    if len(hits) > 1:
        raise DataError(f"dataset {ds} has {len(hits)} prepared stores of recipe {recipe.name or recipe.recipe_id[:16]}"
                        f" from different raw folders ({', '.join(str(h[0]) for h in hits)}); say which raw folder "
                        f"this run is about with --raw {ds}=PATH")
    return path


def _check_partial(plan: RunPlan, ds: str, st: Any) -> None:
    """Policy for a store made with ``prepare --limit``: a protocol run needs every recording, so it is refused
    unless ``run --limit`` asks for a partial run (then a warning, and provenance records it)."""
    left = st.limited()
    if not left:
        return
    have = len(st.recording_ids())
    msg = (f"store {st.path} holds {have} of the {have + len(left)} recordings of its raw folder: it was prepared "
           f"with --limit {st.attrs.get('limit')} ({len(left)} missing: {', '.join(left[:5])}"
           f"{' ...' if len(left) > 5 else ''})")
    if plan.options.limit is None:
        raise DataError(f"{msg}. A protocol run needs all of them: complete the store with "
                        f"`rppgbench prepare {ds} --raw PATH --recipe {st.recipe.name or 'RECIPE'}` (it resumes), or "
                        f"give the raw folder (--raw {ds}=PATH or RPPGBENCH_RAW_{ds.upper()}) and run completes it; "
                        "`run --limit N` accepts a partial store for a smoke test")
    logger.warning("%s; running on it because of --limit (recorded in provenance)", msg)


def _open_or_prepare(plan: RunPlan, ds: str, recipe: Any) -> Any:
    """Open the store of ``ds``/``recipe``. With a known raw folder the store is first brought up to date with it
    (missing recordings written, recordings whose source files changed prepared again); without one the store is
    used as it is, and a store made with ``prepare --limit`` is refused (see :func:`_check_partial`)."""
    from rppgbench.store import open_store, plan_prepare, prepare

    raw = config.raw_root(ds, plan.options.raw.get(ds))
    spec = plan.protocol.datasets[ds]
    out = None
    if ds == "synthetic" and spec.generate is not None:
        raw = _ensure_synthetic_raw(spec.generate, raw)
    elif ds in plan.stand_ins:  # --stand-ins: rendered raw data, a store outside the real stores' paths
        from rppgbench.runner_standins import ensure_stand_in

        raw, out = ensure_stand_in(plan.stand_ins[ds]), plan.stand_ins[ds].store_path(recipe)
    if raw is not None:
        pp = plan_prepare(ds, raw, recipe=recipe, out=out)
        path = pp.path
        if not pp.up_to_date:
            logger.info("preparing %s from %s (recipe %s) into %s: %d to write, %d changed since", ds, raw,
                        recipe.name or recipe.recipe_id[:16], path, len(pp.todo), len(pp.stale))
            summary = prepare(ds, raw, recipe=recipe, out=out, workers=plan.options.workers)
            if not summary.ok:
                raise DataError(f"preparing {ds} failed:\n" + "\n".join(summary.lines()), path=path)
            for rid, why in summary.replaced.items():
                logger.warning("recording %s/%s was prepared again: %s", ds, rid, why)
    else:
        path = _find_store(ds, recipe)
        if not (path / "zarr.json").is_file():
            raise DataError(f"dataset {ds} has no prepared store for recipe {recipe.name or recipe.recipe_id} "
                            f"and its raw folder is unknown. Run:\n  {prepare_command(ds, recipe)}\nor set "
                            f"RPPGBENCH_RAW_{ds.upper()}=PATH and run again", path=path)
    st = open_store(path)
    if st.recipe_id != recipe.recipe_id:
        raise DataError(f"store recipe {st.recipe_id[:16]} differs from the protocol's {recipe.recipe_id[:16]}",
                        path=path)
    _check_partial(plan, ds, st)
    missing = st.missing()
    if missing:
        logger.warning("store %s lacks %d recording(s): %s", path, len(missing),
                       ", ".join(f"{k} ({v})" for k, v in sorted(missing.items())[:20]))
    return st


def prepare_stores(plan: RunPlan) -> dict[tuple[str, str], Any]:
    """Open (preparing when possible) every store the selected models read: ``{(dataset, recipe_id): Store}``."""
    stores: dict[tuple[str, str], Any] = {}
    for mp in plan.models:
        for ds, recipe in mp.recipes.items():
            key = (ds, recipe.recipe_id)
            if key not in stores:
                stores[key] = _open_or_prepare(plan, ds, recipe)
    return stores


def _resolve_all(plan: RunPlan, stores: dict[tuple[str, str], Any]) -> tuple[Any, dict[tuple[str, str], Any]]:
    """Resolve the splits on one store per dataset and check every other store of a dataset holds the same
    split recordings (two recipes of one raw dataset must list the same recordings)."""
    tables = {key: st.recordings() for key, st in stores.items()}
    first: dict[str, Any] = {}
    for (ds, _rid), t in tables.items():
        first.setdefault(ds, t)
    splits = resolve_splits(plan.protocol, first)
    for (ds, rid), t in tables.items():
        have = set(t["recording_id"].astype(str))
        for split, keys in splits.splits.items():
            lack = [k for k in keys if k.startswith(ds + "/") and k.partition("/")[2] not in have]
            if lack:
                raise DataError(f"store of recipe {rid[:16]} lacks {len(lack)} {split} recording(s) the other "
                                f"recipe's store has: {', '.join(lack[:5])}", path=stores[(ds, rid)].path)
    return splits, tables


def _provenance(plan: RunPlan, stores: dict[str, Any], started: str, wall_s: float) -> dict[str, Any]:
    import torch

    from rppgbench.sysinfo import git_commit
    from rppgbench.training.trainer import resolve_device

    # the device the run used: torch's for its networks; a run without one computed everything on the CPU
    neural = any(m.cfg.kind == "neural" for m in plan.models)
    tv, cuda = torch.__version__, torch.version.cuda
    dev = str(resolve_device(plan.options.device)) if neural else "cpu"
    return {"rppgbench_version": __version__, "git_commit": git_commit(), "python": sys.version.split()[0],
            "torch": tv, "cuda": cuda, "device": dev, "platform": platform.platform(), "cpu_count": os.cpu_count(),
            "recipe_ids": {ds: r.recipe_id for ds, r in plan.recipes.items()},
            "recipes": {ds: r.as_dict() for ds, r in plan.recipes.items()},
            "model_recipe_ids": {m.id: {ds: r.recipe_id for ds, r in m.recipes.items()} for m in plan.models},
            "stores": {f"{ds}/{rid}": str(s.path) for (ds, rid), s in stores.items()},
            "store_keys": {f"{ds}/{rid}": {k: s.attrs.get(k) for k in ("store_key", "adapter_version", "source",
                                                                       "limit")}
                           for (ds, rid), s in stores.items()},
            "store_missing": {f"{ds}/{rid}": s.missing() for (ds, rid), s in stores.items() if s.missing()},
            "qc_warnings": _qc_warnings(stores),
            "seeds": {m.id: int(m.training.seed) for m in plan.models},
            "limit": plan.options.limit, "started": started, "finished": _now(), "wall_s": wall_s,
            "command": plan.options.command}


def _qc_warnings(stores: dict[tuple[str, str], Any]) -> dict[str, dict[str, list[str]]]:
    """``{dataset/recipe_id16: {recording: [warnings]}}`` over every store the run read (also logged)."""
    out: dict[str, dict[str, list[str]]] = {}
    for (ds, rid), st in sorted(stores.items()):
        per = {r: w for r in st.recording_ids() if (w := st.qc_warnings(r))}
        if per:
            out[f"{ds}/{rid[:16]}"] = per
            for r, ws in per.items():
                for w in ws:
                    logger.warning("QC %s/%s: %s", ds, r, w)
    return out


def _protocol_block(plan: RunPlan) -> dict[str, Any]:
    p = plan.protocol
    return {"name": p.name, "version": p.version, "sha256": p.protocol_hash,
            "citation": {k: v for k, v in vars(p.citation).items() if v}, "path": p.path,
            "reference": p.reference, "resolved": p.to_dict()}


def _earlier_wall(out: Path, resume: bool) -> dict[str, Any]:
    """What earlier invocations of this run spent (``.state/_wall.json``): ``{"started", "wall_s"}``; empty when
    not resuming. ``--resume`` adds to it, so results.json keeps the time the run really took."""
    path = out / ".state" / "_wall.json"
    if not resume or not path.is_file():
        return {}
    try:
        d = json.loads(path.read_text())
        return {"started": str(d["started"]), "wall_s": float(d["wall_s"])}
    except (ValueError, KeyError, TypeError):
        logger.warning("%s is unreadable; the recorded wall time covers this invocation only", path)
        return {}


def _save_wall(out: Path, started: str, wall_s: float) -> None:
    atomic_write(out / ".state" / "_wall.json", json.dumps({"started": started, "wall_s": wall_s}).encode())


def run_protocol(options: RunOptions) -> dict[str, Any]:
    """Run ``options.protocol``; returns the results mapping (also written to ``<output>/results.json``). Under
    ``torchrun`` (:mod:`rppgbench.runner_dist`) rank 0 returns it and the other ranks return ``{}``."""
    from rppgbench import runner_dist

    created = runner_dist.start(options.device)  # torchrun: join the process group (rppgbench.runner_dist)
    try:
        return _run(options)
    finally:
        runner_dist.finish(created)


def _run(options: RunOptions) -> dict[str, Any]:
    from rppgbench import runner_dist
    from rppgbench.runner_standins import label_results, plan_stand_ins

    t0 = time.perf_counter()
    started = _now()
    plan = plan_run(options)
    out = plan.output
    earlier = _earlier_wall(out, options.resume)
    started = earlier.get("started", started)
    ran_any = False  # did this invocation train or evaluate a model (a resume of a finished run does not)
    proto = plan.protocol
    main = runner_dist.is_main()

    def setup() -> dict[tuple[str, str], Any]:
        if main:
            out.mkdir(parents=True, exist_ok=True)
            marker = {"protocol": {"name": proto.name, "sha256": proto.protocol_hash}, "started": started}
            if not (out / RUN_MARKER).is_file():
                atomic_write(out / RUN_MARKER, json.dumps(marker).encode())
        if options.stand_ins:
            plan.stand_ins = plan_stand_ins(plan)
        return prepare_stores(plan)

    t_st = time.perf_counter()
    stores = runner_dist.main_first(setup)  # rank 0 prepares; the other ranks then open the same stores
    stores_wall = time.perf_counter() - t_st
    splits, tables = _resolve_all(plan, stores)
    splits = splits.limit(options.limit)
    logger.info("protocol %s: %s", proto.name,
                ", ".join(f"{k} {len(v)} recording(s)" for k, v in splits.splits.items()))
    state_dir = out / ".state"
    split_sig = hashlib.sha256(json.dumps(splits.to_dict(), sort_keys=True).encode()).hexdigest()
    rows: list[dict[str, Any]] = []
    per_rec: list[dict[str, Any]] = []
    models: dict[str, Any] = {}
    from rppgbench.runner_models import run_model

    models_bar = Progress("run", len(plan.models), label=proto.name, unit="models")
    for i, mp in enumerate(plan.models):
        state = state_dir / f"{mp.id}.json"
        if options.resume and state.is_file():
            saved = json.loads(state.read_text())
            if saved.get("splits_sha256") == split_sig:
                logger.info("model %s: finished in an earlier run; reusing its results", mp.id)
                rows += saved["rows"]
                per_rec += saved["per_recording"]
                models[mp.id] = saved["model"]
                continue
            logger.info("model %s: earlier results used other splits (--limit?); running again", mp.id)
        ran_any = True
        logger.info("[%d/%d] model %s (%s)", i + 1, len(plan.models), mp.id, mp.cfg.kind)
        models_bar.update(i, milestone=True, model=f"{mp.id} ({mp.cfg.kind}) starting")
        mstores = {ds: stores[(ds, r.recipe_id)] for ds, r in mp.recipes.items()}
        mtables = {ds: tables[(ds, r.recipe_id)] for ds, r in mp.recipes.items()}
        try:
            res = run_model(mp, plan, mstores, mtables, splits, out, options.resume)
        except BaseException:
            if main:
                _save_wall(out, started, earlier.get("wall_s", 0.0) + time.perf_counter() - t0)
            raise
        runner_dist.barrier()
        if res["interrupted"]:
            _save_wall(out, started, earlier.get("wall_s", 0.0) + time.perf_counter() - t0)
            logger.warning("model %s: training stopped before its last epoch (stop_after_epochs=%s); run again "
                           "with --resume to continue", mp.id, options.stop_after_epochs)
            raise _Interrupted(mp.id)
        if not main:
            continue
        saved = {"splits_sha256": split_sig, **json_clean({k: res[k] for k in ("rows", "per_recording", "model")})}
        atomic_write(state, json.dumps(saved).encode())
        rows += res["rows"]
        per_rec += res["per_recording"]
        models[mp.id] = res["model"]
        models_bar.update(i + 1, milestone=True, model=f"{mp.id} done")
    if not main:  # rank 0 writes results and report; wait for it
        runner_dist.barrier()
        return {}
    # with --resume, the time of earlier invocations counts; one that only reused finished models adds nothing
    wall_s = earlier.get("wall_s", 0.0) + (time.perf_counter() - t0 if ran_any or not earlier else 0.0)
    _save_wall(out, started, wall_s)
    ev = proto.evaluation
    results = {
        "format_version": FORMAT_VERSION,
        "protocol": _protocol_block(plan),
        "evaluation": {"profile": ev.profile, "window_s": ev.window_s, "hr_method": ev.hr_method,
                       "metrics": [metric_spec(m).name for m in ev.metrics],
                       "fs": sorted({float(t["fps"].iloc[0]) for t in tables.values() if len(t)})[0]},
        "splits": splits.to_dict(),
        "rows": rows,
        "per_recording": per_rec,
        "models": models,
        "provenance": {**_provenance(plan, stores, started, wall_s), "stores_wall_s": stores_wall,
                       "output": str(out)},
    }
    if options.checkpoints or any(mp.checkpoint for mp in plan.models):
        results["provenance"]["checkpoints"] = {mp.id: mp.checkpoint for mp in plan.models if mp.checkpoint}
    label_results(results, plan.stand_ins, options.smoke)
    write_results(out, results)
    logger.info("results written to %s", out / "results.json")
    if options.report:
        _report(out)
    runner_dist.barrier()
    return json_clean(results)


class _Interrupted(RppgbenchError):
    def __init__(self, model_id: str) -> None:
        super().__init__(f"run interrupted during model {model_id!r} (stop_after_epochs); continue with --resume")
        self.model_id = model_id


def _report(out: Path) -> None:
    from rppgbench.reporting import report

    try:
        report([out], out / "report")
    except Exception as exc:  # the results are safe on disk; a report bug must not lose the run
        logger.debug("report failure", exc_info=True)
        logger.warning("report not written (%s: %s); the results are in %s: retry with `rppgbench report %s` "
                       "(a report failure on valid results is a bug: please report it)", type(exc).__name__, exc,
                       out / "results.json", out)
