"""The tiny weights synthetic_quick evaluates: pretrained on generated data disjoint from synthetic_quick's,
shipped with provenance that matches the files and the pretraining protocol, and loadable with strict keys."""
from __future__ import annotations

import csv
import hashlib
import json

import pytest

from rppgbench.datasets.synthetic import write_raw_dataset
from rppgbench.protocols import load_protocol, protocols_root

WEIGHTS = protocols_root() / "synthetic" / "weights"
NETWORKS = ("factorizephys_tiny", "phasenet_tiny", "physfsunet_tiny")


def _manifest(tmp_path, name, generate):
    g = dict(generate)
    g.update(seconds=1, width=48, height=36)  # the seeds and traits do not depend on size or length
    root = write_raw_dataset(tmp_path / name, **g)
    with open(root / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _pretrain(mid):
    return load_protocol(f"pretrain_{mid}")


def test_pretraining_data_is_disjoint_from_the_benchmark(tmp_path):
    quick, pre = load_protocol("synthetic_quick"), _pretrain(NETWORKS[0])
    assert all(_pretrain(m).datasets == pre.datasets and _pretrain(m).splits == pre.splits for m in NETWORKS)
    gq, gp = quick.datasets["synthetic"].generate, pre.datasets["synthetic"].generate
    assert gq["seed"] != gp["seed"]
    mq, mp = _manifest(tmp_path, "quick", gq), _manifest(tmp_path, "pre", gp)
    assert len(mq) == gq["recordings"] and len(mp) == gp["recordings"]
    assert not {r["seed"] for r in mq} & {r["seed"] for r in mp}  # no recording rendered from the same seed
    # every skin type and every preset is in the pretraining train split
    train_subjects = {f"{s:02d}" for s in pre.splits["train"][0].subjects}
    train = [r for r in mp if r["subject"] in train_subjects]
    assert {r["fitzpatrick"] for r in train} == {str(t) for t in range(1, 7)}
    assert {r["preset"] for r in train} == {"clean", "motion", "light", "hard"}


def test_shipped_weights_match_their_provenance_and_the_pretraining_protocol():
    prov = json.loads((WEIGHTS / "provenance.json").read_text())
    assert set(prov["models"]) == set(NETWORKS)
    for mid in NETWORKS:
        p, pre = prov["models"][mid], _pretrain(mid)
        assert (p["protocol"]["name"], p["protocol"]["version"], p["protocol"]["sha256"]) == \
            (pre.name, pre.version, pre.protocol_hash)
        assert hashlib.sha256((WEIGHTS / f"{mid}.pt").read_bytes()).hexdigest() == p["sha256"]
        assert p["pretrain_test_mae_bpm"] < p["pretrain_test_null_mae_bpm"], mid  # they beat the null there too
        (spec,) = pre.models
        assert p["model"] == spec.name and p["overrides"] == spec.effective_overrides()


def test_synthetic_quick_evaluates_the_shipped_weights_with_strict_keys():
    pytest.importorskip("torch")
    from rppgbench.models import create_model
    from rppgbench.models._checkpoint import load_checkpoint

    quick = load_protocol("synthetic_quick")
    for mid in NETWORKS:
        q = next(m for m in quick.models if m.id == mid)
        (p,) = _pretrain(mid).models
        # the architecture, input contract and crop that were trained
        assert (q.name, q.overrides, q.contract, q.recipe) == (p.name, p.overrides, p.contract, p.recipe)
        assert q.checkpoint["path"] == f"weights/{mid}.pt"
        model = create_model(q.name, **q.overrides)
        assert load_checkpoint(model, WEIGHTS / f"{mid}.pt") == {"missing": [], "unexpected": []}  # strict
