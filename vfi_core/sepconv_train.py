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

Speed (``benchmarks/train_speed.py``): the batches come from ``workers`` processes
(``triplet_workers``; 0 = in this process); a step never waits for the host — the logged loss and
PSNR stay on the device and are read once every ``log_every`` steps; on CUDA the generator runs
with bfloat16 autocast (when ``amp`` is on and the GPU has native bf16), in channels-last memory
layout, with a fused Adam. CPU training stays float32, contiguous, with the single-tensor Adam.
``compile`` wraps the generator's training forward pass in ``torch.compile`` (off by default).
The layout, the Adam implementation and compilation do not change the maths (tests compare the
loss curves); bfloat16 does.
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
LR_SCHEDULES = ("constant", "cosine")
ADAM_IMPLEMENTATIONS = ("auto", "fused", "foreach", "single")
clock = time.monotonic        # deadlines and time-based checkpoints (tests put a fake clock here)


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
    lr_schedule: str = "constant"    # constant | cosine (from lr at step 0 to 0 at ``steps``)
    # speed switches (not the run's definition: a resumed run takes them from its new command line)
    workers: int = 0                 # data processes; None = cores - 1 (new run) / the run's own (resume)
    channels_last: bool = None       # None = on CUDA only
    adam: str = "auto"               # auto (fused on CUDA, single-tensor on CPU) | fused | foreach | single
    compile: str = ""                # torch.compile backend of the training forward ("" = off)
    checkpoint_seconds: float = 0.0  # also checkpoint when this long has passed since the last one (0 = off)

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
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if self.adam not in ADAM_IMPLEMENTATIONS:
            raise ValueError(f"adam must be one of {ADAM_IMPLEMENTATIONS}, got {self.adam!r}")
        if self.workers is not None and int(self.workers) < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")
        if not float(self.checkpoint_seconds) >= 0:
            raise ValueError(f"checkpoint_seconds must be >= 0, got {self.checkpoint_seconds}")

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


def psnr_01_tensor(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """PSNR (dB) of images in 0..1 after clamping, as a float64 0-dim tensor on their device:
    10·log10(1 / max(MSE, 1e-12)) (training-time monitor; benchmarks use metrics.py)."""
    mse = F.mse_loss(pred.clamp(0, 1).double(), target.double())
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-12))


def psnr_01(pred: torch.Tensor, target: torch.Tensor) -> float:
    """:func:`psnr_01_tensor` as a Python float (reads the device: not inside the step)."""
    return float(psnr_01_tensor(pred, target))


def default_workers() -> int:
    """Data processes when none are asked for: one per core this process may use, minus one."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:                      # not Linux
        cores = os.cpu_count() or 1
    return max(0, cores - 1)


def learning_rate(config: TrainConfig, step: int) -> float:
    """lr of step ``step`` (0-based): constant, or cosine from ``lr`` to 0 over ``config.steps``."""
    if config.lr_schedule == "cosine" and config.steps > 0:
        return 0.5 * config.lr * (1 + math.cos(math.pi * min(step, config.steps) / config.steps))
    return config.lr


def make_adam(params, device: torch.device, implementation: str = "auto", **options) -> torch.optim.Adam:
    """Adam with the implementation asked for: ``auto`` is the fused kernel on CUDA (one launch for
    all parameters) and PyTorch's single-tensor loop on the CPU; ``foreach`` batches per op."""
    if implementation == "auto":
        implementation = "fused" if device.type == "cuda" else "single"
    if implementation == "fused":
        return torch.optim.Adam(params, fused=True, **options)
    return torch.optim.Adam(params, foreach=implementation == "foreach", **options)


def match_parameter_layout(opt: torch.optim.Optimizer) -> None:
    """Give every per-parameter state tensor its parameter's memory layout (checkpoints store
    contiguous tensors; the fused and foreach Adams need matching strides for channels-last)."""
    for group in opt.param_groups:
        for p in group["params"]:
            for key, value in opt.state.get(p, {}).items():
                if isinstance(value, torch.Tensor) and value.shape == p.shape and value.stride() != p.stride():
                    opt.state[p][key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


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
        if config.workers is None:
            config.workers = default_workers()
        self.device = resolve_device(config.device)
        torch.manual_seed(config.seed)
        model = build_generator(config, load_init).to(self.device)
        self.channels_last = self.device.type == "cuda" if config.channels_last is None else bool(config.channels_last)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.modules = {"generator": model}
        self.optimizers = {"generator": self.make_optimizer(model.parameters(), lr=config.lr)}
        self.stream = self.make_stream(source if source is not None else build_source(config, model.reach()))
        self.step = 0
        self.val_sets = None
        self._forward = None

    def make_optimizer(self, params, **options) -> torch.optim.Adam:
        """Adam in the run's implementation (``config.adam``) on the run's device."""
        return make_adam(params, self.device, self.config.adam, **options)

    def make_stream(self, source) -> TripletStream:
        """The run's batches of ``source``: ``config.workers`` processes, pinned memory on CUDA."""
        return TripletStream(source, self.config.batch, seed=self.config.seed, workers=self.config.workers,
                             pin_memory=self.device.type == "cuda")

    @property
    def model(self) -> SepConvNet:
        return self.modules["generator"]

    @property
    def forward(self):
        """The generator's training forward pass: ``torch.compile``d when ``config.compile`` names a
        backend (built on first use; checkpoints and validation use the plain module)."""
        if self._forward is None:
            self._forward = (torch.compile(self.model, backend=self.config.compile) if self.config.compile
                             else self.model)
        return self._forward

    def autocast(self):
        """bfloat16 autocast of the generator's forward pass when ``amp`` is set and mixed precision
        pays on the device (CUDA); the kernel maps it yields are raised to float32 in synthesize."""
        enabled = self.config.amp and mixed_precision_pays(self.device)
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=enabled)

    # --- steps ---------------------------------------------------------------------------
    def next_batch(self):
        layout = torch.channels_last if self.channels_last else torch.contiguous_format
        return tuple(t.to(self.device, non_blocking=True).contiguous(memory_format=layout)
                     for t in self.stream.next_batch())

    def set_learning_rates(self) -> None:
        """The schedule's factor for this step times every optimizer's start lr (``initial_lr``, as
        torch's schedulers name it); floats only, no device access. A constant schedule sets nothing."""
        if self.config.lr_schedule == "constant":
            return
        factor = learning_rate(self.config, self.step) / self.config.lr
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                group["lr"] = group.setdefault("initial_lr", group["lr"]) * factor

    def generator_step(self, batch) -> dict:
        """One Adam step of the generator on the colour loss; returns the logged numbers as
        0-dim tensors on the device (reading them would wait for the step: ``run`` reads them
        once per ``log_every`` steps)."""
        first, middle, last = batch
        model, opt = self.model, self.optimizers["generator"]
        model.train()
        opt.zero_grad(set_to_none=True)
        with self.autocast():
            pred = self.forward(first, last)
        pred = pred.float()
        loss = reconstruction_loss(pred, middle, self.config.loss)
        loss.backward()
        opt.step()
        return {"loss": loss.detach(), "psnr": psnr_01_tensor(pred.detach(), middle)}

    def train_step(self) -> dict:
        self.set_learning_rates()
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
    def run(self, until_step: int, run_dir=None, log=print, deadline: float | None = None) -> str:
        """Train until ``step == until_step`` or ``clock()`` (time.monotonic) passes ``deadline``, logging,
        validating and checkpointing into run_dir (also when stopped by the deadline). Returns why
        it stopped: "steps" or "deadline"."""
        cfg = self.config
        run_dir = Path(run_dir) if run_dir is not None else None
        log_file = open(run_dir / "log.jsonl", "a") if run_dir is not None else None  # noqa: SIM115
        window = LogWindow()
        now = last_save = clock()                          # one clock reading per step
        try:
            while self.step < until_step and not (deadline is not None and now >= deadline):
                start = time.perf_counter()
                self.set_learning_rates()
                batch = self.next_batch()
                window.data_seconds += time.perf_counter() - start
                window.add(self.generator_step(batch))
                self.step += 1
                now = clock()
                last = self.step == until_step or (deadline is not None and now >= deadline)
                record = None
                if self.step % cfg.log_every == 0 or last:
                    record = window.record(self.step, cfg.batch)
                    window = LogWindow()
                if self.step % cfg.val_every == 0 or (last and run_dir is not None):
                    record = dict(record or {"step": self.step}, val_psnr=self.validate())
                if record is not None:
                    log(json.dumps(record))
                    if log_file is not None:
                        log_file.write(json.dumps(record) + "\n")
                        log_file.flush()
                due = cfg.checkpoint_seconds > 0 and now - last_save >= cfg.checkpoint_seconds
                if run_dir is not None and (self.step % cfg.checkpoint_every == 0 or last or due):
                    save_checkpoint(self, run_dir)
                    last_save = now
            stopped = "steps" if self.step >= until_step else "deadline"
            if stopped == "deadline":
                log(json.dumps({"step": self.step, "stopped": "time budget reached"}))
        finally:
            self.stream.close()
            if log_file is not None:
                log_file.close()
        return stopped


class LogWindow:
    """Logged numbers of the steps since the last log line, summed where they are (device tensors
    stay on the device: one read per log line, not one per step)."""

    def __init__(self):
        self.sums, self.steps, self.data_seconds, self.started = {}, 0, 0.0, time.perf_counter()

    def add(self, logs: dict) -> None:
        for key, value in logs.items():
            value = value.detach() if isinstance(value, torch.Tensor) else value
            self.sums[key] = self.sums[key] + value if key in self.sums else value
        self.steps += 1

    def means(self) -> dict:
        """Mean of every logged number over the window (reads the device once)."""
        keys = list(self.sums)
        values = [self.sums[k] for k in keys]
        tensors = [v for v in values if isinstance(v, torch.Tensor)]
        read = iter(torch.stack([t.double() for t in tensors]).tolist() if tensors else ())
        return {k: (next(read) if isinstance(v, torch.Tensor) else float(v)) / self.steps for k, v in zip(keys, values)}

    def record(self, step: int, batch: int) -> dict:
        seconds = time.perf_counter() - self.started
        means = self.means()
        return {"step": step, "loss": means.get("loss"), "train_psnr": means.get("psnr"),
                "sec_per_step": seconds / max(1, self.steps),
                "samples_per_s": batch * self.steps / max(seconds, 1e-9),
                "data_wait_frac": self.data_seconds / max(seconds, 1e-9)}


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
        match_parameter_layout(opt)
    if not strict:
        return
    trainer.step = int(state["step"])
    trainer.stream.set_state(state["data_rng"])
    torch.set_rng_state(tensors["rng.torch"])
    if torch.cuda.is_available():
        saved = {int(k.rsplit(".", 1)[1]): tensors[k] for k in tensors if k.startswith("rng.cuda.")}
        for index in range(min(len(saved), torch.cuda.device_count())):   # a machine may have fewer GPUs
            torch.cuda.set_rng_state(saved[index], index)


# bookkeeping and speed switches: a resumed run takes them from its new command line
RESUME_FROM_COMMAND = ("steps", "val", "val_limit", "val_every", "checkpoint_every", "log_every", "device",
                       "channels_last", "adam", "compile", "checkpoint_seconds")


def resumed_config(saved: dict, config: TrainConfig) -> TrainConfig:
    """The config of a resumed run: its definition from the checkpoint (``saved``), only the length,
    bookkeeping and speed switches from ``config``; the result has ``config``'s class. ``workers``
    is the command's when given (not None), else the run's own (0 for runs from before workers):
    the same count continues the same data sequence (``triplet_workers``)."""
    saved = dict(saved)
    for key in RESUME_FROM_COMMAND:
        saved[key] = getattr(config, key)
    saved.setdefault("static_fraction", 0.0)        # runs from before the option: motion only
    saved.setdefault("workers", 0)                  # runs from before the option: in-process data
    if config.workers is not None:
        saved["workers"] = config.workers
    return type(config).from_dict(saved)


def open_run(run_dir, config: TrainConfig, resume: bool, make_trainer, log=print, check_saved=None,
             resume_config=resumed_config):
    """The trainer of a new or resumed run in ``run_dir`` (shared by plain and adversarial runs).

    Resuming takes the run's definition from its newest checkpoint (``resumed_config``; with
    ``check_saved(saved_config, run_dir)`` raising for a run of the wrong kind) and loads it; a new run
    refuses a folder that already holds one and writes ``config.json``. ``make_trainer(config,
    load_init)`` builds the trainer; ``resume_config(saved, config)`` merges a resumed run's saved
    definition with the command (another kind of run has its own rule)."""
    run_dir = Path(run_dir)
    ckpt = latest_checkpoint(run_dir) if resume else None
    if ckpt is not None:
        saved = json.loads(ckpt.read_text())["config"]
        if check_saved is not None:
            check_saved(saved, run_dir)
        config = resume_config(saved, config)
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
