"""PhysMamba's pure-PyTorch selective scan and bidirectional Mamba block, against step-by-step references.

Only the pure path runs here: the compiled ``mamba_ssm`` kernel (CUDA) is not installable on the test machines,
so the kernel-equality test is skipped unless both ``mamba_ssm`` and a CUDA device are present."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rppgbench.models import create_model
from rppgbench.models._mamba import BiMamba, compiled_scan, selective_scan
from rppgbench.models.physmamba import MambaLayer


def reference_scan(u, delta, A, B, C, D, z, delta_bias):
    """The recurrence written out one step at a time in float64."""
    u, delta, A, B, C, D, z, bias = (t.double() for t in (u, delta, A, B, C, D, z, delta_bias))
    delta = F.softplus(delta + bias[:, None])
    h = torch.zeros(u.shape[0], u.shape[1], A.shape[1], dtype=torch.float64)
    ys = []
    for t in range(u.shape[-1]):
        h = torch.exp(delta[:, :, t, None] * A) * h + (delta[:, :, t] * u[:, :, t])[..., None] * B[:, None, :, t]
        ys.append((h * C[:, None, :, t]).sum(-1))
    y = torch.stack(ys, -1) + u * D[:, None]
    return y * F.silu(z)


def scan_inputs(b=2, d=6, n=4, length=50, step_bias=0.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    return (r(b, d, length), r(b, d, length), -torch.exp(r(d, n)), r(b, n, length), r(b, n, length), r(d),
            r(b, d, length), step_bias + r(d))


@pytest.mark.parametrize("step_bias", [-4.0, 0.0, 4.0])  # small, medium and large steps (slow to instant decay)
def test_selective_scan_equals_the_step_by_step_recurrence(step_bias):
    args = scan_inputs(step_bias=step_bias)
    ref = reference_scan(*args)
    got = selective_scan(*args[:7], delta_bias=args[7])
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("length", [1, 2, 3, 17, 64])  # one block, partial last blocks, a perfect square
def test_selective_scan_block_boundaries(length):
    args = scan_inputs(length=length, seed=length)
    torch.testing.assert_close(selective_scan(*args[:7], delta_bias=args[7]).double(), reference_scan(*args),
                               rtol=1e-4, atol=1e-4)


def test_selective_scan_gradients_match_the_reference():
    args = [t.clone().requires_grad_(True) for t in scan_inputs(length=24, seed=2)]
    selective_scan(*args[:7], delta_bias=args[7]).square().sum().backward()
    got = [t.grad.clone() for t in args]
    args64 = [t.detach().double().requires_grad_(True) for t in args]
    reference_scan(*args64).square().sum().backward()
    for g, t in zip(got, args64, strict=True):
        torch.testing.assert_close(g.double(), t.grad, rtol=2e-3, atol=2e-3)


def reference_bimamba(m: BiMamba, tokens: torch.Tensor) -> torch.Tensor:
    """Both directions written out from the block's parameters with the step-by-step scan."""
    xz = tokens @ m.in_proj.weight.T
    x, z = xz.transpose(1, 2).chunk(2, dim=1)
    outs = []
    for sfx, flip in (("", False), ("_b", True)):
        conv, xp, dtp = getattr(m, "conv1d" + sfx), getattr(m, "x_proj" + sfx), getattr(m, "dt_proj" + sfx)
        xi, zi = (x.flip(-1), z.flip(-1)) if flip else (x, z)
        k = conv.weight.shape[-1]
        xc = F.silu(F.conv1d(F.pad(xi, (k - 1, 0)), conv.weight, conv.bias, groups=xi.shape[1]))
        dbc = xc.transpose(1, 2) @ xp.weight.T
        dt, b, c = dbc.split([m.dt_rank, m.d_state, m.d_state], dim=-1)
        a = -torch.exp(getattr(m, "A" + sfx + "_log"))
        y = reference_scan(xc, (dt @ dtp.weight.T).transpose(1, 2), a, b.transpose(1, 2), c.transpose(1, 2),
                           getattr(m, "D" + sfx), zi, dtp.bias)
        outs.append(y.flip(-1) if flip else y)
    return ((outs[0] + outs[1]).transpose(1, 2) @ m.out_proj.weight.double().T).float()


def test_bimamba_is_the_sum_of_a_forward_and_a_backward_scan():
    torch.manual_seed(3)
    m = BiMamba(8)
    assert (m.d_inner, m.dt_rank, m.x_proj.out_features) == (16, 1, 1 + 2 * 16)
    tokens = torch.randn(2, 30, 8)
    with torch.no_grad():
        torch.testing.assert_close(m(tokens), reference_bimamba(m, tokens), rtol=1e-4, atol=1e-4)
        # the backward direction really is a scan of the reversed sequence: swapping the two parameter sets
        # and reversing the input reverses the output
        swapped = BiMamba(8)
        sd = {k: v for k, v in m.state_dict().items()}
        for a, b in (("A_log", "A_b_log"), ("D", "D_b")):
            sd[a], sd[b] = sd[b], sd[a]
        for base in ("conv1d", "x_proj", "dt_proj"):
            for k in [k for k in sd if k.startswith(base + ".")]:
                kb = k.replace(base, base + "_b", 1)
                sd[k], sd[kb] = sd[kb], sd[k]
        swapped.load_state_dict(sd)
        torch.testing.assert_close(swapped(tokens.flip(1)).flip(1), m(tokens), rtol=1e-4, atol=1e-5)


def test_mamba_layer_tokens_are_the_flattened_volume_and_the_release_init():
    torch.manual_seed(4)
    layer = MambaLayer(8).eval()
    assert torch.all(layer.mamba.dt_proj.bias == 0) and torch.all(layer.mamba.dt_proj_b.bias == 0)
    v = torch.randn(1, 8, 3, 2, 2)
    tokens = v.reshape(1, 8, 12).transpose(1, 2)
    with torch.no_grad():
        ref = layer.norm2(tokens + layer.mamba(layer.norm1(tokens))).transpose(1, 2).reshape(v.shape)
        torch.testing.assert_close(layer(v), ref)
    assert layer(v.half()).dtype == torch.float32  # the release runs the block in float32


def test_physmamba_contract_errors():
    with pytest.raises(ValueError, match="multiple of 4"):
        create_model("physmamba", clip_len=30)
    with pytest.raises(ValueError, match="multiple of 16"):
        create_model("physmamba", frame_size=72)


@pytest.mark.skipif(compiled_scan() is None or not torch.cuda.is_available(),
                    reason="needs the compiled mamba_ssm kernel and a CUDA device (not installable here)")
def test_compiled_kernel_equals_the_pure_scan():  # pragma: no cover - never runs on the CPU test machines
    args = [t.cuda() for t in scan_inputs(d=16, n=16, length=300)]
    kernel = compiled_scan()(*args[:6], z=args[6], delta_bias=args[7], delta_softplus=True)
    torch.testing.assert_close(kernel, selective_scan(*args[:7], delta_bias=args[7]), rtol=1e-4, atol=1e-4)
    torch.manual_seed(5)
    m = create_model("physmamba.tiny").eval().cuda()
    x = torch.randn(2, 3, 32, 32, 32, device="cuda")
    with torch.no_grad():
        fast = m(x)
        for mod in m.modules():
            if isinstance(mod, BiMamba):
                mod.use_kernel = False
        torch.testing.assert_close(fast, m(x), rtol=1e-4, atol=1e-4)
