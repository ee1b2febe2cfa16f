"""Interpolating clips with SepConvNet: midpoints, recursive bisection, tiling.

SepConv (Niklaus et al. 2017) is trained to produce the frame at t = 1/2 only. A frame-rate
multiplier m = 2^L is reached by recursive bisection: insert midpoints, then midpoints of the
result, L times (t = 1/4 is the midpoint of I0 and I_1/2, ...), which gives exactly the times
j/m of ``timing.multiplier_fractions(m)``. Other fractions (e.g. thirds for m = 3) cannot be
produced by a midpoint network and raise ``ValueError``.

Tiling (``tile_size`` > 0) bounds memory for large frames: the frame is covered by overlapping
square windows (overlap = 2·reach + 16 >= K pixels), each window is interpolated on its own, and
the windows are blended with weights that are zero within ``reach`` pixels of an interior window
edge (where the local convolution would read replicated instead of real pixels) and ramp up
linearly over the next 16 pixels. The result matches the untiled one up to the network's limited
context near window edges (measured in tests/test_sepconv_infer.py).
"""
import math

import torch

from .sequence import insert_frames
from .timing import multiplier_fractions
from .validate import check_frames

RAMP = 16
_MODEL_CACHE = {}


class MissingWeightsError(ValueError):
    """No weights of the asked kind are installed."""


def bisection_levels(fractions) -> int:
    """L such that ``fractions`` are j / 2^L, j = 1 .. 2^L - 1 (multiplier 2, 4, 8, ...)."""
    fr = sorted(float(f) for f in fractions)
    m = len(fr) + 1
    if m >= 2 and (m & (m - 1)) == 0 and all(abs(a - b) < 1e-9 for a, b in zip(fr, multiplier_fractions(m))):
        return int(math.log2(m))
    raise ValueError(f"SepConv produces midpoints only, so it supports multipliers 2, 4, 8 (recursive "
                     f"bisection, times j/2^L); it cannot insert frames at {fr} — use another method "
                     "(e.g. flow) for other times")


def check_multiplier(multiplier: int) -> int:
    m = int(multiplier)
    if m < 2 or (m & (m - 1)) != 0:
        raise ValueError(f"SepConv multiplier must be a power of two (2, 4, 8), got {multiplier}: "
                         "the network only produces midpoints")
    return int(math.log2(m))


# --- one midpoint ---------------------------------------------------------------------------------
def _autocast(device: torch.device, fp16: bool):
    return torch.autocast(device_type=device.type, dtype=torch.float16, enabled=bool(fp16) and device.type == "cuda")


def _window_starts(length: int, tile: int, overlap: int) -> list:
    if length <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, length - tile, step))
    return starts + [length - tile]


def _edge_weight(start: int, size: int, total: int, reach: int) -> torch.Tensor:
    """1-D blend weight of a window [start, start+size) of an axis of ``total`` pixels."""
    i = torch.arange(size, dtype=torch.float32)
    w = torch.ones(size)
    if start > 0:                                            # interior left/top edge
        w = torch.minimum(w, ((i - reach + 1) / RAMP).clamp(0, 1))
    if start + size < total:                                 # interior right/bottom edge
        w = torch.minimum(w, ((size - i - reach) / RAMP).clamp(0, 1))
    return w


def interpolate_midpoint(model, first: torch.Tensor, second: torch.Tensor, tile_size: int = 0,
                         fp16: bool = False) -> torch.Tensor:
    """Midpoint of IMAGE batches [B,H,W,3] x2 -> [B,H,W,3] (float32, on the model's device).

    ``tile_size`` 0 processes whole frames; otherwise windows of tile_size x tile_size pixels."""
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    a = first.to(device=device, dtype=dtype).permute(0, 3, 1, 2)         # [B,3,H,W]
    b = second.to(device=device, dtype=dtype).permute(0, 3, 1, 2)
    B, _, H, W = a.shape
    reach = model.reach()
    overlap = 2 * reach + RAMP
    with torch.no_grad(), _autocast(device, fp16):
        if not tile_size or (H <= tile_size and W <= tile_size):
            out = model(a, b).float()
        else:
            tile = int(tile_size)
            if tile < 2 * overlap:
                raise ValueError(f"tile_size {tile} is too small for kernel size {model.kernel_size}: use 0 "
                                 f"(no tiling) or at least {2 * overlap}")
            out = torch.zeros(B, 3, H, W, device=device)
            weight = torch.zeros(1, 1, H, W, device=device)
            for y in _window_starts(H, tile, overlap):
                th = min(tile, H)
                wy = _edge_weight(y, th, H, reach)
                for x in _window_starts(W, tile, overlap):
                    tw = min(tile, W)
                    wx = _edge_weight(x, tw, W, reach)
                    w2 = (wy[:, None] * wx[None, :]).to(device)[None, None]    # [1,1,th,tw]
                    part = model(a[..., y:y + th, x:x + tw], b[..., y:y + th, x:x + tw]).float()
                    out[..., y:y + th, x:x + tw] += part * w2
                    weight[..., y:y + th, x:x + tw] += w2
            out = out / weight
    return out.clamp(0, 1).permute(0, 2, 3, 1)                          # [B,H,W,3]


# --- whole clips ------------------------------------------------------------------------------------
def bisect_clip(model, frames: torch.Tensor, levels: int, tile_size: int = 0, fp16: bool = False,
                chunk: int = 4, progress=None) -> torch.Tensor:
    """Clip [N,H,W,3] -> [(N-1)·2^L + 1, H,W,3] by L rounds of midpoint insertion."""
    frames = check_frames(frames, min_count=2)
    n = frames.shape[0]
    totals = [(n - 1) * 2 ** level for level in range(levels)]
    total, done = sum(totals), 0

    def pair_fn(first, second, t):
        return interpolate_midpoint(model, first, second, tile_size, fp16).cpu()

    out = frames
    for level in range(levels):
        def level_progress(d, _t, base=done):
            if progress is not None:
                progress(base + d, total)
        out = insert_frames(out, [0.5], pair_fn, progress=level_progress, pairs_per_call=max(1, int(chunk)))
        done += totals[level]
    return out


def default_weights_name(method: str = "sepconv", extra_dirs=()) -> str:
    """The registry's weights for ``method``: a manifest entry marked default, else the first."""
    from .weights import list_weights

    registry = list_weights(extra_dirs)
    names = [n for n, info in registry.items() if info.method == method]
    if not names:
        what = "SepConv-GAN" if method == "sepconv-gan" else "SepConv"
        raise MissingWeightsError(f"no {what} weights installed: put a .safetensors file into weights/ or "
                                  f"ComfyUI's models/frameweave/ folder (found: {', '.join(registry) or 'none'})")
    marked = [n for n in names if (registry[n].manifest or {}).get("default")]
    return (marked or names)[0]


def get_model(weights=None, device=None, method: str = "sepconv", extra_dirs=(), fp16: bool = False):
    """Cached SepConvNet (eval) for a weights name/path; fp16 storage only on CUDA."""
    from .weights import load_weights

    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    name = weights or default_weights_name(method, extra_dirs)
    dtype = torch.float16 if fp16 and device.type == "cuda" else torch.float32
    key = (str(name), str(device), dtype, tuple(str(d) for d in extra_dirs))
    if key not in _MODEL_CACHE:
        _MODEL_CACHE.clear()                                   # keep one model resident
        _MODEL_CACHE[key] = load_weights(name, extra_dirs, device=device, dtype=dtype)
    return _MODEL_CACHE[key]


def sepconv_interpolate_clip(frames: torch.Tensor, fractions, timing=None, progress=None, weights=None,
                             model=None, tile_size: int = 0, fp16: bool = False, device=None,
                             chunk: int = 4, method: str = "sepconv") -> torch.Tensor:
    """``methods`` entry "sepconv": clip [N,H,W,3] with frames inserted at ``fractions`` (which must be
    j/2^L: multiplier 2, 4, 8) by recursive SepConv midpoints; ``weights`` is a registry name or a
    file (default: the shipped SepConv weights). ``timing`` is not needed (times come from
    ``fractions``) and accepted for the common interface."""
    levels = bisection_levels(fractions)
    frames = check_frames(frames, min_count=2)
    if model is None:
        model = get_model(weights, device, method=method, fp16=fp16)
    return bisect_clip(model, frames, levels, tile_size=tile_size, fp16=fp16, chunk=chunk, progress=progress)


def sepconv_gan_interpolate_clip(frames: torch.Tensor, fractions, timing=None, progress=None, weights=None,
                                 **options) -> torch.Tensor:
    """``methods`` entry "sepconv-gan": the same network with adversarially trained weights
    (manifest ``"method": "sepconv-gan"``); MissingWeightsError until such weights are installed."""
    return sepconv_interpolate_clip(frames, fractions, timing, progress, weights=weights, method="sepconv-gan",
                                    **options)


def _precheck(method: str):
    def check(fractions, options: dict) -> None:
        """The times and the weights name, before any frame is read."""
        bisection_levels(fractions)
        weights = options.get("weights")
        name = weights or default_weights_name(method)
        from .weights import resolve  # noqa: PLC0415
        resolve(name)
    return check


sepconv_interpolate_clip.precheck = _precheck("sepconv")
sepconv_gan_interpolate_clip.precheck = _precheck("sepconv-gan")
sepconv_gan_interpolate_clip.option_sources = (sepconv_interpolate_clip,)
