"""benchmarks/gpu_run.py: the dry run leaves the promised files; budgets; the training stage resumes."""
import importlib.util
import json
import shutil
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


def travelling_copy(dest: Path) -> Path:
    """The tracked files of this checkout without the weights ``--prepare`` sets aside: what the
    device tool gets after ``--prepare``."""
    run = _load("gpu_run")
    keep = run.weights_the_run_reads(ROOT / "weights")
    for rel in run.git_paths(ROOT) or pytest.skip("needs git and a git checkout"):
        src = ROOT / rel
        if src.is_file() and (Path(rel).parent != Path("weights") or src.name in keep):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


@pytest.mark.slow
def test_dry_run_leaves_the_promised_files(tmp_path, stages):
    """Every stage at toy sizes on the CPU (what CI runs so the GPU command cannot rot), in a copy
    of the checkout without the weights --prepare sets aside (what travels to the GPU machine):
    exit 0, summary.md + log.txt + result.json + the trained weights, at most 8 files of at most
    16 MiB (what the device tool brings back), every stage ok. --minutes 10 only so that a loaded
    machine does not cut a stage; the toy work takes about a minute of CPU."""
    tree = travelling_copy(tmp_path / "tree")
    assert not list((tree / "weights").glob("sepconv_gan*"))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, tree / "benchmarks" / "gpu_run.py", "--dry-run", "--out", out,
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
    assert "absent (set aside by --prepare" in (out / "log.txt").read_text()
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


def fake_dev(run, dev: Path) -> Path:
    for rel in run.PREPARED:
        target = dev / rel
        if target.suffix:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(b"video")
        else:
            (target / "1").mkdir(parents=True)
            (target / "1" / "f0.png").write_bytes(b"png")
    return dev


def git(repo, *argv) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *argv], cwd=repo, check=True,
                          capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path):
    """A git repository shaped like this one: /runs/ ignored, weights/ with a manifest (sha256) for
    a default SepConv (two shards), a GAN and a second SepConv; a 1000-byte tracked README."""
    if shutil.which("git") is None:
        pytest.skip("needs git")
    from frameweave.vfi_core.weights import sha256_file

    root = tmp_path / "repo"
    (root / "weights").mkdir(parents=True)
    (root / ".gitignore").write_text("/runs/\n")
    (root / "README.md").write_bytes(b"r" * 1000)
    entries = []
    for name, method, default, sizes in [("sep_a", "sepconv", True, [3000, 2000]), ("sep_gan_b", "sepconv-gan", True, [5000]),
                                         ("sep_c", "sepconv", False, [4000])]:
        files = [f"{name}.safetensors"] if len(sizes) == 1 else [f"{name}-{i:05d}-of-{len(sizes):05d}.safetensors"
                                                                 for i in range(1, len(sizes) + 1)]
        for f, n in zip(files, sizes):
            (root / "weights" / f).write_bytes(bytes(range(256)) * (n // 256) + bytes(n % 256))
        entries.append({"name": name, "method": method, "default": default,
                        "files": [{"file": f, "sha256": sha256_file(root / "weights" / f)} for f in files]})
    (root / "weights" / "manifest.json").write_text(json.dumps({"weights": entries}))
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "init")
    return root


def test_travel_sizes_count_what_the_tool_copies(repo):
    """Tracked files present + untracked files not ignored + the carry; not ignored files, not a
    tracked file deleted from the working tree."""
    run = _load("gpu_run")
    base = run.travel_sizes(repo)
    assert base["README.md"] == 1000 and "weights/sep_c.safetensors" in base
    (repo / "new.txt").write_bytes(b"n" * 10)                      # untracked, travels
    (repo / "runs" / "carry").mkdir(parents=True)
    (repo / "runs" / "carry" / "x.bin").write_bytes(b"x" * 20)     # ignored, travels as carry
    (repo / "runs" / "other.bin").write_bytes(b"o" * 40)           # ignored, stays
    (repo / "README.md").unlink()                                  # deleted: assumed not to travel
    sizes = run.travel_sizes(repo, [repo / "runs" / "carry"])
    assert sum(sizes.values()) == sum(base.values()) - 1000 + 10 + 20
    assert sizes["new.txt"] == 10 and sizes["runs/carry/x.bin"] == 20 and "runs/other.bin" not in sizes


def test_weights_the_run_reads(repo):
    run = _load("gpu_run")
    default = {"manifest.json", "sep_a-00001-of-00002.safetensors", "sep_a-00002-of-00002.safetensors"}
    assert run.weights_the_run_reads(repo / "weights") == default
    assert run.weights_the_run_reads(repo / "weights", init="sep_c") == default | {"sep_c.safetensors"}


def test_prepare_sets_aside_and_restore_puts_back(repo, tmp_path, capsys):
    """Over the limit: the GAN and the second SepConv go to runs/weights_set_aside (printed), git
    shows them deleted, what travels is under the limit; --restore brings them back checked
    against the manifest's sha256, git status clean."""
    from frameweave.vfi_core.weights import read_manifest, sha256_file

    run = _load("gpu_run")
    dest = repo / "runs" / "gpu_data"
    limit = sum(run.travel_sizes(repo).values())                   # + the carry: over; without b, c: under
    assert run.prepare(fake_dev(run, tmp_path / "dev"), dest, root=repo, limit=limit) == 0
    assert (dest / "videos" / "skv_bikes.mp4").read_bytes() == b"video"
    assert (dest / "triplets" / "ucf101_adacof" / "1" / "f0.png").exists()
    printed = capsys.readouterr().out
    assert "set aside: weights/sep_gan_b.safetensors" in printed and "set aside: weights/sep_c.safetensors" in printed
    aside = repo / "runs" / "weights_set_aside"
    assert sorted(p.name for p in aside.iterdir()) == ["sep_c.safetensors", "sep_gan_b.safetensors"]
    assert git(repo, "ls-files", "--deleted").split() == ["weights/sep_c.safetensors", "weights/sep_gan_b.safetensors"]
    total = sum(run.travel_sizes(repo, [dest]).values())
    assert total <= limit and f"= {run.mib(total)} of" in printed
    assert run.restore(repo / "weights", aside) == 0
    assert not aside.exists() and git(repo, "status", "--porcelain") == ""
    for e in read_manifest(repo / "weights")["weights"]:
        assert all(sha256_file(repo / "weights" / f["file"]) == f["sha256"] for f in e["files"])
    assert run.restore(repo / "weights", aside) == 0                # nothing set aside: nothing to do


def test_prepare_moves_nothing_under_the_limit(repo, tmp_path):
    run = _load("gpu_run")
    assert run.prepare(fake_dev(run, tmp_path / "dev"), repo / "runs" / "gpu_data", root=repo) == 0
    assert not (repo / "runs" / "weights_set_aside").exists() and git(repo, "status", "--porcelain") == ""
    assert run.prepare(tmp_path / "nowhere", repo / "runs" / "gpu_data", root=repo) == 2


def test_prepare_warns_when_still_over(repo, tmp_path, capsys):
    run = _load("gpu_run")
    assert run.prepare(fake_dev(run, tmp_path / "dev"), repo / "runs" / "gpu_data", root=repo, limit=100) == 1
    err = capsys.readouterr().err
    assert "warning: over the limit" in err and "weights/sep_a-00001-of-00002.safetensors" in err
    assert run.restore(repo / "weights", repo / "runs" / "weights_set_aside") == 0


def test_restore_keeps_a_file_that_does_not_match(repo, tmp_path):
    run = _load("gpu_run")
    aside = repo / "runs" / "weights_set_aside"
    run.prepare(fake_dev(run, tmp_path / "dev"), repo / "runs" / "gpu_data", root=repo, limit=100)
    (aside / "sep_c.safetensors").write_bytes(b"changed")
    assert run.restore(repo / "weights", aside) == 1
    assert (aside / "sep_c.safetensors").exists() and (repo / "weights" / "sep_gan_b.safetensors").exists()
    assert git(repo, "ls-files", "--deleted").split() == ["weights/sep_c.safetensors"]


def test_set_aside_weights_are_a_clear_error(repo, tmp_path, monkeypatch):
    """Asked for after --prepare, the GAN weights' error names the missing file."""
    from frameweave.vfi_core import sepconv_infer as I
    from frameweave.vfi_core import weights as W

    run = _load("gpu_run")
    run.prepare(fake_dev(run, tmp_path / "dev"), repo / "runs" / "gpu_data", root=repo, limit=100)
    monkeypatch.setattr(W, "WEIGHTS_DIR", repo / "weights")
    assert I.default_weights_name("sepconv") == "sep_a"
    with pytest.raises(I.MissingWeightsError, match="missing: .*sep_gan_b.safetensors"):
        I.default_weights_name("sepconv-gan")
    with pytest.raises(ValueError, match="missing .*sep_c.safetensors"):
        W.resolve("sep_c")


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
