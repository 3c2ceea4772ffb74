"""Strict protocol schema: every key known, every type checked, every error names file and line.

A protocol file (``<family>/<name>.yaml`` under the protocols root, see :mod:`rppgbench.protocols`) holds these
top-level keys:

``protocol``
    The name; must equal the file stem.
``version``
    Integer; bump on any change and note it in the family README changelog.
``description``
    Free text (optional).
``citation``
    ``{paper, table, doi, url, code, note}``; ``paper`` required. ``note`` says what is UNVERIFIED or RECONSTRUCTED.
``include``
    Relative path(s) of shared parts (``_base/*.yaml``), resolved by :mod:`rppgbench.protocols.loader`.
``datasets``
    Names registered in ``rppgbench.datasets.DATASETS`` (built-in, plugin or run-time) mapped to
    ``{recipe: <name> | {base: <name>, <recipe field>: value, ...}, generate: {...}}``. ``generate``
    (synthetic only) holds the keyword arguments of ``rppgbench.datasets.synthetic.write_raw_dataset`` used when
    the raw data is missing.
``splits``
    ``{train, valid, test}``; each a part or a list of parts ``{dataset, subjects: [..] | "all", recordings: [..],
    filter: {column: value | [values] | {ge/le/gt/lt: x}}}``. Explicit lists or metadata filters only: never fractions.
``models``
    List of names or ``{name, id, overrides: {...}, recipe: ..., training: {...}}``. ``overrides`` go to
    ``create_model`` (ModelCfg fields such as ``frame_size`` also change the contract). A model's own ``recipe``
    and ``training`` blocks (see :func:`_model_recipe_training`) hold what that model's paper or released config
    fixes:

    - ``recipe``: a recipe name, or ``{base: NAME, <recipe field>: value, ..., clip_len, input_view,
      label_view, source}``. The recipe fields replace every dataset's recipe for this model (its stores are
      keyed by them, so models with equal recipes share one store); ``clip_len``/``input_view``/``label_view``
      set the model's input contract (the clips cut from that store); ``source`` cites where they come from.
    - ``training``: the training keys below (plus ``source``), overriding the protocol's for this model.
    - ``checkpoint`` (``PATH`` or ``{path, source}``; a relative path is read from the protocol file's folder)
      evaluates those weights on the test split without training (``run --checkpoint ID=PATH`` does the same).
``training``
    ``{epochs, batch_size, optimizer, lr, weight_decay, scheduler: {name, ...}, seed, selection: last|best,
    max_steps_per_epoch, loss, clip_stride, source}``. ``scheduler`` is the lr schedule (``onecycle``/``cosine``/
    ``step``/``none`` with the torch keywords; omitted = the model's default); ``clip_stride`` is the number of
    frames between the starts of training clips (omitted = the clip length: no overlap); ``source`` cites the
    settings.
``evaluation``
    ``{profile, window_s (null = whole recording), hr_method: fft|welch|peak, metrics}``; ``profile`` names an
    evaluation profile and ``metrics`` registered metrics (case-insensitive), both checked by ``rppgbench validate``.
``reference``
    Published numbers: ``{table, source, values: {model: {test_dataset: {metric: value}}}}``.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rppgbench._checks import ProtocolError
from rppgbench._util import did_you_mean
from rppgbench.datasets import DATASETS
from rppgbench.protocols.loader import Marks, format_path, location
from rppgbench.signal.hr import HR_METHODS

__all__ = ["Protocol", "DatasetSpec", "SplitPart", "ModelSpec", "TrainingSpec", "EvaluationSpec", "Citation",
           "SPLIT_NAMES", "validate_protocol_dict"]

SPLIT_NAMES = ("train", "valid", "test")
_RANGE_OPS = ("ge", "le", "gt", "lt")
#: numeric budgets of a protocol (beyond them a value is a typo, not a setting)
MAX_WINDOW_S = 86400.0
MAX_LR = 10.0
MAX_EPOCHS = 100_000
MAX_BATCH = 65_536
MAX_STEPS = 10**9
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class Citation:
    paper: str
    table: str = ""
    doi: str = ""
    url: str = ""
    code: str = ""
    note: str = ""


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    recipe: Any = "skin72"  # a named recipe (str) or {base: name, field: value, ...}
    generate: dict[str, Any] | None = None


@dataclass(frozen=True)
class SplitPart:
    dataset: str
    subjects: Any = "all"  # "all" or a tuple of ids (int or str, as written)
    recordings: tuple[str, ...] | None = None
    filter: dict[str, Any] = field(default_factory=dict)


#: keys of a model's ``recipe:`` block that set its input contract (ModelCfg fields), not the store's recipe
RECIPE_CONTRACT_KEYS = ("clip_len", "input_view", "label_view")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    id: str
    overrides: dict[str, Any] = field(default_factory=dict)
    # per-model recipe and training (issue 13 item 1), validated by _model_recipe_training:
    training: dict[str, Any] = field(default_factory=dict)  # training keys overriding the protocol's (+ source)
    recipe: Any = None  # None: each dataset's recipe; else a recipe (name or {base, fields}) for every dataset
    contract: dict[str, Any] = field(default_factory=dict)  # clip_len / input_view / label_view of the recipe block
    recipe_source: str = ""  # the recipe block's ``source:``
    checkpoint: dict[str, str] | None = None  # {path, source}: test-only evaluation of these weights (no training)

    def effective_overrides(self) -> dict[str, Any]:
        """``overrides`` with the recipe block's contract keys (the two never name the same key)."""
        return {**self.overrides, **self.contract}


@dataclass(frozen=True)
class TrainingSpec:
    epochs: int | None = None  # None = the model's default
    batch_size: int | None = None
    optimizer: str | None = None
    lr: float | None = None
    weight_decay: float | None = None
    seed: int = 0
    selection: str = "last"
    max_steps_per_epoch: int | None = None
    loss: str | None = None
    scheduler: dict[str, Any] | None = None  # None = the model's default lr schedule
    clip_stride: int | None = None  # frames between training clip starts; None = clip_len (no overlap)
    source: str = ""  # where these settings come from (paper section, config file)


#: TrainingSpec fields left out of the canonical JSON while they hold their default (protocol hashes made before
#: they existed stay the same)
_NEW_TRAINING_DEFAULTS: dict[str, Any] = {"scheduler": None, "source": "", "clip_stride": None}


@dataclass(frozen=True)
class EvaluationSpec:
    profile: str = "rppgbench"
    window_s: float | None = 10.0
    hr_method: str = "fft"
    metrics: tuple[str, ...] = ("MAE", "RMSE", "MAPE", "Pearson", "SNR", "MACC")


@dataclass(frozen=True)
class Protocol:
    """A validated, include-resolved protocol. ``protocol_hash`` = sha256 of :meth:`canonical_json`."""

    name: str
    version: int
    citation: Citation
    datasets: dict[str, DatasetSpec]
    splits: dict[str, tuple[SplitPart, ...]]
    models: tuple[ModelSpec, ...]
    training: TrainingSpec
    evaluation: EvaluationSpec
    reference: dict[str, Any]
    description: str = ""
    path: str = ""
    files: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The resolved protocol as plain JSON-able data (defaults filled in; no path)."""
        d = asdict(self)
        d.pop("path")
        d.pop("files")
        d["protocol"] = d.pop("name")
        d["splits"] = {k: [_part_dict(p) for p in v] for k, v in self.splits.items()}
        d["evaluation"]["metrics"] = list(self.evaluation.metrics)
        d["training"] = _drop_defaults(d["training"], _NEW_TRAINING_DEFAULTS)
        # fields at their defaults (no checkpoint, no recipe block) are left out, so protocols that do not use them
        # keep the hash they had before the fields existed
        d["models"] = [_drop_defaults(asdict(m), {"contract": {}, "recipe_source": "", "checkpoint": None})
                       for m in self.models]
        return json.loads(json.dumps(d, default=list))

    def canonical_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)

    @property
    def protocol_hash(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    def model(self, model_id: str) -> ModelSpec:
        for m in self.models:
            if m.id == model_id:
                return m
        raise ProtocolError(f"protocol {self.name}: no model {model_id!r}; it lists "
                            f"{', '.join(m.id for m in self.models)}")



def _drop_defaults(d: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if not (k in defaults and v == defaults[k])}


def _part_dict(p: SplitPart) -> dict[str, Any]:
    d = asdict(p)
    if isinstance(p.subjects, tuple):
        d["subjects"] = list(p.subjects)
    if p.recordings is not None:
        d["recordings"] = list(p.recordings)
    return d


class _Ctx:
    """Error reporting with file:line for a path in the resolved document."""

    def __init__(self, marks: Marks, fname: str) -> None:
        self.marks = marks
        self.fname = fname

    def error(self, path: tuple, msg: str) -> ProtocolError:
        return ProtocolError(f"{location(self.marks, path, self.fname)}: {msg}")

    def keys(self, d: Any, path: tuple, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> dict:
        where = format_path(path)
        if not isinstance(d, dict):
            raise self.error(path, f"{where} must be a mapping with keys {', '.join(allowed)}; "
                                   f"got {type(d).__name__} {d!r}")
        for k in d:
            if k not in allowed:
                hint = did_you_mean(k, allowed, n=1, cutoff=0.6) or f"; allowed keys: {', '.join(allowed)}"
                raise self.error(path + (k,), f"unknown key {k!r} in {where}{hint}")
        for k in required:
            if k not in d:
                raise self.error(path, f"{where} is missing required key {k!r}")
        return d

    def typed(self, d: dict, key: str, path: tuple, types: tuple[type, ...], tname: str, default: Any = None,
              *, minimum: float | None = None, maximum: float | None = None, nullable: bool = True) -> Any:
        if key not in d:
            return default
        v = d[key]
        if v is None and nullable:
            return None
        ok = isinstance(v, types) and not (isinstance(v, bool) and bool not in types)
        if not ok:
            raise self.error(path + (key,), f"{format_path(path + (key,))} must be {tname}; "
                                            f"got {type(v).__name__} {v!r}")
        if isinstance(v, float) and not math.isfinite(v):
            raise self.error(path + (key,), f"{format_path(path + (key,))} must be a finite number; got {v!r}")
        if minimum is not None and v < minimum:
            raise self.error(path + (key,), f"{format_path(path + (key,))} must be >= {minimum}; got {v!r}")
        if maximum is not None and v > maximum:
            raise self.error(path + (key,), f"{format_path(path + (key,))} must be <= {maximum}; got {v!r}")
        return v


def _check_numbers(ctx: _Ctx, data: Any) -> None:
    """No NaN/inf and no integer beyond 2**63 anywhere in a protocol (seeds, windows, filters, overrides, generate
    arguments, reference values): checked once over the whole resolved document, iteratively."""
    stack: list[tuple[tuple, Any]] = [((), data)]
    while stack:
        path, v = stack.pop()
        if isinstance(v, dict):
            stack.extend((path + (k,), x) for k, x in v.items())
        elif isinstance(v, list):
            stack.extend((path + (i,), x) for i, x in enumerate(v))
        elif isinstance(v, float) and not math.isfinite(v):
            raise ctx.error(path, f"{format_path(path)} must be a finite number; got {v!r}")
        elif isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 2**63:
            raise ctx.error(path, f"{format_path(path)} is out of range ({v}); integers must be below 2**63")


def _scalar(v: Any) -> bool:
    return isinstance(v, (str, int, float, bool))


def _filter(ctx: _Ctx, f: Any, path: tuple) -> dict[str, Any]:
    if not isinstance(f, dict):
        raise ctx.error(path, f"{format_path(path)} must map metadata columns to a value, a list of values or "
                              f"{{ge/le/gt/lt: number}}; got {type(f).__name__}")
    out: dict[str, Any] = {}
    for col, cond in f.items():
        p = path + (col,)
        if not isinstance(col, str):
            raise ctx.error(p, f"filter column names must be strings; got {col!r}")
        if isinstance(cond, dict):
            ctx.keys(cond, p, _RANGE_OPS)
            if not cond:
                raise ctx.error(p, f"{format_path(p)}: empty range; use ge/le/gt/lt")
            for op, x in cond.items():
                if isinstance(x, bool) or not isinstance(x, (int, float)):
                    raise ctx.error(p + (op,), f"{format_path(p + (op,))} must be a number; got {x!r}")
            out[col] = dict(cond)
        elif isinstance(cond, list):
            if not cond or not all(_scalar(x) for x in cond):
                raise ctx.error(p, f"{format_path(p)} must be a non-empty list of scalar values; got {cond!r}")
            out[col] = list(cond)
        elif _scalar(cond):
            out[col] = cond
        else:
            raise ctx.error(p, f"{format_path(p)} must be a value, a list or a range; got {cond!r}")
    return out


def _part(ctx: _Ctx, d: Any, path: tuple, datasets: dict) -> SplitPart:
    ctx.keys(d, path, ("dataset", "subjects", "recordings", "filter"), ("dataset",))
    ds = d["dataset"]
    if ds not in datasets:
        raise ctx.error(path + ("dataset",), f"{format_path(path + ('dataset',))}: dataset {ds!r} is not declared "
                                             f"under datasets: (declared: {', '.join(datasets) or 'none'})")
    subjects: Any = d.get("subjects", "all")
    if subjects != "all":
        if not isinstance(subjects, list) or not subjects or not all(
                isinstance(s, (int, str)) and not isinstance(s, bool) for s in subjects):
            raise ctx.error(path + ("subjects",), f"{format_path(path + ('subjects',))} must be \"all\" or a "
                                                  f"non-empty list of subject ids; got {subjects!r}")
        if len(set(map(str, subjects))) != len(subjects):
            raise ctx.error(path + ("subjects",), f"{format_path(path + ('subjects',))} lists a subject twice")
        subjects = tuple(subjects)
    recordings = d.get("recordings")
    if recordings is not None:
        if "subjects" in d:
            raise ctx.error(path + ("recordings",), f"{format_path(path)}: give subjects or recordings, not both")
        if not isinstance(recordings, list) or not recordings or not all(isinstance(r, str) for r in recordings):
            raise ctx.error(path + ("recordings",), f"{format_path(path + ('recordings',))} must be a non-empty "
                                                    f"list of recording ids (strings); got {recordings!r}")
        recordings = tuple(recordings)
    filt = _filter(ctx, d["filter"], path + ("filter",)) if "filter" in d else {}
    return SplitPart(dataset=ds, subjects=subjects, recordings=recordings, filter=filt)


def _training(ctx: _Ctx, d: Any, path: tuple, base: TrainingSpec | None = None) -> TrainingSpec:
    allowed = ("epochs", "batch_size", "optimizer", "lr", "weight_decay", "scheduler", "seed", "selection",
               "max_steps_per_epoch", "loss", "source", "clip_stride")
    ctx.keys(d, path, allowed)
    base = base or TrainingSpec()
    num = (int, float)
    sel = ctx.typed(d, "selection", path, (str,), "'last' or 'best'", base.selection, nullable=False)
    if sel not in ("last", "best"):
        raise ctx.error(path + ("selection",), f"{format_path(path + ('selection',))} must be 'last' or 'best'; "
                                               f"got {sel!r}")
    lr = ctx.typed(d, "lr", path, num, "a number", base.lr, minimum=0, maximum=MAX_LR)
    scheduler = base.scheduler
    if d.get("scheduler") is not None:
        scheduler = d["scheduler"]
        p = path + ("scheduler",)
        if not isinstance(scheduler, dict) or not isinstance(scheduler.get("name"), str):
            raise ctx.error(p, f"{format_path(p)} must be a mapping {{name: onecycle|cosine|step|none, <torch "
                               f"keywords>}}; got {scheduler!r}")
        scheduler = copy.deepcopy(scheduler)
    wd = ctx.typed(d, "weight_decay", path, num, "a number", base.weight_decay, minimum=0, maximum=MAX_LR)
    return TrainingSpec(
        epochs=ctx.typed(d, "epochs", path, (int,), "an integer", base.epochs, minimum=1, maximum=MAX_EPOCHS),
        batch_size=ctx.typed(d, "batch_size", path, (int,), "an integer", base.batch_size, minimum=1,
                             maximum=MAX_BATCH),
        optimizer=ctx.typed(d, "optimizer", path, (str,), "an optimizer name", base.optimizer),
        lr=None if lr is None else float(lr),
        weight_decay=None if wd is None else float(wd),
        seed=ctx.typed(d, "seed", path, (int,), "an integer", base.seed, minimum=0, maximum=MAX_SEED,
                       nullable=False),
        selection=sel,
        max_steps_per_epoch=ctx.typed(d, "max_steps_per_epoch", path, (int,), "an integer",
                                      base.max_steps_per_epoch, minimum=1, maximum=MAX_STEPS),
        loss=ctx.typed(d, "loss", path, (str,), "a loss name", base.loss),
        scheduler=scheduler,
        clip_stride=ctx.typed(d, "clip_stride", path, (int,), "an integer (frames)", base.clip_stride, minimum=1,
                              maximum=MAX_STEPS),
        source=ctx.typed(d, "source", path, (str,), "a citation string", base.source, nullable=False),
    )


def _model(ctx: _Ctx, d: Any, path: tuple) -> ModelSpec:
    if isinstance(d, str):
        return ModelSpec(name=d, id=d)
    ctx.keys(d, path, ("name", "id", "overrides") + _MODEL_BLOCK_KEYS, ("name",))
    name = ctx.typed(d, "name", path, (str,), "a model name", nullable=False)
    if "id" in d and d["id"] is None:  # `id: null` is YAML's empty value, not the null baseline's id
        raise ctx.error(path + ("id",), f"{format_path(path + ('id',))} is empty; YAML reads a bare null as no "
                                        'value: quote it (id: "null") for the null baseline')
    mid = ctx.typed(d, "id", path, (str,), "a result id", name, nullable=False)
    overrides = ctx.typed(d, "overrides", path, (dict,), "a mapping", {}) or {}
    return ModelSpec(name=name, id=mid, overrides=dict(overrides), **_model_recipe_training(ctx, d, path, overrides))


#: a model entry's own blocks (besides name, id, overrides): see _model_recipe_training
_MODEL_BLOCK_KEYS = ("training", "recipe", "checkpoint")


def _model_recipe_training(ctx: _Ctx, d: dict, path: tuple, overrides: dict) -> dict[str, Any]:
    """A model's own ``training:`` and ``recipe:`` blocks -> the ModelSpec fields ``training``, ``recipe``,
    ``contract`` and ``recipe_source``.

    ``training`` takes the protocol training keys and ``source``. ``recipe`` is a recipe name or a mapping of
    recipe fields (``base: NAME`` starts from a named one) plus the contract keys :data:`RECIPE_CONTRACT_KEYS`
    and ``source``; a contract key may not also be given under ``overrides``."""
    tr = d.get("training") or {}
    _training(ctx, tr, path + ("training",))  # validate the keys and types
    recipe = d.get("recipe")
    rp = path + ("recipe",)
    contract: dict[str, Any] = {}
    source = ""
    if recipe is not None and not isinstance(recipe, (str, dict)):
        raise ctx.error(rp, f"{format_path(rp)} must be a recipe name or a mapping of recipe fields; got {recipe!r}")
    if isinstance(recipe, dict):
        recipe = copy.deepcopy(recipe)
        source = ctx.typed(recipe, "source", rp, (str,), "a citation string", "", nullable=False)
        recipe.pop("source", None)
        for k in RECIPE_CONTRACT_KEYS:
            if k in recipe:
                if k in overrides:
                    raise ctx.error(rp + (k,), f"{format_path(rp + (k,))}: {k} is given both here and under "
                                               "overrides; keep one")
                contract[k] = recipe.pop(k)
        if not recipe:
            recipe = None  # only contract keys: the datasets' recipes
        elif set(recipe) == {"base"} and isinstance(recipe["base"], str):
            recipe = recipe["base"]  # {base: NAME, source: ...} is the named recipe itself
    return {"training": dict(tr), "recipe": recipe, "contract": contract, "recipe_source": source,
            "checkpoint": _checkpoint(ctx, d.get("checkpoint"), path + ("checkpoint",))}


def _checkpoint(ctx: _Ctx, d: Any, path: tuple) -> dict[str, str] | None:
    """``checkpoint: PATH`` or ``{path: PATH, source: TEXT}`` (where the weights come from, e.g. a release URL)."""
    if d is None:
        return None
    if isinstance(d, str):
        d = {"path": d}
    if not isinstance(d, dict):
        raise ctx.error(path, f"{format_path(path)} must be a file path or {{path, source}}; got {d!r}")
    ctx.keys(d, path, ("path", "source"), ("path",))
    where = ctx.typed(d, "path", path, (str,), "a file path", nullable=False)
    source = ctx.typed(d, "source", path, (str,), "a text saying where the file comes from", "")
    if not where.strip():
        raise ctx.error(path + ("path",), f"{format_path(path + ('path',))} is empty")
    return {"path": where, "source": source or ""}


def _reference(ctx: _Ctx, d: Any, path: tuple) -> dict[str, Any]:
    ctx.keys(d, path, ("table", "source", "note", "values"), ("values",))
    vals = d["values"]
    p = path + ("values",)
    if not isinstance(vals, dict):
        raise ctx.error(p, f"{format_path(p)} must map model -> test dataset -> metric -> number")
    for m, per_ds in vals.items():
        if not isinstance(per_ds, dict):
            raise ctx.error(p + (m,), f"{format_path(p + (m,))} must map test dataset -> metric -> number")
        for ds, per_metric in per_ds.items():
            if not isinstance(per_metric, dict):
                raise ctx.error(p + (m, ds), f"{format_path(p + (m, ds))} must map metric -> number")
            for metric, value in per_metric.items():
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ctx.error(p + (m, ds, metric), f"{format_path(p + (m, ds, metric))} must be a number; "
                                                         f"got {value!r}")
    return copy.deepcopy(d)


def validate_protocol_dict(data: dict, marks: Marks, fname: str, *, stem: str | None = None,
                           files: tuple[str, ...] = ()) -> Protocol:
    """Validate a resolved protocol mapping. ``stem`` (the file stem) must equal ``protocol`` when given."""
    ctx = _Ctx(marks, fname)
    _check_numbers(ctx, data)
    top = ("protocol", "version", "description", "citation", "datasets", "splits", "models", "training",
           "evaluation", "reference")
    ctx.keys(data, (), top, ("protocol", "version", "citation", "datasets", "splits", "models"))
    name = ctx.typed(data, "protocol", (), (str,), "a string", nullable=False)
    if stem is not None and name != stem:
        raise ctx.error(("protocol",), f"protocol must equal the file stem {stem!r}; got {name!r}")
    version = ctx.typed(data, "version", (), (int,), "an integer", minimum=1, nullable=False)
    description = ctx.typed(data, "description", (), (str,), "a string", "") or ""

    cit = ctx.keys(data["citation"], ("citation",), ("paper", "table", "doi", "url", "code", "note"), ("paper",))
    for k, v in cit.items():
        if not isinstance(v, str):
            raise ctx.error(("citation", k), f"citation.{k} must be a string; got {v!r}")
    citation = Citation(**cit)

    dsd = data["datasets"]
    if not isinstance(dsd, dict) or not dsd:
        raise ctx.error(("datasets",), "datasets must be a non-empty mapping dataset -> {recipe, generate}")
    datasets: dict[str, DatasetSpec] = {}
    for ds, spec in dsd.items():
        p = ("datasets", ds)
        if ds not in DATASETS:  # the registry: built-in adapters, plugins, and datasets registered at run time
            hint = did_you_mean(ds, DATASETS.names(), n=1) or f"; known: {', '.join(DATASETS.names())}"
            raise ctx.error(p, f"unknown dataset {ds!r} in datasets{hint}")
        spec = {} if spec is None else spec
        ctx.keys(spec, p, ("recipe", "generate"))
        recipe = spec.get("recipe", "skin72")
        if not isinstance(recipe, (str, dict)):
            raise ctx.error(p + ("recipe",), f"datasets.{ds}.recipe must be a recipe name or a mapping of recipe "
                                             f"fields; got {recipe!r}")
        gen = spec.get("generate")
        if gen is not None:
            if ds != "synthetic":
                raise ctx.error(p + ("generate",), f"datasets.{ds}.generate is only allowed for 'synthetic'")
            if not isinstance(gen, dict):
                raise ctx.error(p + ("generate",), "datasets.synthetic.generate must be a mapping of "
                                                   "write_raw_dataset keyword arguments")
        datasets[ds] = DatasetSpec(name=ds, recipe=copy.deepcopy(recipe), generate=copy.deepcopy(gen))

    sd = ctx.keys(data["splits"], ("splits",), SPLIT_NAMES, ("test",))
    splits: dict[str, tuple[SplitPart, ...]] = {}
    for split, parts in sd.items():
        p = ("splits", split)
        if isinstance(parts, dict):
            splits[split] = (_part(ctx, parts, p, datasets),)
        elif isinstance(parts, list) and parts:
            splits[split] = tuple(_part(ctx, x, p + (i,), datasets) for i, x in enumerate(parts))
        else:
            raise ctx.error(p, f"splits.{split} must be a part {{dataset, subjects|recordings, filter}} or a "
                               f"non-empty list of parts; got {parts!r}")

    md = data["models"]
    if not isinstance(md, list) or not md:
        raise ctx.error(("models",), "models must be a non-empty list of model names or {name, overrides}")
    models = tuple(_model(ctx, m, ("models", i)) for i, m in enumerate(md))
    ids = [m.id for m in models]
    for i, mid in enumerate(ids):
        if ids.index(mid) != i:
            raise ctx.error(("models", i), f"models[{i}]: id {mid!r} appears twice; give one of them an id:")
        try:
            from rppgbench._checks import check_safe_id

            check_safe_id(f"models[{i}] id", mid)
        except ValueError as exc:
            raise ctx.error(("models", i), str(exc)) from None

    training = _training(ctx, data.get("training") or {}, ("training",))

    ed = ctx.keys(data.get("evaluation") or {}, ("evaluation",), ("profile", "window_s", "hr_method", "metrics"))
    ev_default = EvaluationSpec()
    methods = " or ".join(repr(m) for m in HR_METHODS)
    hr_method = ctx.typed(ed, "hr_method", ("evaluation",), (str,), methods, ev_default.hr_method, nullable=False)
    if hr_method not in HR_METHODS:
        raise ctx.error(("evaluation", "hr_method"), f"evaluation.hr_method must be {methods}; got {hr_method!r}")
    window = ctx.typed(ed, "window_s", ("evaluation",), (int, float), "a number of seconds or null",
                       ev_default.window_s, minimum=1e-9, maximum=MAX_WINDOW_S) if "window_s" in ed \
        else ev_default.window_s
    metrics = ed.get("metrics", list(ev_default.metrics))
    if not isinstance(metrics, list) or not metrics or not all(isinstance(m, str) for m in metrics):
        raise ctx.error(("evaluation", "metrics"),
                        f"evaluation.metrics must be a list of metric names; got {metrics!r}")
    evaluation = EvaluationSpec(
        profile=ctx.typed(ed, "profile", ("evaluation",), (str,), "a profile name", ev_default.profile,
                          nullable=False),
        window_s=None if window is None else float(window), hr_method=hr_method, metrics=tuple(metrics))

    reference = _reference(ctx, data["reference"], ("reference",)) if data.get("reference") is not None else {}
    if reference:
        model_ids = set(ids) | {m.name for m in models}
        for m, per_ds in reference["values"].items():
            if m not in model_ids:
                raise ctx.error(("reference", "values", m), f"reference.values: model {m!r} is not in models "
                                                            f"({', '.join(ids)})")
            for ds in per_ds:
                if ds not in datasets:
                    raise ctx.error(("reference", "values", m, ds), f"reference.values.{m}: dataset {ds!r} is not "
                                                                    "declared under datasets:")
    return Protocol(name=name, version=version, citation=citation, datasets=datasets, splits=splits, models=models,
                    training=training, evaluation=evaluation, reference=reference, description=description,
                    path=fname, files=tuple(files))


def include_roots(path: str | Path, root: str | Path | None = None) -> tuple[Path, ...]:
    """Folders the includes of protocol file ``path`` may read from: the protocols root (``root``, default
    :func:`rppgbench.protocols.protocols_root`), the file's own folder, and the working directory when the file
    lies below it (a user's own protocol tree, e.g. ``myprotocols/<family>/x.yaml`` including ``../_base/y.yaml``).
    Anything else (``include: ../../etc/passwd``) is refused."""
    from rppgbench.protocols import protocols_root

    p = Path(path).resolve()
    roots = [protocols_root(root).resolve(), p.parent]
    cwd = Path.cwd().resolve()
    if cwd in p.parents and cwd != Path(cwd.anchor):
        roots.append(cwd)
    return tuple(roots)


def load_protocol_file(path: str | Path, root: str | Path | None = None) -> Protocol:
    """Load, include-resolve and validate one protocol file (includes limited to :func:`include_roots`)."""
    from rppgbench.protocols.loader import load_resolved

    data, marks, files = load_resolved(path, roots=include_roots(path, root))
    return validate_protocol_dict(data, marks, files[0], stem=Path(path).stem, files=tuple(files))
