"""What a node shows on itself in ComfyUI's front end: preview images and their ``ui`` entries.

The front end (1.27.10) previews a node's ``ui["images"]`` entries, each
``{"filename", "subfolder", "type"}`` with ``type`` "output", "temp" or "input", and fetches them
from ``/view``. How it shows them depends on ``ui["animated"]`` (one flag per image) and on the
file name:

    animated  name contains   shown as
    false     (any)           the image drawn on the canvas (a GIF shows its first frame there;
                              web/frameweave.js switches FrameWeave GIFs to the playing view)
    true      webp or png     an <img> laid over the node (WebP / APNG animate)
    true      anything else   a <video> element (MP4 / WebM play; a GIF would not load in it)

``ui["text"]`` (a list of strings) is not displayed by the stock front end; FrameWeave's extension
``web/frameweave.js`` shows it in a read-only text box on the node.

A leading underscore keeps this module out of node discovery (``nodes/__init__.py``).
"""
import uuid
from pathlib import Path

import numpy as np

from . import _comfy

PREVIEW_PREFIX = "frameweave_preview"   # file name start of the temp previews


def animated_flag(filename: str, animated: bool) -> bool:
    """The ``ui["animated"]`` flag that makes the front end preview ``filename``: True for
    animated WebP / APNG (an <img>) and for videos (a <video>); False for still images and for
    GIFs, which the front end can only show as an image (a <video> does not play GIF)."""
    name = filename.lower()
    if name.endswith(".gif"):
        return False
    return bool(animated)


def temp_directory() -> Path | None:
    """ComfyUI's temp folder (what Preview Image writes to); None outside ComfyUI."""
    fp = _comfy._folder_paths()
    return Path(fp.get_temp_directory()) if fp is not None else None


def save_temp_preview(image, label: str, folder: Path | None = None) -> dict | None:
    """Write the first frame of ``image`` (IMAGE [B,H,W,3] in 0..1) as a PNG in ComfyUI's temp
    folder and return its ``ui["images"]`` entry; None outside ComfyUI (nothing to show it)."""
    from PIL import Image  # noqa: PLC0415

    folder = temp_directory() if folder is None else Path(folder)
    if folder is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in label) or "image"
    name = f"{PREVIEW_PREFIX}_{safe}_{uuid.uuid4().hex[:12]}.png"
    pixels = (image[0].detach().float().clamp(0, 1).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    part = folder / (name + ".part")
    Image.fromarray(pixels).save(part, format="PNG", compress_level=1)
    part.replace(folder / name)
    return {"filename": name, "subfolder": "", "type": "temp"}
