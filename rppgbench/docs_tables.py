"""Markdown tables of the registries (datasets, models, protocols) for README.md.

README.md holds each table between ``<!-- table:NAME -->`` and ``<!-- /table:NAME -->`` markers. The tables
are generated from the registries, so they cannot drift: ``tests/test_docs.py`` fails when README.md differs
from what this module renders. To refresh README.md after adding a dataset, model or protocol::

    python -m rppgbench.docs_tables --write README.md
"""
from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

TABLES = ("datasets", "models", "protocols")


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = [_md_row(header), "|" + "|".join("---" for _ in header) + "|"]
    lines += [_md_row(r) for r in rows]
    return "\n".join(lines)


def datasets_table() -> str:
    from rppgbench.datasets import DATASETS

    rows = []
    for name in DATASETS.names():
        info = DATASETS.get(name).info
        rows.append([f"`{name}`", info.title, f"{info.fps:g}", info.resolution, info.n_subjects,
                     info.n_recordings, info.gt_type, info.licence])
    return _table(["name", "dataset", "fps", "resolution", "subjects", "recordings", "ground truth", "licence"],
                  rows)


def models_table() -> str:
    from rppgbench.models import list_models, model_cfg

    rows = []
    for name in list_models():
        c = model_cfg(name)
        clip = "whole recording" if c.clip_len is None else f"{c.clip_len}" + (
            f"+{c.extra_frames}" if c.extra_frames else "")
        size = "-" if c.frame_size is None else f"{c.frame_size}×{c.frame_size}"
        params = "-" if c.published_params is None else f"{c.published_params:,}"
        rows.append([f"`{name}`", c.kind, clip, size, c.view_label, c.label_view, params,
                     c.paper or "-"])
    return _table(["name", "kind", "clip (frames)", "input size", "input view", "label view",
                   "published params", "paper"], rows)


def protocols_table() -> str:
    from rppgbench.protocols import list_protocols

    rows = []
    for p in list_protocols():
        version = "INVALID" if p.get("error") else str(p["version"])
        rows.append([f"`{p['name']}`", p.get("family", ""), version, p.get("citation", "")])
    return _table(["protocol", "family", "version", "source"], rows)


_RENDER: dict[str, Callable[[], str]] = {
    "datasets": datasets_table, "models": models_table, "protocols": protocols_table}


def render(name: str) -> str:
    return _RENDER[name]()


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- table:{name} -->\n)(.*?)(\n<!-- /table:{name} -->)", re.S)


def extract(text: str, name: str) -> str | None:
    """The table currently between the markers of ``name`` in ``text`` (None when the markers are absent)."""
    m = _pattern(name).search(text)
    return None if m is None else m.group(2)


def update(text: str) -> str:
    """``text`` with every marked table replaced by a freshly rendered one."""
    for name in TABLES:
        pat = _pattern(name)
        if pat.search(text) is None:
            raise ValueError(f"README has no '<!-- table:{name} -->' ... '<!-- /table:{name} -->' block")
        table = render(name)
        text = pat.sub(lambda m, table=table: m.group(1) + table + m.group(3), text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", metavar="README", help="rewrite the marked tables of this file in place")
    args = parser.parse_args(argv)
    if args.write:
        path = Path(args.write)
        path.write_text(update(path.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        for name in TABLES:  # a script entry point: writes to stdout
            sys.stdout.write(f"<!-- table:{name} -->\n{render(name)}\n<!-- /table:{name} -->\n\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
