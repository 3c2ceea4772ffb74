"""Running prepare tasks on dask.distributed (kept apart so that ``workers=0`` never imports dask)."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from rppgbench._logging import logger

__all__ = ["run_on_dask"]


def _crash_reason(exc: BaseException) -> str:
    first = str(exc).split(". ")[0]
    return (f"worker process died while preparing this recording, twice, the second time alone on the "
            f"cluster (e.g. a decoder crash or out of memory; {type(exc).__name__}: {first})")


#: seconds to wait for an existing scheduler before giving up with an error naming its address
CONNECT_TIMEOUT_S = 10.0


def _connect(scheduler: str) -> Any:
    from distributed import Client

    from rppgbench._checks import DataError

    try:
        return Client(scheduler, set_as_default=False, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as exc:
        raise DataError(f"cannot reach the dask scheduler at {scheduler!r} within {CONNECT_TIMEOUT_S:g} s "
                        f"({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}); expected a "
                        "running `dask scheduler` at that address (tcp://HOST:PORT)") from None


def run_on_dask(task: Callable[..., dict[str, Any]], adapter: Any, recs: list[Any], args: tuple,
                *, workers: int, scheduler: str | None, report: Callable[[dict[str, Any]], None],
                run_id: str = "") -> None:
    """Submit one ``task(adapter, rec, *args)`` per recording and ``report`` each result as it completes.

    A local cluster is created with ``allowed-failures = 0`` so that a crashing recording is given up at once;
    recordings whose worker died are then retried one at a time (alone on the cluster) to tell the culprit
    from the bystanders.
    """
    import dask
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is not None:
        client = _connect(scheduler)
    else:
        if workers < 1:
            raise ValueError(f"workers must be >= 1 for a local cluster (0 runs without dask); got {workers}")
        # dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in workers, which pins glibc's mmap threshold at
        # 128 KB: every decoded 640x480 frame buffer is then mmap'ed and zero-faulted anew. Measured: ~20 %
        # more CPU per recording (benchmarks/prepare_throughput.py). Our workers keep the default allocator.
        env = {k: v for k, v in (dask.config.get("distributed.nanny.pre-spawn-environ") or {}).items()
               if k != "MALLOC_TRIM_THRESHOLD_"}
        # The statistical profiler samples every thread's stack every 10 ms; nobody looks at it here.
        with dask.config.set({"distributed.scheduler.allowed-failures": 0,
                              "distributed.worker.daemon": True,
                              "distributed.worker.profile.enabled": False,
                              "distributed.nanny.pre-spawn-environ": env}):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=":0", silence_logs=logging.CRITICAL)  # free port: no clash
        client = Client(cluster, set_as_default=False)
    tag = run_id or str(id(recs))
    try:
        futures = {client.submit(task, adapter, rec, *args, key=f"prepare-{rec.recording_id}-{tag}",
                                 pure=False, retries=0): rec for rec in recs}
        crashed = []
        for fut in as_completed(list(futures), loop=client.loop):
            rec = futures[fut]
            try:
                res = fut.result()
            except Exception as exc:  # KilledWorker, CommClosedError, ...
                logger.warning("worker died while preparing %s (%s); will retry it alone", rec.recording_id,
                               type(exc).__name__)
                crashed.append(rec)
                continue
            report(res)
        for rec in crashed:
            fut = client.submit(task, adapter, rec, *args, key=f"prepare-retry-{rec.recording_id}-{tag}",
                                pure=False, retries=0)
            try:
                report(fut.result())
            except Exception as exc:
                report({"recording_id": rec.recording_id, "status": "failed", "reason": _crash_reason(exc)})
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
