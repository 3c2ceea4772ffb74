"""The generic Trainer: loss falls, checkpoints, bit-identical resume, selection, schedules, output dicts."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rppgbench._checks import CheckpointError
from rppgbench.models import ModelCfg
from rppgbench.training import ArrayClipDataset, TrainConfig, Trainer
from rppgbench.training.trainer import build_scheduler

FS = 30.0


class TinyNet(torch.nn.Module):
    """Conv3d + BatchNorm + dropout + 1x1 head, mean over space: enough state to test resume exactly."""

    def __init__(self, aux: bool = False) -> None:
        super().__init__()
        self.conv = torch.nn.Conv3d(3, 4, 3, padding=1)
        self.bn = torch.nn.BatchNorm3d(4)
        self.drop = torch.nn.Dropout(0.2)
        self.head = torch.nn.Conv3d(4, 1, 1)
        self.aux = aux

    def forward(self, x: torch.Tensor):
        y = self.head(self.drop(torch.relu(self.bn(self.conv(x))))).mean(dim=(3, 4))[:, 0]
        if self.aux and self.training:
            aux = 0.5 * (self.conv.weight ** 2).sum()
            return {"bvp": y, "aux_loss": aux, "logs": {"wnorm": aux.detach()}}
        return y


def pulse_data(n_rec: int = 4, n_frames: int = 200, size: int = 8, seed: int = 0):
    """Recordings whose green channel carries a sine pulse (HR 60..105 bpm) plus noise; label = the pulse."""
    rng = np.random.default_rng(seed)
    videos, labels = {}, {}
    t = np.arange(n_frames) / FS
    for i in range(n_rec):
        pulse = np.sin(2 * np.pi * (60 + 15 * i) / 60 * t + rng.uniform(0, 2 * np.pi))
        v = rng.normal(0, 0.3, (3, n_frames, size, size))
        v += pulse[None, :, None, None] * np.array([0.2, 0.6, 0.1])[:, None, None, None]
        videos[f"rec{i}"] = v.astype(np.float32)
        labels[f"rec{i}"] = pulse.astype(np.float32)
    return videos, labels


def make_cfg(**kw) -> ModelCfg:
    base = dict(name="tinynet", arch="tinynet", clip_len=48, frame_size=8, optimizer={"name": "adam", "lr": 1e-2},
                scheduler={"name": "onecycle", "max_lr": 1e-2}, epochs=3, batch_size=4)
    base.update(kw)
    return ModelCfg(**base)


@pytest.fixture(scope="module")
def data():
    v, lab = pulse_data()
    return ArrayClipDataset(v, lab, 48), ArrayClipDataset(*pulse_data(2, 96, seed=1), 48)


def fresh(seed: int = 0, **kw) -> TinyNet:
    torch.manual_seed(seed)
    return TinyNet(**kw)


def test_loss_falls_and_history(data, tmp_path):
    train, valid = data
    model = fresh()
    hist = Trainer(model, make_cfg(epochs=4), TrainConfig(out_dir=tmp_path)).fit(train, valid)
    assert [h["epoch"] for h in hist] == [0, 1, 2, 3]
    assert set(hist[0]) >= {"epoch", "train_loss", "valid_loss", "lr", "steps", "time_s"}
    assert hist[0]["steps"] == math.ceil(len(train) / 4)
    assert hist[-1]["train_loss"] < 0.5 * hist[0]["train_loss"]
    assert hist[-1]["valid_loss"] < 0.3  # neg-Pearson: the pulse is recovered on held-out recordings
    assert {p.name for p in tmp_path.iterdir()} == {"last.pt", "best.pt", "model.pt"}
    final = torch.load(tmp_path / "model.pt", weights_only=True)
    for k, v in model.state_dict().items():
        assert torch.equal(final[k], v)


def test_checkpoint_contents_weights_only(data, tmp_path):
    train, _ = data
    before = torch.are_deterministic_algorithms_enabled()
    Trainer(fresh(), make_cfg(epochs=1), TrainConfig(out_dir=tmp_path, max_steps_per_epoch=2)).fit(train)
    assert torch.are_deterministic_algorithms_enabled() == before  # process-wide switch restored
    ck = torch.load(tmp_path / "last.pt", weights_only=True)
    assert set(ck) == {"format", "model_name", "epoch", "epochs", "model", "optimizer", "scheduler", "scaler", "rng",
                       "history", "best", "train_config"}
    assert set(ck["rng"]) == {"torch", "cuda", "numpy", "python", "loader"}
    assert ck["epoch"] == 0 and ck["model_name"] == "tinynet" and ck["history"][0]["steps"] == 2
    assert ck["scheduler"]["total_steps"] == 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left behind


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_resume_is_bit_identical(data, tmp_path):
    train, valid = data
    cfg = make_cfg(epochs=3)
    straight = fresh(1)
    h_straight = Trainer(straight, cfg, TrainConfig(seed=7, out_dir=tmp_path / "a")).fit(train, valid)

    part1 = fresh(1)
    Trainer(part1, cfg, TrainConfig(seed=7, out_dir=tmp_path / "b", stop_after_epochs=1)).fit(train, valid)
    assert not (tmp_path / "b" / "model.pt").exists()  # an interrupted run does not publish final weights
    # the resumed run starts from a differently initialised model, and the global RNG is disturbed:
    resumed = fresh(99)
    torch.rand(17)
    np.random.rand(5)
    h_resumed = Trainer(resumed, cfg, TrainConfig(seed=7, out_dir=tmp_path / "b")).fit(train, valid, resume=True)
    a, b = _state(straight), _state(resumed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert [h["train_loss"] for h in h_resumed] == [h["train_loss"] for h in h_straight]
    assert [h["valid_loss"] for h in h_resumed] == [h["valid_loss"] for h in h_straight]


def test_resume_refuses_mismatch(data, tmp_path):
    train, _ = data
    Trainer(fresh(), make_cfg(epochs=2), TrainConfig(out_dir=tmp_path, stop_after_epochs=1,
                                                     max_steps_per_epoch=1)).fit(train)
    with pytest.raises(CheckpointError, match="epochs=2"):
        Trainer(fresh(), make_cfg(epochs=3), TrainConfig(out_dir=tmp_path, max_steps_per_epoch=1)).fit(
            train, resume=True)
    with pytest.raises(CheckpointError, match="does not exist"):
        Trainer(fresh(), make_cfg(), TrainConfig(out_dir=tmp_path / "none")).fit(train, resume=True)
    with pytest.raises(ValueError, match="out_dir"):
        Trainer(fresh(), make_cfg(), TrainConfig()).fit(train, resume=True)


def test_best_selection_restores_lowest_validation_epoch(data, tmp_path):
    train, valid = data
    model = fresh(3)
    # a large constant lr makes later epochs worse than some earlier one often enough; whatever happens,
    # the final weights must be those of the epoch with the lowest validation loss
    tr = Trainer(model, make_cfg(epochs=4, scheduler=None, optimizer={"name": "sgd", "lr": 0.5}),
                 TrainConfig(selection="best", out_dir=tmp_path))
    hist = tr.fit(train, valid)
    losses = [h["valid_loss"] for h in hist]
    assert tr.best_epoch == int(np.argmin(losses))
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    assert best["epoch"] == tr.best_epoch and best["valid_loss"] == min(losses)
    for k, v in model.state_dict().items():
        assert torch.equal(best["model"][k], v)
    with pytest.raises(ValueError, match="valid_dataset"):
        Trainer(fresh(), make_cfg(), TrainConfig(selection="best")).fit(train)


def test_optimizer_and_onecycle_from_cfg(data):
    train, _ = data
    cfg = make_cfg(epochs=2, optimizer={"name": "adamw", "lr": 9e-3, "weight_decay": 0.0},
                   scheduler={"name": "onecycle", "max_lr": 9e-3})
    tr = Trainer(fresh(), cfg, TrainConfig(max_steps_per_epoch=3))
    hist = tr.fit(train)
    assert isinstance(tr.optimizer, torch.optim.AdamW)
    assert isinstance(tr.scheduler, torch.optim.lr_scheduler.OneCycleLR)
    # reference: the same OneCycle on a dummy optimiser stepped 3 and 6 times
    ref_opt = torch.optim.AdamW([torch.zeros(1, requires_grad=True)], lr=9e-3)
    ref, _ = build_scheduler(ref_opt, {"name": "onecycle", "max_lr": 9e-3}, 2, 3)
    lrs = []
    for _ in range(6):
        ref_opt.step()
        ref.step()
        lrs.append(ref_opt.param_groups[0]["lr"])
    assert hist[0]["lr"] == pytest.approx(lrs[2]) and hist[1]["lr"] == pytest.approx(lrs[5])
    # TrainConfig overrides the model's optimiser and disables the schedule
    tr2 = Trainer(fresh(), cfg, TrainConfig(optimizer={"name": "sgd", "lr": 0.1}, scheduler={"name": "none"},
                                            max_steps_per_epoch=1, epochs=1))
    h2 = tr2.fit(train)
    assert isinstance(tr2.optimizer, torch.optim.SGD) and tr2.scheduler is None and h2[0]["lr"] == 0.1


def test_dict_output_adds_aux_loss_and_logs(data):
    train, _ = data
    tr = Trainer(fresh(aux=True), make_cfg(epochs=1), TrainConfig(max_steps_per_epoch=2))
    hist = tr.fit(train)
    assert "wnorm" in hist[0] and hist[0]["wnorm"] > 0
    # the aux term is in the loss: same run without it gives a smaller loss at the first step
    model_a, model_b = fresh(5, aux=True), fresh(5, aux=False)
    clip, label = torch.stack([train[i][0] for i in range(4)]), torch.stack([train[i][1] for i in range(4)])
    ta, tb = Trainer(model_a, make_cfg()), Trainer(model_b, make_cfg())
    model_a.drop.p = model_b.drop.p = 0.0  # same weights, no randomness: outputs are equal
    la, logs = ta._forward_loss(model_a, clip, label, 0)
    lb, _ = tb._forward_loss(model_b, clip, label, 0)
    diff = float((la - lb).detach())
    assert diff == pytest.approx(0.5 * float((model_a.conv.weight ** 2).sum().detach()), rel=1e-5)
    assert logs["wnorm"] == pytest.approx(diff, rel=1e-5)


def test_shape_mismatch_is_reported(data):
    train, _ = data

    class Bad(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return x.mean(dim=(1, 3, 4))[:, :-1] + self.w

    with pytest.raises(ValueError, match=r"output shape \(4, 47\) does not match label shape \(4, 48\)"):
        Trainer(Bad(), make_cfg(), TrainConfig(max_steps_per_epoch=1)).fit(train)


def test_device_defaults_to_cpu_without_cuda():
    tr = Trainer(fresh(), make_cfg(), TrainConfig(amp=True))
    if not torch.cuda.is_available():
        assert tr.device.type == "cpu" and tr.use_amp is False
    assert Trainer(fresh(), make_cfg(), TrainConfig(device="cpu")).device == torch.device("cpu")


def test_refuses_unsupervised_models():
    from rppgbench.models import create_model, model_cfg

    with pytest.raises(ValueError, match="model pos is unsupervised: it has no weights to train"):
        Trainer(create_model("pos"), model_cfg("pos"))
