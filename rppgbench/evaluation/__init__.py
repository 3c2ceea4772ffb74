"""Evaluation (torch-free): per-recording waveforms in, HR metrics with standard errors out.

>>> from rppgbench.evaluation import evaluate, get_profile, list_profiles  # doctest: +SKIP
>>> res = evaluate({"rec1": (pred, label)}, fs=30.0, profile="rppgbench")  # doctest: +SKIP
>>> res.metrics["MAE"]  # {"value": ..., "se": ..., "unit": "bpm"}  # doctest: +SKIP

The names are imported from their submodule on first use: the metric and profile registries
(``rppgbench.evaluation.metrics``, ``.profiles``) load without scipy or pandas, which ``evaluate`` needs.
"""
from rppgbench._util import lazy_exports

_EXPORTS = {
    "bland_altman": "bland_altman",
    **dict.fromkeys(("LABEL_TYPES", "EvaluationResult", "evaluate"), "evaluate"),
    **dict.fromkeys(("Predictions", "load_predictions", "save_predictions"), "io"),
    **dict.fromkeys(("METRIC_NAMES", "METRICS", "MetricSpec", "MetricWarning", "metric_spec"), "metrics"),
    **dict.fromkeys(("PROFILES", "Profile", "get_profile", "list_profiles"), "profiles"),
}
__all__ = sorted(_EXPORTS)
lazy_exports(__name__, _EXPORTS)
