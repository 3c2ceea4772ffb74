"""`rppgbench run` / `validate`: bad input is refused with a clear error before any training or data work."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from rppgbench._checks import ProtocolError, RecipeMismatchError, RppgbenchError
from rppgbench.cli import cli
from rppgbench.protocols import load_protocol, protocols_root
from rppgbench.runner import RunOptions, run_protocol
from rppgbench.runner_validate import check_output_dir, validate_protocol

BASE = """protocol: {name}
version: 1
citation: {{paper: "test"}}
datasets:
  {dataset}: {{recipe: {recipe}}}
splits:
  train: {{dataset: {dataset}, subjects: [1, 2]}}
  test: {{dataset: {dataset}, subjects: [3]}}
models: [{models}]
"""


def proto_file(tmp_path: Path, name: str = "t", dataset: str = "ubfc_rppg", recipe: str = "fp72",
               models: str = "pos") -> Path:
    p = tmp_path / f"{name}.yaml"
    p.write_text(BASE.format(name=name, dataset=dataset, recipe=recipe, models=models))
    return p


def test_every_shipped_protocol_passes_the_data_free_checks():
    for path in sorted(protocols_root().rglob("*.yaml")):
        if "_base" in path.parts:
            continue
        proto, recipes, plans = validate_protocol(path, build=False)
        assert set(recipes) == set(proto.datasets)
        assert [m.id for m in plans] == [m.id for m in proto.models] + ["null"]  # the null baseline, everywhere
        null = plans[-1]
        assert null.cfg.kind == "baseline" and null.name == "null.train_mean_hr"  # every shipped one trains
        assert all(null.recipes[ds].recipe_id in {p.recipes[ds].recipe_id for p in plans[:-1]} for ds in recipes)
        no_null = validate_protocol(path, build=False, null=False)[2]
        assert [m.id for m in no_null] == [m.id for m in proto.models]


def test_unknown_model_is_named_with_suggestion(tmp_path):
    p = proto_file(tmp_path, models="pos, factorizephis")
    with pytest.raises(ProtocolError, match=r"models\[1\]: unknown model 'factorizephis'; did you mean "
                                            r"'factorizephys'"):
        validate_protocol(p)


def test_contract_mismatch_names_both_values(tmp_path):
    p = proto_file(tmp_path, recipe="pn128", models="factorizephys")
    with pytest.raises(RecipeMismatchError, match=r"needs frame_size=72 but dataset ubfc_rppg uses recipe pn128 "
                                                  r"with size=128"):
        validate_protocol(p)


def test_contract_fps_mismatch_names_both_values(tmp_path):
    p = tmp_path / "f.yaml"
    p.write_text(BASE.format(name="f", dataset="ubfc_rppg", recipe="fp72", models="") .replace(
        "models: []", "models: [{name: pos, overrides: {fps: 25.0}}]"))
    with pytest.raises(RecipeMismatchError, match=r"expects fps=25.0 but dataset ubfc_rppg is recorded at fps=30.0"):
        validate_protocol(p)


def test_unbuildable_override_is_caught_before_work(tmp_path):
    p = tmp_path / "g.yaml"
    p.write_text(BASE.format(name="g", dataset="ubfc_rppg", recipe="fp72", models="").replace(
        "models: []", "models: [{name: factorizephys.tiny, overrides: {widthz: 3}}]"))
    with pytest.raises(ProtocolError, match=r"models\[0\] \(factorizephys.tiny\): cannot build the model"):
        validate_protocol(p)


def test_selected_models_must_be_in_the_protocol(tmp_path):
    p = proto_file(tmp_path, models="pos, chrom")
    assert [m.id for m in validate_protocol(p, ["chrom"])[2]] == ["chrom", "null"]  # --models keeps the null
    assert [m.id for m in validate_protocol(p, ["null"])[2]] == ["null"]
    assert [m.id for m in validate_protocol(p, ["chrom"], null=False)[2]] == ["chrom"]
    with pytest.raises(ProtocolError, match=r"--models: green not in protocol t \(it lists pos, chrom, null\)"):
        validate_protocol(p, ["green"])
    with pytest.raises(ProtocolError, match="--no-null leaves the null baseline out"):
        validate_protocol(p, ["null"], null=False)


def test_null_baseline_choice_and_reserved_id(tmp_path):
    p = proto_file(tmp_path, models="pos")
    assert validate_protocol(p)[2][-1].name == "null.train_mean_hr"
    test_only = tmp_path / "to.yaml"
    test_only.write_text(p.read_text().replace("protocol: t", "protocol: to").replace(
        "  train: {dataset: ubfc_rppg, subjects: [1, 2]}\n", ""))
    plans = validate_protocol(test_only)[2]
    assert [(m.id, m.name) for m in plans] == [("pos", "pos"), ("null", "null.constant_hr")]
    # a protocol may configure its own null under the id null; any selection keeps it
    own = tmp_path / "own.yaml"
    own.write_text(p.read_text().replace("protocol: t", "protocol: own").replace(
        "models: [pos]", "models: [pos, {name: null.constant_hr, id: 'null', overrides: {hr_bpm: 80.0}}]"))
    plans = validate_protocol(own, ["pos"])[2]
    assert [(m.id, m.name, m.overrides) for m in plans] == [("pos", "pos", {}),
                                                             ("null", "null.constant_hr", {"hr_bpm": 80.0})]
    for models, msg in (("[{name: pos, id: 'null'}]", "id 'null' is reserved for the null baseline"),
                        ("[{name: null.constant_hr, id: null}]", r'is empty; YAML reads a bare null .*\(id: "null"\)'),
                        ("[null.constant_hr]", "is a null baseline: list it with id: \"null\"")):
        bad = tmp_path / "bad.yaml"
        bad.write_text(p.read_text().replace("protocol: t", "protocol: bad").replace("models: [pos]",
                                                                                     f"models: {models}"))
        with pytest.raises(ProtocolError, match=msg):
            validate_protocol(bad)
    needs_train = tmp_path / "nt.yaml"
    needs_train.write_text(test_only.read_text().replace("protocol: to", "protocol: nt").replace(
        "models: [pos]", "models: [pos, {name: null.train_mean_hr, id: \"null\"}]"))
    with pytest.raises(ProtocolError, match="null.train_mean_hr\\) needs a train split"):
        validate_protocol(needs_train)


def test_output_dir_of_another_protocol_is_refused_before_work(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"protocol": {"name": "pure_intra", "sha256": "0" * 64}}))
    proto = load_protocol(proto_file(tmp_path))
    with pytest.raises(RppgbenchError, match=r"holds results of protocol 'pure_intra', not 't'"):
        check_output_dir(out, proto, resume=False)
    # the runner checks it before touching any store: the dataset here has no store and no raw data
    with pytest.raises(RppgbenchError, match="holds results of protocol 'pure_intra'"):
        run_protocol(RunOptions(protocol=proto_file(tmp_path), output=out))
    (out / "run.json").write_text(json.dumps({"protocol": {"name": "t", "sha256": proto.protocol_hash}}))
    with pytest.raises(RppgbenchError, match="already holds a run of t; pass --resume"):
        check_output_dir(out, proto, resume=False)
    check_output_dir(out, proto, resume=True)


def test_missing_store_without_raw_prints_the_prepare_command(tmp_path, monkeypatch):
    monkeypatch.delenv("RPPGBENCH_RAW_UBFC_RPPG", raising=False)
    res = CliRunner().invoke(cli, ["run", str(proto_file(tmp_path)), "--output", str(tmp_path / "o")])
    assert res.exit_code != 0
    msg = str(res.exception)
    assert "rppgbench prepare ubfc_rppg --raw PATH --recipe fp72" in msg
    assert "RPPGBENCH_RAW_UBFC_RPPG" in msg


def test_validate_command_says_ok_per_file_and_reports_errors(tmp_path):
    good = proto_file(tmp_path, name="good")
    res = CliRunner().invoke(cli, ["validate", str(good), "ubfc_rppg_intra"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].startswith("OK ") and "good v1" in lines[0] and "ubfc_rppg_intra v2" in lines[1]
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text().replace("protocol: good", "protocol: bad").replace("models:", "modles:"))
    res = CliRunner().invoke(cli, ["validate", str(bad)])
    assert res.exit_code != 0 and "unknown key 'modles'" in str(res.exception)
    for cmd in ("run", "validate"):
        assert "Example" in CliRunner().invoke(cli, [cmd, "--help"]).output
