"""GAN losses: BCE, WGAN-GP gradient penalty (hand computation), λ schedule, perceptual, luminance."""
import math

import pytest
import torch

from frameweave.vfi_core import gan_losses as L
from frameweave.vfi_core.vgg19 import VGG19Features, random_vgg19_features


def test_bce_losses_match_formula():
    real, fake = torch.tensor([2.0, -0.5]), torch.tensor([-1.0, 0.3])
    sig = torch.sigmoid
    d = -(torch.log(sig(real)).mean()) - torch.log(1 - sig(fake)).mean()
    torch.testing.assert_close(L.bce_discriminator_loss(real, fake), d)
    torch.testing.assert_close(L.bce_generator_loss(fake), -torch.log(sig(fake)).mean())


def test_wgan_losses():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.5, -0.5])
    assert float(L.wgan_critic_loss(real, fake)) == pytest.approx(0.0 - 2.0)
    assert float(L.wgan_generator_loss(fake)) == pytest.approx(0.0)


def test_gradient_penalty_hand_computation():
    """Critic s(x) = Σ x²: ∇s(x̂) = 2x̂, so the penalty is mean_b (2‖x̂_b‖ - 1)²."""
    real = torch.tensor([[[[1.0, 0.0]]], [[[0.0, 2.0]]]])          # [2,1,1,2]
    fake = torch.tensor([[[[0.0, 1.0]]], [[[0.0, 0.0]]]])
    eps = torch.tensor([0.25, 0.5])
    # x̂_0 = (0.25, 0.75): ‖·‖ = sqrt(0.625); x̂_1 = (0, 1): ‖·‖ = 1
    expect = ((2 * math.sqrt(0.625) - 1) ** 2 + (2 * 1 - 1) ** 2) / 2
    gp = L.gradient_penalty(lambda x: (x ** 2).flatten(1).sum(1), real, fake, eps)
    assert float(gp.detach()) == pytest.approx(expect, rel=1e-6)


def test_gradient_penalty_linear_critic_and_parameter_gradient():
    """Linear critic s(x) = <w, x>: gradient w everywhere, penalty (‖w‖ - 1)², d/dw = 2(‖w‖-1) w/‖w‖."""
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    real, fake = torch.rand(4, 2), torch.rand(4, 2)
    gp = L.gradient_penalty(lambda x: x @ w, real, fake)
    assert float(gp.detach()) == pytest.approx(16.0)
    gp.backward()
    torch.testing.assert_close(w.grad, 2 * (5 - 1) * torch.tensor([3.0, 4.0]) / 5)
    assert L.GP_WEIGHT == 10.0


def test_gradient_penalty_gradcheck():
    real, fake = torch.rand(2, 3, dtype=torch.float64), torch.rand(2, 3, dtype=torch.float64)
    eps = torch.tensor([0.3, 0.8], dtype=torch.float64)
    w = torch.rand(3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda w: L.gradient_penalty(lambda x: torch.tanh(x @ w) + (x @ w) ** 2,
                                                                  real, fake, eps), (w,))


def test_lambda_schedule():
    s = L.AdversarialSchedule(start=5.0, end=1.0, hold=10, decay=100)
    assert s(0) == s(9) == 5.0
    assert s(10) == pytest.approx(5.0)
    assert s(60) == pytest.approx(3.0)                   # half-way: cosine midpoint
    assert s(110) == s(10_000) == 1.0
    values = [s(i) for i in range(0, 130)]
    assert all(a >= b for a, b in zip(values, values[1:]))   # non-increasing
    assert L.AdversarialSchedule()(0) > 1 >= L.AdversarialSchedule()(10 ** 6)
    with pytest.raises(ValueError, match="<= 1"):
        L.AdversarialSchedule(start=5, end=2)
    with pytest.raises(ValueError, match="start >= end"):
        L.AdversarialSchedule(start=0.5, end=1)


def test_luminance_formula():
    x = torch.tensor([1.0, 0.5, 0.25]).view(1, 3, 1, 1)
    assert float(L.luminance(x)) == pytest.approx(0.299 + 0.5 * 0.587 + 0.25 * 0.114)
    a, b = torch.rand(2, 3, 5, 6), torch.rand(2, 3, 5, 6)
    ya = 0.299 * a[:, 0] + 0.587 * a[:, 1] + 0.114 * a[:, 2]
    yb = 0.299 * b[:, 0] + 0.587 * b[:, 1] + 0.114 * b[:, 2]
    torch.testing.assert_close(L.luminance_loss(a, b), ((ya - yb) ** 2).mean())
    # a hue change with the same luma costs nothing
    c = a.clone()
    c[:, 0] += 0.1 / 0.299 * 0.01
    c[:, 1] -= 0.1 / 0.587 * 0.01
    assert float(L.luminance_loss(a, c)) < 1e-12
    with pytest.raises(ValueError, match="RGB"):
        L.luminance(torch.rand(1, 1, 4, 4))


def _vgg_test_helpers():
    import importlib.util
    from pathlib import Path
    spec = importlib.util.spec_from_file_location("_fw_test_vgg19", Path(__file__).with_name("test_vgg19.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.manual_relu4_4, mod.torchvision_layout_state_dict


def test_perceptual_loss_with_synthetic_vgg():
    manual_relu4_4, torchvision_layout_state_dict = _vgg_test_helpers()
    sd = torchvision_layout_state_dict(seed=5)
    vgg = VGG19Features().load_torchvision_state_dict(sd)
    a, b = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    expect = ((manual_relu4_4(sd, a) - manual_relu4_4(sd, b)) ** 2).mean()
    torch.testing.assert_close(L.perceptual_loss(vgg, a, b), expect, rtol=1e-4, atol=1e-8)
    assert float(L.perceptual_loss(vgg, a, a)) == 0.0


def test_generator_loss_weights():
    torch.manual_seed(0)
    pred, gt = torch.rand(1, 3, 16, 16, requires_grad=True), torch.rand(1, 3, 16, 16)
    adv = torch.tensor(0.7)
    l1 = (pred - gt).abs().mean()
    total, parts = L.generator_loss(pred, gt, adv, adversarial_weight=2.0)
    torch.testing.assert_close(total, l1 + 2.0 * adv)
    assert parts["lambda_adv"] == 2.0
    vgg = random_vgg19_features(1)
    total, parts = L.generator_loss(pred, gt, adv, adversarial_weight=2.0, features=vgg, luminance_weight=0.5)
    expect = L.perceptual_loss(vgg, pred, gt) + 0.4 * l1 + 0.8 * adv + 0.5 * L.luminance_loss(pred, gt)
    torch.testing.assert_close(total, expect)
    assert set(parts) == {"l1", "perceptual", "adversarial", "luminance", "lambda_adv"}
    total.backward()
    assert pred.grad.abs().sum() > 0
