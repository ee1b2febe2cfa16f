"""Linear Blend / Flow Warp Interpolate: the two baseline interpolators as nodes."""
from ..vfi_core.baselines import flow_warp_clip, linear_blend_clip
from ..vfi_core.flow import PRESETS
from . import _comfy
from ._widgets import MULTIPLIER_INPUT, TIMES_INPUT, TIMING_INPUT, prepare_clip

RETURN = ("IMAGE", "FRAME_TIMING")
RETURN_NAMES = ("frames", "timing")


class FrameWeaveLinearBlend:
    """Cross-fade: every inserted frame is (1-t)·previous + t·next."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"frames": ("IMAGE",), "multiplier": MULTIPLIER_INPUT},
            "optional": {"times": TIMES_INPUT, "timing": TIMING_INPUT},
        }

    RETURN_TYPES = RETURN
    RETURN_NAMES = RETURN_NAMES
    FUNCTION = "interpolate"
    CATEGORY = f"{_comfy.CATEGORY}/interpolate"
    DESCRIPTION = "Baseline: insert cross-faded frames (1-t)·A + t·B between every pair of frames."

    def interpolate(self, frames, multiplier=2, times="", timing=None):
        frames, fractions, out_timing = prepare_clip(frames, multiplier, times, timing)
        out = linear_blend_clip(frames, fractions, progress=_comfy.Progress(frames.shape[0] - 1))
        return out, out_timing


class FrameWeaveFlowWarp:
    """DIS optical flow both ways, warp both frames to t, occlusion-aware blend."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "frames": ("IMAGE",),
                "multiplier": MULTIPLIER_INPUT,
                "preset": (list(PRESETS), {"default": "medium", "tooltip":
                           "OpenCV DIS preset: ultrafast (no variational refinement), fast, medium "
                           "(most accurate, slowest)"}),
            },
            "optional": {
                "times": TIMES_INPUT,
                "timing": TIMING_INPUT,
                "flow": ("FLOW", {"tooltip": "flow from an Optical Flow node (with backward = true) "
                                  "instead of computing it here; preset is then ignored"}),
                "occlusion": ("BOOLEAN", {"default": True, "tooltip":
                              "forward-backward check: where a pixel of one frame has no match in the "
                              "other, take it from that frame only"}),
            },
        }

    RETURN_TYPES = RETURN
    RETURN_NAMES = RETURN_NAMES
    FUNCTION = "interpolate"
    CATEGORY = f"{_comfy.CATEGORY}/interpolate"
    DESCRIPTION = ("Baseline: OpenCV DIS optical flow both ways, warp both neighbours to time t and blend "
                   "them, keeping only one side where the other is occluded.")

    def interpolate(self, frames, multiplier=2, preset="medium", times="", timing=None, flow=None, occlusion=True):
        frames, fractions, out_timing = prepare_clip(frames, multiplier, times, timing)
        out = flow_warp_clip(frames, fractions, preset=preset, flow=flow, occlusion=bool(occlusion),
                             progress=_comfy.Progress(frames.shape[0] - 1))
        return out, out_timing


NODE_CLASS_MAPPINGS = {
    "FrameWeaveLinearBlend": FrameWeaveLinearBlend,
    "FrameWeaveFlowWarp": FrameWeaveFlowWarp,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "FrameWeaveLinearBlend": "Linear Blend (FrameWeave)",
    "FrameWeaveFlowWarp": "Flow Warp Interpolate (FrameWeave)",
}
