"""GIF89a blocks: parse and composite an animation, and assemble one frame by frame.

Reading: the block structure (GIF89a spec, sections 18-23: Logical Screen Descriptor, colour
tables, Graphics Control Extension, Image Descriptor) is parsed here; each frame's LZW data is
decoded by Pillow as a standalone one-frame GIF (its C decoder), and the frames are composited on
an RGBA canvas with the disposal methods done here, as browsers do:
  0/1 leave the frame in place, 2 clears its rectangle to transparent, 3 restores the rectangle
  to what it was before the frame was drawn; transparent pixels of a frame leave the canvas as is.
(Pillow's own compositing paints the transparent colour's RGB after disposal 2 on a canvas that
started opaque, so it is not used.)

Writing: ``GifWriter`` (and ``gif_container``, in memory) wraps per-frame LZW data that Pillow
encodes, one frame per image and one at a time, so identical consecutive frames are never merged
(Pillow's writer merges them) and a long clip is never held whole.
"""
from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field

import numpy as np


@dataclass
class GifFrame:
    x: int
    y: int
    width: int
    height: int
    table: bytes | None        # local colour table (RGB triples) or None for the global one
    packed: int                # image descriptor flags (interlace bit kept)
    data: bytes                # LZW minimum code size + data sub-blocks + terminator
    delay_cs: int = 0          # 1/100 s
    disposal: int = 0
    transparency: int | None = None


@dataclass
class GifFile:
    width: int
    height: int
    table: bytes | None
    frames: list = field(default_factory=list)
    has_trailer: bool = False


class GifError(ValueError):
    pass


def _skip_sub_blocks(b: bytes, pos: int) -> int:
    """Position after a run of data sub-blocks ending with a 0 terminator."""
    while True:
        if pos >= len(b):
            raise GifError("truncated GIF: data ends inside a block")
        n = b[pos]
        pos += 1
        if n == 0:
            return pos
        pos += n
        if pos > len(b):
            raise GifError("truncated GIF: data ends inside a block")


def parse_gif(b: bytes) -> GifFile:
    """Split a GIF file into frames (raw LZW data, placement, delay, disposal, transparency)."""
    if len(b) < 13 or b[:6] not in (b"GIF87a", b"GIF89a"):
        raise GifError("not a GIF file (bad signature)")
    w, h, packed, _bg, _aspect = struct.unpack("<HHBBB", b[6:13])
    pos = 13
    table = None
    if packed & 0x80:
        n = 3 * (2 << (packed & 7))
        table = b[pos:pos + n]
        if len(table) < n:
            raise GifError("truncated GIF: global colour table incomplete")
        pos += n
    gif = GifFile(w, h, table)
    gce = (0, 0, None)  # delay, disposal, transparency for the next image
    while pos < len(b):
        tag = b[pos]
        if tag == 0x3B:
            gif.has_trailer = True
            break
        if tag == 0x21:
            if pos + 2 > len(b):
                raise GifError("truncated GIF: extension incomplete")
            label = b[pos + 1]
            if label == 0xF9 and pos + 8 <= len(b) and b[pos + 2] >= 4:
                flags, delay, tindex = struct.unpack("<BHB", b[pos + 3:pos + 7])
                gce = (delay, (flags >> 2) & 7, tindex if flags & 1 else None)
            pos = _skip_sub_blocks(b, pos + 2)
        elif tag == 0x2C:
            if pos + 10 > len(b):
                raise GifError(f"truncated GIF: image descriptor of frame {len(gif.frames)} incomplete")
            x, y, fw, fh, fpacked = struct.unpack("<HHHHB", b[pos + 1:pos + 10])
            pos += 10
            local = None
            if fpacked & 0x80:
                n = 3 * (2 << (fpacked & 7))
                local = b[pos:pos + n]
                if len(local) < n:
                    raise GifError(f"truncated GIF: colour table of frame {len(gif.frames)} incomplete")
                pos += n
            if local is None and table is None:
                raise GifError(f"corrupt GIF: frame {len(gif.frames)} has no colour table")
            start = pos
            try:
                pos = _skip_sub_blocks(b, pos + 1)
            except GifError as exc:
                raise GifError(f"truncated GIF: image data of frame {len(gif.frames)} incomplete") from exc
            gif.frames.append(GifFrame(x, y, fw, fh, local, fpacked, b[start:pos], *gce))
            gce = (0, 0, None)
        elif tag == 0x00:  # stray padding some writers leave
            pos += 1
        else:
            raise GifError(f"corrupt GIF: unknown block 0x{tag:02x} at byte {pos}")
    if not gif.frames:
        raise GifError("GIF holds no image")
    if gif.width == 0 or gif.height == 0:  # some writers leave the screen size 0: use the frames' extent
        gif.width = max(f.x + f.width for f in gif.frames)
        gif.height = max(f.y + f.height for f in gif.frames)
    return gif


def _frame_indices(frame: GifFrame, global_table: bytes | None) -> np.ndarray:
    """Decode one frame's LZW data with Pillow -> colour indices uint8 [h,w]."""
    from PIL import Image

    table = frame.table if frame.table is not None else global_table
    bits = (frame.packed & 7) if frame.table is not None else (len(table) // 3).bit_length() - 2
    mini = (b"GIF89a" + struct.pack("<HHBBB", frame.width, frame.height, 0x80 | 0x70 | bits, 0, 0) + table
            + b"\x2c" + struct.pack("<HHHHB", 0, 0, frame.width, frame.height, frame.packed & 0x40)
            + frame.data + b"\x3b")
    with Image.open(io.BytesIO(mini)) as im:
        im.load()
        return np.array(im, dtype=np.uint8)


def composite_frames(gif: GifFile):
    """Yield ``(rgba uint8 [H,W,4], delay_cs)`` for every frame, composited as browsers do."""
    canvas = np.zeros((gif.height, gif.width, 4), dtype=np.uint8)  # starts transparent
    for frame in gif.frames:
        table = frame.table if frame.table is not None else gif.table
        lut = np.zeros((256, 4), dtype=np.uint8)
        rgb = np.frombuffer(table, dtype=np.uint8).reshape(-1, 3)[:256]
        lut[:len(rgb), :3] = rgb
        lut[:, 3] = 255
        idx = _frame_indices(frame, gif.table)
        # the frame rectangle clipped to the canvas
        x0, y0 = min(frame.x, gif.width), min(frame.y, gif.height)
        x1, y1 = min(frame.x + idx.shape[1], gif.width), min(frame.y + idx.shape[0], gif.height)
        idx = idx[:y1 - y0, :x1 - x0]
        saved = canvas[y0:y1, x0:x1].copy() if frame.disposal == 3 else None
        pixels = lut[idx]                                  # [h,w,4]
        if frame.transparency is not None:
            opaque = idx != frame.transparency
            region = canvas[y0:y1, x0:x1]
            region[opaque] = pixels[opaque]
        else:
            canvas[y0:y1, x0:x1] = pixels
        yield canvas.copy(), frame.delay_cs
        if frame.disposal == 2:
            canvas[y0:y1, x0:x1] = 0
        elif frame.disposal == 3:
            canvas[y0:y1, x0:x1] = saved


# --- writing -----------------------------------------------------------------------------------------
def _encoded_block(p_image, transparency: int | None = None):
    """Encode a P image with Pillow; return (colour table, table size bits, LZW data, transparent
    index as Pillow wrote it, which may differ from ``transparency`` if it reordered the palette)."""
    buf = io.BytesIO()
    params = {"optimize": False, "interlace": False}
    if transparency is not None:
        params["transparency"] = transparency
    p_image.save(buf, format="GIF", **params)
    parsed = parse_gif(buf.getvalue())
    frame = parsed.frames[0]
    table = frame.table if frame.table is not None else parsed.table
    bits = (len(table) // 3).bit_length() - 2
    return table, bits, frame.data, frame.transparency


class GifWriter:
    """Write a GIF89a to an open binary file frame by frame: ``add(p_image, delay_cs)`` for each
    frame (its own colour table, Graphics Control Extension with delay in 1/100 s, disposal 0-3,
    transparent index, and offset on a canvas of ``size`` (w, h)), then ``close()`` for the
    trailer. No frame is merged or dropped, and only one frame is in memory at a time."""

    def __init__(self, fh, size, loop: int = 0):
        w, h = size
        self.fh, self.count = fh, 0
        fh.write(b"GIF89a" + struct.pack("<HHBBB", w, h, 0x70, 0, 0))
        fh.write(b"\x21\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", loop) + b"\x00")

    def __len__(self) -> int:
        return self.count

    def add(self, im, delay_cs: int, offset=(0, 0), disposal: int = 1, transparency: int | None = None) -> None:
        table, bits, data, tr = _encoded_block(im, transparency)
        flags = (int(disposal) & 7) << 2 | (1 if tr is not None else 0)
        delay = int(delay_cs)
        if not 0 <= delay <= 0xFFFF:
            raise ValueError(f"GIF delay {delay} cs out of range")
        x, y = offset
        out = b"\x21\xf9\x04" + struct.pack("<BHB", flags, delay, tr or 0) + b"\x00"
        out += b"\x2c" + struct.pack("<HHHHB", x, y, im.size[0], im.size[1], 0x80 | bits)
        self.fh.write(out + table + data)
        self.count += 1

    def close(self) -> None:
        self.fh.write(b"\x3b")


def gif_container(images, delays_cs, size, offsets=None, disposals=None, transparency=None, loop: int = 0) -> bytes:
    """Assemble a GIF89a in memory from P-mode Pillow images, one frame per image (``GifWriter``):
    per-frame delays in 1/100 s, optional offsets, disposals (default 1) and transparent indices."""
    buf = io.BytesIO()
    gif = GifWriter(buf, size, loop)
    for i, im in enumerate(images):
        gif.add(im, delays_cs[i], offset=(0, 0) if offsets is None else offsets[i],
                disposal=1 if disposals is None else int(disposals[i]),
                transparency=None if transparency is None else transparency[i])
    gif.close()
    return buf.getvalue()
