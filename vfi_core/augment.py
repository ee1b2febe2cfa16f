"""Augmentation of training triplets (I0, I_0.5, I1) that keeps the middle frame exact.

All randomness comes from a ``numpy.random.Generator`` passed in, so a data stream is reproducible
from the generator's (checkpointed) state.

* random crop of ``crop`` pixels;
* random extra offset between I0 and I1: I0 is cropped at (y - dy, x - dx) and I1 at (y + dy, x + dx)
  around the ground truth's window (y, x), which adds a uniform motion of 2·(dy, dx) from I0 to I1
  whose midpoint is still the unshifted ground truth (SepConv paper, Sec. 4: "shift" augmentation);
* horizontal / vertical flips (of all three frames);
* temporal reversal (swap I0 and I1; the midpoint is unchanged).
"""
import numpy as np


def random_triplet_crop(first, middle, last, rng: np.random.Generator, crop=(128, 128), max_shift: int = 0):
    """Crop [H,W,3] x3 to ``crop`` (h, w) with a random extra offset up to ``max_shift`` pixels
    per axis between I0 and I1 (limited by the frame's margin). Returns three [h,w,3] views."""
    h, w = first.shape[:2]
    ch, cw = int(crop[0]), int(crop[1])
    if ch > h or cw > w:
        raise ValueError(f"crop {cw}x{ch} is larger than the frames ({w}x{h})")
    sy = min(int(max_shift), (h - ch) // 2)
    sx = min(int(max_shift), (w - cw) // 2)
    dy = int(rng.integers(-sy, sy + 1)) if sy > 0 else 0
    dx = int(rng.integers(-sx, sx + 1)) if sx > 0 else 0
    y = int(rng.integers(abs(dy), h - ch - abs(dy) + 1))
    x = int(rng.integers(abs(dx), w - cw - abs(dx) + 1))
    return (first[y - dy:y - dy + ch, x - dx:x - dx + cw],
            middle[y:y + ch, x:x + cw],
            last[y + dy:y + dy + ch, x + dx:x + dx + cw])


def random_flip_reverse(first, middle, last, rng: np.random.Generator, flips: bool = True, reverse: bool = True):
    """Random horizontal/vertical flip of the triplet and random temporal reversal."""
    frames = [first, middle, last]
    if flips and rng.random() < 0.5:
        frames = [f[:, ::-1] for f in frames]
    if flips and rng.random() < 0.5:
        frames = [f[::-1] for f in frames]
    if reverse and rng.random() < 0.5:
        frames = frames[::-1]
    return tuple(np.ascontiguousarray(f) for f in frames)


def augment_triplet(first, middle, last, rng: np.random.Generator, crop=(128, 128), max_shift: int = 0,
                    flips: bool = True, reverse: bool = True):
    """Crop (with extra I0/I1 offset), flip and reverse a triplet; float32 [h,w,3] x3 out."""
    f0, gt, f1 = random_triplet_crop(first, middle, last, rng, crop, max_shift)
    f0, gt, f1 = random_flip_reverse(f0, gt, f1, rng, flips, reverse)
    return tuple(np.asarray(f, dtype=np.float32) / (255.0 if f.dtype == np.uint8 else 1.0) for f in (f0, gt, f1))
