"""Fit NeCo / Render Frames / Save INR / Load INR nodes, called as ComfyUI calls them."""
import json
from pathlib import Path

import pytest
import torch

import frameweave
from frameweave.nodes._headless import validate_workflow
from frameweave.nodes.inr_nodes import (FrameWeaveFitNeCo, FrameWeaveLoadINR, FrameWeaveRenderFrames,
                                        FrameWeaveSaveINR, render_schedule)
from frameweave.vfi_core.neco import NeCo
from frameweave.vfi_core.timing import FrameTiming

ROOT = Path(frameweave.__file__).resolve().parent
TINY = {"encoding": "basic", "L": 4, "sigma": 10.0, "width": 24, "depth": 4, "lr": 1e-3, "weight_decay": 1e-8,
        "batch_size": 256, "seed": 0}


@pytest.fixture(autouse=True)
def _cpu(monkeypatch, tmp_path):
    monkeypatch.setenv("FRAMEWEAVE_DEVICE", "cpu")
    monkeypatch.setenv("FRAMEWEAVE_OUTPUT_DIR", str(tmp_path / "output"))


def _fit(frames, timing=None, steps=60):
    with torch.inference_mode():                                         # as ComfyUI runs every node
        return FrameWeaveFitNeCo().fit(frames, steps=steps, time_budget_s=0.0, timing=timing, **TINY)["result"]


def test_fit_node_under_inference_mode(make_clip):
    frames = make_clip(3, size=(12, 16))
    timing = FrameTiming.from_durations([0.1, 0.3, 0.2])
    model, curve = _fit(frames, timing)
    assert isinstance(model, NeCo) and model.timing == timing
    assert next(model.parameters()).device.type == "cpu"
    assert model.config["width"] == 24 and model.config["depth"] == 4 and model.config["L"] == 4
    assert model.fit_report["steps"] == 60 and model.fit_report["best_psnr"] > model.fit_report["history"][0][2]
    assert curve.ndim == 4 and curve.shape[0] == 1 and curve.shape[-1] == 3 and curve.dtype == torch.float32
    assert float(curve.min()) >= 0 and float(curve.max()) <= 1


def test_fit_node_exceptions(make_clip):
    frames = make_clip(3, size=(12, 16))
    node = FrameWeaveFitNeCo()
    with pytest.raises(ValueError, match="steps > 0 or a time budget"):
        node.fit(frames, steps=0, time_budget_s=0.0, **TINY)
    with pytest.raises(ValueError, match="timing has 2 timestamps"):
        node.fit(frames, steps=5, time_budget_s=0.0, timing=FrameTiming.from_fps(2, 10), **TINY)
    with pytest.raises(ValueError, match="at least 2"):
        node.fit(frames[:1], steps=5, time_budget_s=0.0, **TINY)


def test_render_node_multiplier_times_absolute(make_clip):
    frames = make_clip(3, size=(12, 16))
    timing = FrameTiming.from_durations([0.1, 0.3, 0.2])
    model, _ = _fit(frames, timing, steps=20)
    node = FrameWeaveRenderFrames()
    with torch.inference_mode():
        same, same_timing = node.render(model, multiplier=1)
        x4, x4_timing = node.render(model, multiplier=4)
        half, half_timing = node.render(model, multiplier=4, times="0.5")
        absolute, abs_timing = node.render(model, multiplier=4, times="0.5", absolute_times="1, 0, 0.625")
    # multiplier 1 re-renders the training frames at the training times
    assert same_timing == timing and torch.equal(same, model.render(model.frame_times()))
    assert x4.shape == (9, 12, 16, 3) and x4_timing == timing.with_inserted([0.25, 0.5, 0.75])
    assert torch.equal(x4[::4], same)
    assert half.shape == (5, 12, 16, 3) and half_timing.timestamps == pytest.approx((0, 0.05, 0.1, 0.25, 0.4))
    assert torch.equal(half[1], model.render([0.125])[0])                # midway in normalised time 0..0.25
    assert absolute.shape == (3, 12, 16, 3)
    assert abs_timing.timestamps == pytest.approx((0.0, 0.25, 0.4)) and abs_timing.end == timing.end
    assert torch.equal(absolute[2], same[2])


def test_render_schedule_errors():
    timing = FrameTiming.from_fps(3, 10)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        render_schedule(timing, 2, times="0.5, 1.5")
    with pytest.raises(ValueError, match="could not read times"):
        render_schedule(timing, 2, times="half")
    with pytest.raises(ValueError, match="between 0 \\(first frame\\) and 1"):
        render_schedule(timing, 2, absolute_times="-0.1")
    with pytest.raises(ValueError, match="could not read absolute_times"):
        render_schedule(timing, 2, absolute_times="a,b")
    with pytest.raises(ValueError, match="multiplier must be >= 1"):
        render_schedule(timing, 0)
    with pytest.raises(ValueError, match="INR_MODEL"):
        FrameWeaveRenderFrames().render("not a model", 2)


def test_save_and_load_nodes_round_trip(make_clip, tmp_path):
    frames = make_clip(3, size=(12, 16))
    model, _ = _fit(frames, steps=10)
    with torch.inference_mode():
        saved = FrameWeaveSaveINR().save(model, filename_prefix="fits/clip")
        path = Path(saved["result"][0])
        again = FrameWeaveSaveINR().save(model, filename_prefix="fits/clip")["result"][0]
        assert path.name == "clip_00001.safetensors" and Path(again).name == "clip_00002.safetensors"
        assert path.parent == tmp_path / "output" / "fits" and not list(path.parent.glob("*.part"))
        (loaded,) = FrameWeaveLoadINR().load("fits/clip_00001.safetensors")    # relative to the output folder
        (by_abs,) = FrameWeaveLoadINR().load(str(path))
        a, _ = FrameWeaveRenderFrames().render(model, multiplier=3)
        b, _ = FrameWeaveRenderFrames().render(loaded, multiplier=3)
    assert torch.equal(a, b) and by_abs.config == model.config
    assert FrameWeaveLoadINR.IS_CHANGED(str(path)) == FrameWeaveLoadINR.IS_CHANGED(str(path))
    with pytest.raises(ValueError, match="outside the output folder"):
        FrameWeaveSaveINR().save(model, filename_prefix="../escape")
    with pytest.raises(FileNotFoundError, match="not found"):
        FrameWeaveLoadINR().load("fits/missing.safetensors")
    with pytest.raises(ValueError, match="path is empty"):
        FrameWeaveLoadINR().load("  ")


@pytest.mark.parametrize("name", ["neco_x4.json", "neco_evaluate.json"])
def test_example_workflows_are_valid(name):
    """The shipped NeCo workflows pass the headless runner's validation (types, links, widgets)."""
    workflow = json.loads((ROOT / "example_workflows" / "api" / name).read_text())   # the API twin
    plan = validate_workflow(workflow)
    classes = {workflow[i]["class_type"] for i in plan.order}
    assert {"FrameWeaveFitNeCo", "FrameWeaveRenderFrames"} <= classes
