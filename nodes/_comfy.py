"""Lazy glue to ComfyUI: progress bar, interruption, device, folders.

Each helper imports ``comfy.*`` / ``folder_paths`` only when called, and falls back to
plain behaviour when FrameWeave runs outside ComfyUI (CLI, headless runner, pytest).
"""
import os
import time
from pathlib import Path

import torch

from ..vfi_core.console import format_seconds

CATEGORY = "FrameWeave"
MODEL_FOLDER = "frameweave"  # ComfyUI models/frameweave/


def _comfy_utils():
    try:
        import comfy.utils  # noqa: PLC0415  (only inside ComfyUI)
        return comfy.utils
    except ImportError:
        return None


def _comfy_model_management():
    try:
        import comfy.model_management  # noqa: PLC0415
        return comfy.model_management
    except ImportError:
        return None


def _folder_paths():
    try:
        import folder_paths  # noqa: PLC0415
        return folder_paths
    except ImportError:
        return None


def _progress_text_sender():
    """``send(text)`` showing text on the executing node (ComfyUI's progress text, under its
    progress bar), or None outside ComfyUI or in a ComfyUI without it."""
    try:
        from comfy_execution.utils import get_executing_context  # noqa: PLC0415
        from server import PromptServer  # noqa: PLC0415
    except ImportError:
        return None
    server = getattr(PromptServer, "instance", None)
    if server is None or not hasattr(server, "send_progress_text"):
        return None

    def send(text: str) -> None:
        context = get_executing_context()
        if context is not None:
            server.send_progress_text(text, context.node_id)
    return send


def progress_text(done: int, total: int, elapsed: float) -> str:
    """'12 / 88 · 0:35 elapsed · about 3:42 left': the remaining time extrapolated linearly from
    the work done so far (every unit of these loops costs about the same)."""
    text = f"{done} / {total} · {format_seconds(elapsed)} elapsed"
    if 0 < done < total:
        text += f" · about {format_seconds(elapsed * (total - done) / done)} left"
    return text


def torch_device() -> torch.device:
    """ComfyUI's torch device inside ComfyUI; otherwise CUDA when available, else CPU."""
    forced = os.environ.get("FRAMEWEAVE_DEVICE")
    if forced:
        return torch.device(forced)
    mm = _comfy_model_management()
    if mm is not None:
        return mm.get_torch_device()
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def check_interrupted() -> None:
    """Raise ComfyUI's interruption exception if the user pressed Cancel; no-op outside ComfyUI."""
    mm = _comfy_model_management()
    if mm is not None:
        mm.throw_exception_if_processing_interrupted()


class Progress:
    """Callable ``progress(done, total)`` for vfi_core loops: drives ComfyUI's progress bar, shows
    the elapsed and remaining time as the node's progress text (at most once a ``text_interval``)
    and checks for interruption. Outside ComfyUI it does nothing (the CLI passes its own)."""

    checks_cancel = True   # vfi_core loops then split long steps so that Cancel is seen within a second
    text_interval = 3.0    # seconds between two progress texts (elapsed, time left) on the node
    clock = staticmethod(time.monotonic)

    def __init__(self, total: int):
        utils = _comfy_utils()
        self._bar = utils.ProgressBar(total) if utils is not None else None
        self._send_text = _progress_text_sender() if utils is not None else None
        self.total = total
        self._start = self.clock()
        self._last_text = None

    def __call__(self, done: int, total: int | None = None) -> None:
        check_interrupted()
        total = total if total is not None else self.total
        if self._bar is not None:
            self._bar.update_absolute(done, total)
        if self._send_text is not None:
            now = self.clock()
            if done >= total or self._last_text is None or now - self._last_text >= self.text_interval:
                self._last_text = now
                self._send_text(progress_text(done, total, now - self._start))


def input_directory() -> Path | None:
    fp = _folder_paths()
    return Path(fp.get_input_directory()) if fp is not None else None


def output_directory() -> Path:
    fp = _folder_paths()
    if fp is not None:
        return Path(fp.get_output_directory())
    return Path(os.environ.get("FRAMEWEAVE_OUTPUT_DIR", "output"))


def model_directories() -> list[Path]:
    """Extra weight folders: ComfyUI's models/frameweave/ (registered on first use)."""
    fp = _folder_paths()
    if fp is None:
        return []
    if MODEL_FOLDER not in fp.folder_names_and_paths:
        base = Path(fp.models_dir) / MODEL_FOLDER
        fp.folder_names_and_paths[MODEL_FOLDER] = ([str(base)], {".safetensors"})
    return [Path(p) for p in fp.get_folder_paths(MODEL_FOLDER)]
