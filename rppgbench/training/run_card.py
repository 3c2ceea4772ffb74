"""What a run's checkpoint was trained on: ``model.json`` beside ``checkpoints/<model>/model.pt``.

``rppgbench run`` writes it after training; ``rppgbench infer --checkpoint .../model.pt`` reads it, so the video is
cropped and converted exactly as the training data was (crop size, views, detector) and the model is built with
the run's overrides (e.g. ``frame_size: 32``). The weights file itself stays a plain ``state_dict``.

Fields: ``format``, ``model`` (registered name), ``model_id`` (the protocol's id), ``overrides``, ``config``
(the effective ModelCfg), ``recipes`` (dataset -> recipe dict, as in results.json provenance), ``protocol``,
``checkpoint_sha256``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rppgbench._checks import CheckpointError
from rppgbench._util import atomic_write_text, json_clean, sha256_file

__all__ = ["RUN_CARD_FORMAT", "run_card_path", "write_run_card", "read_run_card"]

RUN_CARD_FORMAT = "rppgbench-run-card/1"
_MAX_BYTES = 1 << 20


def run_card_path(checkpoint: str | os.PathLike) -> Path:
    return Path(checkpoint).with_suffix(".json")


def write_run_card(checkpoint: str | os.PathLike, *, model: str, model_id: str, overrides: dict[str, Any],
                   config: dict[str, Any], recipes: dict[str, dict[str, Any]], protocol: str) -> Path:
    path = run_card_path(checkpoint)
    card = {"format": RUN_CARD_FORMAT, "model": model, "model_id": model_id, "overrides": overrides,
            "config": config, "recipes": recipes, "protocol": protocol,
            "checkpoint_sha256": sha256_file(checkpoint)}
    atomic_write_text(path, json.dumps(json_clean(card), indent=2, sort_keys=True) + "\n")
    return path


def read_run_card(checkpoint: str | os.PathLike) -> dict[str, Any] | None:
    """The card of ``checkpoint`` (``None`` when there is none). A card that is malformed, or that belongs to
    other weights (sha256), is a :class:`~rppgbench._checks.CheckpointError` naming the file."""
    path = run_card_path(checkpoint)
    if not path.is_file():
        return None
    if path.stat().st_size > _MAX_BYTES:
        raise CheckpointError(f"{path}: run card larger than {_MAX_BYTES} bytes")
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(card, dict) or card.get("format") != RUN_CARD_FORMAT:
        raise CheckpointError(f"{path}: expected a run card with format {RUN_CARD_FORMAT!r}")
    for key, typ in (("model", str), ("overrides", dict), ("recipes", dict)):
        if not isinstance(card.get(key), typ):
            raise CheckpointError(f"{path}: field {key!r} must be a {typ.__name__}; got {card.get(key)!r}")
    sha = card.get("checkpoint_sha256")
    if sha is not None and sha != sha256_file(checkpoint):
        raise CheckpointError(f"{path}: written for other weights (sha256 {str(sha)[:12]}..., {checkpoint} has "
                              f"{sha256_file(checkpoint)[:12]}...); delete it or use the checkpoint it belongs to")
    return card
