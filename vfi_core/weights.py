"""SepConv weight files: registry, manifest, sha256 verification, export and conversion.

Weights are safetensors (never pickle). Every file carries its architecture in the safetensors
metadata (``frameweave_architecture``: the JSON of ``SepConvNet.architecture()``), so a file
loads without outside knowledge. Files larger than 16 MB are sharded as
``NAME-00001-of-0000N.safetensors``; a model's name is the file stem without the shard suffix.

The registry lists the package's ``weights/`` folder plus extra folders handed in by the node
layer (ComfyUI's ``models/frameweave/``). ``weights/manifest.json`` describes the shipped files:

    {"weights": [{"name", "method", "files": [{"file", "sha256", "bytes"}], "dtype", "architecture",
                  "training": {data, steps, recipe, ...}, "scores": {set: {psnr, ssim, ...}},
                  "machine"}]}

A file listed in a manifest is checked against its sha256 on load (mismatch -> ValueError);
a user's own file without a manifest entry loads unverified.

``convert_original_sepconv`` maps the state dict of the authors' published implementation
(sniklaus/pytorch-sepconv: ``moduleConv1.0.weight`` ... ``moduleVertical1.7.bias``; the newer
releases name them ``netConv1`` ...) onto ``SepConvNet``: same layer structure, renamed keys, and
the first convolution's input channels reordered from the original's BGR to our RGB.
"""
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .sepconv import ARCHITECTURE, SepConvNet

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
MANIFEST_NAME = "manifest.json"
FORMAT = "frameweave-weights-1"
MAX_FILE_BYTES = 16 * 1024 * 1024
_SHARD = re.compile(r"^(?P<name>.+)-(?P<i>\d{5})-of-(?P<n>\d{5})$")


# --- hashing / manifest ------------------------------------------------------------------------
def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(folder=WEIGHTS_DIR) -> dict:
    path = Path(folder) / MANIFEST_NAME
    if not path.exists():
        return {"weights": []}
    data = json.loads(path.read_text())
    if not isinstance(data.get("weights"), list):
        raise ValueError(f"{path} is not a FrameWeave weights manifest (no 'weights' list)")
    return data


def update_manifest(entry: dict, folder=WEIGHTS_DIR) -> Path:
    """Insert or replace (by name) ``entry`` in ``folder``/manifest.json (written atomically).
    An entry marked default takes that mark from the other weights of its method (one default each)."""
    data = read_manifest(folder)
    others = [e for e in data["weights"] if e.get("name") != entry["name"]]
    if entry.get("default"):
        for e in others:
            if e.get("method") == entry.get("method"):
                e["default"] = False
    data["weights"] = others + [entry]
    data["weights"].sort(key=lambda e: e["name"])
    path = Path(folder) / MANIFEST_NAME
    part = path.with_name(path.name + ".part")
    part.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(part, path)
    return path


# --- registry ---------------------------------------------------------------------------------
@dataclass
class WeightsInfo:
    name: str
    files: list                      # Paths, shard order
    manifest: dict | None = None     # manifest entry when the folder's manifest lists it
    folder: Path = field(default=None)

    @property
    def method(self) -> str:
        if self.manifest and self.manifest.get("method"):
            return self.manifest["method"]
        return "sepconv-gan" if "gan" in self.name.lower() else "sepconv"


def weights_dirs(extra_dirs=()) -> list:
    """Folders searched for weights: the package's weights/ first, then ``extra_dirs``."""
    out = [WEIGHTS_DIR]
    for d in extra_dirs:
        d = Path(d)
        if d not in out:
            out.append(d)
    return out


def _shard_groups(folder: Path) -> dict:
    """(name, shard count) -> {shard index: path} of the safetensors files in ``folder``."""
    groups = {}
    for path in sorted(folder.glob("*.safetensors")):
        m = _SHARD.match(path.stem)
        name, idx, n = (m["name"], int(m["i"]), int(m["n"])) if m else (path.stem, 1, 1)
        groups.setdefault((name, n), {})[idx] = path
    return groups


def _shard_name(name: str, i: int, n: int) -> str:
    return f"{name}.safetensors" if n == 1 else f"{name}-{i:05d}-of-{n:05d}.safetensors"


def list_weights(extra_dirs=()) -> dict:
    """name -> WeightsInfo for every (complete) safetensors model in the searched folders; an
    earlier folder wins a name clash."""
    found = {}
    for folder in weights_dirs(extra_dirs):
        if not folder.is_dir():
            continue
        manifest = {e["name"]: e for e in read_manifest(folder)["weights"]} if (folder / MANIFEST_NAME).exists() else {}
        for (name, n), shards in _shard_groups(folder).items():
            if len(shards) != n or name in found:
                continue                                   # incomplete shard set, or shadowed
            found[name] = WeightsInfo(name, [shards[i] for i in range(1, n + 1)], manifest.get(name), folder)
    return dict(sorted(found.items()))


def missing_files(name: str, extra_dirs=()) -> list:
    """Paths that the weights ``name`` need but that are absent from the searched folders: files
    its manifest entry lists, and the other shards of an incomplete shard set."""
    missing = []
    for folder in weights_dirs(extra_dirs):
        if not folder.is_dir():
            continue
        if (folder / MANIFEST_NAME).exists():
            entry = next((e for e in read_manifest(folder)["weights"] if e.get("name") == name), None)
            missing += [folder / f["file"] for f in (entry or {}).get("files", []) if not (folder / f["file"]).exists()]
        for (group, n), shards in _shard_groups(folder).items():
            if group == name and len(shards) != n:
                missing += [folder / _shard_name(name, i, n) for i in range(1, n + 1) if i not in shards]
    return sorted(set(missing))


def absent_listed(method: str, extra_dirs=()) -> list:
    """Files that a manifest in the searched folders lists for ``method``'s weights but that are
    absent (deleted, or set aside by ``benchmarks/gpu_run.py --prepare``)."""
    absent = []
    for folder in weights_dirs(extra_dirs):
        if (folder / MANIFEST_NAME).exists():
            absent += [folder / f["file"] for e in read_manifest(folder)["weights"] if e.get("method") == method
                       for f in e.get("files", []) if not (folder / f["file"]).exists()]
    return absent


def absent_note(method: str, extra_dirs=()) -> str:
    """``"; listed in a manifest but missing: PATHS"`` for an error message, or ""."""
    absent = absent_listed(method, extra_dirs)
    return f"; listed in a manifest but missing: {', '.join(str(a) for a in absent)}" if absent else ""


def default_first(registry: dict, method: str) -> list:
    """Names of ``registry`` (from list_weights) with ``method``'s weights first, its manifest
    default at the head, then the other methods' weights; alphabetical within each group."""
    def rank(name):
        info = registry[name]
        return (info.method != method, not (info.manifest or {}).get("default"), name)
    return sorted(registry, key=rank)


def resolve(name_or_path, extra_dirs=(), kind: str = "SepConv") -> WeightsInfo:
    """A registry name, or a path to a .safetensors file -> WeightsInfo; ValueError if unknown
    (``kind`` names the network the caller wants in the message: "SepConv", "flow-guided")."""
    p = Path(str(name_or_path))
    if p.suffix == ".safetensors" and p.parent.is_dir() and (p.exists() or p.parent != Path(".")):
        m = _SHARD.match(p.stem)
        name = m["name"] if m else p.stem
        local = list_weights([p.parent])                      # NAME.safetensors written as shards
        if name in local and local[name].folder == p.parent:
            return local[name]
        if p.exists():
            return WeightsInfo(name, [p], None, p.parent)
        absent = missing_files(name, [p.parent])
        if absent:
            raise ValueError(f"{kind} weights {name!r} are incomplete: missing {', '.join(str(a) for a in absent)}")
    registry = list_weights(extra_dirs)
    key = p.stem if p.suffix == ".safetensors" else str(name_or_path)
    if key not in registry:
        absent = missing_files(key, extra_dirs)
        if absent:
            raise ValueError(f"{kind} weights {key!r} are incomplete: missing {', '.join(str(a) for a in absent)} "
                             "(re-download or re-export every file of the set)")
        raise ValueError(f"unknown {kind} weights {str(name_or_path)!r}; available: "
                         f"{', '.join(registry) or 'none'} (searched {', '.join(str(d) for d in weights_dirs(extra_dirs))})")
    return registry[key]


# --- saving -----------------------------------------------------------------------------------
def save_weights(model: SepConvNet, path, fp16: bool = False, extra_metadata=None,
                 max_file_bytes: int = MAX_FILE_BYTES) -> list:
    """Write ``model``'s weights to ``path`` (.safetensors), sharded when larger than
    ``max_file_bytes``; each file written as .part and renamed. Returns the written paths."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"weights must be written as .safetensors, got {path.name}")
    sd = {k: (v.detach().cpu().half() if fp16 and v.is_floating_point() else v.detach().cpu().float()).contiguous()
          for k, v in model.state_dict().items()}
    shards, current, size = [], {}, 0
    for k, v in sd.items():
        nbytes = v.numel() * v.element_size()
        if current and size + nbytes > max_file_bytes - 65536:
            shards.append(current)
            current, size = {}, 0
        current[k] = v
        size += nbytes
    shards.append(current)
    meta = {"format": FORMAT, "frameweave_architecture": json.dumps(model.architecture()),
            "dtype": "float16" if fp16 else "float32"}
    meta.update({k: str(v) for k, v in (extra_metadata or {}).items()})
    n = len(shards)
    paths = [path] if n == 1 else [path.with_name(f"{path.stem}-{i:05d}-of-{n:05d}.safetensors") for i in range(1, n + 1)]
    path.parent.mkdir(parents=True, exist_ok=True)
    for i, (p, shard) in enumerate(zip(paths, shards), 1):
        part = p.with_name(p.name + ".part")
        save_file(shard, str(part), metadata=dict(meta, shard=f"{i}/{n}"))
        os.chmod(part, 0o644)                                  # package data: world-readable
        os.replace(part, p)
    return paths


def manifest_files(paths) -> list:
    return [{"file": Path(p).name, "sha256": sha256_file(p), "bytes": Path(p).stat().st_size} for p in paths]


# --- loading ----------------------------------------------------------------------------------
def read_architecture(path) -> dict:
    """The architecture dict stored in a weights file's safetensors metadata."""
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if "frameweave_architecture" not in meta:
        raise ValueError(f"{Path(path).name} has no FrameWeave architecture metadata; if it is the authors' "
                         "original SepConv checkpoint, convert it with `frameweave train convert-sepconv`")
    return json.loads(meta["frameweave_architecture"])


def verify(info: WeightsInfo) -> None:
    """sha256 of each file against the manifest entry (no-op for files without one)."""
    if not info.manifest:
        return
    expected = {f["file"]: f["sha256"] for f in info.manifest.get("files", [])}
    for p in info.files:
        want = expected.get(p.name)
        if want is None:
            raise ValueError(f"{p.name} is not listed in {info.folder / MANIFEST_NAME} for weights {info.name!r}")
        got = sha256_file(p)
        if got != want:
            raise ValueError(f"sha256 mismatch for {p}: manifest says {want[:16]}..., file is {got[:16]}...; "
                             "the file is corrupt or was replaced — re-download or re-export it")


def check_state_dict(model: torch.nn.Module, state_dict: dict, source: str = "weights") -> None:
    """ValueError naming every missing, unexpected or wrongly shaped tensor."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = [f"{k}: file {list(state_dict[k].shape)} vs model {list(own[k].shape)}"
              for k in sorted(set(own) & set(state_dict)) if tuple(own[k].shape) != tuple(state_dict[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        if shapes:
            parts.append(f"{len(shapes)} shape mismatch(es): " + "; ".join(shapes[:8]) + (" ..." if len(shapes) > 8 else ""))
        if missing:
            parts.append(f"{len(missing)} missing: " + ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else ""))
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected: " + ", ".join(unexpected[:8]) + (" ..." if len(unexpected) > 8 else ""))
        raise ValueError(f"{source} do not fit the SepConv architecture {model.architecture() if hasattr(model, 'architecture') else ''}: "
                         + " | ".join(parts))


def load_state(info: WeightsInfo) -> tuple:
    """(architecture, state dict) of a model's files (after sha256 verification)."""
    verify(info)
    sd = {}
    for p in info.files:
        try:
            with safe_open(str(p), framework="pt") as f:
                for k in f.keys():
                    sd[k] = f.get_tensor(k)
        except Exception as exc:  # noqa: BLE001  (safetensors raises its own error types)
            raise ValueError(f"{p} is not a readable safetensors file ({type(exc).__name__}: {exc}); the file is "
                             "corrupt or truncated — re-download or re-export it") from exc
    return read_architecture(info.files[0]), sd


def load_weights(name_or_path, extra_dirs=(), device="cpu", dtype=torch.float32, architecture=None) -> SepConvNet:
    """SepConvNet in eval mode with the named (or given file's) weights.

    ``architecture``: when given (e.g. the architecture a workflow expects), the file must match
    it; otherwise the file's metadata defines the network. Errors name the mismatched tensors."""
    info = resolve(name_or_path, extra_dirs)
    arch, sd = load_state(info)
    if arch.get("architecture", ARCHITECTURE) != ARCHITECTURE:
        raise ValueError(f"{info.name}: weights for architecture {arch.get('architecture')!r}, not SepConv")
    model = SepConvNet.from_architecture(architecture or arch)
    check_state_dict(model, sd, source=f"weights {info.name!r}")
    model.load_state_dict({k: v.float() for k, v in sd.items()})
    model.weights_name = info.name
    return model.to(device=device, dtype=dtype).eval()


# --- export from a training run -----------------------------------------------------------------
def export_checkpoint(run, out, fp16: bool = False) -> list:
    """Generator weights of a training checkpoint (run dir -> newest, or a ckpt-*.json) -> ``out``."""
    from .sepconv_train import latest_checkpoint, read_checkpoint

    run = Path(run)
    ckpt = latest_checkpoint(run) if run.is_dir() else run
    if ckpt is None or not ckpt.exists():
        raise ValueError(f"no checkpoint found in {run}")
    state, tensors = read_checkpoint(ckpt)
    model = SepConvNet.from_architecture(state["architecture"])
    prefix = "module.generator."
    sd = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    check_state_dict(model, sd, source=f"checkpoint {ckpt.name}")
    model.load_state_dict(sd)
    cfg = state["config"]
    meta = {"training_steps": state["step"], "training_data": ",".join(cfg["data"]), "loss": cfg["loss"]}
    return save_weights(model, out, fp16=fp16, extra_metadata=meta)


def register_checkpoint(run, name: str, fp16: bool = True, method: str = "sepconv", folder=WEIGHTS_DIR,
                        default: bool = False, notes: str = "") -> dict:
    """Export a run's newest checkpoint into ``folder``/NAME.safetensors and write its manifest
    entry (files + sha256, architecture, training recipe from the checkpoint, machine). Scores are
    added by benchmarks/sepconv.py --update-manifest."""

    from .sepconv_train import latest_checkpoint

    run = Path(run)
    ckpt = latest_checkpoint(run) if run.is_dir() else run
    if ckpt is None:
        raise ValueError(f"no checkpoint found in {run}")
    state = json.loads(ckpt.read_text())
    paths = export_checkpoint(ckpt, Path(folder) / f"{name}.safetensors", fp16=fp16)
    cfg = state["config"]
    recipe = {k: cfg[k] for k in ("batch", "lr", "crop", "max_shift", "seed", "width")}
    recipe["static_fraction"] = cfg.get("static_fraction", 0.0)    # runs from before the option: 0
    init = "He normal + linear-blend kernels (SepConvNet.init_as_blend)"
    if cfg.get("init"):
        init = f"generator from {cfg['init']}"
        recipe["width"] = "from init (see architecture)"
    entry = {"name": name, "method": method, "default": bool(default), "files": manifest_files(paths),
             "dtype": "float16" if fp16 else "float32", "architecture": state["architecture"],
             "training": {"data": cfg["data"], "steps": state["step"], "loss": cfg["loss"], "recipe": recipe,
                          "optimizer": "Adam", "init": init, "checkpoint": ckpt.name, "notes": notes}}
    return register_entry(entry, folder)


def register_entry(entry: dict, folder=WEIGHTS_DIR) -> dict:
    """Write a manifest entry of weights exported on this machine: adds ``machine`` and keeps the
    ``scores`` of the entry it replaces when the files are the same (else none)."""
    import platform

    entry = {**entry, "machine": f"{os.cpu_count()}-core {platform.machine()} CPU, no GPU, "
                                 f"torch {torch.__version__.split('+')[0]}", "scores": {}}
    old = next((e for e in read_manifest(folder)["weights"] if e["name"] == entry["name"]), None)
    if old and old.get("files") == entry["files"]:
        entry["scores"] = old.get("scores", {})
    update_manifest(entry, folder)
    return entry


# --- the authors' checkpoint ----------------------------------------------------------------------
_ORIGINAL_PREFIXES = {
    "Conv1": "conv1", "Conv2": "conv2", "Conv3": "conv3", "Conv4": "conv4", "Conv5": "conv5",
    "Deconv5": "deconv5", "Deconv4": "deconv4", "Deconv3": "deconv3", "Deconv2": "deconv2",
    "Upsample5": "upsample5", "Upsample4": "upsample4", "Upsample3": "upsample3", "Upsample2": "upsample2",
    "Vertical1": "vertical1", "Vertical2": "vertical2", "Horizontal1": "horizontal1", "Horizontal2": "horizontal2",
}
_ORIGINAL_KEY = re.compile(r"^(?:module\.)?(?:module|net)(?P<block>[A-Za-z]+\d)\.(?P<rest>\d+\.(?:weight|bias))$")


def convert_original_sepconv(state_dict: dict) -> tuple:
    """The authors' SepConv state dict -> (our state dict, architecture dict).

    Keys ``moduleConv1.0.weight`` (or ``netConv1.0.weight``) become ``conv1.0.weight`` etc.; the
    layer indices inside each block are the same. The original reads BGR frames, so the first
    convolution's 6 input channels (B,G,R of frame 1, then of frame 2) are reordered to RGB.
    Raises ValueError naming unknown or missing keys."""
    out, unknown = {}, []
    for key, value in state_dict.items():
        m = _ORIGINAL_KEY.match(key)
        if not m or m["block"] not in _ORIGINAL_PREFIXES:
            unknown.append(key)
            continue
        out[f"{_ORIGINAL_PREFIXES[m['block']]}.{m['rest']}"] = torch.as_tensor(value).detach().clone().float()
    if unknown:
        raise ValueError(f"not an original SepConv state dict: {len(unknown)} unknown key(s) such as "
                         f"{', '.join(unknown[:5])}")
    try:
        channels = [int(out[f"conv{i}.0.weight"].shape[0]) for i in range(1, 6)]
        kernel_size = int(out["vertical1.7.weight"].shape[0])
    except KeyError as exc:
        raise ValueError(f"original SepConv state dict lacks {exc.args[0]} (converted name)") from exc
    w = out["conv1.0.weight"]                                            # [c1, 6, 3, 3]
    if w.shape[1] != 6:
        raise ValueError(f"first convolution takes {w.shape[1]} channels, expected 6 (two BGR frames)")
    out["conv1.0.weight"] = w[:, [2, 1, 0, 5, 4, 3]].contiguous()        # BGR,BGR -> RGB,RGB
    arch = {"architecture": ARCHITECTURE, "kernel_size": kernel_size, "channels": channels,
            "dilation": 1, "padding": "replicate"}
    check_state_dict(SepConvNet.from_architecture(arch), out, source="converted original SepConv weights")
    return out, arch


def convert_original_file(src, out, fp16: bool = False) -> list:
    """Read the authors' ``network-*.pytorch`` file (torch.load with weights_only=True: tensors
    only, no code runs) and write FrameWeave safetensors (sharded above 16 MB)."""
    sd = torch.load(str(src), map_location="cpu", weights_only=True)
    if not isinstance(sd, dict):
        raise ValueError(f"{src} does not hold a state dict")
    converted, arch = convert_original_sepconv(sd)
    model = SepConvNet.from_architecture(arch)
    model.load_state_dict(converted)
    return save_weights(model, out, fp16=fp16, extra_metadata={"converted_from": Path(src).name})
