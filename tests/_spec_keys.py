"""Key/shape lists of the released checkpoints (from shared/spec/*_state_dict.txt), shared by the model tests."""
from __future__ import annotations


def parse_shapes(text: str) -> dict[str, tuple[int, ...]]:
    """``key dims`` lines (dims comma-separated) → {key: shape}."""
    out = {}
    for line in text.splitlines():
        key, dims = line.split()
        out[key] = tuple(int(d) for d in dims.split(","))
    return out


# keys and shapes of the released PURE_FactorizePhys_FSAM_Res.pth (shared/spec/factorizephys_state_dict.txt)
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
