"""Flow-guided interpolator: a new network IS the Flow Warp, shapes, gradients, bad inputs, weights,
the methods entry and the nodes."""
import pytest
import torch

from frameweave.vfi_core.baselines import flow_warp_clip, pair_flows, warp_blend
from frameweave.vfi_core.flow import estimate_flow
from frameweave.vfi_core.flowguided import FlowGuidedNet, make_guide
from frameweave.vfi_core.flowguided_infer import flowguided_interpolate_clip, load_flowguided
from frameweave.vfi_core.methods import get_method, precheck
from frameweave.vfi_core.timing import FrameTiming

TINY = (4, 4, 4, 4)


@pytest.fixture
def pan(make_clip):
    """4 frames panning 1.5 px down and 3 px right per frame over a real photo."""
    return make_clip(4, size=(40, 56), step=(1.5, 3.0))


@pytest.mark.parametrize("kernel_size", [0, 1, 5])
@pytest.mark.parametrize("t", [0.25, 0.5, 0.7])
def test_new_network_is_the_flow_warp(pan, kernel_size, t):
    """Zero head: delta kernels and the Flow Warp's weights -> its output bit for bit."""
    a, b = pan[0:1], pan[2:3]
    f01, f10 = pair_flows(a, b, "ultrafast")
    net = FlowGuidedNet(kernel_size, TINY)
    out = net.interpolate(make_guide(a, b, f01, f10, t))
    assert torch.equal(out, warp_blend(a, b, f01, f10, t))


def test_new_network_clip_equals_flow_warp_clip(pan):
    field = estimate_flow(pan, preset="ultrafast")
    ours = flowguided_interpolate_clip(pan, [0.25, 0.5, 0.75], model=FlowGuidedNet(3, TINY).eval(), flow=field)
    assert torch.equal(ours, flow_warp_clip(pan, [0.25, 0.5, 0.75], flow=field))


def test_trained_head_changes_the_output(pan):
    """The test above could not fail if the head were ignored: a non-zero head must change the frame."""
    a, b = pan[0:1], pan[2:3]
    net = FlowGuidedNet(3, TINY)
    torch.nn.init.normal_(net.head.weight, std=0.1)
    guide = make_guide(a, b, *pair_flows(a, b, "ultrafast"), 0.5)
    assert (net.interpolate(guide) - FlowGuidedNet(3, TINY).interpolate(guide)).abs().max() > 1e-3


@pytest.mark.parametrize("size", [(17, 23), (32, 48)])
def test_cardinality(size):
    torch.manual_seed(0)
    first, second = torch.rand(2, *size, 3), torch.rand(2, *size, 3)
    flow = torch.randn(2, *size, 2)
    net = FlowGuidedNet(5, TINY)
    guide = make_guide(first, second, flow, -flow, torch.tensor([0.3, 0.6]))
    assert guide.features().shape == (2, 22, *size)
    assert net(guide).shape == (2, 3, *size)
    assert net.interpolate(guide).shape == (2, *size, 3)
    no_warp = make_guide(first, second, flow, -flow, 0.5, warp=False)
    torch.testing.assert_close(no_warp.warped_0, first.permute(0, 3, 1, 2))   # the originals


def test_gradcheck_synthesis():
    """d(output)/d(head): kernels, blend residual, through the separable local convolution (float64)."""
    torch.manual_seed(1)
    net = FlowGuidedNet(3, TINY).double()
    first, second = torch.rand(1, 6, 7, 3, dtype=torch.float64), torch.rand(1, 6, 7, 3, dtype=torch.float64)
    flow = torch.randn(1, 6, 7, 2, dtype=torch.float64)
    guide = make_guide(first, second, flow, -flow, 0.4)
    head = (0.1 * torch.randn(1, 13, 6, 7, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda h: net.synthesize(guide, h), (head,), eps=1e-6, atol=1e-5)


def test_gradients_reach_every_layer(pan):
    net = FlowGuidedNet(3, TINY)
    torch.nn.init.normal_(net.head.weight, std=0.01)            # past the first step: head non-zero
    a, b = pan[0:1], pan[2:3]
    net(make_guide(a, b, *pair_flows(a, b, "ultrafast"), 0.5)).mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_exceptions_as_the_flow_warp(pan):
    """Every bad input the Flow Warp rejects is rejected here too, with the same message."""
    net = FlowGuidedNet(3, TINY).eval()
    clip = pan[:3]
    one_way = estimate_flow(clip, preset="ultrafast", backward=False)
    nan = clip.clone()
    nan[1, 0, 0, 0] = float("nan")
    cases = [
        ((clip[:1], [0.5]), {}, "at least 2"),
        ((nan, [0.5]), {}, "NaN"),
        ((clip * 255, [0.5]), {}, "0..1"),
        ((clip.to(torch.uint8), [0.5]), {}, "floats"),
        ((clip[..., :2], [0.5]), {}, "colour channels"),
        ((clip, [1.0]), {}, "strictly between"),
        ((clip, []), {}, "at least one"),
        ((clip, [0.5]), {"preset": "slow"}, "preset"),
        ((clip, [0.5]), {"timing": FrameTiming.from_fps(4, 25)}, "timestamps"),
        ((clip, [0.5]), {"flow": one_way}, "backward"),
        ((pan, [0.5]), {"flow": estimate_flow(clip, preset="ultrafast")}, "does not fit"),
        ((torch.rand(2, 12, 40, 3), [0.5]), {}, "too small for DIS"),
    ]
    for args, kw, match in cases:
        with pytest.raises(ValueError, match=match):
            flow_warp_clip(*args, **kw)
        with pytest.raises(ValueError, match=match):
            flowguided_interpolate_clip(*args, model=net, **kw)


def test_model_exceptions():
    with pytest.raises(ValueError, match="odd"):
        FlowGuidedNet(4)
    with pytest.raises(ValueError, match="4 positive"):
        FlowGuidedNet(5, (4, 4, 4))
    with pytest.raises(ValueError, match="not 'flowguided'"):
        FlowGuidedNet.from_architecture({"architecture": "sepconv", "kernel_size": 5, "channels": [4, 4, 4, 4]})


def test_architecture_round_trip():
    for net in (FlowGuidedNet(7, TINY), FlowGuidedNet(1, TINY, warp=False)):
        again = FlowGuidedNet.from_architecture(net.architecture())
        assert again.architecture() == net.architecture() and again.warp == net.warp


def test_weights_round_trip_and_checks(tmp_path, pan):
    from frameweave.vfi_core.weights import save_weights

    net = FlowGuidedNet(3, TINY)
    torch.nn.init.normal_(net.head.weight, std=0.01)
    path = save_weights(net, tmp_path / "fg.safetensors")[0]
    loaded = load_flowguided(path)
    assert not loaded.training
    for a, b in zip(net.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="not the flow-guided network"):
        load_flowguided("sepconv_w100_k51_gpu")
    with pytest.raises(ValueError, match="unknown flow-guided weights"):
        load_flowguided(tmp_path / "missing")


def test_methods_entry(pan):
    fn = get_method("flowguided")
    assert fn is flowguided_interpolate_clip
    with pytest.raises(ValueError, match="strictly between"):
        precheck(fn, [0.0], {})
    with pytest.raises(ValueError, match="preset"):
        precheck(fn, [0.5], {"preset": "slow"})
    with pytest.raises(ValueError, match="unknown flow-guided weights .no_such_weights."):
        precheck(fn, [0.5], {"weights": "no_such_weights"})
    precheck(fn, [0.5], {"weights": "flowguided_k5_cpu"})


def test_weights_of_the_other_method_are_refused_before_any_frame_is_read():
    """Shipped weights listed in the manifest for another method: the CLI says so before reading
    (it used to fail after the read, and for flowguided as "could not write OUT")."""
    with pytest.raises(ValueError, match="'sepconv_w100_k51_gpu' are sepconv weights, not flow-guided ones; use --method sepconv"):
        precheck(get_method("flowguided"), [0.5], {"weights": "sepconv_w100_k51_gpu"})
    for method in ("sepconv", "sepconv-gan"):
        with pytest.raises(ValueError, match="'flowguided_k5_cpu' are flowguided weights, not SepConv ones"):
            precheck(get_method(method), [0.5], {"weights": "flowguided_k5_cpu"})
    precheck(get_method("sepconv-gan"), [0.5], {"weights": "sepconv_w100_k51_gpu"})   # same network: allowed


def test_shipped_weights_run(pan):
    """The default weights load (sha256 checked), keep the shapes and differ from the Flow Warp."""
    out = get_method("flowguided")(pan[:2], [1 / 3, 2 / 3], preset="ultrafast")
    assert out.shape == (4, *pan.shape[1:]) and 0 <= out.min() and out.max() <= 1
    assert not torch.equal(out, flow_warp_clip(pan[:2], [1 / 3, 2 / 3], preset="ultrafast"))


def test_nodes(tmp_path, pan, monkeypatch):
    from frameweave.nodes import _comfy
    from frameweave.nodes.flowguided_nodes import NO_WEIGHTS, FrameWeaveFlowGuidedInterpolate, FrameWeaveLoadFlowGuided

    names = FrameWeaveLoadFlowGuided.INPUT_TYPES()["required"]["weights"][0]
    assert names[0] != NO_WEIGHTS and all("sepconv" not in n for n in names)
    with torch.inference_mode():
        model = FrameWeaveLoadFlowGuided().load(names[0])[0]
        assert not any(p.is_inference() for p in model.parameters())
        out, timing = FrameWeaveFlowGuidedInterpolate().interpolate(pan[:3], model, multiplier=3, preset="ultrafast")
        assert out.shape == (7, *pan.shape[1:]) and len(timing) == 7
        out, timing = FrameWeaveFlowGuidedInterpolate().interpolate(pan[:3], model, times="0.5", preset="ultrafast")
        assert out.shape[0] == 5
        with pytest.raises(ValueError, match="at least 2"):
            FrameWeaveFlowGuidedInterpolate().interpolate(pan[:1], model)
        with pytest.raises(ValueError, match="timestamps but the clip"):
            FrameWeaveFlowGuidedInterpolate().interpolate(pan[:3], model, timing=FrameTiming.from_fps(5, 25))
        with pytest.raises(ValueError, match="no flow-guided weights"):
            FrameWeaveLoadFlowGuided().load(NO_WEIGHTS)
