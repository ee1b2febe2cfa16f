"""Build the bundled example clip and the pack icon, deterministically.

    python examples/make_example.py        # writes examples/pan_zoom.gif and examples/icon.png

``pan_zoom.gif``: a smooth camera pan with a slight zoom over scikit-image's "chelsea" photo
(public domain), 12 frames of 192x128, with deliberately uneven GIF delays (100 ms, some 150 ms,
a final 200 ms hold) so that timing preservation is visible after interpolation.
``icon.png``: 128x128 crop of the same photo (the ComfyUI registry icon).
"""
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
SIZE = (192, 128)  # width, height
FRAMES = 12
DELAYS_MS = [100, 100, 150, 100, 100, 150, 100, 100, 150, 100, 100, 200]


def camera_path(i: int, photo_size) -> tuple:
    """Crop box (x0, y0, x1, y1) of frame i: the window slides right and slightly down while
    shrinking from 1.45x to 1.25x the output size (a zoom-in), with ease-in-out motion."""
    pw, ph = photo_size
    s = 0.5 - 0.5 * np.cos(np.pi * i / (FRAMES - 1))  # 0..1 smooth
    scale = 1.45 - 0.20 * s
    w, h = SIZE[0] * scale, SIZE[1] * scale
    cx = 150 + 150 * s
    cy = 130 + 25 * s
    x0, y0 = np.clip(cx - w / 2, 0, pw - w), np.clip(cy - h / 2, 0, ph - h)
    return (float(x0), float(y0), float(x0 + w), float(y0 + h))


def render_frames():
    """uint8 frames [T,H,W,3] rendered with Lanczos resampling of sub-pixel crop boxes."""
    import skimage.data
    from PIL import Image

    photo = Image.fromarray(skimage.data.chelsea())  # 451x300 RGB
    out = [np.asarray(photo.resize(SIZE, Image.Resampling.LANCZOS, box=camera_path(i, photo.size)))
           for i in range(FRAMES)]
    return np.stack(out), photo


def make_icon(photo):
    from PIL import Image

    face = photo.crop((110, 20, 350, 260))  # the cat's face, square
    return face.resize((128, 128), Image.Resampling.LANCZOS)


def main(out_dir: Path = HERE) -> None:
    from frameweave.vfi_core.frames_io import write_frames
    from frameweave.vfi_core.timing import FrameTiming

    frames, photo = render_frames()
    clip = torch.from_numpy(frames).float() / 255.0  # [T,H,W,3]
    timing = FrameTiming.from_durations([d / 1000 for d in DELAYS_MS])
    gif = write_frames(out_dir / "pan_zoom.gif", clip, timing=timing)
    icon = out_dir / "icon.png"
    make_icon(photo).save(icon, optimize=True)
    print(f"wrote {gif} ({gif.stat().st_size // 1024} KB, {FRAMES} frames, delays {DELAYS_MS} ms) and {icon}")


if __name__ == "__main__":
    main()
