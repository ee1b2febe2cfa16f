"""Load Frames / Save Frames: clips in and out of a graph with their per-frame timing."""
import hashlib
import os
import re
from pathlib import Path

from ..vfi_core.frame_reader import ANIMATED_EXTS, FOLDER_EXTS, STILL_EXTS, VIDEO_EXTS
from ..vfi_core.frame_writer import GIF_TIMINGS, write_clip
from ..vfi_core.frames_io import read_frames
from ..vfi_core.validate import check_frames
from . import _comfy, _preview

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
BUNDLED_EXAMPLE = "examples/pan_zoom.gif"   # the clip that ships with FrameWeave (examples/make_example.py)
SAVE_FORMATS = {"gif": ".gif", "mp4": ".mp4", "webp": ".webp", "apng": ".png", "png-folder": ""}
READABLE_EXTS = VIDEO_EXTS | ANIMATED_EXTS | STILL_EXTS


def resolve_input_path(path: str) -> Path:
    """An absolute path as is; a relative one is looked up in ComfyUI's input folder (inside
    ComfyUI), the current directory, then the package root (so "examples/pan_zoom.gif" always
    finds the bundled clip). FileNotFoundError lists the places tried."""
    if path is not None and not isinstance(path, str):
        raise ValueError(f"Load Frames: path must be text (a file or folder), got {type(path).__name__}")
    text = (path or "").strip().strip('"').strip("'")
    if not text:
        raise ValueError(f"Load Frames: path is empty; give a file or folder (e.g. {BUNDLED_EXAMPLE})")
    p = Path(text).expanduser()
    if p.is_absolute():
        if not p.exists():
            raise FileNotFoundError(f"Load Frames: {p} does not exist")
        return p
    bases = [b for b in (_comfy.input_directory(), Path.cwd(), PACKAGE_ROOT) if b is not None]
    for base in bases:
        if (base / p).exists():
            return base / p
    raise FileNotFoundError(f"Load Frames: {text!r} not found in " + ", ".join(str(b) for b in bases))


def _is_frame_folder(folder: Path) -> bool:
    """True when ``folder`` holds at least one PNG/JPEG/... frame (stops at the first one)."""
    try:
        with os.scandir(folder) as entries:
            return any(e.is_file() and Path(e.name).suffix.lower() in FOLDER_EXTS for e in entries)
    except OSError:
        return False


def input_choices(input_dir: Path | None = None) -> list:
    """The choices of Load Frames' ``path`` list: clips and images at the top of ComfyUI's input
    folder and its sub-folders that hold frames (shown as "name/"), sorted, then the bundled
    example. Outside ComfyUI (no input folder) only the bundled example."""
    input_dir = _comfy.input_directory() if input_dir is None else input_dir
    found = []
    if input_dir is not None and Path(input_dir).is_dir():
        with os.scandir(input_dir) as entries:
            for e in entries:
                if e.name.startswith("."):
                    continue
                if e.is_file() and Path(e.name).suffix.lower() in READABLE_EXTS:
                    found.append(e.name)
                elif e.is_dir() and _is_frame_folder(Path(e.path)):
                    found.append(e.name + "/")
    return sorted(found, key=str.lower) + [BUNDLED_EXAMPLE]


def _fingerprint(p: Path) -> str:
    """mtime + size of a file, or of every file in a folder (adding/editing a frame changes it)."""
    h = hashlib.sha256()
    files = sorted(p.iterdir()) if p.is_dir() else [p]
    for f in files:
        st = f.stat()
        h.update(f"{f.name}:{st.st_mtime_ns}:{st.st_size};".encode())
    return h.hexdigest()


class FrameWeaveLoadFrames:
    """Read a GIF / APNG / WebP / MP4 / MOV / MKV / WebM or a folder of PNG/JPEG frames."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                # a list like Load Image's (web/frameweave.js adds the upload button); VALIDATE_INPUTS
                # takes 'path', so ComfyUI and the headless runner also accept any other path here
                "path": (input_choices(), {"default": BUNDLED_EXAMPLE, "frameweave_upload": True, "tooltip":
                         "a clip, image or folder of frames in ComfyUI's input folder (upload one with "
                         "the button below), or the bundled example. API workflows may give any path: "
                         "absolute, or relative to the input folder, the current folder or FrameWeave's "
                         "own folder"}),
                "start": ("INT", {"default": 0, "min": 0, "max": 10_000_000, "tooltip": "first frame index"}),
                "stop": ("INT", {"default": 0, "min": 0, "max": 10_000_000,
                                 "tooltip": "stop before this frame index; 0 = to the end"}),
                "step": ("INT", {"default": 1, "min": 1, "max": 10_000, "tooltip": "keep every step-th frame"}),
                "max_frames": ("INT", {"default": 0, "min": 0, "max": 10_000_000,
                                       "tooltip": "at most this many frames; 0 = no cap"}),
            },
            "optional": {
                "fps": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1000.0, "step": 0.001, "tooltip":
                        "frame rate for image folders and still images; 0 = the folder's saved timing or 25"}),
            },
        }

    RETURN_TYPES = ("IMAGE", "FRAME_TIMING", "FLOAT", "INT")
    RETURN_NAMES = ("frames", "timing", "fps", "frame_count")
    FUNCTION = "load"
    CATEGORY = f"{_comfy.CATEGORY}/io"
    DESCRIPTION = ("Load a clip with the display time of every frame (GIF delays, video timestamps): a file "
                   "or folder of ComfyUI's input folder (upload with the button), the bundled example, or "
                   "in API workflows any path.")

    def load(self, path, start=0, stop=0, step=1, max_frames=0, fps=0.0):
        clip = read_frames(resolve_input_path(path), start=int(start), stop=int(stop) or None, step=int(step),
                           max_frames=int(max_frames) or None, fps=float(fps) or None)
        return clip.frames, clip.timing, float(clip.timing.fps()), int(clip.frames.shape[0])

    @classmethod
    def VALIDATE_INPUTS(cls, path=None):
        """Report a missing file before the queue runs (True, or the problem as text)."""
        if path is None:  # linked from another node: known only when it runs
            return True
        try:
            resolve_input_path(path)
        except (OSError, ValueError) as exc:
            return str(exc)
        return True

    @classmethod
    def IS_CHANGED(cls, path, **_):
        try:
            return _fingerprint(resolve_input_path(path))
        except (OSError, ValueError):
            return float("nan")  # never equal: re-run, and let load() report the problem


def _next_free(folder: Path, stem: str, ext: str) -> Path:
    """folder/stem_00001.ext with the number one above the highest already there."""
    pattern = re.compile(rf"^{re.escape(stem)}_(\d+)(?:{re.escape(ext)})?$")
    used = [int(m.group(1)) for f in folder.iterdir() if (m := pattern.match(f.name))] if folder.is_dir() else []
    return folder / f"{stem}_{max(used, default=0) + 1:05d}{ext}"


class FrameWeaveSaveFrames:
    """Write frames into ComfyUI's output folder as GIF, MP4 (H.264), WebP, APNG or numbered PNGs."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "frames": ("IMAGE",),
                "filename_prefix": ("STRING", {"default": "frameweave", "tooltip":
                                    "file name start; may include a subfolder, e.g. clips/cat"}),
                "format": (list(SAVE_FORMATS), {"default": "gif"}),
                "fps": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1000.0, "step": 0.001, "tooltip":
                        "constant frame rate; 0 = use the timing input (or 12 fps without one)"}),
            },
            "optional": {
                "timing": ("FRAME_TIMING",),
                "gif_timing": (list(GIF_TIMINGS), {"default": "stretch", "tooltip":
                               "a GIF cannot show a frame shorter than 20 ms: stretch = keep every frame, the "
                               "clip plays longer; keep_duration = keep the duration, write fewer frames chosen "
                               "evenly. webp, apng and mp4 keep both; the node's text says what was written"}),
            },
        }

    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("path",)
    FUNCTION = "save"
    OUTPUT_NODE = True
    CATEGORY = f"{_comfy.CATEGORY}/io"
    DESCRIPTION = "Save a clip keeping every frame's display time; no frame is merged or dropped."

    def save(self, frames, filename_prefix="frameweave", format="gif", fps=0.0, timing=None, gif_timing="stretch"):
        if format not in SAVE_FORMATS:
            raise ValueError(f"Save Frames: unknown format {format!r}; choose one of {', '.join(SAVE_FORMATS)}")
        frames = check_frames(frames)
        if timing is not None and len(timing) != frames.shape[0]:
            raise ValueError(f"Save Frames: the timing has {len(timing)} timestamps but {frames.shape[0]} frames "
                             "arrived; connect the FRAME_TIMING that belongs to these frames")
        root = _comfy.output_directory().resolve()
        prefix = (filename_prefix or "frameweave").strip().replace("\\", "/")
        target_dir = (root / prefix).parent.resolve()
        if root != target_dir and root not in target_dir.parents:
            raise ValueError(f"Save Frames: filename_prefix {filename_prefix!r} points outside the output folder")
        stem = Path(prefix).name or "frameweave"
        target_dir.mkdir(parents=True, exist_ok=True)
        out = _next_free(target_dir, stem, SAVE_FORMATS[format])
        clip = write_clip(out, frames, timing=timing, fps=float(fps) or None, gif_timing=gif_timing)
        written = clip.path
        subfolder = str(target_dir.relative_to(root)).replace("\\", "/")
        subfolder = "" if subfolder == "." else subfolder
        if format == "png-folder":
            first = sorted(p.name for p in written.glob("*.png"))[0]
            image = {"filename": first, "subfolder": f"{subfolder}/{written.name}".lstrip("/"), "type": "output"}
        else:
            image = {"filename": written.name, "subfolder": subfolder, "type": "output"}
        # "animated" picks the front end's preview element (see nodes/_preview.py): WebP / APNG play in
        # an <img>, MP4 in a <video>; GIF and the first PNG of a folder are shown as images
        ui = {"images": [image], "animated": (_preview.animated_flag(image["filename"], format != "png-folder"),)}
        # what the file holds, and what the format changed (GIF timing, H.264 padding), on the node
        ui["text"] = [f"{written.name}: {clip.frames} frames {clip.width}x{clip.height}, {clip.seconds:.3f} s"]
        ui["text"] += [f"warning: {note}" for note in clip.notes]
        return {"ui": ui, "result": (str(written),)}


NODE_CLASS_MAPPINGS = {
    "FrameWeaveLoadFrames": FrameWeaveLoadFrames,
    "FrameWeaveSaveFrames": FrameWeaveSaveFrames,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "FrameWeaveLoadFrames": "Load Frames (FrameWeave)",
    "FrameWeaveSaveFrames": "Save Frames (FrameWeave)",
}
