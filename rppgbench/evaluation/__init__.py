"""Evaluation (torch-free): per-recording waveforms in, HR metrics with standard errors out.

>>> from rppgbench.evaluation import evaluate, get_profile, list_profiles  # doctest: +SKIP
>>> res = evaluate({"rec1": (pred, label)}, fs=30.0, profile="rppgbench")  # doctest: +SKIP
>>> res.metrics["MAE"]  # {"value": ..., "se": ..., "unit": "bpm"}  # doctest: +SKIP
"""
from rppgbench.evaluation.bland_altman import bland_altman
from rppgbench.evaluation.evaluate import LABEL_TYPES, EvaluationResult, evaluate
from rppgbench.evaluation.io import Predictions, load_predictions, save_predictions
from rppgbench.evaluation.metrics import METRIC_NAMES, METRICS, MetricSpec, MetricWarning
from rppgbench.evaluation.profiles import PROFILES, Profile, get_profile, list_profiles

__all__ = ["evaluate", "EvaluationResult", "get_profile", "list_profiles", "METRIC_NAMES", "METRICS", "MetricSpec",
           "MetricWarning", "bland_altman", "PROFILES", "Profile", "LABEL_TYPES", "load_predictions",
           "save_predictions", "Predictions"]
