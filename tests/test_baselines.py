"""Linear blend and DIS flow-warp baselines, their clip interface and nodes."""
import pytest
import torch

from frameweave.nodes._widgets import DEFAULT_FPS, interpolation_fractions, output_timing
from frameweave.nodes.baseline_nodes import FrameWeaveFlowWarp, FrameWeaveLinearBlend
from frameweave.vfi_core import baselines
from frameweave.vfi_core.baselines import (flow_warp_clip, flow_warp_pair, intermediate_flows, linear_blend_clip,
                                           linear_blend_pair, warp_blend)
from frameweave.vfi_core.flow import estimate_flow
from frameweave.vfi_core.methods import get_method
from frameweave.vfi_core.metrics import psnr
from frameweave.vfi_core.sequence import inserted_mask
from frameweave.vfi_core.timing import FrameTiming


def interior(x, m=8):
    return x[:, m:-m, m:-m]


@pytest.fixture
def pan(make_clip):
    """5 frames panning 1 px down and 1.5 px right per frame over a real photo."""
    return make_clip(5, size=(96, 128), step=(1.0, 1.5))


def score(pred, gt):
    return float(psnr(interior(pred), interior(gt)).mean())


# --- pairwise ---------------------------------------------------------------------------------
def test_linear_blend_pair(pan):
    a, b = pan[:2], pan[1:3]
    torch.testing.assert_close(linear_blend_pair(a, b, 0.25), 0.75 * a + 0.25 * b)
    torch.testing.assert_close(linear_blend_pair(a, b, 0.0), a)


@pytest.mark.parametrize("t, gt_index", [(0.5, 2), (0.25, 1)])
def test_flow_warp_beats_linear_blend(pan, t, gt_index):
    # inputs frames 0 and 4 (6 px apart); the real frames 1, 2 are at t = 0.25, 0.5
    first, second, gt = pan[:1], pan[4:5], pan[gt_index:gt_index + 1]
    flow_db = score(flow_warp_pair(first, second, t), gt)
    linear_db = score(linear_blend_pair(first, second, t), gt)
    assert flow_db > linear_db + 6.0, (flow_db, linear_db)
    assert flow_db > 30.0


def test_intermediate_flows_of_a_translation():
    # constant motion d: F01 = d, F10 = -d  ->  F_t0 = -t·d, F_t1 = (1-t)·d (eq. 4 is exact here)
    d = torch.tensor([2.0, -1.0]).expand(1, 4, 5, 2)
    for t in (0.25, 0.5, 0.8):
        ft0, ft1 = intermediate_flows(d, -d, t)
        torch.testing.assert_close(ft0, -t * d)
        torch.testing.assert_close(ft1, (1 - t) * d)


def test_warp_blend_endpoints_and_occlusion_switch(pan):
    flow = estimate_flow(pan[:2], preset="ultrafast")
    a, b = pan[:1], pan[1:2]
    # t = 0: F_t0 = 0 and frame 1 has weight 0, so the result is frame 0 itself
    torch.testing.assert_close(warp_blend(a, b, flow.forward, flow.backward, 0.0), a, atol=1e-5, rtol=0)
    with_occ = warp_blend(a, b, flow.forward, flow.backward, 0.5, occlusion=True)
    without = warp_blend(a, b, flow.forward, flow.backward, 0.5, occlusion=False)
    assert with_occ.shape == without.shape == a.shape
    assert abs(score(with_occ, pan[1:2]) - score(without, pan[1:2])) < 3   # both sane


# --- clips ------------------------------------------------------------------------------------
@pytest.mark.parametrize("fractions", [[0.5], [0.25, 0.5, 0.75], [0.1, 0.9]])
def test_clip_cardinality(pan, fractions):
    out = linear_blend_clip(pan, fractions)
    n = (pan.shape[0] - 1) * (len(fractions) + 1) + 1
    assert out.shape == (n, *pan.shape[1:])
    keep = ~inserted_mask(pan.shape[0], len(fractions))
    torch.testing.assert_close(out[keep], pan)                                 # inputs unchanged, in place
    torch.testing.assert_close(out[1], (1 - min(fractions)) * pan[0] + min(fractions) * pan[1])
    assert len(FrameTiming.from_fps(pan.shape[0], 25).with_inserted(fractions)) == n


def test_flow_warp_clip_flows_once_per_pair(pan, monkeypatch):
    calls = []
    real = baselines.pair_flows
    monkeypatch.setattr(baselines, "pair_flows", lambda a, b, p: calls.append(p) or real(a, b, p))
    progress = []
    clip = pan[:3]
    out = flow_warp_clip(clip, [0.25, 0.5, 0.75], preset="ultrafast", progress=lambda d, n: progress.append((d, n)))
    assert out.shape == (9, *pan.shape[1:])
    assert calls == ["ultrafast", "ultrafast"]                                # 2 pairs, not 6
    assert progress == [(1, 2), (2, 2)]
    # the same frames from a precomputed FLOW, and each inserted frame is the pairwise result
    field = estimate_flow(clip, preset="ultrafast")
    torch.testing.assert_close(flow_warp_clip(clip, [0.25, 0.5, 0.75], flow=field), out)
    torch.testing.assert_close(out[6], flow_warp_pair(clip[1:2], clip[2:3], 0.5, preset="ultrafast")[0])


def test_methods_registry(pan):
    assert get_method("linear") is linear_blend_clip
    assert get_method("flow") is flow_warp_clip
    out = get_method("flow")(pan[:2], [0.5], timing=FrameTiming.from_fps(2, 10), preset="fast")
    assert out.shape == (3, *pan.shape[1:])


def test_exceptions(pan):
    with pytest.raises(ValueError, match="at least 2"):
        flow_warp_clip(pan[:1], [0.5])
    with pytest.raises(ValueError, match="at least 2"):
        linear_blend_clip(pan[:1], [0.5])
    with pytest.raises(ValueError, match="sizes differ"):
        flow_warp_pair(pan[:1], pan[1:2, :64], 0.5)
    nan = pan.clone()
    nan[2, 5, 5, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        flow_warp_clip(nan, [0.5])
    with pytest.raises(ValueError, match="strictly between"):
        linear_blend_clip(pan, [0.0, 0.5])
    with pytest.raises(ValueError, match="at least one"):
        linear_blend_clip(pan, [])
    with pytest.raises(ValueError, match=r"t must lie"):
        linear_blend_pair(pan[:1], pan[1:2], 1.5)
    with pytest.raises(ValueError, match="preset"):
        flow_warp_clip(pan, [0.5], preset="slow")
    with pytest.raises(ValueError, match="timestamps"):
        flow_warp_clip(pan, [0.5], timing=FrameTiming.from_fps(3, 25))
    one_way = estimate_flow(pan, preset="ultrafast", backward=False)
    with pytest.raises(ValueError, match="backward"):
        flow_warp_clip(pan, [0.5], flow=one_way)
    with pytest.raises(ValueError, match="does not fit"):
        flow_warp_clip(pan[:3], [0.5], flow=one_way)


# --- widgets and nodes ------------------------------------------------------------------------
def test_widget_fractions():
    assert interpolation_fractions(4) == [0.25, 0.5, 0.75]
    assert interpolation_fractions(4, "0.5, 0.25") == [0.25, 0.5]             # times override
    assert interpolation_fractions(2, "   ") == [0.5]
    with pytest.raises(ValueError, match="between 0 and 1"):
        interpolation_fractions(2, "0.5, 1.5")
    with pytest.raises(ValueError, match="at least 2"):
        interpolation_fractions(1)
    frames = torch.zeros(3, 8, 8, 3)
    t = output_timing(frames, None, [0.5])
    assert len(t) == 5 and t.end == pytest.approx(3 / DEFAULT_FPS)
    with pytest.raises(ValueError, match="4 timestamps but the clip has 3"):
        output_timing(frames, FrameTiming.from_fps(4, 10), [0.5])


@pytest.mark.parametrize("node", [FrameWeaveLinearBlend, FrameWeaveFlowWarp])
def test_nodes_under_inference_mode(pan, node):
    clip = pan[:3]
    timing = FrameTiming.from_durations([0.1, 0.3, 0.2])
    extra = {"preset": "ultrafast"} if node is FrameWeaveFlowWarp else {}
    with torch.inference_mode():
        out, out_timing = node().interpolate(clip, multiplier=4, timing=timing, **extra)
        assert out.shape == (9, *clip.shape[1:]) and out.dtype == torch.float32
        assert len(out_timing) == 9 and out_timing.end == pytest.approx(0.6)
        assert out_timing.timestamps[1:4] == pytest.approx([0.025, 0.05, 0.075])
        out2, timing2 = node().interpolate(clip, multiplier=4, times="0.5", **extra)
        assert out2.shape[0] == 5 and len(timing2) == 5 and timing2.end == pytest.approx(3 / DEFAULT_FPS)
        with pytest.raises(ValueError, match="at least 2"):
            node().interpolate(clip[:1], multiplier=2, **extra)
        with pytest.raises(ValueError, match="timestamps but the clip"):
            node().interpolate(clip, multiplier=2, timing=FrameTiming.from_fps(5, 25), **extra)


def test_flow_warp_node_with_flow_input(pan):
    clip = pan[:3]
    with torch.inference_mode():
        field = estimate_flow(clip, preset="fast")
        out, _ = FrameWeaveFlowWarp().interpolate(clip, multiplier=2, preset="medium", flow=field, occlusion=False)
        torch.testing.assert_close(out, flow_warp_clip(clip, [0.5], flow=field, occlusion=False))
        with pytest.raises(ValueError, match="does not fit"):
            FrameWeaveFlowWarp().interpolate(pan, multiplier=2, flow=field)
