"""Training triplets: synthetic renders (determinism, exact midpoint, reach), augmentation, folders."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from frameweave.vfi_core.augment import augment_triplet, random_triplet_crop
from frameweave.vfi_core.synthetic_motion import SyntheticTriplets, load_photos
from frameweave.vfi_core.triplet_data import (FolderTriplets, SyntheticSource, TripletStream, find_clips,
                                              load_triplet_folder)


@pytest.fixture(scope="module")
def photos():
    return load_photos(("astronaut", "coffee", "chelsea", "rocket"), max_side=256)


def test_synthetic_deterministic_and_shapes(photos):
    synth = SyntheticTriplets((48, 64), max_disp=6, photos=photos)
    a = synth.sample(np.random.default_rng(3))
    b = synth.sample(np.random.default_rng(3))
    c = synth.sample(np.random.default_rng(4))
    for x, y in zip(a, b):
        assert x.shape == (48, 64, 3) and x.dtype == np.float32
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
    assert 0.0 <= min(x.min() for x in a) and max(x.max() for x in a) <= 1.0


def test_motion_within_reach(photos):
    synth = SyntheticTriplets((64, 64), max_disp=5, photos=photos)
    worst = max(synth.max_layer_displacement(np.random.default_rng(s)) for s in range(20))
    assert 0.5 < worst <= 5.0 + 1e-9


def _warp(img, m, b):
    """img [h,w,3] sampled at M p + b (x, y) for every pixel p, bilinear."""
    h, w = img.shape[:2]
    ys, xs = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    q = m @ np.stack([xs.ravel(), ys.ravel()]) + b[:, None]
    grid = np.stack([q[0] / (w - 1) * 2 - 1, q[1] / (h - 1) * 2 - 1], -1).reshape(1, h, w, 2)
    src = torch.from_numpy(img).permute(2, 0, 1)[None]
    out = F.grid_sample(src, torch.from_numpy(grid.astype(np.float32)), mode="bilinear", align_corners=True)
    return out[0].permute(1, 2, 0).numpy()


def test_middle_frame_is_the_true_midpoint(photos):
    """Warping check on a background-only scene: I0 warped by A(0)·A(1/2)^-1 reproduces I_1/2
    (up to bilinear resampling) far better than the blend; the same for I1."""
    synth = SyntheticTriplets((64, 80), max_disp=8, layers=(0, 0), photos=photos)
    layers = synth.sample_layers(np.random.default_rng(11))
    f0, mid, f1 = (synth.render(layers, t) for t in (0.0, 0.5, 1.0))
    layer, scale = layers[0]
    m_half, b_half = layer.matrix(0.5, scale)
    inv = np.linalg.inv(m_half)
    inner = (slice(10, -10), slice(10, -10))
    for img, t in ((f0, 0.0), (f1, 1.0)):
        m_t, b_t = layer.matrix(t, scale)
        # canvas p at t=1/2 shows texture u = A(1/2)^-1 p, which is at A(t) u in frame t
        warped = _warp(img, m_t @ inv, b_t - m_t @ inv @ b_half)
        err_warp = np.abs(warped - mid)[inner].mean()
        err_blend = np.abs((f0 + f1) / 2 - mid)[inner].mean()
        assert err_warp < 0.012
        assert err_warp < 0.35 * err_blend


def test_crop_shift_keeps_the_midpoint():
    """The extra offset crops I0 at -d and I1 at +d around the ground truth window."""
    h, w = 40, 50
    idx = np.arange(h * w, dtype=np.float32).reshape(h, w, 1).repeat(3, -1)
    f0, gt, f1 = random_triplet_crop(idx, idx, idx, np.random.default_rng(5), crop=(16, 20), max_shift=4)
    (y0, x0), (yg, xg), (y1, x1) = (divmod(int(f[0, 0, 0]), w) for f in (f0, gt, f1))
    assert (yg - y0, xg - x0) == (y1 - yg, x1 - xg)
    assert f0.shape == gt.shape == f1.shape == (16, 20, 3)


def test_augment_flip_reverse_deterministic(make_clip):
    clip = make_clip(3, size=(40, 48)).numpy()
    a = augment_triplet(*clip, np.random.default_rng(0), crop=(32, 32), max_shift=2)
    b = augment_triplet(*clip, np.random.default_rng(0), crop=(32, 32), max_shift=2)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
        assert x.shape == (32, 32, 3) and x.dtype == np.float32
    with pytest.raises(ValueError, match="larger"):
        augment_triplet(*clip, np.random.default_rng(0), crop=(64, 64))


def test_stream_state_resumes_exactly(photos):
    src = SyntheticSource((32, 32), reach=6, max_shift=1, photos=photos)
    stream = TripletStream(src, batch=2, seed=7)
    stream.next_batch()
    state = stream.state()
    want = stream.next_batch()
    other = TripletStream(src, batch=2, seed=123)
    other.set_state(state)
    got = other.next_batch()
    for x, y in zip(want, got):
        assert x.shape == (2, 3, 32, 32)
        torch.testing.assert_close(x, y, rtol=0, atol=0)


def _save_frames(folder, frames):
    folder.mkdir(parents=True)
    for i, f in enumerate(frames):
        Image.fromarray((f * 255).round().astype(np.uint8)).save(folder / f"frame_{i:03d}.png")


def test_folder_triplets_reject_cuts_and_static(tmp_path, make_clip):
    pan = make_clip(6, size=(40, 48), step=(0.5, 1.0)).numpy()
    other = make_clip(4, size=(40, 48), step=(0.0, 0.5), name="coffee").numpy()
    _save_frames(tmp_path / "seq", np.concatenate([pan, other]))           # a cut after frame 5
    _save_frames(tmp_path / "static", np.repeat(pan[:1], 4, axis=0))
    clips, triplets = find_clips([tmp_path])
    assert len(clips) == 2 and not triplets
    data = FolderTriplets([tmp_path], crop=(32, 32), cut_threshold=40, min_motion=1.0, max_shift=1)
    # seq: 10 frames -> 8 triplets, 2 straddle the cut; static: 2 triplets without motion
    assert len(data) == 6
    assert data.rejected["cut"] == 2 and data.rejected["static"] == 2
    f0, gt, f1 = data.sample(np.random.default_rng(0))
    assert f0.shape == (32, 32, 3)
    strided = FolderTriplets([tmp_path / "seq"], crop=(32, 32), stride=2, cut_threshold=40)
    # triplets (i, i+2, i+4), i = 0..5: only i = 0, 1 stay before the cut after frame 5
    assert len(strided) == 2 and strided.rejected["cut"] == 4


def test_folder_exceptions(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        FolderTriplets([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no usable"):
        FolderTriplets([tmp_path / "empty"])
    with pytest.raises(ValueError, match="stride"):
        FolderTriplets([tmp_path], stride=0)
    with pytest.raises(ValueError, match="no f0/gt/f1"):
        load_triplet_folder(tmp_path / "empty")


def test_load_triplet_folder(tmp_path, make_clip):
    clip = make_clip(3, size=(20, 24)).numpy()
    for n in ("2", "10"):
        d = tmp_path / n
        d.mkdir()
        for name, f in zip(("f0", "gt", "f1"), clip):
            Image.fromarray((f * 255).round().astype(np.uint8)).save(d / f"{name}.png")
    out = load_triplet_folder(tmp_path)
    assert [t[0] for t in out] == ["2", "10"]
    name, f0, gt, f1 = out[0]
    assert f0.shape == (20, 24, 3) and abs(gt - clip[1]).max() < 1 / 255 + 1e-6


def test_dev_triplets_readable(dev_data):
    out = load_triplet_folder(dev_data / "triplets" / "ucf101_adacof", limit=2)
    assert len(out) == 2 and out[0][1].shape == (240, 320, 3)


def test_static_fraction_one_renders_still_frames(photos):
    """static_fraction = 1: no layer moves and the camera stands still, so I0 = I_0.5 = I1 exactly."""
    synth = SyntheticTriplets((48, 64), max_disp=6, photos=photos, static_fraction=1.0)
    f0, gt, f1 = synth.sample(np.random.default_rng(5))
    np.testing.assert_array_equal(f0, gt)
    np.testing.assert_array_equal(f1, gt)
    source = SyntheticSource((32, 32), reach=8, max_shift=2, photos=photos, static_fraction=1.0)
    for seed in range(3):
        f0, gt, f1 = source.sample(np.random.default_rng(seed))
        np.testing.assert_array_equal(f0, gt)
        np.testing.assert_array_equal(f1, gt)
    assert "1 static" in source.describe()


def test_static_fraction_draws_still_layers_at_its_rate(photos):
    synth = SyntheticTriplets((32, 32), photos=photos, static_fraction=0.25)
    rng = np.random.default_rng(0)
    rate = np.mean([synth.draw_static(rng) for _ in range(2000)])
    assert 0.22 < rate < 0.28
    assert not SyntheticTriplets((32, 32), photos=photos).draw_static(rng)


def test_static_fraction_zero_keeps_the_motion_only_stream(photos):
    """With 0 no extra random number is drawn: the generator ends where the code before the
    option left it (golden values recorded with that code, commit 1541496)."""
    rng = np.random.default_rng(9)
    SyntheticTriplets((32, 32), max_disp=4, photos=photos, static_fraction=0.0).sample(rng)
    assert int(rng.integers(1 << 62)) == 33840526451533664
    rng = np.random.default_rng(9)
    source = SyntheticSource((32, 32), reach=8, max_shift=2, photos=photos)
    for _ in range(3):
        source.sample(rng)
    assert int(rng.integers(1 << 62)) == 4178863017877291412


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_exception_static_fraction(photos, bad):
    with pytest.raises(ValueError, match="static_fraction"):
        SyntheticTriplets((32, 32), photos=photos, static_fraction=bad)
