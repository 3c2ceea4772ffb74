"""Preprocessing: recipes, label alignment, face detection and cropping (torch-free).

``rppgbench.store`` drives these steps for every recording of a dataset adapter.
"""
from rppgbench.preprocess.align import align_label
from rppgbench.preprocess.recipe import NAMED_RECIPES, Recipe, resolve_recipe

__all__ = ["Recipe", "NAMED_RECIPES", "resolve_recipe", "align_label"]
