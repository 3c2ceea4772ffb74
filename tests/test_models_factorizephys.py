"""FactorizePhys (FSAM_Res): released keys/shapes and parameter count, the FSAM/NMF semantics of the released
code checked against independent reference computations, and the inference switch."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from _spec_keys import FACTORIZEPHYS_KEYS as RELEASED_KEYS
from _spec_keys import parse_shapes

from rppgbench.models import create_model, model_cfg
from rppgbench.models._base import param_counts
from rppgbench.models._fsam import FSAM, from_matrix, nmf_multiplicative, to_matrix
from rppgbench.models.factorizephys import FactorizePhys


def released_shapes() -> dict[str, tuple[int, ...]]:
    return parse_shapes(RELEASED_KEYS)


def raw_clip(batch: int, frames: int, side: int = 72, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, frames, side, side, generator=g) * 255.0


def test_released_keys_shapes_and_parameter_count():
    model = create_model("factorizephys")
    dp_keys = {"module." + k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert dp_keys == released_shapes()
    total = sum(int(np.prod(s)) for s in released_shapes().values())
    assert sum(p.numel() for p in model.parameters()) == total == 52_168
    # b1 is a non-persistent constant, not a parameter (the released checkpoints contain no bias1)
    names = {n for n, _ in model.named_parameters()}
    assert "rppg_head.bias1" not in names and float(model.rppg_head.bias1) == 1.0
    fsam = sum(p.numel() for p in model.rppg_head.fsam.parameters())
    counts = param_counts(model)
    assert fsam == 328
    assert counts == {"exact": total, "inference": total - fsam, "thop": total - fsam}


def test_cfg_contract_and_recipe():
    cfg = model_cfg("factorizephys")
    assert (cfg.clip_len, cfg.extra_frames, cfg.frame_size, cfg.input_view, cfg.label_view) == \
        (160, 1, 72, "raw", "standardized")
    assert cfg.loss == "neg_pearson" and cfg.loss_kwargs["pearson_axis"] in ("time", "batch")
    assert (cfg.epochs, cfg.batch_size, cfg.optimizer["name"], cfg.optimizer["lr"]) == (10, 4, "adam", 1e-3)
    # the scheduler spec is a valid OneCycleLR that cycles Adam's beta1 (PyTorch default cycle_momentum)
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=cfg.optimizer["lr"])
    spec = {k: v for k, v in cfg.scheduler.items() if k != "name"}
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, epochs=2, steps_per_epoch=10, **spec)
    betas = []
    for _ in range(20):
        betas.append(opt.param_groups[0]["betas"][0])
        opt.step()
        sched.step()
    assert betas[0] == pytest.approx(0.95) and min(betas) == pytest.approx(0.85, abs=1e-3)
    tiny = model_cfg("factorizephys.tiny")
    assert tiny.tiny and tiny.extra_frames == 1


def test_output_shape_and_fsam_switch():
    x = raw_clip(1, 161)
    model = create_model("factorizephys").eval()
    assert not model.use_fsam
    with torch.no_grad():
        off = model(x)
        model.fsam_inference = True
        on = model(x)
    assert off.shape == on.shape == (1, 160)
    assert torch.isfinite(off).all() and torch.isfinite(on).all()
    assert not torch.equal(off, on)
    model.train()
    out = model(x)
    assert set(out) == {"bvp", "aux_loss", "logs"} and out["bvp"].shape == (1, 160)
    assert float(out["aux_loss"]) == 0.0 and out["logs"]["appx_error"] > 0


def test_fsam_off_equals_head_on_embeddings():
    """Eval without FSAM: diff -> InstanceNorm -> extractor -> conv_block -> final_layer, nothing else."""
    torch.manual_seed(1)
    model = create_model("factorizephys.tiny").eval()
    x = raw_clip(2, 33, seed=1)
    with torch.no_grad():
        out = model(x)
        d = x[:, :, 1:] - x[:, :, :-1]
        mu = d.mean(dim=(2, 3, 4), keepdim=True)
        var = d.var(dim=(2, 3, 4), unbiased=False, keepdim=True)
        z = (d - mu) / torch.sqrt(var + 1e-5)
        e = model.rppg_head.conv_block(model.rppg_feature_extractor(z))
        ref = model.rppg_head.final_layer(e).reshape(2, 32)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)


def _reference_fsam(fsam: FSAM, e: torch.Tensor) -> tuple[torch.Tensor, float]:
    """FSAM recomputed in float64 numpy: shift by the global min, pre-conv, raw view to T x CHW, rank-1 NMF
    with ones/sqrt(T) start, `steps` updates + one coefficient update, view back, post-conv."""
    with torch.no_grad():
        v3d = fsam.pre_conv_block(e - e.min())
    b, c, t, h, w = v3d.shape
    v_all = v3d.double().numpy().reshape(b, t, c * h * w)  # C-order reshape = torch view, no permute
    approx = np.empty_like(v_all)
    for i in range(b):
        v = v_all[i]
        wb = np.full((t, 1), 1.0 / np.sqrt(t))
        hc = np.ones((c * h * w, 1))
        for _ in range(fsam.md_steps):
            hc = hc * (v.T @ wb) / (hc @ (wb.T @ wb) + 1e-6)
            wb = wb * (v @ hc) / (wb @ (hc.T @ hc) + 1e-6)
        hc = hc * (v.T @ wb) / (hc @ (wb.T @ wb) + 1e-6)
        approx[i] = wb @ hc.T
    err = float(np.sqrt(((v_all - approx) ** 2).sum()))
    a = torch.from_numpy(approx.reshape(b, c, t, h, w)).float()
    with torch.no_grad():
        return fsam.post_conv_block(a), err


@pytest.mark.parametrize("name,residual", [("factorizephys", True), ("factorizephys.nores", False)])
def test_fsam_fusion_matches_reference(name, residual):
    torch.manual_seed(2)
    model = create_model(name, fsam_inference=True, clip_len=16).eval()  # released widths, short clip
    assert model.rppg_head.residual is residual
    x = raw_clip(2, 17, seed=2)
    with torch.no_grad():
        feats = model.forward_features(x)
    e = feats["head_input"]
    att, err = _reference_fsam(model.rppg_head.fsam, e)
    assert att.abs().sum() > 0  # the attention is not dead at this init, so the fusion is really exercised
    fused = (e - e.min() + 1.0) * (att - att.min() + 1.0)
    mu = fused.mean(dim=(2, 3, 4), keepdim=True)
    var = fused.var(dim=(2, 3, 4), unbiased=False, keepdim=True)
    ref = (fused - mu) / torch.sqrt(var + 1e-5)
    if residual:
        ref = e + ref
    torch.testing.assert_close(feats["factorized_embeddings"], ref, rtol=1e-3, atol=1e-3)
    assert float(feats["appx_error"]) == pytest.approx(err, rel=1e-3)
    with torch.no_grad():
        bvp = model.rppg_head.final_layer(feats["factorized_embeddings"]).reshape(2, 16)
    torch.testing.assert_close(feats["bvp"], bvp)


def test_matrix_view_is_a_plain_view_without_permute():
    b, c, t, h, w = 1, 8, 160, 7, 7
    x = torch.arange(b * c * t * h * w, dtype=torch.float64).reshape(b, c, t, h, w)
    m = to_matrix(x)
    assert m.shape == (1, 160, 392)
    per_row = t // c  # 20 rows per channel, 8 frames per row
    for r in (0, 1, 19, 20, 77, 159):
        ch, f0 = r // per_row, (t // per_row) * (r % per_row)
        expected = x[0, ch, f0:f0 + t // per_row].reshape(-1)
        assert torch.equal(m[0, r], expected)
    assert torch.equal(from_matrix(m, x.shape), x)


def test_nmf_error_decreases_over_steps_and_gradient_path():
    g = torch.Generator().manual_seed(3)
    base = torch.rand(2, 40, 1, generator=g) @ torch.rand(2, 1, 30, generator=g)
    v = base + 0.3 * torch.rand(2, 40, 30, generator=g)  # non-negative, approximately rank 1
    errors = []
    for steps in range(0, 8):
        w, h = nmf_multiplicative(v, rank=1, steps=steps)
        errors.append(float(torch.dist(v, w @ h.transpose(1, 2))))
    assert all(b <= a * (1 + 1e-6) for a, b in zip(errors, errors[1:], strict=False))
    assert errors[-1] < 0.9 * errors[0]
    # gradient flows only through the final coefficient update: W is detached, H depends on V
    vg = v.clone().requires_grad_(True)
    w, h = nmf_multiplicative(vg, rank=1, steps=4)
    assert not w.requires_grad and h.requires_grad
    (grad,) = torch.autograd.grad(h.sum(), vg)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_fsam_couples_the_batch_through_the_global_minimum():
    """The released FSAM shifts by one minimum over the whole batch: with FSAM, sample 0's output depends on
    sample 1's values; without FSAM it does not."""
    torch.manual_seed(4)
    model = create_model("factorizephys", clip_len=16).eval()
    with torch.no_grad():
        e = model.forward_features(raw_clip(2, 17, seed=4))["head_input"]
        e2 = e.clone()
        e2[1] = e2[1] - 5.0  # moves the batch minimum into sample 1
        head = model.rppg_head
        assert torch.equal(head.from_embeddings(e, False)["out"][0], head.from_embeddings(e2, False)["out"][0])
        assert head.fsam(e - e.min())[0].abs().sum() > 0  # attention alive at this init
        on, on2 = head.from_embeddings(e, True)["out"][0], head.from_embeddings(e2, True)["out"][0]
    assert not torch.allclose(on, on2, atol=1e-4)


def test_training_mode_runs_fsam_and_reaches_fsam_parameters():
    torch.manual_seed(5)
    model = create_model("factorizephys.tiny").train()
    out = model(raw_clip(2, 33, seed=6))
    out["bvp"].pow(2).mean().backward()
    for name, p in model.rppg_head.fsam.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_contract_errors_name_expected_and_found():
    model = create_model("factorizephys.tiny")
    with pytest.raises(ValueError, match=r"expected 33"):
        model(raw_clip(1, 32))
    with pytest.raises(ValueError, match=r"\(B, 3, 33, 72, 72\).*\(1, 3, 33, 64, 64\)"):
        model(torch.rand(1, 3, 33, 64, 64))
    with pytest.raises(ValueError, match="5-D"):
        model(torch.rand(3, 33, 72, 72))
    with pytest.raises(ValueError, match="frame_size must be 71-74"):
        FactorizePhys(frame_size=36)
    with pytest.raises(ValueError, match="unknown option"):
        create_model("factorizephys", fsam_infer=True)


def test_overrides_update_contract_and_cfg():
    model = create_model("factorizephys", clip_len=20, md_steps=3)
    assert model.cfg.clip_len == 20 and model.rppg_head.fsam.md_steps == 3
    assert model.contract == (3, 21, 72, 72)
    with torch.no_grad():
        assert model.eval()(raw_clip(1, 21)).shape == (1, 20)


def test_fsam_factorization_stays_float32_under_autocast():
    """The NMF products sum over C*H*W values and could overflow in fp16; they always run in float32."""
    fsam = FSAM(16, 8)
    v = torch.rand(2, 8, 16, 7, 7) * 50.0
    with torch.no_grad():
        ref = fsam.factorize(v)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = fsam.factorize(v.bfloat16())
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, fsam.factorize(v.bfloat16().float()))
    assert torch.isfinite(ref).all()


def test_macs_are_counted_with_fsam_in_inference():
    """The MAC counter runs the model on the meta device, where autocast does not exist: FSAM's float32 block must
    not open an autocast context there (benchmarks/models.py times the fsam_inference=True variant)."""
    import copy

    from rppgbench.models._base import count_macs

    model = create_model("factorizephys", fsam_inference=True).eval()
    shape = model.cfg.input_shape(1)
    on = count_macs(copy.deepcopy(model).to("meta"), torch.empty(shape, device="meta"))["total"]
    model.fsam_inference = False
    off = count_macs(copy.deepcopy(model).to("meta"), torch.empty(shape, device="meta"))["total"]
    assert on > off > 0  # FSAM's convolutions and NMF products are counted when it runs
