"""benchmarks/gpu_run.py: the dry run leaves the promised files; budgets; the training stage resumes."""
import importlib.util
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def _load(name):
    spec = importlib.util.spec_from_file_location(f"frameweave_bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def stages():
    return _load("gpu_stages")


@pytest.mark.slow
def test_dry_run_leaves_the_promised_files(tmp_path, stages):
    """Every stage at toy sizes on the CPU (what CI runs so the GPU command cannot rot): exit 0,
    summary.md + log.txt + result.json + the trained weights, at most 8 files of at most 16 MiB
    (what the device tool brings back), every stage ok. --minutes 10 only so that a loaded machine
    does not cut a stage; the toy work takes about a minute of CPU."""
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, ROOT / "benchmarks" / "gpu_run.py", "--dry-run", "--out", out,
                           "--minutes", "10"], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    names = sorted(p.name for p in out.iterdir())
    weights = [n for n in names if n.endswith(".safetensors")]
    assert set(names) - set(weights) == {"summary.md", "log.txt", "result.json"}
    assert 1 <= len(weights) <= 5 and all("_cont" in n for n in weights)
    assert all(p.is_file() and p.stat().st_size <= 16 * 2 ** 20 for p in out.iterdir())
    result = json.loads((out / "result.json").read_text())
    assert result["dry_run"] is True
    assert [s["name"] for s in result["stages"]] == [s[0] for s in stages.STAGES]
    assert {s["name"]: s["status"] for s in result["stages"]} == {s[0]: "ok" for s in stages.STAGES}
    summary = (out / "summary.md").read_text()
    assert "## Summary" in summary and all(f"## {s[0]}" in summary for s in stages.STAGES)
    from frameweave.vfi_core.weights import load_weights
    assert load_weights(str(out / sorted(weights)[0])).kernel_size > 0       # loads (all shards)


def test_budgets_share_what_is_left():
    run = _load("gpu_run")
    stages = [("a", 1.0, None), ("b", 3.0, None)]
    assert run.budgets_left(stages, 100.0) == pytest.approx([25.0, 75.0])
    assert run.budgets_left(stages[1:], 40.0) == pytest.approx([40.0])


def test_output_check(tmp_path):
    run = _load("gpu_run")
    for i in range(9):
        (tmp_path / f"f{i}.txt").write_text("x")
    (tmp_path / "sub").mkdir()
    problems = run.check_output(tmp_path)
    assert any("more than 8" in p for p in problems) and any("not a plain file" in p for p in problems)


def test_prepare_copies_what_the_stages_read(tmp_path):
    run = _load("gpu_run")
    dev = tmp_path / "dev"
    for rel in run.PREPARED:
        target = dev / rel
        if target.suffix:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(b"video")
        else:
            (target / "1").mkdir(parents=True)
            (target / "1" / "f0.png").write_bytes(b"png")
    dest = tmp_path / "prepared"
    assert run.prepare(dev, dest) == 0
    assert (dest / "videos" / "skv_bikes.mp4").read_bytes() == b"video"
    assert (dest / "triplets" / "ucf101_adacof" / "1" / "f0.png").exists()
    assert run.prepare(tmp_path / "nowhere", dest) == 2


def test_export_name(stages):
    assert stages.export_name("sepconv_w100_k51_gpu") == "sepconv_w100_k51_gpu_cont"
    assert stages.export_name("/w/sepconv_w100_k51_gpu-00001-of-00003.safetensors") == "sepconv_w100_k51_gpu_cont"


def test_train_stage_stops_at_its_budget_and_resumes(tmp_path, stages, monkeypatch):
    """First call: the (fake) clock runs out after the probe step and one more: checkpoint and
    weights written, status says stopped. Second call: resumes from the work folder's run and
    finishes the planned steps."""
    from frameweave.vfi_core import sepconv_train as T
    from frameweave.vfi_core.sepconv import SepConvNet
    from frameweave.vfi_core.weights import save_weights

    torch.manual_seed(0)
    (init,) = save_weights(SepConvNet(kernel_size=5, channels=[4, 4, 8, 8, 8]), tmp_path / "tiny.safetensors")
    args = types.SimpleNamespace(init=str(init), train_lr=1e-4, seed=0, save_every=100.0)
    out = tmp_path / "out"
    out.mkdir()
    ctx = types.SimpleNamespace(args=args, dry_run=True, work=tmp_path / "work", out=out, device_name="CPU",
                                weight_file_limit=5, trained=None, log=lambda text, echo=True: None)

    class Clock:
        now = -1.0

        def __call__(self):
            self.now += 1.0
            return self.now

    monkeypatch.setattr(T, "clock", Clock())
    first = stages.stage_train(ctx, 15.0)
    assert first.status.startswith("stopped") and 1 <= first.data["step"] < 3
    assert sorted(p.name for p in out.iterdir()) == ["tiny_cont.safetensors"]
    monkeypatch.setattr(T, "clock", Clock())
    monkeypatch.setattr(stages, "train_config", lambda ctx, start: T.TrainConfig(
        init=start, crop=32, batch=2, steps=10 ** 9, workers=1, device="cpu", log_every=1))   # the GPU's placeholder
    second = stages.stage_train(ctx, 1000.0)
    assert second.status == "ok" and second.data["step"] == 3
    assert second.data["steps_this_call"] == 3 - first.data["step"]
    assert ctx.trained["name"] == "tiny_cont"


def test_resize_clip_crops_to_the_aspect(stages):
    frames = torch.rand(2, 40, 100, 3)
    assert tuple(stages.resize_clip(frames, (24, 36)).shape) == (2, 24, 36, 3)
    flat = torch.zeros(1, 40, 100, 3)
    flat[:, :, :20] = 1.0                                   # a white band that the 3:2 crop cuts away
    assert float(stages.resize_clip(flat, (20, 30)).max()) == 0.0
    assert float(stages.resize_clip(flat, (20, 30), crop=False).max()) > 0.5


def test_videos_read_without_pyav(stages, dev_data, monkeypatch):
    """The GPU machine has OpenCV but not PyAV: the OpenCV path gives the frames PyAV gives."""
    path = dev_data / "videos" / "skv_carphone_pristine.mp4"
    with_av, _ = stages.read_clip(path, 2, 3)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "av" else real_find_spec(name, *a))
    with_cv2, timing = stages.read_clip(path, 2, 3)
    assert with_cv2.shape == with_av.shape and len(timing) == 3
    assert float((with_cv2 - with_av).abs().mean()) < 2 / 255
