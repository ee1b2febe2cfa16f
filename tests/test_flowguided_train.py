"""Flow-guided training: samples at any t with flows, exact resume, export, CLI, errors."""
import json

import numpy as np
import pytest
import torch

from frameweave.vfi_core import flowguided_train as T
from frameweave.vfi_core.flowguided_data import FlowSample, FlowSampleStream, FolderAnyTime, SyntheticAnyTime, flip_reverse
from frameweave.vfi_core.sepconv_train import latest_checkpoint, load_checkpoint
from frameweave.vfi_core.synthetic_motion import load_photos


@pytest.fixture(scope="module")
def source():
    return SyntheticAnyTime((32, 32), max_disp=3, photos=load_photos(("astronaut", "coffee"), max_side=128))


def config(**kw):
    base = dict(kernel_size=3, channels=[4, 4, 4, 4], batch=2, crop=32, lr=1e-3, seed=3, checkpoint_every=2,
                val_every=1000, log_every=1, device="cpu", preset="ultrafast")
    base.update(kw)
    return T.FlowGuidedConfig(**base)


def test_stream_batches(source):
    batch = FlowSampleStream(source, batch=3, seed=1, preset="ultrafast").next_batch()
    assert batch["first"].shape == batch["target"].shape == batch["last"].shape == (3, 32, 32, 3)
    assert batch["flow_01"].shape == batch["flow_10"].shape == (3, 32, 32, 2)
    assert batch["t"].shape == (3,) and ((batch["t"] > 0) & (batch["t"] < 1)).all()


def test_synthetic_frame_at_t_is_exact(source):
    """Rendered at t, not blended: a still scene gives the same frame at every t."""
    rng = np.random.default_rng(0)
    still = SyntheticAnyTime((32, 32), max_disp=0, photos=source.synth.photos, static_fraction=0.0)
    s = still.sample(rng)
    np.testing.assert_allclose(s.target, s.first, atol=1e-6)
    assert 0 < source.sample(rng).t < 1


def test_reversal_maps_t_to_one_minus_t():
    f = [np.full((2, 2, 3), v, np.float32) for v in (0.0, 0.3, 1.0)]
    seen = set()
    for seed in range(12):
        s = flip_reverse(FlowSample(*f, 0.3), np.random.default_rng(seed))
        seen.add((round(s.t, 6), float(s.first[0, 0, 0])))
    assert seen == {(0.3, 0.0), (0.7, 1.0)}


def test_folder_any_time(tmp_path, make_clip):
    from PIL import Image

    clip = (make_clip(6, size=(40, 40), step=(1.0, 2.0)).numpy() * 255).round().astype(np.uint8)
    for i, frame in enumerate(clip):
        Image.fromarray(frame).save(tmp_path / f"{i:03d}.png")
    src = FolderAnyTime([tmp_path], crop=(32, 32), max_gap=3)
    assert {n for _, _, n in src.index} == {2, 3}
    rng = np.random.default_rng(0)
    ts = {round(src.sample(rng).t, 4) for _ in range(40)}
    assert ts <= {0.5, round(1 / 3, 4), round(2 / 3, 4)} and len(ts) >= 2
    with pytest.raises(ValueError, match="max_gap"):
        FolderAnyTime([tmp_path], crop=(32, 32), max_gap=1)
    with pytest.raises(ValueError, match="no usable"):
        FolderAnyTime([tmp_path], crop=(64, 64))


def test_exact_resume(tmp_path, source):
    """2 steps in one go == 1 step, checkpoint, a fresh trainer, resume, 1 more step."""
    straight = T.FlowGuidedTrainer(config(), source=source)
    straight.run(2, log=lambda s: None)
    first = T.FlowGuidedTrainer(config(checkpoint_every=1), source=source)
    first.run(1, tmp_path, log=lambda s: None)
    torch.manual_seed(999)
    resumed = T.FlowGuidedTrainer(config(seed=77), source=source)
    load_checkpoint(resumed, latest_checkpoint(tmp_path))
    assert resumed.step == 1
    resumed.run(2, log=lambda s: None)
    for (k, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6, msg=k)
    assert not torch.equal(straight.model.head.weight, torch.zeros_like(straight.model.head.weight))


def test_run_log_validation_and_export(tmp_path, source):
    trainer = T.FlowGuidedTrainer(config(), source=source)
    trainer.run(2, tmp_path / "run", log=lambda s: None)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert log[0]["step"] == 0 and log[0]["val_psnr"]["synthetic"] == log[0]["val_psnr"]["synthetic_flow_warp"]
    assert [r["step"] for r in log[1:]] == [1, 2] and "cpu_sec_per_step" in log[1] and "val_psnr" in log[-1]
    entry = T.register_run(tmp_path / "run", "fg_test", folder=tmp_path / "w")
    assert entry["method"] == "flowguided" and entry["training"]["steps"] == 2
    manifest = json.loads((tmp_path / "w" / "manifest.json").read_text())
    assert [e["name"] for e in manifest["weights"]] == ["fg_test"]
    model = T.load_run_model(tmp_path / "w" / "fg_test.safetensors")
    torch.testing.assert_close(model.head.weight, trainer.model.head.weight)


def test_config_and_run_errors(tmp_path, source):
    with pytest.raises(ValueError, match="multiple of 16"):
        config(crop=40)
    with pytest.raises(ValueError, match="lr"):
        config(lr=0)
    with pytest.raises(ValueError, match="kernel_size"):
        config(kernel_size=4)
    from frameweave.vfi_core import sepconv_train
    sep = sepconv_train.SepConvTrainer(sepconv_train.TrainConfig(kernel_size=3, width=0.125, batch=1, crop=32,
                                                                 checkpoint_every=1, val_every=1000),
                                       source=_sepconv_source())
    (tmp_path / "sep").mkdir()
    sep.run(1, tmp_path / "sep", log=lambda s: None)
    with pytest.raises(ValueError, match="not a flow-guided"):
        T.train(config(steps=2), tmp_path / "sep", resume=True, log=lambda s: None)
    with pytest.raises(ValueError, match="not a flow-guided run"):
        T.load_run_model(tmp_path / "sep")


def _sepconv_source():
    from frameweave.vfi_core.triplet_data import SyntheticSource
    return SyntheticSource((32, 32), reach=2, max_shift=1, photos=load_photos(("astronaut",), max_side=128))


def test_cli(tmp_path, capsys):
    from frameweave.vfi_core.train_cli import main

    out = tmp_path / "run"
    args = ["flowguided", "--steps", "1", "--out", str(out), "--batch", "1", "--crop", "32", "--channels", "4,4,4,4",
            "--kernel-size", "3", "--preset", "ultrafast", "--threads", "1"]
    assert main(args) == 0
    assert (out / "latest.json").exists()
    assert main(["flowguided", *args[1:3], "--out", str(out), "--kernel-size", "4"]) == 2
    assert "kernel-size" in capsys.readouterr().err
    assert main(["flowguided", "export", str(out), "fg_cli", "--folder", str(tmp_path / "w")]) == 0
    assert (tmp_path / "w" / "fg_cli.safetensors").exists()


def test_init_from_a_run(tmp_path, source):
    first = T.FlowGuidedTrainer(config(), source=source)
    first.run(1, tmp_path / "a", log=lambda s: None)
    second = T.FlowGuidedTrainer(config(init=str(tmp_path / "a")), source=source)
    assert torch.equal(second.model.head.weight, first.model.head.weight)
    assert second.step == 0 and not second.optimizers["generator"].state
    with pytest.raises(ValueError, match="start weights"):
        T.FlowGuidedTrainer(config(init=str(tmp_path / "a"), kernel_size=5), source=source)


def test_synthetic_noise(source):
    photos = source.synth.photos
    clean = SyntheticAnyTime((32, 32), max_disp=0, photos=photos, static_fraction=0.0)
    noisy = SyntheticAnyTime((32, 32), max_disp=0, photos=photos, static_fraction=0.0, noise=0.05)
    a, b = clean.sample(np.random.default_rng(5)), noisy.sample(np.random.default_rng(5))
    assert np.abs(b.target - b.first).max() > 0.01                     # independent noise per frame
    assert np.abs(a.target - a.first).max() < 1e-6
    assert 0.0 <= b.first.min() and b.first.max() <= 1.0
    with pytest.raises(ValueError, match="noise"):
        SyntheticAnyTime((32, 32), photos=photos, noise=-0.1)


def _clip_folder(tmp_path, make_clip, frames=8, repeat=None):
    from PIL import Image

    clip = (make_clip(frames, size=(48, 64), step=(1.0, 2.0)).numpy() * 255).round().astype(np.uint8)
    if repeat is not None:                                   # frame `repeat` shown twice (a 24 -> 25 fps duplicate)
        clip = np.concatenate([clip[:repeat + 1], clip[repeat:]])
    for i, frame in enumerate(clip):
        Image.fromarray(frame).save(tmp_path / f"{i:03d}.png")
    return clip


def test_repeated_frames_are_found():
    from frameweave.vfi_core.flowguided_data import repeated_frames

    rng = np.random.default_rng(0)
    moving = rng.integers(0, 255, (6, 8, 8, 3)).astype(np.uint8)
    dup = np.concatenate([moving[:3], moving[2:]])                        # frame 3 repeats frame 2
    assert repeated_frames(dup).tolist() == [False, False, False, True, False, False, False]
    assert not repeated_frames(moving).any()
    still = np.repeat(moving[:1], 5, axis=0)                              # a still clip repeats nothing
    assert not repeated_frames(still).any()


def test_folder_scales_holdout_repeats(tmp_path, make_clip):
    _clip_folder(tmp_path, make_clip, frames=9, repeat=4)                 # 10 files, 9 distinct frames
    src = FolderAnyTime([tmp_path], crop=(16, 16), max_gap=2, scales=(1.0, 0.5), drop_repeats=True, holdout=3)
    assert src.rejected["repeated_frames"] == 1
    assert [f.shape for f in src.frames] == [(6, 48, 64, 3), (6, 24, 32, 3)]
    assert sorted(src.index) == [(c, i, 2) for c in (0, 1) for i in range(4)]
    held = src.held_out_samples(scale=0.5)
    assert [s.t for s in held] == [0.5] and held[0].first.shape == (24, 32, 3)
    with pytest.raises(ValueError, match="scales"):
        FolderAnyTime([tmp_path], crop=(16, 16), scales=(1.5,))
    with pytest.raises(ValueError, match="holdout"):
        FolderAnyTime([tmp_path], crop=(16, 16), holdout=-1)


def test_full_frame_flows_travel_with_the_crop(tmp_path, make_clip):
    """Whole-frame flows are computed once per window, cropped and flipped with the frames and used by collate."""
    from frameweave.vfi_core.flow import dis_estimator

    _clip_folder(tmp_path, make_clip, frames=4)
    src = FolderAnyTime([tmp_path], crop=(32, 32), max_gap=2, full_flows=True, preset="ultrafast")
    f01, f10 = src.window_flows(0, 0, 2)
    assert f01.shape == (48, 64, 2) and f01.dtype == np.float16 and src.window_flows(0, 0, 2)[0] is f01
    rng = np.random.default_rng(1)
    samples = [src.sample(rng) for _ in range(6)]
    assert all(s.flow_01.shape == (32, 32, 2) and s.flow_01.dtype == np.float32 for s in samples)
    batch = T.collate(samples, dis_estimator("ultrafast"))
    np.testing.assert_array_equal(batch["flow_10"].numpy(), np.stack([s.flow_10 for s in samples]))
    # the pan moves +2 px in x per frame: any flip / reversal keeps the flow pointing from first to last
    for s in samples:
        assert np.sign(np.median(s.flow_01[..., 0])) == -np.sign(np.median(s.flow_10[..., 0]))


def test_flip_reverse_moves_flows_with_frames():
    rng = np.random.default_rng(0)
    frames = [rng.random((4, 5, 3)).astype(np.float32) for _ in range(3)]
    f01, f10 = (rng.random((4, 5, 2)).astype(np.float32) for _ in range(2))
    for seed in range(16):
        s = flip_reverse(FlowSample(*frames, 0.25, f01, f10), np.random.default_rng(seed))
        reverse = s.t == 0.75
        src0, src1 = (frames[2], frames[0]) if reverse else (frames[0], frames[2])
        flow0, flow1 = (f10, f01) if reverse else (f01, f10)
        for flip_x in (False, True):
            for flip_y in (False, True):
                def tf(a, flow=False, fx=flip_x, fy=flip_y):
                    a = a[:, ::-1] if fx else a
                    a = a[::-1] if fy else a
                    return a * np.array([-1.0 if fx else 1.0, -1.0 if fy else 1.0], np.float32) if flow else a
                if np.array_equal(s.first, tf(src0)):
                    assert np.array_equal(s.last, tf(src1))
                    np.testing.assert_array_equal(s.flow_01, tf(flow0, True))
                    np.testing.assert_array_equal(s.flow_10, tf(flow1, True))
                    break
            else:
                continue
            break
        else:
            raise AssertionError(f"seed {seed}: frames are no flip of the input")


def test_learning_rate_schedule():
    c = config(lr=1e-3, lr_schedule="cosine", lr_steps=110, warmup=10)
    assert T.learning_rate(c, 0) == pytest.approx(1e-4) and T.learning_rate(c, 9) == pytest.approx(1e-3)
    assert T.learning_rate(c, 10) == pytest.approx(1e-3) and T.learning_rate(c, 60) == pytest.approx(5e-4)
    assert T.learning_rate(c, 110) == pytest.approx(0.0, abs=1e-12) and T.learning_rate(c, 500) == pytest.approx(0.0, abs=1e-12)
    assert T.learning_rate(config(lr=2e-4), 1234) == 2e-4
    with pytest.raises(ValueError, match="lr_schedule"):
        config(lr_schedule="step")


def test_resume_takes_the_runs_definition(tmp_path, source):
    """``train(resume=True)`` continues with the saved recipe (lr, schedule); the command sets only the length.
    A new cosine run decays over its own steps."""
    run = tmp_path / "run"
    T.train(config(steps=1, lr_schedule="cosine", val_every=1000), run, log=lambda s: None)
    assert json.loads((run / "config.json").read_text())["lr_steps"] == 1
    resumed = T.train(config(steps=2, lr=5e-2), run, resume=True, log=lambda s: None)
    assert resumed.step == 2 and resumed.config.lr == 1e-3 and resumed.config.lr_schedule == "cosine"
    with pytest.raises(ValueError, match="already holds"):
        T.train(config(steps=1), run, log=lambda s: None)


def test_held_out_validation(tmp_path, make_clip):
    _clip_folder(tmp_path, make_clip, frames=10)
    cfg = config(data=[str(tmp_path)], crop=16, max_gap=2, holdout=5, full_flows=True)
    trainer = T.FlowGuidedTrainer(cfg)
    val = trainer.validate(with_flow_warp=True)
    assert val["held_out"] == val["held_out_flow_warp"] and set(val) >= {"synthetic", "held_out"}


def test_log_mse_loss_is_the_mean_psnr():
    """log_mse = -(ln 10 / 10) · mean per-sample PSNR; l1 is SepConv's; the log carries the gain over the Flow Warp."""
    import math

    rng = torch.Generator().manual_seed(0)
    target = torch.rand(3, 3, 8, 8, generator=rng)
    pred = target + 0.01 * torch.arange(1, 4).view(3, 1, 1, 1) * torch.randn(3, 3, 8, 8, generator=rng)
    mse = (pred - target).pow(2).flatten(1).mean(1)
    psnr = -10 * torch.log10(mse + 1e-6)
    torch.testing.assert_close(T.flowguided_loss(pred, target, "log_mse"), -math.log(10) / 10 * psnr.mean())
    torch.testing.assert_close(T.flowguided_loss(pred, target, "l1"), (pred - target).abs().mean())
    with pytest.raises(ValueError, match="loss"):
        config(loss="l2")


def test_log_records_gain_over_the_flow_warp(tmp_path, source):
    trainer = T.FlowGuidedTrainer(config(loss="log_mse"), source=source)
    trainer.run(1, tmp_path / "run", log=lambda s: None)
    rec = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()][-1]
    assert rec["gain_db"] == pytest.approx(0.0, abs=1e-6)      # the first step's prediction is the Flow Warp


def test_moving_average_is_validated_exported_and_resumed(tmp_path, source):
    trainer = T.FlowGuidedTrainer(config(ema=0.5, checkpoint_every=1), source=source)
    start = trainer.model.head.weight.detach().clone()                  # zero: the Flow Warp
    trainer.run(1, tmp_path / "run", log=lambda s: None)
    torch.testing.assert_close(trainer.eval_model.head.weight, 0.5 * start + 0.5 * trainer.model.head.weight)
    assert not trainer.eval_model.head.weight.requires_grad
    exported = T.load_run_model(tmp_path / "run")
    torch.testing.assert_close(exported.head.weight, trainer.eval_model.head.weight)
    trainer.run(2, tmp_path / "run", log=lambda s: None)
    resumed = T.train(config(ema=0.5, steps=2, checkpoint_every=1), tmp_path / "run", resume=True, log=lambda s: None)
    torch.testing.assert_close(resumed.eval_model.head.weight, trainer.eval_model.head.weight, rtol=0, atol=0)
    with pytest.raises(ValueError, match="ema"):
        config(ema=1.0)


def test_jpeg_variants(tmp_path, make_clip):
    from frameweave.vfi_core.flowguided_data import jpeg_stack

    clip = _clip_folder(tmp_path, make_clip, frames=4)
    src = FolderAnyTime([tmp_path], crop=(16, 16), max_gap=2, jpeg=(30,))
    assert len(src.frames) == 2 and src.frames[1].shape == src.frames[0].shape
    np.testing.assert_array_equal(src.frames[1], jpeg_stack(clip, 30))
    err = np.abs(src.frames[1].astype(int) - clip).mean()
    assert 0 < err < np.abs(jpeg_stack(clip, 2).astype(int) - clip).mean()     # lower quality, more loss
    with pytest.raises(ValueError, match="jpeg"):
        FolderAnyTime([tmp_path], crop=(16, 16), jpeg=(0,))


def test_margin_flows_are_close_to_whole_frame_flows(tmp_path, make_clip):
    """DIS on the crop grown by a margin gives nearly the whole frame's flows there, at no cache."""
    _clip_folder(tmp_path, make_clip, frames=4)
    src = FolderAnyTime([tmp_path], crop=(16, 24), max_gap=2, full_flows=True, flow_margin=12, preset="medium")
    clip = src.frames[0]
    whole = src.window_flows(0, 0, 2)[0][10:26, 20:44].astype(np.float32)
    f01, f10 = src.margin_flows(clip, 0, 2, 10, 20)
    assert f01.shape == f10.shape == (16, 24, 2) and not src._flows.get((0, 1, 2))
    assert np.abs(f01 - whole).mean() < 0.5
    np.testing.assert_allclose(np.median(f01.reshape(-1, 2), axis=0), [-4.0, -2.0], atol=0.5)   # 2 frames of (1, 2) px
    rng = np.random.default_rng(0)
    cached = len(src._flows)
    assert all(s.flow_01.shape == (16, 24, 2) for s in (src.sample(rng) for _ in range(4)))
    assert len(src._flows) == cached                                   # samples computed nothing whole-frame
    assert "grown by 12 px" in src.describe()
    with pytest.raises(ValueError, match="flow_margin"):
        FolderAnyTime([tmp_path], crop=(16, 16), full_flows=True, flow_margin=-1)
    with pytest.raises(ValueError, match="needs --full-flows"):
        FolderAnyTime([tmp_path], crop=(16, 16), flow_margin=8)
