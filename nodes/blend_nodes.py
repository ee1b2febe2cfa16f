"""Pixel Shader Blend: pull interpolated pixels back to the plain average where the inputs agree."""
import torch

from ..kernels import pixel_shader_blend
from ..vfi_core.validate import check_frames
from . import _comfy
from ._widgets import MULTIPLIER_MAX

BATCH = 16  # inserted frames blended per call (bounds memory on long clips)


def _to_nchw(images: torch.Tensor, device) -> torch.Tensor:
    return images.to(device).permute(0, 3, 1, 2).contiguous()              # [N,H,W,3] -> [N,3,H,W]


def _to_image(t: torch.Tensor) -> torch.Tensor:
    return t.permute(0, 2, 3, 1).float().clamp(0, 1).cpu().contiguous()   # [N,C,H,W] -> [N,H,W,C]


def blend_triplets(first, second, interpolated, radius, low, high, device=None, progress=None):
    """Blend equal-length IMAGE batches [N,H,W,3]; returns (frames, map IMAGE in 0..1 of 0..high)."""
    device = device if device is not None else torch.device("cpu")
    n = interpolated.shape[0]
    out, maps = [], []
    for s in range(0, n, BATCH):
        e = min(n, s + BATCH)
        o, bmap = pixel_shader_blend(_to_nchw(first[s:e], device), _to_nchw(second[s:e], device),
                                     _to_nchw(interpolated[s:e], device), radius=radius, low=low,
                                     high=high, return_map=True)
        out.append(_to_image(o))
        maps.append(_to_image((bmap / high).expand(-1, 3, -1, -1)))
        if progress is not None:
            progress(e, n)
    return torch.cat(out), torch.cat(maps)


class FrameWeavePixelShaderBlend:
    """Where the two input frames barely differ (blend map below ``high`` grey levels), replace the
    interpolated pixel by a mix towards the average of the inputs (fully the average below ``low``)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "frames": ("IMAGE", {"tooltip": "an interpolated clip whose every stride-th frame "
                                     "(0, stride, 2·stride, ...) is an original input, as the "
                                     "interpolation nodes produce; or, with first/second connected, "
                                     "the interpolated frames themselves"}),
                "stride": ("INT", {"default": 2, "min": 2, "max": MULTIPLIER_MAX, "step": 1, "tooltip":
                           "distance between original frames in the clip (the interpolation "
                           "multiplier); ignored when first/second are connected"}),
                "radius": ("INT", {"default": 2, "min": 0, "max": 32, "step": 1, "tooltip":
                           "Gaussian blur radius of the blend map (2r+1 taps, sigma = 0.3(r-1)+0.8)"}),
                "low": ("FLOAT", {"default": 2.0, "min": 0.0, "max": 255.0, "step": 0.1, "tooltip":
                        "below this difference (8-bit grey levels) the output is the average of the inputs"}),
                "high": ("FLOAT", {"default": 6.0, "min": 0.1, "max": 255.0, "step": 0.1, "tooltip":
                         "from this difference on the interpolated pixel is kept unchanged"}),
            },
            "optional": {
                "first": ("IMAGE", {"tooltip": "sibling use: the frames before each interpolated "
                                    "frame (same count as frames)"}),
                "second": ("IMAGE", {"tooltip": "sibling use: the frames after each interpolated frame"}),
            },
        }

    RETURN_TYPES = ("IMAGE", "IMAGE")
    RETURN_NAMES = ("frames", "blend_map")
    FUNCTION = "blend"
    CATEGORY = f"{_comfy.CATEGORY}/postprocess"
    DESCRIPTION = ("Pixel-shader blend: B = blur(mean|I1-I2|·255); where B < high the interpolated "
                   "pixel is mixed towards avg(I1, I2) (fully below low). Second output: B/high as grey.")

    def blend(self, frames, stride=2, radius=2, low=2.0, high=6.0, first=None, second=None):
        frames = check_frames(frames, min_count=1)
        if not 0 <= float(low) < float(high):
            raise ValueError(f"need 0 <= low < high, got low={low}, high={high}")
        device = _comfy.torch_device()
        if (first is None) != (second is None):
            raise ValueError("connect both first and second (sibling use) or neither")
        if first is not None:
            first = check_frames(first, name="first")
            second = check_frames(second, name="second")
            for name, t in (("first", first), ("second", second)):
                if t.shape != frames.shape:
                    raise ValueError(f"{name} has shape {list(t.shape)} but frames has "
                                     f"{list(frames.shape)}; the three batches must match")
            return blend_triplets(first, second, frames, int(radius), float(low), float(high), device,
                                  _comfy.Progress(frames.shape[0]))
        stride = int(stride)
        if stride < 2:
            raise ValueError(f"stride must be at least 2, got {stride}")
        T = frames.shape[0]
        if T < stride + 1:
            raise ValueError(f"frames: a clip with stride {stride} needs at least {stride + 1} frames "
                             f"(two originals and the frames between), got {T}")
        # inserted frame k lies between the originals a = k - k % stride and a + stride;
        # frames after the last original (k > last multiple of stride) pass through unchanged
        inserted = [k for k in range(T) if k % stride and k - k % stride + stride < T]
        out = frames.clone()
        maps = torch.zeros_like(frames)
        progress = _comfy.Progress(len(inserted))
        for s in range(0, len(inserted), BATCH):                 # gather neighbours per batch only
            idx = torch.tensor(inserted[s:s + BATCH])
            before = idx - idx % stride
            out[idx], maps[idx] = blend_triplets(frames[before], frames[before + stride], frames[idx],
                                                 int(radius), float(low), float(high), device)
            progress(s + len(idx), len(inserted))
        return out, maps


NODE_CLASS_MAPPINGS = {"FrameWeavePixelShaderBlend": FrameWeavePixelShaderBlend}
NODE_DISPLAY_NAME_MAPPINGS = {"FrameWeavePixelShaderBlend": "Pixel Shader Blend (FrameWeave)"}
