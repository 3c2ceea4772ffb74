"""One generic trainer for every neural model (no per-model trainer classes).

Per-model behaviour comes from the model's :class:`~rppgbench.models.ModelCfg` (loss, optimiser, schedule,
epochs, batch size); :class:`TrainConfig` overrides any of it explicitly.

* **Device**: CUDA when present, else CPU (``TrainConfig.device`` overrides). Under DDP on CUDA each
  process uses ``cuda:LOCAL_RANK``.
* **Mixed precision** on CUDA (``torch.autocast`` float16 + ``GradScaler``); off on CPU.
* **Determinism**: python/numpy/torch seeded from ``seed``; ``torch.use_deterministic_algorithms(True,
  warn_only=True)`` during ``fit`` (the caller's setting is restored afterwards); a seeded ``DataLoader``
  generator and ``worker_init_fn``.
* **Checkpoints**: ``out_dir/last.pt`` after every epoch (model, optimiser, scheduler, scaler, epoch, RNG
  states of torch/CUDA/numpy/random and of the loader generator, history), written to a temporary file and
  renamed, loadable with ``torch.load(weights_only=True)``. ``out_dir/best.pt`` holds the weights of the
  lowest validation loss; ``out_dir/model.pt`` the selected final weights (a plain ``state_dict``).
* **Resume**: ``fit(..., resume=True)`` continues from ``last.pt``; on CPU with a fixed seed a resumed run
  is bit-identical to an uninterrupted one.
* **Selection**: ``"last"`` epoch (rPPG-Toolbox ``USE_LAST_EPOCH``) or ``"best"`` (lowest validation loss).
* **DDP** when launched by ``torchrun`` (see :mod:`rppgbench.training.distributed`): each rank trains its part
  of every single-process batch (``ShardBatchSampler``; ``batch_size`` stays the global batch), losses are
  weighted so ``DistributedDataParallel``'s gradient average is the global batch mean, losses all-reduced, only
  rank 0 writes files. The trained weights equal a single-process run's up to float summation order, except for
  layers that couple a batch (BatchNorm statistics, FactorizePhys's batch-global FSAM minimum) which see each
  rank's part only.

Model contract: dataset items are float32 ``C x (clip_len + extra_frames) x H x W`` clips; a batch is laid out
for the model by :func:`~rppgbench.training.data.model_input` (``cfg.layout``: 3-D clips, frames before channels,
or one flattened sequence of frames for per-frame 2-D models) and the output is brought back to ``(B, T)`` by
:func:`~rppgbench.training.data.model_output`. In training mode the model returns that tensor or
``{"bvp": ..., "aux_loss": scalar (already weighted), "logs": {...}}``; in eval mode the tensor. Before the
first step ``fit`` checks that the clips' frame count fits ``cfg.frame_multiple``.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from rppgbench._checks import CheckpointError, check_option, check_range
from rppgbench._logging import logger
from rppgbench._progress import Progress
from rppgbench._util import atomic_write
from rppgbench.training import distributed as D
from rppgbench.training.data import check_clip_frames, make_loader, model_input, model_output
from rppgbench.training.losses import get_loss

__all__ = ["TrainConfig", "Trainer", "build_optimizer", "build_scheduler", "resolve_device", "save_atomic",
           "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = "rppgbench-train-checkpoint/1"

_OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
_SCHEDULERS = ("onecycle", "cosine", "step", "none")


@dataclass
class TrainConfig:
    """Overrides of a model's training defaults; ``None`` means "take it from the ModelCfg".

    Attributes
    ----------
    epochs, batch_size : int | None
    optimizer : dict | None
        ``{"name": "adam" | "adamw" | "sgd", "lr": float, ...}``; the other keys go to the torch optimiser.
    scheduler : dict | None
        ``{"name": "onecycle" | "cosine" | "step" | "none", ...}``. OneCycle (stepped per batch; ``max_lr``
        defaults to the optimiser lr) takes the ``torch.optim.lr_scheduler.OneCycleLR`` keywords; cosine
        (per epoch, ``T_max`` = epochs) and step (per epoch, ``step_size``, ``gamma``) likewise.
        ``None`` uses the model's; ``{"name": "none"}`` disables it.
    loss : str | None ; loss_kwargs : dict | None
        Loss name in ``LOSSES``; kwargs are merged over the model's ``loss_kwargs`` when the loss is the
        model's own, and used alone for another loss.
    seed : int
    device : str | None
        ``None``: CUDA when available, else CPU.
    amp : bool | None
        ``None``: on for CUDA, off on CPU. ``True`` on CPU is ignored with a warning.
    selection : {"last", "best"}
        ``"best"`` needs a validation dataset.
    out_dir : path | None
        Where checkpoints go; ``None`` keeps everything in memory (no resume possible).
    max_steps_per_epoch : int | None
        Cap on training (and validation) batches per epoch, for quick runs.
    stop_after_epochs : int | None
        Stop this ``fit`` call after that many epochs in total (as if the job were interrupted; the schedule
        still plans for ``epochs``). Continue later with ``resume=True``.
    num_workers : int ; grad_clip : float | None ; deterministic : bool
    fs : float | None
        Sampling rate passed to the loss; ``None`` uses ``cfg.fps``.
    """

    epochs: int | None = None
    batch_size: int | None = None
    optimizer: dict[str, Any] | None = None
    scheduler: dict[str, Any] | None = None
    loss: str | None = None
    loss_kwargs: dict[str, Any] | None = None
    seed: int = 100
    device: str | None = None
    amp: bool | None = None
    selection: str = "last"
    out_dir: str | os.PathLike | None = None
    max_steps_per_epoch: int | None = None
    stop_after_epochs: int | None = None
    num_workers: int = 0
    grad_clip: float | None = None
    deterministic: bool = True
    fs: float | None = None

    def __post_init__(self) -> None:
        check_option("TrainConfig.selection", self.selection, ("last", "best"))
        for name in ("epochs", "batch_size", "max_steps_per_epoch", "stop_after_epochs"):
            v = getattr(self, name)
            if v is not None:
                check_range(f"TrainConfig.{name}", v, 1, None)
        check_range("TrainConfig.num_workers", self.num_workers, 0, None)

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["out_dir"] = None if self.out_dir is None else str(self.out_dir)
        return d


def resolve_device(device: str | torch.device | None, local_rank: int = 0) -> torch.device:
    """``device`` as given, else ``cuda:<local_rank>`` when CUDA is available, else CPU. A device string torch does
    not know, or a CUDA device on a machine where torch sees none, is a ValueError naming it."""
    if device is not None:
        try:
            dev = torch.device(device)
        except RuntimeError as exc:
            raise ValueError(f"device {device!r} is not a torch device (cpu, cuda, cuda:1, ...): {exc}") from None
        if dev.type == "cuda" and (not torch.cuda.is_available() or (dev.index or 0) >= torch.cuda.device_count()):
            raise ValueError(f"device {device!r}: torch sees {torch.cuda.device_count()} CUDA device(s) "
                             f"(torch {torch.__version__}, CUDA {torch.version.cuda}); use --device cpu")
        return dev
    if torch.cuda.is_available():
        return torch.device(f"cuda:{local_rank}")
    return torch.device("cpu")


def build_optimizer(params: Any, spec: dict[str, Any]) -> torch.optim.Optimizer:
    """A torch optimiser from ``{"name": ..., "lr": ..., **kwargs}``."""
    spec = dict(spec)
    name = str(spec.pop("name", "adam")).lower()
    check_option("optimizer.name", name, tuple(_OPTIMIZERS))
    return _OPTIMIZERS[name](params, **spec)


def build_scheduler(optimizer: torch.optim.Optimizer, spec: dict[str, Any] | None, epochs: int,
                    steps_per_epoch: int) -> tuple[Any, str]:
    """Scheduler and its interval (``"step"`` = every batch, ``"epoch"``, or ``"none"``)."""
    if spec is None:
        return None, "none"
    spec = dict(spec)
    name = str(spec.pop("name", "none")).lower()
    check_option("scheduler.name", name, _SCHEDULERS)
    lr = optimizer.param_groups[0]["lr"]
    if name == "onecycle":
        spec.setdefault("max_lr", lr)
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, epochs=epochs, steps_per_epoch=steps_per_epoch,
                                                   **spec), "step"
    if name == "cosine":
        spec.setdefault("T_max", epochs)
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, **spec), "epoch"
    if name == "step":
        spec.setdefault("step_size", max(1, epochs // 3))
        return torch.optim.lr_scheduler.StepLR(optimizer, **spec), "epoch"
    return None, "none"


def save_atomic(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` through :func:`rppgbench._util.atomic_write` (temporary sibling, then rename).

    torch names the zip archive inside the file after the file it is given; saving through an open file makes it
    ``archive`` instead, so equal states give byte-equal files whatever the (temporary) file name."""

    def _save(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            torch.save(obj, fh)

    return atomic_write(path, _save)


def _rng_state(loader_gen: torch.Generator) -> dict[str, Any]:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": [s for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else [],
        "numpy": {"kind": str(kind), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": random.getstate(),
        "loader": loader_gen.get_state(),
    }


def _set_rng_state(state: dict[str, Any], loader_gen: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    loader_gen.set_state(state["loader"])


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


class Trainer:
    """Train ``model`` with the defaults of ``cfg`` overridden by ``train_config``.

    Parameters
    ----------
    model : torch.nn.Module
    cfg : ModelCfg
        The model's contract and training defaults (``model.cfg`` of a registered model).
    train_config : TrainConfig | None
    """

    def __init__(self, model: torch.nn.Module, cfg: Any, train_config: TrainConfig | None = None) -> None:
        if getattr(cfg, "kind", "neural") != "neural":
            raise ValueError(f"model {cfg.name} is {cfg.kind}: it has no weights to train")
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"Trainer needs a torch.nn.Module; got {type(model).__name__}")
        self.model = model
        self.cfg = cfg
        self.tc = train_config or TrainConfig()
        self.epochs = int(self.tc.epochs or cfg.epochs)
        self.batch_size = int(self.tc.batch_size or cfg.batch_size)
        self.optimizer_spec = dict(self.tc.optimizer or cfg.optimizer)
        self.scheduler_spec = self.tc.scheduler if self.tc.scheduler is not None else cfg.scheduler
        self.loss_name = self.tc.loss or cfg.loss
        # the model's loss_kwargs belong to the model's loss: a different loss starts from none of them
        base_kwargs = (cfg.loss_kwargs or {}) if self.loss_name == cfg.loss else {}
        self.loss_kwargs = {**base_kwargs, **(self.tc.loss_kwargs or {})}
        self.loss_fn = get_loss(self.loss_name, **self.loss_kwargs)
        self.fs = float(self.tc.fs or cfg.fps)
        self.out_dir = None if self.tc.out_dir is None else Path(self.tc.out_dir)
        self.dist = D.dist_info()
        self.device = resolve_device(self.tc.device, self.dist.local_rank)
        amp = self.tc.amp
        if amp and self.device.type != "cuda":
            logger.warning("TrainConfig.amp=True ignored on device %s: mixed precision is used on CUDA only",
                           self.device)
        self.use_amp = bool(self.device.type == "cuda" and (amp is None or amp))
        self.history: list[dict[str, Any]] = []
        self.best_epoch: int | None = None
        self.best_valid_loss = math.inf

    # -- setup ------------------------------------------------------------------------------------------------
    def _seed_everything(self) -> None:
        seed = int(self.tc.seed)
        random.seed(seed)
        np.random.seed(seed % 2 ** 32)
        torch.manual_seed(seed)
        if self.tc.deterministic:
            if self.device.type == "cuda":
                os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
                torch.backends.cudnn.deterministic = True
                torch.backends.cudnn.benchmark = False
            torch.use_deterministic_algorithms(True, warn_only=True)

    def _forward_loss(self, model: torch.nn.Module, clip: torch.Tensor, label: torch.Tensor, epoch: int
                      ) -> tuple[torch.Tensor, dict[str, float]]:
        with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.use_amp):
            out = model(model_input(clip, self.cfg))
        aux, logs = None, {}
        if isinstance(out, dict):
            if "bvp" not in out:
                raise TypeError(f"model {self.cfg.name} returned a dict without 'bvp' (keys {sorted(out)})")
            bvp, aux, logs = out["bvp"], out.get("aux_loss"), dict(out.get("logs") or {})
        elif torch.is_tensor(out):
            bvp = out
        else:
            raise TypeError(f"model {self.cfg.name} must return a (B, T) tensor or a dict with 'bvp'; "
                            f"got {type(out).__name__}")
        bvp = model_output(bvp, self.cfg, clip.shape[0])
        if bvp.shape != label.shape:
            raise ValueError(f"model {self.cfg.name} output shape {tuple(bvp.shape)} does not match label shape "
                             f"{tuple(label.shape)} (clip_len={self.cfg.clip_len}, "
                             f"extra_frames={self.cfg.extra_frames})")
        loss = self.loss_fn(bvp.float(), label.float(), epoch=epoch, epochs=self.epochs, fs=self.fs)
        if aux is not None:
            loss = loss + aux.float()
        return loss, {k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in logs.items()}

    def _paths(self) -> dict[str, Path]:
        assert self.out_dir is not None
        return {"last": self.out_dir / "last.pt", "best": self.out_dir / "best.pt", "model": self.out_dir / "model.pt"}

    # -- main loop --------------------------------------------------------------------------------------------
    def fit(self, train_dataset: Dataset, valid_dataset: Dataset | None = None, resume: bool = False
            ) -> list[dict[str, Any]]:
        """Train; return the history (one dict per epoch: ``epoch``, ``train_loss``, ``valid_loss``, ``lr``,
        ``steps``, ``time_s`` and the mean of any model ``logs``). The model ends holding the selected
        weights (last epoch or best validation loss)."""
        prev = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
        try:
            return self._fit(train_dataset, valid_dataset, resume)
        finally:  # the deterministic switch is process-wide: give the caller back its setting
            torch.use_deterministic_algorithms(prev[0], warn_only=prev[1])

    def _fit(self, train_dataset: Dataset, valid_dataset: Dataset | None, resume: bool) -> list[dict[str, Any]]:
        if self.tc.selection == "best" and valid_dataset is None:
            raise ValueError("TrainConfig.selection='best' needs a valid_dataset; got none")
        if resume and self.out_dir is None:
            raise ValueError("fit(resume=True) needs TrainConfig.out_dir (where last.pt is); got None")
        if len(train_dataset) == 0:
            raise ValueError("train_dataset is empty")
        for name, ds in (("training", train_dataset), ("validation", valid_dataset)):
            if ds is not None and len(ds) > 0 and getattr(self.cfg, "frame_multiple", 1) > 1:
                check_clip_frames(self.cfg, ds[0][0].shape[1], f"the {name} clips")
        self.dist = D.init_distributed(self.device)
        self._seed_everything()
        model = self.model.to(self.device)
        if self.dist.enabled:
            model = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        loader_gen = torch.Generator()
        loader_gen.manual_seed(int(self.tc.seed))
        train_loader = self._loader(train_dataset, True, loader_gen)
        valid_loader = None if valid_dataset is None else self._loader(valid_dataset, False, None)
        steps = len(train_loader)
        if self.tc.max_steps_per_epoch is not None:
            steps = min(steps, self.tc.max_steps_per_epoch)
        optimizer = build_optimizer(_unwrap(model).parameters(), self.optimizer_spec)
        scheduler, interval = build_scheduler(optimizer, self.scheduler_spec, self.epochs, steps)
        scaler = torch.amp.GradScaler(self.device.type, enabled=self.use_amp)
        start_epoch, best_state = 0, None
        self.history, self.best_epoch, self.best_valid_loss = [], None, math.inf
        if resume:
            start_epoch, best_state = self._load_resume(model, optimizer, scheduler, scaler, loader_gen)
        self.optimizer, self.scheduler = optimizer, scheduler
        stop = self.epochs if self.tc.stop_after_epochs is None else min(self.epochs, self.tc.stop_after_epochs)
        bar = Progress("train", self.epochs * steps, label=str(self.cfg.name), unit="steps",
                       start=start_epoch * steps) if self.dist.is_main else None
        for epoch in range(start_epoch, stop):
            t0 = time.perf_counter()
            model.train()
            tot, n, log_sums = 0.0, 0, {}
            for step, batch in enumerate(train_loader):
                if step >= steps:
                    break
                clip, label = batch[0].to(self.device, non_blocking=True), batch[1].to(self.device)
                optimizer.zero_grad(set_to_none=True)
                loss, logs = self._forward_loss(model, clip, label, epoch)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"non-finite training loss {float(loss)} at epoch {epoch}, step {step} "
                                             f"(recordings {list(batch[2])}, starts {batch[3].tolist()})")
                w, bs = self._shard_weight(train_loader, step, clip.shape[0])
                scaler.scale(loss * w if w != 1.0 else loss).backward()
                if self.tc.grad_clip is not None:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), self.tc.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                if interval == "step":
                    scheduler.step()
                tot += float(loss.detach()) * bs
                n += bs
                for k, v in logs.items():
                    log_sums[k] = log_sums.get(k, 0.0) + v * bs
                if bar is not None and step + 1 < steps:
                    bar.update(epoch * steps + step + 1, epoch=f"{epoch + 1}/{self.epochs}",
                               step=f"{step + 1}/{steps}", loss=tot / max(n, 1))
            if interval == "epoch":
                scheduler.step()
            keys = sorted(log_sums)
            sums = D.all_reduce_sum([tot, float(n)] + [log_sums[k] for k in keys], self.device)
            row: dict[str, Any] = {"epoch": epoch, "train_loss": sums[0] / max(sums[1], 1.0), "steps": steps,
                                   "lr": float(optimizer.param_groups[0]["lr"])}
            row.update({k: s / max(sums[1], 1.0) for k, s in zip(keys, sums[2:], strict=True)})
            row["valid_loss"] = self._valid_loss(model, valid_loader, epoch) if valid_loader is not None else None
            row["time_s"] = time.perf_counter() - t0
            self.history.append(row)
            if row["valid_loss"] is not None and row["valid_loss"] < self.best_valid_loss:
                self.best_valid_loss, self.best_epoch = row["valid_loss"], epoch
                best_state = {k: v.detach().clone() for k, v in _unwrap(model).state_dict().items()}
                if self.out_dir is not None and self.dist.is_main:
                    save_atomic({"model": best_state, "epoch": epoch, "valid_loss": row["valid_loss"]},
                                self._paths()["best"])
            if self.out_dir is not None and self.dist.is_main:
                self._save_last(model, optimizer, scheduler, scaler, loader_gen, epoch)
            D.barrier()
            if bar is not None:
                extra = {} if row["valid_loss"] is None else {"valid_loss": row["valid_loss"]}
                bar.update((epoch + 1) * steps, milestone=True, epoch=f"{epoch + 1}/{self.epochs} done",
                           loss=row["train_loss"], **extra)
            if self.dist.is_main:
                logger.info("%s epoch %d/%d: train_loss=%.4f valid_loss=%s lr=%.3g (%.1fs)", self.cfg.name,
                            epoch + 1, self.epochs, row["train_loss"],
                            "-" if row["valid_loss"] is None else f"{row['valid_loss']:.4f}", row["lr"], row["time_s"])
        if self.tc.selection == "best" and best_state is not None:
            _unwrap(model).load_state_dict(best_state)
        finished = len(self.history) > 0 and self.history[-1]["epoch"] == self.epochs - 1
        if self.out_dir is not None and self.dist.is_main and finished:
            save_atomic(_unwrap(model).state_dict(), self._paths()["model"])
        D.barrier()
        return list(self.history)

    def _loader(self, dataset: Dataset, shuffle: bool, generator: torch.Generator | None) -> Any:
        """The single-process loader, or under DDP one whose ranks share out the single-process batches
        (:class:`~rppgbench.training.distributed.ShardBatchSampler`), so both train on the same clips."""
        if not self.dist.enabled:
            return make_loader(dataset, self.batch_size, shuffle=shuffle, generator=generator,
                               num_workers=self.tc.num_workers, seed=int(self.tc.seed),
                               pin_memory=self.device.type == "cuda" and shuffle)
        from torch.utils.data import DataLoader

        from rppgbench.training.data import seed_worker

        sampler = D.ShardBatchSampler(len(dataset), self.batch_size, rank=self.dist.rank,
                                      world_size=self.dist.world_size, shuffle=shuffle, generator=generator)
        return DataLoader(dataset, batch_sampler=sampler, num_workers=self.tc.num_workers, generator=generator,
                          worker_init_fn=seed_worker, pin_memory=self.device.type == "cuda")

    @staticmethod
    def _shard_weight(loader: Any, step: int, n_clips: int) -> tuple[float, int]:
        """(loss factor, clips counted) of this rank at ``step``: (1, clips) in one process."""
        sampler = getattr(loader, "batch_sampler", None)
        if not isinstance(sampler, D.ShardBatchSampler):
            return 1.0, n_clips
        w = sampler.weight(step)
        return w, (n_clips if w > 0 else 0)

    @torch.no_grad()
    def _valid_loss(self, model: torch.nn.Module, loader: Any, epoch: int) -> float:
        model.eval()
        tot, n = 0.0, 0
        for step, batch in enumerate(loader):
            if self.tc.max_steps_per_epoch is not None and step >= self.tc.max_steps_per_epoch:
                break
            clip, label = batch[0].to(self.device), batch[1].to(self.device)
            loss, _ = self._forward_loss(model, clip, label, epoch)
            _w, bs = self._shard_weight(loader, step, clip.shape[0])
            tot += float(loss) * bs
            n += bs
        tot, n = D.all_reduce_sum([tot, float(n)], self.device)
        model.train()
        return tot / max(n, 1.0)

    # -- checkpoints ------------------------------------------------------------------------------------------
    def _save_last(self, model: torch.nn.Module, optimizer: Any, scheduler: Any, scaler: Any,
                   loader_gen: torch.Generator, epoch: int) -> None:
        ckpt = {
            "format": CHECKPOINT_FORMAT,
            "model_name": str(self.cfg.name),
            "epoch": int(epoch),
            "epochs": int(self.epochs),
            "model": _unwrap(model).state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": None if scheduler is None else scheduler.state_dict(),
            "scaler": scaler.state_dict() if self.use_amp else None,
            "rng": _rng_state(loader_gen),
            "history": copy.deepcopy(self.history),
            "best": {"epoch": self.best_epoch, "valid_loss": float(self.best_valid_loss)},
            "train_config": self.tc.as_dict(),
        }
        save_atomic(ckpt, self._paths()["last"])

    def _load_resume(self, model: torch.nn.Module, optimizer: Any, scheduler: Any, scaler: Any,
                     loader_gen: torch.Generator) -> tuple[int, dict[str, torch.Tensor] | None]:
        path = self._paths()["last"]
        if not path.exists():
            raise CheckpointError(f"cannot resume: {path} does not exist (no epoch finished in {self.out_dir})")
        ckpt = torch.load(path, map_location=self.device, weights_only=True)
        if ckpt.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(f"{path}: format must be {CHECKPOINT_FORMAT!r}; got {ckpt.get('format')!r}")
        if ckpt["model_name"] != self.cfg.name or ckpt["epochs"] != self.epochs:
            raise CheckpointError(f"{path}: written for model {ckpt['model_name']!r} with epochs={ckpt['epochs']}; "
                                  f"this run is model {self.cfg.name!r} with epochs={self.epochs}")
        _unwrap(model).load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if (scheduler is None) != (ckpt["scheduler"] is None):
            raise CheckpointError(f"{path}: scheduler presence differs from this run's scheduler {self.scheduler_spec}")
        if scheduler is not None:
            scheduler.load_state_dict(ckpt["scheduler"])
        if self.use_amp and ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        # move RNG states to CPU (map_location may have moved them)
        rng = ckpt["rng"]
        rng["torch"] = rng["torch"].cpu()
        rng["loader"] = rng["loader"].cpu()
        rng["numpy"]["keys"] = rng["numpy"]["keys"].cpu()
        rng["cuda"] = [s.cpu() for s in rng.get("cuda", [])]
        _set_rng_state(rng, loader_gen)
        self.history = list(ckpt["history"])
        self.best_epoch = ckpt["best"]["epoch"]
        self.best_valid_loss = float(ckpt["best"]["valid_loss"])
        best_state = None
        if self.best_epoch is not None and self._paths()["best"].exists():
            best_state = torch.load(self._paths()["best"], map_location=self.device, weights_only=True)["model"]
        logger.info("resumed %s from %s after epoch %d", self.cfg.name, path, ckpt["epoch"] + 1)
        return int(ckpt["epoch"]) + 1, best_state
