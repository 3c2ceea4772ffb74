"""``torchrun --nproc-per-node N -m rppgbench run P``: one protocol run over several processes.

Roles (``RANK``/``WORLD_SIZE`` from ``torchrun``; a plain run is world size 1 and nothing here does anything):

* rank 0 checks the output folder, writes its marker, opens and prepares the stores (renders stand-ins); the
  other ranks wait at a barrier that also carries rank 0's outcome (when rank 0 fails they stop with its error
  instead of hanging), then open the same stores read-only;
* every rank trains each neural model on its share of every batch under DDP
  (:class:`rppgbench.training.distributed.ShardBatchSampler`; the protocol's ``batch_size`` stays the global
  batch, so the trained weights equal a single-process run's up to float summation order, except for layers that
  couple a batch: BatchNorm statistics and FactorizePhys's batch-global FSAM minimum, and except dropout, whose
  masks each rank draws from its own stream);
* rank 0 alone predicts, evaluates, writes predictions, ``results.json`` and the report; unsupervised methods
  and the null baseline run on rank 0 only; the other ranks wait at a barrier after each model and at the end.

The backend is gloo on CPU and NCCL on CUDA (``rppgbench.training.distributed.init_distributed``).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from rppgbench._checks import RppgbenchError
from rppgbench._logging import logger

__all__ = ["world", "is_main", "start", "main_first", "barrier", "finish"]

T = TypeVar("T")


def world() -> tuple[int, int]:
    """``(rank, world_size)`` of this process (``(0, 1)`` outside ``torchrun``); torch is not imported."""
    try:
        return int(os.environ.get("RANK") or 0), int(os.environ.get("WORLD_SIZE") or 1)
    except ValueError as exc:
        raise RppgbenchError(f"RANK/WORLD_SIZE must be integers: {exc}") from None


def is_main() -> bool:
    return world()[0] == 0


def _enabled() -> bool:
    return world()[1] > 1


def start(device: str | None) -> bool:
    """Join the process group when launched with ``WORLD_SIZE > 1``; returns whether this call created it."""
    if not _enabled():
        return False
    import torch.distributed as dist

    from rppgbench.training.distributed import dist_info, init_distributed
    from rppgbench.training.trainer import resolve_device

    if dist.is_initialized():
        return False
    info = dist_info()
    init_distributed(resolve_device(device, info.local_rank))
    logger.info("distributed run: rank %d of %d", info.rank, info.world_size)
    return True


def main_first(fn: Callable[[], T]) -> T:
    """Run ``fn`` on rank 0, then (when it succeeded) on the other ranks; a failure on rank 0 is raised on every
    rank (the others with rank 0's message)."""
    if not _enabled():
        return fn()
    import torch.distributed as dist

    status: list[Any] = [None]
    result: Any = None
    if is_main():
        try:
            result = fn()
        except BaseException as exc:
            status[0] = f"{type(exc).__name__}: {exc}"
            dist.broadcast_object_list(status, src=0)
            raise
    dist.broadcast_object_list(status, src=0)
    if is_main():
        return result
    if status[0] is not None:
        raise RppgbenchError(f"rank 0 failed, so rank {world()[0]} stops: {status[0]}")
    return fn()


def barrier() -> None:
    if _enabled():
        import torch.distributed as dist

        if dist.is_initialized():
            dist.barrier()


def finish(created: bool) -> None:
    """Leave the process group this run created."""
    if created:
        from rppgbench.training.distributed import cleanup_distributed

        cleanup_distributed()
