"""Interpolating clips with SepConvNet: midpoints, times by bisection, self-ensemble, tiling.

Times. SepConv (Niklaus et al. 2017) is trained to produce the frame at t = 1/2 only. Frames at
dyadic times j/2^L are reached by recursive bisection: the frame at t = 1/4 is the midpoint of I0
and I_1/2, and so on (multipliers 2, 4, 8, 16 are exact). Any other time t (e.g. thirds for a
multiplier of 3) is bracketed by the dyadic times a = floor(t·2^L)/2^L and b = a + 2^-L of a finer
level L = ceil(log2 m) + 1 (m = number of intervals the times cut [0, 1] into; at most MAX_LEVEL)
and blended linearly between the SepConv frames at a and b:

    Î_t = (1 - w) Î_a + w Î_b,     w = (t - a) · 2^L,

so the inserted frame is never more than 2^-L (1/8 for m = 3, 1/32 for m = 9..16) of the motion
away from a network output. Cost: the dyadic frames needed and their bisection ancestors, e.g. 5
network calls per pair for m = 3 (2 frames), 11 for m = 5 (4 frames).

Self-ensemble (``ensemble`` = 1, 2, 4 or 8). The midpoint is symmetric under flipping both frames
horizontally or vertically and under swapping them, so the network is run on transformed inputs,
each output is mapped back (flipped again; a swap needs no mapping at t = 1/2), and the outputs
are averaged:

    Î = 1/n Σ_g g⁻¹( SepConv(g I0, g I1) ),   g in the first n of ENSEMBLE_VARIANTS.

The order of ENSEMBLE_VARIANTS is balanced: with 2 variants, each transform occurs once; with 4,
each occurs twice. Cost: n network calls per midpoint.

Tiling and progress: ``sepconv_tiling`` plans whole frames or overlapping windows from a memory
estimate (``tile_size`` 0 = automatic) and the progress callback counts network calls
(pairs x midpoints x variants x windows), so long pairs show their progress and an ETA.
"""
import math
from dataclasses import dataclass

import torch

from . import sepconv_tiling as tiling
from .timing import multiplier_fractions
from .validate import check_frames

ENSEMBLE_SIZES = (1, 2, 4, 8)
# (swap the inputs, flip horizontally, flip vertically); ensemble=n uses the first n
ENSEMBLE_VARIANTS = ((False, False, False), (True, True, True), (False, True, False), (True, False, True),
                     (False, False, True), (True, True, False), (False, True, True), (True, False, False))
MAX_LEVEL = 6
# Defaults from benchmarks/sepconv.py (UCF101 dev triplets, sepconv_w100_k51_gpu, 8-bit PSNR): x1 33.08,
# x2 33.26, x4 33.36, x8 33.41 dB (DIS flow warp 33.41), SSIM up with every doubling; cost n network
# calls per midpoint. SepConv-GAN keeps one pass: averaging variants smooths what the GAN sharpened.
DEFAULT_ENSEMBLE = 8
GAN_DEFAULT_ENSEMBLE = 1
_MODEL_CACHE = {}


class MissingWeightsError(ValueError):
    """No weights of the asked kind are installed."""


# --- times -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TimePlan:
    """Frames at ``fractions`` from dyadic frames of level ``level`` (index j = time j/2^level).

    order:   indices computed by the network, coarse to fine (each the midpoint of j ± 2^s, s the
             index's lowest set bit: its neighbours one bisection level up)
    targets: per fraction (lo, hi, w): frame = (1 - w)·F[lo] + w·F[hi]  (w = 0: exactly F[lo])"""
    level: int
    order: tuple
    targets: tuple

    def parents(self, j: int) -> tuple:
        s = j & -j
        return j - s, j + s


def _dyadic_level(t: float, max_level: int = MAX_LEVEL):
    """Smallest l with t·2^l a whole number (within 1e-9), or None above ``max_level``."""
    for level in range(max_level + 1):
        x = t * 2 ** level
        if abs(x - round(x)) < 1e-9:
            return level
    return None


def time_plan(fractions) -> TimePlan:
    """The bisection plan for in-between times (each strictly between 0 and 1)."""
    fr = [float(f) for f in fractions]
    if not fr:
        raise ValueError("no in-between times given")
    bad = [f for f in fr if not 0.0 < f < 1.0]
    if bad:
        raise ValueError(f"in-between times must lie strictly between 0 and 1, got {bad}")
    levels = [_dyadic_level(f) for f in fr]
    if all(lv is not None for lv in levels):
        level = max(levels)
    else:
        level = min(MAX_LEVEL, math.ceil(math.log2(len(set(fr)) + 1)) + 1)
    n = 2 ** level
    targets = []
    for f in fr:
        x = f * n
        lo = int(math.floor(x + 1e-9))
        w = x - lo
        targets.append((lo, lo, 0.0) if w < 1e-9 else (lo, lo + 1, w))
    needed, stack = set(), [j for lo, hi, _ in targets for j in (lo, hi) if 0 < j < n]
    while stack:
        j = stack.pop()
        if j in needed:
            continue
        needed.add(j)
        s = j & -j
        stack += [p for p in (j - s, j + s) if 0 < p < n]
    order = tuple(sorted(needed, key=lambda j: (-(j & -j), j)))     # coarse (large lowest bit) first
    return TimePlan(level, order, tuple(targets))


def bisection_levels(fractions) -> int:
    """L such that ``fractions`` are exactly j / 2^L, j = 1 .. 2^L - 1 (multiplier 2, 4, 8, ...)."""
    fr = sorted(float(f) for f in fractions)
    m = len(fr) + 1
    if m >= 2 and (m & (m - 1)) == 0 and all(abs(a - b) < 1e-9 for a, b in zip(fr, multiplier_fractions(m))):
        return int(math.log2(m))
    raise ValueError(f"times {fr} are not the j/2^L of a power-of-two multiplier")


def check_ensemble(ensemble) -> int:
    if isinstance(ensemble, bool) or int(ensemble) != ensemble or int(ensemble) not in ENSEMBLE_SIZES:
        raise ValueError(f"ensemble must be one of {', '.join(map(str, ENSEMBLE_SIZES))} (variants of the input "
                         f"pair averaged: flips and swapped inputs), got {ensemble!r}")
    return int(ensemble)


# --- one midpoint ---------------------------------------------------------------------------------
def _autocast(device: torch.device, fp16: bool):
    return torch.autocast(device_type=device.type, dtype=torch.float16, enabled=bool(fp16) and device.type == "cuda")


def _flip(x: torch.Tensor, hflip: bool, vflip: bool) -> torch.Tensor:
    """Flip NCHW frames (its own inverse)."""
    dims = [d for d, on in ((-1, hflip), (-2, vflip)) if on]
    return x.flip(dims) if dims else x


def _windowed(model, a, b, plan: tiling.TilePlan, tick) -> torch.Tensor:
    """model(a, b) on [B,3,H,W] in ``plan.batch``-pair calls, whole or in windows -> float32."""
    B, _, H, W = a.shape
    reach = model.reach()
    parts = []
    for s in range(0, B, plan.batch):
        x, y = a[s:s + plan.batch], b[s:s + plan.batch]
        n = x.shape[0]
        if not plan.tile:
            parts.append(model(x, y).float())
            tick(n)
            continue
        out = torch.zeros(n, 3, H, W, device=a.device)
        weight = torch.zeros(1, 1, H, W, device=a.device)
        ov, tile = tiling.overlap(model), plan.tile
        th, tw = min(tile, H), min(tile, W)
        for top in tiling.window_starts(H, tile, ov):
            wy = tiling.edge_weight(top, th, H, reach)
            for left in tiling.window_starts(W, tile, ov):
                wx = tiling.edge_weight(left, tw, W, reach)
                w2 = (wy[:, None] * wx[None, :]).to(a.device)[None, None]          # [1,1,th,tw]
                win = (..., slice(top, top + th), slice(left, left + tw))
                out[win] += model(x[win], y[win]).float() * w2
                weight[win] += w2
                tick(n)
        parts.append(out / weight)
    return torch.cat(parts)


def _nchw(model, first, second):
    weight = next(model.parameters())
    return tuple(x.to(device=weight.device, dtype=weight.dtype).permute(0, 3, 1, 2) for x in (first, second))


def plan_for(model, first: torch.Tensor, tile_size: int = 0, fp16: bool = False) -> tiling.TilePlan:
    """The tile plan for IMAGE batches like ``first`` [B,H,W,3] on the model's device."""
    device = next(model.parameters()).device
    B, H, W = first.shape[:3]
    return tiling.tile_plan(model, B, H, W, tile_size, fp16, budget=tiling.memory_budget(device))


def variant_midpoints(model, first: torch.Tensor, second: torch.Tensor, variants=ENSEMBLE_VARIANTS[:1],
                      tile_size: int = 0, fp16: bool = False, plan: tiling.TilePlan | None = None, tick=None):
    """Yield, per (swap, hflip, vflip) variant, SepConv's midpoint of the transformed IMAGE pair
    [B,H,W,3] mapped back to the original orientation: NCHW float32 [B,3,H,W], unclamped."""
    plan = plan or plan_for(model, first, tile_size, fp16)
    tick = tick or (lambda _n: None)
    a, b = _nchw(model, first, second)
    with torch.no_grad(), _autocast(a.device, fp16):
        for swap, hflip, vflip in variants:
            x, y = _flip(a, hflip, vflip), _flip(b, hflip, vflip)
            if swap:
                x, y = y, x
            yield _flip(_windowed(model, x, y, plan, tick), hflip, vflip)


def interpolate_midpoint(model, first: torch.Tensor, second: torch.Tensor, tile_size: int = 0,
                         fp16: bool = False, ensemble: int = 1, plan: tiling.TilePlan | None = None,
                         tick=None) -> torch.Tensor:
    """Midpoint of IMAGE batches [B,H,W,3] x2 -> [B,H,W,3] (float32, on the model's device).

    ``tile_size`` 0 plans whole frames or windows from the free memory (``sepconv_tiling``);
    ``ensemble`` averages that many input variants (module docstring); ``tick(n)`` is called after
    every network call with the number of pairs it covered."""
    first = check_frames(first, name="first")
    second = check_frames(second, name="second")
    if first.shape != second.shape:
        raise ValueError(f"first and second frames differ in shape: {list(first.shape)} vs {list(second.shape)}")
    n = check_ensemble(ensemble)
    total = sum(variant_midpoints(model, first, second, ENSEMBLE_VARIANTS[:n], tile_size, fp16, plan, tick))
    return (total / n).clamp(0, 1).permute(0, 2, 3, 1)                  # [B,H,W,3]


# --- whole clips ------------------------------------------------------------------------------------
def _in_betweens(model, first, second, times: TimePlan, plan, ensemble, fp16, tick) -> list:
    """Frames at every target of ``times`` between IMAGE batches first, second -> list of [B,H,W,3]."""
    n = 2 ** times.level
    known = {0: first.float(), n: second.float()}
    for j in times.order:
        lo, hi = times.parents(j)
        known[j] = interpolate_midpoint(model, known[lo], known[hi], fp16=fp16, ensemble=ensemble,
                                        plan=plan, tick=tick).cpu()
    return [known[lo] if w == 0 else (1 - w) * known[lo] + w * known[hi] for lo, hi, w in times.targets]


def interpolate_clip_times(model, frames: torch.Tensor, fractions, tile_size: int = 0, fp16: bool = False,
                           chunk: int = 4, ensemble: int = 1, progress=None) -> torch.Tensor:
    """Clip [N,H,W,3] -> [(N-1)·(m+1) + 1, H,W,3] with frames at ``fractions`` (m of them) inserted
    in every interval (dyadic times by bisection, others blended; module docstring).

    ``chunk`` pairs go through the network together; ``progress(done, total)`` counts network
    calls per pair (pairs x midpoints x ensemble variants x windows)."""
    frames = check_frames(frames, min_count=2).cpu()
    ensemble = check_ensemble(ensemble)
    times = time_plan(fractions)
    chunk = max(1, int(chunk))
    n_pairs = frames.shape[0] - 1
    plan = plan_for(model, frames[:min(chunk, n_pairs)], tile_size, fp16)
    total = n_pairs * len(times.order) * ensemble * plan.windows
    done = 0

    def tick(pairs):
        nonlocal done
        done += pairs
        if progress is not None:
            progress(done, total)

    pieces = [frames[:1]]
    for s in range(0, n_pairs, chunk):
        e = min(s + chunk, n_pairs)
        inserted = _in_betweens(model, frames[s:e], frames[s + 1:e + 1], times, plan, ensemble, fp16, tick)
        for i in range(e - s):                                        # f(s+i), its in-betweens, f(s+i+1)
            pieces += [x[i:i + 1].to(frames.dtype) for x in inserted] + [frames[s + i + 1:s + i + 2]]
    return torch.cat(pieces, dim=0)


def bisect_clip(model, frames: torch.Tensor, levels: int, tile_size: int = 0, fp16: bool = False,
                chunk: int = 4, progress=None, ensemble: int = 1) -> torch.Tensor:
    """Clip [N,H,W,3] -> [(N-1)·2^L + 1, H,W,3] by L rounds of midpoint insertion."""
    return interpolate_clip_times(model, frames, multiplier_fractions(2 ** int(levels)), tile_size, fp16, chunk,
                                  ensemble, progress)


def default_weights_name(method: str = "sepconv", extra_dirs=()) -> str:
    """The registry's weights for ``method``: a manifest entry marked default, else the first."""
    from .weights import absent_note, list_weights

    registry = list_weights(extra_dirs)
    names = [n for n, info in registry.items() if info.method == method]
    if not names:
        what = "SepConv-GAN" if method == "sepconv-gan" else "SepConv"
        raise MissingWeightsError(f"no {what} weights installed: put a .safetensors file into weights/ or "
                                  f"ComfyUI's models/frameweave/ folder (found: {', '.join(registry) or 'none'})"
                                  + absent_note(method, extra_dirs))
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
                             chunk: int = 4, method: str = "sepconv", ensemble: int = DEFAULT_ENSEMBLE) -> torch.Tensor:
    """``methods`` entry "sepconv": clip [N,H,W,3] with frames inserted at ``fractions`` (dyadic
    times exactly by recursive SepConv midpoints, others blended from the two nearest; module
    docstring); ``weights`` is a registry name or a file (default: the manifest's default SepConv
    weights); ``ensemble`` 1/2/4/8 averages flipped/swapped input variants; ``tile_size`` 0 tiles
    automatically when whole frames do not fit in memory. ``timing`` is not needed (times come from
    ``fractions``) and accepted for the common interface."""
    time_plan(fractions)
    check_ensemble(ensemble)
    frames = check_frames(frames, min_count=2)
    if model is None:
        model = get_model(weights, device, method=method, fp16=fp16)
    return interpolate_clip_times(model, frames, fractions, tile_size=int(tile_size), fp16=fp16, chunk=chunk,
                                  ensemble=ensemble, progress=progress)


def sepconv_gan_interpolate_clip(frames: torch.Tensor, fractions, timing=None, progress=None, weights=None,
                                 **options) -> torch.Tensor:
    """``methods`` entry "sepconv-gan": the same network with adversarially trained weights
    (manifest ``"method": "sepconv-gan"``), ``ensemble`` GAN_DEFAULT_ENSEMBLE (one pass) unless
    given; MissingWeightsError until such weights are installed."""
    options.setdefault("ensemble", GAN_DEFAULT_ENSEMBLE)
    return sepconv_interpolate_clip(frames, fractions, timing, progress, weights=weights, method="sepconv-gan",
                                    **options)


def _precheck(method: str):
    def check(fractions, options: dict) -> None:
        """The times, the ensemble size and the weights name, before any frame is read."""
        time_plan(fractions)
        check_ensemble(options.get("ensemble", 1))
        weights = options.get("weights")
        name = weights or default_weights_name(method)
        from .weights import resolve  # noqa: PLC0415
        info = resolve(name)
        if info.manifest and info.method not in ("sepconv", "sepconv-gan"):
            raise ValueError(f"weights {info.name!r} are {info.method} weights, not SepConv ones; "
                             f"use --method {info.method}")
    return check


sepconv_interpolate_clip.precheck = _precheck("sepconv")
sepconv_gan_interpolate_clip.precheck = _precheck("sepconv-gan")
sepconv_gan_interpolate_clip.option_sources = (sepconv_interpolate_clip,)
