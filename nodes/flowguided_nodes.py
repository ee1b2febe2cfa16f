"""Load Flow-Guided Weights / Flow-Guided Interpolate: the Flow Warp corrected by a small network."""
import torch

from ..vfi_core.flow import PRESETS
from ..vfi_core.flowguided_infer import METHOD, flowguided_interpolate_clip, load_flowguided
from ..vfi_core.flowguided import ARCHITECTURE
from ..vfi_core.weights import list_weights, read_architecture
from . import _comfy
from ._widgets import MULTIPLIER_INPUT, TIMES_INPUT, TIMING_INPUT, prepare_clip

NO_WEIGHTS = "(no flow-guided weights installed)"


def _is_flowguided(info) -> bool:
    """A manifest entry of method flowguided, or (a user's file without one) the architecture in
    the file's metadata."""
    if info.manifest:
        return info.method == METHOD
    try:
        return read_architecture(info.files[0]).get("architecture") == ARCHITECTURE
    except Exception:  # noqa: BLE001  (an unreadable or foreign file is simply not listed)
        return False


def _weight_names() -> list:
    """Installed flow-guided weights, the manifest's default first (ComfyUI preselects it)."""
    registry = list_weights(_comfy.model_directories())
    names = [n for n, info in registry.items() if _is_flowguided(info)]
    names.sort(key=lambda n: (not (registry[n].manifest or {}).get("default"), n))
    return names or [NO_WEIGHTS]


class FrameWeaveLoadFlowGuided:
    """Load flow-guided weights (package weights/ or ComfyUI models/frameweave/) as FLOWGUIDED_MODEL."""

    @classmethod
    def INPUT_TYPES(cls):
        names = _weight_names()
        return {"required": {"weights": (names, {"default": names[0], "tooltip":
                                                 "safetensors weights of the flow-guided network (default: "
                                                 "the manifest's default)"})}}

    RETURN_TYPES = ("FLOWGUIDED_MODEL",)
    RETURN_NAMES = ("model",)
    FUNCTION = "load"
    CATEGORY = f"{_comfy.CATEGORY}/loaders"
    DESCRIPTION = ("Loads the flow-guided interpolator's weights (sha256 checked against weights/manifest.json). "
                   "It runs on the CPU: the DIS flows it builds on are computed there anyway.")

    def load(self, weights):
        if weights == NO_WEIGHTS:
            raise ValueError("no flow-guided weights installed: put a .safetensors file into ComfyUI's "
                             "models/frameweave/ folder")
        with torch.inference_mode(False):            # ordinary tensors, not inference tensors
            return (load_flowguided(weights, _comfy.model_directories()),)


class FrameWeaveFlowGuidedInterpolate:
    """DIS flows both ways, warp to t, then per-pixel small kernels and a learned blend."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "frames": ("IMAGE",),
                "model": ("FLOWGUIDED_MODEL",),
                "multiplier": MULTIPLIER_INPUT,
                "preset": (list(PRESETS), {"default": "medium", "tooltip":
                           "OpenCV DIS preset of the flows (the weights were trained on medium)"}),
            },
            "optional": {
                "times": TIMES_INPUT,
                "timing": TIMING_INPUT,
                "flow": ("FLOW", {"tooltip": "flow from an Optical Flow node (with backward = true) instead "
                                  "of computing it here; preset is then ignored"}),
            },
        }

    RETURN_TYPES = ("IMAGE", "FRAME_TIMING")
    RETURN_NAMES = ("frames", "timing")
    FUNCTION = "interpolate"
    CATEGORY = f"{_comfy.CATEGORY}/interpolate"
    DESCRIPTION = ("Flow-guided adaptive convolution: the Flow Warp's warped frames, sharpened and realigned "
                   "by small per-pixel separable kernels and blended with a learned weight; any time t.")

    def interpolate(self, frames, model, multiplier=2, preset="medium", times="", timing=None, flow=None):
        frames, fractions, out_timing = prepare_clip(frames, multiplier, times, timing)
        out = flowguided_interpolate_clip(frames.clone(), fractions, model=model, preset=preset, flow=flow,
                                          progress=_comfy.Progress(frames.shape[0] - 1))
        return out, out_timing


NODE_CLASS_MAPPINGS = {
    "FrameWeaveLoadFlowGuided": FrameWeaveLoadFlowGuided,
    "FrameWeaveFlowGuidedInterpolate": FrameWeaveFlowGuidedInterpolate,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "FrameWeaveLoadFlowGuided": "Load Flow-Guided Weights (FrameWeave)",
    "FrameWeaveFlowGuidedInterpolate": "Flow-Guided Interpolate (FrameWeave)",
}
