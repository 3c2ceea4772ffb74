"""Preprocessing recipes: every choice that changes the bytes of a prepared store, as serialisable data.

A :class:`Recipe` is hashed (sha256 of :meth:`Recipe.canonical_json`) into ``recipe_id``; a store is keyed by
it together with the adapter version and, for generated data, the raw folder's identity
(:func:`rppgbench.store.store_path`), and records the full recipe in its attributes, so two stores made with
different choices can never be mixed up. The cosmetic ``name`` is not part of the hash.

Named recipes (``Recipe.named(...)``):

``fp72``
    72×72 crops, Haar detection every 30 frames (FactorizePhys style: rPPG-Toolbox ``DO_DYNAMIC_DETECTION``
    with ``DYNAMIC_DETECTION_FREQUENCY 30``, large box 1.5).
``tb72``
    72×72 crops, one detection on the first frame kept for the whole video (rPPG-Toolbox default static box).
``pn128``
    128×128 crops, first-frame detection (PHASE-Net preprocessing).
``skin72``
    **the default**: 72×72 crops, BlazeFace every 10 frames, smooth tracking (``tracking: smooth``: similarity
    motion by Lucas-Kanade between frames + detections averaged and interpolated, no steps) and the skin ROI
    (``roi: keypoints``: forehead and cheek polygons give the colour model, the face oval ∩ the subject's skin
    chroma is averaged; the unsupervised methods read that mean colour). Chosen by measurement
    (``benchmarks/extraction.py``, ``docs/extraction.md``).

``fp72``, ``tb72`` and ``pn128`` are kept exactly as they were before ``tracking``/``roi`` existed (same
``recipe_id``, same store bytes): fields that hold their legacy value (``tracking: hold``, ``roi: box``) are left
out of the canonical JSON, so adding them changed no existing recipe's hash.

References: rPPG-Toolbox (Liu et al., "rPPG-Toolbox: Deep Remote PPG Toolbox", NeurIPS 2023 Datasets and
Benchmarks); FactorizePhys (Joshi, Agaian & Cho, NeurIPS 2024); PHASE-Net (Zhao et al., arXiv 2509.24850).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rppgbench._checks import check_option, check_range
from rppgbench._registry import Registry, RegistryError

__all__ = ["Recipe", "RECIPE_FORMAT_VERSION", "NAMED_RECIPES", "resolve_recipe", "DEFAULT_RECIPE", "LEGACY_DEFAULTS"]

#: bump when the meaning of a recipe field or the store layout changes
RECIPE_FORMAT_VERSION = 1

SMOOTHING = ("none", "ema", "median")
TRACKING = ("hold", "smooth")
ROI = ("box", "keypoints")
#: fields added after format 1 with the value that reproduces the old behaviour; omitted from the canonical
#: JSON (and so from the hash) while they hold it
LEGACY_DEFAULTS: dict[str, Any] = {"tracking": "hold", "roi": "box"}
DEFAULT_RECIPE = "skin72"
NO_FACE = ("fail", "carry", "whole")
ALIGNMENT = ("time", "index")
INTERPOLATION = ("area", "linear", "cubic")


@dataclass(frozen=True)
class Recipe:
    """Face cropping and label alignment settings for one prepared store.

    Parameters
    ----------
    dataset : str
        Dataset registry name ("" until bound with :meth:`for_dataset`).
    dataset_options : dict
        Keyword arguments passed to the dataset adapter's constructor (JSON-serialisable).
    detector : str
        Name in :data:`rppgbench.preprocess.face.FACE_DETECTORS` (``haar``, ``mediapipe``, ``face_alignment``).
    detector_options : dict
        Keyword arguments of the detector class (e.g. Haar ``min_neighbors``, ``max_side``).
    detect_every : int
        Run the detector on frames ``0, N, 2N, ...``; ``0`` means on the first frame only (static box).
    smoothing, smoothing_param : str, float
        Smoothing of successive detections: ``none``; ``ema`` with weight ``smoothing_param`` on the new
        detection (0 < a ≤ 1); ``median`` over the last ``int(smoothing_param)`` detections (per coordinate).
    tracking : str
        ``hold`` (rPPG-Toolbox: the box of the last scheduled detection is held until the next one, with
        ``smoothing`` over successive detections; ``detect_every: 0`` = first-frame box) or ``smooth`` (see
        :mod:`rppgbench.preprocess.face.smooth`: detections every ``detect_every`` frames, dense motion in between,
        no steps; needs ``detect_every >= 1``).
    roi : str
        ``box`` (the unsupervised methods average the whole crop) or ``keypoints`` (the skin ROI: the face oval placed
        from the detector's keypoints, minus eyes and mouth, intersected with the subject's own skin chroma; its
        mean colour is stored as ``skin_rgb``; needs ``tracking: smooth`` and a detector with keypoints, e.g.
        ``blazeface``; see :mod:`rppgbench.preprocess.face.roi`).
    median_box : bool
        Use the median of all detections of the recording for every frame (rPPG-Toolbox
        ``USE_MEDIAN_FACE_BOX``; costs a second decoding pass).
    enlarge : float
        Box side multiplier around the box centre (rPPG-Toolbox ``LARGE_BOX_COEF``, default 1.5).
    square : bool
        Make the box square (side = max(w, h) × enlarge) before clamping.
    size : int
        Output crop side in pixels.
    interpolation : str
        ``cv2.resize`` interpolation: ``area`` (INTER_AREA, default), ``linear``, ``cubic``.
    no_face : str
        What to do when a scheduled detection finds no face: ``fail`` (DataError naming recording and frame),
        ``carry`` (keep the last box; frames before the first detection use the first later one),
        ``whole`` (use the whole frame until the next detection).
    label_alignment : str
        ``time`` (interpolate the label at its timestamps onto the frame times) or ``index``
        (rPPG-Toolbox ``resample_ppg``: linear stretch of sample indices to the frame count).
    duration_tolerance : float
        Allowed relative difference between label and video durations before a DataError.
    format_version : int
        :data:`RECIPE_FORMAT_VERSION` at the time the recipe was made.
    name : str
        A label for humans; not part of the hash.
    """

    dataset: str = ""
    dataset_options: dict[str, Any] = field(default_factory=dict)
    detector: str = "haar"
    detector_options: dict[str, Any] = field(default_factory=dict)
    detect_every: int = 30
    smoothing: str = "none"
    smoothing_param: float = 0.5
    median_box: bool = False
    tracking: str = "hold"
    roi: str = "box"
    enlarge: float = 1.5
    square: bool = True
    size: int = 72
    interpolation: str = "area"
    no_face: str = "carry"
    label_alignment: str = "time"
    duration_tolerance: float = 0.05
    format_version: int = RECIPE_FORMAT_VERSION
    name: str = ""

    def __post_init__(self) -> None:
        check_option("recipe.smoothing", self.smoothing, SMOOTHING)
        check_option("recipe.no_face", self.no_face, NO_FACE)
        check_option("recipe.label_alignment", self.label_alignment, ALIGNMENT)
        check_option("recipe.interpolation", self.interpolation, INTERPOLATION)
        check_option("recipe.tracking", self.tracking, TRACKING)
        check_option("recipe.roi", self.roi, ROI)
        if self.tracking == "smooth":
            if not isinstance(self.detect_every, int) or self.detect_every < 1:
                raise ValueError(f"recipe.detect_every must be >= 1 with tracking 'smooth'; got {self.detect_every!r}")
            if self.median_box or self.smoothing != "none":
                raise ValueError("recipe.tracking 'smooth' does its own smoothing; median_box must be false and "
                                 "smoothing 'none'")
        if self.roi == "keypoints" and self.tracking != "smooth":
            raise ValueError("recipe.roi 'keypoints' needs tracking 'smooth'")
        if not isinstance(self.detect_every, int) or self.detect_every < 0:
            raise ValueError(f"recipe.detect_every must be an int >= 0 (0 = first frame only); "
                             f"got {self.detect_every!r}")
        if not isinstance(self.size, int) or self.size < 8:
            raise ValueError(f"recipe.size must be an int >= 8; got {self.size!r}")
        check_range("recipe.enlarge", self.enlarge, 1.0, 4.0)
        check_range("recipe.duration_tolerance", self.duration_tolerance, 0.0, 1.0)
        if self.smoothing == "ema":
            check_range("recipe.smoothing_param (ema weight)", self.smoothing_param, 0.0, 1.0, low_inclusive=False)
        if self.smoothing == "median":
            check_range("recipe.smoothing_param (median window)", self.smoothing_param, 1, 1000)
        for key in ("dataset_options", "detector_options"):
            value = getattr(self, key)
            if not isinstance(value, dict):
                raise ValueError(f"recipe.{key} must be a mapping; got {type(value).__name__}")
            try:
                json.dumps(value, sort_keys=True)
            except TypeError as exc:
                raise ValueError(f"recipe.{key} must be JSON-serialisable: {exc}") from None

    # -- serialisation ------------------------------------------------------------------------
    def as_dict(self) -> dict[str, Any]:
        """All fields, except those of :data:`LEGACY_DEFAULTS` that hold their legacy value (so a store written
        by a format-1 recipe records exactly the mapping it always did)."""
        d = dataclasses.asdict(self)
        for k, v in LEGACY_DEFAULTS.items():
            if d[k] == v:
                d.pop(k)
        return d

    @property
    def is_legacy(self) -> bool:
        """True when every field added after format 1 holds its legacy value (the store is written as format 1)."""
        return all(getattr(self, k) == v for k, v in LEGACY_DEFAULTS.items())

    def canonical_json(self) -> str:
        """Sorted keys, no whitespace, floats as Python repr; ``name`` excluded, and so are the fields of
        :data:`LEGACY_DEFAULTS` while they hold their legacy value (older recipes keep their hash)."""
        d = self.as_dict()
        d.pop("name")
        d["enlarge"] = float(d["enlarge"])
        d["smoothing_param"] = float(d["smoothing_param"])
        d["duration_tolerance"] = float(d["duration_tolerance"])
        return json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=True)

    @property
    def extraction_version(self) -> int | None:
        """Version of the extraction code whose output a store of this recipe holds, beyond the recipe fields:
        :data:`rppgbench.preprocess.face.roi.ROI_VERSION` for ``roi: keypoints`` (the skin ROI), None otherwise.
        It enters the store key (:func:`rppgbench.store.layout.store_key`), not the ``recipe_id``, so an
        improved ROI gets new stores while the legacy recipes keep their ids, keys and bytes."""
        if self.roi != "keypoints":
            return None
        from rppgbench.preprocess.face.roi import ROI_VERSION  # noqa: PLC0415 (cv2 only when needed)

        return ROI_VERSION

    @property
    def recipe_id(self) -> str:
        """sha256 hex digest of :meth:`canonical_json`."""
        return hashlib.sha256(self.canonical_json().encode("ascii")).hexdigest()

    def replace(self, **changes: Any) -> Recipe:
        return dataclasses.replace(self, **changes)

    def for_dataset(self, dataset: str, **options: Any) -> Recipe:
        """The recipe bound to ``dataset`` (dataset options merged over the recipe's own)."""
        merged = {**self.dataset_options, **options}
        return dataclasses.replace(self, dataset=dataset, dataset_options=merged)

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, source: str = "recipe") -> Recipe:
        if not isinstance(d, dict):
            raise ValueError(f"{source}: a recipe must be a mapping of fields; got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"{source}: unknown recipe field(s) {unknown}; known fields: {sorted(known)}")
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> Recipe:
        return cls.from_dict(json.loads(text))

    @classmethod
    def load(cls, path: str | Path) -> Recipe:
        """Read a recipe from a ``.json`` or ``.yaml``/``.yml`` file (``base: NAME`` starts from a named one)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"recipe file {path} does not exist")
        text = path.read_text()
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a recipe file must hold a mapping of fields; got {type(data).__name__}")
        data.setdefault("name", path.stem)
        return cls.from_mapping(data, source=str(path))

    @classmethod
    def from_mapping(cls, data: dict[str, Any], source: str | None = None) -> Recipe:
        """A recipe from fields, where ``base: NAME`` starts from a named recipe and the other fields override it.

        A modified named recipe is no longer that name: its ``name`` is "" unless the mapping gives one.
        """
        data = dict(data)
        base = data.pop("base", None)
        if base is not None:
            start = cls.named(base).as_dict()
            start["name"] = ""
            start.update(data)
            data = start
        return cls.from_dict(data, source=source or "recipe")

    @classmethod
    def named(cls, name: str) -> Recipe:
        """The recipe registered as ``name`` in :data:`NAMED_RECIPES`."""
        try:
            fields = NAMED_RECIPES.get(name)
        except RegistryError as exc:
            raise ValueError(str(exc)) from None
        return cls(**fields, name=name)


#: named recipes: name -> the fields that differ from the :class:`Recipe` defaults (``rppgbench ls recipes``)
NAMED_RECIPES: Registry[dict[str, Any]] = Registry("recipe name")
NAMED_RECIPES.register("fp72", {"size": 72, "detect_every": 30, "enlarge": 1.5},
                       description="72x72 crops, Haar detection every 30 frames (FactorizePhys / rPPG-Toolbox dynamic)")
NAMED_RECIPES.register("tb72", {"size": 72, "detect_every": 0, "enlarge": 1.5},
                       description="72x72 crops, one first-frame box for the whole video (rPPG-Toolbox default)")
NAMED_RECIPES.register("pn128", {"size": 128, "detect_every": 0, "enlarge": 1.5},
                       description="128x128 crops, first-frame box (PHASE-Net preprocessing)")
NAMED_RECIPES.register("skin72", {"size": 72, "detector": "blazeface", "detect_every": 10, "tracking": "smooth",
                                  "roi": "keypoints", "enlarge": 1.5},
                       description="72x72 crops, BlazeFace every 10 frames with smooth tracking, skin-keypoint ROI "
                                   "(the default)")


def resolve_recipe(spec: str | Path | Recipe | dict | None, dataset: str | None = None) -> Recipe:
    """A recipe from a name (``fp72``), a YAML/JSON path, a dict or a Recipe; default :data:`DEFAULT_RECIPE`.

    When ``dataset`` is given the result is bound to it; a recipe already bound to another dataset is refused.
    """
    if spec is None:
        r = Recipe.named(DEFAULT_RECIPE)
    elif isinstance(spec, Recipe):
        r = spec
    elif isinstance(spec, dict):
        r = Recipe.from_mapping(spec)
    elif isinstance(spec, str) and spec in NAMED_RECIPES:
        r = Recipe.named(spec)
    elif Path(spec).suffix.lower() in (".json", ".yaml", ".yml") or Path(spec).exists():
        r = Recipe.load(spec)
    else:
        r = Recipe.named(str(spec))  # raises with the known names
    if dataset is not None:
        if r.dataset and r.dataset != dataset:
            raise ValueError(f"recipe is bound to dataset {r.dataset!r}, not {dataset!r}")
        r = r.for_dataset(dataset)
    return r
