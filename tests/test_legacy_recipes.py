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


#: golden sets, one per kind of machine the old code ran on: prepared stores depend on the CPU (the same code and
#: library versions gave other bytes on an AVX-512 Xeon than on the machine of the first digests)
GOLDEN_SETS = [GOLDEN] + list(GOLDEN.get("other_machines", []))


@pytest.fixture(scope="module")
def digests(tmp_path_factory):
    return build(tmp_path_factory.mktemp("legacy"))


def _matching_set(digests):
    """The golden set whose every store content equals this machine's, or None."""
    for g in GOLDEN_SETS:
        if set(digests) == set(g["stores"]) and all(d["content"] == g["stores"][k]["content"]
                                                    for k, d in digests.items()):
            return g
    return None


def test_legacy_store_contents_are_unchanged(digests):
    assert set(digests) == set(GOLDEN["stores"])
    g = _matching_set(digests)
    assert g is not None, (
        "the legacy stores match no golden set (machines: "
        f"{[s.get('machine') for s in GOLDEN_SETS]}): {[(k, d['content'][:16]) for k, d in digests.items()]}; on a "
        "new kind of machine, compute its set with the code of 97736e4 as tests/_legacy_golden.py says")


def test_legacy_store_files_are_unchanged_with_the_same_libraries(digests):
    g = _matching_set(digests)
    if g is None:
        pytest.fail("store contents match no golden set (see the test above)")
    if versions() != g["versions"]:
        pytest.skip(f"compressed bytes depend on the library builds: golden {g['versions']}, here {versions()}")
    for key, d in digests.items():
        assert d["files"] == g["stores"][key]["files"], key


def test_legacy_recipe_ids_and_canonical_json_are_unchanged():
    # the canonical JSON of fp72 as written by the code before tracking/roi existed
    r = Recipe.named("fp72")
    assert "tracking" not in r.canonical_json() and "roi" not in r.canonical_json()
    assert r.recipe_id.startswith("e35a6eb215bcf7b8") and Recipe.named("tb72").recipe_id.startswith("1db2b27d9acd76eb")
    assert Recipe.named("pn128").recipe_id.startswith("a6d8deb7bde2539b")
    assert r.is_legacy and not Recipe.named("skin72").is_legacy
    assert '"tracking":"smooth"' in Recipe.named("skin72").canonical_json()
    assert set(NAMED_RECIPES) >= {"fp72", "tb72", "pn128", "skin72"}
