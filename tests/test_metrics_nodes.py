"""PSNR / SSIM and Drop Frames nodes (nodes/metrics_nodes.py), called as ComfyUI calls them."""
import pytest
import torch

from frameweave.nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
from frameweave.nodes.metrics_nodes import FrameWeaveDropFrames, FrameWeavePSNRSSIM
from frameweave.vfi_core import metrics
from frameweave.vfi_core.timing import FrameTiming


def linear_clip(frames, k):
    out = [frames[:1]]
    for a, b in zip(frames[:-1], frames[1:]):
        out += [((1 - j / k) * a + j / k * b)[None] for j in range(1, k)] + [b[None]]
    return torch.cat(out)


def eight_bit(x):
    return torch.round(x * 255) / 255


def test_registered():
    for key, name in (("FrameWeavePSNRSSIM", "PSNR / SSIM (FrameWeave)"), ("FrameWeaveDropFrames", "Drop Frames (FrameWeave)")):
        assert key in NODE_CLASS_MAPPINGS and NODE_DISPLAY_NAME_MAPPINGS[key] == name
        cls = NODE_CLASS_MAPPINGS[key]
        assert cls.CATEGORY.startswith("FrameWeave/") and len(cls.RETURN_TYPES) == len(cls.RETURN_NAMES)
    assert FrameWeavePSNRSSIM.OUTPUT_NODE is True


@pytest.mark.parametrize("inference", [False, True])
def test_drop_interpolate_score(make_clip, inference):
    clip = eight_bit(make_clip(9, size=(32, 40)))
    ctx = torch.inference_mode() if inference else torch.inference_mode(False)
    with ctx:
        kept, kept_timing, reference, stride = FrameWeaveDropFrames().drop(clip, 4)
        assert kept.shape == (3, 32, 40, 3) and reference.shape == (9, 32, 40, 3) and stride == 4
        assert isinstance(kept_timing, FrameTiming) and len(kept_timing) == 3
        assert kept_timing.timestamps == pytest.approx((0.0, 4 / 25, 8 / 25))   # 25 fps assumed
        rebuilt = linear_clip(kept, 4)
        out = FrameWeavePSNRSSIM().score(rebuilt, reference, skip_stride=stride)
    psnr, ssim, table, plot = out["result"]
    scored = [1, 2, 3, 5, 6, 7]
    want_p = metrics.psnr(eight_bit(rebuilt[scored]), reference[scored])
    want_s = metrics.ssim(eight_bit(rebuilt[scored]), reference[scored])
    assert psnr == pytest.approx(float(want_p.mean()), abs=1e-9)
    assert ssim == pytest.approx(float(want_s.mean()), abs=1e-9)
    rows = [line.split() for line in table.splitlines()[1:1 + len(scored)]]
    assert [int(r[0]) for r in rows] == scored
    assert [float(r[1]) for r in rows] == pytest.approx(want_p.tolist(), abs=1e-3)
    assert "mean" in table and "skipped" in table
    assert plot.shape[0] == 1 and plot.shape[-1] == 3 and plot.dtype == torch.float32
    assert f"{psnr:.3f}" in out["ui"]["text"][0]


def test_score_every_frame_and_identical(clip):
    psnr, ssim, table, _ = FrameWeavePSNRSSIM().score(clip, clip)["result"]
    assert psnr == metrics.PSNR_CAP_DB and ssim == pytest.approx(1.0)
    assert len(table.splitlines()) == clip.shape[0] + 4                  # header, frames, mean, 2 notes


def test_drop_frames_keeps_timing(make_clip):
    clip = make_clip(7, size=(16, 20))
    timing = FrameTiming.from_durations([0.1, 0.2, 0.1, 0.3, 0.1, 0.1, 0.5])
    kept, kept_timing, reference, stride = FrameWeaveDropFrames().drop(clip, 3, timing)
    assert kept_timing.timestamps == (timing.timestamps[0], timing.timestamps[3], timing.timestamps[6])
    assert kept_timing.end == timing.end and reference.shape[0] == 7 and stride == 3


def test_exceptions(clip):
    node = FrameWeavePSNRSSIM()
    with pytest.raises(ValueError, match="frames has 4 frame\\(s\\) but reference has 5"):
        node.score(clip[:4], clip)
    with pytest.raises(ValueError, match="frames are 64x48 but reference is 64x40"):
        node.score(clip, clip[:, :40])
    with pytest.raises(ValueError, match="skips all"):
        node.score(clip[:1], clip[:1], skip_stride=2)
    bad = clip.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        node.score(bad, clip)
    with pytest.raises(ValueError, match="needs at least 5 frames"):
        FrameWeaveDropFrames().drop(clip[:4], 4)
    with pytest.raises(ValueError, match="timing has 3 timestamps"):
        FrameWeaveDropFrames().drop(clip, 2, FrameTiming.from_fps(3, 10.0))


def test_scores_and_plot_shown_on_the_node(clip, tmp_path, monkeypatch):
    """Issue 13 item 3: the means as ui text (web/frameweave.js shows it), the plot as
    an image preview (a temp PNG, as Preview Image writes) without wiring the plot output."""
    from PIL import Image

    from frameweave.nodes import _preview

    monkeypatch.setattr(_preview, "temp_directory", lambda: tmp_path)
    out = FrameWeavePSNRSSIM().score(clip[:3], clip[:3].flip(0), skip_stride=1)     # 1 = score every frame
    psnr, ssim, table, plot = out["result"]
    (summary,) = out["ui"]["text"]
    assert summary.startswith(f"PSNR {psnr:.3f} dB, SSIM {ssim:.4f} over 3 frame(s)") and "mean" in table
    (image,) = out["ui"]["images"]
    assert image["type"] == "temp" and image["subfolder"] == "" and image["filename"].endswith(".png")
    with Image.open(tmp_path / image["filename"]) as png:
        assert png.size == (plot.shape[2], plot.shape[1])
        assert abs(float(plot[0, 40, 60, 0]) * 255 - png.getpixel((60, 40))[0]) <= 1
    assert not list(tmp_path.glob("*.part"))
    assert "animated" not in out["ui"]                               # a still image on the canvas


def test_no_preview_file_outside_comfyui(clip):
    out = FrameWeavePSNRSSIM().score(clip[:2], clip[:2])
    assert "images" not in out["ui"] and len(out["ui"]["text"]) == 1
