"""PSNR / SSIM and Drop Frames: measuring an interpolator on real footage inside a graph.

Drop Frames keeps every k-th frame of a real clip; an interpolator rebuilds the frames between;
PSNR / SSIM scores the rebuilt clip against the real one, skipping the kept (input) frames when
``skip_stride`` is wired to Drop Frames' ``stride``. See docs/evaluation.md.
"""
import torch

from ..vfi_core import metrics
from ..vfi_core.evaluation import drop_frames, score_frames
from ..vfi_core.frames_io import DEFAULT_FPS
from ..vfi_core.plots import line_plot
from ..vfi_core.timing import FrameTiming
from ..vfi_core.validate import check_frames
from . import _comfy, _preview
from ._widgets import STRIDE_MAX

SCORE_CHUNK = 16  # frames moved to the compute device at a time


def _score_on_device(pred: torch.Tensor, ref: torch.Tensor, as_8bit: bool) -> tuple:
    """(psnr, ssim) float64 [B] on the CPU, computed chunk by chunk on ComfyUI's device."""
    device = _comfy.torch_device()
    ps, ss = [], []
    for s in range(0, pred.shape[0], SCORE_CHUNK):
        p, q = score_frames(pred[s:s + SCORE_CHUNK].to(device), ref[s:s + SCORE_CHUNK].to(device), quantize=as_8bit)
        ps.append(p.cpu())
        ss.append(q.cpu())
    return torch.cat(ps), torch.cat(ss)


def format_table(indices, psnr_values, ssim_values, skipped_note: str = "") -> str:
    """Readable per-frame table (frame, PSNR dB, SSIM) with the means on the last line."""
    lines = [f"{'frame':>6}  {'PSNR (dB)':>10}  {'SSIM':>7}"]
    for i, p, s in zip(indices, psnr_values, ssim_values):
        lines.append(f"{i:>6}  {p:>10.3f}  {s:>7.4f}")
    mean_p = sum(psnr_values) / len(psnr_values)
    mean_s = sum(ssim_values) / len(ssim_values)
    lines.append(f"{'mean':>6}  {mean_p:>10.3f}  {mean_s:>7.4f}")
    lines.append(f"{len(indices)} frame(s) scored{skipped_note}")
    lines.append(f"PSNR: 0-255 RGB, {metrics.PSNR_CAP_DB:g} dB for identical frames; "
                 "SSIM: Wang et al. 2004, 11x11 Gaussian, sigma 1.5")
    return "\n".join(lines)


def score_ui(summary: str, plot) -> dict:
    """What the node shows in ComfyUI: the means as text (web/frameweave.js displays it) and the
    per-frame plot as an image preview (a temp PNG; none outside ComfyUI). The per-frame table
    stays an output: in the text too, the command line would print it twice."""
    ui = {"text": [summary]}
    preview = _preview.save_temp_preview(plot, "psnr_plot")
    if preview is not None:
        ui["images"] = [preview]
    return ui


class FrameWeavePSNRSSIM:
    """Score frames against reference frames: mean PSNR and SSIM, a per-frame table and a plot."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "frames": ("IMAGE", {"tooltip": "the frames to score (e.g. an interpolator's output)"}),
                "reference": ("IMAGE", {"tooltip": "the real frames, same count and size "
                                                   "(e.g. Drop Frames' reference output)"}),
            },
            "optional": {
                "skip_stride": ("INT", {"default": 0, "min": 0, "max": STRIDE_MAX, "tooltip":
                                "0 or 1 = score every frame; k = skip frames 0, k, 2k, ... (the inputs in "
                                "the drop-frames protocol: wire Drop Frames' stride here)"}),
                "as_8bit": ("BOOLEAN", {"default": True, "tooltip":
                            "round the frames to 8 bits before scoring, as they are once saved "
                            "(the convention of the published numbers)"}),
            },
        }

    RETURN_TYPES = ("FLOAT", "FLOAT", "STRING", "IMAGE")
    RETURN_NAMES = ("psnr", "ssim", "table", "plot")
    FUNCTION = "score"
    OUTPUT_NODE = True
    CATEGORY = f"{_comfy.CATEGORY}/evaluate"
    DESCRIPTION = ("PSNR (dB, 0-255 RGB) and SSIM (Wang et al. 2004) of every frame against a reference, "
                   "their means, a per-frame table and a PSNR-per-frame plot; the means and the plot are also "
                   "shown on the node.")

    def score(self, frames, reference, skip_stride=0, as_8bit=True):
        frames = check_frames(frames, name="PSNR / SSIM: frames")
        reference = check_frames(reference, name="PSNR / SSIM: reference")
        if frames.shape[0] != reference.shape[0]:
            raise ValueError(f"PSNR / SSIM: frames has {frames.shape[0]} frame(s) but reference has "
                             f"{reference.shape[0]}; they must match one to one (with Drop Frames, score the "
                             "interpolated clip against its 'reference' output, not the original clip)")
        if frames.shape[1:3] != reference.shape[1:3]:
            raise ValueError(f"PSNR / SSIM: frames are {frames.shape[2]}x{frames.shape[1]} but reference is "
                             f"{reference.shape[2]}x{reference.shape[1]} (width x height)")
        stride = int(skip_stride)
        if stride < 0:
            raise ValueError(f"PSNR / SSIM: skip_stride must be 0 or more, got {stride}")
        stride = 0 if stride == 1 else stride    # a stride of 1 has no frames between inputs: score all
        indices = [i for i in range(frames.shape[0]) if stride == 0 or i % stride != 0]
        if not indices:
            raise ValueError(f"PSNR / SSIM: skip_stride={stride} skips all {frames.shape[0]} frame(s); "
                             "nothing left to score")
        idx = torch.tensor(indices, dtype=torch.long)
        p, s = _score_on_device(frames[idx], reference[idx], bool(as_8bit))
        ps, ss = p.tolist(), s.tolist()
        note = f" (frames 0, {stride}, {2 * stride}, ... skipped as inputs)" if stride else ""
        table = format_table(indices, ps, ss, note)
        mean_p, mean_s = sum(ps) / len(ps), sum(ss) / len(ss)
        plot = line_plot({"PSNR": ps}, title="PSNR per frame", ylabel="PSNR (dB)",
                         x_values={"PSNR": indices})
        summary = f"PSNR {mean_p:.3f} dB, SSIM {mean_s:.4f} over {len(ps)} frame(s){note}"
        return {"ui": score_ui(summary, plot), "result": (float(mean_p), float(mean_s), table, plot)}


class FrameWeaveDropFrames:
    """Keep every k-th frame of a real clip; the frames between become ground truth to score against."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "frames": ("IMAGE", {"tooltip": "a real clip"}),
                "k": ("INT", {"default": 2, "min": 2, "max": STRIDE_MAX, "tooltip":
                      "keep frames 0, k, 2k, ...; the k-1 frames between are dropped (rebuild them "
                      "with multiplier k)"}),
            },
            "optional": {
                "timing": ("FRAME_TIMING", {"tooltip": f"the clip's timing; without it {DEFAULT_FPS:g} fps is assumed"}),
            },
        }

    RETURN_TYPES = ("IMAGE", "FRAME_TIMING", "IMAGE", "INT")
    RETURN_NAMES = ("kept", "kept_timing", "reference", "stride")
    FUNCTION = "drop"
    CATEGORY = f"{_comfy.CATEGORY}/evaluate"
    DESCRIPTION = ("Drop-frames protocol: keep frames 0, k, 2k, ...; interpolate the kept frames with multiplier "
                   "k, then score against 'reference' (the clip trimmed to the last kept frame) with "
                   "PSNR / SSIM, skip_stride = stride.")

    def drop(self, frames, k=2, timing=None):
        frames = check_frames(frames, name="Drop Frames: frames")
        if timing is None:
            timing = FrameTiming.from_fps(frames.shape[0], DEFAULT_FPS)   # one frame period per frame
        split = drop_frames(frames, int(k), timing)
        return split.kept, split.kept_timing, split.reference, split.k


NODE_CLASS_MAPPINGS = {
    "FrameWeavePSNRSSIM": FrameWeavePSNRSSIM,
    "FrameWeaveDropFrames": FrameWeaveDropFrames,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "FrameWeavePSNRSSIM": "PSNR / SSIM (FrameWeave)",
    "FrameWeaveDropFrames": "Drop Frames (FrameWeave)",
}
