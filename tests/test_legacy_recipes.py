"""Recipes from before smooth tracking and the skin ROI reproduce their stores byte for byte.

The golden digests in ``tests/data/legacy_stores.json`` were computed by the code before that change (commit
97736e4) with ``python tests/_legacy_golden.py tests/data/legacy_stores.json``; see ``tests/_legacy_golden.py``.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from _legacy_golden import build, versions  # noqa: I001 (tests/ is on sys.path)

from rppgbench.preprocess.recipe import NAMED_RECIPES, Recipe

GOLDEN = json.loads((Path(__file__).parent / "data" / "legacy_stores.json").read_text())


@pytest.fixture(scope="module")
def digests(tmp_path_factory):
    return build(tmp_path_factory.mktemp("legacy"))


def test_legacy_store_contents_are_unchanged(digests):
    assert set(digests) == set(GOLDEN["stores"])
    for key, d in digests.items():
        assert d["content"] == GOLDEN["stores"][key]["content"], key


def test_legacy_store_files_are_unchanged_with_the_same_libraries(digests):
    if versions() != GOLDEN["versions"]:
        pytest.skip(f"compressed bytes depend on the library builds: golden {GOLDEN['versions']}, here {versions()}")
    for key, d in digests.items():
        assert d["files"] == GOLDEN["stores"][key]["files"], key


def test_legacy_recipe_ids_and_canonical_json_are_unchanged():
    # the canonical JSON of fp72 as written by the code before tracking/roi existed
    r = Recipe.named("fp72")
    assert "tracking" not in r.canonical_json() and "roi" not in r.canonical_json()
    assert r.recipe_id.startswith("e35a6eb215bcf7b8") and Recipe.named("tb72").recipe_id.startswith("1db2b27d9acd76eb")
    assert Recipe.named("pn128").recipe_id.startswith("a6d8deb7bde2539b")
    assert r.is_legacy and not Recipe.named("skin72").is_legacy
    assert '"tracking":"smooth"' in Recipe.named("skin72").canonical_json()
    assert set(NAMED_RECIPES) >= {"fp72", "tb72", "pn128", "skin72"}
