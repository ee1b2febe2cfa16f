"""Optical Flow / Flow Visualise: the FLOW type (vfi_core.flow.FlowField) in a graph."""
from ..vfi_core.flow import PRESETS, as_flow_field, estimate_flow, flow_to_color
from ..vfi_core.validate import check_frames
from . import _comfy


class FrameWeaveOpticalFlow:
    """OpenCV DIS optical flow between consecutive frames."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "frames": ("IMAGE",),
                "preset": (list(PRESETS), {"default": "medium", "tooltip":
                           "OpenCV DIS preset: ultrafast (no variational refinement), fast, medium "
                           "(most accurate, slowest)"}),
                "backward": ("BOOLEAN", {"default": True, "tooltip":
                             "also compute the flow from each frame back to the previous one "
                             "(needed by Flow Warp and used by SIREN-OF for the last frame)"}),
            },
        }

    RETURN_TYPES = ("FLOW",)
    RETURN_NAMES = ("flow",)
    FUNCTION = "estimate"
    CATEGORY = f"{_comfy.CATEGORY}/flow"
    DESCRIPTION = ("Dense optical flow frame i -> i+1 (and i+1 -> i) in pixels with OpenCV DIS "
                   "(Kroeger et al. 2016).")

    def estimate(self, frames, preset="medium", backward=True):
        frames = check_frames(frames, min_count=2)
        return (estimate_flow(frames, preset=preset, backward=bool(backward),
                              progress=_comfy.Progress(frames.shape[0] - 1)),)


class FrameWeaveFlowVisualise:
    """Colour-wheel image of a FLOW: hue = direction, saturation = speed."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "flow": ("FLOW",),
                "direction": (["forward", "backward"], {"default": "forward", "tooltip":
                              "forward: frame i -> i+1; backward: frame i+1 -> i"}),
                "max_magnitude": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 10000.0, "step": 0.5,
                                  "tooltip": "motion in pixels shown at full colour; 0 = the largest "
                                  "motion in the clip"}),
            },
        }

    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("image",)
    FUNCTION = "visualise"
    CATEGORY = f"{_comfy.CATEGORY}/flow"
    DESCRIPTION = ("Middlebury colour wheel: white = still, hue = direction (right red, down orange, "
                   "left cyan, up blue), saturation = speed. One image per pair of frames.")

    def visualise(self, flow, direction="forward", max_magnitude=0.0):
        field = as_flow_field(flow)
        if direction not in ("forward", "backward"):
            raise ValueError(f"direction must be 'forward' or 'backward', got {direction!r}")
        if direction == "backward" and field.backward is None:
            raise ValueError("this flow has no backward part: make it with Optical Flow's backward = true, "
                             "or choose direction = forward")
        data = field.forward if direction == "forward" else field.backward
        return (flow_to_color(data, float(max_magnitude) if max_magnitude > 0 else None),)


NODE_CLASS_MAPPINGS = {
    "FrameWeaveOpticalFlow": FrameWeaveOpticalFlow,
    "FrameWeaveFlowVisualise": FrameWeaveFlowVisualise,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "FrameWeaveOpticalFlow": "Optical Flow (FrameWeave)",
    "FrameWeaveFlowVisualise": "Flow Visualise (FrameWeave)",
}
