"""Fit SIREN-OF: a SIREN implicit video fitted with the optical-flow constraint on its derivatives."""
import torch

from ..vfi_core.plots import line_plot
from ..vfi_core.siren import FIT_DEFAULTS, LAMBDA_OBS, PAPER_CONFIG, fit_siren_of
from ._fit import (FRAMES_INPUT, HOLDOUT_INPUT, STEPS_INPUT, TIMING_INPUT, FitNode, batch_size_input,
                   check_fit_request, check_fit_timing, fit_limits, fit_output, fit_title, lr_input, seed_input,
                   time_budget_input, training_curve)

FLOW_PRESETS = ("ultrafast", "fast", "medium")
CPU_LR = 1e-4  # see docs/siren_of.md: the paper's 3.6e-5 converges too slowly within CPU minutes


def training_curves(result, lambda_obs: float, title: str) -> torch.Tensor:
    """IMAGE [1,H,W,3]: train PSNR against step, and below it L_obs / L_of (when fitted with it)."""
    top = training_curve(result.history, title)
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


class FrameWeaveFitSIRENOF(FitNode):
    """Fit SIREN-OF to a clip; render it with Render Frames."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "frames": FRAMES_INPUT,
                "lambda_obs": ("FLOAT", {"default": LAMBDA_OBS, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip":
                               "λ in L = λ·L_obs + (1-λ)·L_of: weight of the pixel MSE against the optical-flow "
                               "constraint; 1 = plain SIREN without the flow term (paper: 0.12)"}),
                "omega0": ("FLOAT", {"default": PAPER_CONFIG["omega0"], "min": 0.1, "max": 1000.0, "step": 0.5,
                                     "tooltip": "SIREN frequency factor ω0 in sin(ω0·(Wx+b)) (paper: 25)"}),
                "width": ("INT", {"default": PAPER_CONFIG["width"], "min": 4, "max": 4096, "tooltip":
                          "units per sine layer (paper: 720; 128-256 fit in CPU minutes)"}),
                "depth": ("INT", {"default": PAPER_CONFIG["depth"], "min": 2, "max": 64, "tooltip":
                          "linear layers in total: depth-1 sine layers + a linear output (paper: 6)"}),
                "steps": STEPS_INPUT,
                "time_budget_s": time_budget_input("stop after this many seconds (0 = no limit, then steps must "
                                                   "be > 0); the cosine schedule spans the budget"),
                "lr": lr_input(FIT_DEFAULTS["lr"], 1e-7,
                               "peak Adam learning rate of the cosine schedule (paper: 3.6e-5 with width 720; "
                               f"small CPU networks: {CPU_LR:g}, see docs/siren_of.md)"),
                "batch_size": batch_size_input(FIT_DEFAULTS["batch_size"], "random pixels per optimiser step "
                                               "(both loss terms use the same pixels)"),
                "seed": seed_input("initialisation and pixel sampling"),
                "flow_preset": (list(FLOW_PRESETS), {"default": "medium", "tooltip":
                                "OpenCV DIS preset for the flow computed here when no FLOW is connected"}),
            },
            "optional": {
                "flow": ("FLOW", {"tooltip": "optical flow of these frames (Optical Flow node); computed with "
                                             "DIS when not connected"}),
                "timing": TIMING_INPUT,
                "time_scale": ("FLOAT", {"default": -1.0, "min": -1.0, "max": 100.0, "step": 0.01, "tooltip":
                               "scale s of the time input (t -> s·t before the first sine layer); -1 (or 0) = auto: "
                               "the largest s <= 1 that starts the network below the frames' Nyquist rate "
                               "in time, so it does not oscillate between frames (short clips); 1 = the paper"}),
                "holdout": HOLDOUT_INPUT,
            },
        }

    DESCRIPTION = ("SIREN-OF: fit a SIREN f(x, y, t) -> RGB to this clip with the optical-flow constraint "
                   "∇f·(u,v,1) = 0 on its exact derivatives, then render any time with Render Frames.")

    def fit(self, frames, lambda_obs=LAMBDA_OBS, omega0=25.0, width=720, depth=6, steps=0, time_budget_s=300.0,
            lr=FIT_DEFAULTS["lr"], batch_size=FIT_DEFAULTS["batch_size"], seed=0, flow_preset="medium",
            time_scale=-1.0, flow=None, timing=None, holdout=-1):
        frames, steps, budget = check_fit_request("Fit SIREN-OF", frames, steps, time_budget_s)
        if flow_preset not in FLOW_PRESETS:
            raise ValueError(f"Fit SIREN-OF: unknown flow_preset {flow_preset!r}; choose one of {FLOW_PRESETS}")
        check_fit_timing("Fit SIREN-OF", frames, timing)
        config = {"width": int(width), "depth": int(depth), "omega0": float(omega0), "seed": int(seed),
                  "time_scale": float(time_scale) if float(time_scale) > 0 else -1.0}   # <= 0: auto
        limits = fit_limits(steps, budget)
        try:
            result = fit_siren_of(frames, flow, timing, lambda_obs=float(lambda_obs), config=config,
                                  flow_preset=flow_preset, lr=float(lr), batch_size=int(batch_size),
                                  seed=int(seed), holdout=int(holdout), **limits)
        except ValueError as exc:
            raise ValueError(f"Fit SIREN-OF: {exc}") from exc
        with torch.inference_mode(False):     # moved weights stay ordinary tensors (ComfyUI runs us in it)
            model = result.model.cpu()
        return fit_output(model, training_curves(result, float(lambda_obs), fit_title("SIREN-OF", result)), result)


NODE_CLASS_MAPPINGS = {"FrameWeaveFitSIRENOF": FrameWeaveFitSIRENOF}
NODE_DISPLAY_NAME_MAPPINGS = {"FrameWeaveFitSIRENOF": "Fit SIREN-OF (FrameWeave)"}
