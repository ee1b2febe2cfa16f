"""Tiles for SepConv inference: a memory estimate, the tile plan, the windows and their blend weights.

Memory. In inference SepConvNet's peak memory is dominated by the four kernel maps [B,K,H,W] of
the padded frame (K floats per pixel each) and the full-resolution encoder features; the separable
local convolution itself works in bounded row chunks (``kernels.separable_local_conv``). We model
the peak extra memory of one forward pass of a [B,3,H,W] pair as

    bytes ≈ element_size · B · H32 · W32 · (MAP_FLOATS_PER_TAP · K + FEATURE_FLOATS_PER_CHANNEL · c1 + BASE_FLOATS)

with H32, W32 the frame padded to a multiple of 32 and c1 the first encoder width. The three
constants were fitted to the peak resident set size of four networks (K = 5..51, c1 = 4..32) at
640x480 and rounded up so that the estimate is at least every measured peak and are re-measured by ``benchmarks/sepconv.py --parts memory-model`` (section "Memory
model" of ``benchmarks/results/sepconv.md``). The whole-frame buffers of a tiled run (inputs,
output, blend weights) add WHOLE_FRAME_FLOATS floats per pixel of the full frame.

Plan (``tile_plan``): with ``tile_size`` 0 (auto), whole frames are used when the estimate fits
the memory budget (MEMORY_FRACTION of the free memory: ``MemAvailable`` on a CPU,
``torch.cuda.mem_get_info`` on CUDA), pairs one at a time when only one fits, else the largest
square tile that fits; when even the smallest useful tile does not fit, ValueError says how much
memory is needed and what to change — before any work is done. A positive ``tile_size`` is the
side of the windows; values below the network's minimum ``min_tile`` are raised to it.

Windows (``window_starts``/``edge_weight``): overlapping square windows (overlap = 2·reach + RAMP
>= K pixels) blended with weights that are zero within ``reach`` pixels of an interior window edge
(where the local convolution would read replicated instead of real pixels) and ramp up linearly
over the next RAMP pixels.
"""
import math
from dataclasses import dataclass
from pathlib import Path

import torch

RAMP = 16
MAP_FLOATS_PER_TAP = 6.5            # four kernel maps + the subnet being computed (fit: 6.1)
FEATURE_FLOATS_PER_CHANNEL = 6.0    # full-resolution encoder features (fit: 4.9; rounded up to cover every measured peak)
BASE_FLOATS = 16.0                  # padded frames, concatenated input, output (fit: 13.8)
WHOLE_FRAME_FLOATS = 13.0           # tiled run: both inputs, output accumulator, weights, result
MEMORY_FRACTION = 0.6               # share of the free memory a plan may use
GIB = 1024 ** 3


@dataclass(frozen=True)
class TilePlan:
    """How one batch of pairs is processed: ``batch`` pairs per network call, square windows of
    side ``tile`` (0 = whole frames), ``windows`` per frame, and the estimated peak ``bytes``."""
    batch: int
    tile: int
    windows: int
    bytes: int


def overlap(model) -> int:
    """Pixels two neighbouring windows share: 2·reach + RAMP (>= K)."""
    return 2 * model.reach() + RAMP


def min_tile(model) -> int:
    """Smallest useful window side for ``model``: twice the overlap (132 for K = 51, 80 for K = 25)."""
    return 2 * overlap(model)


def _padded(n: int, multiple: int = 32) -> int:
    return -(-int(n) // multiple) * multiple


def _element_size(model, fp16: bool) -> int:
    weight = next(model.parameters())
    if fp16 and weight.device.type == "cuda":
        return 2
    return weight.element_size()


def forward_bytes(model, batch: int, height: int, width: int, fp16: bool = False) -> int:
    """Estimated peak extra memory (bytes) of one forward pass on [batch,3,height,width] pairs."""
    floats = MAP_FLOATS_PER_TAP * model.kernel_size + FEATURE_FLOATS_PER_CHANNEL * model.channels[0] + BASE_FLOATS
    return int(_element_size(model, fp16) * batch * _padded(height) * _padded(width) * floats)


def frame_bytes(batch: int, height: int, width: int) -> int:
    """Whole-frame float32 buffers of a tiled run (inputs, accumulators, result)."""
    return int(4 * WHOLE_FRAME_FLOATS * batch * height * width)


def available_memory(device) -> int | None:
    """Free memory (bytes) on ``device``: CUDA's free memory, or the CPU's MemAvailable (Linux);
    None when unknown (then no automatic tiling happens)."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def memory_budget(device) -> int | None:
    free = available_memory(device)
    return None if free is None else int(free * MEMORY_FRACTION)


def window_starts(length: int, tile: int, step_overlap: int) -> list:
    """Starts of windows of ``tile`` pixels covering ``length`` pixels, neighbours sharing
    ``step_overlap`` pixels (the last window ends at the border)."""
    if length <= tile:
        return [0]
    step = tile - step_overlap
    starts = list(range(0, length - tile, step))
    return starts + [length - tile]


def window_count(model, height: int, width: int, tile: int) -> int:
    """Number of windows per frame (1 when ``tile`` is 0 or covers the frame)."""
    if not tile:
        return 1
    o = overlap(model)
    return len(window_starts(height, tile, o)) * len(window_starts(width, tile, o))


def edge_weight(start: int, size: int, total: int, reach: int) -> torch.Tensor:
    """1-D blend weight of a window [start, start+size) of an axis of ``total`` pixels."""
    i = torch.arange(size, dtype=torch.float32)
    w = torch.ones(size)
    if start > 0:                                            # interior left/top edge
        w = torch.minimum(w, ((i - reach + 1) / RAMP).clamp(0, 1))
    if start + size < total:                                 # interior right/bottom edge
        w = torch.minimum(w, ((size - i - reach) / RAMP).clamp(0, 1))
    return w


def _gib(n: int) -> str:
    return f"{n / GIB:.1f} GiB"


def tile_plan(model, batch: int, height: int, width: int, tile_size: int = 0, fp16: bool = False,
              budget: int | None = None) -> TilePlan:
    """The plan for ``batch`` pairs of height x width frames (see the module docstring).

    ``budget``: bytes the plan may use (None = unknown: whole frames, or the given tile).
    Raises ValueError, before any work, when the given or the smallest tile cannot fit."""
    batch, height, width, tile_size = int(batch), int(height), int(width), int(tile_size)
    if tile_size < 0:
        raise ValueError(f"tile_size must be 0 (automatic) or a window side in pixels, got {tile_size}")
    smallest = min_tile(model)

    def cost(b, tile):
        if not tile or (height <= tile and width <= tile):
            return forward_bytes(model, b, height, width, fp16) + (frame_bytes(b, height, width) if tile else 0)
        return forward_bytes(model, b, min(tile, height), min(tile, width), fp16) + frame_bytes(b, height, width)

    def plan(b, tile):
        tile = 0 if tile and height <= tile and width <= tile else tile
        return TilePlan(b, tile, window_count(model, height, width, tile), cost(b, tile))

    if tile_size:
        tile = max(tile_size, smallest)
        for b in (batch, 1):
            if budget is None or cost(b, tile) <= budget:
                return plan(b, tile)
        raise ValueError(f"tile_size {tile} needs about {_gib(cost(1, tile))} for one {width}x{height} pair "
                         f"but about {_gib(budget)} may be used ({MEMORY_FRACTION:.0%} of the free memory): "
                         f"use tile_size 0 (automatic) or a smaller tile_size (at least {smallest})")
    for b in (batch, 1):
        if budget is None or cost(b, 0) <= budget:
            return plan(b, 0)
    per_pixel = forward_bytes(model, 1, 32, 32, fp16) / (32 * 32)
    room = budget - frame_bytes(1, height, width)
    tile = int(math.sqrt(max(room, 0) / per_pixel)) // 32 * 32 if room > 0 else 0
    if tile < smallest:
        raise ValueError(f"SepConv needs about {_gib(cost(1, 0))} for one {width}x{height} pair and about "
                         f"{_gib(cost(1, smallest))} even in the smallest tiles ({smallest} px), but about "
                         f"{_gib(budget or 0)} may be used ({MEMORY_FRACTION:.0%} of the free memory): free memory, "
                         "downscale the frames, or use narrower weights (smaller K or width)"
                         + ("" if fp16 or next(model.parameters()).device.type != "cuda" else ", or fp16"))
    return plan(1, tile)
