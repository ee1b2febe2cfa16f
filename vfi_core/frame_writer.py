"""Writing clips with their timing: GIF, MP4/MOV/MKV (H.264), animated WebP, APNG, PNG folders.

Pillow's animated writers (GIF, APNG, WebP via libwebp's WebPAnimEncoder) merge identical
consecutive frames into one longer frame. An interpolated clip legitimately contains repeats
(a held frame, a static shot), and the frame count is part of the result, so here Pillow only
encodes each frame as a still image and the animation container (GIF blocks in ``gif_format``,
APNG fcTL/fdAT and WebP ANMF chunks here) is assembled by FrameWeave: one output frame per input
frame, always (APNG: W3C/Mozilla APNG spec; WebP: Google's RIFF container spec, "Animation").

Delays are quantised per format (GIF 10 ms, APNG/WebP 1 ms) by rounding the *cumulative* times,
so rounding errors never accumulate: frame i starts at ``round(t_i / unit)`` units.
Every file is written to ``name.part`` and renamed when complete; on error the part is removed.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import struct
import zlib
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from .frame_reader import TIMING_SIDECAR
from .gif_format import GifWriter
from .timing import FrameTiming
from .validate import check_frames

log = logging.getLogger("frameweave")

DEFAULT_WRITE_FPS = 12.0
GIF_MIN_DELAY_CS = 2  # browsers show 0 and 10 ms GIF delays as 100 ms
VIDEO_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
WRITE_EXTS = {".gif", ".webp", ".png", ".apng", *VIDEO_FORMATS}


# --- timing -----------------------------------------------------------------------------------------
def resolve_timing(count: int, timing: FrameTiming | None = None, fps: float | None = None) -> FrameTiming:
    """The timing a writer uses: ``fps`` (constant rate) when given, else ``timing``, else 12 fps.
    A ``timing`` whose length differs from the frame count is an error."""
    if timing is not None and len(timing) != count:
        raise ValueError(f"timing has {len(timing)} timestamps but there are {count} frames; "
                         "pass the FRAME_TIMING that belongs to these frames (or none)")
    if fps is not None:
        try:
            rate = float(fps)
        except (TypeError, ValueError):
            rate = float("nan")
        if isinstance(fps, bool) or not (np.isfinite(rate) and rate > 0):
            raise ValueError(f"fps must be a positive number, got {fps!r}")
        return FrameTiming.from_fps(count, rate)
    if timing is not None:
        return timing
    return FrameTiming.from_fps(count, DEFAULT_WRITE_FPS)


def quantise_durations(timing: FrameTiming, unit_s: float, min_units: int = 1) -> list:
    """Per-frame delays in whole ``unit_s`` units whose running sums track the true cumulative
    times: delay_i = round((t_{i+1} - t_0)/u) - (units used so far), at least ``min_units``."""
    edges = np.asarray(timing.timestamps + (timing.end,), dtype=np.float64) - timing.timestamps[0]
    targets = np.rint(edges / unit_s).astype(np.int64)  # [T+1]
    out, used = [], 0
    for i in range(len(timing)):
        d = max(int(targets[i + 1] - used), min_units)
        out.append(d)
        used += d
    return out


# --- frames in --------------------------------------------------------------------------------------
class FrameSource:
    """The frames a writer encodes: an IMAGE batch [T,H,W,3], or an iterable of tensors [H,W,3] /
    [b,H,W,3] (a stream: produced while the file is written, so the whole clip is never held).

    A stream's frame count comes from its timing; every batch is checked as it arrives (range,
    NaN, size), and a stream that ends early or runs long raises ValueError (the ``.part`` file
    is then removed)."""

    def __init__(self, frames, count: int | None = None):
        if isinstance(frames, np.ndarray):
            frames = torch.from_numpy(frames.astype(np.float32) / 255.0 if frames.dtype == np.uint8 else frames)
        if isinstance(frames, torch.Tensor):
            self.tensor = check_frames(frames)
            self.count, self.height, self.width = (int(s) for s in self.tensor.shape[:3])
            self._batches = None
            return
        if count is None:
            raise ValueError("writing a stream of frames needs its timing (one timestamp per frame)")
        self.tensor, self.count = None, int(count)
        self._batches = iter(frames)
        try:
            first = next(self._batches)
        except StopIteration:
            raise ValueError("frames: the stream of frames is empty") from None
        first = self._batch(first)
        self.height, self.width = int(first.shape[1]), int(first.shape[2])
        self._first = first

    @staticmethod
    def _batch(x) -> torch.Tensor:
        if isinstance(x, np.ndarray):
            x = torch.from_numpy(x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x)
        if isinstance(x, torch.Tensor) and x.ndim == 3:
            x = x.unsqueeze(0)                                              # [H,W,3] -> [1,H,W,3]
        return check_frames(x)

    def __iter__(self):
        """float32 [H,W,3] frames on the CPU, one at a time."""
        if self.tensor is not None:
            yield from self.tensor
            return
        seen, batch = 0, self._first
        self._first = None
        while batch is not None:
            if tuple(batch.shape[1:3]) != (self.height, self.width):
                raise ValueError(f"frames: frame {seen} is {batch.shape[2]}x{batch.shape[1]}, the stream "
                                 f"started at {self.width}x{self.height} (width x height)")
            for frame in batch:
                if seen >= self.count:
                    raise ValueError(f"frames: the stream holds more frames than its timing ({self.count})")
                seen += 1
                yield frame
            batch = next(self._batches, None)
            batch = None if batch is None else self._batch(batch)
        if seen != self.count:
            raise ValueError(f"frames: the stream ended after {seen} frame(s); its timing has {self.count}")


def _uint8_frames(frames):
    """Frames (an IMAGE batch or a ``FrameSource``) -> one uint8 [H,W,3] numpy array at a time
    (values clamped to 0..1)."""
    for frame in frames:
        x = frame.detach().to("cpu", torch.float32).numpy()           # a view when already on the CPU
        y = np.multiply(x, np.float32(255.0))                          # [H,W,3] float32, x untouched
        np.clip(y, 0.0, 255.0, out=y)
        yield np.rint(y, out=y).astype(np.uint8)                       # round half to even


# --- GIF -------------------------------------------------------------------------------------------
PALETTE_SAMPLE = 256  # median cut runs on at most 256x256 pixels (its cost grows fast with size)
GIF_TIMINGS = ("stretch", "keep_duration")
GIF_WAYS_OUT = "save as webp, apng or mp4 to keep every frame at its time"


def _quantise(rgb: np.ndarray):
    """uint8 [H,W,3] -> Pillow P image with an adaptive 256-colour palette: median cut (Heckbert
    1982) on the frame, or on a nearest-neighbour thumbnail of a large frame, then every pixel
    mapped to its nearest palette colour, no dithering (1080p: ~0.3 s instead of ~4 s a frame)."""
    from PIL import Image

    im = Image.fromarray(rgb)
    if rgb.shape[0] * rgb.shape[1] <= PALETTE_SAMPLE * PALETTE_SAMPLE:
        return im.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    sample = im.copy()
    sample.thumbnail((PALETTE_SAMPLE, PALETTE_SAMPLE), Image.Resampling.NEAREST)
    palette = sample.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    return im.quantize(palette=palette, dither=Image.Dither.NONE)


@dataclass
class GifPlan:
    """What a GIF can hold of a timing: the frames written (indices into the clip) with their
    delays in 1/100 s, and, when that differs from the timing, a sentence saying how."""

    indices: list
    delays_cs: list
    note: str = ""

    @property
    def seconds(self) -> float:
        return sum(self.delays_cs) / 100


def gif_plan(timing: FrameTiming, gif_timing: str = "stretch") -> GifPlan:
    """Delays for a GIF of ``timing``. GIF delays are whole 1/100 s, and browsers show delays under
    20 ms as 100 ms, so every frame gets at least 2 cs; frame starts are rounded on the cumulative
    time (``quantise_durations``) so errors never add up. When the frames are too many for the
    clip's duration at 20 ms each:

    - ``stretch``: every frame is kept at 20 ms: the clip plays longer (slower);
    - ``keep_duration``: the duration is cut into the most 20 ms slots it holds (K = ⌊duration /
      20 ms⌋; slot edges rounded to 10 ms), each slot shows the frame the clip shows at the slot's
      middle, and consecutive slots showing the same frame are one frame: fewer frames, chosen
      evenly in time, same duration. No two different frames are merged.
    """
    if gif_timing not in GIF_TIMINGS:
        raise ValueError(f"gif_timing must be one of {', '.join(GIF_TIMINGS)}, got {gif_timing!r}")
    n = len(timing)
    total_true = timing.end - timing.timestamps[0]
    delays = quantise_durations(timing, 0.01, GIF_MIN_DELAY_CS)
    written = sum(delays) / 100
    if written <= total_true + 0.01:
        exact = quantise_durations(timing, 0.01, 1)           # the delays without the 20 ms floor
        moved = sum(a != b for a, b in zip(exact, delays))
        note = "" if not moved else (
            f"GIF delays under 20 ms play as 100 ms in browsers, so {moved} of {n} frames got 20 ms and their "
            f"neighbours less: the total {total_true:.2f} s is kept, the per-frame timing is evened out; "
            f"{GIF_WAYS_OUT}")
        return GifPlan(list(range(n)), delays, note)
    if gif_timing == "stretch":
        return GifPlan(list(range(n)), delays, (
            f"GIF shows at most 50 frames/s (delays under 20 ms play as 100 ms in browsers): {n} frames over "
            f"{total_true:.2f} s are written as {written:.2f} s, {written / total_true:.2f}x slower; "
            f"gif_timing=keep_duration keeps {total_true:.2f} s with fewer frames, or {GIF_WAYS_OUT}"))
    total_cs = max(int(round(total_true * 100)), GIF_MIN_DELAY_CS)
    slots = max(total_cs // GIF_MIN_DELAY_CS, 1)
    edges = [int(round(k * total_cs / slots)) for k in range(slots + 1)]      # cs, each slot 2-3 cs
    starts = np.asarray(timing.timestamps, dtype=np.float64) - timing.timestamps[0]
    indices, out = [], []
    for k in range(slots):
        middle = 0.005 * (edges[k] + edges[k + 1])                              # seconds
        i = int(np.searchsorted(starts, middle, side="right") - 1)
        if indices and indices[-1] == i:
            out[-1] += edges[k + 1] - edges[k]
        else:
            indices.append(max(i, 0))
            out.append(edges[k + 1] - edges[k])
    return GifPlan(indices, out, (
        f"GIF shows at most 50 frames/s (delays under 20 ms play as 100 ms in browsers): to keep "
        f"{total_true:.2f} s, {len(indices)} of {n} frames were written, chosen evenly in time "
        f"(gif_timing=keep_duration); gif_timing=stretch keeps every frame and plays "
        f"{written:.2f} s, or {GIF_WAYS_OUT}"))


def _write_gif(part: Path, frames, timing: FrameTiming, size, gif_timing: str = "stretch") -> GifPlan:
    plan = gif_plan(timing, gif_timing)
    if plan.note:
        log.warning("%s", plan.note)
    keep = iter(plan.indices)
    wanted = next(keep, None)
    with open(part, "wb") as fh:
        gif = GifWriter(fh, size)
        for i, rgb in enumerate(_uint8_frames(frames)):
            if i == wanted:
                gif.add(_quantise(rgb), plan.delays_cs[len(gif)])
                wanted = next(keep, None)
        gif.close()
    return plan


# --- APNG ------------------------------------------------------------------------------------------
def _png_chunks(data: bytes):
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        ctype = data[pos + 4:pos + 8]
        yield ctype, data[pos + 8:pos + 8 + length]
        pos += 12 + length


def _png_chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body) & 0xFFFFFFFF)


def _write_apng(part: Path, frames: "FrameSource", timing: FrameTiming) -> None:
    from PIL import Image

    delays = quantise_durations(timing, 0.001, 1)  # ms
    h, w = frames.height, frames.width
    seq = 0
    with open(part, "wb") as fh:
        for i, rgb in enumerate(_uint8_frames(frames)):
            buf = io.BytesIO()
            Image.fromarray(rgb).save(buf, format="PNG", compress_level=6)
            chunks = list(_png_chunks(buf.getvalue()))
            idats = [body for ctype, body in chunks if ctype == b"IDAT"]
            if i == 0:
                ihdr = next(body for ctype, body in chunks if ctype == b"IHDR")
                fh.write(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr))
                fh.write(_png_chunk(b"acTL", struct.pack(">II", frames.count, 0)))
            num, den = (delays[i], 1000) if delays[i] <= 0xFFFF else (min(round(delays[i] / 10), 0xFFFF), 100)
            # fcTL: sequence, w, h, x, y, delay num/den, dispose_op NONE, blend_op SOURCE
            fh.write(_png_chunk(b"fcTL", struct.pack(">IIIIIHHBB", seq, w, h, 0, 0, num, den, 0, 0)))
            seq += 1
            for body in idats:
                if i == 0:
                    fh.write(_png_chunk(b"IDAT", body))
                else:
                    fh.write(_png_chunk(b"fdAT", struct.pack(">I", seq) + body))
                    seq += 1
        fh.write(_png_chunk(b"IEND", b""))


# --- WebP ------------------------------------------------------------------------------------------
def _riff_chunk(fourcc: bytes, body: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) % 2 else b"")


def _webp_frame_chunks(rgb: np.ndarray, quality: int) -> bytes:
    """Encode one still WebP with Pillow; return its ALPH/VP8/VP8L chunks (what an ANMF holds)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="WEBP", quality=quality, method=4)
    b = buf.getvalue()
    out, pos = bytearray(), 12
    while pos + 8 <= len(b):
        fourcc = b[pos:pos + 4]
        (size,) = struct.unpack("<I", b[pos + 4:pos + 8])
        body = b[pos + 8:pos + 8 + size]
        if fourcc in (b"ALPH", b"VP8 ", b"VP8L"):
            out += _riff_chunk(fourcc, body)
        pos += 8 + size + (size & 1)
    return bytes(out)


def _write_webp(part: Path, frames: "FrameSource", timing: FrameTiming, quality: int = 92) -> None:
    """Frames are appended to the file as they come; the RIFF size is filled in at the end."""
    delays = quantise_durations(timing, 0.001, 1)  # ms
    h, w = frames.height, frames.width
    with open(part, "wb") as fh:
        fh.write(b"RIFF\0\0\0\0WEBP")
        # VP8X: flags (animation), reserved, canvas width-1, height-1 (24-bit each)
        fh.write(_riff_chunk(b"VP8X", bytes([0x02, 0, 0, 0]) + (w - 1).to_bytes(3, "little")
                             + (h - 1).to_bytes(3, "little")))
        fh.write(_riff_chunk(b"ANIM", bytes([0, 0, 0, 0]) + struct.pack("<H", 0)))  # background, loop forever
        for i, rgb in enumerate(_uint8_frames(frames)):
            d = min(delays[i], 0xFFFFFF)
            # ANMF: x/2, y/2, w-1, h-1, duration (24-bit each), flags: do not blend, no disposal
            head = (0).to_bytes(3, "little") * 2 + (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little")
            head += d.to_bytes(3, "little") + bytes([0x02])
            fh.write(_riff_chunk(b"ANMF", head + _webp_frame_chunks(rgb, quality)))
        size = fh.tell() - 8
        fh.seek(4)
        fh.write(struct.pack("<I", size))


# --- H.264 video -------------------------------------------------------------------------------------
def _is_constant_rate(timing: FrameTiming, tol: float = 1e-3) -> bool:
    d = timing.durations()
    return bool(np.all(np.abs(d - d.mean()) <= tol * d.mean()))


def even_size(width: int, height: int) -> tuple:
    """(width, height) an H.264 yuv420p file holds for frames of this size: odd sides + 1."""
    return width + width % 2, height + height % 2


def _write_video(part: Path, frames: "FrameSource", timing: FrameTiming, container_format: str,
                 crf: int = 17, preset: str = "medium") -> str:
    """H.264 yuv420p, BT.709 (tagged). Odd sizes are padded to even by repeating the last row/column
    (the note returned says so). A constant rate uses time base 1/fps; variable timing keeps every
    frame's timestamp (1/90000 s units)."""
    import av

    t, h, w = frames.count, frames.height, frames.width
    pw, ph = even_size(w, h)
    note = ""
    if (ph, pw) != (h, w):
        note = (f"H.264 (yuv420p) needs even sizes: the {w}x{h} frames are written as {pw}x{ph}, "
                f"the last {'row' if ph != h else 'column'}{'s' if ph != h and pw != w else ''} repeated; "
                "webp, apng and gif keep the size")
        log.warning("%s", note)
    constant = _is_constant_rate(timing)
    fps = Fraction(timing.fps()).limit_denominator(1001)
    time_base = Fraction(1, 1) / fps if constant else Fraction(1, 90000)
    t0 = timing.timestamps[0]
    # pts -> display duration, so the container keeps every frame's length (the last one too)
    edges = [int(round((x - t0) / time_base)) for x in timing.timestamps + (timing.end,)] if not constant \
        else list(range(t + 1))
    durations = {edges[i]: edges[i + 1] - edges[i] for i in range(t)}
    with av.open(str(part), mode="w", format=container_format) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = pw, ph
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = time_base
        # BT.709 matrix, limited range, and tagged so: what players assume for HD, stated explicitly
        cc = stream.codec_context
        cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range = 1, 1, 1, 1
        # variable timing: no B-frames, so decode order = display order and MP4's per-sample
        # durations (decode-time deltas) are the display durations, the last frame's included
        stream.options = {"crf": str(crf), "preset": preset, **({} if constant else {"bf": "0"})}
        for i, rgb in enumerate(_uint8_frames(frames)):
            if (ph, pw) != (h, w):
                rgb = np.pad(rgb, ((0, ph - h), (0, pw - w), (0, 0)), mode="edge")
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
                format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG")
            frame.pts = edges[i]
            frame.time_base = time_base
            for packet in stream.encode(frame):
                _mux(container, packet, durations)
        for packet in stream.encode():
            _mux(container, packet, durations)
    return note


def _mux(container, packet, durations: dict) -> None:
    if packet.pts is not None and packet.pts in durations:
        packet.duration = durations[packet.pts]
    container.mux(packet)


# --- PNG folder ------------------------------------------------------------------------------------
def _write_folder(part: Path, frames: "FrameSource", timing: FrameTiming) -> None:
    from PIL import Image

    part.mkdir(parents=True)
    digits = max(5, len(str(frames.count - 1)))
    for i, rgb in enumerate(_uint8_frames(frames)):
        Image.fromarray(rgb).save(part / f"frame_{i:0{digits}d}.png", compress_level=6)
    (part / TIMING_SIDECAR).write_text(json.dumps({"timestamps": list(timing.timestamps), "end": timing.end}))


# --- entry point ------------------------------------------------------------------------------------
def _is_folder_target(path) -> bool:
    s = str(path)
    return s.endswith(("/", os.sep)) or Path(s).is_dir() or Path(s).suffix == ""


@contextlib.contextmanager
def atomic_output(final: Path, folder: bool = False):
    """Yield ``final.part``; rename it to ``final`` on success, remove it on any error."""
    part = final.with_name(final.name + ".part")
    if part.is_dir():
        shutil.rmtree(part)
    elif part.exists():
        part.unlink()
    try:
        yield part
        if folder and final.is_dir():
            final.rmdir()  # empty (checked before writing)
        os.replace(part, final)
    except BaseException:
        if part.is_dir():
            shutil.rmtree(part, ignore_errors=True)
        elif part.exists():
            part.unlink()
        raise


@dataclass
class WrittenClip:
    """What ``write_clip`` put in the file: its path, the frames it holds, how long it plays, its
    size, and the notes on what the format changed (GIF timing, H.264 padding)."""

    path: Path
    frames: int
    seconds: float
    width: int
    height: int
    notes: list = field(default_factory=list)


def write_clip(path, frames, timing: FrameTiming | None = None, fps: float | None = None, *,
               gif_timing: str = "stretch") -> WrittenClip:
    """Write frames to ``path``; the format comes from the extension: ``.gif``, ``.mp4``/``.mov``/
    ``.mkv`` (H.264), ``.webp``, ``.png``/``.apng`` (animated PNG; one frame gives a plain PNG), or
    a folder (no extension or trailing slash) of numbered PNGs plus ``frameweave_timing.json``.

    frames: an IMAGE batch [T,H,W,3] (0..1), or an iterable of [H,W,3] / [b,H,W,3] tensors that is
        consumed while writing (a stream: the clip is never held whole; ``timing`` or ``fps`` with
        the stream's length in ``timing`` is then needed, see ``FrameSource``).
    timing: ``fps`` if given, else ``timing``, else 12 fps.
    gif_timing: what a GIF does with frames shorter than 20 ms (``gif_plan``): "stretch" or
        "keep_duration".
    Returns a ``WrittenClip`` describing the file as written."""
    if gif_timing not in GIF_TIMINGS:
        raise ValueError(f"gif_timing must be one of {', '.join(GIF_TIMINGS)}, got {gif_timing!r}")
    is_stream = not isinstance(frames, (torch.Tensor, np.ndarray))
    if is_stream and timing is None:
        raise ValueError("writing a stream of frames needs its timing (one timestamp per frame)")
    source = FrameSource(frames, count=len(timing) if is_stream else None)
    timing = resolve_timing(source.count, timing, fps)
    folder = _is_folder_target(path)
    final = Path(str(path).rstrip("/" + os.sep)).expanduser()
    ext = final.suffix.lower()
    if not folder and ext not in WRITE_EXTS:
        raise ValueError(f"{final}: cannot write {ext!r} files; use one of {', '.join(sorted(WRITE_EXTS))} "
                         "or a folder path for numbered PNGs")
    if folder and final.exists() and (not final.is_dir() or any(final.iterdir())):
        raise ValueError(f"{final}: already exists and is not an empty folder; choose a new folder name")
    if not final.parent.exists():
        raise FileNotFoundError(f"{final.parent}: output folder does not exist")
    result = WrittenClip(final, source.count, timing.end - timing.timestamps[0], source.width, source.height)
    with atomic_output(final, folder=folder) as part:
        if folder:
            _write_folder(part, source, timing)
        elif ext == ".gif":
            plan = _write_gif(part, source, timing, (source.width, source.height), gif_timing)
            result.frames, result.seconds = len(plan.indices), plan.seconds
            result.notes += [plan.note] if plan.note else []
        elif ext in (".png", ".apng"):
            if source.count == 1:
                from PIL import Image
                Image.fromarray(next(_uint8_frames(source))).save(part, format="PNG")
            else:
                _write_apng(part, source, timing)
        elif ext == ".webp":
            _write_webp(part, source, timing)
        else:
            note = _write_video(part, source, timing, VIDEO_FORMATS[ext])
            result.width, result.height = even_size(source.width, source.height)
            result.notes += [note] if note else []
    return result


def write_frames(path, frames, timing: FrameTiming | None = None, fps: float | None = None, *,
                 gif_timing: str = "stretch") -> Path:
    """``write_clip`` returning only the path written (see there for the formats and arguments)."""
    return write_clip(path, frames, timing, fps, gif_timing=gif_timing).path
