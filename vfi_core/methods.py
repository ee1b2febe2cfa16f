"""Name -> whole-clip interpolator, for the CLI and the benchmarks.

Every method is ``interpolate_clip(frames [N,H,W,3], fractions, timing=None, progress=None,
**options) -> [(N-1)*(len(fractions)+1)+1, H,W,3]``: the input clip with a frame inserted at
each fraction of every interval (see ``sequence.insert_frames``). Modules are imported only when
their method is asked for, so the CLI starts fast and a method's heavy imports stay local.
"""
import importlib
import inspect

# name -> (module inside vfi_core, function name, one-line description)
METHODS = {
    "linear": (".baselines", "linear_blend_clip", "average of the two neighbours (baseline)"),
    "flow": (".baselines", "flow_warp_clip", "OpenCV DIS optical flow both ways, warp to t, blend (baseline)"),
    "neco": (".neco", "neco_interpolate_clip", "NeCo: Fourier features + residual MLP fitted to the clip"),
    "siren-of": (".siren", "siren_of_interpolate_clip", "SIREN fitted with an optical-flow constraint"),
    "sepconv": (".sepconv_infer", "sepconv_interpolate_clip", "SepConv: adaptive separable convolution network"),
    "sepconv-gan": (".sepconv_infer", "sepconv_gan_interpolate_clip", "SepConv generator trained adversarially"),
    "flowguided": (".flowguided_infer", "flowguided_interpolate_clip",
                   "Flow Warp corrected by a small network: small-K kernels on the warped frames, learned blend"),
}


def get_method(name: str):
    """The interpolate_clip function registered as ``name``; ValueError for an unknown name."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of: {', '.join(METHODS)}")
    module_name, func_name, _ = METHODS[name]
    try:
        module = importlib.import_module(module_name, __package__)
        return getattr(module, func_name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"method {name!r} is not available in this install: {exc}") from exc


# Parameters of the method functions that are not user options: the common interface, and
# objects the CLI cannot spell (a loaded model, a FLOW tensor, callbacks).
INTERFACE = ("frames", "fractions", "timing", "progress")
INTERNAL = ("model", "method", "flow", "config", "loss_fn", "sample_fn", "fit")


def method_options(func) -> list:
    """The keyword options a method function takes: its own named parameters, and where it passes
    ``**options`` on, those of the functions and config keys it lists in ``func.option_sources``."""
    sources = [func, *getattr(func, "option_sources", ())]
    names = []
    for src in sources:
        if callable(src):
            params = inspect.signature(src).parameters.values()
            keys = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        else:
            keys = list(src)
        names += [k for k in keys if k not in INTERFACE and k not in INTERNAL and k not in names]
    return names


def precheck(func, fractions, options: dict) -> None:
    """Raise ValueError for options or times the method would reject after reading the clip
    (``func.precheck(fractions, options)`` where the method has one)."""
    device = options.get("device")
    if device is not None and str(device).startswith("cuda"):
        import torch  # noqa: PLC0415
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r}: CUDA is not available in this install (use cpu)")
    check = getattr(func, "precheck", None)
    if check is not None:
        check(fractions, options)
