"""Golden digests of stores prepared with the recipes that existed before issue 11 (tracking/skin ROI).

``tests/data/legacy_stores.json`` was written by the code **before** that change (commit 97736e4) with::

    python tests/_legacy_golden.py tests/data/legacy_stores.json

and ``tests/test_legacy_recipes.py`` prepares the same tiny synthetic set with the current code and compares.
When the synthetic generator changes the raw videos (generator version 2, issue 12), the digests are rewritten
by the preprocessing code of 97736e4 with the new generator package copied into that tree (see the JSON comment).
The prepared stores depend on the CPU as well (same code and library versions, other bytes on an AVX-512 Xeon):
the JSON holds one golden set per kind of machine (``stores``, then ``other_machines``), each computed by that old
code on that machine, and the test requires every store to match one set. Two digests per store:

``content``  sha256 over every array of every recording (name, dtype, shape, raw bytes) and every attribute
             (recording attributes; store attributes without ``package_versions``), canonical JSON. It does not
             depend on how Blosc compressed the chunks, so it is compared on every machine.
``files``    sha256 over the bytes of every file of the store (root ``zarr.json`` with ``package_versions``
             removed). Compressed bytes depend on the Blosc/zarr/OpenCV builds, so it is compared only when the
             versions recorded beside it are the installed ones.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

#: the recipes compared (each exercises one legacy tracking behaviour)
LEGACY_RECIPES: dict[str, object] = {
    "fp72": "fp72",                                            # re-detect every 30 frames, box held between
    "tb72": "tb72",                                            # first-frame box
    "pn128": "pn128",
    "fp72_ema": {"base": "fp72", "detect_every": 10, "smoothing": "ema", "smoothing_param": 0.5},
    "fp72_median": {"base": "fp72", "detect_every": 10, "smoothing": "median", "smoothing_param": 3},
    "fp72_medianbox": {"base": "fp72", "median_box": True, "size": 36},
    "fp72_whole": {"base": "fp72", "no_face": "whole", "size": 36},
}
#: the tiny raw set: 2 recordings x 3 s at 160x120 (Haar finds these skin types at this size)
RAW = dict(recordings=2, seconds=3, preset="mixed", seed=16, width=160, height=120, recordings_per_subject=1)
VERSIONED = ("numpy", "zarr", "numcodecs", "opencv-python-headless")
#: store attributes added after the golden digests were written (issue 14: the store key and what the raw folder
#: held); they say where a store came from, not what preprocessing wrote, so the comparison leaves them out
LATER_STORE_KEYS = ("adapter_version", "source", "store_key", "discovered", "limit")


def _canon(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def store_digests(path: Path) -> dict[str, str]:
    import numpy as np
    import zarr

    path = Path(path)
    content = hashlib.sha256()
    root = json.loads((path / "zarr.json").read_text())
    attrs = dict(root["attributes"]["rppgbench"])
    for k in ("package_versions",) + LATER_STORE_KEYS:
        attrs.pop(k, None)
    content.update(_canon(attrs))
    g = zarr.open_group(str(path / "recordings"), mode="r")
    for rid in sorted(g.group_keys()):
        rg = g[rid]
        content.update(rid.encode() + _canon(dict(rg.attrs)))
        for name, arr in sorted(rg.arrays()):
            a = np.asarray(arr[...])
            content.update(f"{name}|{a.dtype.str}|{a.shape}".encode() + a.tobytes())
        if "extra" in rg:
            for name, arr in sorted(rg["extra"].arrays()):
                a = np.asarray(arr[...])
                content.update(f"extra/{name}|{a.dtype.str}|{a.shape}".encode() + a.tobytes())
    files = hashlib.sha256()
    for p in sorted(q for q in path.rglob("*") if q.is_file()):
        rel = p.relative_to(path).as_posix()
        data = p.read_bytes()
        if rel == "zarr.json":
            meta = json.loads(data)
            for k in ("package_versions",) + LATER_STORE_KEYS:
                meta["attributes"]["rppgbench"].pop(k, None)
            data = _canon(meta)
        files.update(rel.encode() + b"\0" + data)
    return {"content": content.hexdigest(), "files": files.hexdigest()}


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in VERSIONED:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = ""
    return out


def build(work: Path) -> dict[str, dict[str, str]]:
    """Write the raw set into ``work`` and prepare it with every legacy recipe; digests per recipe."""
    from rppgbench.datasets.synthetic import write_raw_dataset
    from rppgbench.store import prepare

    raw = write_raw_dataset(work / "raw", **RAW)
    out = {}
    for key, recipe in LEGACY_RECIPES.items():
        s = prepare("synthetic", raw, recipe=recipe, out=work / f"{key}.zarr", workers=0)
        if not s.ok:
            raise RuntimeError(f"{key}: {s.failed}")
        out[key] = store_digests(work / f"{key}.zarr")
    return out


def main(target: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        digests = build(Path(tmp))
    doc = {"comment": "written by `python tests/_legacy_golden.py tests/data/legacy_stores.json` at commit 97736e4 "
                      "(before issue 11); see tests/_legacy_golden.py",
           "raw": RAW, "versions": versions(), "stores": digests}
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    Path(target).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    print(json.dumps(doc, indent=2, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1])
