"""Produce the tiny weights that ``synthetic_quick`` evaluates: run the ``pretrain_<model id>`` protocols (or take
finished runs of them) and copy each network's trained ``model.pt`` into the package, with its provenance.

    python benchmarks/synthetic_pretrain.py                           # run the three protocols here, then export
    python benchmarks/synthetic_pretrain.py --from RUN_DIR [RUN_DIR ...]   # export from finished run folders
                                   # (a network none of them trained keeps its shipped weights and provenance)
    python benchmarks/synthetic_pretrain.py --from RUN_DIR ... --check     # compare the shipped files, write nothing

The three protocols (``pretrain_factorizephys_tiny``, ``pretrain_phasenet_tiny``, ``pretrain_physfsunet_tiny``)
share their data, splits, training and evaluation (``_base/synthetic_pretrain_data.yaml``); one protocol per
network, so that each can run in its own process (``rppgbench run pretrain_phasenet_tiny --output DIR``) and a
change to one network's settings leaves the other weights' provenance intact.

The weights go to ``rppgbench/protocols/library/synthetic/weights/<model id>.pt``, beside them
``<model id>.json`` (the run card ``infer --checkpoint`` reads: model, crop, views), and ``provenance.json``
records per model the sha256 of the file, its pretraining protocol's name, version and sha256, the rppgbench
commit and torch version of the run, the training settings and loss by epoch, the training wall time and the
pretraining test split's MAE next to the null baseline's; ``weights/README.md`` is rewritten from it.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

NETWORKS = ("factorizephys_tiny", "phasenet_tiny", "physfsunet_tiny")


def protocol_of(mid: str) -> str:
    return f"pretrain_{mid}"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def weights_dir() -> Path:
    from rppgbench.protocols import load_protocol
    return Path(load_protocol(protocol_of(NETWORKS[0])).path).parent / "weights"


def collect(run_dirs: list[Path]) -> dict[str, dict]:
    """Per network: its ``model.pt`` and provenance, from whichever run folder trained it."""
    found: dict[str, dict] = {}
    for run in run_dirs:
        res = json.loads((run / "results.json").read_text())
        for mid in NETWORKS:
            if res["protocol"]["name"] != protocol_of(mid):
                continue
            entry = res["models"].get(mid)
            pt = run / "checkpoints" / mid / "model.pt"
            if entry is None or not pt.is_file():
                continue
            if mid in found:
                sys.exit(f"{mid} was trained in two of the given runs ({found[mid]['run']} and {run}); give one")
            if entry.get("checkpoint_sha256") != _sha(pt):
                sys.exit(f"{pt}: sha256 differs from the one {run}/results.json recorded")
            mae = next((r for r in res["rows"] if r["model"] == mid and r["metric"] == "MAE"), None)
            null = next((r for r in res["rows"] if r["model"] == "null" and r["metric"] == "MAE"), None)
            found[mid] = {
                "run": str(run), "file": pt,
                "model": entry["name"], "overrides": entry.get("overrides", {}), "n_params": entry.get("n_params"),
                "protocol": res["protocol"], "git_commit": res["provenance"].get("git_commit"),
                "torch": res["provenance"].get("torch"), "started": res["provenance"].get("started"),
                "train_wall_s": round(float(entry.get("train_wall_s", 0.0)), 1),
                "training": {k: v for k, v in entry.get("training", {}).items() if k != "history"},
                "train_loss_by_epoch": [round(h["train_loss"], 4)
                                        for h in entry.get("training", {}).get("history", [])],
                "pretrain_test_mae_bpm": None if mae is None else round(mae["value"], 3),
                "pretrain_test_null_mae_bpm": None if null is None else round(null["value"], 3),
            }
    if not found:
        sys.exit(f"no trained checkpoint of {', '.join(NETWORKS)} in {', '.join(map(str, run_dirs))}")
    return found


def shipped(mid: str) -> dict:
    """The shipped provenance of ``mid``, after checking that its file is the one it describes (a network the
    given runs did not train keeps its weights and provenance)."""
    path = weights_dir() / "provenance.json"
    prov = json.loads(path.read_text())["models"].get(mid) if path.is_file() else None
    pt = weights_dir() / f"{mid}.pt"
    if prov is None or not pt.is_file() or _sha(pt) != prov.get("sha256"):
        sys.exit(f"{mid}: no run given trains it and the shipped {pt.name} does not match {path}: give its run")
    return prov


def readme(prov: dict) -> str:
    lines = ["# Shipped tiny weights (written by benchmarks/synthetic_pretrain.py; do not edit)", "",
             "Trained by this package's own trainer on the `pretrain_<model id>` protocols (generated data disjoint "
             "from `synthetic_quick`'s: other dataset seed, other recording seeds), evaluated without fine-tuning "
             "by `synthetic_quick`. Re-create them with `python benchmarks/synthetic_pretrain.py`; "
             "`<model id>.json` is the run card `rppgbench infer --checkpoint` reads.", "",
             "| file | model | params | sha256 | train wall s | pretrain test MAE (null) bpm | protocol | "
             "rppgbench commit |", "|---|---|---|---|---|---|---|---|"]
    for mid, p in prov["models"].items():
        lines.append(f"| {mid}.pt | {p['model']} {json.dumps(p['overrides'])} | {p['n_params']:,} | "
                     f"{p['sha256'][:12]}… | {p['train_wall_s']:.0f} | {p['pretrain_test_mae_bpm']} "
                     f"({p['pretrain_test_null_mae_bpm']}) | `{p['protocol']['name']}` v{p['protocol']['version']} "
                     f"sha256 {p['protocol']['sha256'][:12]}… | {str(p['git_commit'])[:10]} |")
    lines += ["", "The commit is the checkout each run used; a run made before its protocol file was committed records "
              "the commit it was made on (the protocol's sha256 above is what ties the weights to it).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--from", dest="runs", nargs="+", type=Path, help="finished run folders of synthetic_pretrain")
    ap.add_argument("--output", type=Path, default=Path("runs/synthetic_pretrain"), help="run folder (no --from)")
    ap.add_argument("--check", action="store_true", help="compare with the shipped weights; write nothing")
    args = ap.parse_args(argv)
    runs = args.runs
    if not runs:
        from rppgbench.runner import RunOptions, run_protocol
        runs = []
        for mid in NETWORKS:
            t0, out = time.time(), args.output / mid
            run_protocol(RunOptions(protocol=protocol_of(mid), output=out,
                                    command="python benchmarks/synthetic_pretrain.py"))
            print(f"{protocol_of(mid)}: {time.time() - t0:.0f} s wall; results in {out}")
            runs.append(out)
    found = collect(runs)
    out = weights_dir()
    prov = {"format": "rppgbench-shipped-weights/1", "models": {}}
    for mid in NETWORKS:
        if mid not in found:
            prov["models"][mid] = shipped(mid)
            continue
        p = dict(found[mid])
        p["sha256"] = _sha(p.pop("file"))
        p.pop("run")
        prov["models"][mid] = p
    if args.check:
        bad = [m for m in found
               if not (out / f"{m}.pt").is_file() or _sha(out / f"{m}.pt") != prov["models"][m]["sha256"]]
        print("shipped weights equal the run's" if not bad else f"differ from the run's: {', '.join(bad)}")
        return 1 if bad else 0
    out.mkdir(parents=True, exist_ok=True)
    for mid, p in found.items():
        shutil.copyfile(p["file"], out / f"{mid}.pt")
        shutil.copyfile(p["file"].with_suffix(".json"), out / f"{mid}.json")  # its run card, for `infer`
    (out / "provenance.json").write_text(json.dumps(prov, indent=2, sort_keys=True) + "\n")
    (out / "README.md").write_text(readme(prov))
    for mid, p in prov["models"].items():
        print(f"{mid}: {out / (mid + '.pt')} sha256 {p['sha256'][:12]} pretrain test MAE {p['pretrain_test_mae_bpm']}"
              f" (null {p['pretrain_test_null_mae_bpm']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
