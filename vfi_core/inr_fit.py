"""The per-clip fitting loop shared by every implicit video model (NeCo, SIREN-OF).

An implicit video f_θ(x, y, t) -> RGB (``vfi_core.inr.ImplicitVideo``) is fitted to the frames
of one clip by minimising, over random batches B of pixels of the clip,

    L(θ) = 1/|B| · Σ_{(x,y,t) ∈ B} ‖f_θ(x, y, t) - I_t(x, y)‖²          (the L2 loss of NeCo)

with Adam. A model may replace the loss (``loss_fn``: SIREN-OF adds its optical-flow term).

Design:
- Coordinates are generated per batch from integer indices (frame index, pixel index): no
  [T·H·W, 3] coordinate table is ever built, so memory is the frames plus one batch.
  x = col / (W-1), y = row / (H-1), t = ``model.timing.normalised()[frame]`` (uneven GIF delays
  are honoured because t comes from the timestamps, not the frame index).
- Train PSNR is measured every ``eval_every`` steps on the whole clip (or, for clips with more
  than ``eval_pixels`` pixels, on a fixed random subset drawn once from ``seed``) with the output
  clamped to 0..1 as ``render`` does. The weights with the best PSNR are kept and restored at
  the end, so the returned model is never worse than the best one seen.
- Stops at ``steps``, at ``time_budget_s`` seconds, at ``target_psnr``, or when the best PSNR
  has not improved by ``plateau_min_delta`` dB for ``plateau_patience`` steps — whichever
  comes first.
- ComfyUI runs nodes under ``torch.inference_mode()``; the whole loop runs inside
  ``torch.inference_mode(False)`` + ``torch.enable_grad()``, works on a clone of the frames, and
  replaces parameters that were created as inference tensors by ordinary copies.
- Mixed precision (bf16 autocast, fp16 + GradScaler where bf16 is unsupported) is used only on
  CUDA; on CPU the fit runs in float32.

Interruption: ``progress(done, total)`` is called every few steps and may raise (ComfyUI's
interruption exception, KeyboardInterrupt). The loop catches nothing except to restore the best
weights found so far into the model, write its ``fit_report``, and re-raise the same exception —
the caller's model object then holds the best fit so far.
"""
import math
import time
from dataclasses import dataclass, field

import torch

from .inr import ImplicitVideo, with_keyframe_residual
from .validate import check_frames

EVAL_PIXELS = 1 << 16          # PSNR on at most this many pixels (a fixed random subset above it);
                               # 65536 random pixels estimate the PSNR to about ±0.03 dB at a few % of the fit
PROGRESS_EVERY = 10            # steps between progress callbacks (and every CHECK_EVERY_S seconds)
CHECK_EVERY_S = 0.25           # the longest wait between two progress / cancel checks the loop aims at
TRAIN_PASS_FLOPS = 3 * 10**8   # where progress checks Cancel, a CPU step is split into pieces of this much work
MICRO_BATCH_MIN = 16           # pixels: the smallest piece
STEP_PASSES = 6                # a training step costs about this many forward passes (plans, estimates)
CROP = 128                     # detail of held-out frames is measured on centre crops this size
REFIT_SHARE = 0.2              # the last share of a fit with held-out frames fits them too
_now = time.perf_counter       # the loop's clock (tests replace it with a fake one)


class _Checks:
    """``progress(done, total)`` when forced (every PROGRESS_EVERY steps, at the end) and whenever
    CHECK_EVERY_S seconds have passed since the last call — between micro-batches and evaluation
    chunks too — so a Cancel raised from ``progress`` is seen within about a second however slow
    one step is."""

    def __init__(self, progress, position):
        self.progress, self.position = progress, position
        self.last = _now()

    def __call__(self, force: bool = False) -> None:
        if self.progress is None:
            return
        now = _now()
        if force or now - self.last >= CHECK_EVERY_S:
            self.last = now
            self.progress(*self.position())


@dataclass
class FitResult:
    """What ``fit_implicit_video`` returns.

    ``model`` holds the best weights seen (by train PSNR); ``history`` is a list of
    (step, seconds since start, train PSNR in dB) at every evaluation; ``stopped_because`` is one
    of "steps", "time_budget", "target_psnr", "plateau".
    """

    model: ImplicitVideo
    history: list = field(default_factory=list)
    stopped_because: str = ""
    steps: int = 0
    seconds: float = 0.0
    best_psnr: float = float("-inf")
    best_step: int = 0
    holdout_history: list = field(default_factory=list)   # (step, seconds, PSNR) of the held-out frames
    quality: dict = field(default_factory=dict)            # see ``fit_quality``; empty when interrupted


def psnr_from_mse(mse: float) -> float:
    """PSNR in dB of a mean squared error on the 0..1 range: 10·log10(1 / mse)."""
    return float("inf") if mse <= 0 else -10.0 * math.log10(mse)


def pixel_coords(frame_index: torch.Tensor, pixel_index: torch.Tensor, times: torch.Tensor,
                 height: int, width: int) -> torch.Tensor:
    """[0,1]^3 coordinates (x, y, t) of pixels given by (frame index, row-major pixel index), [N,3].

    x = col / (W-1), y = row / (H-1) (0 when the size is 1), t = times[frame_index], as
    ``ImplicitVideo.pixel_grid`` and ``ImplicitVideo.render`` lay them out.
    """
    row = torch.div(pixel_index, width, rounding_mode="floor")
    col = pixel_index - row * width
    x = col.float() / (width - 1) if width > 1 else torch.zeros_like(col, dtype=torch.float32)
    y = row.float() / (height - 1) if height > 1 else torch.zeros_like(row, dtype=torch.float32)
    return torch.stack([x, y, times[frame_index]], dim=1)                  # [N,3]


def _uniform_sampler(n_frames: int, n_pixels: int):
    """Default ``sample_fn``: pixels drawn uniformly (with replacement) from the whole clip."""

    def sample(batch_size: int, generator: torch.Generator):
        flat = torch.randint(0, n_frames * n_pixels, (batch_size,), generator=generator,
                             device=generator.device)
        return torch.div(flat, n_pixels, rounding_mode="floor"), flat % n_pixels

    return sample


def l2_loss(model, batch) -> torch.Tensor:
    """Mean squared error between the model at ``batch['coords']`` and ``batch['rgb']``."""
    return torch.mean((model(batch["coords"]).float() - batch["rgb"]) ** 2)


def _thaw_inference_tensors(model: torch.nn.Module) -> None:
    """Parameters/buffers created under ``torch.inference_mode()`` cannot take part in autograd
    or be updated in place outside it: replace them by ordinary copies (same values)."""
    for module in model.modules():
        for name, p in list(module._parameters.items()):
            if p is not None and p.is_inference():
                module._parameters[name] = torch.nn.Parameter(p.detach().clone(), requires_grad=p.requires_grad)
        for name, b in list(module._buffers.items()):
            if b is not None and b.is_inference():
                module._buffers[name] = b.clone()


def _amp_settings(device: torch.device, amp: bool):
    """(autocast dtype or None, use a GradScaler) for ``device``."""
    if not amp or device.type != "cuda":
        return None, False
    if torch.cuda.get_device_capability(device) >= (8, 0):    # native bf16 (Ampere and later);
        return torch.bfloat16, False                          # is_bf16_supported() also counts emulation
    return torch.float16, True


def _check_options(model, frames, steps, time_budget_s, batch_size, lr, weight_decay, lr_schedule,
                   plateau_patience, eval_every, target_psnr):
    if not isinstance(model, ImplicitVideo):
        raise TypeError(f"model must be an ImplicitVideo (NeCo, SIREN-OF), got {type(model).__name__}")
    if frames.shape[0] < 2:
        raise ValueError(f"fitting an implicit video needs at least 2 frames, got {frames.shape[0]}")
    if (frames.shape[1], frames.shape[2]) != (model.height, model.width):
        raise ValueError(f"frame size {frames.shape[2]}x{frames.shape[1]} does not match the model's "
                         f"{model.width}x{model.height} (width x height)")
    if len(model.timing) != frames.shape[0]:
        raise ValueError(f"the model's timing has {len(model.timing)} frames but {frames.shape[0]} "
                         "frames were given")
    if steps is None and time_budget_s is None:
        raise ValueError("give a number of steps or a time budget (time_budget_s) for the fit")
    if steps is not None and int(steps) < 1:
        raise ValueError(f"steps must be >= 1 (or None to use the time budget), got {steps}")
    if time_budget_s is not None and not (math.isfinite(float(time_budget_s)) and float(time_budget_s) > 0):
        raise ValueError(f"time budget must be a positive number of seconds, got {time_budget_s}")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not (math.isfinite(float(lr)) and float(lr) > 0):
        raise ValueError(f"learning rate must be positive, got {lr}")
    if not (math.isfinite(float(weight_decay)) and float(weight_decay) >= 0):
        raise ValueError(f"weight decay must be >= 0, got {weight_decay}")
    if lr_schedule not in ("constant", "cosine"):
        raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {lr_schedule!r}")
    if plateau_patience is not None and int(plateau_patience) < 0:
        raise ValueError(f"plateau_patience must be >= 0 (0 = never stop on a plateau), got {plateau_patience}")
    if int(eval_every) < 1:
        raise ValueError(f"eval_every must be >= 1, got {eval_every}")
    if target_psnr is not None and not math.isfinite(float(target_psnr)):
        raise ValueError(f"target_psnr must be a finite number of dB, got {target_psnr}")


def fit_implicit_video(model: ImplicitVideo, frames: torch.Tensor, *, steps=None, time_budget_s=None,
                       batch_size: int = 8192, lr: float = 1e-3, weight_decay: float = 1e-8,
                       lr_schedule: str = "constant", loss_fn=None, sample_fn=None,
                       plateau_patience: int | None = 2000, plateau_min_delta: float = 0.01,
                       target_psnr=None, eval_every: int = 100, eval_pixels: int = EVAL_PIXELS,
                       progress=None, seed: int = 0, device=None, amp: bool = True, holdout=None,
                       refit_share: float = REFIT_SHARE) -> FitResult:
    """Fit ``model`` to ``frames`` [T,H,W,3] (0..1) at the times ``model.timing.normalised()``.

    steps / time_budget_s: stop after this many optimiser steps / seconds (either or both; at least
        one). A time budget must be > 0.
    batch_size: pixels per step, drawn uniformly from the whole clip (``sample_fn`` overrides:
        ``sample_fn(batch_size, generator) -> (frame_index [N], pixel_index [N])`` long tensors on
        the fitting device, pixel_index row-major in [0, H*W)).
    lr, weight_decay: Adam's (weight decay as Adam's L2 term); lr_schedule "cosine" anneals the lr
        to 0 over the run (by step count, or elapsed time when only a budget is given).
    loss_fn(model, batch) -> scalar: replaces the L2 loss; ``batch`` holds ``coords`` [N,3] in
        [0,1], ``rgb`` [N,3], ``frame_index`` [N], ``pixel_index`` [N] (long), ``step`` (int) and
        runs under the autocast context (cast to float32 yourself if needed).
    plateau_patience: stop when the best train PSNR has not improved by ``plateau_min_delta`` dB
        for this many steps (0 or None: never).
    target_psnr: stop as soon as the train PSNR reaches it (dB).
    eval_every: steps between train-PSNR evaluations (one also at step 0 and at the end).
    progress(done, total): called every few steps; done/total count steps, or thousandths of the
        budget when only a time budget is given. It may raise to cancel (see the module docstring).
    device: where to fit (default: the model's device); the model is left there.
    amp: mixed precision on CUDA (ignored on CPU).
    holdout: indices of interior frames kept out of the fit for the first 1 - ``refit_share`` of
        the run (steps or budget), then measured (``fit_quality``: PSNR next to the linear blend
        of their neighbours, detail) and fitted with the others for the rest (``refit_share`` 0:
        never fitted). The result's ``quality`` and the model's ``fit_report["quality"]`` hold
        the numbers; without held-out frames only the fitted frames' PSNR.
    """
    with torch.inference_mode(False), torch.enable_grad():
        frames = check_frames(frames, min_count=1)
        _check_options(model, frames, steps, time_budget_s, batch_size, lr, weight_decay, lr_schedule,
                       plateau_patience, eval_every, target_psnr)
        device = torch.device(device) if device is not None else next(model.parameters()).device
        _thaw_inference_tensors(model)
        model.to(device).train()
        return _fit(model, frames, device, steps=None if steps is None else int(steps),
                    budget=None if time_budget_s is None else float(time_budget_s),
                    batch_size=int(batch_size), lr=float(lr), weight_decay=float(weight_decay),
                    lr_schedule=lr_schedule, loss_fn=loss_fn or l2_loss, sample_fn=sample_fn,
                    patience=int(plateau_patience or 0), min_delta=float(plateau_min_delta),
                    target_psnr=None if target_psnr is None else float(target_psnr),
                    eval_every=int(eval_every), eval_pixels=int(eval_pixels), progress=progress,
                    seed=int(seed), amp=amp, holdout=_check_holdout(holdout, frames.shape[0], sample_fn),
                    refit_share=_check_refit_share(refit_share))


def _check_holdout(holdout, n_frames: int, sample_fn) -> list:
    held = sorted(set(int(h) for h in holdout or ()))
    if not held:
        return []
    if sample_fn is not None:
        raise ValueError("holdout needs the default pixel sampler (sample_fn draws its own frames)")
    if held[0] < 1 or held[-1] > n_frames - 2:
        raise ValueError(f"held-out frames must be interior (1..{n_frames - 2}), got {held}")
    if any(b - a < 2 for a, b in zip(held[:-1], held[1:])):
        raise ValueError(f"held-out frames must not be neighbours, got {held}")
    return held


def _check_refit_share(share) -> float:
    share = float(share)
    if not (0.0 <= share < 1.0):
        raise ValueError(f"refit_share must lie in [0, 1), got {share}")
    return share


def micro_batches(model: torch.nn.Module, batch_size: int, device) -> int:
    """How many micro-batches a step of ``batch_size`` pixels is split into (gradients accumulated:
    the same update), so that Cancel is checked between pieces of bounded work: on a CPU at most
    TRAIN_PASS_FLOPS each (about STEP_PASSES·2 flops per weight and pixel for forward, loss and
    backward; ~15-50 ms on an idle core), at least MICRO_BATCH_MIN pixels; 1 elsewhere. It depends on
    the model and device only — not on timings — so a fit does the same arithmetic however busy the
    machine is. Used only where progress checks Cancel (``progress.checks_cancel``, ComfyUI): small
    pieces cost some speed, and Ctrl-C on the command line needs no check."""
    if torch.device(device).type != "cpu":
        return 1
    weights = sum(p.numel() for p in model.parameters())
    per_chunk = max(MICRO_BATCH_MIN, TRAIN_PASS_FLOPS // (STEP_PASSES * 2 * max(weights, 1)))
    return max(1, min(int(batch_size), math.ceil(int(batch_size) / per_chunk)))


def _eval_indices(frames_list, n_pixels: int, limit: int, seed: int):
    """(frame index [N], pixel index [N]) of every pixel of ``frames_list``, or of ``limit`` random
    ones (drawn with replacement: a permutation of all pixels would take 8 bytes per pixel, 5 GB for
    300 frames of 1080p; repeats among 65k of millions change nothing), sorted by frame."""
    frames_list = torch.as_tensor(list(frames_list), dtype=torch.long)
    total = frames_list.numel() * n_pixels
    if total <= limit:
        flat = torch.arange(total)
    else:
        flat = torch.randint(total, (limit,), generator=torch.Generator().manual_seed(seed)).sort().values
    return frames_list[torch.div(flat, n_pixels, rounding_mode="floor")], flat % n_pixels


def _fit(model, frames, device, *, steps, budget, batch_size, lr, weight_decay, lr_schedule, loss_fn,
         sample_fn, patience, min_delta, target_psnr, eval_every, eval_pixels, progress, seed, amp,
         holdout, refit_share):
    T, H, W, _ = frames.shape
    P = H * W

    def setup_check():                  # Cancel between the set-up stages (progress stays at 0)
        if progress is not None:
            progress(0, steps if steps is not None else 1000)

    target = frames.detach().clone().reshape(T, P, 3).to(device)           # [T,H*W,3] (a copy)
    times = model.frame_times().to(device)                                 # [T]
    generator = torch.Generator(device=device).manual_seed(seed)
    held = sorted(set(int(h) for h in holdout or ()))
    kept = [i for i in range(T) if i not in held]
    if held:
        kept_index = torch.tensor(kept, device=device)

        def sample_kept(n, gen):                                           # phase A: kept frames only
            k = torch.randint(0, len(kept), (n,), generator=gen, device=gen.device)
            return kept_index[k], torch.randint(0, P, (n,), generator=gen, device=gen.device)
    sample_all = sample_fn or _uniform_sampler(T, P)

    # fixed evaluation sets: the fitted frames (every pixel, or a random subset of big clips),
    # the same over all frames once held-out frames join the fit, and a small one of the held-out frames
    setup_check()
    eval_kept = [t.to(device) for t in _eval_indices(kept, P, eval_pixels, seed + 1)]
    setup_check()
    eval_all = [t.to(device) for t in _eval_indices(range(T), P, eval_pixels, seed + 1)] if held else eval_kept
    eval_held = [t.to(device) for t in _eval_indices(held, P, max(eval_pixels // 4, 1), seed + 2)] if held else None
    setup_check()

    autocast_dtype, use_scaler = _amp_settings(device, amp)
    scaler = torch.amp.GradScaler("cuda") if use_scaler else None
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)

    def autocast():
        if autocast_dtype is None:
            return torch.autocast(device_type=device.type, enabled=False)
        return torch.autocast(device_type=device.type, dtype=autocast_dtype)

    result = FitResult(model=model)
    start = _now()
    best_state, best_psnr, best_step = None, float("-inf"), 0
    last_improvement_step = 0
    step = 0
    phase_a = bool(held)              # held-out frames are out of the fit (phase A), then in (phase B)
    refit_until = None                # phase B's last step when phase A ended early (plateau / target)
    quality = {"frames": T, "kept_frames": len(kept), "holdout": held}

    def elapsed() -> float:
        return _now() - start

    def fraction_done() -> float:
        parts = []
        if steps is not None:
            parts.append(step / steps)
        if budget is not None:
            parts.append(elapsed() / budget)
        return min(1.0, max(parts))

    def position():
        if steps is not None:
            return step, steps
        return min(1000, int(1000 * elapsed() / budget)), 1000

    checks = _Checks(progress, position)
    eval_chunk = min(1 << 16, model.render_chunk(device))
    chunks = micro_batches(model, batch_size, device) if getattr(progress, "checks_cancel", False) else 1
    setup_check()

    @torch.no_grad()
    def evaluate(which) -> float:
        """PSNR of the model (output clamped, float32 as rendered) on a fixed evaluation set."""
        fi_all, p_all = which
        was_training = model.training
        model.eval()
        sq = 0.0
        for s in range(0, fi_all.numel(), eval_chunk):
            fi, p = fi_all[s:s + eval_chunk], p_all[s:s + eval_chunk]
            out = model(pixel_coords(fi, p, times, H, W))
            sq += float(((out.float().clamp(0, 1) - target[fi, p]) ** 2).sum())
            checks()
        model.train(was_training)
        return psnr_from_mse(sq / (fi_all.numel() * 3))

    @torch.no_grad()
    def measure_holdout():
        """The held-out frames as the model renders them, alone and with the keyframe residual of
        their kept neighbours (``inr.with_keyframe_residual``), and the linear blend of those
        neighbours: PSNR on the same pixels, detail on centre crops."""
        from .fit_quality import detail_ratio, holdout_neighbours  # noqa: PLC0415

        a_of, b_of = torch.zeros(T, dtype=torch.long, device=device), torch.zeros(T, dtype=torch.long, device=device)
        w_of = torch.zeros(T, device=device)
        for h, (a, b) in zip(held, holdout_neighbours(T, held)):
            a_of[h], b_of[h] = a, b
            w_of[h] = (times[h] - times[a]) / (times[b] - times[a])

        def render(fi, p):
            """(model, model + keyframe residual, linear blend) at pixels p of held-out frames fi, [n,3] each."""
            a, b, w = a_of[fi], b_of[fi], w_of[fi][:, None]
            out, out_a, out_b = (model(pixel_coords(f, p, times, H, W)).float().clamp(0, 1) for f in (fi, a, b))
            return (out, with_keyframe_residual(out, target[a, p], out_a, target[b, p], out_b, w),
                    (1 - w) * target[a, p] + w * target[b, p])

        fi_all, p_all = (t.to(device) for t in _eval_indices(held, P, eval_pixels, seed + 3))
        model.eval()
        sq = [0.0, 0.0, 0.0]
        for s in range(0, fi_all.numel(), eval_chunk):
            fi, p = fi_all[s:s + eval_chunk], p_all[s:s + eval_chunk]
            for k, x in enumerate(render(fi, p)):
                sq[k] += float(((x - target[fi, p]) ** 2).sum())
            checks()
        ch, cw = min(H, CROP), min(W, CROP)
        y0, x0 = (H - ch) // 2, (W - cw) // 2
        crop = (torch.arange(y0, y0 + ch, device=device)[:, None] * W
                + torch.arange(x0, x0 + cw, device=device)[None, :]).flatten()     # [ch*cw] pixel indices
        crops = [[], []]                                                            # model, with residual
        for h in held:
            fi = torch.full_like(crop, h)
            parts = [render(fi[s:s + eval_chunk], crop[s:s + eval_chunk])[:2] for s in range(0, crop.numel(), eval_chunk)]
            for k in range(2):
                crops[k].append(torch.cat([part[k] for part in parts]))
            checks()
        model.train()
        real = target[held][:, crop].reshape(len(held), ch, cw, 3).cpu()
        count = fi_all.numel() * 3
        detail = [detail_ratio(torch.stack(c).reshape(len(held), ch, cw, 3).cpu(), real) for c in crops]
        quality.update(kept_psnr=best_psnr, holdout_psnr=psnr_from_mse(sq[0] / count), detail=detail[0],
                       holdout_psnr_residual=psnr_from_mse(sq[1] / count), detail_residual=detail[1],
                       blend_psnr=psnr_from_mse(sq[2] / count), at_step=step)

    def snapshot():
        return {k: v.detach().clone() for k, v in model.state_dict().items()}

    def record(psnr: float):
        nonlocal best_state, best_psnr, best_step, last_improvement_step
        result.history.append((step, round(elapsed(), 4), psnr))
        if psnr > best_psnr:
            if psnr > best_psnr + min_delta:
                last_improvement_step = step
            best_state, best_psnr, best_step = snapshot(), psnr, step

    def end_phase_a(refit: bool):
        """Held-out frames: measured with the best weights so far, then (``refit``) fitted with the others."""
        nonlocal phase_a, best_state, best_psnr, best_step, last_improvement_step
        if result.history[-1][0] != step:      # the weights now compete too (a slow fit may not have
            record(evaluate(eval_kept))        # reached its first evaluation since step 0)
        if best_state is not None:
            model.load_state_dict(best_state)
        measure_holdout()
        phase_a = False
        if refit:
            quality["refit_from_step"] = step
            best_state, best_psnr, best_step, last_improvement_step = None, float("-inf"), step, step
            record(evaluate(eval_all))

    def finish(reason: str):
        if best_state is not None:
            model.load_state_dict(best_state)
        model.eval()
        result.stopped_because = reason
        result.steps, result.seconds = step, elapsed()
        result.best_psnr, result.best_step = best_psnr, best_step
        if not held and reason != "interrupted":
            quality.update(kept_psnr=best_psnr)
        model.fit_report = {
            "steps": step, "seconds": round(result.seconds, 3), "best_psnr": best_psnr,
            "best_step": best_step, "stopped_because": reason,
            "history": [list(h) for h in result.history],
        }
        if reason != "interrupted" and "kept_psnr" in quality:
            model.fit_report["quality"] = dict(quality)
            result.quality = dict(quality)

    try:
        record(evaluate(eval_kept))
        reason = None
        while reason is None:
            if lr_schedule == "cosine":
                for group in optimizer.param_groups:
                    group["lr"] = lr * 0.5 * (1.0 + math.cos(math.pi * fraction_done()))
            frame_index, pixel_index = (sample_kept if phase_a else sample_all)(batch_size, generator)
            optimizer.zero_grad(set_to_none=True)
            bounds = [round(c * batch_size / chunks) for c in range(chunks + 1)]
            for c in range(chunks):
                fi, pi = frame_index[bounds[c]:bounds[c + 1]], pixel_index[bounds[c]:bounds[c + 1]]
                batch = {
                    "coords": pixel_coords(fi, pi, times, H, W),                # [n,3]
                    "rgb": target[fi, pi],                                      # [n,3]
                    "frame_index": fi,
                    "pixel_index": pi,
                    "step": step,
                    "chunk": c,
                    "holdout": phase_a,
                }
                with autocast():
                    loss = loss_fn(model, batch)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"the fit diverged at step {step} (loss {loss.item()}); "
                                             "lower the learning rate")
                loss = loss * (fi.numel() / batch_size)        # the batch mean, summed over micro-batches
                if scaler is not None:
                    scaler.scale(loss).backward()
                else:
                    loss.backward()
                if c + 1 < chunks:
                    checks()
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            step += 1

            at_end = (steps is not None and step >= steps) or (budget is not None and elapsed() >= budget)
            if step % eval_every == 0 or at_end:
                psnr = evaluate(eval_kept if phase_a else eval_all)
                record(psnr)
                if phase_a:
                    result.holdout_history.append((step, round(elapsed(), 4), evaluate(eval_held)))
                if target_psnr is not None and psnr >= target_psnr:
                    reason = "target_psnr"
                elif patience and step - last_improvement_step >= patience:
                    reason = "plateau"
            if refit_until is not None and step >= refit_until and reason is None:
                reason = quality["phase_a_stop"]
            if reason is None and steps is not None and step >= steps:
                reason = "steps"
            if reason is None and budget is not None and elapsed() >= budget:
                if result.history[-1][0] != step:
                    record(evaluate(eval_kept if phase_a else eval_all))
                reason = "time_budget"
            if phase_a and refit_share > 0 and reason in ("plateau", "target_psnr"):
                quality["phase_a_stop"] = reason                 # converged early: refit for a share of it
                refit_until = step + max(1, math.ceil(step * refit_share / (1 - refit_share)))
                reason = None
                end_phase_a(refit=True)
            elif phase_a and refit_share > 0 and reason is None and fraction_done() >= 1 - refit_share:
                end_phase_a(refit=True)
            elif phase_a and reason is not None:       # the end came in phase A: held-out frames stay out
                end_phase_a(refit=False)
            if step % PROGRESS_EVERY == 0 or reason is not None:
                checks(force=True)
            else:
                checks()
    except BaseException:
        finish("interrupted")
        raise
    finish(reason)
    return result
