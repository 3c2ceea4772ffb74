"""LOSSES: neg_pearson (time / toolbox batch axis), mse, the physFSUNet hybrid loss and its pieces."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rppgbench.training.losses import (
    BPM_GRID,
    LOSSES,
    get_loss,
    label_hr_bpm,
    neg_pearson,
    physfsunet_hybrid,
    psd_on_bpm_grid,
)

FS = 30.0


def sines(hrs, n=160, fs=FS, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs
    return np.stack([np.sin(2 * np.pi * h / 60 * t + rng.uniform(0, 2 * np.pi)) for h in hrs])


def toolbox_batch_reference(pred: np.ndarray, label: np.ndarray) -> float:
    """The rPPG-Toolbox recipe written out in numpy: one-scalar z-score (unbiased std) of each batch tensor,
    then per time step the cosine of the batch-mean-removed columns (eps 1e-6 on the norms), mean of 1 - cos."""
    p = (pred - pred.mean()) / pred.std(ddof=1)
    g = (label - label.mean()) / label.std(ddof=1)
    p = p - p.mean(axis=0, keepdims=True)
    g = g - g.mean(axis=0, keepdims=True)
    cos = (p * g).sum(0) / (np.maximum(np.linalg.norm(p, axis=0), 1e-6) * np.maximum(np.linalg.norm(g, axis=0), 1e-6))
    return float(np.mean(1 - cos))


def test_registry_names():
    assert {"neg_pearson", "mse", "physfsunet_hybrid"} <= set(LOSSES.names())
    with pytest.raises(KeyError, match="did you mean 'neg_pearson'"):
        LOSSES.get("neg_pearsn")


def test_neg_pearson_time_axis_matches_numpy():
    rng = np.random.default_rng(1)
    label = sines([60, 80, 100, 120])
    pred = label + rng.normal(0, 0.7, label.shape)
    expected = np.mean([1 - np.corrcoef(p, g)[0, 1] for p, g in zip(pred, label, strict=True)])
    got = neg_pearson(torch.tensor(pred), torch.tensor(label), pearson_axis="time")
    assert float(got) == pytest.approx(expected, abs=1e-7)
    # invariant to per-clip affine changes: a*label + b scores 0
    scaled = torch.tensor(label * np.array([[2.0], [0.5], [3.0], [1.0]]) + np.array([[5.0], [-1.0], [0.0], [9.0]]))
    assert float(neg_pearson(scaled, torch.tensor(label))) == pytest.approx(0.0, abs=1e-7)


def test_neg_pearson_batch_axis_is_the_toolbox_variant():
    rng = np.random.default_rng(2)
    label = sines([60, 80, 100, 120])
    pred = label + rng.normal(0, 0.5, label.shape)
    got = neg_pearson(torch.tensor(pred), torch.tensor(label), pearson_axis="batch")
    assert float(got) == pytest.approx(toolbox_batch_reference(pred, label), abs=1e-6)
    # the spec's checks: label + a different constant per clip does not score 0 ...
    offset = label + np.array([[0.0], [1.0], [-2.0], [3.0]])
    l_off = float(neg_pearson(torch.tensor(offset), torch.tensor(label), pearson_axis="batch"))
    assert l_off == pytest.approx(toolbox_batch_reference(offset, label), abs=1e-6)
    assert l_off > 0.3
    l_time = float(neg_pearson(torch.tensor(offset), torch.tensor(label), pearson_axis="time"))
    assert l_time == pytest.approx(0, abs=1e-7)
    # ... and a batch of one gives the constant 1.0 with no gradient signal
    p1 = torch.tensor(pred[:1], requires_grad=True)
    l1 = neg_pearson(p1, torch.tensor(label[:1]), pearson_axis="batch")
    assert float(l1.detach()) == 1.0
    l1.backward()
    assert torch.count_nonzero(p1.grad) == 0


def test_mse_and_bound_kwargs():
    a, b = torch.randn(3, 20), torch.randn(3, 20)
    assert float(LOSSES.get("mse")(a, b)) == pytest.approx(float(((a - b) ** 2).mean()))
    fn = get_loss("neg_pearson", pearson_axis="batch")
    assert float(fn(a, b, epoch=0, epochs=1, fs=30.0)) == pytest.approx(
        toolbox_batch_reference(a.numpy().astype(np.float64), b.numpy().astype(np.float64)), abs=1e-5)
    with pytest.raises(ValueError, match="pearson_axis must be one of"):
        neg_pearson(a, b, pearson_axis="space")
    with pytest.raises(ValueError, match=r"does not match label shape"):
        neg_pearson(a, b[:, :10])


@pytest.mark.parametrize("hr", [52.0, 75.0, 118.0, 140.0])
def test_psd_grid_peak_and_label_hr(hr):
    x = torch.tensor(sines([hr], n=300))
    psd = psd_on_bpm_grid(x, FS)
    assert psd.shape == (1, len(BPM_GRID))
    assert float(psd.sum()) == pytest.approx(1.0)
    assert abs(BPM_GRID[int(psd.argmax())] - hr) <= 1.0
    # toolbox HR of the label: periodogram resolution is fs/nfft*60 = 3.5 bpm at nfft 512
    assert abs(label_hr_bpm(x[0].numpy(), FS) - hr) <= FS / 512 * 60


def test_hybrid_loss_prefers_the_right_rate_and_has_gradients():
    label = torch.tensor(sines([72, 96], n=160))
    good = label + 0.1 * torch.randn_like(label)
    wrong = torch.tensor(sines([120, 60], n=160, seed=3))
    for mode in ("psd", "argmax"):
        lg = physfsunet_hybrid(good, label, epoch=0, epochs=30, hr_kl=mode)
        lw = physfsunet_hybrid(wrong, label, epoch=0, epochs=30, hr_kl=mode)
        assert float(lg) < float(lw)
    p = wrong.clone().requires_grad_(True)
    parts = physfsunet_hybrid(p, label, epoch=0, epochs=30, hr_kl="psd", return_parts=True)
    assert parts["hr"].requires_grad and float(parts["hr"].detach()) > 0
    parts["loss"].backward()
    assert torch.count_nonzero(p.grad) > 0
    # the paper-literal argmax KL carries no gradient; its value is (mu_gt - mu_pred)^2 / (2 sigma^2)
    pa = wrong.clone().requires_grad_(True)
    pr = physfsunet_hybrid(pa, label, hr_kl="argmax", return_parts=True)
    assert not pr["hr"].requires_grad
    mu_p = BPM_GRID[psd_on_bpm_grid((pa - pa.mean(1, keepdim=True)).detach() /
                                    pa.detach().std(1, keepdim=True), FS).argmax(1).numpy()]
    mu_g = BPM_GRID[psd_on_bpm_grid(label, FS).argmax(1).numpy()]
    assert float(pr["hr"]) == pytest.approx(np.mean((mu_g - mu_p) ** 2 / (2 * 3.0 ** 2)), rel=1e-5)


def test_hybrid_beta_schedule_and_terms():
    label = torch.tensor(sines([80, 100], n=160))
    pred = label + 0.5 * torch.randn_like(label)
    e0 = physfsunet_hybrid(pred, label, epoch=0, epochs=30, return_parts=True)
    e29 = physfsunet_hybrid(pred, label, epoch=29, epochs=30, return_parts=True)
    assert float(e0["beta"]) == 1.0
    assert float(e29["beta"]) == pytest.approx(1.5 ** (29 / 30))
    for parts in (e0, e29):
        expected = parts["time"] + parts["beta"] * (parts["ce"] + parts["hr"])
        assert float(parts["loss"]) == pytest.approx(float(expected), rel=1e-6)
    # the time term is 1 - per-clip Pearson
    r = [np.corrcoef(p, g)[0, 1] for p, g in zip(pred.numpy(), label.numpy(), strict=True)]
    assert float(e0["time"]) == pytest.approx(np.mean(1 - np.array(r)), abs=1e-6)
    # CE uses the normalised PSD as logits with target int(HR_gt) - 45
    zp = (pred - pred.mean(1, keepdim=True)) / pred.std(1, keepdim=True)
    psd = psd_on_bpm_grid(zp.float(), FS)
    target = [int(label_hr_bpm(g, FS)) - 45 for g in ((label - label.mean(1, keepdim=True)) /
                                                     label.std(1, keepdim=True)).numpy()]
    ce = torch.nn.functional.cross_entropy(psd, torch.tensor(target))
    assert float(e0["ce"]) == pytest.approx(float(ce), rel=1e-5)


# -- PhysFormer (rPPG-Toolbox trainer) loss -----------------------------------------------------------------------

def physformer_reference(pred: np.ndarray, label: np.ndarray, hr: np.ndarray, a: float, b: float) -> float:
    """The toolbox PhysFormer trainer's loss written out in numpy for known label HRs ``hr``: per-clip z-score,
    PhysNet's Pearson, then per clip the np.hanning-windowed DFT power on 40..179 bpm normalised to 1, CE with
    the normalised power as logits and class int(hr - 40), KL(sum) of log_softmax(power) against N(int(hr), 1)."""
    bpm = np.arange(40, 180, dtype=np.float64)
    total_p, total_ce, total_kl = 0.0, 0.0, 0.0
    for p, g, h in zip(pred, label, hr, strict=True):
        n = len(p)
        p = (p - p.mean()) / p.std(ddof=1)
        total_p += 1 - np.corrcoef(p, g)[0, 1]
        k = bpm / 60.0 / (FS / n)
        arg = 2 * np.pi * k[:, None] * np.arange(n)[None, :] / n
        w = p * np.hanning(n)
        ca = (w @ np.sin(arg).T) ** 2 + (w @ np.cos(arg).T) ** 2
        ca = ca / ca.sum()
        logsm = ca - np.log(np.exp(ca).sum())
        total_ce += -logsm[int(h - 40)]
        gauss = np.maximum(np.exp(-(bpm - int(h)) ** 2 / 2) / np.sqrt(2 * np.pi), 1e-15)
        total_kl += float((gauss * (np.log(gauss) - logsm)).sum())
    m = len(pred)
    return a * total_p / m + b * (total_ce / m + total_kl / m)


@pytest.mark.parametrize("hr", [57.0, 84.0, 131.0])
def test_welch_hr_of_a_sine(hr):
    from rppgbench.training.losses import welch_hr_bpm

    x = sines([hr], n=160)[0]
    assert abs(welch_hr_bpm(x, FS) - hr) <= 1.0


def test_physformer_loss_is_the_toolbox_formula_with_its_epoch_weights():
    from rppgbench.training.losses import physformer_loss, welch_hr_bpm

    label = torch.tensor(sines([72, 95], n=160))
    pred = label + 0.7 * torch.tensor(sines([110, 50], n=160, seed=4))
    hr = np.array([welch_hr_bpm(g, FS) for g in label.numpy()])
    for epoch, (a, b) in ((0, (1.0, 1.0)), (10, (1.0, 1.0)), (11, (0.05, 5.0))):
        parts = physformer_loss(pred, label, epoch=epoch, epochs=30, fs=FS, return_parts=True)
        assert (float(parts["a"]), float(parts["b"])) == pytest.approx((a, b))
        ref = physformer_reference(pred.double().numpy(), label.numpy(), hr, a, b)
        assert float(parts["loss"]) == pytest.approx(ref, rel=1e-4)
    assert LOSSES.get("physformer") is physformer_loss
    # a prediction at the label's rate scores lower than one at another rate, and gradients flow
    good = physformer_loss(label + 0.1 * torch.tensor(sines([72, 95], n=160, seed=5)), label)
    p = torch.tensor(sines([120, 60], n=160, seed=3)).requires_grad_(True)
    bad = physformer_loss(p, label)
    assert good.item() < bad.detach().item()
    bad.backward()
    assert torch.count_nonzero(p.grad) > 0
