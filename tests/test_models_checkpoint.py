"""Strict checkpoint loading: the authors' DataParallel layout, training-checkpoint layout, every failure mode
reported as CheckpointError naming the offending keys, and weights_only loading."""
from __future__ import annotations

import fractions
import logging

import pytest
import torch
from _spec_keys import FACTORIZEPHYS_KEYS, parse_shapes
from torch import nn

from rppgbench._checks import CheckpointError
from rppgbench.models import create_model
from rppgbench.models._checkpoint import load_checkpoint, read_state_dict, strip_prefix


def random_released_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(*shape, generator=g) for k, shape in parse_shapes(FACTORIZEPHYS_KEYS).items()}


def test_authors_dataparallel_file_loads_strictly_and_exactly(tmp_path):
    """A state dict with the released keys (``module.`` prefix) saved like the authors did loads strictly."""
    sd = random_released_state_dict()
    path = tmp_path / "PURE_FactorizePhys_FSAM_Res.pth"
    torch.save(sd, path)
    model = create_model("factorizephys", checkpoint=str(path))
    own = model.state_dict()
    assert len(own) == len(sd) == 16
    for key, value in sd.items():
        assert torch.equal(own[key[len("module."):]], value), key


def test_dataparallel_wrapper_roundtrip(tmp_path):
    torch.manual_seed(1)
    src = create_model("factorizephys", clip_len=16)  # same weights as the 160-frame model, cheaper forward
    path = tmp_path / "dp.pth"
    torch.save(nn.DataParallel(src).state_dict(), path)  # exactly how the released weights were saved
    assert all(k.startswith("module.") for k in torch.load(path, weights_only=True))
    dst = create_model("factorizephys", checkpoint=str(path), clip_len=16)
    for (k1, v1), (k2, v2) in zip(src.state_dict().items(), dst.state_dict().items(), strict=True):
        assert k1 == k2 and torch.equal(v1, v2)
    x = torch.rand(1, 3, 17, 72, 72) * 255
    with torch.no_grad():
        torch.testing.assert_close(src.eval()(x), dst.eval()(x), rtol=0, atol=0)


def test_training_checkpoint_layout(tmp_path):
    torch.manual_seed(2)
    src = create_model("factorizephys.tiny")
    path = tmp_path / "last.pt"
    torch.save({"format": 1, "epoch": 3, "model": src.state_dict(), "optimizer": {"state": {}}}, path)
    dst = create_model("factorizephys.tiny", checkpoint=str(path))
    assert all(torch.equal(a, b) for a, b in zip(src.state_dict().values(), dst.state_dict().values(), strict=True))


def test_missing_unexpected_and_misshaped_keys_are_all_listed(tmp_path):
    sd = random_released_state_dict()
    del sd["module.rppg_head.fsam.pre_conv_block.0.bias"]
    sd["module.rppg_head.extra.weight"] = torch.zeros(3)
    sd["module.rppg_head.final_layer.2.weight"] = torch.zeros(1, 8, 3, 3, 2)
    path = tmp_path / "bad.pth"
    torch.save(sd, path)
    with pytest.raises(CheckpointError) as info:
        create_model("factorizephys", checkpoint=str(path))
    msg = str(info.value)
    assert str(path) in msg
    assert "missing keys (1): rppg_head.fsam.pre_conv_block.0.bias" in msg
    assert "unexpected keys (1): rppg_head.extra.weight" in msg
    assert "rppg_head.final_layer.2.weight [1, 8, 3, 3, 3] vs [1, 8, 3, 3, 2]" in msg


def test_non_strict_load_returns_and_logs_missing(tmp_path, caplog):
    sd = strip_prefix(random_released_state_dict())
    del sd["rppg_head.final_layer.2.weight"]
    path = tmp_path / "partial.pth"
    torch.save(sd, path)
    model = create_model("factorizephys")
    with caplog.at_level(logging.WARNING, logger="rppgbench"):
        info = load_checkpoint(model, path, strict=False)
    assert info == {"missing": ["rppg_head.final_layer.2.weight"], "unexpected": []}
    assert "partial.pth" in caplog.text
    assert torch.equal(model.state_dict()["rppg_head.fsam.pre_conv_block.0.bias"],
                       sd["rppg_head.fsam.pre_conv_block.0.bias"])


def test_cpu_saved_bias1_of_the_original_code_is_accepted_only_when_it_is_one(tmp_path):
    """A copy saved on CPU by the original code registers b1 (52,169 values); it must equal 1 to be dropped."""
    sd = random_released_state_dict()
    sd["module.rppg_head.bias1"] = torch.tensor(1.0)
    ok = tmp_path / "cpu.pth"
    torch.save(sd, ok)
    create_model("factorizephys", checkpoint=str(ok))
    sd["module.rppg_head.bias1"] = torch.tensor(1.5)
    bad = tmp_path / "cpu_trained_b1.pth"
    torch.save(sd, bad)
    with pytest.raises(CheckpointError, match="unexpected keys \\(1\\): rppg_head.bias1"):
        create_model("factorizephys", checkpoint=str(bad))


def test_files_that_are_not_checkpoints(tmp_path):
    text = tmp_path / "notes.pth"
    text.write_text("this is not a checkpoint\n")
    with pytest.raises(CheckpointError, match="notes.pth: not a loadable torch checkpoint"):
        create_model("factorizephys.tiny", checkpoint=str(text))
    # a pickle of an arbitrary object is refused by weights_only=True (nothing is executed or constructed)
    obj = tmp_path / "object.pth"
    torch.save({"weight": fractions.Fraction(1, 3)}, obj)
    with pytest.raises(CheckpointError, match="weights_only=True"):
        read_state_dict(obj)
    wrong = tmp_path / "list.pth"
    torch.save([torch.zeros(2)], wrong)
    with pytest.raises(CheckpointError, match="expected a state dict"):
        read_state_dict(wrong)
    nested = tmp_path / "nested.pth"
    torch.save({"epoch": 1, "weights": {"a": torch.zeros(1)}}, nested)
    with pytest.raises(CheckpointError, match="found keys 'epoch', 'weights'"):
        read_state_dict(nested)
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        read_state_dict(tmp_path / "missing.pth")


def test_strip_prefix_handles_ddp_and_compile_wrappers():
    sd = {"module._orig_mod.a.weight": torch.zeros(1), "module._orig_mod.b": torch.ones(1)}
    assert sorted(strip_prefix(sd)) == ["a.weight", "b"]
    mixed = {"module.a": torch.zeros(1), "b": torch.zeros(1)}
    assert sorted(strip_prefix(mixed)) == ["b", "module.a"]  # only stripped when every key has the prefix
