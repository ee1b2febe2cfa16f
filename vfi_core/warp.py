"""Backward warping by optical flow, its validity mask and the forward-backward consistency check.

Backward warping reads, for every output pixel p, the input at p + flow(p):

    warped(p) = I(p + F(p))                                  (bilinear, border-clamped)

so with F = F_{1->0} (flow of frame 1 into frame 0), ``backward_warp(I_0, F_{1->0})`` is frame 0
rearranged onto frame 1's pixels. Implemented with ``torch.nn.functional.grid_sample``
(align_corners=True, so pixel centres sit at integer coordinates 0..W-1), differentiable in both
the image and the flow.
"""
import torch
import torch.nn.functional as F


def _check_flow_shape(flow: torch.Tensor, name: str = "flow") -> None:
    if not isinstance(flow, torch.Tensor) or flow.ndim != 4 or flow.shape[-1] != 2:
        raise ValueError(f"{name}: expected a tensor [B,H,W,2], got "
                         f"{list(flow.shape) if isinstance(flow, torch.Tensor) else type(flow).__name__}")


def sampling_grid(flow: torch.Tensor) -> torch.Tensor:
    """Pixel positions p + flow(p) in grid_sample's normalised [-1,1] coordinates, [B,H,W,2] (x, y)."""
    _check_flow_shape(flow)
    _, h, w, _ = flow.shape
    ys = torch.arange(h, dtype=flow.dtype, device=flow.device)
    xs = torch.arange(w, dtype=flow.dtype, device=flow.device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")                       # [H,W] each
    x = gx + flow[..., 0]                                                 # [B,H,W]
    y = gy + flow[..., 1]
    # align_corners=True: pixel 0 -> -1, pixel W-1 -> +1 (a 1-pixel axis maps to 0)
    nx = x * (2.0 / (w - 1)) - 1.0 if w > 1 else torch.zeros_like(x)
    ny = y * (2.0 / (h - 1)) - 1.0 if h > 1 else torch.zeros_like(y)
    return torch.stack([nx, ny], dim=-1)


def backward_warp(image: torch.Tensor, flow: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Sample ``image`` at p + flow(p): warped(p) = image(p + flow(p)).

    image: [B,H,W,C] (channels last, as IMAGE) or [B,C,H,W] (channels first); the layout is told
    apart by which axes match the flow's H,W, and the result has the same layout as the input.
    flow: [B,H,W,2] pixels (u = dx right, v = dy down). Outside the image the border is repeated
    (padding_mode="border"); ``flow_validity`` says where that happened.
    """
    _check_flow_shape(flow)
    if not isinstance(image, torch.Tensor) or image.ndim != 4:
        raise ValueError(f"backward_warp: expected an image [B,H,W,C] or [B,C,H,W], got "
                         f"{list(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__}")
    b, h, w, _ = flow.shape
    if image.shape[0] != b:
        raise ValueError(f"backward_warp: {image.shape[0]} image(s) but {b} flow field(s)")
    if tuple(image.shape[1:3]) == (h, w):
        channels_last = True
    elif tuple(image.shape[2:4]) == (h, w):
        channels_last = False
    else:
        raise ValueError(f"backward_warp: image {list(image.shape)} does not match the flow size {w}x{h} (w x h)")
    x = image.permute(0, 3, 1, 2) if channels_last else image                # [B,C,H,W]
    grid = sampling_grid(flow.to(device=x.device, dtype=x.dtype if x.is_floating_point() else torch.float32))
    out = F.grid_sample(x, grid, mode=mode, padding_mode="border", align_corners=True)
    return out.permute(0, 2, 3, 1) if channels_last else out


def flow_validity(flow: torch.Tensor) -> torch.Tensor:
    """Float [B,H,W]: 1 where p + flow(p) lands inside the image (within its pixel centres
    0..W-1, 0..H-1), 0 where ``backward_warp`` had to repeat the border instead."""
    _check_flow_shape(flow)
    _, h, w, _ = flow.shape
    ys = torch.arange(h, dtype=flow.dtype, device=flow.device)[:, None]
    xs = torch.arange(w, dtype=flow.dtype, device=flow.device)[None, :]
    x = xs + flow[..., 0]
    y = ys + flow[..., 1]
    inside = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
    return inside.to(flow.dtype)


def consistency_error(flow_ab: torch.Tensor, flow_ba: torch.Tensor) -> torch.Tensor:
    """Forward-backward consistency error on frame a's pixels, [B,H,W] in pixels:

        e_a(p) = | F_{a->b}(p) + F_{b->a}(p + F_{a->b}(p)) |

    zero where following the flow to b and back returns to p; large where p is occluded in b
    (or the flow is wrong there). Sundaram, Brox, Keutzer, "Dense point trajectories by
    GPU-accelerated large displacement optical flow", ECCV 2010, eq. 4 (their threshold form).
    """
    _check_flow_shape(flow_ab, "flow_ab")
    _check_flow_shape(flow_ba, "flow_ba")
    if flow_ab.shape != flow_ba.shape:
        raise ValueError(f"consistency_error: flows differ in shape: {list(flow_ab.shape)} vs {list(flow_ba.shape)}")
    back = backward_warp(flow_ba, flow_ab)                                # [B,H,W,2] F_ba at p + F_ab(p)
    return (flow_ab + back).norm(dim=-1)


def occlusion_mask(flow_ab: torch.Tensor, flow_ba: torch.Tensor, alpha: float = 0.01,
                   beta: float = 0.5) -> torch.Tensor:
    """Float [B,H,W] on frame a's pixels: 1 where the forward-backward check fails (p is taken to be
    occluded in frame b, or its flow is unreliable), 0 where it passes. Sundaram et al. 2010, eq. 4:

        |F_ab(p) + F_ba(p + F_ab(p))|² > alpha·(|F_ab(p)|² + |F_ba(p + F_ab(p))|²) + beta

    with their constants alpha = 0.01, beta = 0.5 px²: the tolerance grows with the motion, since
    flow errors do.
    """
    _check_flow_shape(flow_ab, "flow_ab")
    _check_flow_shape(flow_ba, "flow_ba")
    if flow_ab.shape != flow_ba.shape:
        raise ValueError(f"occlusion_mask: flows differ in shape: {list(flow_ab.shape)} vs {list(flow_ba.shape)}")
    back = backward_warp(flow_ba, flow_ab)                                # [B,H,W,2]
    err = (flow_ab + back).square().sum(dim=-1)                          # [B,H,W]
    tol = alpha * (flow_ab.square().sum(dim=-1) + back.square().sum(dim=-1)) + beta
    return (err > tol).to(flow_ab.dtype)
