"""Model registry and input contracts (torch-free).

Every model — neural or unsupervised — is registered under a name ``arch[.tag]`` with a :class:`ModelCfg`
that states its input contract. Protocols, loaders and the runner read the contract to pick
preprocessing and to refuse a mismatched store **before** any data is loaded.

Adding a model: write ``rppgbench/models/<arch>.py`` whose entrypoints are decorated with
``@register_model(ModelCfg(...))`` and add the module's name to ``MODEL_MODULES`` in ``__init__.py``.
"""
from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rppgbench._registry import Registry

__all__ = ["ModelCfg", "MODELS", "register_model", "create_model", "list_models", "model_cfg", "MODEL_MODULES"]

#: modules whose import registers models (torch-importing ones are loaded only when a model is needed)
MODEL_MODULES: list[str] = [
    "rppgbench.models.unsupervised",
    "rppgbench.models.factorizephys",
    "rppgbench.models.phasenet",
    "rppgbench.models.physfsunet",
]

VIEWS = ("raw", "diffnormalized", "standardized")


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
    kind: str = "neural"  # "neural" | "unsupervised"
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
        if self.kind not in ("neural", "unsupervised"):
            raise ValueError(f"ModelCfg {self.name}: kind must be 'neural' or 'unsupervised'; got {self.kind!r}")

    def replace(self, **changes: Any) -> ModelCfg:
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


MODELS: Registry[Callable[..., Any]] = Registry("model")
_CFGS: dict[str, ModelCfg] = {}
_loaded = False


def register_model(cfg: ModelCfg) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator for an entrypoint ``fn(**overrides) -> model`` registered as ``cfg.name``."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        MODELS.register(cfg.name, fn)
        _CFGS[cfg.name] = cfg
        fn.cfg = cfg  # type: ignore[attr-defined]
        return fn

    return deco


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    for mod in MODEL_MODULES:
        importlib.import_module(mod)
    _loaded = True


def list_models(kind: str | None = None, include_tiny: bool = True) -> list[str]:
    """Registered model names (imports the model modules, hence torch)."""
    _load_all()
    return [n for n in MODELS.names()
            if (kind is None or _CFGS[n].kind == kind) and (include_tiny or not _CFGS[n].tiny)]


def model_cfg(name: str) -> ModelCfg:
    """The registered contract of ``name``."""
    _load_all()
    MODELS.get(name)  # raises with suggestions when unknown
    return _CFGS[name]


def create_model(name: str, checkpoint: str | None = None, **overrides: Any) -> Any:
    """Build model ``name``. Overrides that name ModelCfg fields update ``model.cfg``; all are passed to the
    entrypoint. With ``checkpoint`` the weights are loaded strictly (``weights_only=True``)."""
    _load_all()
    fn = MODELS.get(name)
    cfg = _CFGS[name]
    model = fn(**overrides)
    fields = {f.name for f in dataclasses.fields(ModelCfg)}
    cfg_changes = {k: v for k, v in overrides.items() if k in fields and k != "name"}
    try:
        model.cfg = cfg.replace(**cfg_changes) if cfg_changes else cfg
    except AttributeError:  # objects with __slots__
        pass
    if checkpoint is not None:
        from rppgbench.models._checkpoint import load_checkpoint  # torch

        load_checkpoint(model, checkpoint)
    return model
