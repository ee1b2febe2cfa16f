"""Pixel-shader blend of an interpolated frame: CUDA (fused) kernel and PyTorch reference.

Where the two input frames barely differ, an interpolated pixel cannot be better than their
average, and the network's output there is mostly noise; where they differ a lot, the
interpolation is needed. The blend map measures the difference, in 8-bit grey levels, smoothed:

    B = GaussianBlur(mean_c |I1 - I2| · 255, radius)                                   (blend map)
    out = lerp(avg(I1, I2), Î, (clamp(B, low, high) - low) / (high - low))   where B < high
    out = Î                                                                    where B >= high

so below ``low`` the output is the plain average, above ``high`` the interpolated frame, and in
between a linear mix. The Gaussian has 2·radius + 1 taps and σ = 0.3·(radius - 1) + 0.8 (OpenCV's
formula for that kernel size; ``cv2.GaussianBlur(d, (2r+1, 2r+1), σ, borderType=
cv2.BORDER_REPLICATE)`` gives the same map — pass σ explicitly, OpenCV substitutes fixed binomial
tables for σ = 0 and sizes <= 7); borders replicate; radius 0 means no blur.

The CUDA kernel (``pixel_shader_blend.cu``) fuses the difference, both blur passes and the blend
in one launch; it runs forward only, so when an input requires grad the (differentiable)
reference is used.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import _dispatch

FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)
_TW, _TH = 32, 8


def gaussian_sigma(radius: int) -> float:
    """σ of the blur for ``radius`` (OpenCV's default for a 2r+1 kernel)."""
    return 0.3 * (radius - 1) + 0.8


def gaussian_weights(radius: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Normalised 1-D Gaussian [2r+1], σ = :func:`gaussian_sigma` (radius 0: [1])."""
    if radius == 0:
        return torch.ones(1, device=device, dtype=dtype)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    w = torch.exp(-0.5 * (x / gaussian_sigma(radius)) ** 2)
    return (w / w.sum()).to(device=device, dtype=dtype)


def _check_radius(radius) -> int:
    if isinstance(radius, bool) or int(radius) != radius or radius < 0:
        raise ValueError(f"radius must be a non-negative integer, got {radius!r}")
    return int(radius)


def _check_frames(**frames) -> None:
    items = list(frames.items())
    for name, t in items:
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name}: expected a torch tensor [B,C,H,W], got {type(t).__name__}")
        if t.ndim != 4:
            raise ValueError(f"{name}: expected a 4-D tensor [B,C,H,W], got shape {list(t.shape)}")
        if t.dtype not in FLOAT_DTYPES:
            raise ValueError(f"{name}: expected a floating tensor, got {t.dtype}")
        if min(t.shape) < 1:
            raise ValueError(f"{name}: empty tensor of shape {list(t.shape)}")
    name0, t0 = items[0]
    for name, t in items[1:]:
        if t.shape != t0.shape:
            raise ValueError(f"{name} has shape {list(t.shape)} but {name0} has {list(t0.shape)}")
        if t.dtype != t0.dtype:
            raise ValueError(f"dtypes differ: {name0} {t0.dtype}, {name} {t.dtype}")
        if t.device != t0.device:
            raise ValueError(f"devices differ: {name0} {t0.device}, {name} {t.device}")


def _blur(d: torch.Tensor, radius: int) -> torch.Tensor:
    """Separable Gaussian blur of [B,1,H,W] with replicate borders, as weighted sums of shifted
    slices: plain float32 (or float64) arithmetic on every device, where a cuDNN convolution may
    use TF32 on Ampere/Hopper GPUs and move the map by a tenth of a grey level."""
    if radius == 0:
        return d
    H, W = d.shape[-2:]
    taps = gaussian_weights(radius, d.device, d.dtype).tolist()
    d = F.pad(d, (radius, radius, radius, radius), mode="replicate")         # [B,1,H+2r,W+2r]
    d = sum(w * d[..., :, k:k + W] for k, w in enumerate(taps))               # horizontal: [B,1,H+2r,W]
    return sum(w * d[..., k:k + H, :] for k, w in enumerate(taps))           # vertical:   [B,1,H,W]


def _reference_blend_map(first, second, radius):
    acc = torch.float64 if first.dtype == torch.float64 else torch.float32
    d = (first.to(acc) - second.to(acc)).abs().mean(1, keepdim=True) * 255.0  # [B,1,H,W]
    return _blur(d, radius)


def blend_map(first: torch.Tensor, second: torch.Tensor, radius: int = 2) -> torch.Tensor:
    """B = GaussianBlur(mean_c |first - second| · 255, radius): [B,C,H,W] x2 -> [B,1,H,W].

    Computed in float32 (float64 for float64 input) and returned in that precision; values are
    grey levels of an 8-bit image (0..255). σ = 0.3·(radius - 1) + 0.8, replicate borders.
    """
    _check_frames(first=first, second=second)
    return _reference_blend_map(first, second, _check_radius(radius))


def reference_pixel_shader_blend(first, second, interpolated, radius, low, high):
    """The blend in PyTorch (differentiable; float32 math, float64 for float64 input)."""
    acc = torch.float64 if first.dtype == torch.float64 else torch.float32
    bmap = _reference_blend_map(first, second, radius)                        # [B,1,H,W]
    f, s, v = first.to(acc), second.to(acc), interpolated.to(acc)
    avg = 0.5 * (f + s)
    t = (bmap.clamp(low, high) - low) / (high - low)                          # inverse_lerp
    out = torch.where(bmap < high, torch.lerp(avg, v, t.expand_as(v)), v)
    return out.to(first.dtype), bmap


def cuda_pixel_shader_blend(first, second, interpolated, radius, low, high):
    """The fused CUDA kernel ``psb_blend`` (forward only): returns (out, blend map float32)."""
    from . import _cupy as cp  # noqa: PLC0415

    first, second, interpolated = first.contiguous(), second.contiguous(), interpolated.contiguous()
    B, C, H, W = first.shape
    out = torch.empty_like(first)
    bmap = torch.empty((B, 1, H, W), dtype=torch.float32, device=first.device)
    weights = cp.device_table(tuple(gaussian_weights(radius).tolist()), torch.float32, first.device)
    shared = 4 * ((_TH + 2 * radius) * (_TW + 2 * radius) + (_TH + 2 * radius) * _TW)
    fn = cp.kernel("pixel_shader_blend.cu", f"psb_blend<{cp.scalar_type(first.dtype)}>", first.device, shared)
    cp.launch(fn, first.device, ((W + _TW - 1) // _TW, (H + _TH - 1) // _TH, B), (_TW, _TH, 1),
              (cp.ptr(first), cp.ptr(second), cp.ptr(interpolated), cp.ptr(weights), cp.ptr(out),
               cp.ptr(bmap), cp.i32(C), cp.i32(H), cp.i32(W), cp.i32(radius), cp.f32(low), cp.f32(high)),
              shared)
    return out, bmap


def pixel_shader_blend(first: torch.Tensor, second: torch.Tensor, interpolated: torch.Tensor,
                       radius: int = 2, low: float = 2.0, high: float = 6.0,
                       return_map: bool = False):
    """Blend ``interpolated`` towards avg(first, second) where the inputs barely differ.

    Args:
        first, second: the neighbouring input frames [B,C,H,W] (0..1 scale).
        interpolated: the interpolated frame Î between them, same shape, dtype and device.
        radius: Gaussian blur radius of the blend map (2r+1 taps, σ = 0.3(r-1)+0.8), >= 0.
        low, high: blend-map thresholds in 8-bit grey levels, 0 <= low < high.
        return_map: also return the blend map [B,1,H,W] (float32).

    Returns:
        [B,C,H,W] in the input dtype (and the map when ``return_map``).
    """
    _check_frames(first=first, second=second, interpolated=interpolated)
    radius = _check_radius(radius)
    low, high = float(low), float(high)
    if not (math.isfinite(low) and math.isfinite(high)) or low < 0 or not low < high:
        raise ValueError(f"need 0 <= low < high (grey levels), got low={low}, high={high}")
    tensors = (first, second, interpolated)
    needs_grad = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
    if (first.dtype != torch.float64 and not needs_grad and _dispatch.use_cuda(*tensors)
            and first.shape[0] > 0):
        n = _dispatch.MAX_CUDA_BATCH                                 # the batch is on grid z
        parts = [cuda_pixel_shader_blend(f, s, v, radius, low, high)
                 for f, s, v in zip(first.split(n), second.split(n), interpolated.split(n))]
        out, bmap = (parts[0] if len(parts) == 1 else
                     (torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])))
    else:
        out, bmap = reference_pixel_shader_blend(first, second, interpolated, radius, low, high)
    return (out, bmap) if return_map else out
