"""Optical flow between consecutive frames (the FLOW type): OpenCV DIS, external flows, colour wheel.

A ``FlowField`` holds, for a clip of T frames,

    forward[i]  [H,W,2]  frame i   -> i+1:  pixel p of frame i   moves to p + forward[i, p]  in frame i+1
    backward[i] [H,W,2]  frame i+1 -> i:    pixel p of frame i+1 moves to p + backward[i, p] in frame i

in pixels, (u, v) = (dx to the right, dy down), float32 on the CPU.

Estimator: DIS, Kroeger, Timofte, Dai, Van Gool, "Fast Optical Flow using Dense Inverse Search",
ECCV 2016, as ``cv2.DISOpticalFlow`` with OpenCV's presets, on 8-bit grayscale (ITU-R BT.601 luma,
as ``cv2.cvtColor(RGB2GRAY)``). The presets are used exactly as OpenCV defines them (checked on
OpenCV 5.0):

    preset     finest scale  patch  stride  grad.-descent its  variational refinement its
    ultrafast  2 (1/4 res.)  8      4       12                 0  (none)
    fast       2 (1/4 res.)  8      4       16                 5
    medium     1 (1/2 res.)  8      3       25                 5

with mean normalisation and spatial propagation on, and the variational refinement (where used)
at OpenCV's defaults α = 20, δ = 5, γ = 10. "ultrafast" therefore has no variational refinement;
"fast" and "medium" run 5 iterations of it at every pyramid level.
"""
from dataclasses import dataclass

import numpy as np
import torch

from .validate import check_frames

PRESETS = ("ultrafast", "fast", "medium")


@dataclass
class FlowField:
    """Optical flow of a clip (ComfyUI type FLOW); see the module docstring for conventions."""
    forward: torch.Tensor                 # [T-1,H,W,2] float32 pixels, frame i -> i+1
    backward: torch.Tensor | None = None  # [T-1,H,W,2] float32 pixels, frame i+1 -> i, or None
    preset: str = "external"              # DIS preset that made it, or "external"
    method: str = "external"              # "dis" or "external"

    def __post_init__(self):
        self.forward = _check_flow(self.forward, "forward flow")
        if self.backward is not None:
            self.backward = _check_flow(self.backward, "backward flow")
            if self.backward.shape != self.forward.shape:
                raise ValueError(f"backward flow {list(self.backward.shape)} does not match the forward "
                                 f"flow {list(self.forward.shape)}")

    @property
    def pairs(self) -> int:
        return int(self.forward.shape[0])

    @property
    def size(self) -> tuple:
        """(height, width) of the frames the flow belongs to."""
        return int(self.forward.shape[1]), int(self.forward.shape[2])

    def __repr__(self) -> str:
        h, w = self.size
        return (f"FlowField({self.pairs} pair(s) of {w}x{h}, method={self.method}, preset={self.preset}, "
                f"backward={'yes' if self.backward is not None else 'no'})")


def _check_flow(flow, name: str) -> torch.Tensor:
    """A flow tensor [N,H,W,2] as finite float32 on the CPU, or ValueError naming the problem."""
    if isinstance(flow, np.ndarray):
        flow = torch.from_numpy(flow)
    if not isinstance(flow, torch.Tensor):
        raise TypeError(f"{name}: expected a tensor [pairs,H,W,2], got {type(flow).__name__}")
    if flow.ndim != 4 or flow.shape[-1] != 2:
        raise ValueError(f"{name}: expected shape [pairs, height, width, 2], got {list(flow.shape)}")
    if flow.shape[0] < 1 or flow.shape[1] < 1 or flow.shape[2] < 1:
        raise ValueError(f"{name}: empty flow of shape {list(flow.shape)}")
    flow = flow.detach().to("cpu", torch.float32)
    if not torch.isfinite(flow).all():
        raise ValueError(f"{name}: NaN or Inf values")
    return flow.contiguous()


# --- DIS -------------------------------------------------------------------------------------
# Smallest frame side DIS is given. OpenCV 5.0's DIS raises below 8 px or when neither side
# reaches 12 px, and kills the process (segmentation fault) for heights of 8-15 px at widths from
# 40 px up to 150-300 px (measured for all three presets; heights of 16 px and more never crashed).
DIS_MIN_SIDE = 16


def check_dis_size(width: int, height: int) -> None:
    """ValueError for frames too small for OpenCV's DIS optical flow (see ``DIS_MIN_SIDE``)."""
    if min(width, height) < DIS_MIN_SIDE:
        raise ValueError(f"frames of {width}x{height} are too small for DIS optical flow (need at least "
                         f"{DIS_MIN_SIDE}x{DIS_MIN_SIDE} pixels; OpenCV fails or crashes below that)")


def dis_estimator(preset: str = "medium"):
    """A cv2.DISOpticalFlow object with OpenCV's preset ``preset`` (ultrafast / fast / medium)."""
    import cv2  # noqa: PLC0415  (heavy import kept local)

    if preset not in PRESETS:
        raise ValueError(f"unknown DIS preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    code = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
            "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}[preset]
    return cv2.DISOpticalFlow_create(code)


def to_gray_uint8(frames: torch.Tensor) -> np.ndarray:
    """IMAGE [T,H,W,3] in 0..1 -> uint8 luma [T,H,W], Y = 0.299 R + 0.587 G + 0.114 B (BT.601),
    rounded to nearest: the image DIS sees."""
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float32)
    y = (frames.detach().cpu().float().clamp(0, 1) * 255.0) @ weights    # [T,H,W]
    return y.round().clamp(0, 255).to(torch.uint8).numpy()


def dis_flow_pair(a_gray: np.ndarray, b_gray: np.ndarray, preset: str = "medium", dis=None) -> np.ndarray:
    """DIS flow a -> b on uint8 grayscale [H,W] images: float32 [H,W,2], pixel p of ``a`` moves to
    p + flow[p] in ``b``. ``dis`` reuses an existing cv2.DISOpticalFlow object."""
    for img, name in ((a_gray, "first"), (b_gray, "second")):
        if not isinstance(img, np.ndarray) or img.ndim != 2 or img.dtype != np.uint8:
            raise ValueError(f"dis_flow_pair: {name} image must be uint8 grayscale [H,W], got "
                             f"{getattr(img, 'dtype', type(img).__name__)} {list(getattr(img, 'shape', []))}")
    if a_gray.shape != b_gray.shape:
        raise ValueError(f"dis_flow_pair: image sizes differ: {a_gray.shape[::-1]} vs {b_gray.shape[::-1]} (w, h)")
    dis = dis if dis is not None else dis_estimator(preset)
    check_dis_size(a_gray.shape[1], a_gray.shape[0])                   # a crash in OpenCV otherwise
    flow = dis.calc(np.ascontiguousarray(a_gray), np.ascontiguousarray(b_gray), None)
    return np.asarray(flow, dtype=np.float32)


def estimate_flow(frames: torch.Tensor, preset: str = "medium", backward: bool = True, progress=None) -> FlowField:
    """DIS flow between consecutive frames of a clip [T,H,W,3] (T >= 2) -> FlowField.

    ``backward`` also computes frame i+1 -> i (a second independent DIS run per pair).
    ``progress(done, total)`` is called after every pair.
    """
    frames = check_frames(frames, min_count=2)
    dis = dis_estimator(preset)
    check_dis_size(frames.shape[2], frames.shape[1])
    gray = to_gray_uint8(frames)                                         # [T,H,W] uint8
    n = gray.shape[0] - 1
    fwd, bwd = [], []
    for i in range(n):
        fwd.append(dis_flow_pair(gray[i], gray[i + 1], dis=dis))
        if backward:
            bwd.append(dis_flow_pair(gray[i + 1], gray[i], dis=dis))
        if progress is not None:
            progress(i + 1, n)
    return FlowField(forward=torch.from_numpy(np.stack(fwd)),
                     backward=torch.from_numpy(np.stack(bwd)) if backward else None,
                     preset=preset, method="dis")


# --- external flows ---------------------------------------------------------------------------
def _as_hw2(flow, name: str, expect_hw=None) -> torch.Tensor:
    """Accept [N,H,W,2] or [N,2,H,W] (tensor or numpy) and return [N,H,W,2]."""
    if isinstance(flow, np.ndarray):
        flow = torch.from_numpy(flow)
    if not isinstance(flow, torch.Tensor):
        raise TypeError(f"{name}: expected a tensor [pairs,H,W,2] or [pairs,2,H,W], got {type(flow).__name__}")
    if flow.ndim == 3:  # one pair without its batch axis
        flow = flow[None]
    if flow.ndim != 4:
        raise ValueError(f"{name}: expected a tensor [pairs,H,W,2] or [pairs,2,H,W], got {list(flow.shape)}")
    last2 = flow.shape[-1] == 2
    first2 = flow.shape[1] == 2
    if last2 and first2 and expect_hw is not None:
        # ambiguous (e.g. [N,2,W,2]): decide by the frame size
        last2 = tuple(flow.shape[1:3]) == tuple(expect_hw)
        first2 = not last2
    if last2:
        return flow
    if first2:
        return flow.permute(0, 2, 3, 1)                                  # [N,2,H,W] -> [N,H,W,2]
    raise ValueError(f"{name}: expected a tensor [pairs,H,W,2] or [pairs,2,H,W], got {list(flow.shape)}")


def as_flow_field(value, frames: torch.Tensor | None = None) -> FlowField:
    """A FlowField from a FlowField, a forward flow tensor ([T-1,H,W,2] or [T-1,2,H,W], pixels),
    or a dict {"forward": ..., "backward": ...}; checked against ``frames`` [T,H,W,3] when given.

    Raises ValueError naming the expected and the received shape when they do not fit.
    """
    expect_hw = tuple(frames.shape[1:3]) if frames is not None else None
    if isinstance(value, FlowField):
        field = value
    elif isinstance(value, dict):
        if "forward" not in value:
            raise ValueError(f"flow dict needs a 'forward' entry, got keys {sorted(value)}")
        bwd = value.get("backward")
        field = FlowField(forward=_as_hw2(value["forward"], "forward flow", expect_hw),
                          backward=_as_hw2(bwd, "backward flow", expect_hw) if bwd is not None else None,
                          preset=str(value.get("preset", "external")), method=str(value.get("method", "external")))
    elif isinstance(value, (torch.Tensor, np.ndarray)):
        field = FlowField(forward=_as_hw2(value, "flow", expect_hw))
    else:
        raise TypeError(f"flow: expected a FlowField, a tensor [T-1,H,W,2] or a dict with 'forward', "
                        f"got {type(value).__name__}")
    if frames is not None:
        t, h, w = int(frames.shape[0]), int(frames.shape[1]), int(frames.shape[2])
        expected = [t - 1, h, w, 2]
        got = list(field.forward.shape)
        if got != expected:
            raise ValueError(f"flow does not fit the frames: {t} frames of {w}x{h} need a flow of shape "
                             f"{expected} ([frames-1, height, width, 2]), got {got}")
    return field


# --- colour wheel -----------------------------------------------------------------------------
def _color_wheel() -> np.ndarray:
    """The Middlebury colour wheel (Baker et al., "A Database and Evaluation Methodology for Optical
    Flow", IJCV 2011): 55 hues through red-yellow-green-cyan-blue-magenta, float [55,3] in 0..1.
    Segment lengths RY=15, YG=6, GC=4, CB=11, BM=13, MR=6 (more hues where the eye tells them apart)."""
    segments = [(15, (1, 0, 0), (1, 1, 0)), (6, (1, 1, 0), (0, 1, 0)), (4, (0, 1, 0), (0, 1, 1)),
                (11, (0, 1, 1), (0, 0, 1)), (13, (0, 0, 1), (1, 0, 1)), (6, (1, 0, 1), (1, 0, 0))]
    rows = []
    for n, start, end in segments:
        s, e = np.asarray(start, np.float64), np.asarray(end, np.float64)
        for k in range(n):
            rows.append(s + (e - s) * k / n)
    return np.stack(rows)


def flow_to_color(flow: torch.Tensor, max_magnitude: float | None = None) -> torch.Tensor:
    """Flow [N,H,W,2] -> colour image [N,H,W,3] in 0..1 on the Middlebury colour wheel.

    Hue = direction: the angle atan2(-v, -u) mapped onto the wheel (the Middlebury convention), so
    motion to the right (u > 0) is red, down (v > 0) orange, left cyan, up blue-violet.
    Saturation = magnitude: white at zero motion, the full wheel colour at ``max_magnitude`` pixels and beyond (then
    darkened a little, × 0.75, to mark the clipped values). ``max_magnitude`` None or <= 0
    normalises by the largest magnitude over the whole batch.
    """
    flow = _check_flow(flow, "flow")
    if max_magnitude is None or max_magnitude <= 0:
        max_magnitude = float(flow.norm(dim=-1).max())                  # over the whole batch
    wheel = torch.from_numpy(_color_wheel())                             # [K,3]
    # one frame at a time in float64: a long 1080p clip never needs more than a few frames' memory
    return torch.stack([_wheel_colors(f.double(), float(max_magnitude), wheel) for f in flow])


def _wheel_colors(flow: torch.Tensor, max_magnitude: float, wheel: torch.Tensor) -> torch.Tensor:
    """One flow [H,W,2] float64 -> colours [H,W,3] float32 (see ``flow_to_color``)."""
    u, v = flow[..., 0], flow[..., 1]
    rad = torch.sqrt(u * u + v * v) / max(max_magnitude, 1e-12)          # [H,W] 1 at max_magnitude
    k = wheel.shape[0]
    angle = torch.atan2(-v, -u) / np.pi                                  # [-1,1]
    fk = (angle + 1.0) / 2.0 * (k - 1)                                   # [0,K-1] position on the wheel
    k0 = fk.floor().long().clamp(0, k - 1)
    k1 = (k0 + 1) % k
    f = (fk - k0.double())[..., None]                                    # [H,W,1]
    col = (1 - f) * wheel[k0] + f * wheel[k1]                            # [H,W,3]
    r = rad[..., None]
    inside = r <= 1.0 + 1e-6                                             # at max_magnitude: full colour
    col = torch.where(inside, 1.0 - r * (1.0 - col), col * 0.75)         # white -> hue with magnitude
    return col.float().clamp(0, 1)
