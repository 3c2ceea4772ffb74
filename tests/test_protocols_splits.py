"""Split resolution yields exactly the papers' lists on recordings tables with the real id sets (sources: each
protocol's citation)."""
from __future__ import annotations

import pandas as pd
import pytest

from rppgbench._checks import ProtocolError
from rppgbench.protocols import canonical_subject, load_protocol, resolve_splits
from rppgbench.protocols.schema import validate_protocol_dict

# UBFC-rPPG DATASET_2: 42 ids, 2, 6, 7, 19, 21, 28, 29 do not exist (rPPG-Toolbox UBFCrPPGLoader; docs/datasets.md)
UBFC_IDS = [1, 3, 4, 5, 8, 9, *range(10, 19), 20, *range(22, 28), *range(30, 50)]

# MMPD recording index -> (light, motion, exercise) (MMPD meta_label.csv)
MMPD_COND = [("LED-low", "Stationary", "False"), ("LED-low", "Rotation", "False"), ("LED-low", "Talking", "False"),
             ("LED-low", "Walking", "False"), ("LED-high", "Stationary", "False"), ("LED-high", "Rotation", "False"),
             ("LED-high", "Talking", "False"), ("LED-high", "Walking", "False"),
             ("Incandescent", "Stationary", "False"), ("Incandescent", "Rotation", "False"),
             ("Incandescent", "Talking", "False"), ("Incandescent", "Walking", "False"),
             ("Incandescent", "Stationary (after exercise)", "True"),
             ("LED-high", "Stationary (after exercise)", "True"), ("LED-low", "Stationary (after exercise)", "True"),
             ("Nature", "Stationary (after exercise)", "True"), ("Nature", "Stationary", "False"),
             ("Nature", "Rotation", "False"), ("Nature", "Talking", "False"), ("Nature", "Walking", "False")]
MMPD_SKIN = {**{s: 3 for s in (3, 4, 5, 6, 9, 12, 18, 19, 20, 21, 22, 24, 25, 27, 29, 32, 33)},
             **{s: 4 for s in (1, 2, 10, 17)}, **{s: 5 for s in (7, 11, 13, 23, 28, 31)},
             **{s: 6 for s in (8, 14, 15, 16, 26, 30)}}


def ubfc_table() -> pd.DataFrame:
    return pd.DataFrame({"recording_id": [f"subject{i}" for i in UBFC_IDS], "subject": [str(i) for i in UBFC_IDS],
                         "session": ""})


def pure_table() -> pd.DataFrame:
    rows = [(f"{s:02d}-{t:02d}", f"{s:02d}", f"{t:02d}") for s in range(1, 11) for t in range(1, 7)
            if (s, t) != (6, 2)]
    return pd.DataFrame(rows, columns=["recording_id", "subject", "session"]).assign(task=lambda d: d.session)


def mmpd_table() -> pd.DataFrame:
    rows = []
    for s in range(1, 34):
        for k, (light, motion, exercise) in enumerate(MMPD_COND):
            skin = 4 if (s, k) == (24, 0) else MMPD_SKIN[s]  # the p24_0 metadata row says skin 4 (MMPD meta_label.csv)
            rows.append({"recording_id": f"p{s}_{k}", "subject": str(s), "session": str(k), "light": light,
                         "motion": motion, "exercise": exercise, "skin_color": skin})
    return pd.DataFrame(rows)


LUX = [1.0, 1.6, 2.5, 4.0, 6.3, 10.0, 15.8, 25.1, 39.8, 63.1, 100.0]


def buaa_table() -> pd.DataFrame:
    rows = [{"recording_id": f"Sub{s:02d}_lux{lux}", "subject": f"{s:02d}", "session": f"lux {lux}", "lux": lux}
            for s in range(1, 14) for lux in LUX]
    return pd.DataFrame(rows)


def ibvp_table() -> pd.DataFrame:
    rows = [{"recording_id": f"p{s:02d}_{c}", "subject": f"p{s:02d}", "session": c} for s in range(1, 34)
            for c in "abcd"]
    return pd.DataFrame(rows)


def ids(keys: list[str]) -> list[str]:
    return [k.partition("/")[2] for k in keys]


def test_ubfc_numeric_30_12():
    r = resolve_splits(load_protocol("ubfc_rppg_intra"), {"ubfc_rppg": ubfc_table()})
    assert len(UBFC_IDS) == 42
    assert ids(r.test) == [f"subject{i}" for i in range(38, 50)]
    assert ids(r.train) == [f"subject{i}" for i in UBFC_IDS if i < 38]
    assert len(r.train) == 30 and r.valid == []


@pytest.mark.parametrize("name, train_subjects, test_subjects, n_train, n_test", [
    ("pure_intra", [1, 2, 3, 4, 5, 6], [7, 8, 9, 10], 35, 24),
    ("pure_intra_contrastphys", [1, 2, 3, 4, 5, 7], [6, 8, 9, 10], 36, 23),
])
def test_pure_both_conventions(name, train_subjects, test_subjects, n_train, n_test):
    table = pure_table()
    assert len(table) == 59
    r = resolve_splits(load_protocol(name), {"pure": table})
    assert (len(r.train), len(r.test)) == (n_train, n_test)
    assert sorted({k.split("/")[1][:2] for k in r.train}) == [f"{s:02d}" for s in train_subjects]
    assert sorted({k.split("/")[1][:2] for k in r.test}) == [f"{s:02d}" for s in test_subjects]
    assert "pure/06-02" not in r.train + r.test


def test_mmpd_7_1_2():
    r = resolve_splits(load_protocol("mmpd_intra"), {"mmpd": mmpd_table()})
    assert (len(r.train), len(r.valid), len(r.test)) == (460, 60, 140)
    subj = lambda keys: sorted({int(k.split("/p")[1].split("_")[0]) for k in keys})  # noqa: E731
    assert subj(r.train) == list(range(1, 24))
    assert subj(r.valid) == [24, 25, 26]
    assert subj(r.test) == list(range(27, 34))


def test_mmpd_simplest_subset_is_50_recordings():
    r = resolve_splits(load_protocol("mmpd_simple_to_ubfc"), {"mmpd": mmpd_table(), "ubfc_rppg": ubfc_table()})
    skin3 = [3, 4, 5, 6, 9, 12, 18, 19, 20, 21, 22, 24, 25, 27, 29, 32, 33]
    expected = {f"p{s}_{k}" for s in skin3 for k in (0, 4, 8)} - {"p24_0"}
    got = set(ids(r.train)) | set(ids(r.valid))
    assert got == expected and len(got) == 50
    assert (len(r.train), len(r.valid)) == (38, 12)  # TBX [0,0.8) / [0.8,1] on subjects (TS-CAN MMPD configs)
    assert len(r.test) == 42


def test_buaa_lux_ge_10_and_lodo():
    tables = {"buaa_mihe": buaa_table(), "ubfc_rppg": ubfc_table(), "pure": pure_table(), "mmpd": mmpd_table(),
              "ibvp": ibvp_table()}
    r = resolve_splits(load_protocol("buaa_intra"), tables)
    assert len(r.train) == 10 * 6 and len(r.test) == 3 * 6
    assert all(float(k.split("lux")[1]) >= 10 for k in r.train + r.test)
    lodo = resolve_splits(load_protocol("lodo_buaa_mihe"), tables)
    assert ids(lodo.test) == sorted(ids(r.train + r.test), key=lambda x: (x[:5], float(x.split("lux")[1])))
    assert len(lodo.train) == 42 + 59 + 660  # PHASE-Net's leave-one-out pools UBFC, PURE, BUAA and MMPD only
    lodo_u = resolve_splits(load_protocol("lodo_ubfc_rppg"), tables)
    assert len(lodo_u.test) == 42 and len(lodo_u.train) == 59 + 660 + 13 * 6
    lodo5 = resolve_splits(load_protocol("lodo5_buaa_mihe"), tables)  # the iBVP-including variant
    assert lodo5.test == lodo.test and len(lodo5.train) == 42 + 59 + 660 + 132
    lodo5_u = resolve_splits(load_protocol("lodo5_ubfc_rppg"), tables)
    assert len(lodo5_u.test) == 42 and len(lodo5_u.train) == 59 + 660 + 13 * 6 + 132


def test_physfsunet_cross_dataset_splits():
    """Table II (mmpd_cross) and Table III: 80 % / 20 % train/validation per source dataset, all of the target."""
    tables = {"pure": pure_table(), "ubfc_rppg": ubfc_table(), "mmpd": mmpd_table()}
    t2 = resolve_splits(load_protocol("mmpd_cross"), tables)
    assert len(t2.test) == 660 and sorted(t2.by_dataset("train")) == ["pure", "ubfc_rppg"]
    assert len(t2.by_dataset("train")["ubfc_rppg"]) == 33 and len(t2.by_dataset("valid")["ubfc_rppg"]) == 9
    assert len(t2.by_dataset("train")["pure"]) == 47 and len(t2.by_dataset("valid")["pure"]) == 12
    assert t2.by_dataset("valid")["ubfc_rppg"][0] == "subject41"
    t3 = resolve_splits(load_protocol("pure_mmpd_simple_to_ubfc"), tables)
    assert len(t3.by_dataset("train")["mmpd"]) == 38 and len(t3.by_dataset("valid")["mmpd"]) == 12
    assert len(t3.test) == 42


def test_fp_cross_pure_tests_two_datasets():
    tables = {"pure": pure_table(), "ubfc_rppg": ubfc_table(), "ibvp": ibvp_table()}
    p = load_protocol("fp_cross_pure")
    r = resolve_splits(p, tables)
    assert len(r.train) == 59 and sorted(r.by_dataset("test")) == ["ibvp", "ubfc_rppg"]
    assert p.reference["values"]["factorizephys"]["ubfc_rppg"]["MAE"] == 1.04
    lim = r.limit(2)
    assert lim.by_dataset("test") == {"ibvp": ["p01_a", "p01_b"], "ubfc_rppg": ["subject1", "subject3"]}
    assert lim.train == ["pure/01-01", "pure/01-02"]


def test_canonical_subject_normalisation():
    assert canonical_subject(1) == canonical_subject("01") == canonical_subject("1") == "1"
    assert canonical_subject("p01") == "p01" and canonical_subject("p01") != canonical_subject(1)


def _proto(splits, datasets=("ubfc_rppg",)):
    data = {"protocol": "t", "version": 1, "citation": {"paper": "x"},
            "datasets": {d: {"recipe": "default"} for d in datasets}, "splits": splits, "models": ["pos"]}
    return validate_protocol_dict(data, {}, "t.yaml")


def test_missing_subject_names_protocol_split_dataset_and_ids():
    p = _proto({"test": {"dataset": "ubfc_rppg", "subjects": [2, 38, 7]}})
    with pytest.raises(ProtocolError, match=r"protocol t, split test, dataset ubfc_rppg: subject\(s\) not in the "
                                            r"store: 2, 7"):
        resolve_splits(p, {"ubfc_rppg": ubfc_table()})


def test_overlapping_splits_name_the_recording():
    p = _proto({"train": {"dataset": "ubfc_rppg", "subjects": [1, 3]},
                "test": {"dataset": "ubfc_rppg", "subjects": [3, 4]}})
    with pytest.raises(ProtocolError, match="splits train and test overlap: ubfc_rppg/subject3"):
        resolve_splits(p, {"ubfc_rppg": ubfc_table()})


def test_empty_part_and_bad_filter_column():
    p = _proto({"test": {"dataset": "mmpd", "subjects": "all", "filter": {"light": "Sunlight"}}}, ("mmpd",))
    with pytest.raises(ProtocolError, match="matches no recording"):
        resolve_splits(p, {"mmpd": mmpd_table()})
    p = _proto({"test": {"dataset": "mmpd", "filter": {"lightt": "LED-low"}}}, ("mmpd",))
    with pytest.raises(ProtocolError, match="filter column 'lightt' is not in the recordings table"):
        resolve_splits(p, {"mmpd": mmpd_table()})


def test_ambiguous_subject_ids_raise():
    t = pd.DataFrame({"recording_id": ["a", "b"], "subject": ["1", "01"]})
    p = _proto({"test": {"dataset": "ubfc_rppg", "subjects": [1]}})
    with pytest.raises(ProtocolError, match="ambiguous"):
        resolve_splits(p, {"ubfc_rppg": t})


def test_explicit_recordings_and_missing_recording():
    p = _proto({"test": {"dataset": "ubfc_rppg", "recordings": ["subject10", "subject3"]}})
    assert resolve_splits(p, {"ubfc_rppg": ubfc_table()}).test == ["ubfc_rppg/subject3", "ubfc_rppg/subject10"]
    p = _proto({"test": {"dataset": "ubfc_rppg", "recordings": ["subject2"]}})
    with pytest.raises(ProtocolError, match=r"recording\(s\) not in the store: subject2"):
        resolve_splits(p, {"ubfc_rppg": ubfc_table()})
