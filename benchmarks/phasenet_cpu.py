"""PHASE-Net's CPU time per MAC against physFSUNet's, timed alternately in one process (the issue-17 target: <= 2).

    python benchmarks/phasenet_cpu.py                     # 1 thread, CPU time, 2 rounds
    python benchmarks/phasenet_cpu.py --threads 2 --rounds 3 --reference   # also PHASE-Net's module path
    python benchmarks/phasenet_cpu.py --rounds 4 --before OLD_CHECKOUT     # also another checkout's fast path
    python benchmarks/phasenet_cpu.py --torch-loops       # also the fast path without the compiled loops

``--before`` loads ``rppgbench/models/_phasenet_fused.py`` of another checkout (e.g. ``git worktree add /tmp/old
HEAD~3``) and times its encoder in the same process, alternated with this one's, on the same model and input:
a before/after ratio that the machine's load affects equally. The fast path keeps its workspaces between calls
(``_phasenet_fused.encode_fused``), so its first round pays their page faults and later rounds do not; the
minimum over rounds is the steady state of inference clip after clip.

Each round runs physFSUNet (1x3x160x128x128), PHASE-Net with its fast CPU path and, with ``--reference``, PHASE-Net
module by module (``fast_cpu=False``, the implementation before the fast path) on the same random input; the
minimum CPU time (``time.process_time``, all threads of this process) and wall time over the rounds are
reported per 10^9 MACs (:func:`rppgbench.models._base.count_macs`). CPU time is far less sensitive than wall time
to other processes on a shared machine; the load average is printed. Set ``THP_MEM_ALLOC_ENABLE=1`` in the
environment to back PyTorch's large CPU tensors with transparent huge pages.
"""
from __future__ import annotations

import argparse
import copy
import os
import resource
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--reference", action="store_true", help="also time PHASE-Net's module-by-module path")
    ap.add_argument("--before", default=None, help="another checkout whose fused encoder is timed alongside")
    ap.add_argument("--torch-loops", action="store_true",
                    help="also time the fast path with torch's ops in place of the compiled loops (rppgbench._kernels)")
    args = ap.parse_args(argv)

    import torch

    from rppgbench.models import create_model
    from rppgbench.models._base import count_macs

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    entries = []
    for label, name, kw in [("physfsunet", "physfsunet", {}), ("phasenet (fast CPU path)", "phasenet", {}),
                            ("phasenet (module path)", "phasenet", {"fast_cpu": False})]:
        if kw and not args.reference:
            continue
        model = create_model(name, **kw).eval()
        cfg = model.cfg
        shape = (1, cfg.channels, cfg.clip_len + cfg.extra_frames, cfg.frame_size, cfg.frame_size)
        gmacs = count_macs(copy.deepcopy(model).to("meta"), torch.empty(shape, device="meta"))["total"] / 1e9
        entries.append((label, model, torch.rand(*shape) * 255.0, gmacs, [], []))
    from rppgbench.models import phasenet as pn_module

    current = pn_module.encode_fused
    if args.before:
        import importlib.util
        from pathlib import Path

        path = Path(args.before) / "rppgbench" / "models" / "_phasenet_fused.py"
        spec = importlib.util.spec_from_file_location("_phasenet_fused_before", path)
        before = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(before)
        fast = next(e for e in entries if e[0] == "phasenet (fast CPU path)")
        entries.append(("phasenet (before)", fast[1], fast[2], fast[3], [], []))
    from rppgbench.models import _phasenet_fused as fused_module

    compiled = fused_module._C
    if args.torch_loops:
        if compiled is None:
            raise SystemExit("--torch-loops: rppgbench._kernels is not built here, so the fast path already uses "
                             "torch's ops")
        fast = next(e for e in entries if e[0] == "phasenet (fast CPU path)")
        entries.append(("phasenet (torch loops)", fast[1], fast[2], fast[3], [], []))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with torch.no_grad():
        for _ in range(args.rounds):
            for label, model, x, _, cpu, wall in entries:
                pn_module.encode_fused = before.encode_fused if label == "phasenet (before)" else current
                fused_module._C = None if label == "phasenet (torch loops)" else compiled
                t, c = time.perf_counter(), time.process_time()
                model(x)
                cpu.append(time.process_time() - c)
                wall.append(time.perf_counter() - t)
    pn_module.encode_fused = current
    fused_module._C = compiled
    per = {}
    for label, _, _, g, cpu, wall in entries:
        per[label] = (min(cpu) / g * 1000, min(wall) / g * 1000)
        rounds = " ".join(f"{c:.2f}" for c in cpu)
        print(f"{label:<26} {g:7.2f} GMACs  CPU {min(cpu):7.2f} s (rounds {rounds})  wall {min(wall):7.2f} s  "
              f"CPU {per[label][0]:7.1f} ms/GMAC  wall {per[label][1]:7.1f} ms/GMAC")
    f = per["physfsunet"]
    p = per["phasenet (fast CPU path)"]
    print(f"PHASE-Net / physFSUNet time per MAC: CPU {p[0] / f[0]:.2f}, wall {p[1] / f[1]:.2f}")
    if "phasenet (before)" in per:
        b = per["phasenet (before)"]
        print(f"PHASE-Net before ({args.before}) / physFSUNet time per MAC: CPU {b[0] / f[0]:.2f}, wall "
              f"{b[1] / f[1]:.2f}; this checkout / before: CPU {p[0] / b[0]:.3f}")
    if "phasenet (torch loops)" in per:
        q = per["phasenet (torch loops)"]
        print(f"PHASE-Net fast path with torch's ops / with the compiled loops: CPU {q[0] / p[0]:.2f}")
    if "phasenet (module path)" in per:
        r = per["phasenet (module path)"]
        print(f"PHASE-Net module path / fast path: CPU {r[0] / p[0]:.2f}, wall {r[1] / p[1]:.2f}")
    print(f"threads {torch.get_num_threads()}  THP_MEM_ALLOC_ENABLE={os.environ.get('THP_MEM_ALLOC_ENABLE', '')!r}  "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss0:,.0f} MB over the models  "
          f"load {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
