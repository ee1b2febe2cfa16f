"""The shared interface of per-clip implicit video models (NeCo, SIREN-OF): the INR_MODEL type.

An implicit video is a network f(x, y, t) -> RGB fitted to one clip. Every model here takes
coordinates normalised to [0, 1]^3 — x = col / (W-1), y = row / (H-1), t = the frame's
normalised timestamp (``FrameTiming.normalised()``) — and maps them to its own input range
internally. ``render`` evaluates whole frames at any t; the Render Frames node works for all.
"""
import json
import os
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .timing import FrameTiming

INR_REGISTRY = {}  # kind -> class; filled by @register_inr
CHECK_EVERY_S = 0.25         # rendering reports progress (ComfyUI: checks Cancel) at least this often
RENDER_MEMORY = 256 << 20    # bytes of activations per forward pass when rendering on the CPU
CPU_PASS_FLOPS = 3 * 10**8   # at most this much work per forward pass on a CPU (~15 ms on an idle core)
_now = time.perf_counter     # the clock of renders and speed probes (tests and benchmarks replace it)


def new_file_mode() -> int:
    """The permission bits ``open()`` gives a new file: 0o666 less the process umask (Linux reads
    it from /proc; elsewhere it is set and restored at once)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            umask = next(int(line.split()[1], 8) for line in status if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


def register_inr(cls):
    INR_REGISTRY[cls.kind] = cls
    return cls


class ImplicitVideo(torch.nn.Module):
    """Base class. Subclasses set ``kind``, build layers from ``config`` and implement
    ``forward(coords [N,3] in [0,1]) -> rgb [N,3]`` (not clamped)."""

    kind = "base"

    def __init__(self, height: int, width: int, timing: FrameTiming, config: dict):
        super().__init__()
        self.height, self.width = int(height), int(width)
        self.timing = timing
        self.config = dict(config)
        self.fit_report = {}  # filled by the fitting loop: steps, seconds, psnr history

    def frame_times(self) -> torch.Tensor:
        """Normalised time of every training frame, [T]."""
        return torch.as_tensor(self.timing.normalised(), dtype=torch.float32)

    def pixel_grid(self, device=None) -> torch.Tensor:
        """(x, y) of every pixel normalised to [0,1], [H*W, 2] in row-major order."""
        ys = torch.linspace(0.0, 1.0, self.height, device=device) if self.height > 1 else torch.zeros(1, device=device)
        xs = torch.linspace(0.0, 1.0, self.width, device=device) if self.width > 1 else torch.zeros(1, device=device)
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")          # [H,W] each
        return torch.stack([gx, gy], dim=-1).reshape(-1, 2)      # [H*W, 2]

    @torch.no_grad()
    def seconds_per_pixel(self, device=None, min_seconds: float = 0.05, repeats: int = 2, check=None) -> float:
        """Measured seconds per pixel of rendering on ``device`` (default: the model's): passes of
        ``render_chunk`` pixels, as a render makes them (their fixed costs included), repeated until
        they take ``min_seconds``; the fastest of ``repeats`` such runs. On a CPU the clock is the
        process's CPU time with one torch thread, divided by torch's thread count — what an idle
        machine gives, whatever else runs (wall time on a busy machine measures the waiting, and
        waiting threads spin); on CUDA wall time. Used to split a time budget
        between fit and render and to announce how long a render takes. ``check()`` (e.g. a Cancel
        check) runs between passes."""
        device = torch.device(device) if device is not None else next(self.parameters()).device
        threads = torch.get_num_threads()
        if device.type == "cpu" and _now is time.perf_counter and threads > 1:
            torch.set_num_threads(1)            # one thread's CPU time: idle threads' spinning is not counted
            try:
                return self.seconds_per_pixel(device, min_seconds, repeats, check) / threads
            finally:
                torch.set_num_threads(threads)
        n = self.render_chunk(device)
        coords = torch.rand(n, 3, generator=torch.Generator().manual_seed(0)).to(device)
        clock = _now if device.type == "cuda" or _now is not time.perf_counter else time.process_time

        def timed(passes: int) -> float:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = clock()
            for _ in range(passes):
                if check is not None:
                    check()
                self(coords)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            return clock() - start

        timed(1)                                                      # warm-up (allocations, kernels)
        passes = 1
        while (seconds := timed(passes)) < min_seconds and passes < 1 << 16:
            passes *= 2
        seconds = min([seconds] + [timed(passes) for _ in range(max(repeats - 1, 0))])
        return max(seconds, 1e-12) / (passes * n)

    def render_chunk(self, device=None) -> int:
        """Pixels per forward pass when rendering or evaluating: as many as about RENDER_MEMORY bytes
        of activations allow (~4 live float32 tensors of ``width`` values per pixel; a quarter of
        the free memory on CUDA, up to 2 GiB), between 256 and 2^20; on a CPU also at most
        CPU_PASS_FLOPS per pass (2 flops per weight and pixel), so that a pass takes a fraction of a
        second and Cancel is seen between passes. Depends on the model and device only, so a frame
        is always rendered in the same passes."""
        device = torch.device(device) if device is not None else next(self.parameters()).device
        per_pixel = 16 * max(int(self.config.get("width", 256)), 3)
        budget = RENDER_MEMORY
        chunk = 1 << 20
        if device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(device)
            budget = min(2 << 30, free // 4)
        else:
            weights = sum(p.numel() for p in self.parameters())
            chunk = CPU_PASS_FLOPS // max(2 * weights, 1)
        return int(max(64, min(chunk, 1 << 20, max(256, budget // per_pixel))))

    @torch.no_grad()
    def iter_render(self, times, chunk: int | None = None, progress=None):
        """Frames at normalised times ``times`` ([N] floats in [0,1]), one [1,H,W,3] float32 tensor
        (0..1, on the CPU) at a time, in order. ``chunk`` pixels per forward pass (default
        ``render_chunk``; a frame is never split differently, so a frame renders the same alone or
        among others). ``progress(done, total)`` counts pixels; it is called at most every
        CHECK_EVERY_S seconds between passes and once at the end, and may raise to cancel."""
        device = next(self.parameters()).device
        times = torch.as_tensor(times, dtype=torch.float32).flatten()
        chunk = int(chunk or self.render_chunk(device))
        grid = self.pixel_grid(device)                            # [P,2]
        pixels = grid.shape[0]
        total, last = pixels * len(times), _now()
        for n, t in enumerate(times.tolist()):
            out = torch.empty(pixels, 3, device=device)
            for s in range(0, pixels, chunk):
                xy = grid[s:s + chunk]
                coords = torch.cat([xy, xy.new_full((xy.shape[0], 1), t)], dim=1)  # [n,3]
                out[s:s + chunk] = self(coords).float()
                now = _now()
                if progress is not None and now - last >= CHECK_EVERY_S:
                    last = now
                    progress(n * pixels + min(s + chunk, pixels), total)
            yield out.clamp(0, 1).reshape(1, self.height, self.width, 3).cpu()
        if progress is not None:
            progress(total, total)

    def render(self, times, chunk: int | None = None, progress=None) -> torch.Tensor:
        """Frames at normalised times ``times`` ([N] floats in [0,1]) -> [N,H,W,3] float32 in 0..1
        (``iter_render`` gathered)."""
        return torch.cat(list(self.iter_render(times, chunk, progress)), dim=0)

    # --- persistence -----------------------------------------------------------------
    def save(self, path) -> None:
        meta = {
            "kind": self.kind,
            "height": str(self.height),
            "width": str(self.width),
            "timing": json.dumps({"timestamps": self.timing.timestamps, "end": self.timing.end}),
            "config": json.dumps(self.config),
            "fit_report": json.dumps(self.fit_report),
        }
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".part")
        save_file(state, str(tmp), metadata=meta)
        os.chmod(tmp, new_file_mode())  # safetensors creates 0600; give it the mode of the other outputs
        tmp.replace(path)  # never leave a half-written file


def load_inr(path, device="cpu") -> ImplicitVideo:
    """Load any registered implicit video model saved with ``ImplicitVideo.save``."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no fitted model file at {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # noqa: BLE001  (safetensors raises its own error types)
        raise ValueError(f"{path}: not a safetensors file, or a damaged one ({exc})") from None
    kind = meta.get("kind")
    if kind not in INR_REGISTRY:
        raise ValueError(f"{path.name}: not a FrameWeave implicit video model "
                         f"(kind {kind!r}; known: {sorted(INR_REGISTRY)})")
    t = json.loads(meta["timing"])
    model = INR_REGISTRY[kind](int(meta["height"]), int(meta["width"]),
                               FrameTiming(tuple(t["timestamps"]), t["end"]), json.loads(meta["config"]))
    model.load_state_dict(load_file(str(path)))
    model.fit_report = json.loads(meta.get("fit_report", "{}"))
    return model.to(device)


def with_keyframe_residual(rendered, frame_a, render_a, frame_b, render_b, w):
    """A frame rendered at fraction w between input frames a and b, corrected by the fit's error on
    them (the keyframe residual, our addition; all values 0..1, any matching shapes):

        Î_t = clamp( f(t) + (1 - w)·(I_a - f(t_a)) + w·(I_b - f(t_b)) )        (keyframe residual)

    At t = t_a it is I_a exactly, so the inserted frames join the kept ones without a jump in
    sharpness; what the fit missed at the two input frames (fine detail a small network cannot hold)
    is cross-faded like the linear blend; what the fit adds to the blend is its motion: a fit linear
    in time between the frames gives exactly the linear blend (1 - w)·I_a + w·I_b."""
    return (rendered + (1 - w) * (frame_a - render_a) + w * (frame_b - render_b)).clamp(0, 1)


def iter_render_keyframe_residual(model: "ImplicitVideo", times, frames: torch.Tensor, progress=None):
    """``model.iter_render(times)`` with the keyframe residual (``with_keyframe_residual``): every
    frame at normalised time u gets the fit's error on the input frames a, b around it
    (t_a <= u <= t_b, w = (u - t_a) / (t_b - t_a)); ``frames`` [T,H,W,3] are the frames the model
    was fitted to. Yields [1,H,W,3] in the order of ``times`` (sorted); the input frames are rendered
    once each, in the same pass (one progress over all), and at most two are held."""
    frames = frames.cpu()
    keys = [float(t) for t in model.frame_times()]
    if len(keys) != frames.shape[0]:
        raise ValueError(f"keyframe residual: the model was fitted to {len(keys)} frames, got {frames.shape[0]}")
    plan, schedule, scheduled = [], [], set()
    for u in (float(t) for t in torch.as_tensor(times, dtype=torch.float32).flatten()):
        a = max(0, min(len(keys) - 2, sum(1 for k in keys if k <= u) - 1)) if len(keys) > 1 else 0
        b = min(a + 1, len(keys) - 1)
        for k in (a, b):
            if k not in scheduled:
                scheduled.add(k)
                schedule.append(("key", k, keys[k]))
        w = 0.0 if b == a else min(max((u - keys[a]) / (keys[b] - keys[a]), 0.0), 1.0)
        plan.append((a, b, w))
        schedule.append(("out", len(plan) - 1, u))
    rendered = model.iter_render([t for _, _, t in schedule], progress=progress)
    renders = {}
    for kind, index, _ in schedule:
        out = next(rendered)
        if kind == "key":
            renders[index] = out
            continue
        a, b, w = plan[index]
        for k in [k for k in renders if k < a]:
            del renders[k]                                       # only the keyframes still ahead are kept
        yield with_keyframe_residual(out, frames[a:a + 1], renders[a], frames[b:b + 1], renders[b], w)
    for _ in rendered:                                            # the render's final progress call
        pass


def inserted_times(timing: FrameTiming, fractions) -> torch.Tensor:
    """Normalised times ([0,1]) of the frames that ``timing.with_inserted(fractions)`` adds,
    in clip order, [(T-1)·len(fractions)]."""
    t = timing.normalised()
    fr = sorted(float(f) for f in fractions)
    return torch.tensor([a + f * (b - a) for a, b in zip(t[:-1], t[1:]) for f in fr], dtype=torch.float32)


def default_device() -> torch.device:
    """Where the clip methods fit when no device is given: the GPU when there is one."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class RunPlan:
    """How a clip method spends its time: the fit's budget, the render's estimated seconds, the
    fit's share of the progress bar, and a sentence announcing it (``plan_clip_run``)."""

    def __init__(self, fit_budget_s, render_s: float, fit_share: float, note: str):
        self.fit_budget_s, self.render_s, self.fit_share, self.note = fit_budget_s, render_s, fit_share, note


def plan_clip_run(probe: "ImplicitVideo", render_frames: int, device=None, time_budget_s=None, steps=None,
                  batch_size: int = 4096, step_passes: float = 6.0) -> RunPlan:
    """Split a clip method's ``time_budget_s`` between fit and render before either starts.

    The render of ``render_frames`` frames is estimated from the measured forward speed of
    ``probe`` (an unfitted model of the same kind and size on ``device``): R = frames·H·W·s_px.
    With a budget B the fit gets B - R when R <= B/2 (the whole run then stays within B), else B/2
    and the note says the run will take about B/2 + R. With steps only, the fit is estimated at
    steps·batch·s_px·``step_passes``. A budget that is not a positive number of seconds is a
    ValueError naming the value given (before it is halved or shared)."""
    if time_budget_s is not None and not (float(time_budget_s) > 0 and float(time_budget_s) != float("inf")):
        raise ValueError(f"time budget must be a positive number of seconds, got {time_budget_s}")
    device = torch.device(device) if device is not None else next(probe.parameters()).device
    probe = probe.to(device)
    per_pixel = probe.seconds_per_pixel(device)
    pixels = int(render_frames) * probe.height * probe.width
    render_s = pixels * per_pixel
    what = (f"rendering {render_frames} frame{'s' if render_frames != 1 else ''} of {probe.width}x{probe.height} "
            f"takes about {_seconds(render_s)} on {device.type} ({pixels / max(render_s, 1e-9):,.0f} pixels/s "
            f"through this {probe.kind} network)")
    if time_budget_s is not None:
        budget = float(time_budget_s)
        if render_s <= budget / 2:
            fit_s, note = budget - render_s, f"{what}: the fit gets the other {_seconds(budget - render_s)} of time_budget_s"
        else:
            fit_s = budget / 2
            note = (f"{what}, more than half of time_budget_s={budget:g}: the fit gets {_seconds(fit_s)}, so the run "
                    f"takes about {_seconds(fit_s + render_s)}; a smaller network (width), a lower multiplier or "
                    "a smaller clip renders faster")
    else:
        fit_s = float(steps or 0) * batch_size * per_pixel * step_passes
        note = f"{what}, after a fit of {steps} steps (about {_seconds(fit_s)})"
    share = fit_s / max(fit_s + render_s, 1e-9) if fit_s + render_s > 0 else 1.0
    return RunPlan(fit_s if time_budget_s is not None else None, render_s, min(max(share, 0.05), 0.99), note)


def _seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, s = divmod(int(round(seconds)), 60)
    return f"{minutes} min {s:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


class _RunProgress:
    """One ``progress(done, total)`` over fit then render, on a fixed total of 1000 so it never
    goes back: the fit fills [0, share·1000], the render the rest."""

    def __init__(self, progress, fit_share: float):
        self.progress, self.share, self.shown = progress, float(fit_share), 0

    def _show(self, fraction: float) -> None:
        self.shown = max(self.shown, min(1000, int(1000 * fraction)))
        self.progress(self.shown, 1000)

    def fit(self, done, total) -> None:
        self._show(self.share * done / max(total, 1))

    def render(self, done, total) -> None:
        self._show(self.share + (1 - self.share) * done / max(total, 1))


def iter_fit_and_render(frames: torch.Tensor, fractions, timing: FrameTiming, fit, progress=None, *,
                        fit_share: float = 0.5, report: dict | None = None, keyframe_residual: bool = False):
    """The streaming form of the ``methods.py`` interface for a per-clip model.

    ``fit(progress) -> ImplicitVideo`` fits the model to ``frames`` [N,H,W,3]; then the clip is
    yielded in order, one [1,H,W,3] tensor at a time: the input frames as they are, with the m
    frames rendered at the inserted times between each pair — [(N-1)·(m+1)+1] frames in all,
    never held together. ``keyframe_residual``: the inserted frames get the fit's error on their
    two input frames (``with_keyframe_residual``; the input frames are rendered too, N more
    frames). ``progress(done, total)`` runs once over fit and render (``fit_share`` of it for the
    fit; it never goes back). ``report`` (a dict) receives the model's fit report, its kind and
    config, the quality verdict (``fit_quality.quality_verdict``, of what is rendered) and the
    render's seconds once it is done."""
    from .fit_quality import quality_verdict  # noqa: PLC0415

    fractions = sorted(float(f) for f in fractions)
    if any(not 0.0 < f < 1.0 for f in fractions):
        raise ValueError(f"insertion fractions must lie strictly between 0 and 1, got {fractions}")
    run = _RunProgress(progress, fit_share) if progress is not None else None
    model = fit(run.fit if run is not None else None)
    if report is not None:
        report.update(model.fit_report, kind=model.kind, config=dict(model.config), keyframe_residual=keyframe_residual,
                      verdict=quality_verdict(model.fit_report, model.kind, model.config, keyframe_residual))
    frames = frames.cpu()                                 # rendered frames come back on the CPU
    n, m = frames.shape[0], len(fractions)
    if m == 0:
        yield frames.clone()
        return
    start = _now()
    render_progress = run.render if run is not None else None
    yield frames[:1]
    if keyframe_residual:
        rendered = iter_render_keyframe_residual(model, inserted_times(timing, fractions), frames, render_progress)
    else:
        rendered = model.iter_render(inserted_times(timing, fractions), progress=render_progress)
    for i in range(n - 1):
        for _ in range(m):
            yield next(rendered).to(frames.dtype)
        yield frames[i + 1:i + 2]
    for _ in rendered:                                    # runs the render's final progress call
        pass
    if report is not None:
        report["render_seconds"] = round(_now() - start, 3)


def fit_and_render_clip(frames: torch.Tensor, fractions, timing: FrameTiming, fit, progress=None, *,
                        fit_share: float = 0.5, report: dict | None = None,
                        keyframe_residual: bool = False) -> torch.Tensor:
    """The ``methods.py`` interface for a per-clip model: ``iter_fit_and_render`` gathered into
    one [(N-1)·(m+1)+1, H,W,3] tensor (the input frames kept as they are, m rendered frames
    between each pair)."""
    return torch.cat(list(iter_fit_and_render(frames, fractions, timing, fit, progress, fit_share=fit_share,
                                              report=report, keyframe_residual=keyframe_residual)), dim=0)
