"""The null baseline in results: its model id and the one rule that says whether a row beats it.

``rppgbench run`` adds the null baseline (``rppgbench.models.baseline``) to every protocol under the model id
:data:`NULL_ID`. Whether another model beats it is not stored in ``results.json``; readers (the run's summary
table, reports) compute it with :func:`beats_null` from the rows, so results of any origin, and several runs
combined, are judged by the same rule (docs/results_format.md).
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

__all__ = ["NULL_ID", "NULL_METRIC", "beats_null", "null_verdicts"]

#: model id of the null baseline in results.json, reports and leaderboard entries
NULL_ID = "null"
#: the metric the comparison uses (lower is better)
NULL_METRIC = "MAE"


def _num(x: Any) -> float:
    try:
        return math.nan if x is None else float(x)
    except (TypeError, ValueError):
        return math.nan


def beats_null(value: Any, null_value: Any) -> bool | None:
    """True when an MAE ``value`` is strictly below the null's MAE; None when either is missing or NaN."""
    v, n = _num(value), _num(null_value)
    if math.isnan(v) or math.isnan(n):
        return None
    return v < n


def null_verdicts(rows: Iterable[dict[str, Any]], default_protocol: str = "") -> dict[tuple[str, str, str], str]:
    """``{(protocol, test_dataset, model): verdict}`` for the tidy metric rows of one or more runs.

    Verdicts: ``"null baseline"`` (the null itself), ``"beats null"`` (MAE strictly below the null's on the same
    protocol and test dataset), ``"does not beat null"`` (MAE >= the null's), ``"no null"`` (no null row for that
    protocol and test dataset, or an MAE that is NaN).
    """
    rows = [r for r in rows if r.get("metric") == NULL_METRIC]
    null = {(str(r.get("protocol", default_protocol)), str(r["test_dataset"])): r.get("value")
            for r in rows if r.get("model") == NULL_ID}
    out: dict[tuple[str, str, str], str] = {}
    for r in rows:
        key = (str(r.get("protocol", default_protocol)), str(r["test_dataset"]), str(r["model"]))
        if key[2] == NULL_ID:
            out[key] = "null baseline"
            continue
        b = beats_null(r.get("value"), null.get(key[:2]))
        out[key] = "no null" if b is None else "beats null" if b else "does not beat null"
    return out
