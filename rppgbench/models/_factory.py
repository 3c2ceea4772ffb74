"""Model registry and input contracts (torch-free).

Every model — neural or unsupervised — is registered under a name ``arch[.tag]`` with a :class:`ModelCfg`
that states its input contract. Protocols, loaders and the runner read the contract to pick
preprocessing and to refuse a mismatched store **before** any data is loaded.

Adding a model: write ``rppgbench/models/<arch>.py`` whose entrypoints ``fn(cfg, **kwargs)`` are decorated with
``@register_model(ModelCfg(...))`` and add the module's name to :data:`MODEL_MODULES` below. The contracts are
read from the module's source (:mod:`rppgbench.models._cards`), so listing models and validating protocols never
import torch; the module itself is imported when a model is built.
"""
from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rppgbench._registry import Registry, RegistryError

__all__ = ["ModelCfg", "MODELS", "register_model", "register_model_lazy", "create_model", "list_models", "model_cfg",
           "split_overrides", "MODEL_MODULES"]

#: the model modules: their contracts are read from source, the modules are imported only to build a model
MODEL_MODULES: list[str] = [
    "rppgbench.models.unsupervised",
    "rppgbench.models.factorizephys",
    "rppgbench.models.phasenet",
    "rppgbench.models.physfsunet",
    "rppgbench.models.baseline",
]

VIEWS = ("raw", "diffnormalized", "standardized")
#: model kinds: trained networks, parameter-free methods, null baselines (rppgbench.models.baseline)
KINDS = ("neural", "unsupervised", "baseline")


@dataclass(frozen=True)
class ModelCfg:
    """What a model needs from the data, how it trains by default, and where it comes from.

    Contract fields (checked against the preprocessing recipe by the runner):
    ``clip_len`` frames per clip (None = whole recording, e.g. unsupervised methods); ``extra_frames``
    additional trailing frames the model consumes (FactorizePhys takes T+1 frames and returns T);
    ``frame_size`` square crop side in pixels; ``input_view`` / ``label_view`` one of
    raw / diffnormalized / standardized (see docs/store_format.md); ``fps``; ``channels``.
    """

    name: str
    arch: str
    kind: str = "neural"  # "neural" | "unsupervised" | "baseline" (a null model that ignores the video)
    paper: str = ""
    code_url: str = ""
    description: str = ""
    # input contract
    clip_len: int | None = 160
    extra_frames: int = 0
    frame_size: int | None = 72
    input_view: str = "raw"
    label_view: str = "standardized"
    fps: float = 30.0
    channels: int = 3
    # training defaults (a protocol may override)
    loss: str = "neg_pearson"
    loss_kwargs: dict[str, Any] = field(default_factory=dict)
    optimizer: dict[str, Any] = field(default_factory=lambda: {"name": "adam", "lr": 1e-3})
    scheduler: dict[str, Any] | None = None
    epochs: int = 10
    batch_size: int = 4
    # bookkeeping
    published_params: int | None = None
    tiny: bool = False
    weights: str | None = None  # where released weights come from (a URL or a note), never fetched

    def __post_init__(self) -> None:
        for attr in ("input_view", "label_view"):
            if getattr(self, attr) not in VIEWS:
                raise ValueError(f"ModelCfg {self.name}: {attr} must be one of {VIEWS}; got {getattr(self, attr)!r}")
        if self.kind not in KINDS:
            raise ValueError(f"ModelCfg {self.name}: kind must be one of {KINDS}; got {self.kind!r}")

    def replace(self, **changes: Any) -> ModelCfg:
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


MODELS: Registry[Callable[..., Any]] = Registry("model")
_CFGS: dict[str, ModelCfg] = {}
_TARGETS: dict[str, str] = {}  # name -> "module:function" of its entrypoint
_cards_read = False


def _register_cfg(cfg: ModelCfg, target: str, obj: Any = None) -> None:
    """Record ``cfg`` for ``target`` ("module:function"); ``obj`` is the entrypoint once it is imported."""
    if cfg.name in _CFGS:
        origin = _TARGETS[cfg.name]
        if origin != target:
            raise RegistryError(f"model {cfg.name!r} is already registered (by {origin}); {target} registers it "
                                f"again")
        if _CFGS[cfg.name] != cfg:
            raise RegistryError(f"model {cfg.name!r}: the contract {target} builds at import differs from the one "
                                f"read from its source; every field of a register_model(...) contract must be a "
                                f"literal or a module-level constant (see rppgbench/models/_cards.py)")
        if obj is not None:
            MODELS.fill(cfg.name, obj)
        return
    if obj is None:
        MODELS.register_lazy(cfg.name, target)
    else:
        MODELS.register(cfg.name, obj)
    _CFGS[cfg.name] = cfg
    _TARGETS[cfg.name] = target


def register_model(cfg: ModelCfg) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator for an entrypoint ``fn(cfg, **kwargs) -> model`` registered as ``cfg.name``.

    The entrypoint receives the effective contract (the registered one with any ModelCfg-field overrides applied)
    and the remaining keyword arguments (architecture options); :func:`create_model` sets ``model.cfg``.
    In a module listed in :data:`MODEL_MODULES`, ``cfg`` must be readable without importing the module: literals,
    module-level constants, ``ModelCfg(...)``, ``dict(...)`` and ``.replace(...)`` (see ``_cards``).
    """

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        _register_cfg(cfg, f"{fn.__module__}:{fn.__qualname__}", fn)
        fn.cfg = cfg  # type: ignore[attr-defined]
        return fn

    return deco


def register_model_lazy(cfg: ModelCfg, target: str) -> None:
    """Register ``cfg`` for the entrypoint ``"package.module:function"`` without importing it (plugins)."""
    if ":" not in str(target):
        raise RegistryError(f"model {cfg.name!r}: target must be 'module:function'; got {target!r}")
    _register_cfg(cfg, target)


def _read_cards() -> None:
    """Register every contract of :data:`MODEL_MODULES` from source (no module is imported)."""
    global _cards_read
    if _cards_read:
        return
    from rppgbench.models._cards import read_cards

    for mod in MODEL_MODULES:
        for card in read_cards(mod, ModelCfg):
            _register_cfg(card.cfg, card.target)
    _cards_read = True


def list_models(kind: str | None = None, include_tiny: bool = True) -> list[str]:
    """Registered model names (contracts are read from source: torch is not imported)."""
    _read_cards()
    return [n for n in MODELS.names()
            if (kind is None or _CFGS[n].kind == kind) and (include_tiny or not _CFGS[n].tiny)]


def model_cfg(name: str) -> ModelCfg:
    """The registered contract of ``name`` (torch is not imported)."""
    _read_cards()
    MODELS.meta(name)  # raises with suggestions when unknown
    return _CFGS[name]


def split_overrides(cfg: ModelCfg, overrides: dict[str, Any]) -> tuple[ModelCfg, dict[str, Any]]:
    """The one override rule: keys that name ModelCfg fields change the contract, the others are passed to the
    entrypoint. Returns ``(effective cfg, entrypoint keyword arguments)``. ``name`` cannot be overridden."""
    if "name" in overrides:
        raise ValueError(f"model {cfg.name}: 'name' cannot be overridden")
    fields = {f.name for f in dataclasses.fields(ModelCfg)}
    changes = {k: v for k, v in overrides.items() if k in fields}
    kwargs = {k: v for k, v in overrides.items() if k not in fields}
    return (cfg.replace(**changes) if changes else cfg), kwargs


def create_model(name: str, checkpoint: str | None = None, **overrides: Any) -> Any:
    """Build model ``name`` with ``overrides`` (see :func:`split_overrides`); the model carries the effective
    contract as ``model.cfg``. With ``checkpoint`` the weights are loaded strictly (``weights_only=True``)."""
    cfg, kwargs = split_overrides(model_cfg(name), overrides)
    fn = MODELS.get(name)  # imports the model's module (and torch, for neural models)
    accepted = inspect.signature(fn).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
        unknown = sorted(set(kwargs) - set(accepted))
        if unknown:
            raise ValueError(f"model {name}: unknown option(s) {', '.join(unknown)}; expected ModelCfg fields or "
                             f"arguments of {fn.__qualname__}: {', '.join(k for k in accepted if k != 'cfg')}")
    model = fn(cfg, **kwargs)
    try:
        model.cfg = cfg
    except AttributeError:  # objects with __slots__
        pass
    if checkpoint is not None:
        from rppgbench.models._checkpoint import load_checkpoint  # torch

        load_checkpoint(model, checkpoint)
    return model
