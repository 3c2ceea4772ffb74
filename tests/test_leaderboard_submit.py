"""Leaderboard submissions: accepted entries are recomputed; tampered, incomplete and malicious ones rejected."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from _lb_helpers import DEFAULT_MODELS, PROTOCOL, PROTOCOLS, manifest, write_results

from rppgbench._checks import SubmissionError
from rppgbench.evaluation import evaluate
from rppgbench.leaderboard import build, submit, verify, write_reference
from rppgbench.leaderboard import schema as S

TWO = {k: DEFAULT_MODELS[k] for k in ("pos", "tinynet")}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A trusted run and a leaderboard root with its reference (labels hashed, not shipped)."""
    d = tmp_path_factory.mktemp("lb")
    run = write_results(d / "run", TWO, n_rec=4)
    root = d / "lb"
    write_reference(run, root)
    return run, root


@pytest.fixture
def env(base, tmp_path):
    run, root = base
    shutil.copytree(run, tmp_path / "run")
    shutil.copytree(root, tmp_path / "lb")
    return tmp_path / "run", tmp_path / "lb"


def _rewrite_npz(path, mutate):
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    mutate(arrays)
    np.savez(path, **arrays)


def test_accepts_and_recomputes(env):
    run, root = env
    entry = submit(run, PROTOCOL, model="tinynet", manifest=manifest(),
                   root=root, protocols_root=PROTOCOLS, entry_id="tiny-1")
    assert sorted(p.name for p in entry.iterdir()) == sorted(S.ENTRY_FILES)
    metrics = json.loads((entry / "metrics.json").read_text())
    # recomputed metrics equal a direct evaluation of the stored predictions against the labels
    with np.load(run / "predictions" / "tinynet.npz") as z:
        ids = [str(i) for i in z["recording_ids"]]
        res = evaluate({i: (z[f"pred__{i}"], z[f"label__{i}"]) for i in ids}, fs=30.0, profile="rppgbench",
                       window_s=10.0, label_type="standardized")
    for name, m in res.metrics.items():
        assert metrics["datasets"]["synthetic"][name]["value"] == pytest.approx(m["value"], rel=1e-12, nan_ok=True)
    man = json.loads((entry / "manifest.json").read_text())
    assert man["model"] == {"id": "tinynet", "n_params": 52000, "kind": "neural", "label_view": "standardized",
                            "config": {"name": "tinynet", "label_view": "standardized"}, "checkpoint_sha256": None}
    assert man["claimed_metrics"]["synthetic"]["MAE"] == pytest.approx(res.metrics["MAE"]["value"])
    assert metrics["flags"] == []
    rep = verify(root, PROTOCOLS)
    assert rep.ok and rep.checked == [f"{PROTOCOL}/tiny-1"]
    with pytest.raises(SubmissionError, match="already exists"):
        submit(run, PROTOCOL, model="tinynet", manifest=manifest(),
               root=root, protocols_root=PROTOCOLS, entry_id="tiny-1")


@pytest.mark.parametrize("mutate, msg", [
    (lambda a: a.update(recording_ids=a["recording_ids"][:-1]), "missing 1 test recording"),
    (lambda a: a.update(recording_ids=np.array(list(a["recording_ids"]) + ["synthetic/zz"]),
                        **{"pred__synthetic/zz": np.zeros(900, np.float32),
                           "label__synthetic/zz": np.zeros(900, np.float32)}), "not in the protocol's test split"),
    (lambda a: a.update(recording_ids=np.array(list(a["recording_ids"]) + [a["recording_ids"][0]])),
     "listed more than once"),
    (lambda a: a.update({"pred__synthetic/s00": a["pred__synthetic/s00"][:-30]}), "pred has 870 samples"),
    (lambda a: a["pred__synthetic/s01"].__setitem__(5, np.nan), "NaN/inf"),
    (lambda a: a["label__synthetic/s02"].__setitem__(7, 0.5), "reference label hash"),
    (lambda a: a.update(recording_ids=np.array(["../../x"] + list(a["recording_ids"])[1:])), "unsafe recording id"),
    (lambda a: a.update(fs=np.float64(25.0)), "fs is 25.0"),
])
def test_rejects_bad_predictions(env, mutate, msg):
    run, root = env
    _rewrite_npz(run / "predictions" / "pos.npz", mutate)
    with pytest.raises(SubmissionError, match=msg):
        submit(run, PROTOCOL, model="pos", manifest=manifest(), root=root, protocols_root=PROTOCOLS)
    assert [p.name for p in (root / PROTOCOL).iterdir() if p.is_dir()] == []  # nothing written


def test_rejects_hand_edited_claims(env):
    run, root = env
    res = json.loads((run / "results.json").read_text())
    for row in res["rows"]:
        if row["model"] == "pos" and row["metric"] == "MAE":
            true = row["value"]
            row["value"] = round(true - 0.5, 2)
    (run / "results.json").write_text(json.dumps(res))
    with pytest.raises(SubmissionError, match=r"synthetic/MAE: claimed .*recomputed") as e:
        submit(run, PROTOCOL, model="pos", manifest=manifest(), root=root, protocols_root=PROTOCOLS)
    assert repr(true) in str(e.value)


def test_rejects_other_protocol_version_and_hash(env):
    run, root = env
    res = json.loads((run / "results.json").read_text())
    res["protocol"]["version"] = 2
    (run / "results.json").write_text(json.dumps(res))
    with pytest.raises(SubmissionError, match="protocol version is 2; the leaderboard expects 1"):
        submit(run, PROTOCOL, model="pos", manifest=manifest(), root=root, protocols_root=PROTOCOLS)
    res["protocol"]["version"] = 1
    (run / "results.json").write_text(json.dumps(res))
    bad = manifest(protocol={"name": PROTOCOL, "version": 1, "sha256": "0" * 64})
    with pytest.raises(SubmissionError, match="manifest: protocol sha256"):
        submit(run, PROTOCOL, model="pos", manifest=bad, root=root, protocols_root=PROTOCOLS)
    with pytest.raises(SubmissionError, match="no leaderboard for protocol 'other'"):
        submit(run, "other", model="pos", manifest=manifest(), root=root, protocols_root=PROTOCOLS)


@pytest.mark.parametrize("over, msg", [
    ({"entry_id": "../../x"}, "must match"),
    ({"code_url": "javascript:alert(1)"}, "code_url must be an http"),
    ({"method_name": "x" * 500}, "at most 120 characters"),
    ({"method_name": "a\x00b"}, "control characters"),
    ({"test_videos_seen": "no"}, "test_videos_seen must be bool"),
    ({"extra_field": 1}, "unknown field"),
])
def test_rejects_bad_manifests(env, over, msg):
    run, root = env
    with pytest.raises(SubmissionError, match=msg):
        submit(run, PROTOCOL, model="pos", manifest=manifest(**over), root=root, protocols_root=PROTOCOLS)
    with pytest.raises(SubmissionError, match="must match"):
        submit(run, PROTOCOL, model="pos", manifest=manifest(), root=root, protocols_root=PROTOCOLS, entry_id="a/b")
    m = manifest()
    del m["hardware"]
    with pytest.raises(SubmissionError, match="lacks required field 'hardware'"):
        submit(run, PROTOCOL, model="pos", manifest=m, root=root, protocols_root=PROTOCOLS)


def test_rejects_oversized_files(env, monkeypatch):
    run, root = env
    import importlib
    sub_mod = importlib.import_module("rppgbench.leaderboard.submit")
    size = (run / "predictions" / "pos.npz").stat().st_size
    monkeypatch.setattr(sub_mod, "MAX_PREDICTIONS_BYTES", size - 1)
    with pytest.raises(SubmissionError, match=f"is {size} bytes; the limit is {size - 1}"):
        submit(run, PROTOCOL, model="pos", manifest=manifest(), root=root, protocols_root=PROTOCOLS)
    big = run / "big_manifest.json"
    big.write_text(json.dumps(manifest(notes="n" * 1000)) + " " * S.MAX_MANIFEST_BYTES)
    with pytest.raises(SubmissionError, match="the limit is"):
        submit(run, PROTOCOL, model="pos", manifest=big, root=root, protocols_root=PROTOCOLS)


def test_flags_predictions_equal_to_labels(env):
    run, root = env

    def copy_labels(a):
        for rid in a["recording_ids"]:
            a[f"pred__{rid}"] = a[f"label__{rid}"].copy()

    _rewrite_npz(run / "predictions" / "pos.npz", copy_labels)
    # the claims must match the recomputation, so a cheater also edits results.json consistently
    from rppgbench.leaderboard._recompute import recompute_metrics
    ref = S.read_reference(root / PROTOCOL)
    with np.load(run / "predictions" / "pos.npz") as z:
        preds = {r: z[f"pred__{r}"] for r in ref["recordings"]}
    rec = recompute_metrics(preds, dict(preds), ref["evaluation"], "raw")
    res = json.loads((run / "results.json").read_text())
    for row in res["rows"]:
        if row["model"] == "pos":
            row["value"] = rec["datasets"]["synthetic"][row["metric"]]["value"]
    (run / "results.json").write_text(json.dumps(res))
    entry = submit(run, PROTOCOL, model="pos", manifest=manifest(test_videos_seen=True),
                   root=root, protocols_root=PROTOCOLS)
    flags = json.loads((entry / "metrics.json").read_text())["flags"]
    assert any("Pearson of 1.0000" in f for f in flags)
    assert any("nearly equal to the reference label" in f and "4/4" in f for f in flags)
    assert any("test videos were seen" in f for f in flags)
    build(root, tmp := root / "site")
    page = (tmp / f"{PROTOCOL}.html").read_text()
    assert "nearly equal to the reference label" in page


def test_verify_detects_hand_edits(env):
    run, root = env
    entry = submit(run, PROTOCOL, model="pos", manifest=manifest(),
                   root=root, protocols_root=PROTOCOLS, entry_id="pos-1")
    assert verify(root, PROTOCOLS).ok
    met = json.loads((entry / "metrics.json").read_text())
    met["datasets"]["synthetic"]["MAE"]["value"] -= 0.25
    (entry / "metrics.json").write_text(json.dumps(met))
    rep = verify(root, PROTOCOLS)
    assert not rep.ok
    assert any("metrics.datasets.synthetic.MAE.value" in p for p in rep.problems[f"{PROTOCOL}/pos-1"])
    met["datasets"]["synthetic"]["MAE"]["value"] += 0.25
    (entry / "metrics.json").write_text(json.dumps(met))
    assert verify(root, PROTOCOLS).ok
    man = json.loads((entry / "manifest.json").read_text())
    man["claimed_metrics"]["synthetic"]["RMSE"] = 0.1
    (entry / "manifest.json").write_text(json.dumps(man))
    probs = verify(root, PROTOCOLS).problems[f"{PROTOCOL}/pos-1"]
    assert any("manifest claim differs: synthetic/RMSE" in p for p in probs)
    shutil.copy(run / "results.json", entry / "extra.json")
    assert "unexpected ['extra.json']" in verify(root, PROTOCOLS).problems[f"{PROTOCOL}/pos-1"][0]


def test_shipped_reference_labels_are_used_and_checked(tmp_path):
    run = write_results(tmp_path / "run", {"pos": DEFAULT_MODELS["pos"]}, n_rec=3)
    root = tmp_path / "lb"
    write_reference(run, root, ship_labels=True)
    ref = S.read_reference(root / PROTOCOL)
    assert ref["labels_shipped"] is True and sorted(ref["labels"]["raw"]) == sorted(ref["recordings"])
    submit(run, PROTOCOL, model="pos", manifest=manifest(), root=root, protocols_root=PROTOCOLS, entry_id="p")
    assert verify(root, PROTOCOLS).ok
    _rewrite_npz(root / PROTOCOL / "reference_labels.npz",
                 lambda a: a["label__raw__synthetic/s00"].__setitem__(0, 9.0))
    rep = verify(root, PROTOCOLS)
    assert "does not match its sha256" in rep.problems[PROTOCOL][0]


def test_cli_submit_and_verify(env, tmp_path):
    from click.testing import CliRunner

    from rppgbench.cli import cli
    run, root = env
    mf = tmp_path / "m.json"
    mf.write_text(json.dumps(manifest()))
    r = CliRunner().invoke(cli, ["submit", str(run), "--leaderboard", PROTOCOL, "--model", "pos", "--manifest",
                                 str(mf), "--root", str(root), "--entry-id", "cli-pos", "--protocols-root",
                                 str(PROTOCOLS)])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == str(root / PROTOCOL / "cli-pos")
    # the recomputed metrics (as metrics.json holds them) and the entry's rank
    met = json.loads((root / PROTOCOL / "cli-pos" / "metrics.json").read_text())["datasets"]["synthetic"]
    assert lines[1] == "synthetic: rank 1 of 1 by MAE"
    assert [ln.split()[0] for ln in lines[2:8]] == ["MAE", "RMSE", "MAPE", "Pearson", "SNR", "MACC"]
    for ln, m in zip(lines[2:8], ["MAE", "RMSE", "MAPE", "Pearson", "SNR", "MACC"], strict=True):
        assert ln.endswith(f"{met[m]['value']:.2f} ± {met[m]['se']:.2f}"), (ln, met[m])
    r = CliRunner().invoke(cli, ["submit", str(run), "--leaderboard", PROTOCOL, "--model", "tinynet", "--manifest",
                                 str(mf), "--root", str(root), "--entry-id", "cli-tiny", "--protocols-root",
                                 str(PROTOCOLS)])
    assert r.exit_code == 0, r.output
    mae = {e: json.loads((root / PROTOCOL / e / "metrics.json").read_text())["datasets"]["synthetic"]["MAE"]["value"]
           for e in ("cli-pos", "cli-tiny")}
    assert r.output.splitlines()[1] == f"synthetic: rank {1 + (mae['cli-pos'] < mae['cli-tiny'])} of 2 by MAE"
    r = CliRunner().invoke(cli, ["leaderboard", "verify", "--root", str(root), "--protocols-root", str(PROTOCOLS)])
    assert r.exit_code == 0 and "2 entries checked, 0 with problems" in r.output
    for args in (["submit", "--help"], ["leaderboard", "--help"], ["leaderboard", "build", "--help"],
                 ["leaderboard", "verify", "--help"]):
        assert "Example" in CliRunner().invoke(cli, args).output


def test_rejects_path_like_protocol_and_model_ids(env):
    run, root = env
    with pytest.raises(SubmissionError, match=r"protocol must match .*'\.\./\.\./x'"):
        submit(run, "../../x", model="pos", manifest=manifest(), root=root, protocols_root=PROTOCOLS)
    with pytest.raises(SubmissionError, match=r"model must match .*'\.\./\.\./x'"):
        submit(run, PROTOCOL, model="../../x", manifest=manifest(), root=root, protocols_root=PROTOCOLS)
    assert [p.name for p in (root / PROTOCOL).iterdir() if p.is_dir()] == []
    assert not (root.parent / "x").exists()


def test_label_views_are_hashed_separately(env):
    run, root = env
    ref = S.read_reference(root / PROTOCOL)
    views = ref["recordings"]["synthetic/s00"]["views"]
    assert sorted(views) == ["raw", "standardized"] and views["raw"]["sha256"] != views["standardized"]["sha256"]
    # declaring another view than the one the labels are in fails the hash check
    res = json.loads((run / "results.json").read_text())
    res["models"]["tinynet"]["config"]["label_view"] = "raw"
    (run / "results.json").write_text(json.dumps(res))
    with pytest.raises(SubmissionError, match="reference label hash"):
        submit(run, PROTOCOL, model="tinynet", manifest=manifest(), root=root, protocols_root=PROTOCOLS)
    res["models"]["tinynet"]["config"]["label_view"] = "diffnormalized"
    (run / "results.json").write_text(json.dumps(res))
    with pytest.raises(SubmissionError, match="no labels in view 'diffnormalized'"):
        submit(run, PROTOCOL, model="tinynet", manifest=manifest(), root=root, protocols_root=PROTOCOLS)


def test_seed_from_results_writes_reference_and_one_entry_per_model(tmp_path):
    from rppgbench.leaderboard import seed_from_results
    from rppgbench.leaderboard.seed import SYNTHETIC_NOTE

    run = write_results(tmp_path / "run", TWO, n_rec=3)
    root = tmp_path / "lb"
    entries = seed_from_results(run, root, protocols_root=PROTOCOLS)
    assert [e.name for e in entries] == ["pos", "tinynet"]
    ref = S.read_reference(root / PROTOCOL)
    assert ref["labels_shipped"] and sorted(ref["labels"]) == ["raw", "standardized"]
    for e in entries:
        man = json.loads((e / "manifest.json").read_text())
        assert man["synthetic_data_only"] is True and man["notes"] == SYNTHETIC_NOTE
        assert man["test_videos_seen"] is False
    assert verify(root, PROTOCOLS).ok
