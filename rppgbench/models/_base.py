"""Small helpers shared by the neural models: the input-contract check and parameter/MAC counting.

The input contract of a neural model is ``B x C x (clip_len + extra_frames) x H x W`` (layout ``ncdhw``),
``B x T x C x H x W`` (``ntchw``) or ``N x C x H x W`` frames (``frames``: the clips of a batch flattened, for
per-frame 2-D models), see :class:`rppgbench.models.ModelCfg`. :class:`ContractMixin` checks it at the top of
``forward`` so that a mis-shaped batch fails with a message that names the expected and the found shape,
instead of a shape error deep inside a convolution (or, worse, a silently mis-viewed output).

Counting conventions (used by ``benchmarks/models.py`` and the tests):

``exact``
    every parameter of the module, including training-only branches;
``inference``
    the parameters the eval-mode output depends on (found with one eval-mode backward pass on a small input);
``thop``
    what ``thop.profile`` (0.1.x) reports: only modules whose **exact** type has a thop rule are counted, and
    only if they run in eval mode. A weight-normed conv (``torch.nn.utils.parametrizations.weight_norm``) has a
    generated subclass type, so thop does not see it; that is why PHASE-Net's published 0.29 M is smaller than
    its inference path (see docs/models.md).
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

__all__ = ["ContractMixin", "n_params", "param_counts", "count_macs", "THOP_PARAM_TYPES", "build_model",
           "reference_path"]


@contextlib.contextmanager
def reference_path(model: nn.Module) -> Iterator[nn.Module]:
    """Run ``model`` module by module: turn off every ``fast_cpu`` inference path inside it (PHASE-Net's
    channels-last encoder calls functional ops that bypass its ``Conv3d`` modules) and restore the flags after.

    The counters below use it: forward hooks see only modules that are called."""
    saved = [(m, m.fast_cpu) for m in model.modules() if isinstance(getattr(m, "fast_cpu", None), bool)]
    try:
        for m, _ in saved:
            m.fast_cpu = False
        yield model
    finally:
        for m, flag in saved:
            m.fast_cpu = flag


_AXES = {"ncdhw": ("B", "C", "T", "H", "W"), "ntchw": ("B", "T", "C", "H", "W"), "frames": ("N", "C", "H", "W")}


class ContractMixin:
    """Mixin for ``nn.Module`` models: ``self.check_input(x)`` validates the input contract.

    Subclasses set ``self.contract`` in ``__init__``: the sizes after the leading axis, in the order of
    ``self.layout`` -- ``(channels, frames, height, width)`` for ``ncdhw`` (the default), ``(frames, channels,
    height, width)`` for ``ntchw``, ``(channels, height, width)`` for ``frames``; ``None`` in a slot means "any
    size". A ``frames`` model also sets ``frame_multiple`` and ``frame_extra``: its frame count ``N`` must be
    ``frame_extra`` plus a positive multiple of ``frame_multiple``.
    """

    layout: str = "ncdhw"
    contract: tuple[int | None, ...] = (None, None, None, None)
    frame_multiple: int = 1
    frame_extra: int = 0
    #: (frames, side) of the smallest input every module still runs on (used for cheap parameter counting)
    small_input: tuple[int, int] = (4, 16)

    def small_example(self, batch: int = 1) -> torch.Tensor:
        """A random raw-pixel input of the small shape :attr:`small_input`, in the model's layout."""
        t, side = self.small_input
        if self.layout == "frames":
            c = self.contract[0] or 3
            return torch.rand(batch * t + self.frame_extra, c, side, side) * 255.0
        if self.layout == "ntchw":
            return torch.rand(batch, t, self.contract[1] or 3, side, side) * 255.0
        return torch.rand(batch, self.contract[0] or 3, t, side, side) * 255.0

    def check_input(self, x: torch.Tensor) -> None:
        name = type(self).__name__
        axes = _AXES[self.layout]
        expected = (axes[0],) + tuple("*" if c is None else c for c in self.contract)
        names = " x ".join(axes)
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name}: input must be a torch.Tensor of shape {_fmt(expected)}; got {type(x).__name__}")
        if x.ndim != len(axes):
            raise ValueError(f"{name}: input must be a {len(axes)}-D tensor {names} = {_fmt(expected)}; "
                             f"got {x.ndim}-D shape {tuple(x.shape)}")
        for axis, (want, got) in enumerate(zip(self.contract, x.shape[1:], strict=True), start=1):
            if want is not None and want != got:
                raise ValueError(f"{name}: input shape must be {_fmt(expected)} ({names}); got "
                                 f"{tuple(x.shape)} (axis {axis} is {got}, expected {want})")
        if self.layout == "frames":
            n = x.shape[0] - self.frame_extra
            if n < 1 or n % self.frame_multiple:
                extra = f" plus {self.frame_extra}" if self.frame_extra else ""
                raise ValueError(f"{name}: the number of frames must be a positive multiple of frame_multiple="
                                 f"{self.frame_multiple}{extra}; got {x.shape[0]} frames (shape {tuple(x.shape)})")
        if not x.is_floating_point():
            raise ValueError(f"{name}: input must be floating point (float32 pixels); got dtype {x.dtype}")


def _fmt(shape: tuple[Any, ...]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def n_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter values (``requires_grad`` ones only with ``trainable_only``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


#: module types thop 0.1.x has a rule for and that can hold parameters (matched by exact type, as thop does)
THOP_PARAM_TYPES: tuple[type, ...] = (
    nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d,
    nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, nn.LayerNorm,
    nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d, nn.PReLU, nn.Linear,
    nn.RNNCell, nn.GRUCell, nn.LSTMCell, nn.RNN, nn.GRU, nn.LSTM,
)


def _executed_modules(model: nn.Module, run: Callable[[], Any]) -> set[int]:
    seen: set[int] = set()
    handles = [m.register_forward_hook(lambda mod, inp, out: seen.add(id(mod))) for m in model.modules()]
    try:
        with reference_path(model):
            run()
    finally:
        for h in handles:
            h.remove()
    return seen


def param_counts(model: nn.Module, example: torch.Tensor | None = None) -> dict[str, int]:
    """Parameter counts of ``model`` under three conventions (module docstring).

    Parameters
    ----------
    model : nn.Module
        The model; its train/eval mode and its gradients are restored afterwards.
    example : Tensor, optional
        A valid input for the eval-mode forward. The counts do not depend on its size as long as every
        module runs. When omitted, a copy of a :class:`ContractMixin` model is run on its
        :meth:`~ContractMixin.small_example` (cheap even for large models).

    Returns
    -------
    dict with ``exact``, ``inference`` and ``thop`` (ints).
    """
    if example is None:
        if not isinstance(model, ContractMixin):
            raise ValueError(f"param_counts: pass an example input for {type(model).__name__} "
                             "(it has no small_example())")
        import copy

        model = copy.deepcopy(model)
        example = model.small_example()
        model.contract = tuple(example.shape[1:])  # type: ignore[assignment]
    was_training = model.training
    saved = {id(p): p.grad for p in model.parameters()}
    try:
        model.eval()
        for p in model.parameters():
            p.grad = None
        with torch.enable_grad():
            out = model(example)
            out = out["bvp"] if isinstance(out, dict) else out
            out.float().sum().backward()
        inference = sum(p.numel() for p in model.parameters() if p.grad is not None)
        with torch.no_grad():
            executed = _executed_modules(model, lambda: model(example))
        thop = 0
        for m in model.modules():
            if type(m) in THOP_PARAM_TYPES and id(m) in executed:
                thop += sum(p.numel() for p in m.parameters())
    finally:
        for p in model.parameters():
            p.grad = saved[id(p)]
        model.train(was_training)
    return {"exact": n_params(model), "inference": inference, "thop": thop}


def _conv_macs(m: nn.modules.conv._ConvNd, inp: torch.Tensor, out: torch.Tensor) -> int:
    k = 1
    for s in m.kernel_size:
        k *= s
    if isinstance(m, nn.modules.conv._ConvTransposeNd):
        # every input element is multiplied by (out_channels / groups) x kernel weights
        return inp.numel() * (m.out_channels // m.groups) * k
    return out.numel() * (m.in_channels // m.groups) * k


def _rnn_macs(m: nn.RNNBase, inp: torch.Tensor) -> int:
    gates = {"GRU": 3, "LSTM": 4}.get(m.mode, 1)
    seq = inp.shape[1] if m.batch_first else inp.shape[0]
    batch = inp.shape[0] if m.batch_first else inp.shape[1]
    dirs = 2 if m.bidirectional else 1
    total = 0
    for layer in range(m.num_layers):
        in_size = m.input_size if layer == 0 else m.hidden_size * dirs
        total += gates * (in_size + m.hidden_size) * m.hidden_size * dirs
    return total * seq * batch


def count_macs(model: nn.Module, example: torch.Tensor) -> dict[str, int]:
    """Multiply-accumulates of one eval-mode forward, counted with forward hooks.

    Counts convolutions (weight-normed ones included, bias ignored), transposed convolutions, linear layers
    (``in_features`` per output value) and GRU/LSTM/RNN matrix products (gates x (input + hidden) x hidden per
    step and layer). Element-wise work (norms, activations, pooling, softmax) is not counted.

    Returns ``{"conv": ..., "linear": ..., "rnn": ..., "total": ...}``.
    """
    counts = {"conv": 0, "linear": 0, "rnn": 0}

    def hook(mod: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        inp = inputs[0]
        if isinstance(mod, nn.modules.conv._ConvNd):
            counts["conv"] += _conv_macs(mod, inp, output)
        elif isinstance(mod, nn.Linear):
            counts["linear"] += (output.numel() // mod.out_features) * mod.in_features * mod.out_features
        elif isinstance(mod, nn.RNNBase):
            counts["rnn"] += _rnn_macs(mod, inp)

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear, nn.RNNBase))]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad(), reference_path(model):
            model(example)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    counts["total"] = counts["conv"] + counts["linear"] + counts["rnn"]
    return counts


def build_model(cls: type, cfg: Any, kwargs: dict[str, Any], **arch_defaults: Any) -> nn.Module:
    """Build ``cls`` for a registered entrypoint ``fn(cfg, **kwargs)``.

    ``cfg`` is the effective :class:`~rppgbench.models.ModelCfg`: its ``clip_len``, ``frame_size`` and
    ``channels`` are passed to ``cls``, and so is ``frame_multiple`` when ``cls`` takes it (contract fields are set
    through the contract, never as options). ``kwargs`` are constructor arguments of
    ``cls`` that override ``arch_defaults``. Unknown keys raise ValueError naming them. The model carries ``cfg``
    as ``model.cfg``.
    """
    import inspect

    params = set(inspect.signature(cls).parameters)
    from_cfg = {"clip_len", "frame_size", "channels"} | ({"frame_multiple"} & params)
    accepted = params - from_cfg
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise ValueError(f"model {cfg.name}: unknown option(s) {', '.join(unknown)}; expected ModelCfg fields or "
                         f"{cls.__name__} arguments: {', '.join(sorted(accepted))}")
    model = cls(**{k: getattr(cfg, k) for k in sorted(from_cfg)}, **{**arch_defaults, **kwargs})
    model.cfg = cfg
    return model
