"""ONNX export of a registered neural model and onnxruntime inference with the contract carried in the file.

``export_onnx`` traces the model's module-by-module path (fast CPU paths off, eval mode) at its contract input
``1 x C x (clip_len + extra_frames) x H x W`` (batch 1, static shapes), writes the graph with input ``input`` and
output ``bvp`` and stores the contract as JSON in the file's ``metadata_props`` (key ``rppgbench.contract``):
every :class:`~rppgbench.models.ModelCfg` field, so ``rppgbench infer --onnx`` knows the clip length, frame size,
input view and frame rate without the registry. It then runs the file with onnxruntime on a random input and
reports the largest absolute difference from PyTorch.

The exporter is PyTorch's TorchScript-based one (``dynamo=False``: fast, no extra dependency); when it cannot
translate an operator, the ``torch.export``-based exporter (needs ``onnxscript``) is tried.

onnx and onnxruntime are the optional extra ``rppgbench[onnx]``; without them a :class:`MissingDependencyError`
says what to install.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from rppgbench import __version__
from rppgbench._checks import RppgbenchError
from rppgbench._logging import logger

__all__ = ["export_onnx", "OnnxModel", "read_contract", "MissingDependencyError", "CONTRACT_KEY", "ONNX_EXTRA"]

CONTRACT_KEY = "rppgbench.contract"
ONNX_EXTRA = 'pip install "rppgbench[onnx]"  (onnx and onnxruntime)'


class MissingDependencyError(RppgbenchError):
    """An optional dependency is not installed."""


def _need(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(f"{module} is not installed; ONNX export and inference need it: "
                                     f"{ONNX_EXTRA}") from None


def _contract_json(cfg: Any) -> str:
    return json.dumps({"cfg": dataclasses.asdict(cfg), "rppgbench_version": __version__}, sort_keys=True)


def export_onnx(model: Any, out: str | os.PathLike, *, checkpoint: str | None = None, opset: int = 18,
                seed: int = 0, check: bool = True) -> dict[str, Any]:
    """Export ``model`` (a registered name or a model built by ``create_model``) to ``out``.

    Returns ``{"path", "model", "input_shape", "exporter", "max_abs_diff"}`` (``max_abs_diff`` is None with
    ``check=False``). The file is written to a temporary name and renamed, so a failed export leaves nothing.
    """
    import torch

    from rppgbench.models import create_model
    from rppgbench.models._base import reference_path
    from rppgbench.models._checkpoint import load_checkpoint

    onnx = _need("onnx")
    if check:
        _need("onnxruntime")
    if isinstance(model, str):
        model = create_model(model, checkpoint=checkpoint)
    elif checkpoint is not None:
        load_checkpoint(model, checkpoint)
    cfg = getattr(model, "cfg", None)
    if cfg is None or cfg.kind != "neural" or cfg.clip_len is None or cfg.frame_size is None:
        raise ValueError(f"export_onnx: needs a neural model with a fixed clip length and frame size; got {model!r}")
    model = model.cpu().eval()
    shape = (1, cfg.channels, cfg.clip_len + cfg.extra_frames, cfg.frame_size, cfg.frame_size)
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(*shape, generator=g) * 255.0 if cfg.input_view == "raw" else torch.randn(*shape, generator=g)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    exporter = "torchscript"
    try:
        with reference_path(model), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                torch.onnx.export(model, (x,), str(tmp), input_names=["input"], output_names=["bvp"],
                                  opset_version=opset, dynamo=False)
            except torch.onnx.errors.UnsupportedOperatorError as exc:
                _need("onnxscript")
                logger.info("%s: TorchScript ONNX exporter failed (%s); using the torch.export-based one",
                            cfg.name, exc)
                exporter = "dynamo"
                torch.onnx.export(model, (x,), str(tmp), input_names=["input"], output_names=["bvp"],
                                  opset_version=opset, dynamo=True, external_data=False)
        proto = onnx.load(str(tmp))
        entry = proto.metadata_props.add()
        entry.key, entry.value = CONTRACT_KEY, _contract_json(cfg)
        onnx.save(proto, str(tmp))
        diff = None
        if check:
            with torch.no_grad(), reference_path(model):
                want = model(x).numpy()
            got = OnnxModel(tmp).run(x.numpy())
            diff = float(np.abs(got - want).max())
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("exported %s to %s (%s exporter, max |onnx - torch| = %s)", cfg.name, out, exporter, diff)
    return {"path": out, "model": cfg.name, "input_shape": shape, "exporter": exporter, "max_abs_diff": diff}


def read_contract(path: str | os.PathLike) -> Any:
    """The :class:`~rppgbench.models.ModelCfg` stored in an exported file (ValueError naming the file when the
    file has none)."""
    from rppgbench.models import ModelCfg

    onnx = _need("onnx")
    path = Path(path)
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError/ValueError/... for a file that is not ONNX
        raise ValueError(f"{path}: not an ONNX model ({type(exc).__name__}: {exc})") from None
    meta = {p.key: p.value for p in proto.metadata_props}
    if CONTRACT_KEY not in meta:
        raise ValueError(f"{path}: no '{CONTRACT_KEY}' in the ONNX metadata; export the model with "
                         f"`rppgbench export` so that its input contract travels with it")
    try:
        fields = json.loads(meta[CONTRACT_KEY])["cfg"]
        known = {f.name for f in dataclasses.fields(ModelCfg)}
        return ModelCfg(**{k: v for k, v in fields.items() if k in known})
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: unreadable '{CONTRACT_KEY}' metadata ({exc})") from None


class OnnxModel:
    """An exported model run by onnxruntime, usable where the prediction code expects a model.

    ``cfg`` is the contract read from the file; calling it with a ``B x C x T' x H x W`` float32 tensor runs
    the batch-1 graph once per sample and returns a ``B x clip_len`` tensor. ``to``/``eval``/``train`` exist
    for that code and do nothing (onnxruntime runs on the CPU here).
    """

    training = False

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        ort = _need("onnxruntime")
        self.path = Path(path)
        self.cfg = read_contract(self.path)
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = int(threads)
        self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.input_shape = tuple(self.session.get_inputs()[0].shape)

    def run(self, x: np.ndarray) -> np.ndarray:
        """numpy ``B x C x T' x H x W`` float32 -> ``B x clip_len``."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 5 or tuple(x.shape[1:]) != self.input_shape[1:]:
            raise ValueError(f"{self.path.name}: input must be B x {' x '.join(map(str, self.input_shape[1:]))}; "
                             f"got {tuple(x.shape)}")
        return np.concatenate([self.session.run(None, {self.input_name: x[i:i + 1]})[0] for i in range(len(x))])

    def __call__(self, x: Any) -> Any:
        import torch

        return torch.from_numpy(self.run(x.detach().cpu().numpy()))

    def to(self, *args: Any, **kwargs: Any) -> OnnxModel:
        return self

    def eval(self) -> OnnxModel:
        return self

    def train(self, mode: bool = True) -> OnnxModel:
        return self

    def latency_ms(self, repeats: int = 3) -> float:
        """Median wall time of one batch-1 run on a random input of the contract shape."""
        x = np.random.default_rng(0).random(self.input_shape, dtype=np.float32) * 255
        self.run(x)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            self.run(x)
            times.append((time.perf_counter() - t0) * 1000)
        return float(np.median(times))
