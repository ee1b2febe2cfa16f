"""Load SepConv Weights / SepConv Interpolate: the adaptive separable convolution network as nodes."""
import torch

from ..vfi_core.sepconv_infer import DEFAULT_ENSEMBLE, ENSEMBLE_SIZES, check_ensemble, interpolate_clip_times
from ..vfi_core.validate import check_frames
from ..vfi_core.weights import default_first, list_weights, load_weights
from . import _comfy
from ._widgets import MULTIPLIER_INPUT, TIMES_INPUT, TIMING_INPUT, interpolation_fractions, output_timing

DEVICES = ("auto", "cpu", "cuda")
DEVICE_INPUT = (list(DEVICES), {"default": "auto", "tooltip": "auto = ComfyUI's device"})
SEPCONV_MULTIPLIER_INPUT = ("INT", dict(MULTIPLIER_INPUT[1], tooltip=(
    "frame-rate multiplier m: inserts m-1 frames at t = 1/m, 2/m, ... between every pair. SepConv makes "
    "midpoints: 2, 4, 8, 16 are exact recursive bisection; other m blend the two SepConv frames at the "
    "nearest finer times j/2^L (at most 1/8 of the motion apart for m = 3, 1/32 for m = 9..16)")))
TILE_INPUT = ("INT", {"default": 0, "min": 0, "max": 8192, "step": 32, "tooltip":
              "0 = automatic: whole frames when they fit in the free memory, else the largest tiles that fit "
              "(fails at once, saying how much memory is needed, when even small tiles do not fit); otherwise "
              "overlapping square tiles of this side (raised to the network's minimum: 132 px for K = 51, 80 for K = 25)"})


def ensemble_input(default: int) -> tuple:
    return ([str(n) for n in ENSEMBLE_SIZES], {"default": str(default), "tooltip":
            "self-ensemble: average the network over this many variants of the input pair (flipped "
            "horizontally / vertically, swapped), each mapped back; costs that many network runs per "
            "frame (8: +0.33 dB on the UCF101 dev triplets; 1 for speed on a CPU)"})


def sepconv_optional_inputs(ensemble_default: int = DEFAULT_ENSEMBLE) -> dict:
    """Optional inputs shared by SepConv Interpolate and GAN Interpolate."""
    return {"timing": TIMING_INPUT, "times": TIMES_INPUT, "ensemble": ensemble_input(ensemble_default)}


def run_sepconv(model, frames, multiplier=2, tile_size=0, fp16=False, chunk=4, timing=None, times=None,
                ensemble=DEFAULT_ENSEMBLE) -> tuple:
    """The interpolate nodes' body: frames and timing out. ``multiplier``/``ensemble`` may arrive as
    strings (API workflows saved when they were lists of strings)."""
    frames = check_frames(frames, min_count=2)
    fractions = interpolation_fractions(int(multiplier), times)
    ensemble = check_ensemble(int(ensemble))
    out_timing = output_timing(frames, timing, fractions)
    progress = _comfy.Progress(frames.shape[0] - 1)
    out = interpolate_clip_times(model, frames.clone(), fractions, tile_size=int(tile_size), fp16=bool(fp16),
                                 chunk=int(chunk), ensemble=ensemble, progress=progress)
    return out, out_timing


def _weight_names() -> list:
    """Installed weights, plain SepConv first with the manifest's default at the head (ComfyUI
    preselects the first entry of a list), then SepConv-GAN weights (same network)."""
    registry = list_weights(_comfy.model_directories())
    names = [n for n in default_first(registry, "sepconv") if registry[n].method in ("sepconv", "sepconv-gan")]
    return names or ["(no weights installed)"]


def load_sepconv_weights(weights: str, fp16: bool = False, device: str = "auto"):
    """SepConvNet (eval) from the named weight file on ``device`` ("auto" = ComfyUI's device);
    float16 when ``fp16`` and the device is CUDA, else float32. ValueError when CUDA is chosen
    but not available. Loaded outside inference mode (ComfyUI runs nodes inside it), so the
    weights are ordinary tensors, not inference tensors."""
    dev = _comfy.torch_device() if device == "auto" else torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was chosen but CUDA is not available; use auto or cpu")
    dtype = torch.float16 if fp16 and dev.type == "cuda" else torch.float32
    with torch.inference_mode(False):
        return load_weights(weights, _comfy.model_directories(), device=dev, dtype=dtype)


class FrameWeaveLoadSepConv:
    """Load a SepConv weight file (package weights/ or ComfyUI models/frameweave/) as SEPCONV_MODEL."""

    @classmethod
    def INPUT_TYPES(cls):
        names = _weight_names()
        return {
            "required": {
                "weights": (names, {"default": names[0],
                                    "tooltip": "safetensors weights from FrameWeave's weights/ folder "
                                    "or ComfyUI's models/frameweave/ folder (default: the manifest's "
                                    "default SepConv weights)"}),
                "fp16": ("BOOLEAN", {"default": False, "tooltip": "store the network in float16 (CUDA only; "
                                     "on CPU it stays float32)"}),
                "device": DEVICE_INPUT,
            }
        }

    RETURN_TYPES = ("SEPCONV_MODEL",)
    RETURN_NAMES = ("model",)
    FUNCTION = "load"
    CATEGORY = f"{_comfy.CATEGORY}/loaders"
    DESCRIPTION = ("Loads SepConv (adaptive separable convolution) weights; the sha256 of shipped files is "
                   "checked against weights/manifest.json and the architecture is read from the file.")

    def load(self, weights, fp16=False, device="auto"):
        if weights == "(no weights installed)":
            raise ValueError("no SepConv weights installed: put a .safetensors file into ComfyUI's "
                             "models/frameweave/ folder")
        return (load_sepconv_weights(weights, fp16, device),)


class FrameWeaveSepConvInterpolate:
    """Insert SepConv frames between frames: midpoints, recursively for 4x / 8x / 16x."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "frames": ("IMAGE",),
                "model": ("SEPCONV_MODEL",),
                "multiplier": SEPCONV_MULTIPLIER_INPUT,
                "tile_size": TILE_INPUT,
                "fp16": ("BOOLEAN", {"default": False, "tooltip": "float16 autocast (CUDA only)"}),
                "chunk": ("INT", {"default": 4, "min": 1, "max": 64, "tooltip":
                          "frame pairs processed together (more = faster on a GPU, more memory)"}),
            },
            "optional": sepconv_optional_inputs(),
        }

    RETURN_TYPES = ("IMAGE", "FRAME_TIMING")
    RETURN_NAMES = ("frames", "timing")
    FUNCTION = "interpolate"
    CATEGORY = f"{_comfy.CATEGORY}/interpolate"
    DESCRIPTION = ("SepConv (Niklaus et al. 2017): a network predicts per-pixel 1-D kernels for both "
                   "neighbours and the new frame is their separable local convolution.")

    def interpolate(self, frames, model, multiplier=2, tile_size=0, fp16=False, chunk=4, timing=None, times=None,
                    ensemble=DEFAULT_ENSEMBLE):
        return run_sepconv(model, frames, multiplier, tile_size, fp16, chunk, timing, times, ensemble)


NODE_CLASS_MAPPINGS = {
    "FrameWeaveLoadSepConv": FrameWeaveLoadSepConv,
    "FrameWeaveSepConvInterpolate": FrameWeaveSepConvInterpolate,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "FrameWeaveLoadSepConv": "Load SepConv Weights (FrameWeave)",
    "FrameWeaveSepConvInterpolate": "SepConv Interpolate (FrameWeave)",
}
