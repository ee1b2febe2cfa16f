"""Losses of adversarial SepConv training: BCE GAN, WGAN-GP, λ schedule, perceptual, luminance.

Notation: G is SepConvNet, Î = G(I0, I1) the estimate, I the ground-truth middle frame, D the
discriminator (``discriminators.FrameDiscriminator``) with raw output s(x) (a logit for DCGAN).

* BCE GAN (Goodfellow et al. 2014; DCGAN):
      L_D = -E[log σ(s(I))] - E[log(1 - σ(s(Î)))]
      L_a = -E[log σ(s(Î))]                       (the non-saturating generator loss)
* WGAN-GP (Gulrajani et al. 2017, Eq. 3):
      L_D = E[s(Î)] - E[s(I)] + λ_gp E[(‖∇_x̂ s(x̂)‖₂ - 1)²],  x̂ = ε I + (1 - ε) Î,  ε ~ U[0, 1],  λ_gp = 10
      L_a = -E[s(Î)]
* SepConv-GAN ("Frame Interpolation by Extending SepConv with Generative Adversarial Networks"):
      L_G = L1(Î, I) + λ(step) · L_a
  with the adversarial weight following :class:`AdversarialSchedule`: high early, then decaying
  to a value ≤ 1 (see its docstring for the exact curve and defaults).
* Perceptual variant ("Frame interpolation via adaptive separable convolution, adversarial training
  and post-processing pixel shaders"):
      L_G = L_p + 0.4 · L_r + 0.8 · L_a,   L_p = mean‖φ(Î) - φ(I)‖²,  L_r = L1(Î, I)
  with φ the VGG-19 relu4_4 features (``vgg19.VGG19Features``).
* Luminance loss (optional, added to either):  L_Y = mean (Y(Î) - Y(I))²,  Y = 0.299 R + 0.587 G + 0.114 B.
"""
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

GP_WEIGHT = 10.0
PERCEPTUAL_WEIGHTS = {"perceptual": 1.0, "reconstruction": 0.4, "adversarial": 0.8}
LUMA = (0.299, 0.587, 0.114)


# --- BCE (DCGAN) -------------------------------------------------------------------------------
def bce_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """L_D = -E[log σ(s(I))] - E[log(1 - σ(s(Î)))] (BCE with targets 1 for real, 0 for fake)."""
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def bce_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss L_a = -E[log σ(s(Î))]."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


# --- WGAN-GP -----------------------------------------------------------------------------------
def wgan_critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Wasserstein critic loss without the penalty: E[s(Î)] - E[s(I)]."""
    return fake_scores.mean() - real_scores.mean()


def wgan_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """L_a = -E[s(Î)]."""
    return -fake_scores.mean()


def gradient_penalty(score_fn, real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
    """E[(‖∇_x̂ s(x̂)‖₂ - 1)²] at x̂ = ε·real + (1 - ε)·fake (WGAN-GP, Eq. 3, without λ_gp).

    ``score_fn`` maps discriminator inputs [B,C,H,W] to scores [B]; ``eps`` [B] is drawn from
    U[0, 1] with torch's RNG when not given. The penalty is differentiable w.r.t. the critic's
    parameters (create_graph=True)."""
    if real.shape != fake.shape:
        raise ValueError(f"real {list(real.shape)} and fake {list(fake.shape)} differ in shape")
    b = real.shape[0]
    if eps is None:
        eps = torch.rand(b, device=real.device, dtype=real.dtype)
    eps = eps.to(real).view(b, *([1] * (real.ndim - 1)))
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = score_fn(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norms = grad.flatten(1).norm(2, dim=1)                                     # [B]
    return ((norms - 1) ** 2).mean()


# --- λ schedule ----------------------------------------------------------------------------------
@dataclass
class AdversarialSchedule:
    """Weight λ of the adversarial term in L_G = L1 + λ·L_a as a function of the step.

    The SepConv-GAN seed weights the adversarial term strongly while the discriminator is still
    weak and lowers it later (λ ≤ 1) so that the L1 term keeps the estimate close to the ground
    truth. We use a hold-then-cosine curve:

        λ(s) = start                                                   for s < hold
        λ(s) = end + (start - end) · ½ (1 + cos(π · (s - hold) / decay))   for hold ≤ s < hold + decay
        λ(s) = end                                                     afterwards

    Defaults: start = 5, end = 1, hold = 0, decay = 2000 steps. ``start`` ≥ ``end`` ≥ 0 and
    ``end`` ≤ 1 are required ("high early, ≤ 1 later").
    """
    start: float = 5.0
    end: float = 1.0
    hold: int = 0
    decay: int = 2000

    def __post_init__(self):
        if not (self.start >= self.end >= 0):
            raise ValueError(f"λ schedule needs start >= end >= 0, got start={self.start}, end={self.end}")
        if self.end > 1:
            raise ValueError(f"λ schedule end must be <= 1 (the late adversarial weight), got {self.end}")
        if self.hold < 0 or self.decay < 0:
            raise ValueError(f"λ schedule hold/decay must be >= 0, got {self.hold}, {self.decay}")

    def __call__(self, step: int) -> float:
        s = int(step)
        if s < self.hold:
            return float(self.start)
        if self.decay == 0 or s >= self.hold + self.decay:
            return float(self.end)
        frac = (s - self.hold) / self.decay
        return float(self.end + (self.start - self.end) * 0.5 * (1 + math.cos(math.pi * frac)))


# --- content losses ------------------------------------------------------------------------------
def l1_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L_r = mean |Î - I|."""
    return (pred - target).abs().mean()


def luminance(x: torch.Tensor) -> torch.Tensor:
    """Y = 0.299 R + 0.587 G + 0.114 B of [B,3,H,W] -> [B,1,H,W] (ITU-R BT.601 luma weights)."""
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"luminance expects RGB [B,3,H,W], got {list(x.shape)}")
    w = torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(dim=1, keepdim=True)


def luminance_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L_Y = mean (Y(Î) - Y(I))² (L2 on luma)."""
    return F.mse_loss(luminance(pred), luminance(target))


def perceptual_loss(features, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L_p = mean (φ(Î) - φ(I))² with φ = ``features`` (VGG-19 relu4_4); the target's features
    carry no gradient."""
    with torch.no_grad():
        f_target = features(target)
    return F.mse_loss(features(pred), f_target)


def generator_loss(pred, target, adversarial_term, adversarial_weight: float, features=None,
                   luminance_weight: float = 0.0) -> tuple:
    """Total generator loss and its parts (dict: detached 0-dim tensors, and the float ``lambda_adv``;
    tensors, so that a training step need not wait for the device to log them).

    Without ``features``: L = L1 + λ·L_a (SepConv-GAN). With ``features``: L = L_p + 0.4·L1 + 0.8·L_a
    (perceptual variant, fixed weights of the third seed; ``adversarial_weight`` is then unused).
    ``adversarial_term`` may be None (no adversary, e.g. while testing). ``luminance_weight`` > 0
    adds w·L_Y."""
    parts = {"l1": l1_loss(pred, target)}
    if features is not None:
        parts["perceptual"] = perceptual_loss(features, pred, target)
        total = (PERCEPTUAL_WEIGHTS["perceptual"] * parts["perceptual"]
                 + PERCEPTUAL_WEIGHTS["reconstruction"] * parts["l1"])
        w_adv = PERCEPTUAL_WEIGHTS["adversarial"]
    else:
        total = parts["l1"]
        w_adv = float(adversarial_weight)
    if adversarial_term is not None:
        parts["adversarial"] = adversarial_term
        total = total + w_adv * adversarial_term
    if luminance_weight > 0:
        parts["luminance"] = luminance_loss(pred, target)
        total = total + float(luminance_weight) * parts["luminance"]
    return total, {k: v.detach() for k, v in parts.items()} | {"lambda_adv": w_adv}
