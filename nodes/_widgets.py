"""Widgets shared by every interpolation node: multiplier / explicit times -> fractions, and the
output timing.

Every interpolating node (Linear Blend, Flow Warp, Render Frames from NeCo/SIREN-OF, SepConv)
takes the same three inputs and should read them with these helpers:

    required  multiplier  INT 2..16   inserts m-1 frames at t = j/m between every pair
    optional  times       STRING      explicit in-between times "0.25, 0.5"; overrides multiplier
    optional  timing      FRAME_TIMING  the clip's per-frame timing; DEFAULT_FPS when absent

    INPUTS = {"multiplier": MULTIPLIER_INPUT}, {"times": TIMES_INPUT, "timing": TIMING_INPUT}
    fractions = interpolation_fractions(multiplier, times)
    out_timing = output_timing(frames, timing, fractions)

or all of it at once: ``frames, fractions, out_timing = prepare_clip(frames, multiplier, times, timing)``.
"""
from ..vfi_core.timing import FrameTiming, multiplier_fractions, parse_times
from ..vfi_core.validate import check_frames

DEFAULT_FPS = 25.0  # frame rate assumed for a clip without FRAME_TIMING (Load Frames' folder default)
MULTIPLIER_MAX = 16  # most frames per input interval any node makes (widgets of every interpolator)
STRIDE_MAX = MULTIPLIER_MAX  # a stride between input frames (Drop Frames' k, skip_stride) is a multiplier

MULTIPLIER_INPUT = ("INT", {"default": 2, "min": 2, "max": MULTIPLIER_MAX, "step": 1, "tooltip":
                    "frame-rate multiplier m: inserts m-1 frames at t = 1/m, 2/m, ... between every pair"})
TIMES_INPUT = ("STRING", {"default": "", "multiline": False, "tooltip":
               "explicit in-between times, e.g. \"0.25, 0.5\" (each strictly between 0 and 1); "
               "when not empty it overrides the multiplier"})
TIMING_INPUT = ("FRAME_TIMING", {"tooltip": "timing of the input clip (from Load Frames); without it "
                                 f"the clip is taken to run at {DEFAULT_FPS:g} fps"})


def interpolation_fractions(multiplier: int, times: str | None = None) -> list:
    """The in-between times inserted into every interval: ``parse_times(times)`` when ``times``
    has any text, else j/m for j = 1..m-1 (``multiplier_fractions``). ValueError on bad input."""
    if times is not None and str(times).strip():
        return parse_times(str(times))
    m = int(multiplier)
    if m < 2:
        raise ValueError(f"multiplier must be at least 2 (one inserted frame per pair), got {multiplier}")
    return multiplier_fractions(m)


def input_timing(frames, timing: FrameTiming | None = None) -> FrameTiming:
    """The clip's timing: ``timing`` checked against the frame count, or DEFAULT_FPS when None."""
    count = int(frames.shape[0])
    if timing is None:
        return FrameTiming.from_fps(count, DEFAULT_FPS)
    if not isinstance(timing, FrameTiming):
        raise ValueError(f"timing: expected a FRAME_TIMING, got {type(timing).__name__}")
    if len(timing) != count:
        raise ValueError(f"timing has {len(timing)} timestamps but the clip has {count} frames: "
                         "connect the timing that belongs to these frames")
    return timing


def output_timing(frames, timing: FrameTiming | None, fractions) -> FrameTiming:
    """Timing of the interpolated clip: every interval of the input timing split at ``fractions``."""
    return input_timing(frames, timing).with_inserted(fractions)


def prepare_clip(frames, multiplier, times, timing):
    """Checked frames [N,H,W,3] (at least two), the fractions to insert and the output timing:
    every input of an interpolating node checked before any work."""
    frames = check_frames(frames, min_count=2)
    fractions = interpolation_fractions(multiplier, times)
    return frames, fractions, output_timing(frames, timing, fractions)
