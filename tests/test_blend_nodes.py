"""Pixel Shader Blend node: clip layout (stride), sibling use, errors, inference mode."""
import pytest
import torch

from frameweave.kernels import pixel_shader_blend
from frameweave.nodes.blend_nodes import FrameWeavePixelShaderBlend


def interpolated_clip(make_clip, originals=3, stride=3, size=(24, 32)):
    """Originals of a real-photo pan at 0, stride, 2·stride, ...; inserted frames = noisy blends."""
    src = make_clip(originals, size=size, step=(0.5, 1.0))
    frames = []
    for k in range(originals - 1):
        frames.append(src[k])
        for j in range(1, stride):
            t = j / stride
            frames.append(((1 - t) * src[k] + t * src[k + 1] + 0.03 * torch.rand_like(src[k])).clamp(0, 1))
    frames.append(src[-1])
    return torch.stack(frames)


def test_smoke_and_cardinality(make_clip):
    clip = interpolated_clip(make_clip)
    node = FrameWeavePixelShaderBlend()
    with torch.inference_mode():
        out, bmap = node.blend(clip, stride=3, radius=2, low=2.0, high=6.0)
    assert out.shape == clip.shape and bmap.shape == clip.shape
    assert out.dtype == torch.float32 and 0 <= float(bmap.min()) and float(bmap.max()) <= 1


def test_originals_unchanged_inserted_blended(make_clip):
    clip = interpolated_clip(make_clip, stride=3)
    out, bmap = FrameWeavePixelShaderBlend().blend(clip, stride=3, radius=2, low=2.0, high=6.0)
    for k in (0, 3, 6):
        assert torch.equal(out[k], clip[k]) and bmap[k].abs().max() == 0
    first, second = clip[3].permute(2, 0, 1)[None], clip[6].permute(2, 0, 1)[None]
    expected = pixel_shader_blend(first, second, clip[4].permute(2, 0, 1)[None])
    torch.testing.assert_close(out[4], expected[0].permute(1, 2, 0), atol=1e-6, rtol=0)
    assert not torch.equal(out[4], clip[4])          # the static parts were pulled to the average


def test_trailing_frames_pass_through(make_clip):
    clip = interpolated_clip(make_clip, stride=2)[:-1]   # ends on an inserted frame: no next original
    out, _ = FrameWeavePixelShaderBlend().blend(clip, stride=2)
    assert torch.equal(out[-1], clip[-1])


def test_sibling_use_three_batches(make_clip):
    clip = interpolated_clip(make_clip, stride=2)
    first, middle, second = clip[0:3:2], clip[1:4:2], clip[2:5:2]
    out, bmap = FrameWeavePixelShaderBlend().blend(middle, 2, 2, 2.0, 6.0, first=first, second=second)
    reference, _ = FrameWeavePixelShaderBlend().blend(clip, stride=2)
    torch.testing.assert_close(out, reference[1:4:2], atol=1e-6, rtol=0)
    assert bmap.shape == middle.shape


def test_exception(make_clip):
    clip = interpolated_clip(make_clip, stride=2)
    node = FrameWeavePixelShaderBlend()
    with pytest.raises(ValueError, match="stride"):
        node.blend(clip, stride=1)
    with pytest.raises(ValueError, match="at least 4 frames"):
        node.blend(clip[:3], stride=3)
    with pytest.raises(ValueError, match="low < high"):
        node.blend(clip, stride=2, low=6.0, high=2.0)
    with pytest.raises(ValueError, match="both first and second"):
        node.blend(clip, first=clip)
    with pytest.raises(ValueError, match="must match"):
        node.blend(clip, first=clip[:2], second=clip[:2])
    with pytest.raises(ValueError, match="3 colour channels"):
        node.blend(clip[..., :2], stride=2)
