"""The optical-flow constraint on an implicit video's exact derivatives (SIREN-OF).

Paper: "Optical Flow Regularization of Implicit Neural Representations for Video Frame
Interpolation". Brightness constancy along the motion says a point moving with velocity (u, v)
keeps its colour: f(x + u·dt, y + v·dt, t + dt) = f(x, y, t). Differentiating at dt = 0 gives the
optical-flow constraint on the network f_θ(x, y, t) -> RGB,

    ∂f/∂x · u + ∂f/∂y · v + ∂f/∂t = ∇f · (u, v, 1) = 0,                     (optical flow eq.)

and the regulariser is its L1 residual, averaged over sampled pixels and colour channels,

    L_of = 1/(N·C) Σ_n Σ_c | ∇f_c(p_n) · (u_n, v_n, 1) |.                   (L_of)

Units. The models take coordinates in [0, 1]^3 (``vfi_core.inr``): x = col / (W-1),
y = row / (H-1), t = normalised timestamp. A flow of u_px pixels between frames i and i+1 is
u_px / (W-1) in x units, covered in Δt_i = t_{i+1} - t_i normalised time units, so the velocity
in input units per normalised-time unit is

    u = u_px / ((W-1) · Δt_i),     v = v_px / ((H-1) · Δt_i).                (velocity)

The tangent (u, v, 1) lives in the [0,1] input space; each model's own map to its internal range
(SIREN: c ↦ 2c - 1) is differentiated by autodiff, so no extra factor appears here.
The directional derivative is one forward-mode pass (``torch.func.jvp``) with that tangent, not
three backward passes.
"""
import torch
from torch.func import jvp


def flow_velocity(forward: torch.Tensor, backward, times) -> torch.Tensor:
    """Per-frame velocity in input units per normalised time, [T,H,W,2] (u, v) from pixel flow.

    ``forward`` [T-1,H,W,2] is the flow frame i -> i+1 in pixels (u = dx, v = dy), sampled on
    frame i's pixels; ``backward`` [T-1,H,W,2] (frame i+1 -> i) or None; ``times`` [T] the
    normalised frame times. Frames 0..T-2 use their forward flow (eq. velocity). The last frame
    has no forward flow: it uses the negated backward flow out of it, -backward[T-2], which is
    sampled on its own pixels; without a backward flow it reuses forward[T-2] (constant velocity
    across the last interval, sampled on frame T-2's pixels — an approximation).
    """
    forward = torch.as_tensor(forward)
    if forward.ndim != 4 or forward.shape[-1] != 2:
        raise ValueError(f"flow: expected forward flow [T-1,H,W,2], got {list(forward.shape)}")
    times = torch.as_tensor(times, dtype=torch.float64).flatten()
    if times.numel() != forward.shape[0] + 1:
        raise ValueError(f"flow: {forward.shape[0]} forward flows need {forward.shape[0] + 1} frame times, "
                         f"got {times.numel()}")
    if not torch.isfinite(forward).all():
        raise ValueError("flow: NaN or Inf values in the forward flow")
    if backward is not None:
        backward = torch.as_tensor(backward)
        if backward.shape != forward.shape:
            raise ValueError(f"flow: backward flow {list(backward.shape)} does not match forward "
                             f"{list(forward.shape)}")
        if not torch.isfinite(backward).all():
            raise ValueError("flow: NaN or Inf values in the backward flow")
    dt = times[1:] - times[:-1]                                            # [T-1]
    if not (dt > 0).all():
        raise ValueError("flow: frame times must be strictly increasing")
    _, h, w, _ = forward.shape
    # pixels -> [0,1] units; a 1-pixel-wide axis has a constant coordinate, so no motion along it
    scale = torch.tensor([1.0 / (w - 1) if w > 1 else 0.0, 1.0 / (h - 1) if h > 1 else 0.0],
                         dtype=torch.float64)                               # [2]
    last = -backward[-1:] if backward is not None else forward[-1:]        # [1,H,W,2] pixels / interval
    per_frame = torch.cat([forward, last], dim=0).double()                 # [T,H,W,2] pixels / interval
    interval = torch.cat([dt, dt[-1:]])                                    # [T] interval each frame uses
    velocity = per_frame * scale / interval[:, None, None, None]           # [T,H,W,2]
    return velocity.to(forward.dtype if forward.is_floating_point() else torch.float32)


def directional_derivative(fn, coords: torch.Tensor, tangent: torch.Tensor):
    """(f(coords), ∇f(coords) · tangent) with one forward-mode pass (``torch.func.jvp``).

    ``fn`` maps [N,3] -> [N,C] pointwise (each output row depends only on its input row), so the
    Jacobian-vector product with a per-row tangent [N,3] is the per-sample directional derivative.
    Gradients flow back to the parameters ``fn`` closes over.
    """
    if coords.shape != tangent.shape:
        raise ValueError(f"tangent {list(tangent.shape)} must match coords {list(coords.shape)}")
    return jvp(fn, (coords,), (tangent.to(coords.dtype),))


def flow_tangent(velocity: torch.Tensor) -> torch.Tensor:
    """(u, v) [N,2] in input units per normalised time -> tangent (u, v, 1) [N,3]."""
    return torch.cat([velocity, velocity.new_ones(velocity.shape[0], 1)], dim=1)


def flow_constraint_loss(model, coords: torch.Tensor, velocity: torch.Tensor):
    """L_of (eq. L_of) at ``coords`` [N,3] in [0,1] with velocities ``velocity`` [N,2].

    Returns ``(loss_of, rgb)``: the scalar mean |∇f · (u, v, 1)| over samples and channels, and the
    model's output at ``coords`` [N,C] (the primal of the same pass, reused for L_obs).
    """
    rgb, d_rgb = directional_derivative(model, coords, flow_tangent(velocity.to(coords.dtype)))  # [N,C] each
    return d_rgb.abs().mean(), rgb


def siren_of_loss(model, coords, rgb_target, velocity, lambda_obs: float):
    """L = λ·L_obs + (1-λ)·L_of with L_obs the MSE on observed pixels (paper, total loss).

    With λ = 1 the flow term is skipped entirely (a plain SIREN fit). Returns
    ``(loss, l_obs, l_of)`` with ``l_of`` None when skipped.
    """
    lam = float(lambda_obs)
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lambda_obs must lie in [0, 1], got {lambda_obs}")
    if lam >= 1.0:
        pred = model(coords)
        l_obs = torch.mean((pred - rgb_target) ** 2)
        return l_obs, l_obs, None
    l_of, pred = flow_constraint_loss(model, coords, velocity)
    l_obs = torch.mean((pred - rgb_target) ** 2)
    return lam * l_obs + (1.0 - lam) * l_of, l_obs, l_of
