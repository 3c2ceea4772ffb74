"""Key/shape lists of the released checkpoints, shared by the model tests: inline lists (as stored in the
released files) and the files of ``tests/spec/`` (the key/shape lists of rPPG-Toolbox's released baselines: a
``#`` header, then ``key<TAB>shape<TAB>dtype`` lines in ``state_dict()`` order, ``()`` for a scalar)."""
from __future__ import annotations

from pathlib import Path

SPEC_DIR = Path(__file__).parent / "spec"


def parse_entries(text: str) -> list[tuple[str, tuple[int, ...], str]]:
    """``key dims [dtype]`` lines (dims comma-separated, ``()`` a scalar; ``#`` lines skipped) → [(key, shape,
    dtype)] in file order; the dtype defaults to float32."""
    out = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, dims, *rest = line.split()
        shape = () if dims == "()" else tuple(int(d) for d in dims.split(","))
        out.append((key, shape, rest[0] if rest else "float32"))
    return out


def parse_shapes(text: str) -> dict[str, tuple[int, ...]]:
    """``key dims`` lines → {key: shape} (see :func:`parse_entries`)."""
    return {key: shape for key, shape, _ in parse_entries(text)}


def spec_entries(model: str) -> list[tuple[str, tuple[int, ...], str]]:
    """The entries of ``tests/spec/<model>.txt`` (e.g. ``"TSCAN"``)."""
    return parse_entries((SPEC_DIR / f"{model}.txt").read_text(encoding="utf-8"))


# keys and shapes of the released PURE_FactorizePhys_FSAM_Res.pth (PhysiologicAILab/FactorizePhys final_model_release/)
FACTORIZEPHYS_KEYS = """\
module.rppg_feature_extractor.FeatureExtractor.0.conv_block_3d.0.weight 8,3,3,3,3
module.rppg_feature_extractor.FeatureExtractor.1.conv_block_3d.0.weight 12,8,3,3,3
module.rppg_feature_extractor.FeatureExtractor.2.conv_block_3d.0.weight 12,12,3,3,3
module.rppg_feature_extractor.FeatureExtractor.4.conv_block_3d.0.weight 12,12,3,3,3
module.rppg_feature_extractor.FeatureExtractor.5.conv_block_3d.0.weight 16,12,3,3,3
module.rppg_feature_extractor.FeatureExtractor.6.conv_block_3d.0.weight 16,16,3,3,3
module.rppg_head.conv_block.0.conv_block_3d.0.weight 16,16,3,3,3
module.rppg_head.conv_block.1.conv_block_3d.0.weight 16,16,3,3,3
module.rppg_head.conv_block.2.conv_block_3d.0.weight 16,16,3,3,3
module.rppg_head.fsam.pre_conv_block.0.weight 8,16,1,1,1
module.rppg_head.fsam.pre_conv_block.0.bias 8
module.rppg_head.fsam.post_conv_block.0.conv.weight 8,8,1,1,1
module.rppg_head.fsam.post_conv_block.1.weight 16,8,1,1,1
module.rppg_head.final_layer.0.conv_block_3d.0.weight 12,16,3,3,3
module.rppg_head.final_layer.1.conv_block_3d.0.weight 8,12,3,3,3
module.rppg_head.final_layer.2.weight 1,8,3,3,3
"""


def spec_params(model: str) -> int:
    """The parameter count stated in the header of ``tests/spec/<model>.txt`` (``# parameters: 768,577 ...``)."""
    import re

    text = (SPEC_DIR / f"{model}.txt").read_text(encoding="utf-8")
    found = re.search(r"^# parameters: ([\d,]+)", text, flags=re.MULTILINE)
    if found is None:
        raise ValueError(f"tests/spec/{model}.txt: no '# parameters: N' header line")
    return int(found.group(1).replace(",", ""))


def spec_state_dict(spec: str, prefix: str = "", seed: int = 0) -> dict:
    """A state dict with every key, shape and dtype of the spec list (random values; variances positive)."""
    import torch

    dtypes = {"float32": torch.float32, "int64": torch.int64}
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape, dtype in spec_entries(spec):
        if dtypes[dtype] == torch.int64:
            v = torch.randint(0, 100, shape, generator=g)
        else:
            v = torch.randn(shape, generator=g) * 0.05
            if key.endswith("running_var"):
                v = v.abs() + 0.5
        out[prefix + key] = v
    return out


# keys and shapes of the released model definition (Alex036225/PhaseNet with its yaml config)
PHASENET_KEYS = """\
base_encoder.0.weight 16,3,1,5,5
base_encoder.0.bias 16
base_encoder.3.stage1.0.weight 64,16,1,1,1
base_encoder.3.stage2.0.weight 64,1,1,3,3
base_encoder.3.stage3.0.weight 64,1,3,1,1
base_encoder.3.se.fc.0.weight 16,64,1,1,1
base_encoder.3.se.fc.2.weight 64,16,1,1,1
base_encoder.3.proj.0.weight 32,64,1,1,1
base_encoder.4.stage1.0.weight 128,32,1,1,1
base_encoder.4.stage2.0.weight 128,1,1,3,3
base_encoder.4.stage3.0.weight 128,1,3,1,1
base_encoder.4.se.fc.0.weight 32,128,1,1,1
base_encoder.4.se.fc.2.weight 128,32,1,1,1
base_encoder.4.proj.0.weight 64,128,1,1,1
base_encoder.5.stage1.0.weight 256,64,1,1,1
base_encoder.5.stage2.0.weight 256,1,1,3,3
base_encoder.5.stage3.0.weight 256,1,3,1,1
base_encoder.5.se.fc.0.weight 64,256,1,1,1
base_encoder.5.se.fc.2.weight 256,64,1,1,1
base_encoder.5.proj.0.weight 128,256,1,1,1
attention_head.attention_conv.0.weight 64,128,3,3
attention_head.attention_conv.0.bias 64
attention_head.attention_conv.2.weight 1,64,3,3
attention_head.attention_conv.2.bias 1
encoder_head.weight 128,128
encoder_head.bias 128
temporal_model.network.0.conv_linear.bias 128
temporal_model.network.0.conv_linear.parametrizations.weight.original0 128,1,1
temporal_model.network.0.conv_linear.parametrizations.weight.original1 128,256,3
temporal_model.network.0.conv_gate.bias 128
temporal_model.network.0.conv_gate.parametrizations.weight.original0 128,1,1
temporal_model.network.0.conv_gate.parametrizations.weight.original1 128,256,3
temporal_model.network.0.downsample.weight 128,256,1
temporal_model.network.0.downsample.bias 128
temporal_model.network.1.conv_linear.bias 128
temporal_model.network.1.conv_linear.parametrizations.weight.original0 128,1,1
temporal_model.network.1.conv_linear.parametrizations.weight.original1 128,128,3
temporal_model.network.1.conv_gate.bias 128
temporal_model.network.1.conv_gate.parametrizations.weight.original0 128,1,1
temporal_model.network.1.conv_gate.parametrizations.weight.original1 128,128,3
temporal_model.network.2.conv_linear.bias 128
temporal_model.network.2.conv_linear.parametrizations.weight.original0 128,1,1
temporal_model.network.2.conv_linear.parametrizations.weight.original1 128,128,3
temporal_model.network.2.conv_gate.bias 128
temporal_model.network.2.conv_gate.parametrizations.weight.original0 128,1,1
temporal_model.network.2.conv_gate.parametrizations.weight.original1 128,128,3
temporal_model.network.3.conv_linear.bias 128
temporal_model.network.3.conv_linear.parametrizations.weight.original0 128,1,1
temporal_model.network.3.conv_linear.parametrizations.weight.original1 128,128,3
temporal_model.network.3.conv_gate.bias 128
temporal_model.network.3.conv_gate.parametrizations.weight.original0 128,1,1
temporal_model.network.3.conv_gate.parametrizations.weight.original1 128,128,3
temporal_model.final_conv.weight 128,128,1
temporal_model.final_conv.bias 128
projection_encoder.0.weight 80,128
projection_encoder.0.bias 80
projection_encoder.2.weight 32,80
projection_encoder.2.bias 32
decoder.initial_dense.0.weight 256,32
decoder.initial_dense.0.bias 256
decoder.deconv.0.weight 32,64,4
decoder.deconv.0.bias 64
decoder.deconv.3.weight 64,128,4
decoder.deconv.3.bias 128
decoder.deconv.6.weight 128,256,4
decoder.deconv.6.bias 256
decoder.deconv.9.weight 256,256,3
decoder.deconv.9.bias 256
decoder.final_fc.weight 128,16384
decoder.final_fc.bias 128
regressor_head.gru.weight_ih_l0 192,128
regressor_head.gru.weight_hh_l0 192,64
regressor_head.gru.bias_ih_l0 192
regressor_head.gru.bias_hh_l0 192
regressor_head.gru.weight_ih_l1 192,64
regressor_head.gru.weight_hh_l1 192,64
regressor_head.gru.bias_ih_l1 192
regressor_head.gru.bias_hh_l1 192
regressor_head.head.0.weight 32,64
regressor_head.head.0.bias 32
regressor_head.head.2.weight 1,32
regressor_head.head.2.bias 1
"""
