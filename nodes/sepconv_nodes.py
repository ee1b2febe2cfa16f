"""Load SepConv Weights / SepConv Interpolate: the adaptive separable convolution network as nodes."""
import torch

from ..vfi_core.sepconv_infer import bisect_clip, check_multiplier
from ..vfi_core.timing import multiplier_fractions
from ..vfi_core.validate import check_frames
from ..vfi_core.weights import default_first, list_weights, load_weights
from . import _comfy
from ._widgets import TIMING_INPUT, output_timing

DEVICES = ("auto", "cpu", "cuda")
DEVICE_INPUT = (list(DEVICES), {"default": "auto", "tooltip": "auto = ComfyUI's device"})


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
    """Insert SepConv midpoints between frames, recursively for 4x / 8x."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "frames": ("IMAGE",),
                "model": ("SEPCONV_MODEL",),
                "multiplier": (["2", "4", "8"], {"default": "2", "tooltip":
                               "frame-rate multiplier by recursive midpoint bisection (SepConv only makes "
                               "midpoints, so 3x etc. are not possible)"}),
                "tile_size": ("INT", {"default": 0, "min": 0, "max": 8192, "step": 32, "tooltip":
                              "0 = whole frames; otherwise overlapping tiles of this size (bounds memory "
                              "for 4K; at least 2·(kernel size + 15))"}),
                "fp16": ("BOOLEAN", {"default": False, "tooltip": "float16 autocast (CUDA only)"}),
                "chunk": ("INT", {"default": 4, "min": 1, "max": 64, "tooltip":
                          "frame pairs processed together (more = faster, more memory)"}),
            },
            "optional": {"timing": TIMING_INPUT},
        }

    RETURN_TYPES = ("IMAGE", "FRAME_TIMING")
    RETURN_NAMES = ("frames", "timing")
    FUNCTION = "interpolate"
    CATEGORY = f"{_comfy.CATEGORY}/interpolate"
    DESCRIPTION = ("SepConv (Niklaus et al. 2017): a network predicts per-pixel 1-D kernels for both "
                   "neighbours and the new frame is their separable local convolution.")

    def interpolate(self, frames, model, multiplier="2", tile_size=0, fp16=False, chunk=4, timing=None):
        levels = check_multiplier(int(multiplier))
        frames = check_frames(frames, min_count=2)
        out_timing = output_timing(frames, timing, multiplier_fractions(int(multiplier)))
        n = frames.shape[0] - 1
        progress = _comfy.Progress(n * (2 ** levels - 1))
        out = bisect_clip(model, frames.clone(), levels, tile_size=int(tile_size), fp16=bool(fp16),
                          chunk=int(chunk), progress=progress)
        return out, out_timing


NODE_CLASS_MAPPINGS = {
    "FrameWeaveLoadSepConv": FrameWeaveLoadSepConv,
    "FrameWeaveSepConvInterpolate": FrameWeaveSepConvInterpolate,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "FrameWeaveLoadSepConv": "Load SepConv Weights (FrameWeave)",
    "FrameWeaveSepConvInterpolate": "SepConv Interpolate (FrameWeave)",
}
