"""PSNR / SSIM / sharpness ratio (vfi_core.metrics) and the Pillow line plot (vfi_core.plots)."""
import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from frameweave.vfi_core import metrics
from frameweave.vfi_core.plots import line_plot, nice_ticks


def _sk_psnr(a, b):
    return peak_signal_noise_ratio(a.double().numpy() * 255, b.double().numpy() * 255, data_range=255)


def _sk_ssim(a, b):
    return structural_similarity(a.double().numpy() * 255, b.double().numpy() * 255, gaussian_weights=True,
                                 sigma=1.5, use_sample_covariance=False, data_range=255, channel_axis=-1)


def _pairs(make_clip):
    """Pairs of real-photo frames: true motion (pan), noise, blur, a different photo."""
    gen = torch.Generator().manual_seed(0)
    a = make_clip(3, size=(45, 61), step=(0.7, 1.9))                       # odd sizes on purpose
    moved = make_clip(4, size=(45, 61), step=(0.7, 1.9))[1:]
    noisy = (a + 0.03 * torch.randn(a.shape, generator=gen)).clamp(0, 1)
    blurred = torch.nn.functional.avg_pool2d(a.permute(0, 3, 1, 2), 3, 1, 1, count_include_pad=False).permute(0, 2, 3, 1)
    other = make_clip(3, size=(45, 61), name="chelsea")
    return a, [moved, noisy, blurred.contiguous(), other]


def test_psnr_matches_skimage(make_clip):
    a, others = _pairs(make_clip)
    for b in others:
        ours = metrics.psnr(a, b)
        for i in range(a.shape[0]):
            assert abs(float(ours[i]) - _sk_psnr(a[i], b[i])) < 1e-3


def test_ssim_matches_skimage(make_clip):
    a, others = _pairs(make_clip)
    for b in others:
        ours = metrics.ssim(a, b)
        for i in range(a.shape[0]):
            assert abs(float(ours[i]) - _sk_ssim(a[i], b[i])) < 1e-4


def test_metrics_match_skimage_on_dev_triplets(dev_data):
    from frameweave.vfi_core.evaluation import load_triplets

    root = dev_data / "triplets"
    triplets = load_triplets(root / "ucf101_adacof" / "1") + load_triplets(root / "vimeo90k_sample")
    assert [t[0] for t in triplets] == ["1", "pytoflow_example"]     # a triplet folder as root: its own name
    for name, f0, f1, gt in triplets:                                     # UCF101 320x240 and Vimeo 448x256
        pred = ((f0 + f1) / 2).clamp(0, 1)
        assert abs(float(metrics.psnr(pred, gt)[0]) - _sk_psnr(pred[0], gt[0])) < 1e-3, name
        assert abs(float(metrics.ssim(pred, gt)[0]) - _sk_ssim(pred[0], gt[0])) < 1e-4, name


def test_cardinality_and_dtype(clip):
    b = clip.flip(0)
    for fn in (metrics.psnr, metrics.ssim, metrics.sharpness_ratio, metrics.mse):
        out = fn(clip, b)
        assert out.shape == (clip.shape[0],) and out.dtype == torch.float64
    assert metrics.ssim_map(clip, b).shape == (clip.shape[0], 3, clip.shape[1] - 10, clip.shape[2] - 10)


def test_identical_frames(clip):
    assert torch.all(metrics.psnr(clip, clip) == metrics.PSNR_CAP_DB)
    assert torch.allclose(metrics.ssim(clip, clip), torch.ones(clip.shape[0], dtype=torch.float64))
    assert torch.allclose(metrics.sharpness_ratio(clip, clip), torch.ones(clip.shape[0], dtype=torch.float64))
    # a difference far below one 8-bit step still gives a finite value, capped at 100 dB
    assert torch.all(metrics.psnr(clip, clip + 1e-9) <= metrics.PSNR_CAP_DB)


def test_psnr_known_value(clip):
    # a uniform error of 1/255 everywhere: MSE = 1 on the 0..255 scale, PSNR = 20·log10(255)
    shifted = clip.double() + 1.0 / 255
    assert torch.allclose(metrics.psnr(clip.double(), shifted), torch.full((clip.shape[0],), 20 * math.log10(255),
                                                                           dtype=torch.float64))


def test_chunked_equals_whole(clip, monkeypatch):
    clip = clip[:3]
    b = (clip * 0.9 + 0.05).flip(2)
    whole_p, whole_s = metrics.psnr(clip, b), metrics.ssim(clip, b)
    monkeypatch.setattr(metrics, "CHUNK_ELEMENTS", 2000)                 # one frame per chunk, strips of 10 rows
    assert torch.allclose(metrics.psnr(clip, b), whole_p, rtol=0, atol=1e-12)
    assert torch.allclose(metrics.ssim(clip, b), whole_s, rtol=0, atol=1e-12)


def test_float32_and_float64_agree(clip):
    b = clip.flip(1)
    assert torch.allclose(metrics.ssim(clip, b), metrics.ssim(clip.double(), b.double()), atol=1e-6)


def test_sharpness_ratio_formula(clip):
    blurred = torch.nn.functional.avg_pool2d(clip.permute(0, 3, 1, 2), 5, 1, 2,
                                             count_include_pad=False).permute(0, 2, 3, 1)
    ratio = metrics.sharpness_ratio(blurred, clip)
    assert torch.all(ratio < 0.8)
    # independent numpy computation of mean sqrt(dx² + dy²) (forward differences, 0..255)
    def grad(x):
        v = x.double().numpy() * 255
        dx = np.diff(v, axis=2)[:, :-1]
        dy = np.diff(v, axis=1)[:, :, :-1]
        return np.sqrt(dx ** 2 + dy ** 2).reshape(v.shape[0], -1).mean(axis=1)
    assert np.allclose(ratio.numpy(), grad(blurred) / grad(clip), rtol=1e-10)


def test_exceptions(clip):
    with pytest.raises(ValueError, match="frame counts differ"):
        metrics.psnr(clip, clip[:-1])
    with pytest.raises(ValueError, match="frame sizes differ"):
        metrics.ssim(clip, clip[:, :-1])
    bad = clip.clone()
    bad[2, 3, 4, 1] = float("nan")
    with pytest.raises(ValueError, match=r"NaN or Inf values in frame\(s\) \[2\]"):
        metrics.psnr(clip, bad)
    with pytest.raises(ValueError, match="too small"):
        metrics.ssim(clip[:, :10], clip[:, :10])
    with pytest.raises(ValueError, match="3"):
        metrics.psnr(clip[..., :2], clip[..., :2])
    with pytest.raises(ValueError, match="float"):
        metrics.psnr((clip * 255).to(torch.uint8), (clip * 255).to(torch.uint8))
    with pytest.raises(ValueError, match="no gradient"):
        metrics.sharpness_ratio(clip, torch.full_like(clip, 0.5))
    with pytest.raises(ValueError, match=r"in frame\(s\) \[0, 1.*IMAGE values are 0..1 \(for 0..255 data"):
        metrics.psnr(clip * 255, clip)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu(clip):
    b = clip.flip(0)
    for fn in (metrics.psnr, metrics.ssim, metrics.sharpness_ratio):
        assert torch.allclose(fn(clip.cuda(), b.cuda()).cpu(), fn(clip, b), atol=1e-9)


# --- plots -----------------------------------------------------------------------------------

def test_line_plot_image():
    values = {"k=2": [30.0 + math.sin(i) for i in range(25)], "k=4": [27.0, float("inf"), 26.5, 28.0]}
    img = line_plot(values, title="PSNR per frame", ylabel="PSNR (dB)", size=(500, 260))
    assert img.shape == (1, 260, 500, 3) and img.dtype == torch.float32
    assert float(img.min()) >= 0.0 and float(img.max()) <= 1.0
    # mostly white background, with both series' colours present somewhere
    assert float((img == 1.0).all(dim=-1).float().mean()) > 0.5
    colours = {tuple(int(c) for c in px) for px in (img[0] * 255).round().reshape(-1, 3).tolist()}
    assert (31, 119, 180) in colours and (214, 39, 40) in colours
    # a single point and explicit x positions also draw
    assert line_plot({"one": [3.0]}).shape == (1, 320, 640, 3)
    assert line_plot({"loss": [1.0, 0.5, 0.2]}, x_values={"loss": [10, 20, 30]}, xlabel="step").shape[0] == 1


def test_nice_ticks():
    assert nice_ticks(0, 10) == [0, 2, 4, 6, 8, 10]
    t = nice_ticks(27.3, 33.9)
    assert t[0] >= 27.3 and t[-1] <= 33.9 and len(t) >= 3


def test_line_plot_exceptions():
    with pytest.raises(ValueError, match="at least one series"):
        line_plot({})
    with pytest.raises(ValueError, match="no finite value"):
        line_plot({"a": [float("nan"), float("inf")]})
    with pytest.raises(ValueError, match="too small"):
        line_plot({"a": [1.0, 2.0]}, size=(50, 40))
    with pytest.raises(ValueError, match="x positions"):
        line_plot({"a": [1.0, 2.0]}, x_values={"a": [0.0]})
