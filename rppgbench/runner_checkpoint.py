"""Checkpoint evaluation in a protocol run: a model with weights to evaluate is tested only, never trained.

The weights come from the protocol (``models: [{name, checkpoint: PATH | {path, source}}]``; a relative path is
read from the protocol file's folder, else from an included file's folder) or from the command line
(``rppgbench run P --checkpoint ID=PATH``, which wins). Before any store is opened, :func:`attach_checkpoints`
checks each file: it exists, it is read with ``torch.load(weights_only=True)`` and it fits the model exactly
(the model module's ``checkpoint_filter_fn`` maps released layouts such as FactorizePhys's ``module.``-prefixed
DataParallel keys); otherwise the error names the file and lists every missing, unexpected and mis-shaped key.
The file's sha256, size and source go into the model's results entry (``models.<id>.checkpoint``), the
provenance (``provenance.checkpoints``) and the report.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from rppgbench._checks import CheckpointError, ProtocolError
from rppgbench._util import sha256_file

__all__ = ["attach_checkpoints", "load_for_eval", "CLI_SOURCE"]

#: the ``source`` recorded for a checkpoint given with ``--checkpoint ID=PATH``
CLI_SOURCE = "command line (--checkpoint)"


def _resolve(proto: Any, spec: dict[str, Any], from_cli: bool) -> Path:
    """A relative protocol path is read from the protocol file's folder, else from the folder of the first
    included file that has it (a protocol that includes a shipped one keeps the shipped weights)."""
    path = Path(spec["path"]).expanduser()
    if path.is_absolute() or from_cli or not proto.path:
        return path
    folders = [Path(proto.path).parent] + [Path(f).parent for f in getattr(proto, "files", ())[1:]]
    return next((d / path for d in folders if (d / path).is_file()), folders[0] / path)


def attach_checkpoints(proto: Any, plans: list[Any], cli: dict[str, str]) -> None:
    """Give each model plan its checkpoint (protocol field, then ``cli`` ``{model id: path}``), check the file fits
    the model and record ``{path, source, sha256, bytes}`` on the plan. Raises before any work."""
    ids = [mp.id for mp in plans]
    unknown = sorted(set(cli) - set(ids))
    if unknown:
        raise ProtocolError(f"--checkpoint: model id(s) {', '.join(unknown)} not in this run (it runs "
                            f"{', '.join(ids)})")
    for mp in plans:
        from_cli = mp.id in cli
        spec = {"path": cli[mp.id], "source": CLI_SOURCE} if from_cli else mp.checkpoint
        if spec is None:
            continue
        where = "--checkpoint" if from_cli else f"{proto.path}: model {mp.id}: checkpoint"
        if mp.cfg.kind != "neural":
            raise ProtocolError(f"{where}: model {mp.id} ({mp.name}) is {mp.cfg.kind}: it has no weights to load")
        path = _resolve(proto, spec, from_cli)
        if not path.is_file():
            raise CheckpointError(f"{where}: checkpoint file {path} does not exist")
        _build_and_load(mp, path)  # fits the model, or a CheckpointError naming the file and every bad key
        mp.checkpoint = {"path": str(path.resolve()), "source": spec.get("source") or "", "sha256": sha256_file(path),
                         "bytes": path.stat().st_size}


def _build_and_load(mp: Any, path: Path) -> Any:
    from rppgbench.models import create_model
    from rppgbench.models._checkpoint import load_checkpoint

    model = create_model(mp.name, **mp.overrides)
    load_checkpoint(model, path)  # strict; torch.load(weights_only=True)
    return model


def load_for_eval(mp: Any) -> tuple[Any, dict[str, Any]]:
    """The model of ``mp`` holding its checkpoint's weights (the file must still have the sha256 checked at plan
    time), and the ``training`` entry of its results: ``{"evaluated_from_checkpoint": {...}}``."""
    ck = mp.checkpoint
    path = Path(ck["path"])
    now = sha256_file(path)
    if now != ck["sha256"]:
        raise CheckpointError(f"checkpoint {path} changed during the run (sha256 {ck['sha256'][:12]}… at start, "
                              f"{now[:12]}… now)")
    model = _build_and_load(mp, path)
    return model, {"evaluated_from_checkpoint": dict(ck), "epochs": 0, "history": []}
