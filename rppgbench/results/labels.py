"""Labels a results.json carries when it is not a real benchmark run (written by
:mod:`rppgbench.runner_standins`, read by the report and by ``leaderboard submit``)."""
from __future__ import annotations

from typing import Any

__all__ = ["is_dry_run"]


def is_dry_run(results: dict[str, Any]) -> str | None:
    """Why ``results`` (a results.json mapping) is not a real benchmark run, or None: it ran on synthetic
    stand-ins (``run --stand-ins``) or is a smoke run (``run --smoke``)."""
    prov = results.get("provenance") if isinstance(results.get("provenance"), dict) else {}
    sin = results.get("stand_in") or prov.get("stand_ins")
    if sin:
        names = sorted(sin.get("datasets", {})) if isinstance(sin, dict) else []
        return f"it ran on synthetic stand-ins of {', '.join(names) or 'its datasets'} (rppgbench run --stand-ins)"
    if results.get("smoke") or prov.get("smoke") or any(
            isinstance(r, dict) and (r.get("stand_in") or r.get("smoke")) for r in results.get("rows") or []):
        return "it is a smoke or stand-in run (rppgbench run --smoke / --stand-ins)"
    return None
