"""Strict checkpoint loading shared by every neural model.

A checkpoint is read with ``torch.load(path, map_location="cpu", weights_only=True)`` -- never with
unrestricted unpickling. Accepted layouts:

* a plain state dict ``{key: Tensor}`` (what ``torch.save(model.state_dict(), path)`` writes), including one
  saved from a ``DataParallel`` / ``DistributedDataParallel`` wrapper (keys prefixed ``module.``), which is how
  the FactorizePhys authors saved their released weights;
* a dict holding such a state dict under ``"model"``, ``"state_dict"`` or ``"model_state_dict"`` (training
  checkpoints that also carry optimiser state and history).

Before ``load_state_dict`` the keys are passed through the model module's ``checkpoint_filter_fn(state_dict,
model)`` when it defines one (for example to rename legacy weight-norm keys). Loading is strict: missing,
unexpected and mis-shaped keys are all collected and reported together in one :class:`CheckpointError`.
"""
from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rppgbench._checks import CheckpointError
from rppgbench._logging import logger

__all__ = ["read_state_dict", "strip_prefix", "compare_state_dict", "load_checkpoint", "STATE_DICT_KEYS"]

#: keys under which a training checkpoint may hold the model's state dict
STATE_DICT_KEYS = ("model", "state_dict", "model_state_dict")

_WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``path`` with ``weights_only=True`` (layouts: module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist or is not a file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors come in many types (UnpicklingError, RuntimeError, EOFError, ...)
        raise CheckpointError(f"checkpoint {path}: not a loadable torch checkpoint with weights_only=True "
                              f"({type(exc).__name__}: {exc})") from exc
    if _is_state_dict(obj):
        return dict(obj)
    if isinstance(obj, Mapping):
        for key in STATE_DICT_KEYS:
            if key in obj and _is_state_dict(obj[key]):
                return dict(obj[key])
        found = ", ".join(repr(k) for k in list(obj)[:8])
        raise CheckpointError(f"checkpoint {path}: expected a state dict of tensors or a dict with one under "
                              f"{', '.join(repr(k) for k in STATE_DICT_KEYS)}; found keys {found or '(none)'}")
    raise CheckpointError(f"checkpoint {path}: expected a state dict (mapping of str to Tensor); "
                          f"found {type(obj).__name__}")


def strip_prefix(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove wrapper prefixes (``module.`` of DataParallel/DDP, ``_orig_mod.`` of torch.compile) when every
    key carries them."""
    sd = dict(state_dict)
    changed = True
    while changed and sd:
        changed = False
        for prefix in _WRAPPER_PREFIXES:
            if all(k.startswith(prefix) for k in sd):
                sd = {k[len(prefix):]: v for k, v in sd.items()}
                changed = True
    return sd


def compare_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor]
                       ) -> tuple[list[str], list[str], list[tuple[str, tuple[int, ...], tuple[int, ...]]]]:
    """(missing, unexpected, mismatched) keys of ``state_dict`` against ``model.state_dict()``; mismatched
    entries are ``(key, expected_shape, found_shape)``."""
    own = model.state_dict()
    missing = sorted(k for k in own if k not in state_dict)
    unexpected = sorted(k for k in state_dict if k not in own)
    mismatched = [(k, tuple(own[k].shape), tuple(state_dict[k].shape))
                  for k in sorted(own) if k in state_dict and tuple(own[k].shape) != tuple(state_dict[k].shape)]
    return missing, unexpected, mismatched


def _filter_fn(model: nn.Module) -> Any:
    module = sys.modules.get(type(model).__module__)
    return getattr(module, "checkpoint_filter_fn", None)


def _listing(items: list[str], limit: int = 20) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


def load_checkpoint(model: nn.Module, path: str | Path, *, strict: bool = True) -> dict[str, list[Any]]:
    """Load weights from ``path`` into ``model``.

    Parameters
    ----------
    model : nn.Module
        The model; if its defining module has ``checkpoint_filter_fn(state_dict, model)``, it is applied
        after the wrapper prefixes are stripped.
    path : str or Path
        The checkpoint file (layouts: module docstring).
    strict : bool
        With ``True`` (default) any missing, unexpected or mis-shaped key raises :class:`CheckpointError`
        listing all of them. With ``False`` mis-shaped keys still raise; missing/unexpected ones are logged
        as warnings and returned.

    Returns
    -------
    dict with the lists ``missing`` and ``unexpected`` (empty after a strict load).
    """
    state_dict = strip_prefix(read_state_dict(path))
    filt = _filter_fn(model)
    if filt is not None:
        state_dict = filt(state_dict, model)
    missing, unexpected, mismatched = compare_state_dict(model, state_dict)
    problems = []
    if mismatched:
        problems.append("mis-shaped keys (expected vs found): " + _listing(
            [f"{k} {list(e)} vs {list(f)}" for k, e, f in mismatched]))
    if strict and missing:
        problems.append(f"missing keys ({len(missing)}): " + _listing(missing))
    if strict and unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): " + _listing(unexpected))
    if problems:
        raise CheckpointError(f"checkpoint {path} does not fit {type(model).__name__}: " + "; ".join(problems))
    if missing or unexpected:
        logger.warning("checkpoint %s: loaded non-strictly; missing %s, unexpected %s", path, missing, unexpected)
    model.load_state_dict(state_dict, strict=strict)
    logger.info("loaded %d tensors from %s into %s", len(state_dict), path, type(model).__name__)
    return {"missing": missing, "unexpected": unexpected}
