"""Interpolating clips with the flow-guided network: weights, one pair at any t, whole clips.

Per pair of frames the DIS flows both ways and the occlusion masks are computed once (as the Flow
Warp does, ``baselines.flow_warp_clip``) and every in-between time t reuses them: the network takes
t as an input, so any multiplier or explicit time works directly, without bisection.
Weights are safetensors in the package's ``weights/`` (``weights.py`` registry, manifest entries
with ``"method": "flowguided"``).
"""
import torch

from .baselines import _check_clip, pair_flow_source
from .flow import PRESETS
from .flowguided import ARCHITECTURE, FlowGuidedNet, make_guide
from .sequence import insert_frames

METHOD = "flowguided"
_MODEL_CACHE = {}


def default_weights_name(extra_dirs=()) -> str:
    """The registry's flow-guided weights: the manifest entry marked default, else the first."""
    from .sepconv_infer import MissingWeightsError
    from .weights import absent_note, list_weights

    registry = list_weights(extra_dirs)
    names = [n for n, info in registry.items() if info.method == METHOD]
    if not names:
        raise MissingWeightsError("no flow-guided weights installed: put a .safetensors file with a manifest "
                                  "entry of method 'flowguided' into weights/ or ComfyUI's models/frameweave/"
                                  + absent_note(METHOD, extra_dirs))
    marked = [n for n in names if (registry[n].manifest or {}).get("default")]
    return (marked or names)[0]


def load_flowguided(name_or_path=None, extra_dirs=(), device="cpu") -> FlowGuidedNet:
    """FlowGuidedNet (eval, float32) from a registry name or .safetensors file (default: the
    manifest's default flow-guided weights); the sha256 of a listed file is verified."""
    from .weights import check_state_dict, load_state, resolve

    info = resolve(name_or_path or default_weights_name(extra_dirs), extra_dirs, kind="flow-guided")
    arch, sd = load_state(info)
    if arch.get("architecture") != ARCHITECTURE:
        raise ValueError(f"{info.name}: weights for architecture {arch.get('architecture', 'sepconv')!r}, "
                         "not the flow-guided network")
    model = FlowGuidedNet.from_architecture(arch)
    check_state_dict(model, sd, source=f"weights {info.name!r}")
    model.load_state_dict({k: v.float() for k, v in sd.items()})
    model.weights_name = info.name
    return model.to(device).eval()


def get_model(weights=None, device=None, extra_dirs=()) -> FlowGuidedNet:
    """Cached ``load_flowguided`` (one model resident)."""
    device = torch.device(device or "cpu")
    key = (str(weights), str(device), tuple(str(d) for d in extra_dirs))
    if key not in _MODEL_CACHE:
        _MODEL_CACHE.clear()
        _MODEL_CACHE[key] = load_flowguided(weights, extra_dirs, device)
    return _MODEL_CACHE[key]


@torch.no_grad()
def interpolate_pair(model: FlowGuidedNet, first, second, flow_01, flow_10, t: float, occlusions=None) -> torch.Tensor:
    """Frame at t between IMAGE batches first, second [B,H,W,3] with their flows [B,H,W,2]:
    [B,H,W,3] in 0..1 on the CPU."""
    weight = next(model.parameters())
    like = {"device": weight.device, "dtype": weight.dtype}
    occlusions = None if occlusions is None or not model.warp else tuple(o.to(**like) for o in occlusions)
    guide = make_guide(first.to(**like), second.to(**like), flow_01.to(**like), flow_10.to(**like), float(t),
                       occlusions=occlusions, warp=model.warp)
    return model.interpolate(guide).float().cpu()


def flowguided_interpolate_clip(frames: torch.Tensor, fractions, timing=None, progress=None, weights=None,
                                model=None, preset: str = "medium", flow=None, device=None) -> torch.Tensor:
    """``methods`` entry "flowguided": clip [N,H,W,3] with a frame at every fraction of every
    interval, [(N-1)·(len(fractions)+1)+1, H,W,3]. ``weights``: registry name or file (default:
    the shipped flow-guided weights); ``flow``: a FlowField with a backward flow instead of DIS
    (as the Flow Warp's); ``timing`` is only checked (fractions are of each interval)."""
    frames, fractions = _check_clip(frames, fractions, timing)
    flows_of = pair_flow_source(frames, preset, flow, "the flow-guided method")
    if model is None:
        model = get_model(weights, device)

    def pair_fn(first, second, t):
        forward, backward, occlusions = flows_of(first, second)
        return interpolate_pair(model, first, second, forward, backward, t, occlusions=occlusions)

    return insert_frames(frames, fractions, pair_fn, progress=progress, pairs_per_call=1)


def _precheck(fractions, options: dict) -> None:
    """The times, the preset and the weights name, before any frame is read."""
    _check_clip(torch.zeros(2, 1, 1, 3), fractions, None)
    preset = options.get("preset", "medium")
    if preset not in PRESETS:
        raise ValueError(f"unknown DIS preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    from .weights import resolve
    info = resolve(options.get("weights") or default_weights_name(), kind="flow-guided")
    if info.manifest and info.method != METHOD:
        raise ValueError(f"weights {info.name!r} are {info.method} weights, not flow-guided ones; "
                         f"use --method {info.method}, or flow-guided weights such as {default_weights_name()!r}")


flowguided_interpolate_clip.precheck = _precheck
