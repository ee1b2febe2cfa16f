"""The two baseline interpolators every method is measured against: linear blend and DIS flow warp.

Linear blend (cross-fade), the frame at fraction t between I_0 and I_1:

    I_t = (1 - t)·I_0 + t·I_1                                                   (blend)

Flow warp. DIS optical flow both ways (``vfi_core.flow``), F_{0->1} and F_{1->0}. The flows from
the unknown frame at t back to the inputs are approximated as in Super SloMo (Jiang et al.,
"Super SloMo: High Quality Estimation of Multiple Intermediate Frames for Video Interpolation",
CVPR 2018, eq. 4):

    F_{t->0} = -(1 - t)·t·F_{0->1} + t²·F_{1->0}
    F_{t->1} = (1 - t)²·F_{0->1} - t·(1 - t)·F_{1->0}                           (eq. 4)

It combines both flows so that each is read closer to the side where it is sampled correctly (a
plain -t·F_{0->1} reads F_{0->1} at p instead of at the pixel's position in frame 0); measured on
the dev triplets it is 0.05-0.1 dB better than the one-flow form t·F_{1->0}, (1-t)·F_{0->1}.
Both inputs are backward-warped to t, g(I, F)(p) = I(p + F(p)) (``vfi_core.warp``), and blended:

    I_t = (w_0·g(I_0, F_{t->0}) + w_1·g(I_1, F_{t->1})) / (w_0 + w_1)           (eq. 1, Super SloMo)
    w_0 = (1 - t)·V_{t<-0},  w_1 = t·V_{t<-1}

The visibility factors V come from the forward-backward check (``warp.occlusion_mask``,
Sundaram et al. 2010): O_0 marks pixels of frame 0 that fail the check (occluded in frame 1), O_1
those of frame 1. Warped to t along the same flows, O_0(p + F_{t->0}(p)) = 1 says the content
read from frame 0 has no match in frame 1, so frame 1 must not be mixed in there, and vice versa:

    V_{t<-1} = 1 - Õ_0·(1 - Õ_1),   V_{t<-0} = 1 - Õ_1·(1 - Õ_0)
    Õ_0 = g(O_0, F_{t->0}),  Õ_1 = g(O_1, F_{t->1})

Where both sides fail, both are kept (the check cannot say which is right). The check uses
Sundaram et al.'s constants; nothing was tuned on the ground-truth frames. Measured on the dev
triplets (benchmarks/results/baselines.md) the visibility factors change PSNR by under 0.1 dB
either way, so ``occlusion=False`` (plain (1-t), t weights) is offered as well.
Samples that land outside the frame repeat the border (``grid_sample`` border padding); also
down-weighting them (``warp.flow_validity``) was tried and lost 0.1-0.5 dB, so it is not done.
"""
import torch

from .flow import PRESETS, FlowField, as_flow_field, check_dis_size, dis_estimator, dis_flow_pair, to_gray_uint8
from .sequence import insert_frames
from .validate import check_frames, check_same_size
from .warp import backward_warp, occlusion_mask

EPS = 1e-6


# --- pairwise ----------------------------------------------------------------------------------
def _check_pair(first: torch.Tensor, second: torch.Tensor, t: float):
    first = check_frames(first, name="first")
    second = check_frames(second, name="second")
    check_same_size(first, second)
    if first.shape[0] != second.shape[0]:
        raise ValueError(f"first has {first.shape[0]} frame(s), second {second.shape[0]}: they must pair up")
    t = float(t)
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"t must lie in [0, 1], got {t}")
    return first, second, t


def _blend(first: torch.Tensor, second: torch.Tensor, t: float) -> torch.Tensor:
    return (1.0 - t) * first + t * second                                 # eq. blend


def linear_blend_pair(first: torch.Tensor, second: torch.Tensor, t: float) -> torch.Tensor:
    """(1 - t)·first + t·second, [B,H,W,3] (eq. blend)."""
    first, second, t = _check_pair(first, second, t)
    return _blend(first, second, t)


def intermediate_flows(flow_01: torch.Tensor, flow_10: torch.Tensor, t: float):
    """(F_{t->0}, F_{t->1}), each [B,H,W,2], from F_{0->1}, F_{1->0} [B,H,W,2] (Super SloMo eq. 4)."""
    flow_t0 = -(1.0 - t) * t * flow_01 + t * t * flow_10
    flow_t1 = (1.0 - t) ** 2 * flow_01 - t * (1.0 - t) * flow_10
    return flow_t0, flow_t1


def occlusion_masks(flow_01: torch.Tensor, flow_10: torch.Tensor):
    """(O_0, O_1), each [B,H,W]: pixels of frame 0 / frame 1 failing the forward-backward check
    (``warp.occlusion_mask``). They do not depend on t, so a clip computes them once per pair."""
    return occlusion_mask(flow_01, flow_10), occlusion_mask(flow_10, flow_01)


def warp_blend(first: torch.Tensor, second: torch.Tensor, flow_01: torch.Tensor, flow_10: torch.Tensor,
               t: float, occlusion: bool = True, occlusions=None) -> torch.Tensor:
    """Frame at t from I_0 = first, I_1 = second [B,H,W,3] and their flows F_{0->1}, F_{1->0}
    [B,H,W,2] (pixels): eq. 4 flows, backward warp both, visibility-weighted blend (eq. 1).
    ``occlusion=False`` drops the visibility factors (weights (1-t), t only); ``occlusions``
    passes precomputed ``occlusion_masks(flow_01, flow_10)``."""
    like = {"dtype": first.dtype, "device": first.device}
    flow_01, flow_10 = flow_01.to(**like), flow_10.to(**like)
    flow_t0, flow_t1 = intermediate_flows(flow_01, flow_10, t)
    w0 = torch.full((*first.shape[:3], 1), 1.0 - t, **like)               # [B,H,W,1]
    w1 = torch.full((*first.shape[:3], 1), t, **like)
    if occlusion:
        occ_0, occ_1 = occlusions if occlusions is not None else occlusion_masks(flow_01, flow_10)
        # warp image and mask together: [B,H,W,3+1] -> g(I_0, F_t0) [B,H,W,3], Õ_0 [B,H,W,1]
        stack_0 = torch.cat([first, occ_0[..., None].to(**like)], dim=-1)
        stack_1 = torch.cat([second, occ_1[..., None].to(**like)], dim=-1)
        warped_0, occ_0 = backward_warp(stack_0, flow_t0).split([3, 1], dim=-1)
        warped_1, occ_1 = backward_warp(stack_1, flow_t1).split([3, 1], dim=-1)
        w0 = w0 * (1.0 - occ_1 * (1.0 - occ_0))                           # V_{t<-0}
        w1 = w1 * (1.0 - occ_0 * (1.0 - occ_1))                           # V_{t<-1}
    else:
        warped_0 = backward_warp(first, flow_t0)                          # [B,H,W,3]
        warped_1 = backward_warp(second, flow_t1)
    w0, w1 = w0 + EPS, w1 + EPS
    return ((w0 * warped_0 + w1 * warped_1) / (w0 + w1)).clamp(0.0, 1.0)


def pair_flows(first: torch.Tensor, second: torch.Tensor, preset: str = "medium"):
    """DIS flows (F_{0->1}, F_{1->0}) of each pair in a batch, [B,H,W,2] each."""
    dis = dis_estimator(preset)
    check_dis_size(first.shape[2], first.shape[1])
    g0, g1 = to_gray_uint8(first), to_gray_uint8(second)                 # [B,H,W] uint8
    f01 = [torch.from_numpy(dis_flow_pair(a, b, dis=dis)) for a, b in zip(g0, g1)]
    f10 = [torch.from_numpy(dis_flow_pair(b, a, dis=dis)) for a, b in zip(g0, g1)]
    return torch.stack(f01), torch.stack(f10)


def flow_warp_pair(first: torch.Tensor, second: torch.Tensor, t: float, preset: str = "medium",
                   occlusion: bool = True) -> torch.Tensor:
    """Frame at fraction t between first and second [B,H,W,3]: DIS flow both ways, then
    ``warp_blend`` (see the module docstring for the equations)."""
    first, second, t = _check_pair(first, second, t)
    flow_01, flow_10 = pair_flows(first, second, preset)
    return warp_blend(first, second, flow_01, flow_10, t, occlusion=occlusion)


# --- whole clips (the vfi_core.methods interface) ---------------------------------------------
def _check_clip(frames, fractions, timing):
    frames = check_frames(frames, min_count=2)
    fractions = [float(f) for f in fractions]
    if not fractions:
        raise ValueError("no in-between times given: pass at least one fraction between 0 and 1")
    if any(not 0.0 < f < 1.0 for f in fractions):
        raise ValueError(f"in-between times must lie strictly between 0 and 1, got {fractions}")
    if timing is not None and len(timing) != frames.shape[0]:
        raise ValueError(f"timing has {len(timing)} timestamps but the clip has {frames.shape[0]} frames")
    return frames, sorted(fractions)


def linear_blend_clip(frames: torch.Tensor, fractions, timing=None, progress=None) -> torch.Tensor:
    """Clip [N,H,W,3] with a cross-faded frame at every fraction of every interval,
    [(N-1)·(len(fractions)+1)+1, H,W,3]. ``timing`` is only checked: the fractions are of each
    interval, whatever its length."""
    frames, fractions = _check_clip(frames, fractions, timing)
    return insert_frames(frames, fractions, _blend, progress=progress)  # frames checked once above


def pair_flow_source(frames: torch.Tensor, preset: str, flow, method: str, occlusion: bool = True):
    """Check ``preset`` and ``flow`` (a FlowField or anything ``as_flow_field`` accepts, with a
    backward flow; None = DIS) for the clip ``frames``, and return ``flows_of(first, second) ->
    (forward, backward, occlusions or None)`` for a pair-wise method: insert_frames calls every
    fraction of one pair before the next pair (same tensor objects), so each pair's flows and
    occlusion masks are computed on its first call and reused. ``method`` names the caller in errors."""
    if preset not in PRESETS:
        raise ValueError(f"unknown DIS preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    field: FlowField | None = None
    if flow is not None:
        field = as_flow_field(flow, frames)
        if field.backward is None:
            raise ValueError(f"{method} needs the backward flow too: make the flow with backward = true")
    state = {"first": None, "pair": -1, "flows": None, "occlusions": None}

    def flows_of(first, second):
        if state["first"] is not first:
            state["first"], state["pair"] = first, state["pair"] + 1
            if field is not None:
                i = state["pair"]
                state["flows"] = (field.forward[i:i + 1], field.backward[i:i + 1])
            else:
                state["flows"] = pair_flows(first, second, preset)
            state["occlusions"] = occlusion_masks(*state["flows"]) if occlusion else None
        return (*state["flows"], state["occlusions"])
    return flows_of


def flow_warp_clip(frames: torch.Tensor, fractions, timing=None, progress=None, preset: str = "medium",
                   occlusion: bool = True, flow=None) -> torch.Tensor:
    """Clip [N,H,W,3] with a flow-warped frame at every fraction of every interval,
    [(N-1)·(len(fractions)+1)+1, H,W,3].

    Each pair's two DIS flows are computed once and reused for all its fractions. ``flow`` (a
    FlowField or anything ``as_flow_field`` accepts, with a backward flow) replaces DIS.
    """
    frames, fractions = _check_clip(frames, fractions, timing)
    flows_of = pair_flow_source(frames, preset, flow, "flow warp", occlusion)

    def pair_fn(first, second, t):
        forward, backward, occlusions = flows_of(first, second)
        return warp_blend(first, second, forward, backward, t, occlusion=occlusion, occlusions=occlusions)

    return insert_frames(frames, fractions, pair_fn, progress=progress, pairs_per_call=1)
