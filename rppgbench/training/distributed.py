"""DistributedDataParallel helpers.

A run is distributed when it was launched by ``torchrun`` (or anything that sets the environment
variables ``RANK``, ``WORLD_SIZE`` and, for ``env://`` initialisation, ``MASTER_ADDR``/``MASTER_PORT``)
with ``WORLD_SIZE > 1``. The backend is NCCL on CUDA and gloo on CPU. Only rank 0 writes checkpoints
and logs epoch summaries; every rank returns the same history (validation losses are all-reduced).

Example::

    torchrun --standalone --nproc_per_node 2 my_training_script.py
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from rppgbench._logging import logger

__all__ = ["DistInfo", "dist_info", "init_distributed", "is_main_process", "barrier", "all_reduce_sum",
           "cleanup_distributed", "ShardBatchSampler"]


@dataclass(frozen=True)
class DistInfo:
    """Rank layout of the current process (``world_size == 1`` when not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ValueError(f"environment variable {name} must be an integer; got {value!r}") from exc


def dist_info() -> DistInfo:
    """Rank, world size and local rank from an initialised process group, else from the environment."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), _env_int("LOCAL_RANK", dist.get_rank()))
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"RANK/WORLD_SIZE must satisfy 0 <= RANK < WORLD_SIZE; got RANK={rank}, WORLD_SIZE={world}")
    return DistInfo(rank, world, _env_int("LOCAL_RANK", rank))


def init_distributed(device: torch.device | None = None) -> DistInfo:
    """Initialise the default process group when the environment asks for more than one process.

    Returns the :class:`DistInfo`; a no-op (world size 1) for ordinary runs or when already initialised.
    """
    info = dist_info()
    if not info.enabled or dist.is_initialized():
        return info
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but torch.distributed is not available in this torch build")
    backend = "nccl" if device is not None and device.type == "cuda" else "gloo"
    logger.info("initialising process group: backend=%s rank=%d world_size=%d", backend, info.rank, info.world_size)
    dist.init_process_group(backend=backend, init_method="env://", rank=info.rank, world_size=info.world_size)
    return info


def is_main_process() -> bool:
    return dist_info().is_main


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def all_reduce_sum(values: list[float], device: torch.device | str = "cpu") -> list[float]:
    """Sum a list of floats over all ranks (identity when not distributed)."""
    if not (dist.is_available() and dist.is_initialized()):
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return [float(v) for v in t.cpu()]


def cleanup_distributed() -> None:
    """Destroy the default process group if one is initialised."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


class ShardBatchSampler:
    """Each rank's share of the single-process batches, so a DDP run trains on exactly what one process would.

    The global batches are drawn as a single process draws them (``RandomSampler`` on the trainer's seeded loader
    generator, or in order, then ``BatchSampler`` of the protocol's ``batch_size``: the same generator draws at the
    same moments, so resuming and ``max_steps_per_epoch`` behave as in one process); rank ``r`` takes the ``r``-th
    of ``world_size`` contiguous, near-equal parts of each batch. A rank whose part is empty (a last batch smaller
    than the world size) gets the batch's first clip with weight 0. :meth:`weight` is the factor a rank's
    batch-mean loss is multiplied by so that DDP's gradient average equals the gradient of the global batch mean.
    ``torch.utils.data.DistributedSampler`` is not used: it shuffles with its own generator and pads the dataset
    by repeating clips, so its runs differ from a single process's.
    """

    def __init__(self, n: int, batch_size: int, *, rank: int, world_size: int, shuffle: bool,
                 generator: torch.Generator | None = None, drop_last: bool = False) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}); got {rank}")
        self.n, self.batch_size, self.rank, self.world_size = int(n), int(batch_size), rank, world_size
        self.shuffle, self.generator, self.drop_last = shuffle, generator, drop_last

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def global_size(self, step: int) -> int:
        """Clips in global batch ``step``."""
        return min(self.batch_size, self.n - step * self.batch_size)

    def part(self, m: int) -> tuple[int, int]:
        """``[start, stop)`` of this rank's part of a global batch of ``m`` clips."""
        q, rem = divmod(m, self.world_size)
        start = self.rank * q + min(self.rank, rem)
        return start, start + q + (1 if self.rank < rem else 0)

    def weight(self, step: int) -> float:
        """Loss factor of this rank at ``step``: ``n_rank * world_size / m`` (0 for an empty part)."""
        m = self.global_size(step)
        a, b = self.part(m)
        return (b - a) * self.world_size / m

    def __iter__(self):  # noqa: ANN204 -- a generator of index lists
        from torch.utils.data import BatchSampler, RandomSampler, SequentialSampler

        src = range(self.n)
        base = RandomSampler(src, generator=self.generator) if self.shuffle else SequentialSampler(src)
        for batch in BatchSampler(base, self.batch_size, self.drop_last):
            a, b = self.part(len(batch))
            yield batch[a:b] if b > a else batch[:1]
