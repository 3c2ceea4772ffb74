"""SCAMPS adapter: MATLAB v7.3 through h5py, axis order pinned with orientation markers."""
from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
import scipy.io

from rppgbench._checks import DataError
from rppgbench.datasets import get_adapter
from rppgbench.datasets.fixtures import dominant_hr_bpm, write_scamps


@pytest.fixture(scope="module")
def scamps(tmp_path_factory):
    root = tmp_path_factory.mktemp("scamps")
    return root, write_scamps(root, ids=(1, 2, 10), seconds=4.0, size=(48, 40))


def test_discover_numeric_and_split_folders(scamps, tmp_path):
    root, truth = scamps
    recs = get_adapter("scamps").discover(root)  # ScampsTrainTestSplit.csv is ignored
    assert [r.recording_id for r in recs] == ["P000001", "P000002", "P000010"]
    assert set(truth) == {r.recording_id for r in recs}
    assert recs[0].metadata == {"n_frames": 120, "resolution": "48x40", "mask_frames": 119}  # T-1 tolerated
    assert recs[1].metadata["mask_frames"] == 120
    write_scamps(tmp_path, ids=(3, 20, 100), seconds=1.0, split_folders=True, split_csv=False)
    split = get_adapter("scamps").discover(tmp_path)
    assert [(r.recording_id, r.metadata["split"]) for r in split] == [
        ("P000003", "train"), ("P000020", "valid"), ("P000100", "test")]


def test_axis_order_matches_matlab_and_markers(scamps):
    import mat73

    root, _ = scamps
    a = get_adapter("scamps")
    rec = a.discover(root)[0]
    with h5py.File(rec.paths["mat"], "r") as fh:
        assert fh["Xsub"].shape == (3, 48, 40, 120)  # (c, w, h, t) as seen through h5py
        assert fh.userblock_size == 512 and fh["Xsub"].attrs["MATLAB_class"] == b"single"  # MATLAB v7.3 file
    assert open(rec.paths["mat"], "rb").read(19) == b"MATLAB 7.3 MAT-file"
    frames = np.stack(list(a.iter_frames(rec)))
    assert frames.shape == (120, 40, 48, 3)
    assert tuple(frames[5, 0, 0]) == (255, 0, 0)  # red top-left
    assert tuple(frames[5, 0, -1]) == (0, 255, 0)  # green top-right (a W/H transpose would move it)
    assert tuple(frames[5, -1, -1]) == (0, 0, 255)  # blue bottom-right (a channel flip would swap colours)
    xsub = mat73.loadmat(rec.paths["mat"], only_include=["Xsub"])["Xsub"]  # MATLAB order (T, H, W, 3)
    np.testing.assert_array_equal(frames, np.round(xsub.astype(np.float64) * 255).astype(np.uint8))


def test_block_reads_give_the_same_frames(scamps, monkeypatch):
    import rppgbench.datasets.scamps as mod

    root, _ = scamps
    a = get_adapter("scamps")
    rec = a.discover(root)[1]
    whole = np.stack(list(a.iter_frames(rec)))
    monkeypatch.setattr(mod, "_BLOCK_BYTES", 1)  # -> blocks of 32 frames: 32, 32, 32, 24
    blocks = np.stack(list(a.iter_frames(rec)))
    np.testing.assert_array_equal(blocks, whole)


def test_labels_and_hr(scamps):
    root, truth = scamps
    a = get_adapter("scamps")
    for rec in a.discover(root):
        lab = a.read_label(rec)
        assert lab.values.shape == (120,) and lab.timestamps is None and lab.fs == 30.0
        assert abs(dominant_hr_bpm(lab.values, 30.0) - truth[rec.recording_id]) < 2
        frames = np.stack(list(a.iter_frames(rec)))
        g = frames[:, 14:26, 18:30, 1].mean(axis=(1, 2))
        assert abs(dominant_hr_bpm(g, 30.0) - truth[rec.recording_id]) < 2


def test_bad_inputs_name_the_file(scamps, tmp_path):
    import hdf5storage

    src, _ = scamps
    root = tmp_path / "scamps"
    shutil.copytree(src, root)
    a = get_adapter("scamps")
    p = root / "P000001.mat"
    p.write_bytes(p.read_bytes()[:4096])
    recs = {r.recording_id: r for r in a.discover(root)}
    assert "metadata_error" in recs["P000001"].metadata  # listed so the store reports it
    with pytest.raises(DataError, match=r"P000001.mat: cannot open MATLAB v7.3 file"):
        list(a.iter_frames(recs["P000001"]))
    xsub = np.zeros((30, 8, 8, 3), np.float32)
    bad = np.sin(np.arange(30.0))
    bad[4] = np.nan
    hdf5storage.savemat(str(root / "P000002.mat"), {"Xsub": xsub, "d_ppg": bad}, format="7.3",
                        matlab_compatible=True)
    with pytest.raises(DataError, match=r"P000002.mat: d_ppg signal has 1 NaN/inf sample\(s\), first at index 4"):
        a.read_label(recs["P000002"])
    hdf5storage.savemat(str(root / "P000002.mat"), {"Xsub": xsub, "d_ppg": np.ones(20)}, format="7.3",
                        matlab_compatible=True)
    with pytest.raises(DataError, match=r"P000002.mat: len\(d_ppg\) / Xsub frames = 20 / 30"):
        a.read_label(recs["P000002"])
    (root / "P000010.mat").unlink()  # hdf5storage would otherwise add to the existing file
    hdf5storage.savemat(str(root / "P000010.mat"), {"Xsub": xsub}, format="7.3", matlab_compatible=True)
    with pytest.raises(DataError, match=r"P000010.mat: missing MATLAB v7.3 variable 'd_ppg'"):
        a.read_label(recs["P000010"])
    scipy.io.savemat(root / "P000010.mat", {"Xsub": xsub})
    with pytest.raises(DataError, match=r"P000010.mat: expected a MATLAB v7.3 \(HDF5\) file"):
        list(a.iter_frames(recs["P000010"]))
    (root / "labels.mat").write_bytes(b"")
    with pytest.raises(DataError, match=r"labels.mat: unexpected .mat file"):
        a.discover(root)
