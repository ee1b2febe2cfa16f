"""Training the flow-guided interpolator: L1 loss, Adam, resumable runs, validation.

Every step draws a batch from ``flowguided_data.FlowSampleStream`` (samples at any t with their
DIS flows), builds the Flow Warp's guide (``flowguided.make_guide``) and takes one Adam step on
the colour loss mean |I_t^pred - I_t| (L1, as SepConv's eq. 4). The network starts as the Flow
Warp (zero head), so the loss starts at the Flow Warp's and every step is a correction of it.

Checkpoints are the SepConv trainer's format (``sepconv_train.save_checkpoint``: modules,
optimizer, step, data-generator state and torch RNG as safetensors + JSON, no pickle), so a run
resumes exactly on a CPU. Validation: the held synthetic samples at several t, and optionally
folders of f0/gt/f1 triplets at t = 1/2 (the dev triplets, for measuring only), each beside the
Flow Warp's PSNR on the same samples.
"""
import copy
import json
import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from .flowguided import FlowGuidedNet, make_guide
from .flowguided_data import (FlowSampleStream, FolderAnyTime, MixedAnyTime, SyntheticAnyTime, collate,
                              synthetic_validation_set)
from .sepconv_train import open_run as shared_open_run
from .sepconv_train import psnr_01, reconstruction_loss, resolve_device, save_checkpoint
from .train_cli import _list, add_run_arguments

KIND = "flowguided"
LR_SCHEDULES = ("constant", "cosine")
LOSSES = ("l1", "log_mse")
KERNEL_SIZES = (0, *range(1, 14, 2))       # 0: no kernels, only the blend-logit residual
# what a resumed run takes from the command; everything else is the run's own definition
RESUME_FROM_COMMAND = ("steps", "val", "val_limit", "val_every", "checkpoint_every", "keep_checkpoints",
                       "log_every", "device")


@dataclass
class FlowGuidedConfig:
    """Everything that defines a flow-guided training run (stored in every checkpoint)."""
    data: list = field(default_factory=lambda: ["synthetic"])   # "synthetic" and/or paths
    steps: int = 3000
    kernel_size: int = 5
    channels: list = field(default_factory=lambda: [16, 32, 48, 64])
    warp: bool = True                  # False: the no-warping ablation (plain small-K SepConv)
    batch: int = 8
    lr: float = 3e-4
    loss: str = "l1"                   # l1 | log_mse (flowguided_loss)
    lr_schedule: str = "constant"      # constant | cosine (from lr after the warm-up to 0 at lr_steps)
    lr_steps: int = 0                  # length of the cosine (0: ``steps`` of the run's first command)
    warmup: int = 0                    # steps of linear warm-up from 0 to lr
    ema: float = 0.0                   # > 0: validate and export an exponential moving average of the weights
    crop: int = 128
    max_disp: float = 16.0
    static_fraction: float = 0.25
    noise: float = 0.0                 # synthetic data: Gaussian noise sigma drawn from [0, noise]
    max_gap: int = 4
    scales: list = field(default_factory=lambda: [1.0])   # video data: also used downscaled by these
    drop_repeats: bool = False         # video data: remove repeated frames (frame-rate conversions)
    holdout: int = 0                   # video data: last N frames of each clip kept out (validation "held_out")
    full_flows: bool = False           # video data: DIS on the whole (scaled) frame, as at inference
    flow_margin: int = 0               # video data, with full_flows: DIS on the crop grown by this (px) instead
    jpeg: list = field(default_factory=list)   # video data: also JPEG-compressed at these qualities
    preset: str = "medium"
    seed: int = 0
    val: list = field(default_factory=list)                      # triplet folders (measuring only)
    val_limit: int = 21
    val_every: int = 250
    checkpoint_every: int = 100
    keep_checkpoints: int = 2
    log_every: int = 10
    device: str = "cpu"
    init: str = ""                     # start weights: run dir, ckpt-*.json or .safetensors ("" = the Flow Warp)
    kind: str = KIND

    def __post_init__(self):
        for name in ("batch", "crop", "checkpoint_every", "val_every", "log_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if int(self.steps) < 0:
            raise ValueError(f"steps must be >= 0, got {self.steps}")
        if self.crop % FlowGuidedNet.multiple:
            raise ValueError(f"crop must be a multiple of {FlowGuidedNet.multiple}, got {self.crop}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if int(self.kernel_size) not in KERNEL_SIZES:
            raise ValueError(f"kernel_size must be 0 (no kernels) or an odd number from 1 to 13, got {self.kernel_size}")
        if not 0.0 <= float(self.static_fraction) <= 1.0:
            raise ValueError(f"static_fraction must lie in [0, 1], got {self.static_fraction}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}")
        if not 0.0 <= float(self.ema) < 1.0:
            raise ValueError(f"ema must lie in [0, 1), got {self.ema}")
        if int(self.warmup) < 0 or int(self.lr_steps) < 0:
            raise ValueError(f"warmup and lr_steps must be >= 0, got {self.warmup}, {self.lr_steps}")

    @classmethod
    def from_dict(cls, d: dict) -> "FlowGuidedConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def flowguided_loss(pred: torch.Tensor, target: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """Training loss of [B,3,h,w] frames. ``l1``: mean |Î - I| (SepConv eq. 4). ``log_mse``: the mean
    over samples of ln(MSE_b + 1e-6) = -(ln 10 / 10)·PSNR_b (PSNR capped at 60 dB), i.e. the mean
    per-frame PSNR the benchmarks average: every sample's error counts in decibels, so nearly perfect
    samples (where a small change costs many dB) are not traded for hard ones."""
    if kind == "log_mse":
        mse = (pred - target).pow(2).flatten(1).mean(1)                       # [B]
        return torch.log(mse + 1e-6).mean()
    return reconstruction_loss(pred, target, kind)


def _sample_psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """[B] PSNR dB of each sample (clamped to 0..1)."""
    mse = (pred.clamp(0, 1) - target).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return -10.0 * torch.log10(mse)


def learning_rate(config: FlowGuidedConfig, step: int) -> float:
    """lr of step ``step`` (0-based): linear warm-up over ``warmup`` steps, then constant or a cosine
    from ``lr`` to 0 at ``lr_steps`` (Loshchilov & Hutter 2017, without restarts)."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    if config.lr_schedule == "cosine":
        span = max(1, config.lr_steps - config.warmup)
        return 0.5 * config.lr * (1 + math.cos(math.pi * min(step - config.warmup, span) / span))
    return config.lr


def build_source(config: FlowGuidedConfig):
    crop = (config.crop, config.crop)
    sources, paths = [], []
    for item in config.data:
        if str(item) == "synthetic":
            sources.append(SyntheticAnyTime(crop, max_disp=config.max_disp, static_fraction=config.static_fraction,
                                            noise=config.noise))
        else:
            paths.append(item)
    if paths:
        sources.append(FolderAnyTime(paths, crop=crop, max_gap=config.max_gap, scales=config.scales,
                                     drop_repeats=config.drop_repeats, holdout=config.holdout,
                                     full_flows=config.full_flows, preset=config.preset, jpeg=config.jpeg,
                                     flow_margin=config.flow_margin))
    if not sources:
        raise ValueError("no training data given: use 'synthetic' and/or paths to videos or frame folders")
    return sources[0] if len(sources) == 1 else MixedAnyTime(sources)


class FlowGuidedTrainer:
    """One run: the network, Adam, the sample stream and the step count (the attributes
    ``sepconv_train.save_checkpoint`` / ``load_checkpoint`` / ``open_run`` read)."""

    def __init__(self, config: FlowGuidedConfig, source=None, load_init: bool = True):
        self.config = config
        self.device = resolve_device(config.device)
        torch.manual_seed(config.seed)
        model = FlowGuidedNet(config.kernel_size, config.channels, warp=config.warp)
        if config.init and load_init:
            start = load_run_model(config.init)
            if start.architecture() != model.architecture():
                raise ValueError(f"start weights {config.init} are {start.architecture()}, the run's network is "
                                 f"{model.architecture()}")
            model.load_state_dict(start.state_dict())
        model = model.to(self.device)
        self.modules = {"generator": model}
        if config.ema > 0:                     # Polyak averaging: starts as the start weights
            self.modules["ema"] = copy.deepcopy(model).requires_grad_(False)
        self.optimizers = {"generator": torch.optim.Adam(model.parameters(), lr=config.lr)}
        self.stream = FlowSampleStream(source if source is not None else build_source(config), config.batch,
                                       seed=config.seed, preset=config.preset)
        self.step = 0
        self._val = None

    @property
    def model(self) -> FlowGuidedNet:
        return self.modules["generator"]

    @property
    def eval_model(self) -> FlowGuidedNet:
        """The weights that are validated and exported: the moving average when the run keeps one."""
        return self.modules.get("ema", self.modules["generator"])

    def guide(self, batch: dict):
        d = {k: v.to(self.device) for k, v in batch.items()}
        return make_guide(d["first"], d["last"], d["flow_01"], d["flow_10"], d["t"], warp=self.config.warp), d["target"]

    def train_step(self) -> dict:
        """One Adam step on the L1 colour loss; returns the loss and the batch's PSNR."""
        guide, target = self.guide(self.stream.next_batch())
        target = target.permute(0, 3, 1, 2)                                  # [B,3,h,w]
        model, opt = self.model, self.optimizers["generator"]
        for group in opt.param_groups:
            group["lr"] = learning_rate(self.config, self.step)
        model.train()
        opt.zero_grad(set_to_none=True)
        pred = model(guide)
        loss = flowguided_loss(pred, target, self.config.loss)
        loss.backward()
        opt.step()
        if "ema" in self.modules:              # θ_ema <- d·θ_ema + (1 - d)·θ
            with torch.no_grad():
                for pe, p in zip(self.modules["ema"].parameters(), model.parameters()):
                    pe.mul_(self.config.ema).add_(p, alpha=1.0 - self.config.ema)
        self.step += 1
        with torch.no_grad():                  # the Flow Warp on the same batch: what the network adds
            fw = (guide.w_0 * guide.warped_0 + guide.w_1 * guide.warped_1) / (guide.w_0 + guide.w_1)
            gain = float((_sample_psnr(pred, target) - _sample_psnr(fw, target)).mean())
        return {"loss": float(loss.detach()), "psnr": psnr_01(pred.detach(), target), "gain": gain}

    # --- validation ------------------------------------------------------------------------
    def validation_sets(self) -> dict:
        """name -> list of batch dicts of one sample each (flows computed once)."""
        if self._val is None:
            from .triplet_data import load_triplet_folder
            dis = self.stream.dis
            self._val = {"synthetic": [collate([s], dis) for s in synthetic_validation_set()]}
            for source in _sources(self.stream.source):
                if getattr(source, "held", None):
                    self._val["held_out"] = [collate([s], dis) for s in source.held_out_samples()]
            for path in self.config.val:
                from .flowguided_data import FlowSample
                items = load_triplet_folder(path, limit=self.config.val_limit)
                self._val[Path(path).name] = [collate([FlowSample(f0, gt, f1, 0.5)], dis) for _, f0, gt, f1 in items]
        return self._val

    @torch.no_grad()
    def validate(self, with_flow_warp: bool = False) -> dict:
        """Mean PSNR (dB, float, clamped) per held set; with ``with_flow_warp`` also the Flow Warp's."""
        model = self.eval_model.eval()
        out = {}
        for name, batches in self.validation_sets().items():
            ours, fw = [], []
            for batch in batches:
                guide, target = self.guide(batch)
                target = target.permute(0, 3, 1, 2)
                ours.append(psnr_01(model(guide), target))
                if with_flow_warp:
                    fw.append(psnr_01((guide.w_0 * guide.warped_0 + guide.w_1 * guide.warped_1)
                                      / (guide.w_0 + guide.w_1), target))
            out[name] = round(float(np.mean(ours)), 3)
            if with_flow_warp:
                out[f"{name}_flow_warp"] = round(float(np.mean(fw)), 3)
        return out

    # --- loop -------------------------------------------------------------------------------
    def run(self, until_step: int, run_dir=None, log=print) -> None:
        """Train until ``step == until_step``, logging, validating and checkpointing into run_dir."""
        cfg = self.config
        run_dir = Path(run_dir) if run_dir is not None else None
        if run_dir is not None:
            run_dir.mkdir(parents=True, exist_ok=True)
        log_file = open(run_dir / "log.jsonl", "a") if run_dir is not None else None  # noqa: SIM115
        window, t0, c0 = [], time.perf_counter(), time.process_time()
        try:
            if self.step == 0 and run_dir is not None:
                self._emit({"step": 0, "val_psnr": self.validate(with_flow_warp=True)}, log, log_file)
            while self.step < until_step:
                window.append(self.train_step())
                record = None
                if self.step % cfg.log_every == 0 or self.step == until_step:
                    n = len(window)
                    record = {"step": self.step, "loss": float(np.mean([w["loss"] for w in window])),
                              "train_psnr": float(np.mean([w["psnr"] for w in window])),
                              "gain_db": float(np.mean([w["gain"] for w in window])),
                              "sec_per_step": (time.perf_counter() - t0) / n,
                              "cpu_sec_per_step": (time.process_time() - c0) / n}
                    window, t0, c0 = [], time.perf_counter(), time.process_time()
                if self.step % cfg.val_every == 0 or (self.step == until_step and run_dir is not None):
                    record = dict(record or {"step": self.step}, val_psnr=self.validate())
                if record is not None:
                    self._emit(record, log, log_file)
                if run_dir is not None and (self.step % cfg.checkpoint_every == 0 or self.step == until_step):
                    save_checkpoint(self, run_dir)
        finally:
            if log_file is not None:
                log_file.close()

    @staticmethod
    def _emit(record, log, log_file) -> None:
        log(json.dumps(record))
        if log_file is not None:
            log_file.write(json.dumps(record) + "\n")
            log_file.flush()


def _check_kind(saved: dict, run_dir) -> None:
    if saved.get("kind") != KIND:
        raise ValueError(f"{run_dir} holds a run of another kind ({saved.get('kind', 'sepconv')!r}), not a "
                         "flow-guided one")


def _sources(source) -> list:
    return list(getattr(source, "sources", [source]))


def _resumed_config(saved: dict, config: FlowGuidedConfig) -> FlowGuidedConfig:
    """A resumed run: its own definition, only ``RESUME_FROM_COMMAND`` from the command."""
    return FlowGuidedConfig.from_dict({**saved, **{k: getattr(config, k) for k in RESUME_FROM_COMMAND}})


def open_run(run_dir, config: FlowGuidedConfig, resume: bool, log=print) -> FlowGuidedTrainer:
    """The trainer of a new or resumed run in ``run_dir`` (``sepconv_train.open_run`` with this
    kind's resume rule and kind check). A new run with a cosine schedule and no ``lr_steps`` decays
    over its ``steps`` (a resumed run keeps its own ``lr_steps``: not taken from the command)."""
    if config.lr_schedule == "cosine" and not config.lr_steps:
        config = FlowGuidedConfig.from_dict({**asdict(config), "lr_steps": config.steps})
    return shared_open_run(run_dir, config, resume, FlowGuidedTrainer, log, check_saved=_check_kind,
                           resume_config=_resumed_config)


def train(config: FlowGuidedConfig, run_dir, resume: bool = False, log=print) -> FlowGuidedTrainer:
    """Create (or resume) a run in ``run_dir`` and train until ``config.steps``."""
    trainer = open_run(run_dir, config, resume, log)
    log(json.dumps({"data": trainer.stream.source.describe(), "device": str(trainer.device),
                    "parameters": sum(p.numel() for p in trainer.model.parameters()),
                    "config": asdict(trainer.config)}))
    trainer.run(trainer.config.steps, Path(run_dir), log=log)
    return trainer


# --- export ------------------------------------------------------------------------------------
def load_run_model(run) -> FlowGuidedNet:
    """The network (eval) of a run directory's newest checkpoint, a ckpt-*.json, or a weights file."""
    from .sepconv_train import latest_checkpoint, read_checkpoint

    run = Path(run)
    if run.suffix == ".safetensors":
        from .flowguided_infer import load_flowguided
        return load_flowguided(run)
    ckpt = latest_checkpoint(run) if run.is_dir() else run
    if ckpt is None or not ckpt.exists():
        raise ValueError(f"no checkpoint found in {run}")
    state, tensors = read_checkpoint(ckpt)
    if state["config"].get("kind") != KIND:
        raise ValueError(f"{ckpt} is not a flow-guided run")
    model = FlowGuidedNet.from_architecture(state["architecture"])
    prefix = "module.ema." if "ema" in state.get("modules", []) else "module.generator."   # the averaged weights
    model.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
    model.training_state = {"step": state["step"], "config": state["config"], "checkpoint": ckpt.name}
    return model.eval()


def register_run(run, name: str, folder=None, default: bool = True, notes: str = "") -> dict:
    """Write a run's newest checkpoint as ``folder``/NAME.safetensors (float32) with its manifest
    entry (files + sha256, architecture, recipe, machine); scores are added by
    ``benchmarks/flowguided.py --update-manifest``."""
    from .weights import WEIGHTS_DIR, manifest_files, register_entry, save_weights

    folder = Path(folder) if folder is not None else WEIGHTS_DIR
    model = load_run_model(run)
    info = model.training_state
    cfg = info["config"]
    paths = save_weights(model, folder / f"{name}.safetensors",
                         extra_metadata={"training_steps": info["step"], "training_data": ",".join(cfg["data"])})
    recipe = {k: cfg.get(k) for k in ("batch", "loss", "lr", "lr_schedule", "lr_steps", "warmup", "ema", "crop", "max_disp",
                                      "static_fraction", "noise", "max_gap", "scales", "drop_repeats", "holdout",
                                      "full_flows", "flow_margin", "jpeg", "preset", "seed") if k in cfg}
    init = "the Flow Warp (zero head, FlowGuidedNet.reset_to_flow_warp)"
    if cfg.get("init"):
        init = f"weights of {cfg['init']} (a run that started as the Flow Warp)"
    entry = {"name": name, "method": "flowguided", "default": bool(default), "files": manifest_files(paths),
             "dtype": "float32", "architecture": model.architecture(),
             "training": {"data": cfg["data"], "steps": info["step"], "loss": cfg.get("loss", "l1"), "recipe": recipe,
                          "optimizer": "Adam", "init": init,
                          "checkpoint": info["checkpoint"], "notes": notes}}
    return register_entry(entry, folder)


# --- command line: python -m frameweave train flowguided ... --------------------------------------
def parser():
    import argparse

    d = FlowGuidedConfig()
    p = argparse.ArgumentParser(prog="frameweave train flowguided",
                                description="Train the flow-guided interpolator (a correction of the Flow Warp).")
    add_run_arguments(p, d.steps)
    p.add_argument("--kernel-size", type=int, default=d.kernel_size, help="1-D kernel length K (odd, 1-13; 0 = no kernels, blend correction only)")
    p.add_argument("--channels", default=",".join(str(c) for c in d.channels),
                   help="4 encoder widths at 1/2, 1/4, 1/8, 1/16 resolution")
    p.add_argument("--no-warp", action="store_true", help="ablation: no flow (a plain small-K SepConv)")
    p.add_argument("--batch", type=int, default=d.batch)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--loss", default=d.loss, choices=LOSSES,
                   help="l1, or log_mse: the mean per-sample ln MSE (the mean PSNR the benchmarks report)")
    p.add_argument("--lr-schedule", default=d.lr_schedule, choices=LR_SCHEDULES,
                   help="constant, or cosine from --lr (after the warm-up) to 0 at --lr-steps")
    p.add_argument("--lr-steps", type=int, default=d.lr_steps, help="length of the cosine (default: --steps)")
    p.add_argument("--warmup", type=int, default=d.warmup, help="steps of linear lr warm-up")
    p.add_argument("--ema", type=float, default=d.ema,
                   help="decay of a moving average of the weights, validated and exported (0 = none)")
    p.add_argument("--crop", type=int, default=d.crop, help="training crop side (multiple of 16)")
    p.add_argument("--max-disp", type=float, default=d.max_disp,
                   help="synthetic data: largest displacement between I_t and an input (px)")
    p.add_argument("--static-fraction", type=float, default=d.static_fraction)
    p.add_argument("--noise", type=float, default=d.noise,
                   help="synthetic data: Gaussian noise, sigma drawn up to this (0..1 scale) per sample")
    p.add_argument("--max-gap", type=int, default=d.max_gap, help="video data: largest frame gap n (t = j/n)")
    p.add_argument("--scales", default="1", help="video data: comma-separated downscale factors in (0, 1]")
    p.add_argument("--drop-repeats", action="store_true", help="video data: remove repeated frames first")
    p.add_argument("--holdout", type=int, default=d.holdout,
                   help="video data: keep the last N frames of each clip out of training (validation set held_out)")
    p.add_argument("--jpeg", default="", help="video data: comma-separated JPEG qualities; each clip is also "
                                              "used with every frame compressed at each")
    p.add_argument("--full-flows", action="store_true",
                   help="video data: DIS on the whole (scaled) frame as at inference, cropped with the frames")
    p.add_argument("--flow-margin", type=int, default=d.flow_margin,
                   help="video data, with --full-flows: DIS per sample on the crop grown by this many px "
                        "(no whole-frame flow cache, which grows with the data)")
    p.add_argument("--preset", default=d.preset, help="DIS preset of the flows (as the Flow Warp's)")
    p.add_argument("--init", default="", help="start weights: run dir, ckpt-*.json or .safetensors "
                                              "(default: a new network, which is the Flow Warp)")
    p.add_argument("--val", default="", help="comma-separated folders of f0/gt/f1 triplets (validation only)")
    p.add_argument("--val-limit", type=int, default=d.val_limit)
    p.add_argument("--val-every", type=int, default=d.val_every)
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    p.add_argument("--keep-checkpoints", type=int, default=d.keep_checkpoints,
                   help="checkpoints kept in --out (older ones are deleted)")
    p.add_argument("--log-every", type=int, default=d.log_every)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device, help="cpu | cuda[:i] | auto")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    return p


def export_main(argv) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="frameweave train flowguided export",
                                description="Write a flow-guided run's newest checkpoint into weights/ with a manifest entry.")
    p.add_argument("run", help="run directory or ckpt-*.json")
    p.add_argument("name", help="weights name (weights/NAME.safetensors)")
    p.add_argument("--folder", default=None, help="weights folder (default: the package's weights/)")
    p.add_argument("--not-default", action="store_true", help="do not mark as the default flow-guided weights")
    p.add_argument("--notes", default="")
    a = p.parse_args(argv)
    entry = register_run(a.run, a.name, a.folder, default=not a.not_default, notes=a.notes)
    print(json.dumps(entry, indent=1))
    return 0


def cli_main(argv) -> int:
    if argv and argv[0] == "export":
        return export_main(argv[1:])
    a = parser().parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    try:
        channels = [int(c) for c in _list(a.channels)]
    except ValueError:
        raise ValueError(f"--channels must be 4 comma-separated integers, got {a.channels!r}") from None
    if a.kernel_size not in KERNEL_SIZES:
        raise ValueError(f"--kernel-size must be 0 (no kernels) or an odd number from 1 to 13, got {a.kernel_size}")
    try:
        scales = [float(x) for x in _list(a.scales)]
        jpeg = [int(x) for x in _list(a.jpeg)]
    except ValueError:
        raise ValueError(f"--scales / --jpeg must be comma-separated numbers, got {a.scales!r} / {a.jpeg!r}") from None
    config = FlowGuidedConfig(data=_list(a.data), steps=a.steps, kernel_size=a.kernel_size, channels=channels,
                              warp=not a.no_warp, batch=a.batch, lr=a.lr, loss=a.loss, lr_schedule=a.lr_schedule,
                              lr_steps=a.lr_steps, warmup=a.warmup, ema=a.ema, crop=a.crop, max_disp=a.max_disp,
                              static_fraction=a.static_fraction, noise=a.noise, max_gap=a.max_gap, scales=scales,
                              drop_repeats=a.drop_repeats, holdout=a.holdout, full_flows=a.full_flows,
                              flow_margin=a.flow_margin, jpeg=jpeg,
                              preset=a.preset, seed=a.seed,
                              val=_list(a.val), val_limit=a.val_limit, val_every=a.val_every,
                              checkpoint_every=a.checkpoint_every, keep_checkpoints=a.keep_checkpoints, log_every=a.log_every, device=a.device,
                              init=a.init)
    train(config, a.out, resume=a.resume, log=lambda s: print(s, flush=True))
    return 0
