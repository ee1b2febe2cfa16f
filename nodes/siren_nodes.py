"""Fit SIREN-OF: a SIREN implicit video fitted with the optical-flow constraint on its derivatives."""
import math

import torch

from ..vfi_core.plots import line_plot
from ..vfi_core.siren import FIT_DEFAULTS, LAMBDA_OBS, PAPER_CONFIG, fit_siren_of
from ..vfi_core.validate import check_frames
from . import _comfy

FLOW_PRESETS = ("ultrafast", "fast", "medium")
CPU_LR = 1e-4  # see docs/siren_of.md: the paper's 3.6e-5 converges too slowly within CPU minutes


def training_curves(result, lambda_obs: float, title: str) -> torch.Tensor:
    """IMAGE [1,H,W,3]: train PSNR against step, and below it L_obs / L_of (when fitted with it)."""
    steps = [h[0] for h in result.history]
    psnr = [h[2] if math.isfinite(h[2]) else float("nan") for h in result.history]
    top = line_plot({"train PSNR": psnr}, title=title, ylabel="PSNR (dB)", xlabel="step",
                    x_values={"train PSNR": steps}, show_mean=False)
    terms = getattr(result, "terms", [])
    if not terms:
        return top
    series = {"L_obs (MSE)": [t[1] for t in terms]}
    xs = {"L_obs (MSE)": [t[0] for t in terms]}
    if lambda_obs < 1.0:
        series["L_of (mean |grad f . (u,v,1)|)"] = [t[2] for t in terms]
        xs["L_of (mean |grad f . (u,v,1)|)"] = [t[0] for t in terms]
    bottom = line_plot(series, title=f"loss terms (lambda = {lambda_obs:g})", ylabel="loss", xlabel="step",
                       x_values=xs, show_mean=False)
    return torch.cat([top, bottom], dim=1)                       # [1,2H,W,3]


class FrameWeaveFitSIRENOF:
    """Fit SIREN-OF to a clip; render it with Render Frames."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "frames": ("IMAGE", {"tooltip": "the clip to fit (at least 2 frames)"}),
                "lambda_obs": ("FLOAT", {"default": LAMBDA_OBS, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip":
                               "λ in L = λ·L_obs + (1-λ)·L_of: weight of the pixel MSE against the optical-flow "
                               "constraint; 1 = plain SIREN without the flow term (paper: 0.12)"}),
                "omega0": ("FLOAT", {"default": PAPER_CONFIG["omega0"], "min": 0.1, "max": 1000.0, "step": 0.5,
                                     "tooltip": "SIREN frequency factor ω0 in sin(ω0·(Wx+b)) (paper: 25)"}),
                "width": ("INT", {"default": PAPER_CONFIG["width"], "min": 4, "max": 4096, "tooltip":
                          "units per sine layer (paper: 720; 128-256 fit in CPU minutes)"}),
                "depth": ("INT", {"default": PAPER_CONFIG["depth"], "min": 2, "max": 32, "tooltip":
                          "linear layers in total: depth-1 sine layers + a linear output (paper: 6)"}),
                "steps": ("INT", {"default": 0, "min": 0, "max": 10_000_000, "tooltip":
                          "optimiser steps; 0 = run until the time budget is spent"}),
                "time_budget_s": ("FLOAT", {"default": 300.0, "min": 0.0, "max": 1e6, "step": 1.0, "tooltip":
                                  "stop after this many seconds (0 = no limit, then steps must be > 0); the cosine "
                                  "schedule spans the budget"}),
                "lr": ("FLOAT", {"default": FIT_DEFAULTS["lr"], "min": 1e-7, "max": 1.0, "step": 1e-6,
                                 "round": False, "tooltip":
                                 "peak Adam learning rate of the cosine schedule (paper: 3.6e-5 with width 720; "
                                 f"small CPU networks: {CPU_LR:g}, see docs/siren_of.md)"}),
                "batch_size": ("INT", {"default": FIT_DEFAULTS["batch_size"], "min": 1, "max": 1 << 22, "tooltip":
                               "random pixels per optimiser step (both loss terms use the same pixels)"}),
                "seed": ("INT", {"default": 0, "min": 0, "max": 2**31 - 1, "tooltip":
                         "initialisation and pixel sampling"}),
                "flow_preset": (list(FLOW_PRESETS), {"default": "medium", "tooltip":
                                "OpenCV DIS preset for the flow computed here when no FLOW is connected"}),
            },
            "optional": {
                "flow": ("FLOW", {"tooltip": "optical flow of these frames (Optical Flow node); computed with "
                                             "DIS when not connected"}),
                "timing": ("FRAME_TIMING", {"tooltip": "the clip's timing (uneven GIF delays are honoured); "
                                                       "without it the frames are evenly spaced"}),
            },
        }

    RETURN_TYPES = ("INR_MODEL", "IMAGE")
    RETURN_NAMES = ("model", "training_curve")
    FUNCTION = "fit"
    CATEGORY = f"{_comfy.CATEGORY}/implicit"
    DESCRIPTION = ("SIREN-OF: fit a SIREN f(x, y, t) -> RGB to this clip with the optical-flow constraint "
                   "∇f·(u,v,1) = 0 on its exact derivatives, then render any time with Render Frames.")

    def fit(self, frames, lambda_obs=LAMBDA_OBS, omega0=25.0, width=720, depth=6, steps=0, time_budget_s=300.0,
            lr=FIT_DEFAULTS["lr"], batch_size=FIT_DEFAULTS["batch_size"], seed=0, flow_preset="medium",
            flow=None, timing=None):
        frames = check_frames(frames, min_count=2, name="Fit SIREN-OF: frames")
        steps, budget = int(steps), float(time_budget_s)
        if steps <= 0 and budget <= 0:
            raise ValueError("Fit SIREN-OF: set steps > 0 or a time budget > 0 seconds (both are 0)")
        if flow_preset not in FLOW_PRESETS:
            raise ValueError(f"Fit SIREN-OF: unknown flow_preset {flow_preset!r}; choose one of {FLOW_PRESETS}")
        if timing is not None and len(timing) != frames.shape[0]:
            raise ValueError(f"Fit SIREN-OF: the timing has {len(timing)} timestamps but {frames.shape[0]} frames "
                             "arrived; connect the FRAME_TIMING that belongs to these frames")
        config = {"width": int(width), "depth": int(depth), "omega0": float(omega0), "seed": int(seed)}
        progress = _comfy.Progress(steps if steps > 0 else 1000)
        try:
            result = fit_siren_of(frames, flow, timing, lambda_obs=float(lambda_obs), config=config,
                                  steps=steps if steps > 0 else None, time_budget_s=budget if budget > 0 else None,
                                  flow_preset=flow_preset, progress=progress, device=_comfy.torch_device(),
                                  lr=float(lr), batch_size=int(batch_size), seed=int(seed))
        except ValueError as exc:
            raise ValueError(f"Fit SIREN-OF: {exc}") from exc
        model = result.model.cpu()
        title = (f"SIREN-OF fit: best {result.best_psnr:.2f} dB at step {result.best_step} "
                 f"({result.steps} steps, {result.seconds:.0f} s, stopped: {result.stopped_because})")
        return model, training_curves(result, float(lambda_obs), title)


NODE_CLASS_MAPPINGS = {"FrameWeaveFitSIRENOF": FrameWeaveFitSIRENOF}
NODE_DISPLAY_NAME_MAPPINGS = {"FrameWeaveFitSIRENOF": "Fit SIREN-OF (FrameWeave)"}
