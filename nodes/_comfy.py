"""Lazy glue to ComfyUI: progress bar, interruption, device, folders.

Each helper imports ``comfy.*`` / ``folder_paths`` only when called, and falls back to
plain behaviour when FrameWeave runs outside ComfyUI (CLI, headless runner, pytest).
"""
import os
from pathlib import Path

import torch

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
    """Callable ``progress(done, total)`` for vfi_core loops: drives ComfyUI's progress bar and
    checks for interruption. Outside ComfyUI it does nothing (the CLI passes its own)."""

    checks_cancel = True   # vfi_core loops then split long steps so that Cancel is seen within a second

    def __init__(self, total: int):
        utils = _comfy_utils()
        self._bar = utils.ProgressBar(total) if utils is not None else None
        self.total = total

    def __call__(self, done: int, total: int | None = None) -> None:
        check_interrupted()
        if self._bar is not None:
            self._bar.update_absolute(done, total if total is not None else self.total)


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
