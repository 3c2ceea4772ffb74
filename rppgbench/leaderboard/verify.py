"""``verify(root)``: re-check every committed leaderboard entry. CI runs it through a test, so an entry whose
numbers were edited by hand, whose labels differ from the reference, or whose files were swapped, fails."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rppgbench._checks import SubmissionError
from rppgbench._logging import logger
from rppgbench.leaderboard._recompute import recompute_metrics
from rppgbench.leaderboard.schema import (
    ENTRY_FILES,
    MAX_ENTRY_MANIFEST_BYTES,
    MAX_RESULTS_BYTES,
    REFERENCE_FILE,
    REFERENCE_LABELS_FILE,
    _safe,
    read_json_limited,
    read_reference,
    validate_manifest,
)
from rppgbench.leaderboard.submit import (
    build_metrics,
    check_predictions,
    check_reference_protocol,
    compare_claims,
    entry_predictions_sha256,
    load_submission_predictions,
    predictions_sha256,
    suspicion_flags,
)

__all__ = ["verify", "verify_entry", "entry_metrics", "VerifyReport", "protocols", "SITE_DIR"]

#: recomputation on another machine (other BLAS/SuperLU build) may differ in the last bits; nothing more
RECOMPUTE_RTOL = 1e-7
RECOMPUTE_ATOL = 1e-9
#: default output of ``leaderboard build`` inside the root; never a protocol
SITE_DIR = "site"


@dataclass
class VerifyReport:
    """Entries checked (``protocol/entry_id``) and the problems found, keyed the same way."""

    checked: list[str] = field(default_factory=list)
    problems: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        out = []
        for key in self.checked:
            out.append(f"{'ok  ' if key not in self.problems else 'FAIL'} {key}")
        for key, probs in sorted(self.problems.items()):
            if key not in self.checked:
                out.append(f"FAIL {key}")
            out.extend(f"     - {p}" for p in probs)
        return out


def protocols(root: str | Path) -> list[Path]:
    """Protocol directories of a leaderboard root (those holding a ``reference.json``)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"leaderboard root {root} does not exist")
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / REFERENCE_FILE).is_file())


def _diff(a: Any, b: Any, where: str, out: list[str]) -> None:
    """Structural comparison of JSON values with a float tolerance."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{where}.{k}: {'missing' if k not in a else 'unexpected'} in metrics.json")
            else:
                _diff(a[k], b[k], f"{where}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{where}: metrics.json has {len(a)} items; recomputed {len(b)}")
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            _diff(x, y, f"{where}[{i}]", out)
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) \
            and not isinstance(b, bool):
        if not (math.isfinite(a) and abs(a - b) <= RECOMPUTE_ATOL + RECOMPUTE_RTOL * abs(b)):
            out.append(f"{where}: metrics.json says {a!r}; recomputed {b!r}")
    elif a != b:
        out.append(f"{where}: metrics.json says {a!r:.200}; recomputed {b!r:.200}")


def entry_metrics(entry_dir: Path, ref: dict[str, Any], manifest: dict[str, Any]) -> tuple[dict, dict]:
    """``(recomputed, expected metrics.json body)`` of an entry from its predictions and the reference labels;
    raises :class:`SubmissionError` for predictions that do not fit the reference."""
    sub = load_submission_predictions(Path(entry_dir) / "predictions.npz", ref)
    view = manifest["model"].get("label_view", "raw")
    preds, labels = check_predictions(sub, ref, str(Path(entry_dir) / "predictions.npz"), view)
    recomputed = recompute_metrics(preds, labels, ref["evaluation"], view)
    return recomputed, build_metrics(recomputed, suspicion_flags(preds, labels, recomputed, manifest),
                                     predictions_sha256(preds))


def verify_entry(entry_dir: str | Path, ref: dict[str, Any]) -> list[str]:
    """Problems of one entry (empty list: the entry is consistent and its numbers are reproduced). Never raises
    for a bad entry: an unexpected error while checking it is a problem of that entry."""
    try:
        return _verify_entry(Path(entry_dir), ref)
    except Exception as exc:  # a malformed entry must not stop the check of every other entry
        logger.debug("verify %s", entry_dir, exc_info=True)
        return [f"cannot be checked: {type(exc).__name__}: {str(exc)[:300]}"]


def _verify_entry(entry_dir: Path, ref: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    try:
        _safe("entry_id", entry_dir.name)
    except SubmissionError as exc:
        return [str(exc)]
    present = sorted(p.name for p in entry_dir.iterdir())
    missing = [f for f in ENTRY_FILES if f not in present]
    extra = [f for f in present if f not in ENTRY_FILES]
    if missing or extra:
        return [f"entry must hold exactly {list(ENTRY_FILES)}; missing {missing}, unexpected {extra}"]
    try:
        manifest = read_json_limited(entry_dir / "manifest.json", MAX_ENTRY_MANIFEST_BYTES, "manifest")
        validate_manifest(manifest, complete=True)
        if manifest.get("entry_id") != entry_dir.name:
            problems.append(f"manifest.entry_id is {manifest.get('entry_id')!r}; the directory is {entry_dir.name!r}")
        for key in ("name", "version", "sha256"):
            if manifest["protocol"].get(key) != ref["protocol"].get(key):
                problems.append(f"manifest.protocol.{key} is {manifest['protocol'].get(key)!r}; the reference "
                                f"says {ref['protocol'].get(key)!r}")
        stored = read_json_limited(entry_dir / "metrics.json", MAX_RESULTS_BYTES, "metrics file")
        recomputed, expected = entry_metrics(entry_dir, ref, manifest)
    except SubmissionError as exc:
        return problems + [str(exc)]
    diffs: list[str] = []
    _diff(stored, expected, "metrics", diffs)
    problems += diffs[:20] + ([f"... and {len(diffs) - 20} more differences"] if len(diffs) > 20 else [])
    claims = compare_claims(manifest["claimed_metrics"], recomputed)
    problems += [f"manifest claim differs: {d}" for d in claims]
    return problems


def verify(root: str | Path = "leaderboards", protocols_root: str | Path | None = None) -> VerifyReport:
    """Verify every entry of every protocol under ``root``; never raises for a bad entry (it is reported).

    Each ``reference.json`` is checked against its protocol YAML (under ``protocols_root``), and entries of one
    protocol with identical predictions are reported (a copy is not a new entry)."""
    root = Path(root)
    rep = VerifyReport()
    pdirs = protocols(root)
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if d in pdirs or d.name == SITE_DIR:
            continue
        if any((c / "manifest.json").exists() for c in d.iterdir() if c.is_dir()):
            rep.problems[d.name] = [f"holds entries but no {REFERENCE_FILE}: they cannot be verified"]
    for pdir in pdirs:
        try:
            ref = read_reference(pdir)
        except SubmissionError as exc:
            rep.problems[pdir.name] = [str(exc)]
            continue
        if ref["protocol"].get("name") != pdir.name:
            rep.problems[pdir.name] = [f"{REFERENCE_FILE} names protocol {ref['protocol'].get('name')!r}; "
                                       f"the directory is {pdir.name!r}"]
            continue
        try:
            check_reference_protocol(ref, pdir, protocols_root)
        except SubmissionError as exc:
            rep.problems[pdir.name] = [str(exc)]
            continue
        hashes: dict[str, list[str]] = {}
        for child in sorted(pdir.iterdir()):
            if child.name in (REFERENCE_FILE, REFERENCE_LABELS_FILE):
                continue
            key = f"{pdir.name}/{child.name}"
            if child.name.startswith("."):
                logger.warning("ignoring hidden %s (an interrupted write?)", child)
                continue
            if not child.is_dir():
                rep.problems[key] = ["unexpected file in a protocol directory (entries are directories)"]
                continue
            rep.checked.append(key)
            probs = verify_entry(child, ref)
            if probs:
                rep.problems[key] = probs
            else:
                hashes.setdefault(entry_predictions_sha256(child, ref) or "", []).append(key)
        for sha, keys in hashes.items():
            for key in keys[1:] if sha else []:
                rep.problems.setdefault(key, []).append(
                    f"identical predictions to {keys[0]} (predictions sha256 {sha[:16]}…): a copy, not a new entry")
    logger.info("verified %d entr(y/ies); %d with problems", len(rep.checked), len(rep.problems))
    return rep
