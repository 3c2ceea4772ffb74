"""``base: NAME`` works the same in a recipe file, a dict given to prepare, and a protocol."""
from __future__ import annotations

import pytest

from rppgbench.preprocess.recipe import Recipe, resolve_recipe


def test_dict_with_base_equals_file_with_base(tmp_path):
    f = tmp_path / "small.yaml"
    f.write_text("base: fp72\nsize: 32\n")
    from_file = Recipe.load(f)
    from_dict = resolve_recipe({"base": "fp72", "size": 32})
    expected = Recipe.named("fp72").replace(size=32)
    assert from_dict.recipe_id == from_file.recipe_id == expected.recipe_id
    assert from_dict.size == 32 and from_dict.detect_every == Recipe.named("fp72").detect_every
    assert from_dict.name == "" and from_file.name == "small"


def test_dict_with_unknown_base_or_field_is_refused():
    with pytest.raises(ValueError, match="unknown recipe name 'fp7'; did you mean 'fp72'"):
        resolve_recipe({"base": "fp7"})
    with pytest.raises(ValueError, match=r"unknown recipe field\(s\) \['sise'\]"):
        resolve_recipe({"base": "fp72", "sise": 32})
