"""Implicit video nodes: Fit NeCo, Render Frames (any INR_MODEL: NeCo, SIREN-OF), Save / Load INR."""
import math
import re
from pathlib import Path

import torch

from ..vfi_core.fourier_features import ENCODINGS
from ..vfi_core.inr import ImplicitVideo, iter_render_keyframe_residual, load_inr
from ..vfi_core.neco import DEFAULT_CONFIG, FIT_DEFAULTS, fit_neco
from ..vfi_core.timing import FrameTiming, multiplier_fractions, parse_times
from ..vfi_core.validate import check_frames
from . import _comfy
from ._widgets import MULTIPLIER_MAX
from ._fit import (FRAMES_INPUT, HOLDOUT_INPUT, STEPS_INPUT, TIMING_INPUT, FitNode, batch_size_input,
                   check_fit_request, check_fit_timing, fit_limits, fit_output, fit_title, lr_input, seed_input,
                   time_budget_input, training_curve)

INR_SUFFIX = ".safetensors"


def _check_model(model) -> ImplicitVideo:
    if not isinstance(model, ImplicitVideo):
        raise ValueError(f"expected a fitted implicit video model (INR_MODEL), got {type(model).__name__}")
    return model


class FrameWeaveFitNeCo(FitNode):
    """Fit NeCo (Fourier features + residual MLP) to a clip; render it with Render Frames."""

    @classmethod
    def INPUT_TYPES(cls):
        d = DEFAULT_CONFIG
        return {
            "required": {
                "frames": FRAMES_INPUT,
                "steps": STEPS_INPUT,
                "time_budget_s": time_budget_input("stop after this many seconds (0 = no time limit, then steps "
                                                   "must be > 0); the fit also stops early when the train PSNR "
                                                   "stops improving"),
                "encoding": (list(ENCODINGS), {"default": d["encoding"], "tooltip":
                             "Fourier feature mapping: basic sin/cos(k·π·v), k=1..L; gaussian sin/cos(2π·B·v), "
                             "B ~ N(0, sigma²); none = raw coordinates"}),
                "L": ("INT", {"default": d["L"], "min": 1, "max": 64, "tooltip":
                      "frequencies per coordinate (basic: highest is L·π; gaussian: 3·L random rows of B)"}),
                "sigma": ("FLOAT", {"default": d["sigma"], "min": 0.1, "max": 1000.0, "step": 0.1, "tooltip":
                          "standard deviation of the Gaussian frequencies (gaussian encoding only)"}),
                "time_L": ("INT", {"default": d["time_L"], "min": -1, "max": 64, "tooltip":
                           "basic encoding: frequencies kept on the time axis; -1 = auto, min(L, frames-2), "
                           "below the Nyquist rate of the frames so the fit does not oscillate between them; "
                           "L = the paper's encoding"}),
                "width": ("INT", {"default": d["width"], "min": 4, "max": 4096, "tooltip": "units per hidden layer"}),
                "depth": ("INT", {"default": d["depth"], "min": 2, "max": 64, "tooltip":
                          "fully connected layers in total (skips re-inject the encoding before layers 2 and 5)"}),
                "lr": lr_input(FIT_DEFAULTS["lr"], 1e-7, "Adam learning rate"),
                "weight_decay": ("FLOAT", {"default": FIT_DEFAULTS["weight_decay"], "min": 0.0, "max": 1.0,
                                           "step": 1e-9, "round": False, "tooltip": "Adam weight decay"}),
                "batch_size": batch_size_input(FIT_DEFAULTS["batch_size"], "random pixels per optimiser step"),
                "seed": seed_input("initialisation, Gaussian frequencies and pixel sampling"),
            },
            "optional": {"timing": TIMING_INPUT, "holdout": HOLDOUT_INPUT},
        }

    DESCRIPTION = ("NeCo: fit a coordinate network f(x, y, t) -> RGB to this clip (no training set), then render "
                   "any time with Render Frames. Returns the model with the best train PSNR and its training curve.")

    def fit(self, frames, steps=0, time_budget_s=300.0, encoding="basic", L=10, sigma=10.0, width=256, depth=8, time_L=-1,
            lr=1e-3, weight_decay=1e-8, batch_size=4096, seed=0, timing=None, holdout=-1):
        frames, steps, budget = check_fit_request("Fit NeCo", frames, steps, time_budget_s)
        check_fit_timing("Fit NeCo", frames, timing)
        config = {"encoding": encoding, "L": int(L), "sigma": float(sigma), "width": int(width),
                  "depth": int(depth), "seed": int(seed), "time_L": int(time_L)}
        result = fit_neco(frames, timing, config=config, lr=float(lr), weight_decay=float(weight_decay),
                          batch_size=int(batch_size), seed=int(seed), holdout=int(holdout), **fit_limits(steps, budget))
        with torch.inference_mode(False):     # moved weights stay ordinary tensors (ComfyUI runs us in it)
            model = result.model.cpu()
        return fit_output(model, training_curve(result.history, fit_title("NeCo", result)), result)


def absolute_render_times(text: str) -> list:
    """Normalised clip times from a widget string "0, 0.1, 0.5": numbers in [0, 1], sorted, unique."""
    try:
        values = [float(v) for v in text.replace(";", ",").split(",") if v.strip()]
    except ValueError as exc:
        raise ValueError(f"could not read absolute_times {text!r}: use numbers between 0 and 1 separated "
                         "by commas") from exc
    if not values:
        raise ValueError("absolute_times is empty: write numbers between 0 and 1 separated by commas")
    if any(not (math.isfinite(v) and 0.0 <= v <= 1.0) for v in values):
        raise ValueError(f"absolute_times must lie between 0 (first frame) and 1 (last frame), got {values}")
    return sorted(set(values))


def render_schedule(timing: FrameTiming, multiplier: int = 1, times: str = "", absolute_times: str = ""):
    """(normalised times to render [N], FrameTiming of the rendered clip) for a model's training timing.

    absolute_times (if given) wins over times, which wins over multiplier:
    - absolute_times: the clip times listed (0 = first training frame, 1 = last), sorted;
    - times: fractions f in (0,1) inserted in every interval between training frames;
    - multiplier m: fractions j/m, j = 1..m-1 (m = 1 renders the training times only).
    The training frames are part of the output in the last two cases.
    """
    ts = timing.timestamps
    if (absolute_times or "").strip():
        u = absolute_render_times(absolute_times)
        seconds = tuple(ts[0] + v * (ts[-1] - ts[0]) for v in u)
        if len(seconds) > 1 and any(b <= a for a, b in zip(seconds[:-1], seconds[1:])):
            raise ValueError("absolute_times are too close together to keep distinct timestamps")
        return torch.tensor(u, dtype=torch.float32), FrameTiming(seconds, timing.end)
    fractions = parse_times(times) if (times or "").strip() else multiplier_fractions(int(multiplier))
    out_timing = timing.with_inserted(fractions) if fractions else timing
    return torch.as_tensor(out_timing.normalised() if len(timing) > 1 else [0.0], dtype=torch.float32), out_timing


class FrameWeaveRenderFrames:
    """Render any fitted implicit video model (NeCo, SIREN-OF) at new times."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": ("INR_MODEL", {"tooltip": "a fitted NeCo or SIREN-OF model"}),
                "multiplier": ("INT", {"default": 2, "min": 1, "max": MULTIPLIER_MAX, "tooltip":
                               "frames per training interval: inserts j/m, j=1..m-1; 1 = re-render the "
                               "training frames"}),
            },
            "optional": {
                "times": ("STRING", {"default": "", "tooltip":
                          "explicit fractions between training frames, e.g. 0.5 or 0.25,0.75 (overrides "
                          "multiplier)"}),
                "absolute_times": ("STRING", {"default": "", "tooltip":
                                   "clip times to render, 0 = first training frame, 1 = last, e.g. "
                                   "0,0.33,0.5 (overrides multiplier and times)"}),
                "frames": ("IMAGE", {"tooltip": "the frames the model was fitted to: every rendered frame then "
                                     "gets the fit's error on the two frames around it (keyframe residual): "
                                     "the input frames come out exactly, the in-between ones keep their detail"}),
            },
        }

    RETURN_TYPES = ("IMAGE", "FRAME_TIMING")
    RETURN_NAMES = ("frames", "timing")
    FUNCTION = "render"
    CATEGORY = f"{_comfy.CATEGORY}/implicit"
    DESCRIPTION = ("Render a fitted implicit video at the training times plus inserted ones (multiplier / "
                   "times) or at the given clip times; the timing keeps the clip's length.")

    def render(self, model, multiplier=2, times="", absolute_times="", frames=None):
        model = _check_model(model)
        if frames is not None:
            frames = check_frames(frames, name="Render Frames: frames")
            if frames.shape[0] != len(model.timing) or tuple(frames.shape[1:3]) != (model.height, model.width):
                raise ValueError(f"Render Frames: frames must be the {len(model.timing)} frames of {model.width}x"
                                 f"{model.height} the model was fitted to, got {frames.shape[0]} of "
                                 f"{frames.shape[2]}x{frames.shape[1]}")
        render_times, out_timing = render_schedule(model.timing, int(multiplier), times, absolute_times)
        device = _comfy.torch_device()
        original = next(model.parameters()).device
        progress = _comfy.Progress(len(render_times) * model.height * model.width)   # pixels
        try:
            with torch.inference_mode(False):      # moving the weights must not make inference tensors
                model.to(device)
            seconds = len(render_times) * model.height * model.width * model.seconds_per_pixel(device)
            print(f"[FrameWeave] Render Frames: {len(render_times)} frames of {model.width}x{model.height} with this "
                  f"{model.kind} model take about {seconds:.0f} s on {device.type}")
            if frames is None:
                frames = model.render(render_times, progress=progress)
            else:
                frames = torch.cat(list(iter_render_keyframe_residual(model, render_times, frames, progress)))
        finally:
            with torch.inference_mode(False):
                model.to(original)
        return frames, out_timing


def _next_free(folder: Path, stem: str) -> Path:
    n = 1
    while (folder / f"{stem}_{n:05d}{INR_SUFFIX}").exists():
        n += 1
    return folder / f"{stem}_{n:05d}{INR_SUFFIX}"


class FrameWeaveSaveINR:
    """Save a fitted implicit video model as safetensors in ComfyUI's output folder."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": ("INR_MODEL",),
                "filename_prefix": ("STRING", {"default": "frameweave/inr", "tooltip":
                                    "file name start inside the output folder; may include a subfolder"}),
            },
        }

    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("path",)
    FUNCTION = "save"
    OUTPUT_NODE = True
    CATEGORY = f"{_comfy.CATEGORY}/implicit"
    DESCRIPTION = "Write the fitted model (weights, size, timing, config, fit report) to <prefix>_00001.safetensors."

    def save(self, model, filename_prefix="frameweave/inr"):
        model = _check_model(model)
        root = _comfy.output_directory().resolve()
        prefix = (filename_prefix or "frameweave/inr").strip().replace("\\", "/")
        target_dir = (root / prefix).parent.resolve()
        if root != target_dir and root not in target_dir.parents:
            raise ValueError(f"Save INR: filename_prefix {filename_prefix!r} points outside the output folder")
        stem = re.sub(r"[^\w.\-]", "_", Path(prefix).name) or "inr"
        target_dir.mkdir(parents=True, exist_ok=True)
        path = _next_free(target_dir, stem)
        model.save(path)      # written as path.part, then renamed
        return {"ui": {"text": [str(path)]}, "result": (str(path),)}


def resolve_model_path(path: str) -> Path:
    """An absolute path as is; a relative one in ComfyUI's output folder, its input folder, then the
    current folder. FileNotFoundError lists the places tried."""
    text = (path or "").strip().strip('"').strip("'")
    if not text:
        raise ValueError("Load INR: path is empty; give a .safetensors file written by Save INR")
    p = Path(text).expanduser()
    if p.is_absolute():
        if not p.is_file():
            raise FileNotFoundError(f"Load INR: {p} does not exist")
        return p
    bases = [b for b in (_comfy.output_directory(), _comfy.input_directory(), Path.cwd()) if b is not None]
    for base in bases:
        if (base / p).is_file():
            return base / p
    raise FileNotFoundError(f"Load INR: {text!r} not found in " + ", ".join(str(b) for b in bases))


class FrameWeaveLoadINR:
    """Load an implicit video model saved by Save INR (any kind: NeCo, SIREN-OF)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "path": ("STRING", {"default": "frameweave/inr_00001.safetensors", "tooltip":
                         "a .safetensors file; relative paths are looked up in the output folder, the "
                         "input folder, then the current folder"}),
            },
        }

    RETURN_TYPES = ("INR_MODEL",)
    RETURN_NAMES = ("model",)
    FUNCTION = "load"
    CATEGORY = f"{_comfy.CATEGORY}/implicit"
    DESCRIPTION = "Load a fitted NeCo / SIREN-OF model; render it with Render Frames."

    def load(self, path):
        return (load_inr(resolve_model_path(path), device="cpu"),)

    @classmethod
    def IS_CHANGED(cls, path, **_):
        try:
            st = resolve_model_path(path).stat()
            return f"{st.st_mtime_ns}:{st.st_size}"
        except (OSError, ValueError):
            return float("nan")


NODE_CLASS_MAPPINGS = {
    "FrameWeaveFitNeCo": FrameWeaveFitNeCo,
    "FrameWeaveRenderFrames": FrameWeaveRenderFrames,
    "FrameWeaveSaveINR": FrameWeaveSaveINR,
    "FrameWeaveLoadINR": FrameWeaveLoadINR,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "FrameWeaveFitNeCo": "Fit NeCo (FrameWeave)",
    "FrameWeaveRenderFrames": "Render Frames (FrameWeave)",
    "FrameWeaveSaveINR": "Save INR (FrameWeave)",
    "FrameWeaveLoadINR": "Load INR (FrameWeave)",
}
