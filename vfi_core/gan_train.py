"""Adversarial training of SepConv (SepConv-GAN and the perceptual variant).

Seeds: "Frame Interpolation by Extending SepConv with Generative Adversarial Networks" (SepConv as
generator, DCGAN discriminator, L1 + λ·adversarial) and "Frame interpolation via adaptive separable
convolution, adversarial training and post-processing pixel shaders" (VGG-19 perceptual loss,
L = L_p + 0.4·L_r + 0.8·L_a, augmentation below). Losses: ``gan_losses``; discriminators:
``discriminators``. The generator, data sources, validation and checkpoints are SepConv's
(``sepconv_train``): :class:`GANTrainer` extends :class:`~.sepconv_train.SepConvTrainer` with a
second module ``"discriminator"`` and its optimizer, so ``save_checkpoint`` / ``load_checkpoint``
store and restore G, D, both Adam states, the step, the data generator and torch's RNG, and a
resumed run continues bit for bit on a CPU (on CUDA up to its nondeterministic backward passes).

One training step (alternating, the usual GAN recipe):

1. draw a batch (I0, I, I1), estimate Î = G(I0, I1);
2. ``critic_steps`` discriminator updates on (I, Î.detach()) (extra ones on fresh batches):
   BCE (dcgan) or Wasserstein + λ_gp·gradient penalty (wgan-gp), D's own Adam;
3. one generator update on L1 + λ(step)·L_a (or the perceptual objective) with D frozen.

Both Adams default to lr 3e-4, β = (0.5, 0.999) (the seed's settings; separate settings through
``g_lr``/``d_lr`` and ``g_beta1``/``d_beta1``). Augmentation of the third seed
(:class:`Seed3Source`): random resize (scale in [resize_min, resize_max]), 160² crops, a random
offset of 0..``max_offset`` px between I0 and I1 (I0 and I1 are cropped ±offset/2 around the
ground truth's window, so the middle stays exact — ``augment.random_triplet_crop``), horizontal /
vertical flips and a 50% temporal swap (``augment.random_flip_reverse``).

CLI: ``python -m frameweave train sepconv-gan --adversarial dcgan|wgan-gp [--perceptual VGG_FILE]
[--luminance [W]] --init WEIGHTS --out RUN_DIR ...`` (:func:`main`).
"""
import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import gan_losses
from .augment import random_flip_reverse, random_triplet_crop
from .discriminators import ADVERSARIAL, CONDITIONAL, FrameDiscriminator
from .sepconv_train import SepConvTrainer, TrainConfig, latest_checkpoint, load_checkpoint, psnr_01_tensor


@dataclass
class GANConfig(TrainConfig):
    """A SepConv run plus the adversarial settings (all stored in every checkpoint)."""
    lr: float = 3e-4                 # generator Adam lr (seed)
    crop: int = 160                  # third seed's crops
    adversarial: str = "dcgan"       # dcgan | wgan-gp
    conditional: str = "triplet"     # frame | triplet
    d_channels: list = (64, 128, 256, 512)   # discriminator widths (DCGAN)
    d_lr: float = 3e-4
    g_beta1: float = 0.5
    d_beta1: float = 0.5
    beta2: float = 0.999
    critic_steps: int = 1            # D updates per G update
    gp_weight: float = gan_losses.GP_WEIGHT
    lambda_start: float = 5.0
    lambda_end: float = 1.0
    lambda_hold: int = 0
    lambda_decay: int = 2000
    perceptual: str = ""             # VGG-19 file (torchvision layout) | "random[:seed]" | "" = off
    luminance: float = 0.0           # weight of the luminance L2 term (0 = off)
    max_offset: int = 12             # random offset 0..max_offset px between I0 and I1
    resize_min: float = 0.6
    resize_max: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        if self.adversarial not in ADVERSARIAL:
            raise ValueError(f"adversarial must be one of {ADVERSARIAL}, got {self.adversarial!r}")
        if self.conditional not in CONDITIONAL:
            raise ValueError(f"conditional must be one of {CONDITIONAL}, got {self.conditional!r}")
        self.d_channels = [int(c) for c in self.d_channels]
        if len(self.d_channels) != 4 or min(self.d_channels) < 1:
            raise ValueError(f"d_channels must be 4 positive widths, got {self.d_channels}")
        if self.crop < 32:
            raise ValueError(f"crop must be at least 32, got {self.crop}")
        if not self.d_lr > 0:
            raise ValueError(f"d_lr must be positive, got {self.d_lr}")
        for name in ("g_beta1", "d_beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if int(self.critic_steps) < 1:
            raise ValueError(f"critic_steps must be >= 1, got {self.critic_steps}")
        if self.max_offset < 0:
            raise ValueError(f"max_offset must be >= 0, got {self.max_offset}")
        if not 0 < self.resize_min <= self.resize_max:
            raise ValueError(f"need 0 < resize_min <= resize_max, got {self.resize_min}, {self.resize_max}")
        if self.luminance < 0:
            raise ValueError(f"luminance weight must be >= 0, got {self.luminance}")
        self.schedule()                                            # validates the λ settings

    def schedule(self) -> gan_losses.AdversarialSchedule:
        return gan_losses.AdversarialSchedule(self.lambda_start, self.lambda_end, self.lambda_hold,
                                              self.lambda_decay)


# --- data: the third seed's augmentation --------------------------------------------------------------
def random_resize(frames, rng: np.random.Generator, scale_range=(0.6, 1.0), min_side: int = 0):
    """Resize every frame of a triplet by one random factor s ~ U[scale_range] (area filter when
    shrinking, bilinear when enlarging); s is raised so that the short side stays >= ``min_side``.
    Motion scales by s too. Returns (frames, s)."""
    import cv2

    h, w = frames[0].shape[:2]
    lo, hi = float(scale_range[0]), float(scale_range[1])
    s = float(rng.uniform(lo, hi)) if hi > lo else lo
    s = max(s, min_side / min(h, w))
    if abs(s - 1.0) < 1e-6:
        return tuple(frames), 1.0
    size = (max(1, int(round(w * s))), max(1, int(round(h * s))))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    return tuple(np.ascontiguousarray(cv2.resize(np.asarray(f), size, interpolation=interp)) for f in frames), s


def seed3_augment(first, middle, last, rng: np.random.Generator, crop: int = 160, max_offset: int = 12,
                  scale_range=(0.6, 1.0)):
    """Random resize, ``crop``² crop with a random I0/I1 offset of 0..max_offset px (even: ±offset/2
    per frame around the exact middle), flips, 50% temporal swap -> float32 [crop,crop,3] x3."""
    half = int(max_offset) // 2
    frames = tuple(np.asarray(f, dtype=np.float32) / (255.0 if np.asarray(f).dtype == np.uint8 else 1.0)
                   for f in (first, middle, last))
    frames, _ = random_resize(frames, rng, scale_range, min_side=crop + 2 * half)
    f0, gt, f1 = random_triplet_crop(*frames, rng, crop=(crop, crop), max_shift=half)
    return random_flip_reverse(f0, gt, f1, rng, flips=True, reverse=True)


class Seed3Source:
    """Triplets with the third seed's augmentation, from synthetic renders and/or user folders.

    Synthetic canvases are rendered large enough for the smallest resize plus the offset; their
    motion is limited so that rendered motion + offset/2 stays within the kernel's ``reach``.
    User folders are read with ``triplet_data.FolderTriplets`` (shot-cut and static rejection)."""

    def __init__(self, data, crop: int = 160, reach: int = 25, max_offset: int = 12, scale_range=(0.6, 1.0),
                 static_fraction: float = 0.0):
        self.crop, self.scale_range = int(crop), (float(scale_range[0]), float(scale_range[1]))
        self.max_offset = int(min(max_offset, 2 * (reach // 2)))       # offset/2 alone within reach
        half = self.max_offset // 2
        self.synth, self.folders = None, None
        paths = [d for d in data if str(d) != "synthetic"]
        if any(str(d) == "synthetic" for d in data):
            from .synthetic_motion import SyntheticTriplets
            side = int(math.ceil((self.crop + 2 * half) / self.scale_range[0])) + 2
            self.synth = SyntheticTriplets((side, side), max_disp=max(1.0, reach - 1.5 * half),
                                           static_fraction=static_fraction)
        if paths:
            from .triplet_data import FolderTriplets
            self.folders = FolderTriplets(paths, crop=(self.crop + 2 * half, self.crop + 2 * half), max_shift=0)
        if self.synth is None and self.folders is None:
            raise ValueError("no training data given: use 'synthetic' and/or paths to videos or frame folders")

    def sample(self, rng: np.random.Generator):
        use_synth = self.folders is None or (self.synth is not None and rng.random() < 0.5)
        max_offset = self.max_offset
        if use_synth:
            still_camera = self.synth.draw_static(rng)      # still background and no I0/I1 offset
            raw = self.synth.sample(rng, static_background=still_camera)
            max_offset = 0 if still_camera else max_offset
        else:
            c, i, s = self.folders.index[int(rng.integers(len(self.folders.index)))]
            f = self.folders.frames[c]
            raw = (f[i], f[i + s], f[i + 2 * s])
        return seed3_augment(*raw, rng, self.crop, max_offset, self.scale_range)

    def describe(self) -> str:
        parts = []
        if self.synth is not None:
            still = f", {self.synth.static_fraction:g} static" if self.synth.static_fraction > 0 else ""
            parts.append(f"synthetic FlyingChairs-style layers ({self.synth.size[1]}px canvas, "
                         f"max displacement {self.synth.max_disp:g}px{still})")
        if self.folders is not None:
            parts.append(self.folders.describe())
        return (" + ".join(parts) + f"; resize {self.scale_range}, {self.crop}px crops, "
                f"I0/I1 offset 0..{self.max_offset}px, flips, 50% temporal swap")


class _Deferred:
    """Placeholder source while SepConvTrainer builds the model (the real one needs its reach)."""

    def sample(self, rng):  # pragma: no cover - replaced before use
        raise RuntimeError("data source not set")


# --- trainer ----------------------------------------------------------------------------------------
class GANTrainer(SepConvTrainer):
    """SepConvTrainer + discriminator, its Adam, and the adversarial/perceptual generator loss."""

    def __init__(self, config: GANConfig, source=None, load_init: bool = True):
        """``load_init``: read the start weights ``config.init`` (False when a checkpoint is about to
        be loaded: the generator is then only built with ``config.generator_architecture``)."""
        if not isinstance(config, GANConfig):
            raise ValueError("GANTrainer needs a GANConfig")
        super().__init__(config, source=_Deferred(), load_init=load_init)
        g = self.model
        self.optimizers["generator"] = self.make_optimizer(g.parameters(), lr=config.lr,
                                                           betas=(config.g_beta1, config.beta2))
        d = FrameDiscriminator(config.adversarial, config.conditional, config.d_channels).to(self.device)
        if self.channels_last:
            d = d.to(memory_format=torch.channels_last)
        self.modules["discriminator"] = d
        self.optimizers["discriminator"] = self.make_optimizer(d.parameters(), lr=config.d_lr,
                                                               betas=(config.d_beta1, config.beta2))
        if source is None:
            source = Seed3Source(config.data, config.crop, g.reach(), config.max_offset,
                                 (config.resize_min, config.resize_max), config.static_fraction)
        self.stream = self.make_stream(source)
        self.features = None
        if config.perceptual:
            from .vgg19 import feature_network
            self.features = feature_network(config.perceptual).to(self.device)
        self.lambda_schedule = config.schedule()

    @property
    def discriminator(self) -> FrameDiscriminator:
        return self.modules["discriminator"]

    def _d_input(self, candidate, first, last):
        return self.discriminator.discriminator_input(candidate, first, last)

    def discriminator_step(self, batch, pred) -> dict:
        """One Adam step of D on real middle frames vs the detached estimate."""
        first, middle, last = batch
        d, opt = self.discriminator, self.optimizers["discriminator"]
        d.train()
        opt.zero_grad(set_to_none=True)
        real_in = self._d_input(middle, first, last)
        fake_in = self._d_input(pred.detach().float(), first, last)
        real, fake = d.score(real_in), d.score(fake_in)
        if self.config.adversarial == "dcgan":
            loss = gan_losses.bce_discriminator_loss(real, fake)
            logs = {"d_loss": loss.detach()}
        else:
            w = gan_losses.wgan_critic_loss(real, fake)
            gp = gan_losses.gradient_penalty(d.score, real_in, fake_in)
            loss = w + self.config.gp_weight * gp
            logs = {"d_loss": loss.detach(), "wasserstein": -w.detach(), "gp": gp.detach()}
        loss.backward()
        opt.step()
        return logs

    def generator_step(self, batch) -> dict:
        """D updates (``critic_steps``; the first on this batch's estimate), then one G update."""
        first, middle, last = batch
        g, opt = self.model, self.optimizers["generator"]
        g.train()
        with self.autocast():
            pred = self.forward(first, last)
        pred = pred.float()
        logs = self.discriminator_step(batch, pred)
        for _ in range(int(self.config.critic_steps) - 1):
            extra = self.next_batch()
            with torch.no_grad(), self.autocast():
                extra_pred = g(extra[0], extra[2]).float()
            logs = self.discriminator_step(extra, extra_pred)
        d = self.discriminator
        for p in d.parameters():
            p.requires_grad_(False)
        try:
            opt.zero_grad(set_to_none=True)
            fake = d(pred, first, last)
            adv = (gan_losses.bce_generator_loss(fake) if self.config.adversarial == "dcgan"
                   else gan_losses.wgan_generator_loss(fake))
            total, parts = gan_losses.generator_loss(pred, middle, adv, self.lambda_schedule(self.step),
                                                     features=self.features, luminance_weight=self.config.luminance)
            total.backward()
            opt.step()
        finally:
            for p in d.parameters():
                p.requires_grad_(True)
        return {"loss": total.detach(), "psnr": psnr_01_tensor(pred.detach(), middle), **parts, **logs}


def _check_adversarial_run(saved: dict, run_dir) -> None:
    if "adversarial" not in saved:
        raise ValueError(f"{run_dir} holds a plain SepConv run, not a SepConv-GAN run; "
                         "start a new --out and pass that run as --init")


def train(config: GANConfig, run_dir, resume: bool = False, log=print) -> GANTrainer:
    """Create (or resume) an adversarial run in ``run_dir`` and train until ``config.steps``."""
    from .sepconv_train import open_run

    trainer = open_run(run_dir, config, resume, GANTrainer, log, check_saved=_check_adversarial_run)
    config = trainer.config
    log(json.dumps({"data": trainer.stream.source.describe(), "device": str(trainer.device),
                    "adversarial": config.adversarial, "conditional": config.conditional,
                    "perceptual": trainer.features.source if trainer.features is not None else "off",
                    "generator_parameters": sum(p.numel() for p in trainer.model.parameters()),
                    "discriminator_parameters": sum(p.numel() for p in trainer.discriminator.parameters())}))
    trainer.run(config.steps, Path(run_dir), log=log)
    return trainer


# --- shipping ------------------------------------------------------------------------------------------
GAN_RECIPE_KEYS = ("adversarial", "conditional", "d_channels", "lr", "d_lr", "g_beta1", "d_beta1", "beta2",
                   "critic_steps", "gp_weight", "lambda_start", "lambda_end", "lambda_hold", "lambda_decay",
                   "perceptual", "luminance", "init", "max_offset", "resize_min", "resize_max", "crop", "batch", "seed",
                   "static_fraction")


def register_gan_run(run, name: str, fp16: bool = True, notes: str = "", folder=None) -> dict:
    """Export a SepConv-GAN run's newest checkpoint as ``weights/NAME.safetensors`` with a manifest
    entry (``weights.register_checkpoint``, method "sepconv-gan") whose training record also holds
    the adversarial recipe. Scores are added by ``benchmarks/gan.py --update-manifest``."""
    from .weights import WEIGHTS_DIR, register_checkpoint, update_manifest

    folder = folder or WEIGHTS_DIR
    run = Path(run)
    ckpt = latest_checkpoint(run) if run.is_dir() else run
    if ckpt is None:
        raise ValueError(f"no checkpoint found in {run}")
    cfg = json.loads(ckpt.read_text())["config"]
    if "adversarial" not in cfg:
        raise ValueError(f"{ckpt} is a plain SepConv checkpoint, not a SepConv-GAN one")
    entry = register_checkpoint(ckpt, name, fp16=fp16, method="sepconv-gan", folder=folder, notes=notes)
    entry["training"]["loss"] = ("perceptual: L_p + 0.4 L1 + 0.8 L_adv" if cfg.get("perceptual")
                                 else f"L1 + lambda(step) * L_adv ({cfg['adversarial']})")
    entry["training"]["init"] = f"generator from {cfg.get('init') or 'linear-blend init'}"
    entry["training"]["gan_recipe"] = {k: cfg.get(k) for k in GAN_RECIPE_KEYS}
    if cfg.get("generator_architecture"):
        entry["training"]["recipe"]["width"] = "from init (see architecture)"
    entry["training"]["optimizer"] = "Adam (generator and discriminator, separate)"
    update_manifest(entry, folder)
    return entry


# --- CLI --------------------------------------------------------------------------------------------
def parser() -> argparse.ArgumentParser:
    from .train_cli import sepconv_parser  # noqa: PLC0415  (train_cli imports this module lazily)

    d = GANConfig()
    p = sepconv_parser()
    p.prog = "frameweave train sepconv-gan"
    p.description = ("Adversarial SepConv training (SepConv-GAN; perceptual variant with --perceptual). "
                     "Shares the SepConv options; defaults follow the seeds (160px crops, Adam 3e-4, β=(0.5, 0.999)).")
    p.set_defaults(crop=d.crop, lr=d.lr)
    g = p.add_argument_group("adversarial")
    g.add_argument("--adversarial", choices=ADVERSARIAL, required=True,
                   help="dcgan: BCE discriminator with sigmoid; wgan-gp: critic + gradient penalty (λ_gp 10)")
    g.add_argument("--conditional", choices=CONDITIONAL, default=d.conditional,
                   help="discriminator sees the candidate frame alone, or with the two inputs")
    g.add_argument("--d-channels", default=",".join(str(c) for c in d.d_channels),
                   help="discriminator convolution widths (DCGAN: 64,128,256,512)")
    g.add_argument("--d-lr", type=float, default=d.d_lr, help="discriminator Adam lr (generator: --lr)")
    g.add_argument("--g-beta1", type=float, default=d.g_beta1)
    g.add_argument("--d-beta1", type=float, default=d.d_beta1)
    g.add_argument("--beta2", type=float, default=d.beta2)
    g.add_argument("--critic-steps", type=int, default=d.critic_steps, help="D updates per G update")
    g.add_argument("--gp-weight", type=float, default=d.gp_weight)
    g.add_argument("--lambda-start", type=float, default=d.lambda_start, help="adversarial weight early")
    g.add_argument("--lambda-end", type=float, default=d.lambda_end, help="adversarial weight late (<= 1)")
    g.add_argument("--lambda-hold", type=int, default=d.lambda_hold, help="steps at --lambda-start")
    g.add_argument("--lambda-decay", type=int, default=d.lambda_decay, help="cosine decay length (steps)")
    g.add_argument("--perceptual", default="", metavar="VGG_FILE",
                   help="torchvision-format vgg19 weights (.pth/.safetensors) for L = L_p + 0.4 L1 + 0.8 L_a; "
                        "'random[:SEED]' uses a fixed random VGG-19 (weak prior)")
    g.add_argument("--luminance", type=float, nargs="?", const=1.0, default=0.0, metavar="W",
                   help="add W·L2 on luma Y = 0.299R + 0.587G + 0.114B (W = 1 when given bare)")
    g.add_argument("--max-offset", type=int, default=d.max_offset, help="random I0/I1 offset 0..N px")
    g.add_argument("--resize-min", type=float, default=d.resize_min)
    g.add_argument("--resize-max", type=float, default=d.resize_max)
    return p


def _list(text: str) -> list:
    return [x.strip() for x in text.split(",") if x.strip()]


def config_from_args(a) -> GANConfig:
    from .train_cli import speed_options  # noqa: PLC0415
    return GANConfig(data=_list(a.data), steps=a.steps, loss="l1", kernel_size=a.kernel_size, width=a.width,
                     dilation=a.dilation, batch=a.batch, lr=a.lr, crop=a.crop, max_shift=a.max_shift, seed=a.seed,
                     val=_list(a.val), val_limit=a.val_limit, val_every=a.val_every,
                     checkpoint_every=a.checkpoint_every, log_every=a.log_every, amp=not a.no_amp, device=a.device,
                     adversarial=a.adversarial, conditional=a.conditional,
                     d_channels=[int(c) for c in _list(a.d_channels)], d_lr=a.d_lr, g_beta1=a.g_beta1,
                     d_beta1=a.d_beta1, beta2=a.beta2, critic_steps=a.critic_steps, gp_weight=a.gp_weight,
                     lambda_start=a.lambda_start, lambda_end=a.lambda_end, lambda_hold=a.lambda_hold,
                     lambda_decay=a.lambda_decay, perceptual=a.perceptual, luminance=a.luminance, init=a.init,
                     static_fraction=a.static_fraction, max_offset=a.max_offset, resize_min=a.resize_min,
                     resize_max=a.resize_max, lr_schedule=a.lr_schedule, **speed_options(a))


def main(argv=None) -> int:
    """``frameweave train sepconv-gan ...``; returns the exit status."""
    a = parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if a.loss != "l1":
        print("error: SepConv-GAN's reconstruction term is L1 (--loss l2 is for plain SepConv only)", file=sys.stderr)
        return 2
    if a.threads:
        torch.set_num_threads(a.threads)
    try:
        train(config_from_args(a), a.out, resume=a.resume, log=lambda s: print(s, flush=True))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


cli_main = main   # the name train_cli's "sepconv-gan" dispatch looks for

if __name__ == "__main__":
    sys.exit(main())
