"""ONNX export at full size: max |onnxruntime - PyTorch| and CPU latency of onnxruntime vs PyTorch per model.

    python benchmarks/onnx_export.py                                   # factorizephys, phasenet, physfsunet
    python benchmarks/onnx_export.py --models factorizephys --repeats 5

Each model is exported with its initial weights (seed 0) at its contract input (batch 1) by
``rppgbench.models.onnx_export.export_onnx``; then PyTorch (``torch.no_grad``, default threads, the model's
default inference path) and onnxruntime (CPU provider, same number of threads) are timed **alternately** on
the same random input, median of ``--repeats``. Prints one line per model and the load average.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="factorizephys,phasenet,physfsunet")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    from rppgbench.models import create_model
    from rppgbench.models.onnx_export import OnnxModel, export_onnx

    with tempfile.TemporaryDirectory() as tmp:
        for name in [n.strip() for n in args.models.split(",") if n.strip()]:
            torch.manual_seed(0)
            model = create_model(name).eval()
            t0 = time.perf_counter()
            res = export_onnx(model, Path(tmp) / f"{name}.onnx")
            export_s = time.perf_counter() - t0
            runner = OnnxModel(res["path"], threads=torch.get_num_threads())
            x = torch.rand(*res["input_shape"], generator=torch.Generator().manual_seed(1)) * 255.0
            if model.cfg.input_view != "raw":
                x = torch.randn(*res["input_shape"], generator=torch.Generator().manual_seed(1))
            xn = x.numpy()
            with torch.no_grad():
                want = model(x).numpy()
            diff2 = float(np.abs(runner.run(xn) - want).max())
            t_pt, t_ort = [], []
            for _ in range(args.repeats):
                t = time.perf_counter()
                with torch.no_grad():
                    model(x)
                t_pt.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                runner.run(xn)
                t_ort.append((time.perf_counter() - t) * 1000)
            pt, ox = statistics.median(t_pt), statistics.median(t_ort)
            print(f"{name:<14} input {'x'.join(map(str, res['input_shape']))}  export {export_s:.1f} s  "
                  f"max|ort-torch| {res['max_abs_diff']:.2e} (second input {diff2:.2e})  "
                  f"PyTorch {pt:,.0f} ms  onnxruntime {ox:,.0f} ms  ratio ort/torch {ox / pt:.2f}  "
                  f"threads {torch.get_num_threads()}  load {os.getloadavg()[0]:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
