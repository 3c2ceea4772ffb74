"""PHASE-Net: released keys/shapes (strict loading), parameter counts under the three conventions, the
released TIM (with its bug) and the fixed one, ZAS properties (hypothesis), TCN causality and receptive field."""
from __future__ import annotations

import pytest
import torch
from _spec_keys import PHASENET_KEYS as RELEASED_KEYS
from _spec_keys import parse_shapes
from hypothesis import given, settings
from hypothesis import strategies as st

from rppgbench._checks import CheckpointError
from rppgbench.models import create_model, model_cfg
from rppgbench.models._phasenet_blocks import TIM, ZAS, GatedTCN, SpatialAttentionHead, block_transpose
from rppgbench.models.phasenet import PhaseNet, param_counts


def released_shapes() -> dict[str, tuple[int, ...]]:
    return parse_shapes(RELEASED_KEYS)


def raw_clip(batch: int, frames: int, side: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, frames, side, side, generator=g) * 255.0


def test_released_keys_and_shapes():
    model = create_model("phasenet")
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == released_shapes()
    assert len(model.state_dict()) == 82


def test_parameter_counts_release_and_paper():
    model = create_model("phasenet")
    total = sum(p.numel() for p in model.parameters())
    train_only = sum(p.numel() for m in (model.projection_encoder, model.decoder) for p in m.parameters())
    weight_normed = sum(p.numel() for n, p in model.named_parameters()
                        if "conv_linear" in n or "conv_gate" in n)
    counts = param_counts(model)
    assert counts == {"exact": total, "inference": total - train_only, "thop": total - train_only - weight_normed}
    assert counts == {"exact": 3_300_274, "inference": 812_290, "thop": 318_722}
    assert train_only == 2_487_984 and weight_normed == 493_568
    described = param_counts(create_model("phasenet.described"))
    assert described == {"exact": 3_201_458, "inference": 713_474, "thop": 318_722}
    # the thop-style count does not depend on the TCN width's weight-normed convs, only on what thop sees; the one
    # released width that reaches the paper's 0.29 M under it is hidden_dim 64 (docs/models.md: not registered,
    # the paper does not give its widths)
    assert param_counts(create_model("phasenet.described", hidden_dim=64))["thop"] == 294_082
    assert model_cfg("phasenet").published_params == 290_000
    assert model_cfg("phasenet.described").published_params is None


def test_cfg_recipe():
    cfg = model_cfg("phasenet")
    assert (cfg.clip_len, cfg.extra_frames, cfg.frame_size, cfg.input_view, cfg.label_view) == \
        (128, 0, 128, "raw", "raw")
    assert cfg.optimizer == {"name": "adam", "lr": 1e-4, "weight_decay": 0.0} and cfg.scheduler is None
    assert (cfg.epochs, cfg.batch_size, cfg.loss, cfg.loss_kwargs) == (10, 2, "neg_pearson", {"pearson_axis": "time"})
    model = create_model("phasenet.described")
    assert model.mixer == "zas" and model.tcn_padding == "causal" and len(model.temporal_model.network) == 3


def test_random_release_checkpoint_loads_strictly(tmp_path):
    g = torch.Generator().manual_seed(0)
    sd = {k: torch.randn(*s, generator=g) for k, s in released_shapes().items()}
    path = tmp_path / "PhaseNet_UBFC.pth"
    torch.save(sd, path)
    model = create_model("phasenet", checkpoint=str(path))
    own = model.state_dict()
    assert all(torch.equal(own[k], v) for k, v in sd.items())
    # the legacy torch.nn.utils.weight_norm names are mapped onto the parametrization names
    legacy = {k.replace("parametrizations.weight.original0", "weight_g")
               .replace("parametrizations.weight.original1", "weight_v"): v for k, v in sd.items()}
    assert sum("weight_g" in k for k in legacy) == 8
    path2 = tmp_path / "legacy.pth"
    torch.save(legacy, path2)
    own2 = create_model("phasenet", checkpoint=str(path2)).state_dict()
    assert all(torch.equal(own2[k], v) for k, v in sd.items())
    # a 4-level checkpoint does not fit the 3-level paper model: the extra level is listed
    with pytest.raises(CheckpointError, match=r"unexpected keys \(6\): temporal_model\.network\.3\.conv_gate\.bias"):
        create_model("phasenet", checkpoint=str(path), tcn_layers=3)


def test_tim_released_bug_and_fixed_interlace():
    x = torch.randn(1, 16, 5, 2, 2)
    out = TIM(16, bugcompat=True)(x)  # f = p = 2 channels
    assert torch.equal(out[:, :2, :-1], x[:, :2, 1:]) and not out[:, :2, -1].any()
    assert not out[:, 2:4].any()  # the released "past" copy writes an empty slice
    assert torch.equal(out[:, 4:], x[:, 4:])
    fixed = TIM(16, bugcompat=False)(x)
    assert torch.equal(fixed[:, :2], out[:, :2]) and torch.equal(fixed[:, 4:], x[:, 4:])
    assert torch.equal(fixed[:, 2:4, 1:], x[:, 2:4, :-1]) and not fixed[:, 2:4, 0].any()


def test_block_transpose_index_formula():
    x = torch.arange(2 * 6 * 6, dtype=torch.float32).reshape(2, 6, 6)
    for block in (1, 2, 3, 6):
        y = block_transpose(x, block)
        for i in range(6):
            for j in range(6):
                bi, r, bj, c = i // block, i % block, j // block, j % block
                assert torch.equal(y[:, i, j], x[:, bi * block + c, bj * block + r])
    with pytest.raises(ValueError, match="divisible"):
        block_transpose(torch.zeros(1, 6, 6), 4)


@settings(max_examples=40, deadline=None)
@given(b=st.integers(1, 3), s=st.integers(1, 4), c=st.integers(1, 8), t=st.integers(1, 3),
       p=st.floats(0.0, 1.0), layout=st.sampled_from(["grid", "tiles"]), seed=st.integers(0, 2 ** 16))
def test_zas_is_a_parameter_free_self_inverse_norm_preserving_permutation(b, s, c, t, p, layout, seed):
    side = b * s
    x = torch.randn(2, c, t, side, side, generator=torch.Generator().manual_seed(seed))
    zas = ZAS(c, p=p, b=b, layout=layout)
    y = zas(x)
    assert sum(q.numel() for q in zas.parameters()) == 0
    assert torch.equal(zas(y), x)
    assert torch.equal(torch.sort(y.flatten()).values, torch.sort(x.flatten()).values)
    torch.testing.assert_close(torch.linalg.vector_norm(y), torch.linalg.vector_norm(x), rtol=1e-6, atol=0)
    k = int(p * c)
    assert torch.equal(y[:, :c - k], x[:, :c - k])


def test_zas_grid_moves_distant_regions():
    x = torch.zeros(1, 4, 1, 8, 8)
    x[0, 3, 0, 0, 3] = 1.0  # row 0, col 3 of the top-left 4x4 block
    y = ZAS(4, p=0.25, b=2)(x)
    assert y[0, 3, 0, 3, 0] == 1.0 and y.sum() == 1.0


@pytest.mark.parametrize("padding,window", [("symmetric", (-15, 15)), ("causal", (0, 30))])
def test_gated_tcn_receptive_field(padding, window):
    torch.manual_seed(0)
    tcn = GatedTCN(6, 5, [8] * 4, padding=padding).eval()
    x = torch.randn(1, 81, 6)
    y = x.clone()
    t0 = 40
    y[0, t0] += 1.0
    with torch.no_grad():
        changed = (tcn(x) - tcn(y)).abs().amax(dim=-1)[0] > 0
    inside = torch.zeros(81, dtype=torch.bool)
    lo, hi = t0 + window[0], t0 + window[1]
    inside[lo:hi + 1] = True
    assert not changed[~inside].any()  # nothing outside the receptive field (nothing before t0 when causal)
    # and the field really reaches its ends (a single tap path may be cut by a ReLU, so allow 3 frames)
    assert changed[lo:lo + 3].any() and changed[hi - 2:hi + 1].any()


def test_spatial_attention_mask_sums_to_one_per_frame():
    torch.manual_seed(0)
    mask = SpatialAttentionHead(8)(torch.randn(2, 8, 3, 4, 4))
    assert mask.shape == (2, 1, 3, 4, 4) and (mask >= 0).all()
    torch.testing.assert_close(mask.sum(dim=(-1, -2)), torch.ones(2, 1, 3))


def test_tiny_forward_train_and_eval_outputs():
    torch.manual_seed(0)
    model = create_model("phasenet.tiny")
    x = raw_clip(2, 32, 32)
    out = model.train()(x)
    assert out["bvp"].shape == (2, 32) and out["aux_loss"].ndim == 0
    assert float(out["aux_loss"].detach()) == pytest.approx(model.recon_weight * out["logs"]["recon"], rel=1e-6)
    model.eval()
    with torch.no_grad():
        y = model(x)
        # the reconstruction branch is training-only: it cannot change the eval output
        for p in list(model.decoder.parameters()) + list(model.projection_encoder.parameters()):
            p.zero_()
        assert torch.equal(model(x), y)
    assert y.shape == (2, 32) and torch.isfinite(y).all()


@pytest.mark.parametrize("mixer", ["tim", "zas"])
def test_tiny_runs_with_each_mixer_and_causal_tcn(mixer):
    torch.manual_seed(0)
    model = create_model("phasenet.tiny", mixer=mixer, tcn_padding="causal").eval()
    with torch.no_grad():
        y = model(raw_clip(1, 32, 32))
    assert y.shape == (1, 32) and torch.isfinite(y).all()


def test_contract_and_option_errors():
    model = create_model("phasenet.tiny")
    with pytest.raises(ValueError, match=r"axis 1 is 32, expected 3"):
        model(torch.rand(1, 32, 3, 32, 32))  # B x T x C x H x W is not accepted silently
    with pytest.raises(ValueError, match=r"axis 2 is 16, expected 32"):
        model(raw_clip(1, 16, 32))
    with pytest.raises(ValueError, match="mixer must be one of"):
        PhaseNet(mixer="swap")
    with pytest.raises(ValueError, match="frame_size 36 gives a 9-pixel map"):
        PhaseNet(frame_size=36)
    with pytest.raises(ValueError, match="tcn_padding must be one of"):
        create_model("phasenet", tcn_padding="left")


# -- the fast CPU inference path (channels-last encoder, in-place norms) against the module-by-module path --------

def _both_paths(model: PhaseNet, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    model.eval()
    with torch.no_grad():
        model.fast_cpu = False
        ref = model(x)
        model.fast_cpu = True
        fast = model(x)
    return ref, fast


@pytest.fixture(params=["compiled", "torch"])
def fused_loops(request, monkeypatch):
    """Each fused-encoder test with the compiled loops of rppgbench._kernels and with torch's ops alone."""
    from rppgbench.models import _phasenet_fused as fused

    if request.param == "compiled" and fused._C is None:
        pytest.skip("rppgbench._kernels is not built in this install")
    if request.param == "torch":
        monkeypatch.setattr(fused, "_C", None)
    return request.param


def _assert_encoder_and_output_equal(model, x):
    """The fast encoder equals the module path's (channels-last-3d), and so does the whole model's output."""
    with torch.no_grad():
        feat_ref = model.base_encoder(x)
        feat_fast = model.encode_fast(x)
    assert feat_fast.is_contiguous(memory_format=torch.channels_last_3d)
    torch.testing.assert_close(feat_fast, feat_ref, rtol=1e-5, atol=1e-5)
    ref, fast = _both_paths(model, x)
    assert (fast - ref).abs().max() <= 1e-5


def _perturb_(model):
    """Random weights that are not the initialisation's symmetric ones."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))


@pytest.mark.parametrize("mixer,batch", [("tim_bugcompat", 1), ("tim_bugcompat", 2), ("tim", 1), ("zas", 2)])
def test_fast_cpu_path_equals_reference_tiny(mixer, batch, fused_loops):
    torch.manual_seed(1)
    model = create_model("phasenet.tiny", mixer=mixer)
    x = raw_clip(batch, 32, 32, seed=3)
    _assert_encoder_and_output_equal(model, x)


def test_fast_cpu_path_equals_reference_release_widths(fused_loops):
    """The released widths (256 hidden channels, 4-level TCN) on a small input: same output to 1e-5."""
    torch.manual_seed(2)
    model = create_model("phasenet", clip_len=12, frame_size=32)
    _perturb_(model)
    ref, fast = _both_paths(model, raw_clip(1, 12, 32, seed=4))
    assert ref.shape == (1, 12) and (fast - ref).abs().max() <= 1e-5
    assert len(model.state_dict()) == 82  # the flag is no state


@pytest.mark.parametrize("kwargs,frames,chunk_bytes", [
    ({}, 1, 4 << 20),  # one frame: the interlace is the identity
    ({"mixer": "tim"}, 7, 3 * 32 * 32 * 8 * 4),  # 3 frames per chunk in block 1, a short last chunk
    ({"encoder_channels": (8, 8, 16)}, 6, 4 << 20),  # a residual block (run in place) before a fused one
])
def test_fused_encoder_equals_module_path(kwargs, frames, chunk_bytes, monkeypatch, fused_loops):
    from rppgbench.models import _phasenet_fused as fused

    monkeypatch.setattr(fused, "CHUNK_BYTES", chunk_bytes)
    torch.manual_seed(5)
    model = create_model("phasenet.tiny", clip_len=frames, **kwargs).eval()
    _perturb_(model)
    x = raw_clip(2, frames, 32, seed=6)
    blocks = list(model.base_encoder)[3:]
    supported = [fused.fused_block_supported(b, torch.zeros(frames, 16, 16, b.stage1[0].in_channels))
                 for b in blocks]
    assert supported == [not b.use_residual for b in blocks]
    _assert_encoder_and_output_equal(model, x)


def test_moments_mean_and_covariance(fused_loops):
    from rppgbench.models._phasenet_fused import Moments

    g = torch.Generator().manual_seed(0)
    x = torch.randn(1000, 3, generator=g) * torch.tensor([1.0, 2.0, 0.5]) + torch.tensor([50.0, -3.0, 0.0])
    m, c = Moments(), Moments(cov=True)
    for i in range(0, 1000, 300):
        m.add(x[i:i + 300])
        c.add(x[i:i + 300])
    xd = x.double()
    mean, var = m.mean_var()
    torch.testing.assert_close(mean, xd.mean(0))
    torch.testing.assert_close(var, xd.var(0, correction=0))
    torch.testing.assert_close(c.mean_var()[1], torch.cov(xd.t(), correction=0))
    scale, bias = m.norm_affine()
    y = x * scale + bias
    torch.testing.assert_close(y, torch.nn.functional.instance_norm(x.t()[None]).squeeze(0).t(), rtol=1e-5, atol=1e-5)
    assert m.shifted and c.shifted  # channel 0: mean 50 against a std of 1


@pytest.mark.parametrize("offset", [0.0, 2.5])
def test_moments_without_a_shift_when_means_are_small(offset, fused_loops):
    """Means at most 3 stds from 0 (the ReLU and convolution outputs of the encoder): chunks are summed where they
    lie, no shifted copy, and the moments still equal float64's to float32 precision."""
    from rppgbench.models._phasenet_fused import Moments

    g = torch.Generator().manual_seed(1)
    x = torch.randn(20000, 4, generator=g) * torch.tensor([1.0, 2.0, 0.5, 3.0]) + offset * torch.tensor(
        [1.0, -2.0, 0.5, 3.0])
    m, c = Moments(), Moments(cov=True)
    for i in range(0, len(x), 4096):
        m.add(x[i:i + 4096])
        c.add(x[i:i + 4096])
    assert not m.shifted and not c.shifted
    xd = x.double()
    mean, var = m.mean_var()
    torch.testing.assert_close(mean, xd.mean(0), rtol=0, atol=1e-6)
    torch.testing.assert_close(var, xd.var(0, correction=0), rtol=2e-6, atol=0)
    torch.testing.assert_close(c.mean_var()[1], torch.cov(xd.t(), correction=0), rtol=0, atol=2e-5)


def test_fast_cpu_path_is_inference_only_and_counters_see_every_module():
    from rppgbench.models._base import count_macs

    torch.manual_seed(0)
    model = create_model("phasenet.tiny")
    x = raw_clip(1, 32, 32)
    called = []
    handle = model.base_encoder[0].register_forward_hook(lambda *a: called.append(1))
    with torch.no_grad():
        model.eval()(x)
    assert not called  # the fast path ran (it bypasses the Conv3d modules) ...
    model.train()(x)["bvp"].sum().backward()  # ... but never with autograd on
    assert called and model.base_encoder[0].weight.grad is not None
    handle.remove()
    macs = count_macs(model, x)
    model.fast_cpu = False
    assert count_macs(model, x) == macs and macs["conv"] > 0
    model.fast_cpu = True
    assert param_counts(model) == param_counts(create_model("phasenet.tiny", fast_cpu=False))
    assert model.fast_cpu is True  # restored


@pytest.mark.parametrize("relu", [True, False])
def test_instance_norm_relu_in_place_matches_instance_norm(relu):
    from rppgbench.models import _phasenet_blocks as blocks

    g = torch.Generator().manual_seed(0)
    x = (torch.randn(2, 5, 3, 40, 40, generator=g) * 0.5 + 30.0)  # a large mean: the statistics stay exact
    want = torch.nn.functional.instance_norm(x)
    want = want.relu() if relu else want
    y = x.contiguous(memory_format=torch.channels_last_3d)
    old = blocks._CHUNK_BYTES
    blocks._CHUNK_BYTES = 4096  # many chunks
    try:
        means = blocks.instance_norm_relu_(y, relu=relu, want_mean=True)
    finally:
        blocks._CHUNK_BYTES = old
    torch.testing.assert_close(y, want, rtol=0, atol=2e-5)
    torch.testing.assert_close(means, want.mean(dim=(2, 3, 4)), rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="channels_last_3d"):
        blocks.instance_norm_relu_(x)


def test_fused_encoder_keeps_its_workspace_and_results_outlive_it():
    """The workspaces are reused by the next call on the same encoder; a returned feature map is not in them (a
    second call on another input leaves the first result unchanged), and release_workspace frees them."""
    from rppgbench.models import _phasenet_fused as fused

    torch.manual_seed(7)
    model = create_model("phasenet.tiny", clip_len=6).eval()
    _perturb_(model)
    x1, x2 = raw_clip(1, 6, 32, seed=8), raw_clip(2, 6, 32, seed=9)
    with torch.no_grad():
        ref1 = model.base_encoder(x1)
        f1 = model.encode_fast(x1)
        kept = fused._WORKSPACES[model.base_encoder]
        f1_copy = f1.clone()
        f2 = model.encode_fast(x2)
        assert fused._WORKSPACES[model.base_encoder]["work"] is kept["work"]  # reused, not re-allocated
        assert torch.equal(f1, f1_copy)
        torch.testing.assert_close(f1, ref1, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(f2, model.base_encoder(x2), rtol=1e-5, atol=1e-5)
    fused.release_workspace(model.base_encoder)
    assert model.base_encoder not in fused._WORKSPACES
