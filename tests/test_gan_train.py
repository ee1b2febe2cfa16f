"""SepConv-GAN training: augmentation, alternating D/G steps, exact resume, CLI, GAN Interpolate node."""
import numpy as np
import pytest
import torch

from frameweave.vfi_core import gan_train
from frameweave.vfi_core.gan_train import GANConfig, GANTrainer, seed3_augment
from frameweave.vfi_core.sepconv import SepConvNet
from frameweave.vfi_core.sepconv_train import load_checkpoint, save_checkpoint


TINY = dict(kernel_size=5, width=0.125, batch=2, crop=32, d_channels=[4, 8, 8, 8], max_offset=4,
            resize_min=0.8, resize_max=1.0, amp=False, device="cpu", val_every=10 ** 6, log_every=10 ** 6)


class PanSource:
    """Triplets from a real-photo pan (conftest make_clip) with the third seed's augmentation."""

    def __init__(self, make_clip):
        self.clip = make_clip(3, size=(48, 48), step=(1.0, 2.0)).numpy()

    def sample(self, rng):
        return seed3_augment(*self.clip, rng, crop=32, max_offset=4, scale_range=(0.8, 1.0))

    def describe(self):
        return "pan"


def _state(trainer):
    out = {f"{n}.{k}": v.clone() for n, m in trainer.modules.items() for k, v in m.state_dict().items()}
    for n, opt in trainer.optimizers.items():
        for i, st in opt.state_dict()["state"].items():
            out.update({f"opt.{n}.{i}.{k}": v.clone() for k, v in st.items() if isinstance(v, torch.Tensor)})
    return out


def test_seed3_augment_offset_and_exact_middle(make_photo):
    """Static photo triplet: I0 and I1 come out shifted by ±offset/2 around the untouched middle."""
    img = make_photo("astronaut", (40, 40))                                   # [80,80,3]
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(12):
        f0, gt, f1 = seed3_augment(img, img, img, rng, crop=32, max_offset=12, scale_range=(1.0, 1.0))
        assert f0.shape == gt.shape == f1.shape == (32, 32, 3) and f0.dtype == np.float32
        best = None
        for dy in range(-6, 7):
            for dx in range(-6, 7):
                # gt(y, x) = f0(y + dy, x + dx) on the overlap; f1 is shifted the other way
                a = gt[8:24, 8:24]
                e0 = np.abs(f0[8 + dy:24 + dy, 8 + dx:24 + dx] - a).max()
                e1 = np.abs(f1[8 - dy:24 - dy, 8 - dx:24 - dx] - a).max()
                if e0 < 1e-6 and e1 < 1e-6:
                    best = (dy, dx)
        assert best is not None, "I0 / I1 are not integer shifts of the middle frame"
        seen.add(best)
    assert len(seen) > 3                                                      # offsets vary


def test_seed3_augment_resize_scales_the_frames(make_photo):
    img = make_photo("astronaut", (40, 40))
    f0, gt, f1 = seed3_augment(img, img, img, np.random.default_rng(1), crop=32, max_offset=0,
                               scale_range=(0.5, 0.5))
    assert gt.shape == (32, 32, 3)
    # at half size the crop covers twice the photo area: its mean gradient is larger than a 1:1 crop's
    g_half = np.abs(np.diff(gt, axis=1)).mean()
    g_full = np.abs(np.diff(seed3_augment(img, img, img, np.random.default_rng(1), crop=32, max_offset=0,
                                          scale_range=(1.0, 1.0))[1], axis=1)).mean()
    assert g_half > g_full


@pytest.mark.parametrize("adversarial", ["dcgan", "wgan-gp"])
def test_steps_change_generator_and_discriminator(make_clip, adversarial):
    trainer = GANTrainer(GANConfig(steps=2, adversarial=adversarial, **TINY), source=PanSource(make_clip))
    g0 = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    d0 = {k: v.clone() for k, v in trainer.discriminator.state_dict().items()}
    for _ in range(2):
        logs = trainer.train_step()
    assert trainer.step == 2
    assert np.isfinite(float(logs["loss"])) and np.isfinite(float(logs["d_loss"])) and "adversarial" in logs
    if adversarial == "wgan-gp":
        assert logs["gp"] >= 0
    assert any(not torch.equal(g0[k], v) for k, v in trainer.model.state_dict().items())
    assert any(not torch.equal(d0[k], v) for k, v in trainer.discriminator.state_dict().items())
    assert trainer.optimizers["generator"].param_groups[0]["betas"] == (0.5, 0.999)
    assert trainer.optimizers["discriminator"].param_groups[0]["lr"] == 3e-4


def test_exact_resume(make_clip, tmp_path):
    """4 steps straight == 2 steps + checkpoint + fresh trainer + resume + 2 steps (G, D, both Adams)."""
    cfg = dict(steps=4, adversarial="wgan-gp", conditional="frame", **TINY)
    straight = GANTrainer(GANConfig(**cfg), source=PanSource(make_clip))
    for _ in range(4):
        straight.train_step()
    first = GANTrainer(GANConfig(**cfg), source=PanSource(make_clip))
    for _ in range(2):
        first.train_step()
    ckpt = save_checkpoint(first, tmp_path)
    torch.manual_seed(1234)                                   # disturb the global RNG
    second = GANTrainer(GANConfig(**cfg), source=PanSource(make_clip), load_init=False)
    load_checkpoint(second, ckpt)
    assert second.step == 2
    for _ in range(2):
        second.train_step()
    a, b = _state(straight), _state(second)
    assert a.keys() == b.keys() and any(k.startswith("discriminator.") for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_init_from_weights_file(make_clip, tmp_path):
    from frameweave.vfi_core.weights import save_weights
    torch.manual_seed(3)
    start = SepConvNet(kernel_size=5, channels=[4, 4, 8, 8, 8])
    (path,) = save_weights(start, tmp_path / "plain.safetensors")
    trainer = GANTrainer(GANConfig(steps=1, adversarial="dcgan", init=str(path), **TINY), source=PanSource(make_clip))
    assert trainer.config.generator_architecture == start.architecture()
    for k, v in start.state_dict().items():
        assert torch.equal(trainer.model.state_dict()[k], v)


def test_cli_trains_and_resumes(tmp_path, capsys):
    args = ["--adversarial", "dcgan", "--out", str(tmp_path / "run"), "--kernel-size", "5", "--width", "0.125",
            "--crop", "32", "--batch", "1", "--d-channels", "4,4,4,4", "--max-offset", "2", "--resize-min", "1",
            "--val-every", "1000", "--checkpoint-every", "1", "--device", "cpu", "--luminance"]
    assert gan_train.main(args + ["--steps", "1"]) == 0
    assert gan_train.main(args + ["--steps", "2", "--resume"]) == 0
    out = capsys.readouterr().out
    assert '"resumed_from": "ckpt-0000001.json"' in out
    assert (tmp_path / "run" / "ckpt-0000002.json").exists()
    assert gan_train.main(args + ["--steps", "3"]) == 2                        # exists, no --resume
    assert "already holds a run" in capsys.readouterr().err


def test_exception(tmp_path, make_clip):
    with pytest.raises(ValueError, match="adversarial"):
        GANConfig(adversarial="lsgan")
    with pytest.raises(ValueError, match="<= 1"):
        GANConfig(lambda_end=3.0)
    with pytest.raises(ValueError, match="d_channels"):
        GANConfig(d_channels=[4, 4])
    from safetensors.torch import save_file
    save_file({"features.0.weight": torch.zeros(64, 3, 3, 3)}, str(tmp_path / "notvgg.safetensors"))
    with pytest.raises(ValueError, match=r"missing key\(s\) features\.0\.bias"):
        GANTrainer(GANConfig(adversarial="dcgan", perceptual=str(tmp_path / "notvgg.safetensors"), **TINY),
                   source=PanSource(make_clip))
    with pytest.raises(ValueError, match="unknown SepConv weights"):
        GANTrainer(GANConfig(adversarial="dcgan", init="no_such_weights", **TINY), source=PanSource(make_clip))


# --- node ---------------------------------------------------------------------------------------------
@pytest.fixture
def tiny_weights(tmp_path, monkeypatch):
    from frameweave.nodes import _comfy
    from frameweave.vfi_core.weights import save_weights
    torch.manual_seed(0)
    net = SepConvNet(kernel_size=5, channels=[4, 4, 8, 8, 8]).init_as_blend()
    save_weights(net, tmp_path / "tiny_sepconv_gan_test.safetensors")
    save_weights(net, tmp_path / "tiny_plain_test.safetensors")
    monkeypatch.setattr(_comfy, "model_directories", lambda: [tmp_path])
    return tmp_path


def test_gan_node_under_inference_mode(tiny_weights, make_clip):
    from frameweave.nodes.gan_nodes import FrameWeaveGANInterpolate, gan_weight_names
    assert "tiny_sepconv_gan_test" in gan_weight_names()
    assert "tiny_plain_test" not in gan_weight_names()
    spec = FrameWeaveGANInterpolate.INPUT_TYPES()["required"]
    assert {"frames", "weights", "multiplier", "tile_size", "fp16", "chunk"} <= set(spec)
    frames = make_clip(3, size=(24, 32))
    with torch.inference_mode():
        out, timing = FrameWeaveGANInterpolate().interpolate(frames, "tiny_sepconv_gan_test", multiplier="2",
                                                             device="cpu")
    assert out.shape == (5, 24, 32, 3)
    torch.testing.assert_close(out[::2], frames)
    # blend initialisation: the inserted frame is the average of its neighbours (up to the small last conv)
    assert (out[1] - (frames[0] + frames[1]) / 2).abs().mean() < 0.05
    assert len(timing.timestamps) == 5


def test_gan_node_exception(tiny_weights, make_clip):
    from frameweave.nodes.gan_nodes import FrameWeaveGANInterpolate
    frames = make_clip(3, size=(24, 32))
    with pytest.raises(ValueError, match="unknown SepConv-GAN weights 'nope'"):
        FrameWeaveGANInterpolate().interpolate(frames, "nope", device="cpu")
    with pytest.raises(ValueError, match="plain SepConv"):
        FrameWeaveGANInterpolate().interpolate(frames, "tiny_plain_test", device="cpu")


def test_seed3_source_still_camera_has_no_offset(make_photo):
    """static_fraction = 1 in the GAN's data: a still camera means no I0/I1 offset either."""
    from frameweave.vfi_core.gan_train import Seed3Source

    source = Seed3Source(["synthetic"], crop=32, reach=8, max_offset=6, scale_range=(1.0, 1.0),
                         static_fraction=1.0)
    for seed in range(3):
        f0, gt, f1 = source.sample(np.random.default_rng(seed))
        np.testing.assert_array_equal(f0, gt)
        np.testing.assert_array_equal(f1, gt)
    assert "1 static" in source.describe()


@pytest.mark.parametrize("adversarial", ["dcgan", "wgan-gp"])
def test_mixed_precision_steps_on_cpu(make_clip, monkeypatch, adversarial):
    """The GPU recipe's bfloat16 autocast of the generator, run on a CPU, for both adversarial losses."""
    from frameweave.vfi_core import sepconv_train
    monkeypatch.setattr(sepconv_train, "mixed_precision_pays", lambda device: True)
    trainer = GANTrainer(GANConfig(steps=2, adversarial=adversarial, **dict(TINY, amp=True)),
                         source=PanSource(make_clip))
    logs = [trainer.train_step() for _ in range(2)]
    assert all(np.isfinite(float(log["loss"])) and np.isfinite(float(log["d_loss"])) for log in logs)
