"""Shared fixtures: small real-photo clips with known motion, and the optional dev data."""
from pathlib import Path

import numpy as np
import pytest
import torch

SHARED_DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "dev"


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Every tensor in the suite is small: one torch/OpenCV thread avoids thread start and sync
    costs that dominate such work (and multiply on a busy 2-core machine). Restored at the end."""
    import cv2

    n_torch, n_cv = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    yield
    torch.set_num_threads(n_torch)
    cv2.setNumThreads(n_cv)


@pytest.fixture(scope="session")
def dev_data() -> Path:
    """../shared/data/dev when it exists beside the checkout; the test is skipped otherwise."""
    if not SHARED_DEV.is_dir():
        pytest.skip("../shared/data/dev is not present")
    return SHARED_DEV


def photo(name: str = "astronaut", size=(96, 128)) -> np.ndarray:
    """A real photo from scikit-image, float32 [H,W,3] in 0..1, resized to ``size`` (h, w)."""
    import skimage.data
    from skimage.transform import resize

    img = getattr(skimage.data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    img = img[..., :3].astype(np.float32)
    if img.max() > 1.0:
        img /= 255.0
    return resize(img, (size[0] * 2, size[1] * 2), anti_aliasing=True).astype(np.float32)


def pan_clip(frames: int = 5, size=(48, 64), step=(1.0, 2.0), name: str = "astronaut") -> torch.Tensor:
    """A camera pan over a real photo: frame i is the crop shifted by i*step (dy, dx) pixels,
    sub-pixel shifts by bilinear sampling. IMAGE [T,H,W,3] float32 in 0..1."""
    src = torch.from_numpy(photo(name, size)).permute(2, 0, 1)[None]      # [1,3,2H,2W]
    h, w = size
    H2, W2 = src.shape[-2:]
    out = []
    for i in range(frames):
        dy, dx = i * step[0], i * step[1]
        ys = torch.arange(h, dtype=torch.float32) + 4 + dy
        xs = torch.arange(w, dtype=torch.float32) + 4 + dx
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        grid = torch.stack([gx / (W2 - 1) * 2 - 1, gy / (H2 - 1) * 2 - 1], dim=-1)[None]  # [1,h,w,2]
        crop = torch.nn.functional.grid_sample(src, grid, mode="bilinear", align_corners=True)
        out.append(crop[0].permute(1, 2, 0))
    return torch.stack(out).clamp(0, 1).contiguous()


@pytest.fixture
def clip() -> torch.Tensor:
    return pan_clip()


@pytest.fixture
def make_clip():
    """Factory fixture: ``make_clip(frames, size=(h,w), step=(dy,dx), name=photo)``."""
    return pan_clip


@pytest.fixture
def make_photo():
    """Factory fixture: ``make_photo(name, size=(h,w))`` -> float32 [2h,2w,3] numpy photo."""
    return photo
