"""Widgets and plumbing shared by the nodes that fit an implicit video to a clip (Fit NeCo,
Fit SIREN-OF): their common inputs and outputs, the checks before a fit, the library keywords that
carry the step / time limits, and the training-curve image.

    class FrameWeaveFitX(FitNode):          # outputs (model INR_MODEL, training_curve IMAGE)
        ... "frames": FRAMES_INPUT, "steps": STEPS_INPUT, "time_budget_s": time_budget_input(...),
            "timing" (optional): TIMING_INPUT
        def fit(self, frames, steps, time_budget_s, ..., timing=None):
            frames, steps, budget = check_fit_request("Fit X", frames, steps, time_budget_s)
            check_fit_timing("Fit X", frames, timing)
            result = fit_x(frames, timing, ..., **fit_limits(steps, budget))
            return result.model.cpu(), training_curve(result.history, fit_title("X", result))
"""
import math

import torch

from ..vfi_core.plots import line_plot
from ..vfi_core.validate import check_frames
from . import _comfy

FRAMES_INPUT = ("IMAGE", {"tooltip": "the clip to fit (at least 2 frames)"})
STEPS_INPUT = ("INT", {"default": 0, "min": 0, "max": 10_000_000, "tooltip":
               "optimiser steps; 0 = run until the time budget is spent"})
TIMING_INPUT = ("FRAME_TIMING", {"tooltip": "the clip's timing (uneven GIF delays are honoured); "
                                            "without it the frames are evenly spaced"})


def time_budget_input(tooltip: str) -> tuple:
    """The ``time_budget_s`` widget: FLOAT seconds, default 300, with the fit's own tooltip."""
    return ("FLOAT", {"default": 300.0, "min": 0.0, "max": 1e6, "step": 1.0, "tooltip": tooltip})


def lr_input(default: float, step: float, tooltip: str) -> tuple:
    """The ``lr`` widget: FLOAT in [1e-7, 1], not rounded to ``step`` (small rates must survive)."""
    return ("FLOAT", {"default": default, "min": 1e-7, "max": 1.0, "step": step, "round": False,
                      "tooltip": tooltip})


def batch_size_input(default: int, tooltip: str) -> tuple:
    """The ``batch_size`` widget: random pixels per optimiser step, 1 .. 2^22."""
    return ("INT", {"default": default, "min": 1, "max": 1 << 22, "tooltip": tooltip})


def seed_input(tooltip: str) -> tuple:
    """The ``seed`` widget: INT 0 .. 2^31-1, default 0; ``tooltip`` says what it seeds."""
    return ("INT", {"default": 0, "min": 0, "max": 2**31 - 1, "tooltip": tooltip})


class FitNode:
    """Outputs of every fitting node: the fitted INR_MODEL (rendered by Render Frames) and an IMAGE
    of its training curve. Subclasses add INPUT_TYPES, DESCRIPTION and ``fit``."""

    RETURN_TYPES = ("INR_MODEL", "IMAGE")
    RETURN_NAMES = ("model", "training_curve")
    FUNCTION = "fit"
    CATEGORY = f"{_comfy.CATEGORY}/implicit"


def check_fit_request(label: str, frames, steps, time_budget_s) -> tuple:
    """(frames, steps, budget) checked: at least 2 frames, and a step count or a time budget.

    ``label`` (the node's name, e.g. "Fit NeCo") starts every error message."""
    frames = check_frames(frames, min_count=2, name=f"{label}: frames")
    steps, budget = int(steps), float(time_budget_s)
    if steps <= 0 and budget <= 0:
        raise ValueError(f"{label}: set steps > 0 or a time budget > 0 seconds (both are 0)")
    return frames, steps, budget


def check_fit_timing(label: str, frames, timing) -> None:
    """ValueError when a connected FRAME_TIMING does not have one timestamp per frame."""
    if timing is not None and len(timing) != frames.shape[0]:
        raise ValueError(f"{label}: the timing has {len(timing)} timestamps but {frames.shape[0]} frames "
                         "arrived; connect the FRAME_TIMING that belongs to these frames")


def fit_limits(steps: int, budget: float) -> dict:
    """Keywords of the library's fit functions for the limits (0 = none), the progress bar
    (ComfyUI's, out of ``steps``, or of 1000 when only the time budget limits) and the device."""
    progress = _comfy.Progress(steps if steps > 0 else 1000)
    return {"steps": steps if steps > 0 else None, "time_budget_s": budget if budget > 0 else None,
            "progress": progress, "device": _comfy.torch_device()}


def fit_title(method: str, result) -> str:
    """Title of the training-curve image: best train PSNR and its step, steps, seconds, why it
    stopped, and the held-out frames' PSNR next to the linear blend's when frames were held out."""
    q = getattr(result, "quality", None) or {}
    held = (f"; held-out {q['holdout_psnr']:.2f} dB, blend {q['blend_psnr']:.2f} dB"
            if q.get("holdout") and "holdout_psnr" in q else "")
    return (f"{method} fit: best {result.best_psnr:.2f} dB at step {result.best_step} "
            f"({result.steps} steps, {result.seconds:.0f} s, stopped: {result.stopped_because}){held}")


def fit_output(model, curve, result) -> dict:
    """A fit node's return value: the outputs, and the fit's quality in words as the node's text
    (shown on the node in ComfyUI, printed by ``frameweave run``, logged on the server)."""
    from ..vfi_core.fit_quality import quality_verdict  # noqa: PLC0415

    verdict = quality_verdict(model.fit_report, model.kind, model.config)
    q = model.fit_report.get("quality") or {}
    if q.get("holdout") and "holdout_psnr_residual" in q:
        verdict += (f" Rendered with the keyframe residual (connect these frames to Render Frames' frames input): "
                    f"{q['holdout_psnr_residual']:.2f} dB on the held-out frames, detail "
                    f"{100 * q['detail_residual']:.0f} %.")
    if verdict:
        print(f"[FrameWeave] {model.kind} fit: {verdict}")
    return {"ui": {"text": [verdict]} if verdict else {}, "result": (model, curve)}


HOLDOUT_INPUT = ("INT", {"default": -1, "min": -1, "max": 1000, "tooltip":
                 "frames held out of the fit (for its first 80 %) to measure it between frames against "
                 "the linear blend; -1 = auto (one per 8 frames), 0 = none; the node's text gives the result"})


def training_curve(history, title: str) -> torch.Tensor:
    """IMAGE [1,H,W,3]: train PSNR against step from a fit's history [(step, seconds, psnr), ...]."""
    steps = [h[0] for h in history]
    psnr = [h[2] if math.isfinite(h[2]) else float("nan") for h in history]
    return line_plot({"train PSNR": psnr}, title=title, ylabel="PSNR (dB)", xlabel="step",
                     x_values={"train PSNR": steps}, show_mean=False)
