"""blend_map / pixel_shader_blend: thresholds, OpenCV blur as independent check, gradients,
dtypes, errors, and CUDA vs reference (skipped without a GPU)."""
import cv2
import numpy as np
import pytest
import torch

from frameweave.kernels import blend_map, pixel_shader_blend
from frameweave.kernels._dispatch import cupy_status
from frameweave.kernels.pixel_shader_blend import gaussian_sigma, gaussian_weights

has_gpu = torch.cuda.is_available() and cupy_status()[0]


def triplet(make_clip, size=(24, 32)):
    """Frame 0 of a real-photo pan; as second frame, frame 2 of the pan on the right half and
    frame 0 plus faint noise on the left (static there); a synthetic 'interpolated' middle."""
    clip = make_clip(3, size=size, step=(0.5, 1.0)).permute(0, 3, 1, 2)   # [3,3,H,W]
    first = clip[0:1]
    noise = 0.002 * torch.randn(first.shape, generator=torch.Generator().manual_seed(0))
    second = torch.cat([(first + noise)[..., : size[1] // 2], clip[2:3, ..., size[1] // 2:]], -1)
    interpolated = (clip[1:2] + 0.05 * torch.sin(torch.arange(size[1]) / 3.0)).clamp(0, 1)
    return first.contiguous(), second.contiguous(), interpolated.contiguous()


def test_smoke(make_clip):
    first, second, interp = triplet(make_clip)
    out = pixel_shader_blend(first, second, interp)
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_cardinality(make_clip):
    first, second, interp = triplet(make_clip, size=(20, 28))
    f, s, v = (t.expand(2, -1, -1, -1) for t in (first, second, interp))
    assert blend_map(f, s, radius=3).shape == (2, 1, 20, 28)
    out, bmap = pixel_shader_blend(f, s, v, radius=1, return_map=True)
    assert out.shape == (2, 3, 20, 28) and bmap.shape == (2, 1, 20, 28)


def test_blend_map_matches_opencv(make_clip):
    first, second, _ = triplet(make_clip)
    for radius in (0, 1, 2, 4):
        ours = blend_map(first, second, radius)[0, 0].numpy()
        d = (np.abs(first[0].numpy() - second[0].numpy()).mean(0) * 255).astype(np.float32)
        ref = d if radius == 0 else cv2.GaussianBlur(d, (2 * radius + 1, 2 * radius + 1),
                                                     gaussian_sigma(radius), borderType=cv2.BORDER_REPLICATE)
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-4)
    w = gaussian_weights(2)
    assert w.shape == (5,) and abs(float(w.sum()) - 1) < 1e-6


def test_thresholds():
    """B < low: the average; B >= high: the interpolated frame; in between: the linear mix."""
    H, W = 6, 8
    first = torch.zeros(1, 3, H, W)
    interp = torch.full((1, 3, H, W), 0.9)
    for grey, expected_t in ((1.0, 0.0), (2.0, 0.0), (4.0, 0.5), (6.0, 1.0), (30.0, 1.0)):
        second = torch.full((1, 3, H, W), grey / 255)          # |I1 - I2| * 255 = grey everywhere
        out, bmap = pixel_shader_blend(first, second, interp, radius=2, low=2, high=6, return_map=True)
        assert torch.allclose(bmap, torch.full_like(bmap, grey), atol=1e-4)
        avg = 0.5 * (first + second)
        torch.testing.assert_close(out, avg + expected_t * (interp - avg), atol=1e-5, rtol=0)


def test_reference_formula(make_clip):
    first, second, interp = triplet(make_clip)
    out, bmap = pixel_shader_blend(first, second, interp, radius=2, low=2, high=6, return_map=True)
    b = bmap.expand_as(first)
    avg = (first + second) / 2
    t = ((b.clamp(2, 6) - 2) / 4)
    expected = torch.where(b < 6, avg * (1 - t) + interp * t, interp)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
    assert (b < 2).any() and (b >= 6).any()          # the photo exercises both regimes


def test_gradcheck():
    g = torch.Generator().manual_seed(0)
    first = torch.rand(1, 2, 5, 6, generator=g, dtype=torch.float64)
    second = (first + 0.02 * torch.randn(1, 2, 5, 6, generator=g, dtype=torch.float64)).requires_grad_()
    interp = torch.rand(1, 2, 5, 6, generator=g, dtype=torch.float64).requires_grad_()
    first.requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b, c: pixel_shader_blend(a, b, c, radius=1, low=2, high=6),
                                    (first, second, interp), fast_mode=True)
    assert torch.autograd.gradcheck(lambda a, b: blend_map(a, b, 2), (first, second), fast_mode=True)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision(dtype, make_clip):
    first, second, interp = triplet(make_clip)
    out = pixel_shader_blend(*(t.to(dtype) for t in (first, second, interp)))
    assert out.dtype == dtype
    ref = pixel_shader_blend(*(t.to(dtype).float() for t in (first, second, interp)))
    ulp = {torch.float16: 2 ** -11, torch.bfloat16: 2 ** -8}[dtype]
    assert (out.float() - ref).abs().max() <= ulp


def test_exception(make_clip):
    first, second, interp = triplet(make_clip)
    with pytest.raises(ValueError, match="low < high"):
        pixel_shader_blend(first, second, interp, low=6, high=2)
    with pytest.raises(ValueError, match="radius"):
        pixel_shader_blend(first, second, interp, radius=-1)
    with pytest.raises(ValueError, match="radius"):
        blend_map(first, second, 1.5)
    with pytest.raises(ValueError, match="interpolated has shape"):
        pixel_shader_blend(first, second, interp[..., :-1])
    with pytest.raises(ValueError, match="4-D"):
        blend_map(first[0], second[0], 2)
    with pytest.raises(ValueError, match="dtypes differ"):
        pixel_shader_blend(first, second.double(), interp)


@pytest.mark.cuda
@pytest.mark.skipif(not has_gpu, reason="needs a CUDA GPU and a working CuPy")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("radius", [0, 2, 5])
def test_cuda_vs_reference(dtype, radius, make_clip, monkeypatch):
    first, second, interp = (t.expand(2, -1, -1, -1).to("cuda", dtype).contiguous()
                             for t in triplet(make_clip, size=(37, 70)))
    monkeypatch.setenv("FRAMEWEAVE_KERNELS", "cuda")
    out, bmap = pixel_shader_blend(first, second, interp, radius=radius, return_map=True)
    monkeypatch.setenv("FRAMEWEAVE_KERNELS", "torch")
    ref, ref_map = pixel_shader_blend(first, second, interp, radius=radius, return_map=True)
    torch.testing.assert_close(bmap, ref_map, atol=1e-3, rtol=1e-4)
    tol = {torch.float32: 1e-5, torch.float16: 1e-3, torch.bfloat16: 8e-3}[dtype]
    torch.testing.assert_close(out.float(), ref.float(), atol=tol, rtol=0)
