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
    "rppgbench.models.tscan",
    "rppgbench.models.deepphys",
    "rppgbench.models.efficientphys",
    "rppgbench.models.rhythmformer",
    "rppgbench.models.physnet",
    "rppgbench.models.physformer",
    "rppgbench.models.ibvpnet",
    "rppgbench.models.physmamba",
]

VIEWS = ("raw", "diffnormalized", "standardized")
#: model kinds: trained networks, parameter-free methods, null baselines (rppgbench.models.baseline)
KINDS = ("neural", "unsupervised", "baseline")
#: input layouts (see ModelCfg): 3-D clips, frames-before-channels clips, flattened per-frame batches
LAYOUTS = ("ncdhw", "ntchw", "frames")
OUTPUT_NORMS = ("none", "zscore")


@dataclass(frozen=True)
class ModelCfg:
    """What a model needs from the data, how it trains by default, and where it comes from.

    Contract fields (checked against the preprocessing recipe by the runner; see docs/models.md):

    ``clip_len``
        frames per clip (None = whole recording, e.g. unsupervised methods);
    ``extra_frames``
        additional trailing frames the model consumes. In the clip layouts (``ncdhw``, ``ntchw``) every clip
        carries them (FactorizePhys takes T+1 frames and returns T; they come from the recording, or the last
        frame is repeated at its end). In the ``frames`` layout they follow the whole flattened batch, as the
        last frame repeated (EfficientPhys takes N*T+1 frames and returns N*T, as the toolbox trainer feeds it);
    ``frame_size``
        square crop side in pixels;
    ``input_view`` / ``label_view``
        one of raw / diffnormalized / standardized (see docs/store_format.md); ``input_view`` may be a tuple of
        views, which are concatenated on the channel axis in that order (TS-CAN: ``("diffnormalized",
        "standardized")``, 6 channels);
    ``fps``
    ``channels``
        channels of the model input: 3 (RGB) per input view;
    ``layout``
        how a batch of clips is laid out for the model: ``ncdhw`` (B x C x T x H x W, 3-D models),
        ``ntchw`` (B x T x C x H x W, frames before channels: RhythmFormer) or ``frames`` (the clips of a batch
        flattened into one sequence of B*T frames, (B*T [+ extra_frames]) x C x H x W, for per-frame 2-D
        models: TS-CAN, DeepPhys, EfficientPhys); a ``frames`` model returns B*T values, one per frame;
    ``frame_multiple``
        ``clip_len`` must be a multiple of it (TS-CAN's temporal shift works on segments of frame_depth = 10
        frames); a contract that violates it cannot be built;
    ``output_norm``
        ``none`` or ``zscore``: normalisation of each clip's eval-mode output before a recording's clips are
        joined (RhythmFormer's trainer z-scores every predicted clip with its unbiased std).
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
    input_view: str | tuple[str, ...] = "raw"
    label_view: str = "standardized"
    fps: float = 30.0
    channels: int = 3
    layout: str = "ncdhw"
    frame_multiple: int = 1
    output_norm: str = "none"
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
        if isinstance(self.input_view, list):  # YAML/JSON give lists; the contract holds a tuple
            object.__setattr__(self, "input_view", tuple(self.input_view))
        views = self.input_views
        if not views or any(v not in VIEWS for v in views):
            raise ValueError(f"ModelCfg {self.name}: input_view must be one of {VIEWS} or a tuple of them; got "
                             f"{self.input_view!r}")
        if len(set(views)) != len(views):
            raise ValueError(f"ModelCfg {self.name}: input_view lists a view twice: {self.input_view!r}")
        if self.label_view not in VIEWS:
            raise ValueError(f"ModelCfg {self.name}: label_view must be one of {VIEWS}; got {self.label_view!r}")
        if self.kind not in KINDS:
            raise ValueError(f"ModelCfg {self.name}: kind must be one of {KINDS}; got {self.kind!r}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"ModelCfg {self.name}: layout must be one of {LAYOUTS}; got {self.layout!r}")
        if self.output_norm not in OUTPUT_NORMS:
            raise ValueError(f"ModelCfg {self.name}: output_norm must be one of {OUTPUT_NORMS}; got "
                             f"{self.output_norm!r}")
        for attr, low in (("frame_multiple", 1), ("extra_frames", 0), ("channels", 1)):
            v = getattr(self, attr)
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                raise ValueError(f"ModelCfg {self.name}: {attr} must be an integer >= {low}; got {v!r}")
        if self.channels % len(views):
            raise ValueError(f"ModelCfg {self.name}: channels={self.channels} cannot be split evenly over the "
                             f"{len(views)} input views {self.input_view!r}")
        if self.clip_len is not None and self.clip_len % self.frame_multiple:
            raise ValueError(f"model {self.name}: clip_len={self.clip_len} is not a multiple of "
                             f"frame_multiple={self.frame_multiple} (the model processes frames in groups of "
                             f"{self.frame_multiple}); use a clip_len such as "
                             f"{max(1, round(self.clip_len / self.frame_multiple)) * self.frame_multiple}")

    @property
    def input_views(self) -> tuple[str, ...]:
        """The input view(s) as a tuple, in channel order."""
        return (self.input_view,) if isinstance(self.input_view, str) else tuple(self.input_view)

    @property
    def view_label(self) -> str:
        """The input view(s) for display: ``diffnormalized+standardized``."""
        return "+".join(self.input_views)

    @property
    def clip_extra_frames(self) -> int:
        """Trailing frames every dataset clip carries (``extra_frames``, except in the ``frames`` layout, where
        they are added once per batch)."""
        return 0 if self.layout == "frames" else int(self.extra_frames)

    def input_shape(self, batch: int = 1, clip_len: int | None = None) -> tuple[int, ...]:
        """Shape of the model input for ``batch`` clips of ``clip_len`` (default ``self.clip_len``) frames."""
        t = self.clip_len if clip_len is None else clip_len
        if t is None or self.frame_size is None:
            raise ValueError(f"model {self.name}: no fixed input shape (clip_len={self.clip_len}, "
                             f"frame_size={self.frame_size})")
        s, c = int(self.frame_size), int(self.channels)
        if self.layout == "frames":
            return (batch * t + int(self.extra_frames), c, s, s)
        if self.layout == "ntchw":
            return (batch, t + int(self.extra_frames), c, s, s)
        return (batch, c, t + int(self.extra_frames), s, s)

    def replace(self, **changes: Any) -> ModelCfg:
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def fold_model_id(name: str) -> str:
    """The one spelling rule of model ids: ``.``, ``_`` and ``-`` are the same and case does not matter, so
    ``physfsunet.tiny`` (the registered name) and ``physfsunet_tiny`` (a protocol's id for it) name one model in
    ``ls``, ``run --models``, ``infer --model`` and ``submit --model``."""
    return name.lower().replace("_", ".").replace("-", ".")


MODELS: Registry[Callable[..., Any]] = Registry("model", fold=fold_model_id)
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
    name = MODELS.canonical(name)
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
    name = cfg.name
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
