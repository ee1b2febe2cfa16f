"""Drop-frames protocol, triplets and dev-clip listing (vfi_core.evaluation)."""
import numpy as np
import pytest
import torch
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from frameweave.vfi_core import evaluation as ev
from frameweave.vfi_core.metrics import PSNR_CAP_DB
from frameweave.vfi_core.timing import FrameTiming


def linear_clip(frames, fractions, timing=None, progress=None):
    """Independent linear blend: every interval [a, b] gets (1-t)·a + t·b at each fraction."""
    out = [frames[:1]]
    for a, b in zip(frames[:-1], frames[1:]):
        out += [((1 - t) * a + t * b)[None] for t in fractions] + [b[None]]
    return torch.cat(out)


def oracle_for(reference):
    """A perfect interpolator for one clip: returns the real frames (checks what it is given)."""
    def interpolate(kept, fractions, timing=None, progress=None):
        k = len(fractions) + 1
        assert torch.equal(kept, reference[::k][: kept.shape[0]])
        return reference[: (kept.shape[0] - 1) * k + 1].clone()
    return interpolate


@pytest.mark.parametrize("total,k,kept", [(10, 3, [0, 3, 6, 9]), (11, 3, [0, 3, 6, 9]), (9, 4, [0, 4, 8]),
                                          (5, 2, [0, 2, 4]), (3, 2, [0, 2])])
def test_drop_frames_indices(make_clip, total, k, kept):
    clip = make_clip(total, size=(16, 20))
    split = ev.drop_frames(clip, k)
    assert torch.equal(split.kept, clip[kept])
    assert split.reference.shape == (kept[-1] + 1, 16, 20, 3)
    assert torch.equal(split.reference, clip[: kept[-1] + 1])
    assert split.dropped_mask.dtype == torch.bool and split.dropped_mask.shape == (kept[-1] + 1,)
    assert split.dropped_indices == [i for i in range(kept[-1] + 1) if i not in kept]
    assert split.k == k and split.fractions == [j / k for j in range(1, k)]
    assert split.kept_timing is None and split.reference_timing is None


def test_drop_frames_timing(make_clip):
    clip = make_clip(8, size=(16, 20))
    durations = [0.1, 0.05, 0.2, 0.1, 0.1, 0.3, 0.05, 0.1]
    timing = FrameTiming.from_durations(durations)
    split = ev.drop_frames(clip, 3, timing)                              # keeps 0, 3, 6; trims frame 7
    ts = timing.timestamps
    assert split.kept_timing.timestamps == (ts[0], ts[3], ts[6])
    assert split.kept_timing.end == pytest.approx(ts[7])                 # the trimmed clip ends where frame 7 starts
    assert split.reference_timing.timestamps == ts[:7]
    assert split.reference_timing.end == split.kept_timing.end
    # with a constant frame rate, inserting k-1 frames reproduces the reference timing
    uniform = ev.drop_frames(make_clip(9, size=(16, 20)), 4, FrameTiming.from_fps(9, 10.0))
    rebuilt = uniform.kept_timing.with_inserted(uniform.fractions)
    assert np.allclose(rebuilt.timestamps, uniform.reference_timing.timestamps)
    assert rebuilt.end == pytest.approx(uniform.reference_timing.end)
    # the last frame kept: the clip's own end is kept
    assert ev.drop_frames(clip[:7], 3, FrameTiming.from_fps(7, 10.0)).kept_timing.end == pytest.approx(0.7)


def test_drop_frames_exceptions(make_clip):
    clip = make_clip(4, size=(16, 20))
    with pytest.raises(ValueError, match="at least 2"):
        ev.drop_frames(clip, 1)
    with pytest.raises(ValueError, match="whole number"):
        ev.drop_frames(clip, 2.5)
    with pytest.raises(ValueError, match="needs at least 5 frames"):
        ev.drop_frames(clip, 4)
    with pytest.raises(ValueError, match="timing has 3 timestamps"):
        ev.drop_frames(clip, 2, FrameTiming.from_fps(3, 10.0))
    bad = clip.clone()
    bad[1, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        ev.drop_frames(bad, 2)


def test_protocol_oracle_is_perfect(make_clip):
    clip = make_clip(9, size=(24, 32))
    res = ev.evaluate_drop_protocol(clip, 4, oracle_for(clip), timing=FrameTiming.from_fps(9, 25.0))
    assert res["count"] == 6 and res["indices"] == [1, 2, 3, 5, 6, 7] and res["kept"] == 3
    assert res["psnr"] == [PSNR_CAP_DB] * 6 and res["mean_psnr"] == PSNR_CAP_DB
    assert res["mean_ssim"] == pytest.approx(1.0, abs=1e-12)
    assert res["seconds"] >= 0


def test_protocol_linear_matches_skimage(make_clip):
    clip = make_clip(7, size=(24, 32), step=(1.5, 2.5))
    res = ev.evaluate_drop_protocol(clip, 3, linear_clip)
    assert res["count"] == len(res["psnr"]) == len(res["ssim"]) == 4
    # frame 1 is the blend at 1/3 between frames 0 and 3; both rounded to 8 bits (the default)
    pred = torch.round((2 / 3 * clip[0] + 1 / 3 * clip[3]) * 255).double().numpy()
    ref = torch.round(clip[1] * 255).double().numpy()
    assert res["psnr"][0] == pytest.approx(peak_signal_noise_ratio(ref, pred, data_range=255), abs=1e-3)
    assert res["ssim"][0] == pytest.approx(structural_similarity(
        ref, pred, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255,
        channel_axis=-1), abs=1e-4)
    assert res["mean_psnr"] == pytest.approx(np.mean(res["psnr"]))
    assert 10 < res["mean_psnr"] < 60
    # without rounding the score differs a little
    raw = ev.evaluate_drop_protocol(clip, 3, linear_clip, quantize=False)
    assert raw["psnr"] != res["psnr"] and abs(raw["mean_psnr"] - res["mean_psnr"]) < 0.5


def test_protocol_bad_method_output(make_clip):
    clip = make_clip(5, size=(16, 20))
    with pytest.raises(ValueError, match=r"returned shape \[3, 16, 20, 3\], expected \[5, 16, 20, 3\]"):
        ev.evaluate_drop_protocol(clip, 2, lambda kept, fr, timing=None, progress=None: kept)
    with pytest.raises(ValueError, match="expected a tensor"):
        ev.evaluate_drop_protocol(clip, 2, lambda kept, fr, timing=None, progress=None: None)


def _write_triplet(folder, f0, f1, gt):
    folder.mkdir(parents=True)
    for name, x in (("f0.png", f0), ("f1.png", f1), ("gt.png", gt)):
        Image.fromarray((x.numpy() * 255).round().astype(np.uint8)).save(folder / name)


def test_triplets_roundtrip(tmp_path, make_clip):
    clip = make_clip(3, size=(24, 32))
    for n in ("10", "2"):
        _write_triplet(tmp_path / "set" / n, clip[0], clip[2], clip[1])
    triplets = ev.load_triplets(tmp_path)
    assert [t[0] for t in triplets] == ["set/2", "set/10"]                 # natural order
    name, f0, f1, gt = triplets[0]
    assert f0.shape == (1, 24, 32, 3) and f0.dtype == torch.float32
    assert torch.allclose(gt[0], clip[1], atol=0.5 / 255 + 1e-6)

    def oracle(frames, fractions, timing=None, progress=None):
        assert fractions == [0.5] and frames.shape[0] == 2
        return torch.cat([frames[:1], gt, frames[1:]])
    res = ev.evaluate_triplets(oracle, tmp_path)
    assert res["names"] == ["set/2", "set/10"] and res["count"] == 2
    assert res["mean_psnr"] == PSNR_CAP_DB and res["mean_ssim"] == pytest.approx(1.0)
    lin = ev.evaluate_triplets(linear_clip, tmp_path, triplets=triplets)
    assert 15 < lin["mean_psnr"] < 60
    with pytest.raises(ValueError, match=r"expected \[3,24,32,3\]"):
        ev.evaluate_triplets(lambda fr, t, timing=None, progress=None: fr, tmp_path)


def test_triplets_exceptions(tmp_path, make_clip):
    with pytest.raises(FileNotFoundError):
        ev.load_triplets(tmp_path / "missing")
    with pytest.raises(ValueError, match="no triplets"):
        ev.load_triplets(tmp_path)
    clip = make_clip(3, size=(24, 32))
    _write_triplet(tmp_path / "a", clip[0], clip[2], clip[1][:20])
    with pytest.raises(ValueError, match="differ in size"):
        ev.load_triplets(tmp_path)


def test_shot_ranges():
    assert ev.shot_ranges(()) == ((0, None),)
    assert ev.shot_ranges((29, 75)) == ((0, 30), (30, 76), (76, None))


def test_evaluate_clip_over_shots(tmp_path, make_clip):
    from frameweave.vfi_core.frames_io import write_frames

    clip = make_clip(11, size=(24, 32))
    folder = write_frames(tmp_path / "clip", clip, fps=10.0)             # lossless numbered PNGs
    res = ev.evaluate_clip(folder, 2, linear_clip, ranges=((0, 5), (5, 7), (7, None)))
    # shot [0,5): dropped 1, 3; shot [5,7) has 2 frames (too short, skipped); shot [7,11): dropped 8
    assert res["indices"] == [1, 3, 8] and res["count"] == 3 and len(res["shots"]) == 2
    loaded = torch.round(clip * 255) / 255
    direct = ev.evaluate_drop_protocol(loaded[:5], 2, linear_clip)
    assert res["psnr"][:2] == pytest.approx(direct["psnr"], abs=1e-9)
    capped = ev.evaluate_clip(folder, 2, linear_clip, max_frames=3)
    assert capped["indices"] == [1]
    with pytest.raises(ValueError, match="no shot has the 5 frames"):
        ev.evaluate_clip(folder, 4, linear_clip, ranges=((0, 3),))


def test_dev_clips_and_triplets(dev_data):
    clips = {c.name: c for c in ev.dev_clips(dev_data)}
    assert {"sloth_tree_jacw28.gif", "realshort.mp4", "skv_bikes.mp4"} <= set(clips)
    assert clips["skv_bikes.mp4"].ranges == ((0, 30), (30, 76), (76, 137), (137, 187), (187, 242), (242, None))
    assert clips["realshort.mp4"].ranges == ((0, None),)
    res = ev.evaluate_clip(clips["sloth_tree_jacw28.gif"].path, 2, linear_clip)
    assert res["count"] == 3 and 15 < res["mean_psnr"] < 50


def test_benchmark_harness_smoke(dev_data, tmp_path, capsys):
    """benchmarks/evaluate.py end to end on one small dev clip (k=2), with an option parsed."""
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "evaluate.py"
    spec = importlib.util.spec_from_file_location("fw_evaluate_bench", script)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.parse_option("lr=1e-3") == ("lr", 0.001)
    assert bench.parse_option("preset=fast") == ("preset", "fast")
    assert bench.parse_option("occlusion=false") == ("occlusion", False)
    out = tmp_path / "evaluate_linear.md"
    assert bench.main(["--method", "linear", "--clips", "--clip", "sloth_tree_jacw28", "--k", "2",
                       "--out", str(out), "--data", str(dev_data)]) == 0
    text = out.read_text()
    assert "| sloth_tree_jacw28.gif | 2 | 1 | 3 |" in text and "machine:" in text
    assert not out.with_name(out.name + ".part").exists()
    with pytest.raises(SystemExit):
        bench.main(["--method", "linear", "--option", "nonsense=1", "--out", str(out)])
