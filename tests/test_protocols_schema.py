"""Protocol schema: every shipped file validates; bad input gives file:line errors; includes and hashing."""
from __future__ import annotations

from pathlib import Path

import pytest

from rppgbench._checks import ProtocolError
from rppgbench.protocols import list_protocols, load_protocol, protocols_root

ROOT = protocols_root()
SHIPPED = sorted(p for p in ROOT.rglob("*.yaml") if "_base" not in p.parts)


def test_protocols_root_holds_the_families():
    assert {p.parent.name for p in SHIPPED} >= {"intra", "cross_dataset", "lodo", "synthetic"}
    for fam in {p.parent for p in SHIPPED}:
        assert (fam / "README.md").is_file(), f"{fam} has no README.md (source + changelog)"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_protocol_validates(path: Path):
    p = load_protocol(path)
    assert p.name == path.stem and p.version >= 1 and p.citation.paper
    assert "test" in p.splits and p.models
    assert len(p.protocol_hash) == 64
    readme = (path.parent / "README.md").read_text()
    assert p.name in readme, f"{path.parent}/README.md does not mention {p.name}"


def test_list_protocols_for_ls():
    rows = list_protocols()
    names = [r["name"] for r in rows]
    assert names == sorted(names) and "ubfc_rppg_intra" in names and "synthetic_quick" in names
    for r in rows:
        assert set(r) >= {"name", "version", "path", "citation"} and r["error"] is None, r


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


GOOD = """protocol: {name}
version: 1
citation: {{paper: "Someone 2024"}}
datasets:
  ubfc_rppg: {{recipe: default}}
splits:
  train: {{dataset: ubfc_rppg, subjects: [1, 3]}}
  test: {{dataset: ubfc_rppg, subjects: [38]}}
models:
  - pos
  - {{name: factorizephys, overrides: {{dropout: 0.1}}}}
"""


def test_typo_key_reports_file_line_and_suggestion(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = GOOD.format(name="x").replace("  - {name: factorizephys", "  - {modle: factorizephys")
    write(tmp_path, "protocols/x.yaml", text)
    with pytest.raises(ProtocolError) as exc:
        load_protocol("protocols/x.yaml")
    assert str(exc.value) == ("protocols/x.yaml:11: unknown key 'modle' in models[1]; allowed keys: name, id, "
                              "overrides, training, recipe, checkpoint")
    write(tmp_path, "protocols/x.yaml", text.replace("modle:", "nmae:"))
    with pytest.raises(ProtocolError, match=r"^protocols/x\.yaml:11: unknown key 'nmae' in models\[1\]; did you "
                                            r"mean 'name'\?$"):
        load_protocol("protocols/x.yaml")


def test_typo_top_level_key_and_wrong_type(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "a.yaml", GOOD.format(name="a") + "trainng: {epochs: 3}\n")
    with pytest.raises(ProtocolError, match=r"^a\.yaml:12: unknown key 'trainng' in \(top level\); did you mean "
                                            r"'training'\?"):
        load_protocol("a.yaml")
    write(tmp_path, "b.yaml", GOOD.format(name="b") + "training:\n  epochs: three\n")
    with pytest.raises(ProtocolError, match=r"^b\.yaml:13: training\.epochs must be an integer; got str 'three'"):
        load_protocol("b.yaml")
    write(tmp_path, "c.yaml", GOOD.format(name="c").replace("subjects: [38]", "subjects: 0.3"))
    with pytest.raises(ProtocolError, match=r"^c\.yaml:8: splits\.test\.subjects must be \"all\" or a non-empty"):
        load_protocol("c.yaml")


def test_stem_mismatch_unknown_dataset_and_duplicate_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "y.yaml", GOOD.format(name="z"))
    with pytest.raises(ProtocolError, match=r"^y\.yaml:1: protocol must equal the file stem 'y'; got 'z'"):
        load_protocol("y.yaml")
    write(tmp_path, "d.yaml", GOOD.format(name="d").replace("  ubfc_rppg: {recipe", "  ubfc_rpgg: {recipe"))
    with pytest.raises(ProtocolError, match=r"^d\.yaml:5: unknown dataset 'ubfc_rpgg' in datasets; did you mean "
                                            r"'ubfc_rppg'\?"):
        load_protocol("d.yaml")
    write(tmp_path, "e.yaml", GOOD.format(name="e") + "version: 2\n")
    with pytest.raises(ProtocolError, match=r"^e\.yaml:12: duplicate key 'version'"):
        load_protocol("e.yaml")


def test_no_fractions_and_range_filter_types(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "f.yaml", GOOD.format(name="f").replace("subjects: [38]", "begin: 0.8"))
    with pytest.raises(ProtocolError, match=r"f\.yaml:8: unknown key 'begin' in splits\.test"):
        load_protocol("f.yaml")
    write(tmp_path, "g.yaml", GOOD.format(name="g").replace("subjects: [38]", "filter: {lux: {gee: 10}}"))
    with pytest.raises(ProtocolError, match=r"g\.yaml:8: unknown key 'gee' in splits\.test\.filter\.lux; did you "
                                            r"mean 'ge'\?"):
        load_protocol("g.yaml")


def test_include_child_overrides_parent_and_errors_point_into_the_include(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "_base/t.yaml", "training:\n  epochs: 7\n  batch_size: 2\nevaluation: {window_s: 30}\n")
    write(tmp_path, "fam/h.yaml", GOOD.format(name="h") + "include: ../_base/t.yaml\ntraining: {epochs: 3}\n")
    p = load_protocol("fam/h.yaml")
    assert (p.training.epochs, p.training.batch_size, p.evaluation.window_s) == (3, 2, 30.0)
    assert p.files == ("fam/h.yaml", "_base/t.yaml")
    write(tmp_path, "_base/bad.yaml", "training:\n  epocs: 7\n")
    write(tmp_path, "fam/i.yaml", GOOD.format(name="i") + "include: ../_base/bad.yaml\n")
    with pytest.raises(ProtocolError, match=r"^_base/bad\.yaml:2: unknown key 'epocs' in training; did you mean "
                                            r"'epochs'\?"):
        load_protocol("fam/i.yaml")
    write(tmp_path, "fam/j.yaml", GOOD.format(name="j") + "include: ../_base/nope.yaml\n")
    with pytest.raises(ProtocolError, match=r"fam/j\.yaml:12: included file '\.\./_base/nope\.yaml' not found"):
        load_protocol("fam/j.yaml")


def test_include_cycle_is_detected(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "_base/a.yaml", "include: b.yaml\n")
    write(tmp_path, "_base/b.yaml", "include: a.yaml\n")
    write(tmp_path, "k.yaml", GOOD.format(name="k") + "include: _base/a.yaml\n")
    with pytest.raises(ProtocolError, match=r"include cycle: k\.yaml -> _base/a\.yaml -> _base/b\.yaml -> "
                                            r"_base/a\.yaml"):
        load_protocol("k.yaml")


def test_hash_is_canonical(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "m.yaml", GOOD.format(name="m"))
    # same content, different key order, spacing and an explicit default: same hash
    reordered = ("version: 1\nprotocol: m\nmodels: [pos, {name: factorizephys, overrides: {dropout: 0.1}}]\n"
                 "citation: {paper: 'Someone 2024'}\ndatasets: {ubfc_rppg: {recipe: default}}\n"
                 "splits: {test: {dataset: ubfc_rppg, subjects: [38]}, train: {dataset: ubfc_rppg, subjects: [1, 3]}}\n"
                 "training: {seed: 0}\n")
    write(tmp_path, "other/m.yaml", reordered)
    assert load_protocol("m.yaml").protocol_hash == load_protocol("other/m.yaml").protocol_hash
    write(tmp_path, "third/m.yaml", reordered.replace("seed: 0", "seed: 1"))
    assert load_protocol("third/m.yaml").protocol_hash != load_protocol("m.yaml").protocol_hash


def test_unknown_protocol_name_suggests(tmp_path):
    with pytest.raises(ProtocolError, match="did you mean 'ubfc_rppg_intra'"):
        load_protocol("ubfc_rpg_intra")


def test_missing_yaml_path_is_looked_up_by_its_stem(tmp_path, monkeypatch):
    from rppgbench.protocols import LIBRARY, find_protocol

    monkeypatch.chdir(tmp_path)  # no protocols/ folder here: the old repo layout and a short form both resolve
    shipped = LIBRARY / "cross_dataset" / "mmpd_cross.yaml"
    for given in ("protocols/cross_dataset/mmpd_cross.yaml", "protocols/mmpd_cross.yaml", "mmpd_cross"):
        assert find_protocol(given) == shipped
    assert load_protocol("protocols/mmpd_cross.yaml").path == str(shipped)
    with pytest.raises(ProtocolError, match=r"^protocol file protocols/mmpd_crosss\.yaml does not exist and there is "
                                            r"no protocol named 'mmpd_crosss' under .*; did you mean 'mmpd_cross'"):
        find_protocol("protocols/mmpd_crosss.yaml")
    # an existing file always wins over a shipped protocol of the same stem
    own = write(tmp_path, "protocols/mmpd_cross.yaml", GOOD.format(name="mmpd_cross"))
    assert find_protocol("protocols/mmpd_cross.yaml") == Path("protocols/mmpd_cross.yaml")
    assert load_protocol(own).citation.paper == "Someone 2024"


def test_protocols_root_override(tmp_path, monkeypatch):
    write(tmp_path, "fam/mine.yaml", GOOD.format(name="mine"))
    write(tmp_path, "fam/README.md", "mine")
    assert [r["name"] for r in list_protocols(tmp_path)] == ["mine"]
    monkeypatch.setenv("RPPGBENCH_PROTOCOLS", str(tmp_path))
    assert protocols_root() == tmp_path and load_protocol("mine").name == "mine"
    with pytest.raises(ProtocolError, match="unknown protocol 'synthetic_quick'"):
        load_protocol("synthetic_quick")


def test_clip_stride_is_read_checked_and_left_out_of_the_hash_when_absent(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "m.yaml", GOOD.format(name="m"))
    base = load_protocol("m.yaml")
    assert base.training.clip_stride is None
    write(tmp_path, "a/m.yaml", GOOD.format(name="m") + "training: {clip_stride: 32}\n")
    strided = load_protocol("a/m.yaml")
    assert strided.training.clip_stride == 32 and strided.protocol_hash != base.protocol_hash
    assert '"clip_stride"' not in base.canonical_json() and '"clip_stride":32' in strided.canonical_json()
    write(tmp_path, "b/m.yaml", GOOD.format(name="m") + "training: {clip_stride: 0}\n")
    with pytest.raises(ProtocolError, match=r"b/m\.yaml:\d+: .*clip_stride"):
        load_protocol("b/m.yaml")
