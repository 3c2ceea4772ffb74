"""Checks that need no data: protocol schema, registry names, model contracts against recipes, output folder.

:func:`plan_run` turns a protocol plus run options into a :class:`RunPlan` or raises before any work. It is what
``rppgbench validate`` runs and the first thing ``rppgbench run`` does.
"""
from __future__ import annotations

import dataclasses
import inspect
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rppgbench import config
from rppgbench._checks import ProtocolError, RecipeMismatchError, RppgbenchError
from rppgbench._logging import logger
from rppgbench.protocols import Protocol, load_protocol

__all__ = ["RunOptions", "ModelPlan", "RunPlan", "plan_run", "validate_protocol", "resolve_dataset_recipe",
           "check_output_dir", "RUN_MARKER"]

#: written into an output folder when a run starts; identifies which protocol the folder belongs to
RUN_MARKER = "run.json"
#: channels of a store's frames (RGB); a model reads this many per input view
STORE_CHANNELS = 3


@dataclass
class RunOptions:
    """Options of one ``rppgbench run`` (shared by the CLI and the Python API).

    ``limit`` keeps the first N recordings of each dataset in each split (natural order of recording ids).
    ``stop_after_epochs`` stops every neural model's training after that many epochs in total, as if the
    job had been interrupted (for tests and for splitting long runs); continue with ``resume=True``.
    ``null`` adds the null baseline (model id ``null``, :mod:`rppgbench.runner_null`); ``models`` never removes
    it (``models=["null"]`` runs it alone); only ``null=False`` (``--no-null``) does.
    ``checkpoints`` (``--checkpoint ID=PATH``) evaluates those weights instead of training the model
    (:mod:`rppgbench.runner_checkpoint`); ``stand_ins`` and ``smoke`` make a dry run
    (:mod:`rppgbench.runner_standins`).
    """

    protocol: str | os.PathLike
    models: list[str] | None = None
    device: str | None = None
    limit: int | None = None
    output: str | os.PathLike | None = None
    resume: bool = False
    workers: int = 0
    raw: dict[str, str] = field(default_factory=dict)
    report: bool = True
    stop_after_epochs: int | None = None
    command: str = ""
    protocols_root: str | os.PathLike | None = None
    null: bool = True
    checkpoints: dict[str, str] = field(default_factory=dict)  # model id -> weights file (test only, no training)
    stand_ins: bool = False  # render synthetic stand-ins for datasets with no store and no raw folder
    smoke: bool = False  # each neural model trains one optimiser step


@dataclass
class ModelPlan:
    id: str
    name: str
    cfg: Any  # effective ModelCfg (registered cfg with the protocol's cfg-field overrides)
    overrides: dict[str, Any]
    training: Any  # TrainingSpec merged: protocol training <- model training
    recipes: dict[str, Any] = field(default_factory=dict)  # dataset -> Recipe this model reads
    sources: dict[str, str] = field(default_factory=dict)  # {"recipe": ..., "training": ...} as cited in the protocol
    checkpoint: dict[str, Any] | None = None  # {path, source[, sha256]}: evaluate these weights, never train


@dataclass
class RunPlan:
    protocol: Protocol
    options: RunOptions
    recipes: dict[str, Any]  # dataset -> Recipe
    models: list[ModelPlan]
    output: Path
    stand_ins: dict[str, Any] = field(default_factory=dict)  # dataset -> runner_standins.StandIn (--stand-ins)


def _recipe_from_spec(spec: Any, dataset: str, where: str) -> Any:
    from rppgbench.preprocess.recipe import resolve_recipe

    try:
        return resolve_recipe(spec, dataset)  # a dict may start from a named recipe with base: NAME
    except (ValueError, TypeError) as exc:
        raise ProtocolError(f"{where}: {exc}") from None


def resolve_dataset_recipe(protocol: Protocol, dataset: str) -> Any:
    """The :class:`~rppgbench.preprocess.recipe.Recipe` of one protocol dataset (name, or ``{base, fields}``)."""
    return _recipe_from_spec(protocol.datasets[dataset].recipe, dataset, f"{protocol.path}: datasets.{dataset}.recipe")


def _check_detector(protocol: Protocol, where: str, recipe: Any) -> None:
    """The recipe's face detector must be registered (its optional extra is checked when it is built)."""
    from rppgbench.preprocess.face import FACE_DETECTORS

    try:
        FACE_DETECTORS.meta(recipe.detector)
    except KeyError as exc:
        raise ProtocolError(f"{protocol.path}: {where}: {exc}") from None


def _dataset_fps(dataset: str) -> float:
    from rppgbench.datasets import DATASETS

    return float(DATASETS.get(dataset).info.fps)


def _merged_training(protocol: Protocol, overrides: dict[str, Any]) -> Any:
    if not overrides:
        return protocol.training
    return dataclasses.replace(protocol.training, **overrides)


def _check_contract(protocol: Protocol, mp: ModelPlan, recipes: dict[str, Any], fps: dict[str, float]) -> None:
    cfg = mp.cfg
    views = cfg.input_views
    if cfg.kind == "neural" and cfg.channels != STORE_CHANNELS * len(views):
        raise RecipeMismatchError(
            f"{protocol.path}: model {mp.id} ({mp.name}) takes channels={cfg.channels}, but its input_view "
            f"{'+'.join(views)} gives {STORE_CHANNELS * len(views)} channels from a store's RGB frames "
            f"({STORE_CHANNELS} per view)")
    for ds, recipe in mp.recipes.items():
        if cfg.frame_size is not None and int(cfg.frame_size) != int(recipe.size):
            raise RecipeMismatchError(
                f"{protocol.path}: model {mp.id} ({mp.name}) needs frame_size={cfg.frame_size} but dataset {ds} uses "
                f"recipe {recipe.name or recipe.recipe_id[:16]} with size={recipe.size}; use a recipe of size "
                f"{cfg.frame_size} or override the model's frame_size")
        if cfg.kind != "baseline" and abs(float(cfg.fps) - fps[ds]) > 0.5:
            raise RecipeMismatchError(
                f"{protocol.path}: model {mp.id} ({mp.name}) expects fps={cfg.fps} but dataset {ds} is recorded at "
                f"fps={fps[ds]}")
    tr = mp.training
    if cfg.kind == "neural":
        if tr.selection == "best" and not protocol.splits.get("valid"):
            raise ProtocolError(f"{protocol.path}: model {mp.id}: training.selection 'best' needs a valid split")
        if not protocol.splits.get("train") and mp.checkpoint is None:
            raise ProtocolError(f"{protocol.path}: model {mp.id} is a neural model but the protocol has no train "
                                "split")


def _check_generate(protocol: Protocol) -> None:
    spec = protocol.datasets.get("synthetic")
    if spec is None or spec.generate is None:
        return
    from rppgbench.datasets.synthetic import write_raw_dataset
    from rppgbench.datasets.synthetic.presets import SyntheticSpec

    params = inspect.signature(write_raw_dataset).parameters
    allowed = [n for n, p in params.items() if n not in ("root", "path", "out", "out_dir", "raw")
               and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):  # the extra keywords go to make_spec
        allowed += [f.name for f in dataclasses.fields(SyntheticSpec)]
    unknown = sorted(set(spec.generate) - set(allowed))
    if unknown:
        raise ProtocolError(f"{protocol.path}: datasets.synthetic.generate: unknown argument(s) {', '.join(unknown)} "
                            f"of write_raw_dataset; allowed: {', '.join(allowed)}")


def _check_builds(proto: Protocol, i: int, mp: ModelPlan) -> None:
    """Instantiate the model once (cheap, no data) so constructor errors surface before any work."""
    from rppgbench.models import create_model

    try:
        create_model(mp.name, **mp.overrides)
    except (ValueError, TypeError) as exc:
        raise ProtocolError(f"{proto.path}: models[{i}] ({mp.id}): cannot build the model with overrides "
                            f"{mp.overrides}: {exc}") from None


def _protocol_model_id(given: str, specs: list[Any]) -> str:
    """The protocol's id for ``given``: an id, or the registered name, in any spelling of
    :func:`rppgbench.models._factory.fold_model_id` (``physfsunet.tiny`` finds the id ``physfsunet_tiny``)."""
    from rppgbench.models._factory import fold_model_id

    if any(s.id == given for s in specs):
        return given
    for attr in ("id", "name"):
        hits = [s.id for s in specs if fold_model_id(getattr(s, attr)) == fold_model_id(given)]
        if len(hits) == 1:
            return hits[0]
    return given


def validate_protocol(protocol: Protocol | str | os.PathLike, models: list[str] | None = None,
                      root: str | os.PathLike | None = None, build: bool = True, null: bool = True
                      ) -> tuple[Protocol, dict[str, Any], list[ModelPlan]]:
    """Every check that needs no data: schema (on load), recipes, registry names, model contracts, evaluation
    profile and metric names, and (``build``) that each model can be instantiated with its overrides.
    With ``null`` the plans end with the null baseline (id ``null``; kept whatever ``models`` selects).
    Returns ``(protocol, recipes, model plans)``."""
    from rppgbench.evaluation.metrics import metric_spec
    from rppgbench.evaluation.profiles import get_profile
    from rppgbench.models import model_cfg
    from rppgbench.models._factory import split_overrides

    proto = protocol if isinstance(protocol, Protocol) else load_protocol(protocol, root)
    recipes = {ds: resolve_dataset_recipe(proto, ds) for ds in proto.datasets}
    try:
        get_profile(proto.evaluation.profile)
    except KeyError as exc:
        raise ProtocolError(f"{proto.path}: evaluation.profile: {exc}") from None
    for i, m in enumerate(proto.evaluation.metrics):
        try:
            metric_spec(m)
        except KeyError as exc:
            raise ProtocolError(f"{proto.path}: evaluation.metrics[{i}]: {exc}") from None
    for ds, recipe in recipes.items():
        _check_detector(proto, f"datasets.{ds}.recipe", recipe)
    _check_generate(proto)
    from rppgbench.runner_null import NULL_ID, check_null, null_plan

    selected = list(proto.models)
    known = {m.id: m for m in proto.models}
    if models:
        models = [_protocol_model_id(m, proto.models) for m in models]
        if not null and NULL_ID in models:
            raise ProtocolError(f"--models lists {NULL_ID!r} but --no-null leaves the null baseline out")
        missing = [m for m in models if m not in known and m != NULL_ID]
        if missing:
            raise ProtocolError(f"--models: {', '.join(missing)} not in protocol {proto.name} (it lists "
                                f"{', '.join([*known, NULL_ID])})")
        selected = [known[m] for m in models if m in known]
    if null and NULL_ID in known and known[NULL_ID] not in selected:
        selected.append(known[NULL_ID])  # the protocol's own null baseline is kept by any selection
    elif not null:
        selected = [m for m in selected if m.id != NULL_ID]
    fps = {ds: _dataset_fps(ds) for ds in proto.datasets}
    plans = []
    for i, spec in enumerate(proto.models):
        if spec not in selected:
            continue
        try:
            cfg = model_cfg(spec.name)
        except KeyError as exc:
            raise ProtocolError(f"{proto.path}: models[{i}]: {exc}") from None
        overrides = spec.effective_overrides()  # overrides + the recipe block's clip_len / input_view / label_view
        try:
            eff, _kwargs = split_overrides(cfg, overrides)
        except (TypeError, ValueError) as exc:
            what = "overrides" if not spec.contract else "overrides and recipe contract keys"
            raise ProtocolError(f"{proto.path}: models[{i}] ({spec.name}) {what}: {exc}") from None
        mrec = dict(recipes) if spec.recipe is None else {
            ds: _recipe_from_spec(spec.recipe, ds, f"{proto.path}: models[{i}].recipe") for ds in proto.datasets}
        if spec.recipe is not None:
            _check_detector(proto, f"models[{i}].recipe", next(iter(mrec.values())))
        training = _merged_training(proto, spec.training)
        sources = {k: v for k, v in (("recipe", spec.recipe_source), ("training", training.source)) if v}
        mp = ModelPlan(id=spec.id, name=spec.name, cfg=eff, overrides=overrides, training=training, recipes=mrec,
                       sources=sources, checkpoint=None if spec.checkpoint is None else dict(spec.checkpoint))
        _check_contract(proto, mp, recipes, fps)
        check_null(proto, mp)
        if build:
            _check_builds(proto, i, mp)
        plans.append(mp)
    if null and NULL_ID not in known:
        plans.append(null_plan(proto, recipes, plans, _merged_training(proto, {})))
    return proto, recipes, plans


def check_output_dir(out: Path, protocol: Protocol, resume: bool) -> None:
    """Refuse an output folder that holds another protocol's run (or this one's, without ``resume``)."""
    marker = out / RUN_MARKER
    results = out / "results.json"
    if not marker.is_file() and not results.is_file():
        if resume:
            logger.info("--resume: %s holds no earlier run; starting fresh", out)
        return
    try:
        info = json.loads((marker if marker.is_file() else results).read_text())
    except (OSError, ValueError) as exc:
        raise RppgbenchError(f"output folder {out}: cannot read {marker.name}: {exc}") from None
    prev = info.get("protocol", {})
    name, sha = prev.get("name"), prev.get("sha256")
    if name != protocol.name:
        raise RppgbenchError(f"output folder {out} holds results of protocol {name!r}, not {protocol.name!r}; "
                             "choose another --output")
    if sha != protocol.protocol_hash:
        raise RppgbenchError(f"output folder {out} holds results of another version of {protocol.name} (protocol "
                             f"sha256 {str(sha)[:12]}…, now {protocol.protocol_hash[:12]}…); "
                             "choose another --output")
    if not resume:
        raise RppgbenchError(f"output folder {out} already holds a run of {protocol.name}; pass --resume to "
                             "continue it or choose another --output")


def plan_run(options: RunOptions) -> RunPlan:
    """Validate everything that needs no data and fix the output folder."""
    proto, recipes, plans = validate_protocol(options.protocol, options.models, options.protocols_root,
                                              null=options.null)
    from rppgbench.runner_checkpoint import attach_checkpoints
    from rppgbench.runner_standins import apply_smoke

    attach_checkpoints(proto, plans, options.checkpoints)
    if options.smoke:
        plans = apply_smoke(plans)
    if options.limit is not None and options.limit < 1:
        raise ValueError(f"--limit must be >= 1; got {options.limit}")
    if options.device is not None:  # a device torch cannot use is refused before any store is prepared
        from rppgbench.training.trainer import resolve_device

        resolve_device(options.device)
    out = Path(options.output) if options.output is not None else config.results_root() / proto.name
    from rppgbench.runner_dist import is_main

    if is_main():  # under torchrun rank 0 owns the output folder (the others would see its marker)
        check_output_dir(out, proto, options.resume)
    return RunPlan(protocol=proto, options=options, recipes=recipes, models=plans, output=out)
