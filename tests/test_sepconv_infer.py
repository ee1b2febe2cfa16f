"""SepConv inference: recursive bisection (2x/4x/8x), tiling, the nodes, the methods entries."""
import pytest
import torch

from frameweave.vfi_core import sepconv_infer as I
from frameweave.vfi_core.sepconv import SepConvNet
from frameweave.vfi_core.timing import FrameTiming, multiplier_fractions
from frameweave.vfi_core.weights import save_weights


def tiny(k=5, seed=0):
    torch.manual_seed(seed)
    return SepConvNet(kernel_size=k, width=0.125).eval()


@pytest.mark.parametrize("m", [2, 4, 8])
def test_clip_cardinality(m, make_clip):
    clip = make_clip(3, size=(21, 27))
    out = I.sepconv_interpolate_clip(clip, multiplier_fractions(m), model=tiny())
    assert out.shape == ((3 - 1) * m + 1, 21, 27, 3)
    torch.testing.assert_close(out[::m], clip)                       # inputs kept in place
    assert out.min() >= 0 and out.max() <= 1


def test_recursion_4x_is_bisection_of_2x(make_clip):
    """4x = midpoints, then midpoints of each half: frame 2 of 4x == frame 1 of 2x, and frame 1 of
    4x == midpoint(input 0, 2x midpoint)."""
    net, clip = tiny(), make_clip(2, size=(24, 32))
    x2 = I.sepconv_interpolate_clip(clip, [0.5], model=net)
    x4 = I.sepconv_interpolate_clip(clip, [0.25, 0.5, 0.75], model=net)
    torch.testing.assert_close(x4[2], x2[1])
    quarter = I.interpolate_midpoint(net, clip[:1], x2[1:2])
    torch.testing.assert_close(x4[1], quarter[0], atol=1e-4, rtol=1e-4)    # batched 2 vs 1: float noise


def test_progress_and_chunks(make_clip):
    calls = []
    clip = make_clip(4, size=(16, 16))
    a = I.sepconv_interpolate_clip(clip, [0.25, 0.5, 0.75], model=tiny(), chunk=2,
                                   progress=lambda d, t: calls.append((d, t)))
    b = I.sepconv_interpolate_clip(clip, [0.25, 0.5, 0.75], model=tiny(), chunk=1)
    torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    assert calls[-1] == (3 + 6, 9) and all(d <= t for d, t in calls)


class _LocalKernelNet(SepConvNet):
    """SepConvNet whose kernels come from 1x1 convolutions (no spatial context): tiling must be exact."""

    def __init__(self, k):
        super().__init__(kernel_size=k, width=0.125)
        torch.manual_seed(1)
        self.proj = torch.nn.Conv2d(6, 4 * k, 1)

    def estimate_kernels(self, a, b):
        logits = self.proj(torch.cat([a, b], 1)).unflatten(1, (4, -1))        # [B,4,K,H,W]
        return (0.5 * torch.softmax(3 * logits, dim=2)).unbind(1)


def test_tiling_exact_for_context_free_kernels(make_clip):
    """The window/blend bookkeeping is exact: with kernels that depend only on the pixel itself,
    tiled == untiled (edges within reach of a window border get zero blend weight)."""
    net = _LocalKernelNet(7).eval()
    clip = make_clip(2, size=(70, 90), step=(2.0, 3.0))
    whole = I.interpolate_midpoint(net, clip[:1], clip[1:])
    tiled = I.interpolate_midpoint(net, clip[:1], clip[1:], tile_size=64)
    torch.testing.assert_close(tiled, whole, atol=1e-5, rtol=1e-5)


def test_tiling_close_to_untiled(make_clip):
    """With the real network the tiles see less context; with a margin >= K the result stays close."""
    net = tiny(k=5, seed=2).init_as_blend(scale=1.0)
    clip = make_clip(2, size=(96, 128), step=(1.0, 2.0))
    whole = I.interpolate_midpoint(net, clip[:1], clip[1:])
    tiled = I.interpolate_midpoint(net, clip[:1], clip[1:], tile_size=64)
    assert (tiled - whole).abs().mean() < 0.01
    with pytest.raises(ValueError, match="tile_size"):
        I.interpolate_midpoint(net, clip[:1], clip[1:], tile_size=32)


def test_exceptions(make_clip):
    clip = make_clip(3, size=(16, 16))
    with pytest.raises(ValueError, match="midpoints only"):
        I.sepconv_interpolate_clip(clip, multiplier_fractions(3), model=tiny())
    with pytest.raises(ValueError, match="midpoints only"):
        I.sepconv_interpolate_clip(clip, [0.3], model=tiny())
    with pytest.raises(ValueError, match="at least 2"):
        I.sepconv_interpolate_clip(clip[:1], [0.5], model=tiny())
    with pytest.raises(ValueError, match="power of two"):
        I.check_multiplier(3)
    with pytest.raises(ValueError, match="3 colour channels"):
        I.sepconv_interpolate_clip(torch.rand(2, 8, 8, 4), [0.5], model=tiny())


def test_gan_without_weights_is_a_clear_error(make_clip, monkeypatch, tmp_path):
    from frameweave.vfi_core import weights as W
    monkeypatch.setattr(W, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(I.MissingWeightsError, match="no SepConv-GAN weights installed"):
        I.sepconv_gan_interpolate_clip(make_clip(2, size=(16, 16)), [0.5])
    with pytest.raises(I.MissingWeightsError, match="no SepConv weights installed"):
        I.sepconv_interpolate_clip(make_clip(2, size=(16, 16)), [0.5])


def test_methods_entries_resolve():
    from frameweave.vfi_core.methods import get_method
    assert get_method("sepconv") is I.sepconv_interpolate_clip
    assert get_method("sepconv-gan") is I.sepconv_gan_interpolate_clip


def test_nodes_under_inference_mode(make_clip, monkeypatch, tmp_path):
    from frameweave.nodes import _comfy
    from frameweave.nodes.sepconv_nodes import FrameWeaveLoadSepConv, FrameWeaveSepConvInterpolate

    save_weights(tiny(), tmp_path / "tiny_test.safetensors")
    monkeypatch.setattr(_comfy, "model_directories", lambda: [tmp_path])
    assert "tiny_test" in FrameWeaveLoadSepConv.INPUT_TYPES()["required"]["weights"][0]
    clip = make_clip(3, size=(20, 28))
    timing = FrameTiming.from_fps(3, 10.0)
    with torch.inference_mode():
        (model,) = FrameWeaveLoadSepConv().load("tiny_test", fp16=False, device="cpu")
        frames, out_timing = FrameWeaveSepConvInterpolate().interpolate(clip, model, multiplier="4", tile_size=0,
                                                                        fp16=False, chunk=2, timing=timing)
    assert frames.shape == (9, 20, 28, 3) and len(out_timing) == 9
    assert out_timing.timestamps[1] == pytest.approx(0.025)
    with pytest.raises(ValueError, match="power of two"):
        FrameWeaveSepConvInterpolate().interpolate(clip, model, multiplier="3")
    with pytest.raises(ValueError, match="timing has 2 timestamps"):
        FrameWeaveSepConvInterpolate().interpolate(clip, model, timing=FrameTiming.from_fps(2, 10.0))
    with pytest.raises(ValueError, match="unknown SepConv weights"):
        FrameWeaveLoadSepConv().load("missing", device="cpu")
