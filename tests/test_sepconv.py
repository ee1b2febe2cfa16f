"""SepConvNet: shapes for any size, padding/cropping, the blend initialisation, errors."""
import numpy as np
import pytest
import torch

from frameweave.vfi_core.sepconv import PAPER_CHANNELS, SepConvNet, scaled_channels


def tiny(kernel_size=5, dilation=1, seed=0):
    torch.manual_seed(seed)
    return SepConvNet(kernel_size=kernel_size, width=0.125, dilation=dilation)


def test_smoke_and_paper_channels():
    assert scaled_channels(1.0) == PAPER_CHANNELS
    net = SepConvNet()                                    # the paper's network: K = 51
    assert net.kernel_size == 51 and net.channels == PAPER_CHANNELS
    assert net.vertical1[7].out_channels == 51
    assert net.architecture()["channels"] == list(PAPER_CHANNELS)


@pytest.mark.parametrize("hw", [(32, 32), (37, 53), (1, 1), (33, 5), (64, 96)])
def test_cardinality_any_size(hw):
    net = tiny()
    a, b = torch.rand(2, 3, *hw), torch.rand(2, 3, *hw)
    with torch.no_grad():
        out = net(a, b)
    assert out.shape == (2, 3, *hw)
    assert torch.isfinite(out).all()


def test_image_layout():
    net = tiny()
    a, b = torch.rand(1, 20, 30, 3), torch.rand(1, 20, 30, 3)
    with torch.no_grad():
        out = net.interpolate(a, b)
        ref = net(a.permute(0, 3, 1, 2), b.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    assert out.shape == (1, 20, 30, 3)
    torch.testing.assert_close(out, ref)


def test_padding_is_cropped_back_consistently(make_clip):
    """A frame that needs padding gives the same result as the network run on the frame
    replicate-padded by hand to a multiple of 32 and cropped (the padding is centred)."""
    net = tiny()
    clip = make_clip(2, size=(40, 50)).permute(0, 3, 1, 2)       # [2,3,40,50]
    a, b = clip[:1], clip[1:]
    with torch.no_grad():
        out = net(a, b)
        pad = (7, 7, 12, 12)                                     # 50 -> 64, 40 -> 64
        ap = torch.nn.functional.pad(a, pad, mode="replicate")
        bp = torch.nn.functional.pad(b, pad, mode="replicate")
        ref = net(ap, bp)[..., 12:52, 7:57]
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=1e-5)


def test_blend_initialisation(make_clip):
    """init_as_blend with no learned part is exactly the linear blend (kernels = centred deltas)."""
    net = tiny()
    net.init_as_blend(scale=0.0)
    clip = make_clip(2, size=(24, 40)).permute(0, 3, 1, 2)
    with torch.no_grad():
        out = net(clip[:1], clip[1:])
    torch.testing.assert_close(out, (clip[:1] + clip[1:]) / 2, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("kernel_size, width, dilation", [(25, 0.25, 1), (25, 0.5, 1), (25, 1.0, 1),
                                                       (51, 0.25, 1), (51, 0.5, 1), (51, 1.0, 1), (51, 0.25, 2)])
def test_fresh_network_starts_at_the_blend(kernel_size, width, dilation):
    """Issue 12: a new network (He init + init_as_blend with its default) is the linear blend at
    every K, width and dilation, within 0.3 dB on the project's synthetic triplets (x0.1 last
    weights scored 6-8 dB at K = 51)."""
    from frameweave.vfi_core.metrics import psnr
    from frameweave.vfi_core.triplet_data import synthetic_validation_set

    torch.manual_seed(0)
    net = SepConvNet(kernel_size=kernel_size, width=width, dilation=dilation).init_as_blend().eval()
    triplets = synthetic_validation_set(count=2, size=(64, 64), reach=8)
    f0, gt, f1 = (torch.from_numpy(np.stack([t[i] for t in triplets])) for i in (1, 2, 3))   # [2,64,64,3]
    with torch.no_grad():
        pred = net.interpolate(f0, f1).clamp(0, 1)
    blend = psnr((f0 + f1) / 2, gt).mean()
    assert abs(float(psnr(pred, gt).mean() - blend)) < 0.3


def test_blend_start_still_learns():
    """Zero last weights: one gradient step moves them (and so the output) off the blend."""
    torch.manual_seed(0)
    net = tiny().init_as_blend()
    a, b, gt = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    (net(a, b) - gt).abs().mean().backward()
    assert net.vertical1[7].weight.grad.abs().sum() > 0 and net.horizontal2[7].weight.grad.abs().sum() > 0


def test_dilation_reach():
    net = SepConvNet(kernel_size=51, width=0.125, dilation=2)
    assert net.reach() == 38                                     # 25 dense taps + 26 ring taps at spacing 2
    assert SepConvNet(kernel_size=51, width=0.125).reach() == 25
    with torch.no_grad():
        out = net(torch.rand(1, 3, 20, 24), torch.rand(1, 3, 20, 24))
    assert out.shape == (1, 3, 20, 24)


def test_gradients_reach_every_parameter():
    net = tiny()
    a, b = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    net(a, b).square().mean().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing


def test_architecture_roundtrip():
    net = SepConvNet(kernel_size=7, channels=(4, 8, 8, 16, 16), dilation=1, padding="zero")
    again = SepConvNet.from_architecture(net.architecture())
    assert again.architecture() == net.architecture()
    assert {k: v.shape for k, v in again.state_dict().items()} == {k: v.shape for k, v in net.state_dict().items()}


def test_exception():
    with pytest.raises(ValueError, match="odd"):
        SepConvNet(kernel_size=50)
    with pytest.raises(ValueError, match="width"):
        SepConvNet(width=0)
    with pytest.raises(ValueError, match="channels"):
        SepConvNet(channels=(8, 8, 8))
    with pytest.raises(ValueError, match="padding"):
        SepConvNet(padding="reflect")
    with pytest.raises(ValueError, match="architecture"):
        SepConvNet.from_architecture({"architecture": "adacof", "kernel_size": 5, "channels": [4] * 5})
    net = tiny()
    with pytest.raises(ValueError, match="same shape"):
        net(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))
    with pytest.raises(ValueError, match=r"\[B,3,H,W\]"):
        net(torch.rand(1, 4, 8, 8), torch.rand(1, 4, 8, 8))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_forward_and_backward_under_autocast(dtype):
    """Under autocast (the GPU training and fp16 inference paths) the last convolutions give
    low-precision kernel maps while the frames stay float32; synthesis must accept the mix. CPU
    autocast applies the same cast rules as CUDA's."""
    torch.manual_seed(0)
    net = SepConvNet(kernel_size=5, channels=(4, 4, 4, 4, 4))
    first, second = torch.rand(2, 1, 3, 32, 32)
    reference = net(first, second)
    with torch.autocast("cpu", dtype=dtype):
        out = net(first, second)
    assert out.dtype == (torch.float16 if dtype == torch.float16 else torch.float32)
    torch.testing.assert_close(out.float(), reference, atol=0.02, rtol=0)
    out.float().mean().backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_interpolate_casts_inputs_to_a_float16_model():
    """A model stored in float16 (the fp16 switch) takes float32 IMAGEs and gives them back in float32."""
    torch.manual_seed(0)
    net = SepConvNet(kernel_size=5, channels=(4, 4, 4, 4, 4))
    first, second = torch.rand(2, 1, 32, 32, 3)
    reference = net.interpolate(first, second)
    out = net.half().interpolate(first, second)
    assert out.dtype == torch.float32 and out.shape == (1, 32, 32, 3)
    torch.testing.assert_close(out, reference, atol=5e-3, rtol=0)
