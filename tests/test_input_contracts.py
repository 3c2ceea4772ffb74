"""The input-contract machinery (ModelCfg views / layout / frame_multiple / extra frames / output_norm) through the
real data path: a prepared toy store gives exactly the tensors the toolbox trainers feed TS-CAN, EfficientPhys and
RhythmFormer (checked against a direct numpy computation of the views); whole-recording prediction regroups
per-frame outputs; frame-multiple violations are refused before any work; ``rppgbench infer`` runs each baseline."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from _store_toy import ToyAdapter, write_toy_raw

from rppgbench._checks import RecipeMismatchError
from rppgbench.models import create_model, model_cfg
from rppgbench.runner_validate import validate_protocol
from rppgbench.store import open_store, prepare
from rppgbench.training import ArrayClipDataset, TrainConfig, Trainer, clip_dataset, predict_recordings
from rppgbench.training.data import model_input

N_FRAMES = 75


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("contract_store")
    ids = write_toy_raw(root / "raw", n_recordings=2, n_frames=N_FRAMES)
    prepare(ToyAdapter(), root / "raw", recipe="fp72", out=root / "store.zarr", workers=0)
    store = open_store(root / "store.zarr")
    rid = ids[0]
    f = store.read_frames(rid).astype(np.float64)  # (T, H, W, 3)
    dn = (f[1:] - f[:-1]) / (f[1:] + f[:-1] + 1e-7)
    dn = np.concatenate([dn / dn.std(), np.zeros((1,) + f.shape[1:])])  # toolbox DiffNormalized, whole recording
    z = (f - f.mean()) / f.std()  # toolbox Standardized, whole recording
    lab = store.read_label(rid).astype(np.float64)
    ldn = np.append(np.diff(lab) / np.diff(lab).std(), 0.0)
    return store, ids, {"diffnormalized": dn, "standardized": z, "label_dn": ldn, "label_z": (lab - lab.mean())
                        / lab.std()}


def _chw(frames: np.ndarray) -> np.ndarray:
    return frames.transpose(0, 3, 1, 2)  # (T, H, W, C) -> (T, C, H, W)


def test_read_clip_concatenates_views_on_the_channel_axis(toy):
    store, ids, ref = toy
    both = np.concatenate([ref["diffnormalized"], ref["standardized"]], axis=-1)
    for start, stop in [(0, N_FRAMES), (5, 37), (40, N_FRAMES)]:
        x, _ = store.read_clip(ids[0], start, stop, view=("diffnormalized", "standardized"))
        assert x.shape == (stop - start, 72, 72, 6) and x.dtype == np.float32
        np.testing.assert_allclose(x, both[start:stop], rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="view must be one of"):
        store.read_clip(ids[0], 0, 10, view=("standardized", "standardized"))


def test_tscan_gets_six_channel_frames_of_whole_clips(toy):
    """(N*D) x 6 x 72 x 72: N clips of D frames flattened, channels 0-2 DiffNormalized, 3-5 Standardized."""
    store, ids, ref = toy
    cfg = model_cfg("tscan").replace(clip_len=30)
    ds = clip_dataset(store, ids[:1], cfg)
    assert len(ds) == 2 and [s for _, s in ds.index] == [0, 30]
    x = model_input(torch.stack([ds[0][0], ds[1][0]]), cfg)
    assert tuple(x.shape) == cfg.input_shape(2) == (60, 6, 72, 72)
    want = _chw(np.concatenate([ref["diffnormalized"], ref["standardized"]], axis=-1)[:60])
    np.testing.assert_allclose(x.numpy(), want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ds[1][1].numpy(), ref["label_dn"][30:60], atol=1e-5)


def test_efficientphys_gets_standardized_frames_plus_the_last_one_repeated(toy):
    store, ids, ref = toy
    cfg = model_cfg("efficientphys").replace(clip_len=30)
    ds = clip_dataset(store, ids[:1], cfg)
    assert ds[0][0].shape == (3, 30, 72, 72)  # no per-clip extra frame in the frames layout
    x = model_input(torch.stack([ds[0][0], ds[1][0]]), cfg).numpy()
    assert x.shape == cfg.input_shape(2) == (61, 3, 72, 72)
    want = _chw(ref["standardized"])
    np.testing.assert_allclose(x[:60], want[:60], rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(x[60], x[59])  # the batch's last frame, repeated once (not frame 60)


def test_rhythmformer_gets_frames_before_channels(toy):
    store, ids, ref = toy
    cfg = model_cfg("rhythmformer").replace(clip_len=32, frame_size=72)  # the toy store is 72 x 72
    ds = clip_dataset(store, ids[:1], cfg)
    x = model_input(torch.stack([ds[0][0], ds[1][0]]), cfg).numpy()
    assert x.shape == cfg.input_shape(2) == (2, 32, 3, 72, 72)
    want = _chw(ref["standardized"])
    np.testing.assert_allclose(x[0], want[:32], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(x[1], want[32:64], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ds[1][1].numpy(), ref["label_z"][32:64], atol=1e-5)


class _FrameMean(torch.nn.Module):
    """Per-frame mean of channels ``ch``: (N, C, H, W) -> (N, 1); with ``diff`` the difference to the next frame
    ((N + 1) frames in, N out, as EfficientPhys); with ``ntchw`` (B, T, C, H, W) -> (B, T)."""

    def __init__(self, ch: slice, diff: bool = False, ntchw: bool = False) -> None:
        super().__init__()
        self.ch, self.diff, self.ntchw = ch, diff, ntchw

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.ntchw:
            return x[:, :, self.ch].mean(dim=(2, 3, 4))
        m = x[:, self.ch].mean(dim=(1, 2, 3))
        return (m[1:] - m[:-1] if self.diff else m)[:, None]


def test_prediction_regroups_per_frame_outputs_and_normalises_rows(toy):
    store, ids, ref = toy
    zmean = ref["standardized"].mean(axis=(1, 2, 3))
    # TS-CAN layout: 75 frames = clips at 0, 30 and the end-aligned tail at 45 (its last 15 frames kept)
    cfg = model_cfg("tscan").replace(clip_len=30)
    pred, _ = predict_recordings(_FrameMean(slice(3, 6)), cfg, store, ids[:1], batch_size=2)[ids[0]]
    np.testing.assert_allclose(pred, zmean, atol=1e-4)
    # EfficientPhys: consecutive clips share a batch, the overlapping tail runs alone; a batch's last frame repeats
    cfg = model_cfg("efficientphys").replace(clip_len=30)
    pred, label = predict_recordings(_FrameMean(slice(0, 3), diff=True), cfg, store, ids[:1], batch_size=4)[ids[0]]
    want = np.append(np.diff(zmean), 0.0)
    want[59] = 0.0  # end of the first batch (clips 0 and 30)
    np.testing.assert_allclose(pred, want, atol=1e-4)
    np.testing.assert_allclose(label, ref["label_dn"], atol=1e-5)
    # RhythmFormer: every clip's output z-scored (unbiased std) before the clips are joined
    cfg = model_cfg("rhythmformer").replace(clip_len=32, frame_size=72)
    pred, _ = predict_recordings(_FrameMean(slice(0, 3), ntchw=True), cfg, store, ids[:1], batch_size=2)[ids[0]]
    zs = lambda v: (v - v.mean()) / v.std(ddof=1)  # noqa: E731
    np.testing.assert_allclose(pred, np.concatenate([zs(zmean[:32]), zs(zmean[32:64]), zs(zmean[43:])[21:]]),
                               atol=1e-4)


def test_frame_multiple_violations_name_model_field_and_values():
    with pytest.raises(ValueError, match=r"model tscan: clip_len=64 is not a multiple of frame_multiple=10"):
        create_model("tscan", clip_len=64)
    with pytest.raises(ValueError, match=r"model rhythmformer: clip_len=100 is not a multiple of frame_multiple=8"):
        create_model("rhythmformer", clip_len=100)
    with pytest.raises(ValueError, match=r"model efficientphys: clip_len=180 is not a multiple of frame_multiple=7"):
        model_cfg("efficientphys").replace(frame_multiple=7)


def test_trainer_refuses_clips_off_the_frame_multiple_before_training(tmp_path):
    model = create_model("tscan.tiny")
    cfg = model.cfg
    rng = np.random.default_rng(0)
    ds = ArrayClipDataset({"r": rng.normal(size=(6, 50, 36, 36)).astype(np.float32)}, {"r": np.zeros(50)}, 25)
    with pytest.raises(ValueError, match=r"model tscan.tiny: the training clips of 25 frames .*frame_multiple=10"):
        Trainer(model, cfg, TrainConfig(epochs=1, out_dir=tmp_path)).fit(ds)
    assert not any(tmp_path.iterdir())  # nothing trained, nothing written


PROTO = """protocol: {name}
version: 1
citation: {{paper: "test"}}
datasets:
  ubfc_rppg: {{recipe: fp72}}
splits:
  train: {{dataset: ubfc_rppg, subjects: [1, 2]}}
  test: {{dataset: ubfc_rppg, subjects: [3]}}
models: {models}
"""


def _proto(tmp_path: Path, name: str, models: str) -> Path:
    p = tmp_path / f"{name}.yaml"
    p.write_text(PROTO.format(name=name, models=models))
    return p


def test_validate_checks_the_new_contract_fields(tmp_path):
    ok = _proto(tmp_path, "ok", "[tscan, deepphys, efficientphys, {name: rhythmformer, recipe: pn128}]")
    bad = _proto(tmp_path, "bad", "[{name: tscan, overrides: {clip_len: 64}}]")
    exe = Path(sys.executable).with_name("rppgbench")
    assert exe.is_file(), f"console script {exe} not installed"
    res = subprocess.run([str(exe), "validate", str(ok), str(bad)], capture_output=True, text=True)
    assert res.returncode == 2 and res.stdout.startswith(f"OK {ok}"), (res.stdout, res.stderr)
    assert "models[0] (tscan)" in res.stderr and "clip_len=64 is not a multiple of frame_multiple=10" in res.stderr
    chans = _proto(tmp_path, "chans", "[{name: tscan, overrides: {input_view: standardized}}]")
    with pytest.raises(RecipeMismatchError, match="takes channels=6, but its input_view standardized gives 3 "
                                                  "channels from a store's RGB frames"):
        validate_protocol(chans, build=False)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    from rppgbench.datasets.synthetic.presets import make_spec
    from rppgbench.datasets.synthetic.render import render_recording
    from rppgbench.datasets.synthetic.writer import write_recording

    rendered = render_recording(make_spec("clean", seed=2, seconds=6, width=160, height=120, hr_bpm=78))
    return write_recording(rendered, tmp_path_factory.mktemp("contract_video") / "rec"), rendered.n_frames


@pytest.mark.parametrize("name", ["tscan.tiny", "deepphys.tiny", "efficientphys.tiny", "rhythmformer.tiny"])
def test_infer_runs_each_baseline_on_a_synthetic_video(video, tmp_path, name, capsys):
    from rppgbench.cli import main

    path, n = video
    torch.manual_seed(0)
    ckpt = tmp_path / "w.pt"
    torch.save(create_model(name).state_dict(), ckpt)
    try:
        main(["infer", str(path), "--model", name, "--checkpoint", str(ckpt), "--out", str(tmp_path / "o"),
              "--no-plot"])
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    captured = capsys.readouterr()
    assert code == 0, captured.err
    with open(tmp_path / "o" / "bvp.csv") as fh:
        rows = list(csv.reader(fh))
    bvp = np.array(rows[1:], dtype=float)
    assert rows[0] == ["time_s", "bvp"] and bvp.shape == (n, 2) and np.isfinite(bvp).all()
    assert np.ptp(bvp[:, 1]) > 0  # a waveform, not a constant
    assert "whole video:" in captured.out and (tmp_path / "o" / "hr.csv").is_file()
