"""Dry runs: ``rppgbench run P --stand-ins [--smoke]``.

``--stand-ins``: every dataset of ``P`` whose raw folder is unknown (no ``--raw``/``RPPGBENCH_RAW_<DATASET>``) and
which lacks a prepared store for a recipe the run needs gets a small synthetic **stand-in** in its real raw layout,
written by its fixture writer (:mod:`rppgbench.datasets.fixtures`), holding exactly the subjects (and recordings)
that ``P``'s splits name (two subjects for a part that takes ``all``; recordings chosen to pass the part's
metadata filter). Each recording is long enough for every model's clip and the evaluation window. The stand-in
is prepared by the dataset's own adapter like real data, so the whole protocol runs end to end.

Stand-ins never mix with real data: their raw folders live under ``<data_root>/_standins/raw/`` and their stores
under ``<data_root>/_standins/<dataset>/``, never at a real store's path. Their results say so everywhere:
``results.json`` gets a top-level ``stand_in`` block (and ``provenance.stand_ins``), every row ``"stand_in":
true``, the report a banner, and ``rppgbench leaderboard submit`` refuses such a run.

``--smoke``: every neural model trains one optimiser step (one epoch of one batch of one clip), labelled ``smoke``
likewise.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rppgbench import config
from rppgbench._checks import DataError
from rppgbench._logging import logger
from rppgbench._util import atomic_write

__all__ = ["StandIn", "plan_stand_ins", "ensure_stand_in", "apply_smoke", "label_results",
           "STANDIN_VERSION"]

#: bump when the rendering changes (part of every stand-in's folder digest)
STANDIN_VERSION = 2  # 2: fixture heart rates wrapped into 55-115 bpm (many-subject stand-ins)
_DONE = ".standin.json"
_DEFAULT_SUBJECTS = (1, 2)
#: per dataset where (1, 2) cannot pass a shipped filter: MMPD subjects 1 and 2 are both skin type 4, the
#: rPPG-Toolbox MMPD protocols filter skin_color 3 (subject 3)
_DEFAULT_SUBJECTS_OF = {"mmpd": (1, 3)}


@dataclass
class StandIn:
    dataset: str
    subjects: list[int]
    sessions: list[Any]  # per-dataset recording selector (PURE task, MMPD index, iBVP condition, BUAA lux)
    seconds: float
    raw: Path = field(default_factory=Path)

    def writer_kwargs(self) -> dict[str, Any]:
        # 160x120 frames: large enough for the face detectors to find the synthetic face (at the fixtures' default
        # 64x48 the Haar detector of the fp72 recipe finds none), small enough to render in ~0.5 s per recording
        s, seconds, wh = list(self.subjects), float(self.seconds), (160, 120)
        return {
            "pure": lambda: {"subjects": s, "tasks": self.sessions, "seconds": seconds, "size": wh},
            "ubfc_rppg": lambda: {"subjects": s, "seconds": seconds, "size": wh},
            "mmpd": lambda: {"subjects": s, "recordings": self.sessions, "seconds": seconds, "size": (120, 160),
                             "p24_inconsistency": False},
            "buaa_mihe": lambda: {"subjects": s, "lux": self.sessions, "seconds": seconds, "size": wh},
            "ibvp": lambda: {"participants": s, "conditions": self.sessions, "seconds": seconds, "size": wh,
                             "thermal": False},
            "scamps": lambda: {"ids": s, "seconds": seconds, "size": (120, 120)},
        }[self.dataset]()

    def describe(self) -> dict[str, Any]:
        return {"raw": str(self.raw), "store_root": str(self.raw.parent.parent / self.dataset),
                "writer": f"rppgbench.datasets.fixtures.write_{self.dataset}", **self.writer_kwargs()}

    def store_path(self, recipe: Any) -> Path:
        return self.raw.parent.parent / self.dataset / f"{self.raw.name}-{recipe.recipe_id[:16]}.zarr"


#: the recording selector each writer gets by default, and the filter columns it can satisfy
_SESSIONS = {"pure": [1], "mmpd": [0], "buaa_mihe": [10.0], "ibvp": ["a"], "ubfc_rppg": [], "scamps": []}
#: recording-id patterns: (subject, selector) from an id a protocol names
_RID = {"pure": (r"^(\d+)-(\d+)$", int, int), "ubfc_rppg": (r"^subject(\d+)$", int, None),
        "mmpd": (r"^subject(\d+)_p\d+_(\d+)$", int, int), "ibvp": (r"^p(\d+)_([a-z])$", int, str),
        "buaa_mihe": (r"^sub(\d+)_lux([\d.]+)$", int, float), "scamps": (r"^P(\d+)$", int, None)}


def _window_needs(plan: Any) -> float:
    """Seconds a stand-in recording needs: every model's clip (plus extra frames) and the evaluation window."""
    need = 6.0
    for mp in plan.models:
        if mp.cfg.kind == "neural":
            need = max(need, (int(mp.cfg.clip_len) + int(getattr(mp.cfg, "extra_frames", 0) or 0)) / 30.0 + 1.0)
    w = plan.protocol.evaluation.window_s
    return max(need, float(w) + 1.0 if w else 0.0)


def _has_store(plan: Any, ds: str) -> bool:
    from rppgbench.runner import _find_store

    recipes = {r.recipe_id: r for mp in plan.models for d, r in mp.recipes.items() if d == ds}
    return bool(recipes) and all((_find_store(ds, r) / "zarr.json").is_file() for r in recipes.values())


def _selection(plan: Any, ds: str) -> tuple[list[int], list[Any]]:
    subjects: set[int] = set()
    sessions: list[Any] = list(_SESSIONS[ds])
    for split, parts in plan.protocol.splits.items():
        for part in parts:
            if part.dataset != ds:
                continue
            subj = getattr(part, "subjects", "all")
            if subj in ("all", None):
                subjects.update(_DEFAULT_SUBJECTS_OF.get(ds, _DEFAULT_SUBJECTS))
            else:
                for s in subj:
                    try:
                        subjects.add(int(str(s).lstrip("0") or "0"))
                    except ValueError:
                        raise DataError(f"--stand-ins: {split} split names subject {s!r} of {ds}, which its stand-in "
                                        "writer cannot render (numeric subject ids only)") from None
            for rid in getattr(part, "recordings", None) or ():
                pat, fs, fsel = _RID[ds]
                m = re.match(pat, str(rid))
                if m is None:
                    raise DataError(f"--stand-ins: {split} split names recording {rid!r} of {ds}; its stand-in "
                                    f"writer renders ids matching {pat}")
                subjects.add(fs(m.group(1)))
                if fsel is not None and fsel(m.group(2)) not in sessions:
                    sessions.append(fsel(m.group(2)))
    return sorted(subjects), sessions


def plan_stand_ins(plan: Any) -> dict[str, StandIn]:
    """The stand-in of every dataset of the run that has neither a raw folder nor its stores."""
    from rppgbench.datasets.fixtures import __all__ as writers

    out: dict[str, StandIn] = {}
    seconds = _window_needs(plan)
    for ds, spec in plan.protocol.datasets.items():
        if ds == "synthetic" and spec.generate is not None:
            continue  # generated on demand anyway
        if config.raw_root(ds, plan.options.raw.get(ds)) is not None or _has_store(plan, ds):
            logger.info("--stand-ins: dataset %s has real data (raw folder or store); using it", ds)
            continue
        if f"write_{ds}" not in writers or ds not in _SESSIONS:
            raise DataError(f"--stand-ins: dataset {ds} has no fixture writer in rppgbench.datasets.fixtures; give its "
                            f"raw folder (--raw {ds}=PATH) or prepare its store")
        subjects, sessions = _selection(plan, ds)
        sin = StandIn(ds, subjects, sessions, round(seconds, 2))
        key = json.dumps({"v": STANDIN_VERSION, "dataset": ds, **sin.writer_kwargs()}, sort_keys=True)
        sin.raw = config.data_root() / "_standins" / "raw" / f"{ds}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
        out[ds] = sin
    return out


def ensure_stand_in(sin: StandIn) -> Path:
    """Render the stand-in's raw folder once (a marker file says it is complete); returns it."""
    from rppgbench.datasets import fixtures

    done = sin.raw.with_name(sin.raw.name + _DONE)  # beside the raw folder: adapters warn about unknown files
    if done.is_file():
        return sin.raw
    if sin.raw.exists():  # an interrupted earlier render: start again
        import shutil

        shutil.rmtree(sin.raw)
    kwargs = sin.writer_kwargs()
    logger.info("--stand-ins: rendering a %s stand-in into %s (%s)", sin.dataset, sin.raw, kwargs)
    hrs = getattr(fixtures, f"write_{sin.dataset}")(sin.raw, **kwargs)
    atomic_write(done, json.dumps({"kwargs": kwargs, "hr_bpm": hrs}, sort_keys=True, default=str).encode())
    return sin.raw


def apply_smoke(plans: list[Any]) -> list[Any]:
    """``--smoke``: one epoch of one optimiser step on a batch of one clip for every neural model
    (``selection: last``)."""
    for mp in plans:
        if mp.cfg.kind == "neural":
            mp.training = dataclasses.replace(mp.training, epochs=1, max_steps_per_epoch=1, batch_size=1,
                                              selection="last")
    return plans


def label_results(results: dict[str, Any], stand_ins: dict[str, StandIn], smoke: bool) -> None:
    """Mark a dry run's results: top-level ``stand_in``/``smoke``, provenance, and every row."""
    if stand_ins:
        block = {"datasets": {ds: s.describe() for ds, s in sorted(stand_ins.items())},
                 "note": "synthetic stand-in data in the datasets' raw layouts: these numbers measure nothing"}
        results["stand_in"] = block
        results["provenance"]["stand_ins"] = block
    if smoke:
        results["smoke"] = True
        results["provenance"]["smoke"] = True
    if stand_ins or smoke:
        for row in results["rows"]:
            row["stand_in"] = bool(stand_ins)
            row["smoke"] = bool(smoke)
