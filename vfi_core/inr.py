"""The shared interface of per-clip implicit video models (NeCo, SIREN-OF): the INR_MODEL type.

An implicit video is a network f(x, y, t) -> RGB fitted to one clip. Every model here takes
coordinates normalised to [0, 1]^3 — x = col / (W-1), y = row / (H-1), t = the frame's
normalised timestamp (``FrameTiming.normalised()``) — and maps them to its own input range
internally. ``render`` evaluates whole frames at any t; the Render Frames node works for all.
"""
import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .timing import FrameTiming

INR_REGISTRY = {}  # kind -> class; filled by @register_inr


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
    def render(self, times, chunk: int = 1 << 16, progress=None) -> torch.Tensor:
        """Frames at normalised times ``times`` ([N] floats in [0,1]) -> [N,H,W,3] float32 in 0..1."""
        device = next(self.parameters()).device
        times = torch.as_tensor(times, dtype=torch.float32).flatten()
        grid = self.pixel_grid(device)                            # [P,2]
        frames = []
        for n, t in enumerate(times.tolist()):
            out = torch.empty(grid.shape[0], 3, device=device)
            for s in range(0, grid.shape[0], chunk):
                xy = grid[s:s + chunk]
                coords = torch.cat([xy, xy.new_full((xy.shape[0], 1), t)], dim=1)  # [n,3]
                out[s:s + chunk] = self(coords).float()
            frames.append(out.clamp(0, 1).reshape(self.height, self.width, 3).cpu())
            if progress is not None:
                progress(n + 1, len(times))
        return torch.stack(frames)

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


def inserted_times(timing: FrameTiming, fractions) -> torch.Tensor:
    """Normalised times ([0,1]) of the frames that ``timing.with_inserted(fractions)`` adds,
    in clip order, [(T-1)·len(fractions)]."""
    t = timing.normalised()
    fr = sorted(float(f) for f in fractions)
    return torch.tensor([a + f * (b - a) for a, b in zip(t[:-1], t[1:]) for f in fr], dtype=torch.float32)


def default_device() -> torch.device:
    """Where the clip methods fit when no device is given: the GPU when there is one."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def fit_and_render_clip(frames: torch.Tensor, fractions, timing: FrameTiming, fit, progress=None) -> torch.Tensor:
    """The ``methods.py`` interface for a per-clip model.

    ``fit(progress) -> ImplicitVideo`` fits the model to ``frames`` [N,H,W,3]; it is then rendered
    at every inserted time and the result is [(N-1)·(m+1)+1, H,W,3]: the input frames kept as they
    are with the m rendered frames between each pair.

    ``progress(done, total)``: the fit reports 0..1000; once the first frame is rendered, the total
    grows by the share the measured rendering time deserves (rendering a wide network can take as
    long as the fit), so the bar's ETA holds through both phases.
    """
    import time  # noqa: PLC0415

    fractions = sorted(float(f) for f in fractions)
    if any(not 0.0 < f < 1.0 for f in fractions):
        raise ValueError(f"insertion fractions must lie strictly between 0 and 1, got {fractions}")
    fit_units = 1000

    def fit_progress(done, total):
        progress(int(fit_units * done / max(total, 1)), fit_units)

    fit_start = time.perf_counter()
    model = fit(fit_progress if progress is not None else None)
    fit_seconds = max(time.perf_counter() - fit_start, 1e-3)
    frames = frames.cpu()                                 # rendered frames come back on the CPU
    n, m = frames.shape[0], len(fractions)
    if m == 0:
        return frames.clone()
    render_start = time.perf_counter()
    render_units = []                                    # set from the first rendered frame

    def render_progress(done, total):
        if not render_units:
            per_frame = (time.perf_counter() - render_start) / max(done, 1)
            render_units.append(max(1, round(fit_units * per_frame * total / fit_seconds)))
        progress(fit_units + round(render_units[0] * done / max(total, 1)), fit_units + render_units[0])

    rendered = model.render(inserted_times(timing, fractions),
                            progress=render_progress if progress is not None else None)   # [(n-1)m,H,W,3]
    out = [frames[:1]]
    for i in range(n - 1):
        out.append(rendered[i * m:(i + 1) * m].to(frames.dtype))
        out.append(frames[i + 1:i + 2])
    return torch.cat(out, dim=0)
