"""Whole-recording prediction: clip layout, the evaluated tail, extra frames, a real prepared store."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from _store_toy import ToyAdapter, write_toy_raw

from rppgbench._checks import DataError
from rppgbench.models import ModelCfg
from rppgbench.store import open_store, prepare
from rppgbench.store.torchdata import ClipDataset
from rppgbench.training import predict_array, predict_recordings
from rppgbench.training.data import ArrayClipDataset
from rppgbench.training.predict import eval_segments


class FrameMean(torch.nn.Module):
    """Output = mean over channels and pixels of each of the first ``clip_len`` frames (minus the next frame's
    mean when ``diff``): the exact expected prediction of any clip is computable from the frames."""

    def __init__(self, clip_len: int, diff: bool = False) -> None:
        super().__init__()
        self.clip_len, self.diff = clip_len, diff
        self.zero = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.mean(dim=(1, 3, 4))
        out = m[:, 1:self.clip_len + 1] - m[:, :self.clip_len] if self.diff else m[:, :self.clip_len]
        return out + self.zero


def cfg(clip_len: int, **kw) -> ModelCfg:
    return ModelCfg(name="framemean", arch="framemean", clip_len=clip_len, **kw)


@pytest.mark.parametrize("n,L", [(100, 32), (96, 32), (32, 32), (33, 32), (250, 64)])
def test_eval_segments_cover_each_frame_once(n, L):
    for drop_tail in (False, True):
        segs = eval_segments(n, L, drop_tail)
        frames = np.concatenate([np.arange(s + a, s + b) for s, a, b in segs])
        expected_len = n if not drop_tail else n - n % L
        np.testing.assert_array_equal(frames, np.arange(expected_len))
        assert all(0 <= s and s + L <= n for s, _, _ in segs)


def test_predict_array_includes_the_tail_and_extra_frames():
    rng = np.random.default_rng(0)
    frames = rng.normal(size=(3, 100, 4, 4)).astype(np.float32)
    means = frames.mean(axis=(0, 2, 3), dtype=np.float64)
    pred = predict_array(FrameMean(32), cfg(32), frames, batch_size=3)
    assert pred.dtype == np.float64 and pred.shape == (100,)
    np.testing.assert_allclose(pred, means, atol=1e-6)
    short = predict_array(FrameMean(32), cfg(32), frames, drop_tail=True)
    np.testing.assert_allclose(short, means[:96], atol=1e-6)
    # a model that consumes one trailing frame: the recording's next frame, or the last frame repeated at its end
    pred_d = predict_array(FrameMean(32, diff=True), cfg(32, extra_frames=1), frames)
    ref = np.append(np.diff(means), 0.0)
    np.testing.assert_allclose(pred_d, ref, atol=1e-5)
    with pytest.raises(DataError, match="recording rX: recording has 20 frames, fewer than the model's clip_len=32"):
        predict_array(FrameMean(32), cfg(32), frames[:, :20], recording="rX")


def test_array_dataset_items_match_the_store_contract():
    rng = np.random.default_rng(1)
    v = {"a": rng.normal(size=(3, 70, 2, 2)).astype(np.float32)}
    ds = ArrayClipDataset(v, {"a": np.arange(70, dtype=np.float32)}, 32, extra_frames=1, drop_tail=False)
    assert [it[3] for it in ds] == [0, 32, 38]
    clip, label, rid, start = ds[2]
    assert clip.shape == (3, 33, 2, 2) and rid == "a" and start == 38
    np.testing.assert_array_equal(label.numpy(), np.arange(38, 70))
    np.testing.assert_array_equal(clip[:, -1].numpy(), clip[:, -2].numpy())  # last frame repeated
    with pytest.raises(DataError, match="fewer than clip_len=32"):
        ArrayClipDataset({"b": v["a"][:, :10]}, {"b": np.zeros(10)}, 32)


@pytest.fixture(scope="module")
def toy_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict_store")
    ids = write_toy_raw(root / "raw", n_recordings=2, n_frames=75)
    prepare(ToyAdapter(), root / "raw", recipe="fp72", out=root / "store.zarr", workers=0)
    return open_store(root / "store.zarr"), ids


@pytest.mark.parametrize("view,label_view", [("standardized", "standardized"), ("diffnormalized", "diffnormalized")])
def test_predict_recordings_on_a_prepared_store(toy_store, view, label_view):
    store, ids = toy_store
    c = cfg(32, input_view=view, label_view=label_view, frame_size=72)
    out = predict_recordings(FrameMean(32), c, store, ids, batch_size=2)
    assert list(out) == ids
    for rid in ids:
        frames, _ = store.read_clip(rid, 0, None, view, label_view)
        ref_pred = frames.astype(np.float64).mean(axis=(1, 2, 3))
        ref_label = store.read_label(rid, view=label_view)
        pred, label = out[rid]
        assert pred.shape == label.shape == (75,)
        np.testing.assert_allclose(pred, ref_pred, atol=1e-4)
        np.testing.assert_allclose(label, ref_label, atol=1e-6)
    # drop_tail=True equals the concatenated labels of the toolbox-style ClipDataset
    out_dt = predict_recordings(FrameMean(32), c, store, ids[:1], drop_tail=True)
    ds = ClipDataset(store, ids[:1], 32, view, label_view)
    np.testing.assert_allclose(out_dt[ids[0]][1], np.concatenate([ds[i][1].numpy() for i in range(len(ds))]))
    assert out_dt[ids[0]][0].shape == (64,)
    with pytest.raises(DataError, match="fewer than model framemean's clip_len=80"):
        predict_recordings(FrameMean(80), cfg(80, input_view=view, label_view=label_view), store, ids)


def test_predict_recordings_extra_frames_come_from_the_recording(toy_store):
    store, ids = toy_store
    c = cfg(32, extra_frames=1, input_view="standardized", label_view="standardized", frame_size=72)
    out = predict_recordings(FrameMean(32, diff=True), c, store, ids[:1])
    frames, _ = store.read_clip(ids[0], 0, None, "standardized", "standardized")
    means = frames.astype(np.float64).mean(axis=(1, 2, 3))
    # inside the recording the trailing frame is the next real frame; at its very end the last frame repeats
    np.testing.assert_allclose(out[ids[0]][0], np.append(np.diff(means), 0.0), atol=1e-4)
