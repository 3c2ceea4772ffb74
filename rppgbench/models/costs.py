"""Measured cost of every registered neural model at its contract input size: parameters and MACs.

The table ``costs.csv`` beside this module is **generated** (never edited by hand)::

    python -m rppgbench.models.costs --write          # every registered neural model
    python -m rppgbench.models.costs                  # print the table, write nothing

and read without torch by ``rppgbench ls models`` and the docs tables (:func:`read_costs`). A test fails when a
registered neural model is missing from it and recomputes every row.

Columns: ``params_exact`` / ``params_inference`` / ``params_thop`` are the three conventions of
:func:`rppgbench.models._base.param_counts` (all parameters / those the eval output depends on / what
``thop.profile`` 0.1.x sees, the count the papers quote); ``macs_*`` are the multiply-accumulates of one eval
forward at ``input_shape`` (batch 1, the model's contract) from :func:`rppgbench.models._base.count_macs`:
convolutions (weight-normed ones included), linear layers and RNN matrix products, without element-wise work.
The MACs are counted on PyTorch's ``meta`` device (shapes only, no arithmetic), so the whole table takes seconds.
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["COSTS_CSV", "FIELDS", "read_costs", "measure_costs", "write_costs", "contract_shape"]

COSTS_CSV = Path(__file__).with_name("costs.csv")
FIELDS = ["model", "input_shape", "params_exact", "params_inference", "params_thop", "macs_total", "macs_conv",
          "macs_linear", "macs_rnn"]
_INTS = FIELDS[2:]


def read_costs(path: str | Path = COSTS_CSV) -> dict[str, dict[str, Any]]:
    """The generated table as ``{model: row}`` (ints for the counts); empty when the file does not exist.
    Torch-free."""
    path = Path(path)
    if not path.is_file():
        return {}
    out: dict[str, dict[str, Any]] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            out[row["model"]] = {k: (int(v) if k in _INTS else v) for k, v in row.items()}
    return out


def contract_shape(cfg: Any, batch: int = 1) -> tuple[int, ...]:
    """Input shape of a neural model's contract for ``batch`` clips, in the model's layout
    (``ModelCfg.input_shape``: ``B x C x T' x H x W``, ``B x T' x C x H x W`` or ``(B*T + extra) x C x H x W``)."""
    return tuple(cfg.input_shape(batch))


def measure_costs(name: str) -> dict[str, Any]:
    """One row of the table for registered model ``name`` (builds the model; imports torch)."""
    import torch

    from rppgbench.models import create_model
    from rppgbench.models._base import count_macs, param_counts

    torch.manual_seed(0)
    model = create_model(name).eval()
    shape = contract_shape(model.cfg)
    counts = param_counts(model)  # on the model's small example: cheap at any size
    macs = count_macs(model.to("meta"), torch.empty(shape, device="meta"))
    return {"model": name, "input_shape": "x".join(str(s) for s in shape),
            "params_exact": counts["exact"], "params_inference": counts["inference"], "params_thop": counts["thop"],
            "macs_total": macs["total"], "macs_conv": macs["conv"], "macs_linear": macs["linear"],
            "macs_rnn": macs["rnn"]}


def _to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(sorted(rows, key=lambda r: r["model"]))
    return buf.getvalue()


def write_costs(path: str | Path = COSTS_CSV, names: list[str] | None = None) -> Path:
    """Measure ``names`` (default: every registered neural model) and write the table atomically."""
    from rppgbench.models import list_models

    names = list_models(kind="neural") if names is None else names
    text = _to_csv([measure_costs(n) for n in names])
    path = Path(path)
    tmp = path.with_suffix(".csv.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", action="store_true", help=f"write {COSTS_CSV.name} (default: print only)")
    ap.add_argument("--out", default=str(COSTS_CSV), help="where --write writes the table")
    args = ap.parse_args(argv)
    if args.write:
        sys.stdout.write(f"wrote {write_costs(args.out)}\n")  # a maintainer's script: its output is the report
    else:
        from rppgbench.models import list_models

        sys.stdout.write(_to_csv([measure_costs(n) for n in list_models(kind="neural")]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
