"""GAN Interpolate: SepConv with adversarially trained (SepConv-GAN) weights, as one node."""
from ..vfi_core.sepconv_infer import GAN_DEFAULT_ENSEMBLE
from ..vfi_core.weights import default_first, list_weights
from . import _comfy
from .sepconv_nodes import (DEVICE_INPUT, FrameWeaveSepConvInterpolate, load_sepconv_weights, run_sepconv,
                            sepconv_optional_inputs)

NO_WEIGHTS = "(no SepConv-GAN weights installed)"


def gan_weight_names() -> list:
    """Names of installed SepConv-GAN weights (manifest method "sepconv-gan", or "gan" in the name)."""
    registry = list_weights(_comfy.model_directories())
    names = [n for n in default_first(registry, "sepconv-gan") if registry[n].method == "sepconv-gan"]
    return names or [NO_WEIGHTS]


def load_gan_model(weights: str, fp16: bool = False, device: str = "auto"):
    """SepConvNet (eval) with the named SepConv-GAN weights; ValueError for unknown/non-GAN names."""
    if weights == NO_WEIGHTS:
        raise ValueError("no SepConv-GAN weights installed: train them with `python -m frameweave train "
                         "sepconv-gan` and put the .safetensors into ComfyUI's models/frameweave/ folder")
    registry = list_weights(_comfy.model_directories())
    if weights not in registry:
        raise ValueError(f"unknown SepConv-GAN weights {weights!r}; available: {', '.join(gan_weight_names())}")
    if registry[weights].method != "sepconv-gan":
        raise ValueError(f"weights {weights!r} are plain SepConv ({registry[weights].method}); use SepConv "
                         "Interpolate for them, or choose SepConv-GAN weights")
    return load_sepconv_weights(weights, fp16, device)


class FrameWeaveGANInterpolate:
    """SepConv Interpolate with SepConv-GAN weights chosen from a list (sharper, lower PSNR)."""

    @classmethod
    def INPUT_TYPES(cls):
        base = FrameWeaveSepConvInterpolate.INPUT_TYPES()
        names = gan_weight_names()
        required = {"frames": base["required"]["frames"],
                    "weights": (names, {"default": names[0],
                                        "tooltip": "SepConv-GAN weights from weights/ or ComfyUI's "
                                        "models/frameweave/ (manifest method 'sepconv-gan')"})}
        required.update({k: v for k, v in base["required"].items() if k not in ("frames", "model")})
        required["device"] = DEVICE_INPUT
        return {"required": required, "optional": sepconv_optional_inputs(GAN_DEFAULT_ENSEMBLE)}

    RETURN_TYPES = FrameWeaveSepConvInterpolate.RETURN_TYPES
    RETURN_NAMES = FrameWeaveSepConvInterpolate.RETURN_NAMES
    FUNCTION = "interpolate"
    CATEGORY = f"{_comfy.CATEGORY}/interpolate"
    DESCRIPTION = ("SepConv-GAN: the SepConv network fine-tuned with an adversarial loss (L1 + λ·GAN); "
                   "trades some PSNR for sharper frames. Same widgets as SepConv Interpolate.")

    def interpolate(self, frames, weights, multiplier=2, tile_size=0, fp16=False, chunk=4, device="auto",
                    timing=None, times=None, ensemble=GAN_DEFAULT_ENSEMBLE):
        model = load_gan_model(weights, bool(fp16), device)
        return run_sepconv(model, frames, multiplier, tile_size, fp16, chunk, timing, times, ensemble)


NODE_CLASS_MAPPINGS = {"FrameWeaveGANInterpolate": FrameWeaveGANInterpolate}
NODE_DISPLAY_NAME_MAPPINGS = {"FrameWeaveGANInterpolate": "GAN Interpolate (FrameWeave)"}
