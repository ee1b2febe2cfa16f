"""Discriminators for adversarial SepConv training (SepConv-GAN).

"Frame Interpolation by Extending SepConv with Generative Adversarial Networks" keeps SepConv as
the generator G and adds a DCGAN-style discriminator D (Radford et al. 2016): a stack of strided
4x4 convolutions at 64, 128, 256, 512 channels with LeakyReLU(0.2), then a linear layer to one
score. Two training regimes:

* ``adversarial="dcgan"``: D outputs a logit s, D(x) = sigmoid(s) is the probability that x is a
  real middle frame; trained with binary cross-entropy (``gan_losses.bce_*``, which apply the
  sigmoid inside ``binary_cross_entropy_with_logits`` for numerical stability — mathematically the
  same as sigmoid + BCE). Batch normalisation after every convolution but the first, as in DCGAN.
* ``adversarial="wgan-gp"``: D is a critic, the raw linear output is the score (no sigmoid), trained
  with the Wasserstein loss + gradient penalty (Gulrajani et al. 2017). No batch normalisation,
  because the gradient penalty is taken per sample (the WGAN-GP paper's advice).

Conditioning (``conditional``):

* ``"frame"``: D sees the candidate middle frame alone, [B,3,H,W];
* ``"triplet"``: D sees (I0, candidate, I1) concatenated on channels, [B,9,H,W], so it can judge
  whether the candidate is consistent with its inputs (a conditional GAN).

Any input of at least 16x16 works: after the four stride-2 convolutions the feature map is pooled
adaptively to 4x4 before the linear layer (DCGAN's fixed 64x64 input would give 4x4 directly).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

ADVERSARIAL = ("dcgan", "wgan-gp")
CONDITIONAL = ("frame", "triplet")
DCGAN_CHANNELS = (64, 128, 256, 512)


class FrameDiscriminator(nn.Module):
    """DCGAN-style discriminator / WGAN-GP critic for middle frames.

    Args:
        adversarial: "dcgan" (BCE, sigmoid probability) or "wgan-gp" (critic, raw score).
        conditional: "frame" (candidate only) or "triplet" (I0, candidate, I1 on channels).
        channels: the four convolution widths (DCGAN: 64, 128, 256, 512).
        norm: "batch", "none" or None (= batch for dcgan, none for wgan-gp).

    ``forward(candidate, first=None, last=None)`` -> scores [B] (logits for dcgan, critic values
    for wgan-gp); ``probability(...)`` -> sigmoid of the logits (dcgan only).
    """

    def __init__(self, adversarial: str = "dcgan", conditional: str = "frame", channels=DCGAN_CHANNELS,
                 norm: str | None = None):
        super().__init__()
        if adversarial not in ADVERSARIAL:
            raise ValueError(f"adversarial must be one of {ADVERSARIAL}, got {adversarial!r}")
        if conditional not in CONDITIONAL:
            raise ValueError(f"conditional must be one of {CONDITIONAL}, got {conditional!r}")
        channels = tuple(int(c) for c in channels)
        if len(channels) != 4 or min(channels) < 1:
            raise ValueError(f"channels must be 4 positive widths, got {channels}")
        norm = norm or ("batch" if adversarial == "dcgan" else "none")
        if norm not in ("batch", "none"):
            raise ValueError(f"norm must be 'batch' or 'none', got {norm!r}")
        if adversarial == "wgan-gp" and norm == "batch":
            raise ValueError("wgan-gp critic must not use batch normalisation (the gradient penalty is per sample)")
        self.adversarial, self.conditional, self.channels, self.norm = adversarial, conditional, channels, norm
        self.in_channels = 3 if conditional == "frame" else 9
        layers, c_in = [], self.in_channels
        for i, c in enumerate(channels):
            layers.append(nn.Conv2d(c_in, c, 4, 2, 1, bias=(norm == "none" or i == 0)))
            if norm == "batch" and i > 0:
                layers.append(nn.BatchNorm2d(c))
            layers.append(nn.LeakyReLU(0.2, inplace=False))
            c_in = c
        self.features = nn.Sequential(*layers)
        self.linear = nn.Linear(channels[-1] * 16, 1)

    def architecture(self) -> dict:
        return {"adversarial": self.adversarial, "conditional": self.conditional,
                "channels": list(self.channels), "norm": self.norm}

    def discriminator_input(self, candidate: torch.Tensor, first=None, last=None) -> torch.Tensor:
        """The tensor D looks at: candidate [B,3,H,W], or cat(I0, candidate, I1) [B,9,H,W]."""
        if candidate.ndim != 4 or candidate.shape[1] != 3:
            raise ValueError(f"candidate must be [B,3,H,W], got {list(candidate.shape)}")
        if self.conditional == "frame":
            return candidate
        if first is None or last is None:
            raise ValueError("a 'triplet' discriminator needs the two input frames (first, last)")
        for name, t in (("first", first), ("last", last)):
            if t.shape != candidate.shape:
                raise ValueError(f"{name} has shape {list(t.shape)}, candidate {list(candidate.shape)}")
        return torch.cat([first, candidate, last], dim=1)                        # [B,9,H,W]

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """Scores [B] of already assembled discriminator inputs [B,C,H,W]."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"discriminator input must be [B,{self.in_channels},H,W], got {list(x.shape)}")
        if min(x.shape[-2:]) < 16:
            raise ValueError(f"discriminator input must be at least 16x16, got {x.shape[-1]}x{x.shape[-2]}")
        h = self.features(x)                                                     # [B,512,H/16,W/16]
        h = F.adaptive_avg_pool2d(h, 4).flatten(1)                               # [B,512*16]
        return self.linear(h).squeeze(1)                                         # [B]

    def forward(self, candidate: torch.Tensor, first=None, last=None) -> torch.Tensor:
        return self.score(self.discriminator_input(candidate, first, last))

    def probability(self, candidate: torch.Tensor, first=None, last=None) -> torch.Tensor:
        """D(x) = sigmoid(logit) in (0, 1) — the DCGAN discriminator's output (dcgan only)."""
        if self.adversarial != "dcgan":
            raise ValueError("a WGAN-GP critic outputs an unbounded score, not a probability")
        return torch.sigmoid(self(candidate, first, last))
