"""NeCo: a residual coordinate MLP with Fourier features, fitted to one clip, rendered at any time.

Paper: "NeCo: Neural Coordinate-based Internal Learning for GIF Interframe Synthesis". No
training set: the network f_θ(x, y, t) -> RGB is fitted to the frames it is given (internal
learning) and evaluated at the in-between times.

Model (coordinates c = (x, y, t) ∈ [0,1]^3, see ``vfi_core.inr``):

    γ   = FourierFeatures(c)                       basic / gaussian / none (``fourier_features``)
    h_0 = φ(W_0 γ + b_0)                           layer 0: encoded input -> width
    h_k = φ(W_k [h_{k-1}, γ] + b_k)   k ∈ SKIPS    concatenation skip: γ re-injected
    h_k = φ(W_k h_{k-1} + b_k)        otherwise    k = 1 .. depth-2
    f   = 1/2 + W_{depth-1} h_{depth-2} + b        layer depth-1: linear RGB output

φ = LeakyReLU (slope 0.01). Layers are numbered 0..depth-1 (depth = 8 by default: 7 hidden
layers of ``width`` = 256 units, then the output layer); the skips feed [h, γ] into layers 2 and
5 (``SKIPS``; a skip index >= depth-1 is dropped for shallower networks). This is the "ResMLP"
of the issue: residual in the DenseNet/NeRF sense of re-injecting the input, not additive.

Output: linear, offset by 1/2 and clamped to 0..1 only when rendering (``ImplicitVideo.render``).
A sigmoid output would need unbounded logits for pure black/white pixels, which GIF palettes
are full of, and its vanishing gradient there slows the L2 fit; a linear output has a constant
gradient and the clamp costs nothing at render time (the train PSNR is measured after it).

Fit: L2 loss, Adam (lr 1e-3, weight decay 1e-8) on random batches of pixels
(``vfi_core.inr_fit.fit_implicit_video``).
"""
import torch

from .fourier_features import ENCODINGS, FourierFeatures
from .fit_quality import choose_holdout
from .inr import ImplicitVideo, default_device, iter_fit_and_render, plan_clip_run, register_inr
from .inr_fit import fit_implicit_video
from .timing import FrameTiming
from .validate import check_frames

SKIPS = (2, 5)
LEAKY_SLOPE = 0.01
DEFAULT_CONFIG = {"encoding": "basic", "L": 10, "sigma": 10.0, "width": 256, "depth": 8, "seed": 0, "time_L": -1}


def resolve_time_L(time_L: int, L: int, frame_count: int) -> int:
    """Frequencies kept on the time axis: ``time_L`` itself when >= 0, else (auto) min(L, T-2),
    the highest k strictly below the Nyquist rate of T frames (see ``fourier_features``)."""
    if int(time_L) >= 0:
        return min(int(time_L), int(L))
    return max(0, min(int(L), int(frame_count) - 2))

DEFAULT_TIME_BUDGET_S = 120.0   # fit length when neither steps nor a time budget is given
KEYFRAME_RESIDUAL = True        # the clip method renders with the keyframe residual (inr.with_keyframe_residual)

# fit defaults: the paper's Adam settings; batch 4096 gives twice the updates of 8192 for about the
# same pixels/s on a CPU (benchmarks/neco.py, docs/neco.md)
FIT_DEFAULTS = {"batch_size": 4096, "lr": 1e-3, "weight_decay": 1e-8, "lr_schedule": "constant",
                "plateau_patience": 2000, "eval_every": 100}


@register_inr
class NeCo(ImplicitVideo):
    """NeCo f(x, y, t) -> RGB. ``config``: encoding (basic | gaussian | none), L (frequencies per
    coordinate), sigma (std of the Gaussian frequencies), width, depth (fully connected layers
    in total, >= 2), seed (initialisation and Gaussian B), time_L (basic: frequencies kept on the
    time axis; -1 = auto, resolved and stored at construction from the training frame count)."""

    kind = "neco"

    def __init__(self, height: int, width: int, timing: FrameTiming, config: dict | None = None):
        cfg = dict(DEFAULT_CONFIG)
        cfg.update(config or {})
        encoding = str(cfg["encoding"])
        if encoding not in ENCODINGS:
            raise ValueError(f"NeCo encoding must be one of {', '.join(ENCODINGS)}, got {encoding!r}")
        L, hidden, depth, seed = int(cfg["L"]), int(cfg["width"]), int(cfg["depth"]), int(cfg["seed"])
        sigma = float(cfg["sigma"])
        time_L = resolve_time_L(cfg.get("time_L", -1), L, len(timing))
        if hidden < 1:
            raise ValueError(f"NeCo width must be >= 1, got {hidden}")
        if depth < 2:
            raise ValueError(f"NeCo depth must be >= 2 (one hidden layer and the output layer), got {depth}")
        cfg.update(encoding=encoding, L=L, sigma=sigma, width=hidden, depth=depth, seed=seed, time_L=time_L)
        super().__init__(height, width, timing, cfg)
        self.gamma = FourierFeatures(encoding, L, sigma, in_dim=3, seed=seed,
                                     time_L=time_L if encoding == "basic" else None)
        self.skips = tuple(k for k in SKIPS if 0 < k < depth - 1)
        e = self.gamma.out_dim
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            layers = []
            for k in range(depth):
                fan_in = e if k == 0 else hidden + (e if k in self.skips else 0)
                layers.append(torch.nn.Linear(fan_in, 3 if k == depth - 1 else hidden))
            self.layers = torch.nn.ModuleList(layers)
        self.act = torch.nn.LeakyReLU(LEAKY_SLOPE)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """coords [N,3] (x, y, t) in [0,1] -> RGB [N,3] (not clamped)."""
        g = self.gamma(coords)                                    # [N,e]
        h = g
        for k, layer in enumerate(self.layers[:-1]):
            if k in self.skips:
                h = torch.cat([h, g], dim=1)                      # [N,width+e]
            h = self.act(layer(h))                                # [N,width]
        return 0.5 + self.layers[-1](h)                           # [N,3]


def fit_neco(frames: torch.Tensor, timing: FrameTiming | None = None, *, config: dict | None = None,
             steps=None, time_budget_s=None, progress=None, device=None, holdout=-1, **fit_options):
    """Build a NeCo for ``frames`` [T,H,W,3] (timing: the frames' FRAME_TIMING, default evenly
    spaced) and fit it (for ``DEFAULT_TIME_BUDGET_S`` seconds unless steps / time_budget_s say
    otherwise; the plateau stop may end it sooner); returns ``inr_fit.FitResult`` (``.model`` is the fitted NeCo).
    ``holdout``: frames held out of most of the fit to measure it between frames (-1 auto, 0 none,
    a count, or a list of indices; ``fit_quality.choose_holdout``). ``fit_options`` go to
    ``fit_implicit_video`` (batch_size, lr, weight_decay, refit_share, ...)."""
    frames = check_frames(frames, min_count=2)
    if timing is None:
        timing = FrameTiming.from_fps(frames.shape[0], 1.0)
    if len(timing) != frames.shape[0]:
        raise ValueError(f"timing has {len(timing)} frames but the clip has {frames.shape[0]}")
    options = dict(FIT_DEFAULTS)
    options.update(fit_options)
    if steps is None and time_budget_s is None:
        time_budget_s = DEFAULT_TIME_BUDGET_S
    with torch.inference_mode(False):
        model = NeCo(frames.shape[1], frames.shape[2], timing, config)
        if device is not None:
            model = model.to(device)
        return fit_implicit_video(model, frames, steps=steps, time_budget_s=time_budget_s,
                                  progress=progress, device=device,
                                  holdout=resolve_holdout(holdout, frames.shape[0]), **options)


def resolve_holdout(holdout, n_frames: int) -> list:
    """Held-out frame indices from a count (-1 auto, 0 none; ``choose_holdout``) or a list."""
    if isinstance(holdout, (list, tuple)):
        return [int(h) for h in holdout]
    if isinstance(holdout, bool) or not float(holdout).is_integer():
        raise ValueError(f"holdout must be -1 (auto), 0 (none), a number of frames or a list of indices, got {holdout!r}")
    return choose_holdout(n_frames, int(holdout))


def neco_iter_clip(frames: torch.Tensor, fractions, timing: FrameTiming | None = None, progress=None,
                   notify=None, report: dict | None = None, keyframe_residual: bool = KEYFRAME_RESIDUAL, **options):
    """The streaming form of ``neco_interpolate_clip``: the same clip yielded one [1,H,W,3] frame at a
    time (``inr.iter_fit_and_render``). ``time_budget_s`` covers fit and render: the render is
    timed before the fit starts (``inr.plan_clip_run``) and ``notify(text)`` announces it;
    ``report`` receives the fit report and its quality verdict."""
    frames = check_frames(frames, min_count=2)
    config = {k: options.pop(k) for k in list(options) if k in DEFAULT_CONFIG}
    if options.get("device") is None:
        options["device"] = default_device()
    if timing is None:
        timing = FrameTiming.from_fps(frames.shape[0], 1.0)
    if options.get("steps") is None and options.get("time_budget_s") is None:
        options["time_budget_s"] = DEFAULT_TIME_BUDGET_S
    with torch.inference_mode(False):
        probe = NeCo(frames.shape[1], frames.shape[2], timing, config)
    renders = (frames.shape[0] - 1) * len(fractions) + (frames.shape[0] if keyframe_residual else 0)
    plan = plan_clip_run(probe, renders, options["device"],
                         options.get("time_budget_s"), options.get("steps"),
                         int(options.get("batch_size", FIT_DEFAULTS["batch_size"])))
    if plan.fit_budget_s is not None:
        options["time_budget_s"] = plan.fit_budget_s
    if notify is not None:
        notify(plan.note)
    return iter_fit_and_render(
        frames, fractions, timing,
        lambda fit_progress: fit_neco(frames, timing, config=config, progress=fit_progress, **options).model,
        progress, fit_share=plan.fit_share, report=report, keyframe_residual=bool(keyframe_residual))


def neco_interpolate_clip(frames: torch.Tensor, fractions, timing: FrameTiming | None = None,
                          progress=None, keyframe_residual: bool = KEYFRAME_RESIDUAL, **options) -> torch.Tensor:
    """The ``methods.py`` interface: fit NeCo on ``frames`` [N,H,W,3] and return
    [(N-1)·(m+1)+1, H,W,3], the input frames kept as they are with m rendered frames inserted at
    each fraction of every interval (times taken from ``timing`` when given, so uneven GIF delays
    are honoured).

    ``options``: model config keys (encoding, L, sigma, width, depth, seed), fit options
    (steps, time_budget_s — fit and render together —, holdout, batch_size, lr, ...), and ``device``.
    ``keyframe_residual``: the rendered frames get the fit's error on their two input frames
    (``inr.with_keyframe_residual``; False = the model alone, as the paper renders).
    """
    return torch.cat(list(neco_iter_clip(frames, fractions, timing, progress, keyframe_residual=keyframe_residual,
                                         **options)), dim=0)


neco_interpolate_clip.option_sources = (tuple(DEFAULT_CONFIG), fit_neco, fit_implicit_video)
neco_interpolate_clip.iterate = neco_iter_clip
