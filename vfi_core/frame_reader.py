"""Reading clips with per-frame timing: GIF, APNG, animated WebP, videos (PyAV), image folders.

Every source is a lazy sequence of ``(index, timestamp_seconds, decode)``: the container is walked
frame by frame, and only the frames chosen by ``start/stop/step/max_frames`` are converted to
RGB, so a long 1080p video never sits whole in memory when read through ``iter_frames``.

Timing conventions (the FRAME_TIMING type, ``vfi_core.timing.FrameTiming``):
- GIF/APNG/WebP: frame i starts at the sum of the delays of frames 0..i-1 (GIF delays of 0 or
  10 ms are shown as 100 ms by browsers, and read as 100 ms here, with a note).
- video: ``pts * time_base`` of every decoded frame, shifted so the first frame of the stream is 0.
- image folder / still image: ``i / fps`` (``fps`` argument, default 25), or the timestamps in a
  ``frameweave_timing.json`` that ``write_frames`` leaves beside numbered PNGs.
- a selection covers ``[t(first kept), t(last kept + step))``: its ``end`` is the start of the
  frame that would be kept next, or the clip's end; consecutive chunks tile the timeline.
"""
from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from .timing import FrameTiming

DEFAULT_FPS = 25.0
VIDEO_EXTS = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ogv", ".ts"}  # decoded by PyAV
ANIMATED_EXTS = {".gif", ".png", ".apng", ".webp"}
STILL_EXTS = {".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
FOLDER_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
TIMING_SIDECAR = "frameweave_timing.json"
GIF_MIN_DELAY_S = 0.02  # browsers show GIF delays below 20 ms as 100 ms


@dataclass
class LoadedClip:
    """A decoded clip: ``frames`` float32 [T,H,W,3] in 0..1, ``timing`` of exactly those frames,
    ``notes`` about conversions made (human-readable), ``indices`` of the frames in the source."""
    frames: torch.Tensor
    timing: FrameTiming
    notes: list = field(default_factory=list)
    indices: tuple = ()


@dataclass
class _Frame:
    index: int
    timestamp: float
    decode: Callable[[], np.ndarray]  # -> uint8 [H,W,3]; valid until the source advances


class _Notes:
    """Ordered set of notes (a conversion applied to 300 frames is said once, with a count)."""

    def __init__(self):
        self._counts: dict[str, int] = {}

    def add(self, text: str) -> None:
        self._counts[text] = self._counts.get(text, 0) + 1

    def extend(self, texts) -> None:
        for t in texts:
            self.add(t)

    def as_list(self, total: int | None = None) -> list:
        out = []
        for text, n in self._counts.items():
            out.append(text if n == 1 or n == total else f"{text} ({n} frames)")
        return out


# --- pixel conversion ------------------------------------------------------------------------------
def _pil_to_rgb(im, notes: _Notes) -> np.ndarray:
    """Any Pillow image -> uint8 [H,W,3]; transparency composited over black, gray expanded."""
    mode = im.mode
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im).astype(np.float64)
        scale = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        gray = np.clip(np.rint(arr / scale * 255.0), 0, 255).astype(np.uint8)
        notes.add(f"{mode} (16-bit) grayscale reduced to 8 bits and expanded to RGB")
        return np.repeat(gray[..., None], 3, axis=-1)
    if mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        gray = np.clip(np.rint(arr * (255.0 if arr.max() <= 1 else 1.0)), 0, 255).astype(np.uint8)
        notes.add("float grayscale converted to 8 bits and expanded to RGB")
        return np.repeat(gray[..., None], 3, axis=-1)
    if mode in ("1", "L"):
        notes.add("grayscale expanded to RGB")
        return np.repeat(np.asarray(im.convert("L"))[..., None], 3, axis=-1)  # a fresh array
    if mode in ("LA", "La", "PA", "RGBa"):
        im = im.convert("RGBA")
        mode = "RGBA"
    if mode == "RGBA":
        return _rgba_over_black(np.asarray(im), notes)
    if mode != "RGB":
        notes.add(f"converted {mode} to RGB")
        im = im.convert("RGB")
    return np.array(im)  # writable copy (torch.from_numpy needs one)


def _rgba_over_black(rgba: np.ndarray, notes: _Notes) -> np.ndarray:
    """uint8 [H,W,4] -> [H,W,3]: rgb * alpha (over black), said in a note when any alpha < 255."""
    alpha = rgba[..., 3:4]
    if alpha.min() < 255:
        notes.add("converted RGBA to RGB by compositing transparent pixels over black")
        return ((rgba[..., :3].astype(np.uint16) * alpha + 127) // 255).astype(np.uint8)
    return np.array(rgba[..., :3])


def _upright(im, notes: _Notes):
    """Apply the EXIF orientation tag (phone photos), saying so when it rotates."""
    from PIL import ImageOps

    orientation = im.getexif().get(0x0112, 1) if hasattr(im, "getexif") else 1
    if orientation in (None, 1):
        return im
    notes.add(f"rotated/flipped by the EXIF orientation tag ({orientation})")
    return ImageOps.exif_transpose(im)


def _decode_error(path: Path, exc: Exception, what: str = "image") -> ValueError:
    return ValueError(f"{path}: could not decode {what}: the file is corrupt, truncated or not a "
                      f"supported format ({type(exc).__name__}: {exc})")


# --- sources ---------------------------------------------------------------------------------------
class _Source:
    """A clip on disk walked lazily. ``frames()`` yields ``_Frame``s in order; after it is
    exhausted, ``end`` holds the time the last frame stops showing."""
    kind = "?"

    def __init__(self, path: Path):
        self.path = path
        self.notes = _Notes()
        self.end: float | None = None

    def frames(self) -> Iterator[_Frame]:
        raise NotImplementedError


class _GifSource(_Source):
    """GIF: blocks parsed and frames composited by ``gif_format`` (disposal 0-3, transparency)."""
    kind = "gif"

    def frames(self) -> Iterator[_Frame]:
        from .gif_format import GifError, composite_frames, parse_gif

        try:
            gif = parse_gif(self.path.read_bytes())
        except GifError as exc:
            raise ValueError(f"{self.path}: {exc}") from exc
        if not gif.has_trailer:
            self.notes.add("GIF has no trailer byte: the file may be truncated")
        t = 0.0
        frames = composite_frames(gif)
        for i in range(len(gif.frames)):
            try:
                rgba, delay_cs = next(frames)
            except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
                raise _decode_error(self.path, exc, f"GIF frame {i}") from exc
            delay = delay_cs / 100.0
            if delay < GIF_MIN_DELAY_S:
                self.notes.add(f"GIF delay of {delay_cs * 10} ms read as 100 ms, as browsers show it")
                delay = 0.1
            yield _Frame(i, t, lambda rgba=rgba: _rgba_over_black(rgba, self.notes))
            t += delay
        self.end = t

    def delays(self) -> tuple:
        """(per-frame delays in seconds as browsers show them, parsed GifFile) without decoding pixels."""
        from .gif_format import GifError, parse_gif

        try:
            gif = parse_gif(self.path.read_bytes())
        except GifError as exc:
            raise ValueError(f"{self.path}: {exc}") from exc
        return [f.delay_cs / 100.0 if f.delay_cs / 100.0 >= GIF_MIN_DELAY_S else 0.1 for f in gif.frames], gif


class _PillowSource(_Source):
    """APNG, animated WebP and still images, decoded and composited by Pillow (APNG
    dispose/blend ops, WebP frame blending). GIF has its own compositor (``_GifSource``)."""

    def __init__(self, path: Path, fps: float | None):
        super().__init__(path)
        self.fps = fps

    def _open(self):
        from PIL import Image, UnidentifiedImageError

        try:
            im = Image.open(self.path)
            im.size  # noqa: B018  (header parsed)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
            raise _decode_error(self.path, exc) from exc
        return im

    def _frame_count(self, im) -> int:
        try:
            return int(getattr(im, "n_frames", 1))
        except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
            raise _decode_error(self.path, exc) from exc

    def frames(self) -> Iterator[_Frame]:
        im = self._open()
        try:
            fmt = (im.format or "").upper()
            self.kind = fmt.lower() or "image"
            n = self._frame_count(im)
            first = 0
            if fmt == "PNG" and n > 1 and im.info.get("default_image"):
                first = 1  # APNG whose IDAT image is not part of the animation
                self.notes.add("skipped the APNG default image (not part of the animation)")
            if n - first <= 1:
                yield from self._still(im, first)
                return
            t = 0.0
            for i in range(first, n):
                try:
                    im.seek(i)
                    im.load()  # WebP sets the frame's duration on load
                except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
                    raise _decode_error(self.path, exc, f"frame {i - first}") from exc
                ms = im.info.get("duration")
                delay = float(ms) / 1000.0 if ms else 0.0
                if delay <= 0:
                    delay = 1.0 / (self.fps or DEFAULT_FPS)
                    self.notes.add(f"frame without a duration given 1/{self.fps or DEFAULT_FPS:g} s")
                yield _Frame(i - first, t, lambda im=im: _pil_to_rgb(im, self.notes))
                t += delay
            self.end = t
        finally:
            im.close()

    def _still(self, im, first: int) -> Iterator[_Frame]:
        self.kind = "image"
        fps = self.fps or DEFAULT_FPS

        def decode():
            try:
                if first:
                    im.seek(first)
                im.load()
                img = _upright(im, self.notes) if not first else im
            except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
                raise _decode_error(self.path, exc) from exc
            return _pil_to_rgb(img, self.notes)

        self.notes.add(f"single image: one frame lasting 1/{fps:g} s")
        yield _Frame(0, 0.0, decode)
        self.end = 1.0 / fps


class _VideoSource(_Source):
    """MP4/MOV/MKV/WebM/AVI via PyAV; timestamps from ``pts * time_base``.

    With ``start_hint`` > 0 the first ``start + 64`` packets are demuxed (no decoding) to learn the
    presentation timestamps of frames 0..start, and the decoder seeks to the keyframe before frame
    ``start`` instead of decoding everything before it; indices and timestamps stay those of a
    read from the beginning."""
    kind = "video"
    start_hint = 0

    def _open(self):
        import av

        try:
            container = av.open(str(self.path))
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise _decode_error(self.path, exc, "video") from exc
        if not container.streams.video:
            container.close()
            raise ValueError(f"{self.path}: the file has no video stream")
        return container, container.streams.video[0]

    def _upright_rgb(self, frame) -> np.ndarray:
        """uint8 [H,W,3], turned as the display matrix says (phone videos shot upright)."""
        arr = frame.to_ndarray(format="rgb24")
        turns = int(round((getattr(frame, "rotation", 0) or 0) / 90)) % 4
        if turns:  # rotation = degrees counterclockwise (av_display_rotation_get)
            self.notes.add(f"turned {turns * 90} degrees counterclockwise by the video's display matrix")
            arr = np.ascontiguousarray(np.rot90(arr, k=turns))
        return arr

    def _seek_plan(self, start: int):
        """(pts of frame 0, {pts: index}) for the first frames, or None when seeking is not safe."""
        import av

        container, stream = self._open()
        try:
            pts = []
            for packet in container.demux(stream):
                if packet.pts is None:
                    if packet.size:
                        return None  # no timestamps: decode from the start
                    continue
                if not getattr(packet, "is_discard", False):
                    pts.append(packet.pts)
                if len(pts) >= start + 64:  # B-frame reordering is far shallower than 64
                    break
        except av.error.FFmpegError:
            return None
        finally:
            container.close()
        pts.sort()
        if len(pts) <= start or len(set(pts)) != len(pts):
            return None
        return pts[0], {p: i for i, p in enumerate(pts[:start + 1])}

    def frames(self) -> Iterator[_Frame]:
        import av

        plan = self._seek_plan(self.start_hint) if self.start_hint > 0 else None
        container, stream = self._open()
        try:
            stream.thread_type = "AUTO"
            rate = stream.average_rate or stream.guessed_rate
            nominal = 1.0 / float(rate) if rate else 1.0 / DEFAULT_FPS
            t0 = prev = last_dur = None
            i = -1
            if plan is not None:
                first_pts, index_of = plan
                t0 = float(first_pts * stream.time_base)
                target = max(p for p, k in index_of.items() if k <= self.start_hint)
                container.seek(target, stream=stream, backward=True, any_frame=False)
            try:
                for frame in container.decode(stream):
                    if plan is not None and i < 0:
                        if frame.pts not in index_of:  # the seek landed somewhere unexpected
                            self.start_hint, plan = 0, None
                            yield from self.frames()
                            return
                        i = index_of[frame.pts] - 1
                    i += 1
                    ts = frame.time
                    if ts is None:
                        ts = (prev + nominal) if prev is not None else 0.0
                        self.notes.add("frame without a timestamp placed 1/fps after the previous one")
                    if t0 is None:
                        t0 = ts
                    ts -= t0
                    if prev is not None and ts <= prev:
                        self.notes.add("non-increasing video timestamp replaced by previous + 1/fps")
                        ts = prev + nominal
                    prev = ts
                    last_dur = float(frame.duration * frame.time_base) if frame.duration and frame.time_base else None
                    yield _Frame(i, ts, lambda frame=frame: self._upright_rgb(frame))
            except av.error.FFmpegError as exc:
                raise _decode_error(self.path, exc, f"video frame {i + 1}") from exc
            if prev is not None:
                self.end = prev + (last_dur if last_dur and last_dur > 0 else nominal)
        finally:
            container.close()


def natural_key(name: str):
    """Sort key putting frame2 before frame10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


class _FolderSource(_Source):
    """A folder of PNG/JPEG (BMP, TIFF) files in natural order; all must have one size."""
    kind = "folder"

    def __init__(self, path: Path, fps: float | None):
        super().__init__(path)
        self.files = sorted((p for p in path.iterdir() if p.is_file() and p.suffix.lower() in FOLDER_EXTS
                             and not p.name.startswith(".")), key=lambda p: natural_key(p.name))
        if not self.files:
            raise ValueError(f"{path}: the folder holds no PNG/JPEG images")
        self.timestamps = None
        sidecar = path / TIMING_SIDECAR
        if fps is None and sidecar.is_file():
            try:
                data = json.loads(sidecar.read_text())
                ts, end = [float(t) for t in data["timestamps"]], float(data["end"])
                if len(ts) == len(self.files):
                    FrameTiming(tuple(ts), end)  # validates
                    self.timestamps, self.end_all = ts, end
                    self.notes.add(f"timing read from {TIMING_SIDECAR}")
                else:
                    self.notes.add(f"{TIMING_SIDECAR} ignored: it lists {len(ts)} frames, the folder has {len(self.files)}")
            except (ValueError, KeyError, TypeError) as exc:
                self.notes.add(f"{TIMING_SIDECAR} ignored: {exc}")
        self.fps = fps or DEFAULT_FPS
        if self.timestamps is None:
            self.timestamps = [i / self.fps for i in range(len(self.files))]
            self.end_all = len(self.files) / self.fps
            if fps is None:
                self.notes.add(f"image folder has no timing: frames placed at {DEFAULT_FPS:g} fps")
        self._size = None

    def _decode(self, file: Path) -> np.ndarray:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(file) as im:
                im.load()
                img = _upright(im, self.notes)
                arr = _pil_to_rgb(img, self.notes)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
            raise _decode_error(file, exc) from exc
        size = (arr.shape[1], arr.shape[0])
        if self._size is None:
            self._size = (size, file.name)
        elif size != self._size[0]:
            raise ValueError(f"{self.path}: images have different sizes: {self._size[1]} is "
                             f"{self._size[0][0]}x{self._size[0][1]}, {file.name} is {size[0]}x{size[1]} "
                             "(width x height); resize them to one size first")
        return arr

    def frames(self) -> Iterator[_Frame]:
        for i, (file, ts) in enumerate(zip(self.files, self.timestamps)):
            yield _Frame(i, ts, lambda file=file: self._decode(file))
        self.end = self.end_all


def check_path(path) -> Path:
    """Resolve ``path`` and raise FileNotFoundError / ValueError for missing or empty inputs."""
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file or folder")
    if p.is_file() and p.stat().st_size == 0:
        raise ValueError(f"{p}: the file is empty (0 bytes)")
    return p


def open_source(path, fps: float | None = None) -> _Source:
    p = check_path(path)
    if fps is not None and not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if p.is_dir():
        return _FolderSource(p, fps)
    ext = p.suffix.lower()
    if ext == ".gif":
        return _GifSource(p)
    if ext in VIDEO_EXTS:
        return _VideoSource(p)
    if ext in ANIMATED_EXTS or ext in STILL_EXTS:
        return _PillowSource(p, fps)
    raise ValueError(f"{p}: unsupported file type {ext or '(no extension)'!r}; FrameWeave reads "
                     f"{', '.join(sorted(ANIMATED_EXTS | STILL_EXTS | VIDEO_EXTS))} and folders of PNG/JPEG images")


# --- selection ------------------------------------------------------------------------------------
def _check_selection(start, stop, step, max_frames):
    for name, v in (("start", start), ("stop", stop), ("step", step), ("max_frames", max_frames)):
        if v is not None and (isinstance(v, bool) or int(v) != v):
            raise ValueError(f"{name} must be a whole number, got {v!r}")
    if start < 0:
        raise ValueError(f"start must be >= 0, got {start}")
    if stop is not None and stop < 0:
        raise ValueError(f"stop must be >= 0 (or None for the end), got {stop}")
    if step < 1:
        raise ValueError(f"step must be >= 1, got {step}")
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be >= 1 (or None for no cap), got {max_frames}")


def _selected(source: _Source, start, stop, step, max_frames, want_end: bool):
    """Yield ``(index, timestamp, uint8 frame)`` of the chosen frames; when ``want_end``, keep
    walking after the last one to the frame that would be kept next and return its time."""
    _check_selection(start, stop, step, max_frames)
    count, last, done = 0, None, False
    if isinstance(source, _VideoSource):
        source.start_hint = start
    gen = source.frames()
    try:
        for fr in gen:
            if not done and (stop is not None and fr.index >= stop):
                if last is None:
                    return None  # nothing selected
                done = True
            if done:  # the next kept frame would be last + step: the selection ends at its time
                if fr.index >= last + step:
                    return fr.timestamp
                continue
            if fr.index < start or (fr.index - start) % step:
                continue
            yield fr.index, fr.timestamp, fr.decode()
            last = fr.index
            count += 1
            if max_frames is not None and count >= max_frames:
                if not want_end:
                    return None
                done = True
    finally:
        gen.close()
    return source.end


class _Selection:
    """The chosen frames of a source, iterable once as ``(index, timestamp, uint8 frame)``; when the
    iteration is over, ``end`` is the time where the selection ends (``_selected`` with want_end)."""

    def __init__(self, source: _Source, start, stop, step, max_frames):
        self._args = (source, start, stop, step, max_frames)
        self.end = None

    def __iter__(self):
        self.end = yield from _selected(*self._args, want_end=True)


def iter_frames(path, start: int = 0, stop: int | None = None, step: int = 1, max_frames: int | None = None,
                fps: float | None = None):
    """Decode lazily: an iterator of ``(uint8 [H,W,3], timestamp_seconds)`` for frames
    ``start, start+step, ... < stop`` (at most ``max_frames``). Only one decoded frame is held
    at a time, so a long 1080p video streams in constant memory. A missing/unsupported file or a
    bad selection raises here, before the first frame is asked for."""
    source = open_source(path, fps)
    _check_selection(start, stop, step, max_frames)
    return ((arr, ts) for _, ts, arr in _selected(source, start, stop, step, max_frames, want_end=False))


def _to_clip(source: _Source, arrays: list, stamps: list, indices: list, end) -> LoadedClip:
    """uint8 frames -> LoadedClip; the arrays list is emptied as the float32 batch is filled."""
    if end is None or end <= stamps[-1]:
        spacing = (stamps[-1] - stamps[0]) / (len(stamps) - 1) if len(stamps) > 1 else 1.0 / DEFAULT_FPS
        end = stamps[-1] + spacing
    h, w, _ = arrays[0].shape
    # numpy, one pass per frame and no temporaries; single-threaded on purpose: torch's OpenMP
    # threads slow down badly on a busy machine for this memory-bound work
    out = np.empty((len(arrays), h, w, 3), dtype=np.float32)  # [T,H,W,3]
    scale = np.float32(255.0)
    for i in range(len(arrays)):
        np.divide(arrays[i], scale, out=out[i])  # == float(x) / 255 exactly
        arrays[i] = None  # free the uint8 copy as we go
    arrays.clear()
    frames = torch.from_numpy(out)
    return LoadedClip(frames, FrameTiming(tuple(stamps), end), source.notes.as_list(len(stamps)), tuple(indices))


def _check_same_size(source: _Source, arr: np.ndarray, index: int, first: np.ndarray, first_index: int) -> None:
    if arr.shape != first.shape:
        raise ValueError(f"{source.path}: frame {index} is {arr.shape[1]}x{arr.shape[0]}, frame "
                         f"{first_index} is {first.shape[1]}x{first.shape[0]}: frames differ in size")


def _no_frames(source: _Source, start, stop, step) -> ValueError:
    stop_text = "end" if stop is None else stop
    return ValueError(f"{source.path}: no frames selected (start={start}, stop={stop_text}, step={step}); "
                      "the clip is shorter than start or the range is empty")


def read_frames(path, start: int = 0, stop: int | None = None, step: int = 1, max_frames: int | None = None,
                fps: float | None = None) -> LoadedClip:
    """Read a clip into an IMAGE batch float32 [T,H,W,3] in 0..1 with its FrameTiming.

    ``fps`` times image folders and still images (default 25); animated formats and videos carry
    their own timing. Raises FileNotFoundError/ValueError naming the file and the problem.
    """
    source = open_source(path, fps)
    arrays, stamps, indices = [], [], []
    selection = _Selection(source, start, stop, step, max_frames)
    for index, ts, arr in selection:
        if arrays:
            _check_same_size(source, arr, index, arrays[0], indices[0])
        arrays.append(arr)
        stamps.append(ts)
        indices.append(index)
    if not arrays:
        raise _no_frames(source, start, stop, step)
    return _to_clip(source, arrays, stamps, indices, selection.end)


def read_chunks(path, chunk_frames: int, start: int = 0, stop: int | None = None, step: int = 1,
                fps: float | None = None):
    """Read a long clip in one decoding pass as consecutive LoadedClips of ``chunk_frames``
    frames (the last may be shorter). Each chunk's timing ends where the next one starts, so the
    chunks tile the selection; only one chunk (plus one decoded frame) is in memory at a time."""
    if isinstance(chunk_frames, bool) or int(chunk_frames) != chunk_frames or chunk_frames < 1:
        raise ValueError(f"chunk_frames must be a whole number >= 1, got {chunk_frames!r}")
    source = open_source(path, fps)
    _check_selection(start, stop, step, None)

    def chunks():
        arrays, stamps, indices, first = [], [], [], None
        selection = _Selection(source, start, stop, step, None)
        for index, ts, arr in selection:
            if first is None:
                first = (arr, index)
            _check_same_size(source, arr, index, *first)
            if len(arrays) == chunk_frames:
                yield _to_clip(source, arrays, stamps, indices, ts)
                stamps, indices = [], []
            arrays.append(arr)
            stamps.append(ts)
            indices.append(index)
        if first is None:
            raise _no_frames(source, start, stop, step)
        if arrays:
            yield _to_clip(source, arrays, stamps, indices, selection.end)

    return chunks()


def _container_durations(path: Path, fmt: str) -> list:
    """Frame durations (s) read from APNG fcTL or WebP ANMF chunks without decoding pixels."""
    b = path.read_bytes()
    out = []
    if fmt == "PNG":
        pos = 8
        while pos + 8 <= len(b):
            (length,) = struct.unpack(">I", b[pos:pos + 4])
            if b[pos + 4:pos + 8] == b"fcTL" and length >= 26:
                num, den = struct.unpack(">HH", b[pos + 28:pos + 32])
                out.append(num / (den or 100))
            pos += 12 + length
    elif fmt == "WEBP":
        pos = 12
        while pos + 8 <= len(b):
            (size,) = struct.unpack("<I", b[pos + 4:pos + 8])
            if b[pos:pos + 4] == b"ANMF" and size >= 16:
                out.append(int.from_bytes(b[pos + 20:pos + 23], "little") / 1000.0)
            pos += 8 + size + (size & 1)
    return out


def probe(path, fps: float | None = None) -> dict:
    """Cheap metadata: ``{"path", "kind", "width", "height", "frame_count", "frame_count_exact",
    "fps", "duration"}``; ``frame_count``/``fps``/``duration`` are None when unknown."""
    source = open_source(path, fps)
    info = {"path": str(source.path), "kind": source.kind, "width": None, "height": None,
            "frame_count": None, "frame_count_exact": False, "fps": None, "duration": None}
    if isinstance(source, _FolderSource):
        from PIL import Image
        try:
            with Image.open(source.files[0]) as im:
                info["width"], info["height"] = im.size
        except OSError as exc:
            raise _decode_error(source.files[0], exc) from exc
        n = len(source.files)
        info.update(frame_count=n, frame_count_exact=True, duration=source.end_all - source.timestamps[0],
                    fps=n / (source.end_all - source.timestamps[0]))
    elif isinstance(source, _VideoSource):
        import av
        try:
            with av.open(str(source.path)) as container:
                if not container.streams.video:
                    raise ValueError(f"{source.path}: the file has no video stream")
                s = container.streams.video[0]
                rate = s.average_rate or s.guessed_rate
                info.update(width=s.codec_context.width, height=s.codec_context.height,
                            fps=float(rate) if rate else None)
                if s.duration and s.time_base:
                    info["duration"] = float(s.duration * s.time_base)
                elif container.duration:
                    info["duration"] = container.duration / 1_000_000
                if s.frames:
                    info.update(frame_count=int(s.frames), frame_count_exact=True)
                elif info["duration"] and info["fps"]:
                    info["frame_count"] = int(round(info["duration"] * info["fps"]))
        except av.error.FFmpegError as exc:
            raise _decode_error(source.path, exc, "video") from exc
    elif isinstance(source, _GifSource):
        delays, gif = source.delays()
        total = float(sum(delays))
        info.update(width=gif.width, height=gif.height, frame_count=len(delays), frame_count_exact=True,
                    duration=total, fps=len(delays) / total)
    else:
        im = source._open()
        try:
            info["width"], info["height"] = im.size
            info["kind"] = (im.format or "image").lower()
            n = source._frame_count(im)
            first = 1 if im.format == "PNG" and n > 1 and im.info.get("default_image") else 0
            info.update(frame_count=n - first, frame_count_exact=True)
            durations = _container_durations(source.path, im.format) if n - first > 1 else []
        except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
            raise _decode_error(source.path, exc) from exc
        finally:
            im.close()
        if n - first <= 1:
            f = fps or DEFAULT_FPS
            info.update(duration=1.0 / f, fps=f)
        elif durations and len(durations) == n - first and sum(durations) > 0:
            info.update(duration=float(sum(durations)), fps=len(durations) / float(sum(durations)))
    return info
