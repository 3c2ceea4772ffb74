"""``refresh(root)``: maintainers regenerate every entry's ``metrics.json`` from its committed predictions when
rppgbench's evaluation changes (e.g. a new standard-error rule), with the same code ``verify`` checks against.

Only derived data is rewritten. An entry whose recomputed metric *values* no longer equal the claims in its
manifest is not touched and is reported: its numbers changed, so it must be re-submitted (or re-seeded).
"""
from __future__ import annotations

import json
from pathlib import Path

from rppgbench._checks import SubmissionError
from rppgbench._logging import logger
from rppgbench._util import atomic_write_text
from rppgbench.leaderboard.schema import MAX_ENTRY_MANIFEST_BYTES, REFERENCE_FILE, read_json_limited, read_reference
from rppgbench.leaderboard.submit import check_reference_protocol, compare_claims
from rppgbench.leaderboard.verify import VerifyReport, entry_metrics, protocols

__all__ = ["refresh"]


def refresh(root: str | Path = "leaderboards", protocols_root: str | Path | None = None) -> VerifyReport:
    """Rewrite ``metrics.json`` of every entry under ``root``; ``checked`` lists the entries rewritten or already
    current, ``problems`` the ones left as they were (with the reason). A reference that does not belong to its
    protocol YAML (under ``protocols_root``) refreshes nothing."""
    rep = VerifyReport()
    for pdir in protocols(root):
        try:
            ref = read_reference(pdir)
            check_reference_protocol(ref, pdir, protocols_root)
        except SubmissionError as exc:
            rep.problems[pdir.name] = [str(exc)]
            continue
        for entry in sorted(p for p in pdir.iterdir() if p.is_dir() and not p.name.startswith(".")):
            key = f"{pdir.name}/{entry.name}"
            try:
                manifest = read_json_limited(entry / "manifest.json", MAX_ENTRY_MANIFEST_BYTES, "manifest")
                recomputed, body = entry_metrics(entry, ref, manifest)
            except (SubmissionError, KeyError, TypeError) as exc:
                rep.problems[key] = [f"not refreshed: {exc}"]
                continue
            claims = compare_claims(manifest.get("claimed_metrics", {}), recomputed)
            if claims:
                rep.problems[key] = ["not refreshed: the recomputed values differ from the manifest's claims "
                                     f"(re-submit the entry): {d}" for d in claims]
                continue
            text = json.dumps(body, indent=2, sort_keys=True, allow_nan=False) + "\n"
            target = entry / "metrics.json"
            if not target.is_file() or target.read_text(encoding="utf-8") != text:
                atomic_write_text(target, text)
                logger.info("rewrote %s", target)
            rep.checked.append(key)
    logger.info("refreshed %d entr(y/ies) under %s (%s per protocol); %d left as they were", len(rep.checked),
                root, REFERENCE_FILE, len(rep.problems))
    return rep
