"""The null baseline of a run (used by :mod:`rppgbench.runner_validate` and :mod:`rppgbench.runner_models`).

Every run gets one null model, id :data:`~rppgbench.results.null.NULL_ID`, unless it is switched off
(``RunOptions(null=False)``, ``rppgbench run --no-null``):

- the protocol has a train split: ``null.train_mean_hr``, whose HR is the mean over the train split's label windows
  of the reference HR, computed by :func:`rppgbench.evaluation.evaluate` with the protocol's profile, window and
  HR method (so exactly as the test reference HRs are);
- no train split (a test-only protocol): ``null.constant_hr`` at a published population HR.

A protocol may list its own null under the id ``null`` (quoted in YAML: ``{name: null.constant_hr, id: "null",
overrides: {hr_bpm: 80}}``); then that one is used. The null reads only labels, from a store the run opens anyway.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from rppgbench._checks import DataError, ProtocolError
from rppgbench._logging import logger
from rppgbench.results.null import NULL_ID
from rppgbench.runner_models import _split_by_dataset

__all__ = ["NULL_ID", "null_plan", "build_null", "null_model_name", "check_null"]


def null_model_name(protocol: Any) -> str:
    """``null.train_mean_hr`` when the protocol has a non-empty train split, else ``null.constant_hr``."""
    from rppgbench.models.baseline import CONSTANT, TRAIN_MEAN

    return TRAIN_MEAN if protocol.splits.get("train") else CONSTANT


def null_plan(protocol: Any, recipes: dict[str, Any], plans: list[Any], training: Any) -> Any:
    """The :class:`~rppgbench.runner_validate.ModelPlan` of the automatic null baseline.

    Its store for each dataset is the protocol's recipe when a selected model reads it, else the first selected
    model's recipe, so the null never makes the run prepare a store it would not open anyway.
    """
    from rppgbench.models import model_cfg
    from rppgbench.runner_validate import ModelPlan

    name = null_model_name(protocol)
    mrec = {}
    for ds, recipe in recipes.items():
        used = [p.recipes[ds] for p in plans if ds in p.recipes]
        mrec[ds] = recipe if not used or any(r.recipe_id == recipe.recipe_id for r in used) else used[0]
    return ModelPlan(id=NULL_ID, name=name, cfg=model_cfg(name), overrides={}, training=training, recipes=mrec)


def check_null(protocol: Any, mp: Any) -> None:
    """A model listed under the reserved id must be a null baseline; the train-mean null needs a train split."""
    from rppgbench.models.baseline import TRAIN_MEAN

    if mp.id == NULL_ID and mp.cfg.kind != "baseline":
        raise ProtocolError(f"{protocol.path}: model id {NULL_ID!r} is reserved for the null baseline; "
                            f"{mp.name} is a {mp.cfg.kind} model: give it another id")
    if mp.cfg.kind == "baseline" and mp.id != NULL_ID:
        raise ProtocolError(f"{protocol.path}: model {mp.id} ({mp.name}) is a null baseline: list it with "
                            f'id: "{NULL_ID}" (a run has one null baseline; without it one is added)')
    if mp.name == TRAIN_MEAN and not protocol.splits.get("train"):
        raise ProtocolError(f"{protocol.path}: model {mp.id} ({TRAIN_MEAN}) needs a train split; use "
                            "null.constant_hr in a protocol without one")


def build_null(mp: Any, plan: Any, stores: dict[str, Any], tables: dict[str, Any], splits: Any) -> Any:
    """Build the null model; the train-mean null is fitted on the reference HRs of the train split's windows.

    A train recording the evaluation refuses (too short for the window, a constant label) is left out of the
    mean with a warning naming it, and listed in the model's ``describe()["train_skipped"]``.
    """
    from rppgbench.evaluation import MetricWarning, evaluate
    from rppgbench.models import create_model

    model = create_model(mp.name, **mp.overrides)
    if not model.needs_train:
        logger.info("null baseline %s: constant %.1f bpm (%s)", mp.name, model.hr_bpm, model.reference)
        return model
    ev = plan.protocol.evaluation
    hrs: list[np.ndarray] = []
    for ds, rids in sorted(_split_by_dataset(splits["train"]).items()):
        fps = tables[ds].set_index("recording_id")["fps"]
        for rid in rids:
            label = np.asarray(stores[ds].read_label(rid, mp.cfg.label_view), dtype=np.float64)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", MetricWarning)  # only the reference HRs are used
                    res = evaluate({rid: (label, label)}, float(fps.loc[rid]), ev.profile, ev.window_s,
                                   label_type=mp.cfg.label_view, hr_method=ev.hr_method)
            except (DataError, ValueError) as exc:
                logger.warning("null baseline: train recording %s/%s left out of the mean HR: %s", ds, rid, exc)
                model.train_skipped[f"{ds}/{rid}"] = str(exc)
                continue
            hrs.append(res.windows["hr_ref"].to_numpy(dtype=np.float64))
    model.fit(np.concatenate(hrs) if hrs else np.zeros(0), len(hrs))
    logger.info("null baseline %s: %.2f bpm = mean reference HR of %d train window(s) of %d recording(s)",
                mp.name, model.hr_bpm, model.n_train_windows, model.n_train_recordings)
    return model
