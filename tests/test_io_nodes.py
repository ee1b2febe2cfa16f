"""Load Frames / Save Frames nodes, called directly as ComfyUI calls them."""
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from frameweave.nodes import _comfy
from frameweave.nodes._headless import validate_workflow
from frameweave.nodes.io_nodes import (BUNDLED_EXAMPLE, FrameWeaveLoadFrames, FrameWeaveSaveFrames, input_choices,
                                       resolve_input_path)
from frameweave.vfi_core.frames_io import read_frames
from frameweave.vfi_core.timing import FrameTiming

EXAMPLE_DELAYS = [0.1, 0.1, 0.15, 0.1, 0.1, 0.15, 0.1, 0.1, 0.15, 0.1, 0.1, 0.2]


@pytest.fixture
def out_dir(tmp_path, monkeypatch):
    out = tmp_path / "output"
    out.mkdir()
    monkeypatch.setenv("FRAMEWEAVE_OUTPUT_DIR", str(out))
    return out


def test_load_bundled_example_from_anywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                                   # not the repository
    with torch.inference_mode():
        frames, timing, fps, count = FrameWeaveLoadFrames().load("examples/pan_zoom.gif")
    assert frames.shape == (12, 128, 192, 3) and count == 12
    np.testing.assert_allclose(timing.durations(), EXAMPLE_DELAYS, atol=1e-9)
    assert fps == pytest.approx(12 / 1.45)


def test_load_selection_widgets():
    node = FrameWeaveLoadFrames()
    frames, timing, _, count = node.load("examples/pan_zoom.gif", start=1, stop=0, step=2, max_frames=3)
    assert count == 3 and frames.shape[0] == 3
    np.testing.assert_allclose(timing.timestamps, [0.1, 0.35, 0.55])   # frames 1, 3, 5
    assert timing.end == pytest.approx(0.8)                             # frame 7 starts there
    _, _, _, count = node.load("examples/pan_zoom.gif", start=0, stop=5, step=1, max_frames=0)
    assert count == 5


def test_input_directory_comes_first(tmp_path, monkeypatch, make_clip):
    from frameweave.vfi_core.frames_io import write_frames

    (tmp_path / "examples").mkdir()
    write_frames(tmp_path / "examples" / "pan_zoom.gif", make_clip(3, size=(16, 24)))
    monkeypatch.setattr(_comfy, "input_directory", lambda: tmp_path)
    assert resolve_input_path("examples/pan_zoom.gif") == tmp_path / "examples" / "pan_zoom.gif"
    _, _, _, count = FrameWeaveLoadFrames().load("examples/pan_zoom.gif")
    assert count == 3


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.gif.*not found"):
        FrameWeaveLoadFrames().load("missing.gif")
    with pytest.raises(FileNotFoundError):
        FrameWeaveLoadFrames().load(str(tmp_path / "missing.mp4"))
    with pytest.raises(ValueError, match="path is empty"):
        FrameWeaveLoadFrames().load("  ")
    with pytest.raises(ValueError, match="no frames selected"):
        FrameWeaveLoadFrames().load("examples/pan_zoom.gif", start=40)


def test_validate_inputs_reports_missing_files():
    assert FrameWeaveLoadFrames.VALIDATE_INPUTS(path="examples/pan_zoom.gif") is True
    assert "not found" in FrameWeaveLoadFrames.VALIDATE_INPUTS(path="nowhere/clip.mp4")
    assert FrameWeaveLoadFrames.VALIDATE_INPUTS() is True                  # linked input


def test_is_changed_follows_the_file(tmp_path, make_clip):
    from frameweave.vfi_core.frames_io import write_frames

    path = write_frames(tmp_path / "c.gif", make_clip(3, size=(16, 16)))
    first = FrameWeaveLoadFrames.IS_CHANGED(path=str(path), start=0)
    assert first == FrameWeaveLoadFrames.IS_CHANGED(path=str(path), start=0)
    write_frames(path, make_clip(4, size=(16, 16)))
    os.utime(path, ns=(1, 1))
    assert FrameWeaveLoadFrames.IS_CHANGED(path=str(path), start=0) != first
    missing = FrameWeaveLoadFrames.IS_CHANGED(path=str(tmp_path / "gone.gif"))
    assert missing != missing                                     # NaN: always re-run, load() reports


def frontend_preview_element(filename: str, animated: bool) -> str:
    """Where ComfyUI front end 1.27.10 shows an output image (litegraphService.ts,
    unsafeDrawBackground): animated + a name containing webp/png -> an <img> over the node,
    animated otherwise -> a <video>, not animated -> the image drawn on the canvas."""
    if animated and ("webp" in filename or "png" in filename):
        return "img"
    return "video" if animated else "canvas"


# what each element displays in Chromium (a <video> does not play GIF, WebP or PNG files)
DISPLAYS = {"img": {".gif", ".webp", ".png", ".jpg"}, "canvas": {".gif", ".webp", ".png", ".jpg"},
            "video": {".mp4", ".webm"}}


def frontend_can_show(filename: str, animated: bool) -> bool:
    return Path(filename).suffix.lower() in DISPLAYS[frontend_preview_element(filename, animated)]


def test_frontend_rule_reproduces_the_issue():
    """GIF reported as animated (what Save Frames did) lands in a <video>: nothing shown."""
    assert not frontend_can_show("quickstart_00001.gif", True)
    assert frontend_can_show("quickstart_00001.gif", False)
    assert frontend_preview_element("a_00001.png", True) == "img"      # APNG plays in an <img>


@pytest.mark.parametrize("fmt, ext", [("gif", ".gif"), ("mp4", ".mp4"), ("webp", ".webp"),
                                      ("apng", ".png"), ("png-folder", "")])
def test_save_every_format_under_inference_mode(out_dir, make_clip, fmt, ext):
    frames = make_clip(5, size=(32, 48))
    timing = FrameTiming.from_durations([0.1, 0.2, 0.1, 0.1, 0.3])
    node = FrameWeaveSaveFrames()
    with torch.inference_mode():
        first = node.save(frames, "clips/test", fmt, 0.0, timing)
        second = node.save(frames, "clips/test", fmt, 0.0, timing)
    path = first["result"][0]
    assert path.endswith(f"test_00001{ext}") and second["result"][0].endswith(f"test_00002{ext}")
    image = first["ui"]["images"][0]
    assert image["type"] == "output" and (out_dir / image["subfolder"] / image["filename"]).is_file()
    assert frontend_can_show(image["filename"], first["ui"]["animated"][0]), f"{fmt} is not previewed"
    clip = read_frames(path)
    assert clip.frames.shape[0] == 5
    np.testing.assert_allclose(np.diff(clip.timing.timestamps), [0.1, 0.2, 0.1, 0.1], atol=1e-3)
    assert not list(out_dir.rglob("*.part"))


def test_save_fps_rules(out_dir, make_clip):
    frames = make_clip(4, size=(16, 16))
    node = FrameWeaveSaveFrames()
    default = read_frames(node.save(frames, "a", "gif", 0.0)["result"][0])
    assert default.timing.end == pytest.approx(0.33)              # 4 frames at 12 fps, in whole 10 ms
    assert set(np.rint(default.timing.durations() * 100).astype(int)) == {8, 9}
    fixed = read_frames(node.save(frames, "b", "webp", 20.0, FrameTiming.from_fps(4, 5))["result"][0])
    np.testing.assert_allclose(fixed.timing.durations(), [0.05] * 4)


def test_save_errors(out_dir, make_clip):
    frames = make_clip(4, size=(16, 16))
    node = FrameWeaveSaveFrames()
    with pytest.raises(ValueError, match="3 timestamps but 4 frames"):
        node.save(frames, "x", "gif", 0.0, FrameTiming.from_fps(3, 10))
    with pytest.raises(ValueError, match="outside the output folder"):
        node.save(frames, "../escape", "gif", 0.0)
    with pytest.raises(ValueError, match="unknown format"):
        node.save(frames, "x", "avi", 0.0)
    bad = frames.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        node.save(bad, "x", "mp4", 0.0)
    with pytest.raises(ValueError, match="got torch.uint8 values; divide 8-bit values by 255"):
        node.save((frames * 255).to(torch.uint8), "x", "gif", 0.0)
    with pytest.raises(ValueError, match="IMAGE values are 0..1"):
        node.save(frames * 255, "x", "gif", 0.0)
    assert not any(out_dir.iterdir())


def test_example_round_trip_through_nodes(out_dir):
    frames, timing, _, _ = FrameWeaveLoadFrames().load("examples/pan_zoom.gif")
    path = FrameWeaveSaveFrames().save(frames, "again", "gif", 0.0, timing)["result"][0]
    again, timing2, _, _ = FrameWeaveLoadFrames().load(path)
    assert timing2 == timing
    assert (again - frames).abs().mean() < 2 / 255                # re-quantised palette only


# --- Load Frames: a list of the input folder with an upload button, paths still accepted (item 7) ---
def test_path_lists_the_input_folder(tmp_path, monkeypatch, make_clip):
    from frameweave.vfi_core.frames_io import write_frames

    write_frames(tmp_path / "Walk.mp4", make_clip(2, size=(16, 16)))
    write_frames(tmp_path / "cat.gif", make_clip(2, size=(16, 16)))
    write_frames(tmp_path / "frames", make_clip(2, size=(16, 16)))            # a folder of PNGs
    (tmp_path / "notes.txt").write_text("not a clip")
    (tmp_path / ".hidden.gif").write_bytes(b"")
    (tmp_path / "empty").mkdir()
    assert input_choices(tmp_path) == ["cat.gif", "frames/", "Walk.mp4", BUNDLED_EXAMPLE]
    monkeypatch.setattr(_comfy, "input_directory", lambda: tmp_path)
    choices, options = FrameWeaveLoadFrames.INPUT_TYPES()["required"]["path"]
    assert choices == input_choices(tmp_path) and options["default"] == BUNDLED_EXAMPLE
    assert options["frameweave_upload"] is True                         # web/frameweave.js adds the button
    _, _, _, count = FrameWeaveLoadFrames().load("frames/")
    assert count == 2


def test_outside_comfyui_only_the_bundled_example_is_listed():
    assert _comfy.input_directory() is None
    assert FrameWeaveLoadFrames.INPUT_TYPES()["required"]["path"][0] == [BUNDLED_EXAMPLE]


def test_any_path_still_validates_for_api_workflows(tmp_path, make_clip):
    """'path' is an argument of VALIDATE_INPUTS, so ComfyUI (and the headless runner) skip the
    list check for it: saved API workflows with any path stay valid; missing files are reported."""
    from frameweave.vfi_core.frames_io import write_frames

    clip_path = write_frames(tmp_path / "elsewhere.webp", make_clip(3, size=(16, 16)))
    assert str(clip_path) not in FrameWeaveLoadFrames.INPUT_TYPES()["required"]["path"][0]
    workflow = {"1": {"class_type": "FrameWeaveLoadFrames",
                      "inputs": {"path": str(clip_path), "start": 0, "stop": 0, "step": 1, "max_frames": 0}}}
    assert validate_workflow(workflow).order == ["1"]
    workflow["1"]["inputs"]["path"] = str(tmp_path / "missing.gif")
    with pytest.raises(ValueError, match="VALIDATE_INPUTS rejected.*does not exist"):
        validate_workflow(workflow)
    assert "must be text" in FrameWeaveLoadFrames.VALIDATE_INPUTS(path=3)


# --- file modes: every output like a file open() creates (item 8) ----------------------------------
@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_save_inr_file_mode_matches_the_other_outputs(out_dir, make_clip, umask):
    """safetensors creates its files 0600; Save INR's file gets the mode Save Frames' files get."""
    from frameweave.nodes.inr_nodes import FrameWeaveSaveINR
    from frameweave.vfi_core.neco import NeCo

    model = NeCo(4, 4, FrameTiming.from_fps(2, 10.0), {"width": 8, "depth": 2, "L": 2})
    old = os.umask(umask)
    try:
        inr = Path(FrameWeaveSaveINR().save(model, filename_prefix="fits/m")["result"][0])
        gif = Path(FrameWeaveSaveFrames().save(make_clip(2, size=(8, 8)), "clips/c", "gif")["result"][0])
    finally:
        os.umask(old)
    mode = lambda p: p.stat().st_mode & 0o777   # noqa: E731
    assert mode(inr) == mode(gif) == 0o666 & ~umask


@pytest.mark.parametrize("gif_timing, frames, seconds", [("stretch", 13, 0.26), ("keep_duration", 9, 0.20)])
def test_save_gif_timing_choice_is_said_on_the_node(out_dir, make_clip, gif_timing, frames, seconds):
    """x4 of 4 frames of 50 ms: 12.5 ms frames, too short for a GIF. The node's text says what the file
    holds and why; keep_duration keeps the 0.2 s with fewer frames, stretch keeps every frame."""
    clip = make_clip(13, size=(16, 16), step=(0.2, 0.3))
    timing = FrameTiming.from_durations([0.05] * 4).with_inserted([0.25, 0.5, 0.75])
    result = FrameWeaveSaveFrames().save(clip, "t", "gif", 0.0, timing, gif_timing=gif_timing)
    back = read_frames(result["result"][0])
    assert back.frames.shape[0] == frames and back.timing.end == pytest.approx(seconds)
    text = result["ui"]["text"]
    assert text[0].endswith(f"{frames} frames 16x16, {seconds:.3f} s")
    assert len(text) == 2 and text[1].startswith("warning: GIF shows at most 50 frames/s")
    quiet = FrameWeaveSaveFrames().save(clip, "w", "webp", 0.0, timing, gif_timing=gif_timing)
    assert quiet["ui"]["text"] == [f"w_00001.webp: 13 frames 16x16, 0.200 s"]
