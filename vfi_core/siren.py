"""SIREN-OF: a SIREN implicit video fitted with an optical-flow constraint on its derivatives.

Paper: "Optical Flow Regularization of Implicit Neural Representations for Video Frame
Interpolation". The model is a SIREN (Sitzmann et al., "Implicit Neural Representations with
Periodic Activation Functions", 2020) f_θ(x, y, t) -> RGB:

    h_0 = 2c - 1                               c ∈ [0,1]^3 (x, y, t) -> [-1,1]^3
    h_k = sin(ω0 · (W_k h_{k-1} + b_k))        k = 1 .. depth-1   (sine layers, ``width`` units)
    f   = 1/2 + 1/2 · (W_depth h_{depth-1} + b_depth)             (linear output, RGB)

ω0 multiplies the pre-activation of every sine layer (first and hidden alike). Initialisation
(Sitzmann et al. §3.2, n = fan-in): first layer W_1 ~ U(-1/n, 1/n); later layers (hidden and
output) W_k ~ U(-√(6/n)/ω0, √(6/n)/ω0), so that ω0·W_k ~ U(±√(6/n)) keeps the pre-activations of
every sine layer standard-normal-like; biases keep PyTorch's default U(-1/√n, 1/√n). The network
works in SIREN's [-1,1] colour range; the output map 1/2 + 1/2·(·) gives RGB in 0..1.

Time scale (``time_scale``, our addition): the time input is multiplied by s before the first
layer, h_0 = (2x-1, 2y-1, s·(2t-1)). At initialisation the first layer's weights on h_0's time
component are at most 1/n (n = 3 inputs), so its sines turn by at most ω0·s/3 radians per unit of
2t-1; two frames Δt apart in normalised time are 2·Δt apart there, so the largest phase step
between consecutive frames is

    φ = 2·ω0·s·Δt_max / 3        (Δt_max = 1/(T-1) for T evenly spaced frames).   (time phase)

With the paper's s = 1, ω0 = 25 and 5 frames, φ ≈ 4.2 rad > π: above the frames' Nyquist rate,
the network can pass through every frame and oscillate between them (as NeCo's uncapped time
frequencies do, see ``fourier_features``). ``time_scale = -1`` (auto) picks
s = min(1, 3·TIME_PHASE / (2·ω0·Δt_max)), i.e. φ ≤ TIME_PHASE for the widest gap of the clip's
own (possibly uneven) timing; evenly timed clips of 29 frames or more keep the paper's s = 1.
It bounds the first layer at initialisation only (training may raise the frequencies, deeper
layers add harmonics), which is why TIME_PHASE sits well below π: 0.6 rad, chosen with the sweep
of ``benchmarks/siren_of.py --time-scales`` (docs/siren_of.md), where plain SIREN fits rebuilt
dropped frames 15–16 dB better at φ = 0.3–0.6 rad than at s = 1. ``time_scale = 1`` is the paper's
network exactly, and the default of ``SirenVideo`` itself (a model file saved without the key
was fitted with s = 1); the fit function and node default to auto.

Paper settings: depth 6, width 720, ω0 = 25, λ = 0.12, Adam with a cosine schedule, max lr 3.6e-5.
They are the defaults here except λ (0.99, measured: see LAMBDA_OBS and docs/siren_of.md).
The loss (``vfi_core.flow_constraint``): L = λ·L_obs + (1-λ)·L_of.
"""
import math

import torch
import torch.nn.functional as F

from .inr import ImplicitVideo, register_inr
from .inr_fit import fit_implicit_video

PAPER_CONFIG = {"width": 720, "depth": 6, "omega0": 25.0}
CONFIG_KEYS = (*PAPER_CONFIG, "time_scale")  # the model's options (``seed`` comes from the fit's seed)
TIME_PHASE = 0.6   # auto time scale: largest initial phase step between frames (rad), eq. (time phase)


def check_time_scale(time_scale: float) -> float:
    """``time_scale`` as a float: > 0 (finite), or -1 for auto; anything else raises ValueError."""
    time_scale = float(time_scale)
    if not ((time_scale > 0 and math.isfinite(time_scale)) or time_scale == -1):
        raise ValueError(f"SIREN time_scale must be > 0, or -1 for auto, got {time_scale}")
    return time_scale


def resolve_time_scale(time_scale: float, omega0: float, times) -> float:
    """The time input's scale s: ``time_scale`` itself when > 0, else (auto, -1) the largest
    s <= 1 whose initial phase step between the frames at normalised ``times`` ([T] in [0,1]) is
    at most TIME_PHASE (eq. time phase)."""
    time_scale = check_time_scale(time_scale)
    if time_scale > 0:
        return time_scale
    times = sorted(float(t) for t in times)
    widest = max((b - a for a, b in zip(times[:-1], times[1:])), default=1.0)   # Δt_max
    if widest <= 0:
        return 1.0
    return min(1.0, 3.0 * TIME_PHASE / (2.0 * float(omega0) * widest))


@register_inr
class SirenVideo(ImplicitVideo):
    """SIREN f(x, y, t) -> RGB. ``config``: width (units per sine layer), depth (linear layers in
    total, >= 2: depth-1 sine layers + a linear output), omega0, seed (initialisation),
    time_scale (s of the time input, default 1 = the paper; -1 = auto, resolved and stored at
    construction from the training frames' timing, see the module docstring)."""

    kind = "siren-of"

    def __init__(self, height: int, width: int, timing, config: dict | None = None):
        cfg = dict(PAPER_CONFIG, time_scale=1.0)   # no key: a file from before the option (s = 1)
        cfg.update(config or {})
        hidden, depth, omega0 = int(cfg["width"]), int(cfg["depth"]), float(cfg["omega0"])
        if hidden < 1:
            raise ValueError(f"SIREN width must be >= 1, got {hidden}")
        if depth < 2:
            raise ValueError(f"SIREN depth must be >= 2 (one sine layer and the output layer), got {depth}")
        if not (math.isfinite(omega0) and omega0 > 0):
            raise ValueError(f"SIREN omega0 must be a positive number, got {cfg['omega0']}")
        time_scale = resolve_time_scale(cfg["time_scale"], omega0, timing.normalised())
        cfg.update(width=hidden, depth=depth, omega0=omega0, time_scale=time_scale)
        super().__init__(height, width, timing, cfg)
        self.omega0 = omega0
        self.register_buffer("input_scale", torch.tensor([1.0, 1.0, time_scale]), persistent=False)
        dims = [3] + [hidden] * (depth - 1)
        self.sines = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.out = torch.nn.Linear(hidden, 3)
        self.reset_parameters(cfg.get("seed"))

    @torch.no_grad()
    def reset_parameters(self, seed=None) -> None:
        """Sitzmann et al. initialisation (see module docstring); ``seed`` makes it reproducible."""
        gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        for k, layer in enumerate(list(self.sines) + [self.out]):
            n = layer.in_features
            bound = 1.0 / n if k == 0 else math.sqrt(6.0 / n) / self.omega0
            layer.weight.copy_(torch.empty_like(layer.weight).uniform_(-bound, bound, generator=gen))
            b = 1.0 / math.sqrt(n)
            layer.bias.copy_(torch.empty_like(layer.bias).uniform_(-b, b, generator=gen))

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """coords [N,3] (x, y, t) in [0,1] -> RGB [N,3] (not clamped)."""
        h = (coords * 2.0 - 1.0) * self.input_scale.to(coords.dtype)  # [N,3]: x, y in [-1,1], t in [-s,s]
        first, *hidden = self.sines
        # The first layer's phases reach tens of radians, where bfloat16 steps by 0.125 rad: under
        # mixed precision it stays float32 (3 inputs: negligible cost); the hidden layers' phases
        # are O(1) rad by the initialisation and tolerate it.
        with torch.autocast(device_type=coords.device.type, enabled=False):
            acc = torch.promote_types(h.dtype, torch.float32)
            h = torch.sin(self.omega0 * F.linear(h.to(acc), first.weight.to(acc), first.bias.to(acc)))  # [N,width]
        for layer in hidden:
            h = torch.sin(self.omega0 * layer(h))                # [N,width]
        return 0.5 + 0.5 * self.out(h)                           # [N,3]


# --- fitting (SIREN-OF) ------------------------------------------------------------------------
# Paper settings. On a 2-core CPU the paper's width 720 / lr 3.6e-5 make too few steps in minutes
# to converge: see docs/siren_of.md for the measured CPU settings.
FIT_DEFAULTS = {"batch_size": 4096, "lr": 3.6e-5, "weight_decay": 0.0, "lr_schedule": "cosine",
                "plateau_patience": 0, "eval_every": 100}
PAPER_LAMBDA_OBS = 0.12  # the paper's λ
# Default λ: measured (benchmarks/siren_of.py, docs/siren_of.md; 1500-step CPU fits, auto time
# scale, two dev clips, k = 2 and 4). With velocities in the [0,1] input units per normalised time
# the L1 flow term's gradient outweighs the MSE's unless λ is close to 1: the dropped frames scored
# 19.1-22.0 dB at the paper's 0.12, 22.7-24.6 at 0.5, 25.0-26.9 at 0.9, and 25.1-27.9 at 0.99,
# level with λ = 1 on average (+0.04 dB) and best where the gaps are widest (realshort k = 4).
LAMBDA_OBS = 0.99
TERMS_EVERY = 10  # record (step, L_obs, L_of) every this many steps
METHOD_TIME_BUDGET_S = 120.0  # siren_of_interpolate_clip without steps / time budget: fit + render (CLI)
KEYFRAME_RESIDUAL = True      # the clip method renders with the keyframe residual (inr.with_keyframe_residual)
# the clip method's (CLI) network and fit on a CPU: the paper's width 720 makes a few steps a minute there
# and renders a 320x240 frame in seconds (docs/siren_of.md); on CUDA the paper's settings. Options override.
METHOD_CONFIG = {"width": 128, "depth": 4}
METHOD_FIT = {"lr": 1e-3, "batch_size": 2048}


def method_defaults(device) -> tuple:
    """(config, fit options) of the clip method on ``device``: the CPU network above, or the paper's."""
    if torch.device(device).type == "cpu":
        return dict(METHOD_CONFIG), dict(METHOD_FIT)
    return dict(PAPER_CONFIG), {"lr": FIT_DEFAULTS["lr"], "batch_size": FIT_DEFAULTS["batch_size"]}


def _flow_for(frames, flow, preset, progress=None):
    """The FlowField of ``frames``: ``flow`` checked against them, or DIS flow (both ways)."""
    from .flow import as_flow_field, estimate_flow  # noqa: PLC0415  (OpenCV only when needed)

    if flow is not None:
        return as_flow_field(flow, frames)
    return estimate_flow(frames, preset=preset, backward=True, progress=progress)


def _kept_velocity(frames, field, timing, held, preset) -> torch.Tensor:
    """Velocities [T,H*W,2] of the flow term while the frames ``held`` are out of the fit: every
    kept frame's motion to the next kept one (pairs around a held-out frame get their own DIS flow,
    so nothing of the held-out frame reaches the fit); the held-out frames' rows are zero (unused)."""
    from .flow import dis_estimator, dis_flow_pair, to_gray_uint8  # noqa: PLC0415
    from .flow_constraint import flow_velocity  # noqa: PLC0415

    T, H, W, _ = frames.shape
    kept = [i for i in range(T) if i not in set(held)]
    gray = to_gray_uint8(frames)                                          # [T,H,W] uint8
    dis = dis_estimator(preset)
    forward, backward = [], []
    for a, b in zip(kept[:-1], kept[1:]):
        if b == a + 1:
            forward.append(field.forward[a])
            backward.append(None if field.backward is None else field.backward[a])
        else:
            forward.append(torch.from_numpy(dis_flow_pair(gray[a], gray[b], dis=dis)))
            backward.append(None if field.backward is None else torch.from_numpy(dis_flow_pair(gray[b], gray[a], dis=dis)))
    times = [timing.normalised()[i] for i in kept]
    velocity = flow_velocity(torch.stack(forward), None if field.backward is None else torch.stack(backward), times)
    table = torch.zeros(T, H * W, 2)
    table[kept] = velocity.float().reshape(len(kept), H * W, 2)
    return table


def fit_siren_of(frames: torch.Tensor, flow=None, timing=None, *, lambda_obs: float = LAMBDA_OBS,
                 config: dict | None = None, steps=None, time_budget_s=None, flow_preset: str = "medium",
                 progress=None, device=None, holdout=-1, **fit_options):
    """Build a SIREN for ``frames`` [T,H,W,3] and fit it with L = λ·L_obs + (1-λ)·L_of.

    flow: FLOW of the clip (``vfi_core.flow.FlowField``, or a forward-flow tensor [T-1,H,W,2] in
        pixels); None computes OpenCV DIS flow both ways with ``flow_preset``. Not needed for λ = 1.
    timing: the frames' FRAME_TIMING (default evenly spaced); velocities use its intervals.
    lambda_obs: λ in [0, 1]; 1 = plain SIREN fit without the flow term.
    config: SirenVideo config (width, depth, omega0, time_scale — default -1, auto —, seed).
    holdout: frames held out of most of the fit to measure it between frames (-1 auto, 0 none, a
        count or a list of indices; ``neco.resolve_holdout``); while they are out, the flow term
        uses flows between the kept frames only (``_kept_velocity``).
    fit_options: ``inr_fit.fit_implicit_video`` options (batch_size, lr, lr_schedule, seed, ...).
    Returns ``inr_fit.FitResult`` with an extra ``terms`` list [(step, L_obs, L_of or None)];
    the model's ``fit_report`` gets lambda_obs, the flow's source and the same terms.
    """
    from .flow_constraint import flow_velocity, siren_of_loss  # noqa: PLC0415
    from .neco import resolve_holdout  # noqa: PLC0415
    from .timing import FrameTiming  # noqa: PLC0415
    from .validate import check_frames  # noqa: PLC0415

    frames = check_frames(frames, min_count=2)
    lam = float(lambda_obs)
    if not (math.isfinite(lam) and 0.0 <= lam <= 1.0):
        raise ValueError(f"lambda_obs must lie in [0, 1] (1 = no flow term), got {lambda_obs}")
    T, H, W, _ = frames.shape
    if timing is None:
        timing = FrameTiming.from_fps(T, 1.0)
    if len(timing) != T:
        raise ValueError(f"timing has {len(timing)} frames but the clip has {T}")
    options = dict(FIT_DEFAULTS)
    options.update(fit_options)
    if steps is None and time_budget_s is None:
        steps = 2000
    cfg = {"seed": int(options.get("seed", 0)), "time_scale": -1.0}
    cfg.update(config or {})
    check_time_scale(cfg["time_scale"])                  # before the (slow) flow estimation
    held = resolve_holdout(holdout, T)
    with torch.inference_mode(False):
        frames = frames.clone()
        field = None

        def setup_check(*_):                    # progress(0, ...): only Cancel is checked while setting up
            if progress is not None:
                progress(0, int(steps) if steps is not None else 1000)

        if lam < 1.0 or flow is not None:
            field = _flow_for(frames, flow, flow_preset, setup_check)
        model = SirenVideo(H, W, timing, cfg)
        if device is not None:
            model = model.to(device)
        dev = next(model.parameters()).device if device is None else torch.device(device)
        velocity = velocity_kept = None
        if lam < 1.0:
            velocity = flow_velocity(field.forward, field.backward, timing.normalised())   # [T,H,W,2]
            velocity = velocity.float().reshape(T, H * W, 2).to(dev)                      # [T,H*W,2]
            setup_check()
            if held:
                velocity_kept = _kept_velocity(frames, field, timing, held, flow_preset).to(dev)
                setup_check()
        terms = []

        def loss_fn(net, batch):
            coords = batch["coords"].float()
            table = velocity_kept if batch.get("holdout") and velocity_kept is not None else velocity
            vel = table[batch["frame_index"], batch["pixel_index"]] if table is not None else None
            loss, l_obs, l_of = siren_of_loss(net, coords, batch["rgb"].float(), vel, lam)
            if batch["step"] % TERMS_EVERY == 0 and batch.get("chunk", 0) == 0:
                terms.append((batch["step"], float(l_obs.detach()), None if l_of is None else float(l_of.detach())))
            return loss

        result = fit_implicit_video(model, frames, steps=steps, time_budget_s=time_budget_s,
                                    loss_fn=loss_fn, progress=progress, device=device, holdout=held, **options)
    result.terms = terms
    result.model.fit_report.update(
        lambda_obs=lam, terms=[list(t) for t in terms],
        flow="none" if field is None else f"{field.method}:{field.preset}")
    return result


def siren_of_iter_clip(frames: torch.Tensor, fractions, timing=None, progress=None, notify=None,
                       report: dict | None = None, keyframe_residual: bool = KEYFRAME_RESIDUAL, **options):
    """The streaming form of ``siren_of_interpolate_clip``: the same clip yielded one [1,H,W,3]
    frame at a time (``inr.iter_fit_and_render``). ``time_budget_s`` covers fit and render: the
    render is timed before the fit starts (``inr.plan_clip_run``) and ``notify(text)`` announces
    it; ``report`` receives the fit report and its quality verdict."""
    from .inr import default_device, iter_fit_and_render, plan_clip_run  # noqa: PLC0415
    from .timing import FrameTiming  # noqa: PLC0415
    from .validate import check_frames  # noqa: PLC0415

    frames = check_frames(frames, min_count=2)
    if options.get("device") is None:
        options["device"] = default_device()
    config, fit_defaults = method_defaults(options["device"])
    config.update(options.pop("config", None) or {})
    config.update({k: options.pop(k) for k in list(options) if k in CONFIG_KEYS})
    for key, value in fit_defaults.items():
        options.setdefault(key, value)
    if timing is None:
        timing = FrameTiming.from_fps(frames.shape[0], 1.0)
    if options.get("steps") is None and options.get("time_budget_s") is None:
        options["time_budget_s"] = METHOD_TIME_BUDGET_S
    with torch.inference_mode(False):
        probe = SirenVideo(frames.shape[1], frames.shape[2], timing,
                           {"seed": int(options.get("seed", 0)), "time_scale": -1.0, **config})
    flow_term = float(options.get("lambda_obs", LAMBDA_OBS)) < 1.0
    renders = (frames.shape[0] - 1) * len(fractions) + (frames.shape[0] if keyframe_residual else 0)
    plan = plan_clip_run(probe, renders, options["device"],
                         options.get("time_budget_s"), options.get("steps"),
                         int(options.get("batch_size", FIT_DEFAULTS["batch_size"])), step_passes=15 if flow_term else 6)
    if plan.fit_budget_s is not None:
        options["time_budget_s"] = plan.fit_budget_s
    if notify is not None:
        notify(plan.note)
    return iter_fit_and_render(
        frames, fractions, timing,
        lambda fit_progress: fit_siren_of(frames, timing=timing, config=config, progress=fit_progress,
                                          **options).model,
        progress, fit_share=plan.fit_share, report=report, keyframe_residual=bool(keyframe_residual))


def siren_of_interpolate_clip(frames: torch.Tensor, fractions, timing=None, progress=None,
                              keyframe_residual: bool = KEYFRAME_RESIDUAL, **options):
    """The ``methods.py`` interface: fit SIREN-OF on ``frames`` [N,H,W,3] and return
    [(N-1)·(m+1)+1, H,W,3], the input frames kept as they are with m rendered frames inserted at
    each fraction of every interval (times from ``timing``, so uneven GIF delays are honoured).

    ``options``: config keys (width, depth, omega0, time_scale; default ``method_defaults``: sized for
    a CPU there, the paper's on CUDA), lambda_obs, flow (FLOW or tensor), flow_preset, fit options
    (steps, time_budget_s — fit and render together —, holdout, batch_size, lr, seed, ...), and
    ``device``. Without steps or a time budget the run takes METHOD_TIME_BUDGET_S seconds.
    ``keyframe_residual``: the rendered frames get the fit's error on their two input frames
    (``inr.with_keyframe_residual``; False = the model alone, as the paper renders).
    """
    return torch.cat(list(siren_of_iter_clip(frames, fractions, timing, progress,
                                             keyframe_residual=keyframe_residual, **options)), dim=0)


siren_of_interpolate_clip.option_sources = (CONFIG_KEYS, fit_siren_of, fit_implicit_video)
siren_of_interpolate_clip.iterate = siren_of_iter_clip
