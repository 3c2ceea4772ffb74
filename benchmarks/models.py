"""Model size and speed benchmark: parameters, MACs, latency per clip and peak memory for every registered
(non-tiny) neural model at its contract input size, on CPU and (when present) CUDA.

Usage::

    python benchmarks/models.py                       # all registered neural models, CPU (+ CUDA if present)
    python benchmarks/models.py --models factorizephys --repeats 5
    python benchmarks/models.py --device cpu --output benchmarks/results

Writes ``benchmarks/results/models_<device>_torch<version>.csv`` per device and prints the table.

Columns
-------
params : the parameters the eval output depends on (``params_inference``); what the report's chart draws.
params_exact / params_inference / params_thop
    all parameters / those the eval output depends on / thop-style (exact-type rule modules that run in eval;
    weight-normed convs invisible) -- see ``rppgbench.models._base``.
macs_* : conv, linear and RNN multiply-accumulates of one eval forward, counted with forward hooks on the meta
    device (element-wise work such as norms and activations is not counted, unlike thop's totals); the same
    numbers as ``rppgbench/models/costs.csv``.
latency_ms (= latency_ms_median) / latency_ms_min : per clip (batch 1), after ``--warmup`` runs, over
    ``--repeats`` runs; CUDA timings are bracketed by ``torch.cuda.synchronize()``. ``latency_ms_per_frame`` is
    the median over ``clip_len``; ``ms_per_gmac`` the median per 10^9 MACs (how close a model runs to its
    arithmetic); ``cpu_s_per_clip`` the process CPU time per timed forward (all threads).
latency_ms_amp : on CUDA, the median under ``torch.autocast`` (float16); empty on CPU.
peak_mem_mb : CPU: growth of the process peak RSS during the warm-up and timed forwards over the RSS before the
    first forward (each model runs in its own subprocess; PHASE-Net's fast path keeps its workspaces from the
    first forward on, so they count); CUDA: ``torch.cuda.max_memory_allocated`` during the forwards.
thp : "1" when the run used ``--thp`` (``THP_MEM_ALLOC_ENABLE=1``).

Models at their paper sizes, in their layouts (``ModelCfg.input_shape``): FactorizePhys 1x3x161x72x72, PHASE-Net
1x3x128x128x128, TS-CAN and DeepPhys 180x6x72x72 frames, EfficientPhys 181x3x72x72, RhythmFormer 1x160x3x128x128,
physFSUNet as its cfg says.
A ``factorizephys[fsam_inference=True]`` row measures FSAM on vs off, a ``phasenet[fast_cpu=False]`` row PHASE-Net's
module-by-module path against its fast CPU path: ``latency_ratio_vs_default`` is the
ratio of median latencies of the variant and the default model timed **interleaved in the same process**
(ratios survive the noise of a shared machine far better than absolute times; ``loadavg_1min`` records the load).
Running with ``--models`` updates those rows of an existing CSV and keeps the others.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rppgbench._util import atomic_write_text

FIELDS = ["model", "variant", "device", "torch", "threads", "input_shape", "params", "params_exact",
          "params_inference", "params_thop", "published_params", "macs_conv", "macs_linear", "macs_rnn", "macs_total",
          "latency_ms", "latency_ms_median", "latency_ms_min", "latency_ms_per_frame", "ms_per_gmac",
          "latency_ms_amp", "amp_dtype", "repeats", "latency_ratio_vs_default", "peak_mem_mb", "mem_method",
          "thp", "loadavg_1min", "cpu_s_per_clip"]

#: extra configurations measured next to the registered defaults: (model name, overrides). PHASE-Net's
#: ``fast_cpu=False`` is its module-by-module path (the implementation before the fast CPU path): its
#: ``latency_ratio_vs_default`` is the before/after ratio timed interleaved in one process.
VARIANTS = [("factorizephys", {"fsam_inference": True}), ("phasenet", {"fast_cpu": False})]


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def measure(name: str, overrides: dict, device: str, warmup: int, repeats: int, amp: bool | None = None) -> dict:
    """Measure one model in this process (called in a fresh subprocess by :func:`main`).

    ``amp`` (default: on for CUDA) also times the forward under ``torch.autocast`` (float16 on CUDA, bfloat16
    on CPU) into ``latency_ms_amp``."""
    import copy

    import torch

    from rppgbench.models import create_model
    from rppgbench.models._base import ContractMixin, count_macs, n_params, param_counts

    torch.manual_seed(0)
    model = create_model(name, **overrides).eval()
    cfg = model.cfg
    shape = cfg.input_shape(1)  # one clip in the model's layout (TS-CAN: 180 x 6 x 72 x 72 frames)
    x = torch.rand(*shape) * 255.0 if cfg.input_views == ("raw",) else torch.randn(*shape)
    counts = param_counts(model) if isinstance(model, ContractMixin) else {
        "exact": n_params(model), "inference": "", "thop": ""}
    # MACs on the meta device: shapes only, no arithmetic (rppgbench.models.costs counts the same way)
    macs = count_macs(copy.deepcopy(model).to("meta"), torch.empty(shape, device="meta"))
    model = model.to(device)
    x = x.to(device)
    cuda = device.startswith("cuda")
    amp = cuda if amp is None else amp
    amp_dtype = torch.float16 if cuda else torch.bfloat16

    def run(mdl: torch.nn.Module, autocast: bool = False) -> float:
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.no_grad(), torch.autocast(device.split(":")[0], dtype=amp_dtype, enabled=autocast):
            mdl(x)
        if cuda:
            torch.cuda.synchronize()
        return (time.perf_counter() - t0) * 1000.0

    rss_before = _rss_mb()  # before any forward: memory a model keeps between calls (workspaces) counts too
    for _ in range(warmup):
        run(model)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = rss_before
    c0 = time.process_time()
    times = [run(model) for _ in range(repeats)]
    cpu_s = (time.process_time() - c0) / max(repeats, 1)
    if cuda:
        peak, method = (torch.cuda.max_memory_allocated() - base) / 2 ** 20, "cuda.max_memory_allocated"
    else:
        peak, method = max(_peak_rss_mb() - base, 0.0), "peak RSS growth"
    amp_ms = ""
    if amp:
        run(model, autocast=True)  # warm-up (autocast caches casted weights per forward)
        amp_ms = round(statistics.median(run(model, autocast=True) for _ in range(repeats)), 2)
    ratio = ""
    if overrides:  # time the variant and the default model interleaved, same weights, same input
        default_model = create_model(name).eval().to(device)
        default_model.load_state_dict(model.state_dict())
        t_var, t_def = [], []
        for _ in range(repeats):
            t_var.append(run(model))
            t_def.append(run(default_model))
        ratio = round(statistics.median(t_var) / statistics.median(t_def), 3)
    variant = ",".join(f"{k}={v}" for k, v in overrides.items())
    med = statistics.median(times)
    return {"model": name, "variant": variant, "device": device, "torch": torch.__version__,
            "threads": torch.get_num_threads(), "input_shape": "x".join(str(s) for s in shape),
            "params": counts["inference"] or counts["exact"],
            "params_exact": counts["exact"], "params_inference": counts["inference"], "params_thop": counts["thop"],
            "published_params": cfg.published_params or "", "macs_conv": macs["conv"],
            "macs_linear": macs["linear"], "macs_rnn": macs["rnn"], "macs_total": macs["total"],
            "latency_ms": round(med, 2), "latency_ms_median": round(med, 2), "latency_ms_min": round(min(times), 2),
            "latency_ms_per_frame": round(med / cfg.clip_len, 3),
            "ms_per_gmac": round(med / (macs["total"] / 1e9), 2) if macs["total"] else "",
            "latency_ms_amp": amp_ms, "amp_dtype": str(amp_dtype).replace("torch.", "") if amp else "",
            "repeats": repeats, "latency_ratio_vs_default": ratio, "peak_mem_mb": round(peak, 1),
            "mem_method": method, "thp": os.environ.get("THP_MEM_ALLOC_ENABLE", ""),
            "loadavg_1min": round(os.getloadavg()[0], 2), "cpu_s_per_clip": round(cpu_s, 3)}


def default_devices(cuda_available: bool) -> list[str]:
    """CPU always; CUDA as well when a device is present (its rows carry the AMP latency too)."""
    return ["cpu"] + (["cuda"] if cuda_available else [])


def _neural_models() -> tuple[list[str], list[str]]:
    """Registered non-tiny neural models (and notes, kept for the CSV's callers)."""
    from rppgbench.models import list_models

    return list_models(kind="neural", include_tiny=False), []


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="", help="comma-separated names (default: every non-tiny neural model)")
    ap.add_argument("--device", default="", help="cpu or cuda[:i] (default: cpu, plus cuda when available)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-variants", action="store_true", help="skip the extra configurations in VARIANTS")
    ap.add_argument("--output", "--out", dest="output", default=str(Path(__file__).parent / "results"))
    ap.add_argument("--thp", action="store_true",
                    help="run the workers with THP_MEM_ALLOC_ENABLE=1 (PyTorch backs large CPU tensors with "
                         "transparent huge pages: fewer page faults for memory-bound models); recorded in 'thp'")
    ap.add_argument("--threads", type=int, default=0, help="torch threads in each worker (default: torch's)")
    ap.add_argument("--suffix", default="", help="added to the CSV name (e.g. _thp), to keep runs apart")
    ap.add_argument("--worker", default="", help=argparse.SUPPRESS)
    ap.add_argument("--overrides", default="{}", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:  # child process: one measurement, JSON on the last stdout line
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        row = measure(args.worker, json.loads(args.overrides), args.device, args.warmup, args.repeats)
        print(json.dumps(row))
        return 0

    import torch

    names, notes = _neural_models()
    for note in notes:
        print(note)
    if args.models:
        names = [n.strip() for n in args.models.split(",") if n.strip()]
    devices = default_devices(torch.cuda.is_available()) if not args.device else [args.device]
    env = {**os.environ, **({"THP_MEM_ALLOC_ENABLE": "1"} if args.thp else {})}
    jobs = [(n, {}) for n in names] + ([] if args.no_variants else [(n, o) for n, o in VARIANTS if n in names])
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    for device in devices:
        rows = []
        for name, overrides in jobs:
            cmd = [sys.executable, __file__, "--worker", name, "--overrides", json.dumps(overrides),
                   "--device", device, "--warmup", str(args.warmup), "--repeats", str(args.repeats),
                   "--threads", str(args.threads)]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                print(f"{name} on {device}: FAILED\n{proc.stderr[-2000:]}")
                continue
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"{row['model']:<16} {row['variant']:<22} {device:<5} params {row['params_exact']:>9} "
                  f"(inference {row['params_inference']}, thop-style {row['params_thop']}) "
                  f"MACs {row['macs_total'] / 1e9:7.2f} G  latency {row['latency_ms_median']:9.1f} ms "
                  f"(min {row['latency_ms_min']:.1f}, {row['ms_per_gmac']} ms/GMAC, CPU {row['cpu_s_per_clip']} s)  "
                  f"mem {row['peak_mem_mb']:.0f} MB"
                  + (f"  AMP {row['latency_ms_amp']} ms" if row["latency_ms_amp"] != "" else "")
                  + (f"  ratio vs default {row['latency_ratio_vs_default']}" if row["latency_ratio_vs_default"] else "")
                  + f"  load {row['loadavg_1min']}", flush=True)
        path = out_dir / f"models_{device.replace(':', '')}_torch{torch.__version__.split('+')[0]}{args.suffix}.csv"
        if args.models and path.exists():  # a partial run updates its rows and keeps the others
            with open(path, newline="") as fh:
                done = {(r["model"], r["variant"]) for r in rows}
                rows = [r for r in csv.DictReader(fh) if (r["model"], r["variant"]) not in done] + rows
        buf = io.StringIO(newline="")
        writer = csv.DictWriter(buf, fieldnames=FIELDS, restval="")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(path, buf.getvalue())
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
