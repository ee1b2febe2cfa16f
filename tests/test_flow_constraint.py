"""The optical-flow constraint: units, forward-mode derivative, L_of on exact translations."""
import math

import pytest
import torch

from frameweave.vfi_core.flow_constraint import (directional_derivative, flow_constraint_loss,
                                                 flow_tangent, flow_velocity, siren_of_loss)
from frameweave.vfi_core.siren import SirenVideo
from frameweave.vfi_core.timing import FrameTiming


def tiny_siren(dtype=torch.float64, seed=0, h=9, w=11, frames=4):
    model = SirenVideo(h, w, FrameTiming.from_fps(frames, 10), {"width": 16, "depth": 3, "omega0": 25.0, "seed": seed})
    return model.to(dtype)


# --- units ---------------------------------------------------------------------------------
def test_velocity_units_known_values():
    h, w = 5, 9
    fwd = torch.zeros(2, h, w, 2)
    fwd[0, ..., 0], fwd[0, ..., 1] = 4.0, -2.0      # 4 px right, 2 px up over interval 0
    fwd[1, ..., 0], fwd[1, ..., 1] = 1.0, 3.0
    times = [0.0, 0.25, 1.0]                        # non-uniform intervals: 0.25 and 0.75
    vel = flow_velocity(fwd, None, times)
    assert vel.shape == (3, h, w, 2)
    assert torch.allclose(vel[0, 0, 0], torch.tensor([4.0 / 8 / 0.25, -2.0 / 4 / 0.25]))
    assert torch.allclose(vel[1, 2, 3], torch.tensor([1.0 / 8 / 0.75, 3.0 / 4 / 0.75]))
    # no backward flow: the last frame reuses the last forward flow
    assert torch.allclose(vel[2], vel[1])


def test_velocity_last_frame_uses_negated_backward():
    fwd = torch.randn(2, 4, 6, 2)
    bwd = torch.randn(2, 4, 6, 2)
    vel = flow_velocity(fwd, bwd, [0.0, 0.5, 1.0])
    expected = -bwd[1] / torch.tensor([5.0, 3.0]) / 0.5
    assert torch.allclose(vel[2], expected, atol=1e-6)
    assert torch.allclose(vel[0], fwd[0] / torch.tensor([5.0, 3.0]) / 0.5, atol=1e-6)


def test_velocity_single_pixel_axis_has_no_motion():
    vel = flow_velocity(torch.ones(1, 1, 5, 2), None, [0.0, 1.0])
    assert torch.all(vel[..., 1] == 0) and torch.allclose(vel[..., 0], torch.full((2, 1, 5), 0.25))


@pytest.mark.parametrize("fwd, bwd, times, match", [
    (torch.zeros(2, 4, 4), None, [0, 0.5, 1], "forward flow"),
    (torch.zeros(2, 4, 4, 2), None, [0, 1], "frame times"),
    (torch.zeros(2, 4, 4, 2), torch.zeros(2, 4, 5, 2), [0, 0.5, 1], "backward flow"),
    (torch.full((2, 4, 4, 2), float("nan")), None, [0, 0.5, 1], "NaN"),
    (torch.zeros(2, 4, 4, 2), torch.full((2, 4, 4, 2), float("inf")), [0, 0.5, 1], "NaN"),
    (torch.zeros(2, 4, 4, 2), None, [0, 0.5, 0.5], "increasing"),
])
def test_velocity_exception(fwd, bwd, times, match):
    with pytest.raises(ValueError, match=match):
        flow_velocity(fwd, bwd, times)


# --- the forward-mode directional derivative ----------------------------------------------
def test_jvp_equals_autograd_gradient_dot_flow():
    """∇f·(u,v,1) from one jvp pass == per-channel autograd gradient dotted with (u,v,1), float64."""
    torch.manual_seed(0)
    model = tiny_siren()
    coords = torch.rand(7, 3, dtype=torch.float64)
    vel = torch.randn(7, 2, dtype=torch.float64) * 3
    out, d_out = directional_derivative(model, coords, flow_tangent(vel))
    assert out.shape == d_out.shape == (7, 3)
    c = coords.clone().requires_grad_(True)
    f = model(c)
    tangent = torch.cat([vel, torch.ones(7, 1, dtype=torch.float64)], dim=1)
    for ch in range(3):
        (grad,) = torch.autograd.grad(f[:, ch].sum(), c, retain_graph=True)   # [7,3]; rows independent
        assert torch.allclose(d_out[:, ch], (grad * tangent).sum(dim=1), atol=1e-10, rtol=1e-9)
    assert torch.allclose(out, f.detach(), atol=1e-12)


def test_gradcheck_flow_constraint_loss():
    """Gradients of L_of w.r.t. the coordinates and flow are exact (reverse over forward mode)."""
    model = tiny_siren()
    coords = torch.rand(4, 3, dtype=torch.float64, requires_grad=True)
    vel = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    # |.| is not smooth at 0; the random samples keep the residuals away from it
    assert torch.autograd.gradcheck(lambda c, v: flow_constraint_loss(model, c, v)[0], (coords, vel))


def test_flow_constraint_loss_reaches_parameters():
    model = tiny_siren(torch.float32)
    loss, rgb = flow_constraint_loss(model, torch.rand(16, 3), torch.randn(16, 2))
    loss.backward()
    assert rgb.shape == (16, 3)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())


# --- L_of on an exactly translating video ----------------------------------------------------
class Translating(torch.nn.Module):
    """An analytic video panned at (sx, sy) pixels per second: f(col - sx·s, row - sy·s) with
    s the time in seconds, written in the [0,1] input coordinates of the INR models."""

    def __init__(self, h, w, timing, speed):
        super().__init__()
        self.h, self.w, self.timing, self.speed = h, w, timing, speed

    def forward(self, coords):
        col, row = coords[:, 0] * (self.w - 1), coords[:, 1] * (self.h - 1)
        ts = self.timing.timestamps
        seconds = ts[0] + coords[:, 2] * (ts[-1] - ts[0])
        a = col - self.speed[0] * seconds
        b = row - self.speed[1] * seconds
        return torch.stack([torch.sin(0.3 * a) * torch.cos(0.2 * b), torch.sin(0.1 * a + 0.4 * b),
                            torch.cos(0.25 * a - 0.15 * b)], dim=1)              # [N,3]


@pytest.mark.parametrize("timing", [FrameTiming.from_fps(5, 12.0),
                                    FrameTiming((0.0, 0.1, 0.35, 0.4, 0.9), 1.0)])   # GIF-like delays
def test_translation_has_zero_flow_loss(timing):
    """A clip panned by speed·Δs pixels per interval: the pixel flow converted by flow_velocity
    makes L_of vanish for the exactly translating model, and a wrong flow does not."""
    h, w, speed = 12, 20, (7.0, -3.0)                        # pixels per second
    secs = torch.tensor(timing.timestamps, dtype=torch.float64)
    dsec = secs[1:] - secs[:-1]                              # [T-1]
    fwd = torch.stack([torch.tensor(speed, dtype=torch.float64) * d for d in dsec])[:, None, None, :]
    fwd = fwd.expand(-1, h, w, -1).contiguous()             # [T-1,H,W,2] pixels, frame i -> i+1
    vel = flow_velocity(fwd, -fwd, timing.normalised())     # [T,H,W,2]
    model = Translating(h, w, timing, speed)
    frame = torch.randint(0, len(timing), (64,))
    pix = torch.randint(0, h * w, (64,))
    coords = torch.stack([(pix % w).double() / (w - 1), (pix // w).double() / (h - 1),
                          torch.as_tensor(timing.normalised())[frame]], dim=1)   # [64,3]
    v = vel.reshape(len(timing), h * w, 2)[frame, pix]                           # [64,2]
    loss, _ = flow_constraint_loss(model, coords, v)
    assert loss.item() < 1e-10
    wrong, _ = flow_constraint_loss(model, coords, 2 * v)
    assert wrong.item() > 0.1
    swapped, _ = flow_constraint_loss(model, coords, v.flip(-1))
    assert swapped.item() > 0.1


# --- the total loss ------------------------------------------------------------------------------
def test_lambda_one_disables_flow_term():
    model = tiny_siren(torch.float32)
    coords, target = torch.rand(32, 3), torch.rand(32, 3)
    loss, l_obs, l_of = siren_of_loss(model, coords, target, torch.full((32, 2), float("nan")), 1.0)
    assert l_of is None and torch.isfinite(loss) and loss == l_obs
    loss, l_obs, l_of = siren_of_loss(model, coords, target, torch.randn(32, 2), 0.12)
    assert math.isclose(loss.item(), 0.12 * l_obs.item() + 0.88 * l_of.item(), rel_tol=1e-5)
    with pytest.raises(ValueError, match="lambda_obs"):
        siren_of_loss(model, coords, target, torch.randn(32, 2), 1.5)
