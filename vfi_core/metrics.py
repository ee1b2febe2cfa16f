"""Image quality metrics for interpolated frames: PSNR, SSIM and a sharpness ratio.

All three take IMAGE batches ``a, b: float [B,H,W,3]`` in 0..1 (CPU or CUDA, any float dtype)
and return one value per frame, ``float64 Tensor[B]`` on the inputs' device. Frames are scored on
the 0..255 scale, as in the frame-interpolation literature (and the numbers in
``../shared/data/dev/README.md``). Work is done in float64 in chunks of frames, so a batch of
4K frames never needs more than a few hundred MB at once.

- ``psnr``: 10·log10(255² / MSE) per frame, MSE over all pixels and channels of the frame.
  Identical frames (MSE = 0) would give +inf; the value is capped at ``PSNR_CAP_DB`` = 100 dB so
  that means over a clip stay finite (a frame within 100 dB is indistinguishable in 8-bit).
- ``ssim``: Wang, Bovik, Sheikh, Simoncelli, "Image quality assessment: from error visibility to
  structural similarity", IEEE TIP 2004, eq. 13, with the paper's settings: 11x11 circular-symmetric
  Gaussian window σ = 1.5, K1 = 0.01, K2 = 0.03, L = 255, population (weighted) statistics. Each
  colour channel is scored separately and the three means are averaged. As in
  ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=255, channel_axis=-1)`` the SSIM map is averaged over the
  valid region only, i.e. the 5-pixel border (``(win-1)//2``) is left out; the tests check
  agreement with skimage to 1e-4.
- ``sharpness_ratio``: mean gradient magnitude of ``pred`` divided by that of ``ref`` (see its
  docstring): < 1 means the prediction is blurrier than the reference, > 1 sharper or noisier.
"""
import torch

from .validate import check_value_range

PSNR_CAP_DB = 100.0     # value returned for identical frames (MSE = 0) and anything above
PEAK = 255.0            # L, the dynamic range of 8-bit pixel values
SSIM_WINDOW = 11        # Gaussian window size (taps) of Wang et al. 2004
SSIM_SIGMA = 1.5        # its standard deviation in pixels
SSIM_K1, SSIM_K2 = 0.01, 0.03
CHUNK_ELEMENTS = 1 << 21  # about 2M values (16 MB in float64) per working map


def _check_pair(a: torch.Tensor, b: torch.Tensor, names=("a", "b"), min_side: int = 1) -> None:
    """Raise ValueError unless a and b are finite IMAGE batches [B,H,W,3] of the same shape."""
    for x, name in zip((a, b), names):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name}: expected a torch tensor [B,H,W,3], got {type(x).__name__}")
        if x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(f"{name}: expected shape [frames, height, width, 3], got {list(x.shape)}")
        if not (x.is_floating_point()):
            raise ValueError(f"{name}: expected float values in 0..1, got dtype {x.dtype}")
        if x.shape[0] < 1:
            raise ValueError(f"{name}: no frames")
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"frame counts differ: {names[0]} has {a.shape[0]}, {names[1]} has {b.shape[0]}")
    if a.shape[1:3] != b.shape[1:3]:
        raise ValueError(f"frame sizes differ: {names[0]} is {a.shape[2]}x{a.shape[1]}, "
                         f"{names[1]} is {b.shape[2]}x{b.shape[1]} (width x height)")
    if min(a.shape[1], a.shape[2]) < min_side:
        raise ValueError(f"frames of {a.shape[2]}x{a.shape[1]} are too small: need at least "
                         f"{min_side}x{min_side} pixels")
    if a.device != b.device:
        raise ValueError(f"{names[0]} is on {a.device}, {names[1]} on {b.device}: put both on one device")
    for x, name in zip((a, b), names):
        finite = torch.isfinite(x).reshape(x.shape[0], -1).all(dim=1)    # [B]
        if not bool(finite.all()):
            bad = (~finite).nonzero().flatten().tolist()
            raise ValueError(f"{name}: NaN or Inf values in frame(s) {bad[:10]}")
        check_value_range(x, name)


def _frames_per_chunk(a: torch.Tensor, maps: int = 1) -> int:
    """How many frames of ``a`` fit in one chunk of CHUNK_ELEMENTS values per working map."""
    per_frame = a.shape[1] * a.shape[2] * a.shape[3] * maps
    return max(1, CHUNK_ELEMENTS // per_frame)


def mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean squared error per frame on the 0..255 scale, float64 [B]."""
    _check_pair(a, b)
    out = []
    step = _frames_per_chunk(a)
    for s in range(0, a.shape[0], step):
        d = (a[s:s + step].double() - b[s:s + step].double()) * PEAK   # [b,H,W,3]
        out.append(d.square().flatten(1).mean(dim=1))
    return torch.cat(out)


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio per frame: 10·log10(255² / MSE) dB on the 0..255 scale.

    a, b: float [B,H,W,3] in 0..1. Returns float64 [B], capped at ``PSNR_CAP_DB`` (100 dB), which
    is also the value for identical frames (MSE = 0, where the formula gives +inf).
    """
    err = mse(a, b)
    cap = torch.full_like(err, PSNR_CAP_DB)
    value = 10.0 * torch.log10(PEAK ** 2 / err.clamp_min(1e-300))
    return torch.where(err > 0, value.clamp_max(PSNR_CAP_DB), cap)


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA, dtype=torch.float64, device=None) -> torch.Tensor:
    """1-D Gaussian taps exp(-x²/2σ²), x = -(size//2)..size//2, normalised to sum 1, [size].
    The 2-D window of Wang et al. 2004 is the outer product of this with itself (separable)."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"window size must be a positive odd number, got {size}")
    x = torch.arange(size, dtype=dtype, device=device) - size // 2
    w = torch.exp(-(x * x) / (2.0 * sigma * sigma))
    return w / w.sum()


def _blur_valid(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Separable filter without padding: [P,1,H,W] -> [P,1,H-n+1,W-n+1] (the 'valid' part, i.e. the
    filtered image with the (n-1)/2 border cropped, as skimage averages it).

    Written as a weighted sum of n shifted views per axis: on the CPU this is several times faster
    than a float64 ``conv2d`` (which has no vectorised kernel) and it is exact in the same way.
    """
    n = w.numel()
    taps = w.tolist()
    h, wd = x.shape[-2] - n + 1, x.shape[-1] - n + 1
    rows = x[..., 0:h, :] * taps[0]                                       # along H: [P,1,h,W]
    for i in range(1, n):
        rows.add_(x[..., i:i + h, :], alpha=taps[i])
    out = rows[..., 0:wd] * taps[0]                                       # along W: [P,1,h,wd]
    for i in range(1, n):
        out.add_(rows[..., i:i + wd], alpha=taps[i])
    return out


def _ssim_planes(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """SSIM map (eq. 13) of single-channel planes on the 0..255 scale, float64:
    [P,1,h,W] -> [P,1,h-n+1,W-n+1] (valid region of the n-tap window ``w``)."""
    P = x.shape[0]
    stats = _blur_valid(torch.cat([x, y, x * x, y * y, x * y]), w)     # [5P,1,h',w'], one pass
    mu_x, mu_y, e_xx, e_yy, e_xy = stats.split(P)
    var_x = e_xx - mu_x * mu_x                       # σx², population (weighted) variance
    var_y = e_yy - mu_y * mu_y
    cov_xy = e_xy - mu_x * mu_y                      # σxy
    c1, c2 = (SSIM_K1 * PEAK) ** 2, (SSIM_K2 * PEAK) ** 2
    return (((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2))
            / ((mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)))


def _planes(a: torch.Tensor) -> torch.Tensor:
    """[b,H,W,3] in 0..1 -> float64 planes [b*3,1,H,W] on the 0..255 scale."""
    b, H, W, C = a.shape
    return (a.double() * PEAK).permute(0, 3, 1, 2).reshape(b * C, 1, H, W)


def ssim_map(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """SSIM index map of Wang et al. 2004, eq. 13, per channel over the valid region.

    a, b: float [B,H,W,3] in 0..1 -> float64 [B,3,H-10,W-10] (whole batch at once; ``ssim``
    computes the means in bounded memory).
        SSIM(x, y) = (2 μx μy + C1)(2 σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2)),
    μ, σ², σxy weighted by the 11x11 Gaussian window (σ = 1.5), C1 = (K1 L)², C2 = (K2 L)², L = 255.
    """
    _check_pair(a, b, min_side=SSIM_WINDOW)
    s = _ssim_planes(_planes(a), _planes(b), gaussian_window())   # [B*3,1,h,w]
    return s.reshape(a.shape[0], 3, s.shape[-2], s.shape[-1])


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean SSIM per frame (Wang et al. 2004, eq. 13 averaged as their MSSIM, eq. 17), float64 [B].

    a, b: float [B,H,W,3] in 0..1, at least 11x11 pixels. Each channel's SSIM map is averaged over
    the valid region (border of 5 pixels left out), then the three channel means are averaged —
    the same number as skimage's structural_similarity with the Wang et al. settings. Frames are
    taken in chunks and, when one frame is large, in strips of rows overlapping by 10 rows, so the
    working maps stay near ``CHUNK_ELEMENTS`` values whatever the frame size.
    """
    _check_pair(a, b, min_side=SSIM_WINDOW)
    B, H, W, C = a.shape
    n = SSIM_WINDOW
    valid_h, valid_w = H - n + 1, W - n + 1
    w = gaussian_window()
    out = []
    step = _frames_per_chunk(a)
    for s in range(0, B, step):
        e = min(s + step, B)
        rows = max(1, CHUNK_ELEMENTS // ((e - s) * C * W))                # valid rows per strip
        total = torch.zeros((e - s) * C, dtype=torch.float64, device=a.device)
        for r0 in range(0, valid_h, rows):
            r1 = min(r0 + rows, valid_h)
            x = _planes(a[s:e, r0:r1 + n - 1])                            # [P,1,r1-r0+n-1,W], P = b*3
            y = _planes(b[s:e, r0:r1 + n - 1])
            total += _ssim_planes(x, y, w).sum(dim=(1, 2, 3))             # map [P,1,r1-r0,valid_w]
        per_channel = (total / (valid_h * valid_w)).view(-1, C)           # [b,3]
        out.append(per_channel.mean(dim=1))
    return torch.cat(out)


def gradient_magnitude(x: torch.Tensor) -> torch.Tensor:
    """Mean gradient magnitude per frame, float64 [B], on the 0..255 scale.

    Forward differences dx = I[y, x+1] - I[y, x], dy = I[y+1, x] - I[y, x] on the common
    [H-1, W-1] grid of every channel; magnitude sqrt(dx² + dy²), averaged over pixels and channels.
    """
    out = []
    step = _frames_per_chunk(x, maps=4)
    for s in range(0, x.shape[0], step):
        v = x[s:s + step].double() * PEAK                                # [b,H,W,3]
        dx = v[:, :-1, 1:, :] - v[:, :-1, :-1, :]                        # [b,H-1,W-1,3]
        dy = v[:, 1:, :-1, :] - v[:, :-1, :-1, :]
        out.append(torch.sqrt(dx * dx + dy * dy).flatten(1).mean(dim=1))
    return torch.cat(out)


def sharpness_ratio(pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Per-frame sharpness of ``pred`` relative to ``ref``, float64 [B]:

        ratio = mean |∇ pred| / mean |∇ ref|,  |∇I| = sqrt((∂I/∂x)² + (∂I/∂y)²)

    with forward differences per channel (``gradient_magnitude``). 1 = as sharp as the reference;
    blur (e.g. a linear blend or an L1-trained network) gives < 1, ringing or GAN noise can give > 1.
    Raises ValueError when a reference frame is flat (no gradient: the ratio is undefined).
    """
    _check_pair(pred, ref, names=("pred", "ref"), min_side=2)
    g_pred, g_ref = gradient_magnitude(pred), gradient_magnitude(ref)
    flat = (g_ref <= 0).nonzero().flatten().tolist()
    if flat:
        raise ValueError(f"ref: frame(s) {flat[:10]} have no gradient (flat colour): sharpness ratio undefined")
    return g_pred / g_ref
