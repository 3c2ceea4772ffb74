"""The CAN family's building blocks (TS-CAN, DeepPhys, EfficientPhys) against direct reference computations."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rppgbench.models import create_model
from rppgbench.models._can import attention_mask, flat_features, temporal_shift_frames


def test_temporal_shift_works_within_segments_of_frame_depth():
    x = torch.arange(20 * 6, dtype=torch.float32).reshape(20, 6, 1, 1)  # 20 frames = 2 segments of 10
    y = temporal_shift_frames(x, 10)[..., 0, 0].numpy()
    xn = x[..., 0, 0].numpy()
    for seg in (0, 10):
        f = slice(seg, seg + 10)
        np.testing.assert_array_equal(y[f][:-1, :2], xn[f][1:, :2])  # channels [0, C/3): frame t+1
        np.testing.assert_array_equal(y[f][-1, :2], 0)  # ... zero at the segment's end, never the next segment
        np.testing.assert_array_equal(y[f][1:, 2:4], xn[f][:-1, 2:4])  # [C/3, 2C/3): frame t-1
        np.testing.assert_array_equal(y[f][0, 2:4], 0)
        np.testing.assert_array_equal(y[f][:, 4:], xn[f][:, 4:])
    with pytest.raises(ValueError, match="21 frames are not a multiple of the segment length 10"):
        temporal_shift_frames(torch.zeros(21, 6, 1, 1), 10)


def test_attention_mask_normalisation():
    s = torch.rand(3, 1, 5, 7) + 0.01
    m = attention_mask(s)
    torch.testing.assert_close(m.sum(dim=(2, 3)), torch.full((3, 1), 5 * 7 / 2.0))
    torch.testing.assert_close(m, s * 5 * 7 / (2 * s.sum(dim=(2, 3), keepdim=True)))


def test_flattened_size_equals_the_toolbox_table():
    assert [flat_features(s, 64) for s in (36, 72, 96, 128)] == [3136, 16384, 30976, 57600]
    with pytest.raises(ValueError, match="frame_size=8 is too small"):
        flat_features(8, 64)


def test_tscan_and_deepphys_read_motion_then_appearance_channels():
    """Channels 0-2 feed the motion branch, 3-5 the appearance branch: zeroing the appearance weights makes the
    masks uniform (sigmoid(bias) everywhere -> mask 0.5) whatever channels 3-5 hold."""
    for name in ("tscan.tiny", "deepphys.tiny"):
        torch.manual_seed(0)
        m = create_model(name).eval()
        for conv in (m.apperance_conv1, m.apperance_conv2, m.apperance_conv3, m.apperance_conv4):
            torch.nn.init.zeros_(conv.weight)
        x = torch.randn(20, 6, 36, 36)
        x2 = x.clone()
        x2[:, 3:] = torch.randn(20, 3, 36, 36)
        x3 = x.clone()
        x3[:, :3] = torch.randn(20, 3, 36, 36)
        with torch.no_grad():
            assert torch.equal(m(x), m(x2))  # appearance content ignored once its weights are zero
            assert not torch.allclose(m(x), m(x3))  # motion channels matter


def test_efficientphys_differences_frames_itself():
    """N + 1 frames in, N values out; a constant added to every frame changes nothing (the model differences
    first); the frame count must be a multiple of frame_depth plus one."""
    torch.manual_seed(0)
    m = create_model("efficientphys.tiny").eval()
    x = torch.randn(21, 3, 36, 36)
    with torch.no_grad():
        y = m(x)
        assert y.shape == (20, 1)
        torch.testing.assert_close(m(x + 7.0), y, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match=r"multiple of frame_multiple=10 plus 1; got 20 frames"):
        m(torch.randn(20, 3, 36, 36))
