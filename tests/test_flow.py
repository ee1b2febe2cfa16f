"""Optical flow (DIS), the FLOW type, backward warping and the colour wheel; the flow nodes."""
import colorsys

import numpy as np
import pytest
import torch

from frameweave.nodes.flow_nodes import FrameWeaveFlowVisualise, FrameWeaveOpticalFlow
from frameweave.vfi_core.flow import (FlowField, as_flow_field, dis_flow_pair, estimate_flow, flow_to_color,
                                      to_gray_uint8)
from frameweave.vfi_core.metrics import psnr
from frameweave.vfi_core.warp import backward_warp, consistency_error, flow_validity, occlusion_mask

STEP = (0.75, 1.5)  # (dy, dx) pixels per frame: sub-pixel vertically


def interior(x, m=8):
    return x[:, m:-m, m:-m]


@pytest.fixture
def pan(make_clip):
    return make_clip(3, size=(96, 128), step=STEP)


@pytest.fixture
def pan_flow(pan):
    return estimate_flow(pan, preset="medium", backward=True)


# --- DIS --------------------------------------------------------------------------------------
def test_dis_recovers_subpixel_translation(pan_flow):
    # frame i+1 is frame i's view moved by STEP, so its content moves by -STEP: u = -dx, v = -dy
    fwd = interior(pan_flow.forward)
    bwd = interior(pan_flow.backward)
    expected = torch.tensor([-STEP[1], -STEP[0]])
    assert torch.allclose(fwd.median(dim=1).values.median(dim=1).values, expected, atol=0.1)
    assert (fwd - expected).norm(dim=-1).mean() < 0.2
    assert (bwd + expected).norm(dim=-1).mean() < 0.2


def test_cardinality(pan, pan_flow):
    t, h, w, _ = pan.shape
    assert pan_flow.forward.shape == (t - 1, h, w, 2) and pan_flow.forward.dtype == torch.float32
    assert pan_flow.backward.shape == (t - 1, h, w, 2)
    assert pan_flow.preset == "medium" and pan_flow.method == "dis"
    one_way = estimate_flow(pan[:2], preset="ultrafast", backward=False)
    assert one_way.backward is None and one_way.forward.shape == (1, h, w, 2)


def test_presets_and_progress(pan):
    calls = []
    for preset in ("ultrafast", "fast"):
        f = estimate_flow(pan, preset=preset, backward=False, progress=lambda d, n: calls.append((d, n)))
        assert (interior(f.forward).mean(dim=(0, 1, 2)) - torch.tensor([-STEP[1], -STEP[0]])).abs().max() < 0.3
    assert calls == [(1, 2), (2, 2)] * 2


def test_dis_flow_pair_matches_estimate(pan):
    g = to_gray_uint8(pan)
    assert g.dtype == np.uint8 and g.shape == pan.shape[:3]
    pair = dis_flow_pair(g[0], g[1], "fast")
    f = estimate_flow(pan[:2], preset="fast", backward=False)
    np.testing.assert_allclose(pair, f.forward[0].numpy())


def test_exceptions(pan):
    with pytest.raises(ValueError, match="at least 2"):
        estimate_flow(pan[:1])
    with pytest.raises(ValueError, match="preset"):
        estimate_flow(pan, preset="slow")
    bad = pan.clone()
    bad[1, 3, 3, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        estimate_flow(bad)
    with pytest.raises(ValueError, match="too small"):
        estimate_flow(pan[:, :4, :4])
    # OpenCV's DIS kills the process (segmentation fault) on 8..15-pixel-high frames 40+ wide:
    # refused before it is called, for every entry point
    strip = np.zeros((8, 48), np.uint8)
    with pytest.raises(ValueError, match="too small for DIS optical flow.*16x16"):
        dis_flow_pair(strip, strip)
    with pytest.raises(ValueError, match="16x16"):
        estimate_flow(torch.zeros(2, 12, 64, 3))
    from frameweave.vfi_core.baselines import flow_warp_pair
    with pytest.raises(ValueError, match="16x16"):
        flow_warp_pair(torch.zeros(1, 15, 40, 3), torch.zeros(1, 15, 40, 3), 0.5)
    with pytest.raises(ValueError, match="sizes differ"):
        dis_flow_pair(np.zeros((16, 16), np.uint8), np.zeros((16, 17), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        dis_flow_pair(np.zeros((16, 16), np.float32), np.zeros((16, 16), np.float32))


# --- backward warp ----------------------------------------------------------------------------
def bilinear_reference(img: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Independent numpy bilinear sampling of img [H,W,C] at p + flow(p), coordinates clamped."""
    h, w, _ = img.shape
    ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    x = np.clip(xs + flow[..., 0], 0, w - 1)
    y = np.clip(ys + flow[..., 1], 0, h - 1)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    return ((1 - fy) * ((1 - fx) * img[y0, x0] + fx * img[y0, x1])
            + fy * ((1 - fx) * img[y1, x0] + fx * img[y1, x1]))


def test_backward_warp_matches_numpy_reference(make_photo):
    img = torch.from_numpy(make_photo("astronaut", (20, 24)))[None].double()    # [1,40,48,3]
    gen = torch.Generator().manual_seed(0)
    flow = (torch.rand(1, 40, 48, 2, generator=gen, dtype=torch.float64) - 0.5) * 12   # some leave the frame
    out = backward_warp(img, flow)
    ref = bilinear_reference(img[0].numpy(), flow[0].numpy())
    np.testing.assert_allclose(out[0].numpy(), ref, atol=1e-10)
    # channels-first gives the same, in channels-first layout
    out_cf = backward_warp(img.permute(0, 3, 1, 2), flow)
    torch.testing.assert_close(out_cf.permute(0, 2, 3, 1), out)


def test_backward_warp_reproduces_next_frame(pan, pan_flow):
    # exact motion: frame 1 (p) = frame 0 (p + STEP)
    exact = torch.tensor([STEP[1], STEP[0]]).expand(1, *pan.shape[1:3], 2)
    assert float(psnr(interior(backward_warp(pan[:1], exact)), interior(pan[1:2]))) > 35
    # with DIS's backward flow (frame 1 -> 0)
    warped = backward_warp(pan[:2], pan_flow.backward)                        # frames 0,1 onto 1,2
    assert float(psnr(interior(warped), interior(pan[1:])).min()) > 33
    assert float(psnr(interior(pan[:2]), interior(pan[1:])).max()) < 25        # without warping


def test_backward_warp_identity_and_gradcheck():
    gen = torch.Generator().manual_seed(1)
    img = torch.rand(2, 5, 6, 3, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(backward_warp(img, torch.zeros(2, 5, 6, 2, dtype=torch.float64)), img)
    flow = ((torch.rand(2, 5, 6, 2, generator=gen, dtype=torch.float64) - 0.5) * 2).requires_grad_()
    img.requires_grad_()
    assert torch.autograd.gradcheck(lambda i, f: backward_warp(i, f), (img, flow))


def test_backward_warp_exceptions():
    img = torch.zeros(1, 8, 8, 3)
    with pytest.raises(ValueError, match="does not match"):
        backward_warp(img, torch.zeros(1, 9, 8, 2))
    with pytest.raises(ValueError, match=r"\[B,H,W,2\]"):
        backward_warp(img, torch.zeros(1, 8, 8, 3))
    with pytest.raises(ValueError, match="flow field"):
        backward_warp(img, torch.zeros(2, 8, 8, 2))


def test_validity_and_consistency():
    flow = torch.zeros(1, 6, 8, 2)
    flow[..., 0] = 2.0                                                        # read 2 px to the right
    valid = flow_validity(flow)
    assert valid[0, :, :6].all() and not valid[0, :, 6:].any()
    # a constant translation and its inverse are consistent everywhere inside
    err = consistency_error(flow, -flow)
    assert err[0, :, :6].abs().max() < 1e-6
    assert occlusion_mask(flow, -flow)[0, :, :6].sum() == 0
    assert occlusion_mask(flow, flow)[0].all()                               # 4 px round-trip error


# --- FlowField / external flows ---------------------------------------------------------------
def test_as_flow_field_layouts(pan, pan_flow):
    fwd = pan_flow.forward
    assert as_flow_field(pan_flow, pan) is pan_flow
    torch.testing.assert_close(as_flow_field(fwd, pan).forward, fwd)
    torch.testing.assert_close(as_flow_field(fwd.permute(0, 3, 1, 2).numpy(), pan).forward, fwd)
    field = as_flow_field({"forward": fwd.permute(0, 3, 1, 2), "backward": pan_flow.backward}, pan)
    torch.testing.assert_close(field.backward, pan_flow.backward)
    assert field.method == "external"
    one = as_flow_field(fwd[0], pan[:2])                                       # [H,W,2] for one pair
    assert one.forward.shape == (1, *fwd.shape[1:])
    # [1,2,5,2] could be [N,H,W,2] or [N,2,H,W]: the frame size (H=2, W=5) decides
    frames = torch.rand(2, 2, 5, 3)
    hw2 = torch.rand(1, 2, 5, 2)
    torch.testing.assert_close(as_flow_field(hw2, frames).forward, hw2)
    torch.testing.assert_close(as_flow_field(hw2.permute(0, 3, 1, 2), frames).forward, hw2)


def test_as_flow_field_errors(pan, pan_flow):
    with pytest.raises(ValueError, match=r"need a flow of shape \[2, 96, 128, 2\].*got \[1, 96, 128, 2\]"):
        as_flow_field(pan_flow.forward[:1], pan)
    with pytest.raises(ValueError, match=r"got \[2, 96, 64, 2\]"):
        as_flow_field(pan_flow.forward[:, :, :64], pan)
    with pytest.raises(ValueError, match=r"\[pairs,H,W,2\]"):
        as_flow_field(torch.zeros(2, 3, 96, 128))
    with pytest.raises(ValueError, match="forward"):
        as_flow_field({"backward": pan_flow.backward})
    with pytest.raises(TypeError):
        as_flow_field("flow.npy")
    nan = pan_flow.forward.clone()
    nan[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        as_flow_field(nan)
    with pytest.raises(ValueError, match="does not match"):
        FlowField(forward=pan_flow.forward, backward=pan_flow.backward[:1])


# --- colour wheel -----------------------------------------------------------------------------
def test_flow_to_color_properties():
    angles = torch.linspace(0, 2 * np.pi, 25)[:-1]
    unit = torch.stack([torch.cos(angles), torch.sin(angles)], dim=-1)         # [24,2] (u, v)
    flow = torch.cat([unit * 4.0, unit * 2.0, unit * 8.0, torch.zeros(1, 2)])[None, None]  # [1,1,73,2]
    col = flow_to_color(flow, max_magnitude=4.0)[0, 0].numpy()                  # [73,3]
    assert col.shape == (73, 3) and col.min() >= 0 and col.max() <= 1
    full, half, over, still = col[:24], col[24:48], col[48:72], col[72]
    np.testing.assert_allclose(still, [1, 1, 1])                              # no motion: white
    np.testing.assert_allclose(full[0], [1, 0, 0], atol=1e-6)                 # right: red
    hsv = np.array([colorsys.rgb_to_hsv(*c) for c in full])
    np.testing.assert_allclose(hsv[:, 1], 1.0, atol=1e-6)                     # full saturation at max
    # hue walks once around the circle as the direction turns (monotonic modulo 1)
    steps = np.diff(np.concatenate([hsv[:, 0], hsv[:1, 0]]))
    steps = (steps + 0.5) % 1.0 - 0.5
    assert (np.sign(steps) == np.sign(steps[0])).all() and abs(steps.sum() - np.sign(steps[0])) < 1e-6
    # half the magnitude: same hue, half the saturation; beyond the max: same hue, darker
    hsv_half = np.array([colorsys.rgb_to_hsv(*c) for c in half])
    np.testing.assert_allclose(hsv_half[:, 1], 0.5, atol=1e-6)
    np.testing.assert_allclose(hsv_half[:, 0], hsv[:, 0], atol=1e-6)
    np.testing.assert_allclose(over, full * 0.75, atol=1e-6)
    # auto scale: the largest magnitude reaches full saturation
    auto = flow_to_color(flow)[0, 0].numpy()
    np.testing.assert_allclose(auto[48:72], full, atol=1e-6)


# --- nodes ------------------------------------------------------------------------------------
def test_flow_nodes_under_inference_mode(pan):
    with torch.inference_mode():
        (field,) = FrameWeaveOpticalFlow().estimate(pan, preset="ultrafast", backward=True)
        assert isinstance(field, FlowField) and field.forward.shape == (2, 96, 128, 2)
        (img,) = FrameWeaveFlowVisualise().visualise(field, "backward", 0.0)
        assert img.shape == (2, 96, 128, 3) and img.dtype == torch.float32
        (one,) = FrameWeaveOpticalFlow().estimate(pan, preset="ultrafast", backward=False)
        with pytest.raises(ValueError, match="no backward"):
            FrameWeaveFlowVisualise().visualise(one, "backward", 0.0)
        with pytest.raises(ValueError, match="at least 2"):
            FrameWeaveOpticalFlow().estimate(pan[:1])
