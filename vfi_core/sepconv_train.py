"""Training SepConvNet: generator step, loss, data stream, validation and exact checkpoints.

Niklaus et al. 2017 train the network end-to-end with a colour loss between the estimate and the
ground truth middle frame, Eq. 4 (L1, ``--loss l1``) or L2 (``--loss l2``), with Adamax; we use
Adam (lr 5e-4 by default). The pieces are separate so that other objectives add on:

* :func:`reconstruction_loss` — the colour loss;
* :class:`SepConvTrainer` — holds named ``modules`` and ``optimizers`` (``"generator"`` here; an
  adversarial trainer adds ``"discriminator"``), the :class:`~.triplet_data.TripletStream` and
  the step count; ``generator_step(batch)`` is one optimisation step of the generator and returns
  its logged numbers; ``train_step()`` draws a batch and calls it (override or extend to add a
  discriminator step);
* :func:`save_checkpoint` / :func:`load_checkpoint` — every named module and optimizer, the step,
  the data generator state and torch's RNG, as safetensors (tensors) + JSON (everything else), no
  pickle. Resuming from a checkpoint continues bit for bit as if training had not stopped on a
  CPU; on CUDA, whose backward passes of interpolation, pooling and padding are nondeterministic,
  it continues the same run (same data, state and schedule) up to that nondeterminism.

Mixed precision (bfloat16 autocast) is used on CUDA when ``amp`` is on; CPU trains in float32.
"""
import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from .sepconv import SepConvNet
from .triplet_data import (FolderTriplets, MixedSource, SyntheticSource, TripletStream, load_triplet_folder,
                           synthetic_validation_set)

CHECKPOINT_FORMAT = "frameweave-sepconv-checkpoint-1"


@dataclass
class TrainConfig:
    """Everything that defines a training run (stored in every checkpoint)."""
    data: list = field(default_factory=lambda: ["synthetic"])   # "synthetic" and/or paths
    steps: int = 1000
    loss: str = "l1"
    kernel_size: int = 51
    width: float = 1.0
    dilation: int = 1
    batch: int = 8
    lr: float = 5e-4
    crop: int = 128
    max_shift: int = 2
    seed: int = 0
    val: list = field(default_factory=list)                      # triplet folders (measuring only)
    val_limit: int = 8
    val_every: int = 250
    checkpoint_every: int = 100
    keep_checkpoints: int = 2
    log_every: int = 10
    amp: bool = True
    device: str = "auto"
    # synthetic data: probability that a layer (and, for the background, the whole I0/I1 offset)
    # does not move — real footage is full of static areas that pure-motion data never shows
    static_fraction: float = 0.25
    init: str = ""                   # generator start: weights name / .safetensors / run dir / ckpt json
    generator_architecture: dict = None  # set from ``init`` at the start of a run (resume needs no init file)

    def __post_init__(self):
        if self.loss not in ("l1", "l2"):
            raise ValueError(f"loss must be 'l1' or 'l2', got {self.loss!r}")
        for name in ("steps", "batch", "crop", "checkpoint_every", "val_every", "log_every"):
            if int(getattr(self, name)) < (0 if name == "steps" else 1):
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.crop % 32:
            raise ValueError(f"crop must be a multiple of 32 (the network's pooling), got {self.crop}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if not 0.0 <= float(self.static_fraction) <= 1.0:
            raise ValueError(f"static_fraction must lie in [0, 1], got {self.static_fraction}")

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def reconstruction_loss(pred: torch.Tensor, target: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """Colour loss of the paper (Eq. 4): mean |Î - I_gt| (l1) or mean (Î - I_gt)² (l2)."""
    if kind == "l1":
        return (pred - target).abs().mean()
    if kind == "l2":
        return F.mse_loss(pred, target)
    raise ValueError(f"unknown loss {kind!r}; use 'l1' or 'l2'")


def psnr_01(pred: torch.Tensor, target: torch.Tensor) -> float:
    """PSNR (dB) of images in 0..1 after clamping (training-time monitor; benchmarks use metrics.py)."""
    mse = F.mse_loss(pred.clamp(0, 1).double(), target.double()).item()
    return 10 * math.log10(1.0 / max(mse, 1e-12))


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def build_source(config: TrainConfig, reach: int):
    """Training source from ``config.data``: "synthetic" and/or user paths (mixed evenly)."""
    crop = (config.crop, config.crop)
    sources, paths = [], []
    for item in config.data:
        if str(item) == "synthetic":
            sources.append(SyntheticSource(crop, reach=reach, max_shift=config.max_shift,
                                           static_fraction=config.static_fraction))
        else:
            paths.append(item)
    if paths:
        sources.append(FolderTriplets(paths, crop=crop, max_shift=config.max_shift))
    if not sources:
        raise ValueError("no training data given: use 'synthetic' and/or paths to videos or frame folders")
    return sources[0] if len(sources) == 1 else MixedSource(sources)


def generator_state(init) -> tuple:
    """(architecture, state dict) of a generator to start from: a registry name, a weights file,
    a run directory (newest checkpoint) or a ckpt-*.json."""
    p = Path(str(init))
    if p.is_dir() or p.suffix == ".json":
        ckpt = latest_checkpoint(p) if p.is_dir() else p
        if ckpt is None or not ckpt.exists():
            raise ValueError(f"no checkpoint found in {p}")
        state, tensors = read_checkpoint(ckpt)
        prefix = "module.generator."
        return state["architecture"], {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    from .weights import load_state, resolve  # noqa: PLC0415  (weights imports this module)
    return load_state(resolve(init))


def build_generator(config: TrainConfig, load_init: bool = True) -> SepConvNet:
    """The run's SepConvNet: from ``config.init`` (its architecture, and its weights when
    ``load_init``), from ``config.generator_architecture`` (a resumed run), or new from the
    config's kernel size / width / dilation, initialised as the linear blend."""
    init_sd = None
    if config.init and load_init:                       # architecture comes from the start weights
        config.generator_architecture, init_sd = generator_state(config.init)
    if config.generator_architecture is None:
        return SepConvNet(config.kernel_size, config.width, dilation=config.dilation).init_as_blend()
    model = SepConvNet.from_architecture(config.generator_architecture)
    if init_sd is not None:
        from .weights import check_state_dict  # noqa: PLC0415
        check_state_dict(model, init_sd, source=f"start weights {config.init!r}")
        model.load_state_dict({k: v.float() for k, v in init_sd.items()})
    return model


def mixed_precision_pays(device: torch.device) -> bool:
    """bfloat16 autocast on CUDA GPUs with native bf16 (Ampere and later; older ones emulate it,
    slower than float32); CPU training stays float32. Tests patch this to run the mixed-precision
    path on a CPU."""
    return device.type == "cuda" and torch.cuda.get_device_capability(device) >= (8, 0)


class SepConvTrainer:
    """One training run: model(s), optimizer(s), data stream, step counter (see module docstring)."""

    def __init__(self, config: TrainConfig, source=None, load_init: bool = True):
        """``load_init``: read the start weights ``config.init`` (False when a checkpoint is about to
        be loaded: the generator is then only built with ``config.generator_architecture``)."""
        self.config = config
        self.device = resolve_device(config.device)
        torch.manual_seed(config.seed)
        model = build_generator(config, load_init)
        self.modules = {"generator": model.to(self.device)}
        self.optimizers = {"generator": torch.optim.Adam(model.parameters(), lr=config.lr)}
        self.stream = TripletStream(source if source is not None else build_source(config, model.reach()),
                                    config.batch, seed=config.seed)
        self.step = 0
        self.val_sets = None

    @property
    def model(self) -> SepConvNet:
        return self.modules["generator"]

    def autocast(self):
        """bfloat16 autocast of the generator's forward pass when ``amp`` is set and mixed precision
        pays on the device (CUDA); the kernel maps it yields are raised to float32 in synthesize."""
        enabled = self.config.amp and mixed_precision_pays(self.device)
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=enabled)

    # --- steps ---------------------------------------------------------------------------
    def next_batch(self):
        return tuple(t.to(self.device, non_blocking=True) for t in self.stream.next_batch())

    def generator_step(self, batch) -> dict:
        """One Adam step of the generator on the colour loss; returns logged numbers."""
        first, middle, last = batch
        model, opt = self.model, self.optimizers["generator"]
        model.train()
        opt.zero_grad(set_to_none=True)
        with self.autocast():
            pred = model(first, last)
        loss = reconstruction_loss(pred.float(), middle, self.config.loss)
        loss.backward()
        opt.step()
        return {"loss": float(loss.detach()), "psnr": psnr_01(pred.detach().float(), middle)}

    def train_step(self) -> dict:
        logs = self.generator_step(self.next_batch())
        self.step += 1
        return logs

    # --- validation ----------------------------------------------------------------------
    def validation_sets(self) -> dict:
        """name -> held triplets: the project's synthetic set, plus ``config.val`` folders."""
        if self.val_sets is None:
            reach = self.model.reach()
            self.val_sets = {"synthetic": synthetic_validation_set(reach=min(reach, 20))}
            for path in self.config.val:
                self.val_sets[Path(path).name] = load_triplet_folder(path, limit=self.config.val_limit)
        return self.val_sets

    @torch.no_grad()
    def validate(self) -> dict:
        """Mean PSNR (dB) of the midpoint on every held set."""
        model = self.model
        model.eval()
        out = {}
        for name, triplets in self.validation_sets().items():
            scores = []
            for _, f0, gt, f1 in triplets:
                a, b, g = (torch.from_numpy(x).permute(2, 0, 1)[None].to(self.device) for x in (f0, f1, gt))
                with self.autocast():
                    pred = model(a, b)
                scores.append(psnr_01(pred.float(), g))
            out[name] = float(np.mean(scores))
        return out

    # --- loop -----------------------------------------------------------------------------
    def run(self, until_step: int, run_dir=None, log=print) -> None:
        """Train until ``step == until_step``, logging, validating and checkpointing into run_dir."""
        cfg = self.config
        run_dir = Path(run_dir) if run_dir is not None else None
        log_file = open(run_dir / "log.jsonl", "a") if run_dir is not None else None  # noqa: SIM115
        t0, window = time.time(), []
        try:
            while self.step < until_step:
                logs = self.train_step()
                window.append(logs)
                record = None
                if self.step % cfg.log_every == 0 or self.step == until_step:
                    record = {"step": self.step, "loss": float(np.mean([w["loss"] for w in window])),
                              "train_psnr": float(np.mean([w["psnr"] for w in window])),
                              "sec_per_step": (time.time() - t0) / len(window)}
                    window, t0 = [], time.time()
                if self.step % cfg.val_every == 0 or (self.step == until_step and run_dir is not None):
                    record = dict(record or {"step": self.step}, val_psnr=self.validate())
                if record is not None:
                    log(json.dumps(record))
                    if log_file is not None:
                        log_file.write(json.dumps(record) + "\n")
                        log_file.flush()
                if run_dir is not None and (self.step % cfg.checkpoint_every == 0 or self.step == until_step):
                    save_checkpoint(self, run_dir)
        finally:
            if log_file is not None:
                log_file.close()


# --- checkpoints ---------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _split_optimizer_state(name: str, state_dict: dict, tensors: dict) -> dict:
    """Optimizer state_dict -> JSON part; its tensors go into ``tensors`` as optim.<name>.<i>.<key>."""
    json_state = {}
    for idx, entry in state_dict["state"].items():
        json_entry = {}
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{name}.{idx}.{key}"] = value.detach().cpu().contiguous()
                json_entry[key] = {"tensor": f"optim.{name}.{idx}.{key}"}
            else:
                json_entry[key] = value
        json_state[str(idx)] = json_entry
    return {"state": json_state, "param_groups": state_dict["param_groups"]}


def _join_optimizer_state(json_part: dict, tensors: dict) -> dict:
    state = {}
    for idx, entry in json_part["state"].items():
        # tensors stay on the CPU: load_state_dict moves moments to the parameters' device and keeps
        # Adam's scalar "step" on the CPU (a CUDA step costs a host sync per parameter and step)
        state[int(idx)] = {k: (tensors[v["tensor"]] if isinstance(v, dict) and "tensor" in v else v)
                           for k, v in entry.items()}
    groups = []
    for g in json_part["param_groups"]:
        g = dict(g)
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    return {"state": state, "param_groups": groups}


def _atomic_json(path: Path, obj) -> None:
    part = path.with_name(path.name + ".part")
    part.write_text(json.dumps(obj, indent=1))
    os.replace(part, path)


def save_checkpoint(trainer: SepConvTrainer, run_dir) -> Path:
    """Write ckpt-<step>.safetensors + ckpt-<step>.json into run_dir, point latest.json at them,
    and keep the newest ``keep_checkpoints``. Returns the JSON path."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    tensors, optim_json = {}, {}
    for name, module in trainer.modules.items():
        for key, value in module.state_dict().items():
            tensors[f"module.{name}.{key}"] = value.detach().cpu().contiguous()
    for name, opt in trainer.optimizers.items():
        optim_json[name] = _split_optimizer_state(name, opt.state_dict(), tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    stem = f"ckpt-{trainer.step:07d}"
    st_path = run_dir / f"{stem}.safetensors"
    part = run_dir / f"{stem}.safetensors.part"
    save_file(tensors, str(part), metadata={"format": CHECKPOINT_FORMAT})
    os.replace(part, st_path)
    state = {"format": CHECKPOINT_FORMAT, "step": trainer.step, "config": asdict(trainer.config),
             "architecture": trainer.model.architecture(), "modules": sorted(trainer.modules),
             "optimizers": optim_json, "data_rng": trainer.stream.state(),
             "tensors": st_path.name, "tensors_sha256": _sha256(st_path), "saved_at": time.time()}
    json_path = run_dir / f"{stem}.json"
    _atomic_json(json_path, state)
    _atomic_json(run_dir / "latest.json", {"checkpoint": json_path.name, "step": trainer.step})
    old = sorted(run_dir.glob("ckpt-*.json"))[:-max(1, trainer.config.keep_checkpoints)]
    for j in old:
        for p in (j, j.with_suffix(".safetensors")):
            p.unlink(missing_ok=True)
    return json_path


def latest_checkpoint(run_dir) -> Path | None:
    pointer = Path(run_dir) / "latest.json"
    if not pointer.exists():
        return None
    return Path(run_dir) / json.loads(pointer.read_text())["checkpoint"]


def read_checkpoint(json_path) -> tuple:
    """(state dict from JSON, tensors dict) of a checkpoint, sha256-verified."""
    json_path = Path(json_path)
    state = json.loads(json_path.read_text())
    if state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{json_path} is not a FrameWeave SepConv checkpoint (format {state.get('format')!r})")
    st_path = json_path.with_name(state["tensors"])
    if _sha256(st_path) != state["tensors_sha256"]:
        raise ValueError(f"checkpoint tensors {st_path} do not match the sha256 recorded in {json_path.name}")
    return state, load_file(str(st_path))


def load_checkpoint(trainer: SepConvTrainer, json_path, strict: bool = True) -> None:
    """Restore modules, optimizers, step, data stream and torch RNG into ``trainer``.

    ``strict=False`` loads only the modules/optimizers the checkpoint has and leaves the step,
    data stream and RNG alone: e.g. an adversarial run starting its generator from a plain
    SepConv checkpoint, with a fresh discriminator."""
    state, tensors = read_checkpoint(json_path)
    if state["architecture"] != trainer.model.architecture():
        raise ValueError(f"checkpoint architecture {state['architecture']} differs from the run's "
                         f"{trainer.model.architecture()}")
    for name, module in trainer.modules.items():
        prefix = f"module.{name}."
        sd = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        if not sd:
            if strict:
                raise ValueError(f"checkpoint has no weights for module {name!r} (has {state['modules']})")
            continue
        module.load_state_dict(sd)
    for name, opt in trainer.optimizers.items():
        if name not in state["optimizers"]:
            if strict:
                raise ValueError(f"checkpoint has no optimizer state for {name!r}")
            continue
        opt.load_state_dict(_join_optimizer_state(state["optimizers"][name], tensors))
    if not strict:
        return
    trainer.step = int(state["step"])
    trainer.stream.set_state(state["data_rng"])
    torch.set_rng_state(tensors["rng.torch"])
    if torch.cuda.is_available():
        saved = {int(k.rsplit(".", 1)[1]): tensors[k] for k in tensors if k.startswith("rng.cuda.")}
        for index in range(min(len(saved), torch.cuda.device_count())):   # a machine may have fewer GPUs
            torch.cuda.set_rng_state(saved[index], index)


def resumed_config(saved: dict, config: TrainConfig) -> TrainConfig:
    """The config of a resumed run: its definition from the checkpoint (``saved``), only the length
    and bookkeeping from ``config``; the result has ``config``'s class."""
    saved = dict(saved)
    for key in ("steps", "val", "val_limit", "val_every", "checkpoint_every", "log_every", "device"):
        saved[key] = getattr(config, key)
    saved.setdefault("static_fraction", 0.0)        # runs from before the option: motion only
    return type(config).from_dict(saved)


def open_run(run_dir, config: TrainConfig, resume: bool, make_trainer, log=print, check_saved=None):
    """The trainer of a new or resumed run in ``run_dir`` (shared by plain and adversarial runs).

    Resuming takes the run's definition from its newest checkpoint (``resumed_config``; with
    ``check_saved(saved_config, run_dir)`` raising for a run of the wrong kind) and loads it; a new run
    refuses a folder that already holds one and writes ``config.json``. ``make_trainer(config,
    load_init)`` builds the trainer."""
    run_dir = Path(run_dir)
    ckpt = latest_checkpoint(run_dir) if resume else None
    if ckpt is not None:
        saved = json.loads(ckpt.read_text())["config"]
        if check_saved is not None:
            check_saved(saved, run_dir)
        config = resumed_config(saved, config)
    elif latest_checkpoint(run_dir) is not None:
        raise ValueError(f"{run_dir} already holds a run; pass --resume to continue it or choose another --out")
    trainer = make_trainer(config, load_init=ckpt is None)
    if ckpt is not None:
        load_checkpoint(trainer, ckpt)
        log(json.dumps({"resumed_from": ckpt.name, "step": trainer.step}))
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        _atomic_json(run_dir / "config.json", asdict(config))
    return trainer


def train(config: TrainConfig, run_dir, resume: bool = False, log=print) -> SepConvTrainer:
    """Create (or resume) a run in ``run_dir`` and train until ``config.steps``."""
    trainer = open_run(run_dir, config, resume, SepConvTrainer, log)
    log(json.dumps({"data": trainer.stream.source.describe(), "device": str(trainer.device),
                    "parameters": sum(p.numel() for p in trainer.model.parameters())}))
    trainer.run(trainer.config.steps, Path(run_dir), log=log)
    return trainer
