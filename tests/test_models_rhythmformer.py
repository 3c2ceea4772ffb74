"""RhythmFormer's building blocks against direct reference computations: the fusion stem's frame differences,
the temporal centre-difference convolution, and the routed attention against a loop over query regions."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rppgbench.models import create_model
from rppgbench.models._tdc import CDCT
from rppgbench.models.rhythmformer import RhythmFormer, RoutingAttention, frame_differences_ntchw


def test_frame_differences_of_clamped_neighbours():
    x = torch.randn(2, 7, 3, 4, 4)
    d = frame_differences_ntchw(x).numpy()
    xn = x.numpy()
    idx = lambda t: int(np.clip(t, 0, 6))  # noqa: E731
    assert d.shape == (2, 7, 12, 4, 4)
    for t in range(7):
        for j, (a, b) in enumerate([(-1, -2), (0, -1), (1, 0), (2, 1)]):
            np.testing.assert_allclose(d[:, t, 3 * j:3 * j + 3], xn[:, idx(t + a)] - xn[:, idx(t + b)], atol=1e-6)


@pytest.mark.parametrize(("theta", "bias"), [(0.0, False), (0.2, False), (0.7, False), (1.0, False), (0.7, True)])
def test_center_difference_conv_reference(theta, bias):
    """The shared CDC_T (RhythmFormer, PhysFormer, PhysMamba): conv minus theta times the temporal centre term,
    the bias in both terms as released."""
    torch.manual_seed(0)
    m = CDCT(4, 5, theta=theta, bias=bias)
    x = torch.randn(2, 4, 6, 5, 5)
    w = m.conv.weight.detach()
    b = m.conv.bias.detach() if bias else torch.zeros(5)
    k = (w[:, :, 0].sum(dim=(2, 3)) + w[:, :, 2].sum(dim=(2, 3)))  # (out, in): previous and next frame taps
    centre = torch.einsum("oi,bithw->bothw", k, x) + b[:, None, None, None]
    ref = F.conv3d(x, w, b, padding=1) - theta * centre
    with torch.no_grad():
        torch.testing.assert_close(m(x), ref, rtol=1e-5, atol=1e-5)


def test_routed_attention_equals_a_loop_over_query_regions():
    """Every query region attends, token by token, to the tokens of its topk key regions, chosen by the dot product
    of the region means of q and k; the LePE conv of v is added and output_linear applied."""
    torch.manual_seed(0)
    att = RoutingAttention(dim=8, num_heads=2, t_patch=2, topk=3).eval()
    x = torch.randn(1, 8, 4, 8, 8)  # regions (2, 2, 2): 2 x 4 x 4 = 32 regions of 8 tokens
    with torch.no_grad():
        out = att(x)
        q, k, v = att.proj_q(x), att.proj_k(x), att.proj_v(x)
    rt, rh, rw = att.region_size(8, 8)
    assert (rt, rh, rw) == (2, 2, 2)
    regions = [(a, b, c) for a in range(0, 4, rt) for b in range(0, 8, rh) for c in range(0, 8, rw)]
    tok = lambda z, r: z[0, :, r[0]:r[0] + rt, r[1]:r[1] + rh, r[2]:r[2] + rw].reshape(8, -1)  # noqa: E731
    qm = torch.stack([tok(q, r).mean(1) for r in regions])
    km = torch.stack([tok(k, r).mean(1) for r in regions])
    ref = torch.zeros_like(v)
    for i, r in enumerate(regions):
        chosen = torch.topk(qm[i] @ km.T, 3).indices
        keys = torch.cat([tok(k, regions[j]) for j in chosen], dim=1)  # (C, 3 * 8)
        vals = torch.cat([tok(v, regions[j]) for j in chosen], dim=1)
        qi = tok(q, r)
        heads = []
        for h in range(2):
            s = slice(4 * h, 4 * h + 4)
            a = torch.softmax((qi[s].T * 8 ** -0.5) @ keys[s], dim=-1)  # scale: block width ** -0.5, as released
            heads.append((a @ vals[s].T).T)
        ref[0, :, r[0]:r[0] + rt, r[1]:r[1] + rh, r[2]:r[2] + rw] = torch.cat(heads).reshape(8, rt, rh, rw)
    with torch.no_grad():
        ref = att.output_linear(ref + att.lepe(v))
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)


def test_frame_and_size_checks_name_the_limits():
    with pytest.raises(ValueError, match="clip_len must be a multiple of 8 and at least 24.*got 16"):
        RhythmFormer(clip_len=16)
    with pytest.raises(ValueError, match="frame_size must be a multiple of 16.*got 72"):
        RhythmFormer(frame_size=72)
    m = create_model("rhythmformer.tiny").eval()
    with pytest.raises(ValueError, match=r"input must be a 5-D tensor B x T x C x H x W"):
        m(torch.zeros(32, 3, 64, 64))
    with pytest.raises(ValueError, match="number of frames must be a multiple of 8"):
        m(torch.zeros(1, 36, 3, 64, 64))
    with torch.no_grad():
        assert m(torch.randn(1, 16, 3, 64, 64)).shape == (1, 16)  # any valid length works
