"""SepConv training: exact resume from checkpoints, the loss goes down, CLI, errors."""
import json

import pytest
import torch

from frameweave.vfi_core import sepconv_train as T
from frameweave.vfi_core.synthetic_motion import load_photos
from frameweave.vfi_core.triplet_data import SyntheticSource


@pytest.fixture(scope="module")
def source():
    return SyntheticSource((32, 32), reach=2, max_shift=1, photos=load_photos(("astronaut", "coffee"), max_side=128))


def config(**kw):
    base = dict(kernel_size=5, width=0.125, batch=2, crop=32, lr=1e-3, seed=3, checkpoint_every=2,
                val_every=1000, log_every=1, device="cpu")
    base.update(kw)
    return T.TrainConfig(**base)


def test_exact_resume(tmp_path, source):
    """2 steps in one go == 1 step, checkpoint, fresh trainer and RNG, resume, 1 more step."""
    straight = T.SepConvTrainer(config(), source=source)
    straight.run(2, log=lambda s: None)

    first = T.SepConvTrainer(config(checkpoint_every=1), source=source)
    first.run(1, tmp_path, log=lambda s: None)
    ckpt = T.latest_checkpoint(tmp_path)
    assert ckpt.name == "ckpt-0000001.json"
    torch.manual_seed(999)                                   # disturb the global RNG
    resumed = T.SepConvTrainer(config(seed=77), source=source)   # different init and data seed
    T.load_checkpoint(resumed, ckpt)
    assert resumed.step == 1
    resumed.run(2, log=lambda s: None)
    for (k, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6, msg=k)
    sa = straight.optimizers["generator"].state_dict()["state"]
    sb = resumed.optimizers["generator"].state_dict()["state"]
    torch.testing.assert_close(sa[0]["exp_avg_sq"], sb[0]["exp_avg_sq"], rtol=0, atol=1e-9)
    assert straight.stream.state() == resumed.stream.state()


def test_checkpoint_files_are_not_pickle(tmp_path, source):
    trainer = T.SepConvTrainer(config(keep_checkpoints=1), source=source)
    trainer.run(4, tmp_path, log=lambda s: None)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["ckpt-0000004.json", "ckpt-0000004.safetensors", "latest.json", "log.jsonl"]
    state = json.loads((tmp_path / "ckpt-0000004.json").read_text())
    assert state["step"] == 4 and state["architecture"]["kernel_size"] == 5
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4] and "val_psnr" in log[-1]
    # an adversarial run with an extra module starts its generator from this plain checkpoint
    gan = T.SepConvTrainer(config(), source=source)
    gan.modules["discriminator"] = torch.nn.Conv2d(3, 1, 3)
    gan.optimizers["discriminator"] = torch.optim.Adam(gan.modules["discriminator"].parameters())
    with pytest.raises(ValueError, match="no weights for module 'discriminator'"):
        T.load_checkpoint(gan, tmp_path / "ckpt-0000004.json")
    T.load_checkpoint(gan, tmp_path / "ckpt-0000004.json", strict=False)
    assert gan.step == 0
    torch.testing.assert_close(gan.model.conv1[0].weight, trainer.model.conv1[0].weight, rtol=0, atol=0)
    # a corrupted tensor file is refused
    st = tmp_path / "ckpt-0000004.safetensors"
    data = st.read_bytes()
    st.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    with pytest.raises(ValueError, match="sha256"):
        T.load_checkpoint(T.SepConvTrainer(config(), source=source), tmp_path / "ckpt-0000004.json")


@pytest.fixture(scope="module")
def big_source():
    return SyntheticSource((32, 32), reach=4, max_shift=1, photos=load_photos(("astronaut", "coffee"), max_side=128))


def test_few_steps_reduce_the_loss(big_source):
    """Adam steps on one fixed batch lower the colour loss below the blend initialisation's
    (SepConv learns slowly: a few percent in 15 steps)."""
    trainer = T.SepConvTrainer(config(kernel_size=9, lr=3e-4), source=big_source)
    batch = trainer.next_batch()
    losses = [trainer.generator_step(batch)["loss"] for _ in range(15)]
    assert max(losses[-3:]) < 0.985 * losses[0]


def test_reconstruction_loss():
    a, b = torch.zeros(1, 3, 2, 2), torch.full((1, 3, 2, 2), 0.5)
    assert T.reconstruction_loss(a, b, "l1").item() == pytest.approx(0.5)
    assert T.reconstruction_loss(a, b, "l2").item() == pytest.approx(0.25)
    with pytest.raises(ValueError, match="unknown loss"):
        T.reconstruction_loss(a, b, "l3")


def test_config_exceptions(tmp_path):
    with pytest.raises(ValueError, match="loss"):
        T.TrainConfig(loss="huber")
    with pytest.raises(ValueError, match="multiple of 32"):
        T.TrainConfig(crop=100)
    with pytest.raises(ValueError, match="batch"):
        T.TrainConfig(batch=0)
    with pytest.raises(ValueError, match="no training data"):
        T.build_source(T.TrainConfig(data=[]), reach=5)
    with pytest.raises(ValueError, match="static_fraction"):
        T.TrainConfig(static_fraction=1.5)


def test_init_from_weights_file(tmp_path, source):
    """--init: the run starts from given weights (architecture included), not the linear blend."""
    from frameweave.vfi_core.sepconv import SepConvNet
    from frameweave.vfi_core.weights import save_weights

    torch.manual_seed(4)
    start = SepConvNet(kernel_size=5, channels=[4, 4, 8, 8, 8])
    (path,) = save_weights(start, tmp_path / "start.safetensors")
    trainer = T.SepConvTrainer(config(init=str(path), kernel_size=7), source=source)
    assert trainer.config.generator_architecture == start.architecture()
    for k, v in start.state_dict().items():
        assert torch.equal(trainer.model.state_dict()[k], v), k
    (tmp_path / "run").mkdir()
    trainer.run(1, tmp_path / "run", log=lambda s: None)          # trains, and resumes without the file
    path.unlink()
    resumed = T.train(config(init=str(path), steps=2), tmp_path / "run", resume=True, log=lambda s: None)
    assert resumed.step == 2 and resumed.model.architecture() == start.architecture()
    from frameweave.vfi_core.weights import register_checkpoint
    (tmp_path / "w").mkdir()
    entry = register_checkpoint(tmp_path / "run", "finetuned", fp16=False, folder=tmp_path / "w")
    assert entry["training"]["init"] == f"generator from {path}"
    assert entry["training"]["recipe"]["static_fraction"] == 0.25
    assert entry["architecture"] == start.architecture()


def test_resume_of_a_run_from_before_static_fraction(tmp_path, source):
    """A checkpoint whose config has no static_fraction resumes with 0 (its motion-only data)."""
    trainer = T.SepConvTrainer(config(checkpoint_every=1), source=source)
    trainer.run(1, tmp_path, log=lambda s: None)
    ckpt = T.latest_checkpoint(tmp_path)
    state = json.loads(ckpt.read_text())
    del state["config"]["static_fraction"]
    ckpt.write_text(json.dumps(state))
    resumed = T.train(config(steps=1), tmp_path, resume=True, log=lambda s: None)
    assert resumed.config.static_fraction == 0.0


def test_cli_train_resume_export(tmp_path, capsys):
    from frameweave.vfi_core.train_cli import main
    from frameweave.vfi_core.weights import load_weights

    run = tmp_path / "run"
    args = ["sepconv", "--data", "synthetic", "--out", str(run), "--kernel-size", "3", "--width", "0.125",
            "--crop", "32", "--batch", "1", "--val-every", "1000", "--checkpoint-every", "1"]
    assert main(args + ["--steps", "1"]) == 0
    assert main(args + ["--steps", "1"]) == 2                # refuses to overwrite a run
    assert "--resume" in capsys.readouterr().err
    assert main(args + ["--steps", "2", "--resume"]) == 0
    assert json.loads((run / "latest.json").read_text())["step"] == 2
    assert main(["export", str(run), str(tmp_path / "out.safetensors"), "--fp16"]) == 0
    net = load_weights(str(tmp_path / "out.safetensors"))
    assert net.kernel_size == 3
    from frameweave.vfi_core.weights import read_manifest, register_checkpoint
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    entry = register_checkpoint(run, "tiny_run", fp16=True, folder=shipped)
    assert entry["training"]["steps"] == 2 and entry["architecture"]["kernel_size"] == 3
    assert read_manifest(shipped)["weights"][0]["files"][0]["file"] == "tiny_run.safetensors"
    assert load_weights("tiny_run", [shipped]).kernel_size == 3           # sha256-verified load
    assert main(["nonsense"]) == 2


def test_mixed_precision_steps_on_cpu(monkeypatch, source):
    """The GPU recipe's bfloat16 autocast, run on a CPU: steps are finite and change the weights
    (the kernel maps come out in bfloat16 while the frames stay float32)."""
    monkeypatch.setattr(T, "mixed_precision_pays", lambda device: True)
    trainer = T.SepConvTrainer(config(amp=True), source=source)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    logs = [trainer.generator_step(trainer.next_batch()) for _ in range(2)]
    assert all(torch.isfinite(log["loss"]) for log in logs)
    assert any(not torch.equal(before[k], v) for k, v in trainer.model.state_dict().items())


def _weights_close(a, b, atol=1e-6):
    for (k, x), y in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        torch.testing.assert_close(x, y, rtol=0, atol=atol, msg=k)


def test_exact_resume_with_data_workers(tmp_path, source):
    """With 2 data worker processes: 3 steps straight == 1 step, checkpoint, fresh trainer (other
    seed, disturbed RNG), resume with 2 workers, 2 more steps (the next batch is stream 1's)."""
    straight = T.SepConvTrainer(config(workers=2), source=source)
    straight.run(3, log=lambda s: None)
    first = T.SepConvTrainer(config(workers=2, checkpoint_every=1), source=source)
    first.run(1, tmp_path, log=lambda s: None)
    saved = json.loads(T.latest_checkpoint(tmp_path).read_text())
    assert saved["data_rng"]["workers"] == 2 and saved["data_rng"]["next"] == 1
    torch.manual_seed(999)
    resumed = T.SepConvTrainer(config(seed=77, workers=2), source=source)
    T.load_checkpoint(resumed, T.latest_checkpoint(tmp_path))
    resumed.run(3, log=lambda s: None)
    _weights_close(straight, resumed)
    assert straight.stream.state() == resumed.stream.state()


def test_one_data_worker_trains_like_the_in_process_stream(source):
    a = T.SepConvTrainer(config(workers=0), source=source)
    b = T.SepConvTrainer(config(workers=1), source=source)
    a.run(2, log=lambda s: None)
    b.run(2, log=lambda s: None)
    _weights_close(a, b, atol=0)


def test_resume_takes_the_run_s_worker_count_unless_given():
    saved = T.TrainConfig(workers=2).__dict__
    assert T.resumed_config(saved, T.TrainConfig(workers=None)).workers == 2
    assert T.resumed_config(saved, T.TrainConfig(workers=0)).workers == 0
    old = {k: v for k, v in saved.items() if k != "workers"}              # a run from before workers
    assert T.resumed_config(old, T.TrainConfig(workers=None)).workers == 0


def _loss_curve(source, steps=3, **kw):
    trainer = T.SepConvTrainer(config(**kw), source=source)
    return [float(trainer.train_step()["loss"]) for _ in range(steps)], trainer


@pytest.mark.parametrize("switch", [{"channels_last": True}, {"adam": "fused"}, {"adam": "foreach"},
                                    {"compile": "aot_eager"}])
def test_speed_switches_keep_the_loss_curve(source, switch):
    """Layout, Adam implementation and torch.compile leave the maths alone: the same loss curve and
    weights as the plain CPU run, to float rounding."""
    want, plain = _loss_curve(source)
    got, fast = _loss_curve(source, **switch)
    assert got == pytest.approx(want, rel=1e-5, abs=1e-7)
    _weights_close(plain, fast, atol=1e-5)
    assert plain.channels_last is False and fast.channels_last is bool(switch.get("channels_last"))


def test_log_every_reads_the_same_means(source):
    """The step returns device tensors; a log line every 3 steps holds the mean of what 3 lines of
    one step each hold."""
    trainer = T.SepConvTrainer(config(), source=source)
    assert all(isinstance(v, torch.Tensor) for v in trainer.generator_step(trainer.next_batch()).values())
    lines = {}
    for every in (1, 3):
        records = []
        T.SepConvTrainer(config(log_every=every), source=source).run(3, log=lambda s: records.append(json.loads(s)))
        lines[every] = records
    assert [r["step"] for r in lines[1]] == [1, 2, 3] and [r["step"] for r in lines[3]] == [3]
    for key in ("loss", "train_psnr"):
        assert lines[3][0][key] == pytest.approx(sum(r[key] for r in lines[1]) / 3, rel=1e-6)
    assert 0 <= lines[3][0]["data_wait_frac"] <= 1 and lines[3][0]["samples_per_s"] > 0


def test_cosine_learning_rate(source):
    cfg = config(lr=1e-3, steps=4, lr_schedule="cosine")
    assert [T.learning_rate(cfg, s) for s in (0, 2, 4)] == pytest.approx([1e-3, 5e-4, 0.0])
    assert T.learning_rate(config(lr=1e-3, steps=4), 2) == 1e-3
    trainer = T.SepConvTrainer(cfg, source=source)
    trainer.train_step()
    trainer.train_step()
    assert trainer.optimizers["generator"].param_groups[0]["lr"] == pytest.approx(T.learning_rate(cfg, 1))
    with pytest.raises(ValueError, match="lr_schedule"):
        config(lr_schedule="linear")


class FakeClock:
    """One second per reading."""

    def __init__(self):
        self.now = -1.0

    def __call__(self):
        self.now += 1.0
        return self.now


def test_deadline_stops_cleanly_with_a_checkpoint(tmp_path, source, monkeypatch):
    """A run past its deadline stops after the step that crossed it, says so and saves that step;
    checkpoint_seconds adds saves by time (fake clock: one second per step)."""
    monkeypatch.setattr(T, "clock", FakeClock())
    trainer = T.SepConvTrainer(config(checkpoint_every=1000, checkpoint_seconds=2, keep_checkpoints=10), source=source)
    lines = []
    assert trainer.run(100, tmp_path, log=lines.append, deadline=4.5) == "deadline"
    assert trainer.step == 5
    assert json.loads(lines[-1]) == {"step": 5, "stopped": "time budget reached"}
    assert sorted(p.name for p in tmp_path.glob("ckpt-*.json")) == [
        "ckpt-0000002.json", "ckpt-0000004.json", "ckpt-0000005.json"]
    assert trainer.run(7, tmp_path, log=lines.append) == "steps" and trainer.step == 7


def test_speed_config_exceptions():
    with pytest.raises(ValueError, match="adam"):
        config(adam="sgd")
    with pytest.raises(ValueError, match="workers"):
        config(workers=-1)
    with pytest.raises(ValueError, match="checkpoint_seconds"):
        config(checkpoint_seconds=-1)


@pytest.mark.cuda
def test_cuda_step_never_waits_for_the_device(source):
    """No host synchronisation inside a training step on a GPU (torch raises on one in sync
    debug mode "error"): data copy, bf16 forward, kernel, loss, fused Adam and the logged numbers."""
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    trainer = T.SepConvTrainer(config(device="cuda", kernel_size=9), source=source)
    trainer.train_step()                                     # warm-up: allocations, kernel compilation
    batch = trainer.next_batch()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        logs = [trainer.generator_step(batch) for _ in range(3)]
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert all(torch.isfinite(log["loss"]) for log in logs)


@pytest.mark.cuda
def test_cuda_channels_last_network_matches_contiguous():
    """The CUDA path of separable_local_conv gets channels-last kernel maps from a channels-last
    network: its output must equal the contiguous network's."""
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    from frameweave.vfi_core.sepconv import SepConvNet
    torch.manual_seed(0)
    net = SepConvNet(kernel_size=9, width=0.125).cuda().eval()
    a, b = torch.rand(2, 2, 3, 64, 64, device="cuda")
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False                 # both layouts in full float32
    try:
        with torch.no_grad():
            want = net(a, b)
            net = net.to(memory_format=torch.channels_last)
            got = net(*(x.contiguous(memory_format=torch.channels_last) for x in (a, b)))
    finally:
        torch.backends.cudnn.allow_tf32 = tf32
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
