"""NeCo: Fourier features, the residual MLP, the clip interpolator, persistence."""
import math

import pytest
import torch

from frameweave.vfi_core import methods
from frameweave.vfi_core.fourier_features import (ENCODINGS, FourierFeatures, encoded_dim, fourier_features,
                                                  gaussian_matrix)
from frameweave.vfi_core.inr import INR_REGISTRY, load_inr
from frameweave.vfi_core.inr_fit import psnr_from_mse
from frameweave.vfi_core.inr import inserted_times
from frameweave.vfi_core.neco import NeCo, fit_neco, neco_interpolate_clip
from frameweave.vfi_core.timing import FrameTiming

SMALL = {"width": 48, "depth": 8, "L": 6}


# --- Fourier features -------------------------------------------------------------------

def test_basic_formula_matches_loops():
    v = torch.rand(7, 3, dtype=torch.float64)
    L = 4
    got = fourier_features(v, "basic", L)
    expected = []
    for row in v.tolist():
        feats = list(row)
        feats += [math.sin(k * math.pi * c) for k in range(1, L + 1) for c in row]
        feats += [math.cos(k * math.pi * c) for k in range(1, L + 1) for c in row]
        expected.append(feats)
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64))


def test_gaussian_formula_and_buffer():
    ff = FourierFeatures("gaussian", L=5, sigma=3.0, seed=7)
    assert ff.B.shape == (15, 3)
    torch.testing.assert_close(ff.B, gaussian_matrix(5, 3.0, 3, seed=7))
    assert not torch.equal(ff.B, gaussian_matrix(5, 3.0, 3, seed=8))
    v = torch.rand(9, 3)
    angles = 2 * math.pi * v @ ff.B.T                                    # [9,15]
    torch.testing.assert_close(ff(v), torch.cat([v, angles.sin(), angles.cos()], dim=1))
    assert "B" in ff.state_dict()                                        # saved with the model
    # B ~ N(0, sigma^2): the sample std of many draws is close to sigma
    assert abs(float(gaussian_matrix(400, 3.0, 3).std()) - 3.0) < 0.2


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_cardinality(encoding):
    ff = FourierFeatures(encoding, L=10, sigma=10.0)
    out = ff(torch.rand(11, 3))
    assert out.shape == (11, encoded_dim(encoding, 10)) == (11, ff.out_dim)
    assert ff.out_dim == {"basic": 63, "gaussian": 63, "none": 3}[encoding]


def test_none_is_identity():
    v = torch.rand(4, 3)
    assert torch.equal(FourierFeatures("none")(v), v)


def test_fourier_gradcheck():
    v = torch.rand(5, 3, dtype=torch.float64, requires_grad=True)
    B = gaussian_matrix(2, 2.0).double()
    assert torch.autograd.gradcheck(lambda x: fourier_features(x, "basic", 3), (v,))
    assert torch.autograd.gradcheck(lambda x: fourier_features(x, "gaussian", 2, B), (v,))


def test_fourier_exceptions():
    with pytest.raises(ValueError, match="unknown encoding"):
        FourierFeatures("positional")
    with pytest.raises(ValueError, match="L >= 1"):
        FourierFeatures("basic", L=0)
    with pytest.raises(ValueError, match="sigma > 0"):
        FourierFeatures("gaussian", sigma=0.0)
    with pytest.raises(ValueError, match=r"\[N, d\]"):
        fourier_features(torch.rand(3), "basic", 2)
    with pytest.raises(ValueError, match="needs the frequency matrix"):
        fourier_features(torch.rand(3, 3), "gaussian", 2)


# --- the residual MLP -----------------------------------------------------------------------

def _timing(n=3):
    return FrameTiming.from_fps(n, 10.0)


def test_resmlp_structure_and_parameter_count():
    model = NeCo(24, 32, _timing(), {})                                  # paper config: 8 x 256, L = 10
    e, w = 63, 256
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 8
    assert model.skips == (2, 5)
    assert [lin.in_features for lin in linears] == [e, w, w + e, w, w, w + e, w, w]
    assert [lin.out_features for lin in linears] == [w] * 7 + [3]
    expected = (e * w + w) + 4 * (w * w + w) + 2 * ((w + e) * w + w) + (w * 3 + 3)
    assert sum(p.numel() for p in model.parameters()) == expected == 444163
    acts = [m for m in model.modules() if isinstance(m, torch.nn.LeakyReLU)]
    assert len(acts) == 1                                                # shared, applied after layers 0..6


def test_resmlp_output_layer_is_linear():
    """No activation after the last layer: its output moves linearly with its bias."""
    model = NeCo(8, 8, _timing(), SMALL)
    c = torch.rand(5, 3)
    base = model(c)
    with torch.no_grad():
        model.layers[-1].bias += 2.0
    torch.testing.assert_close(model(c), base + 2.0)


def test_shallow_network_drops_skips():
    model = NeCo(8, 8, _timing(), {"depth": 4, "width": 16})
    assert model.skips == (2,)
    assert model(torch.rand(3, 3)).shape == (3, 3)
    assert NeCo(8, 8, _timing(), {"depth": 2, "width": 16}).skips == ()


def test_seed_reproducible_and_config():
    a = NeCo(8, 8, _timing(), {**SMALL, "seed": 3})
    b = NeCo(8, 8, _timing(), {**SMALL, "seed": 3})
    c = NeCo(8, 8, _timing(), {**SMALL, "seed": 4})
    x = torch.rand(4, 3)
    assert torch.equal(a(x), b(x)) and not torch.equal(a(x), c(x))
    assert set(a.config) >= {"encoding", "L", "sigma", "width", "depth", "seed"}
    assert INR_REGISTRY["neco"] is NeCo


def test_model_exceptions():
    with pytest.raises(ValueError, match="encoding"):
        NeCo(8, 8, _timing(), {"encoding": "fourier"})
    with pytest.raises(ValueError, match="depth"):
        NeCo(8, 8, _timing(), {"depth": 1})
    with pytest.raises(ValueError, match="width"):
        NeCo(8, 8, _timing(), {"width": 0})


# --- fitting, rendering, persistence -------------------------------------------------------------

_FIT_CACHE = {}


@pytest.fixture
def fit_result(make_clip):
    """A small NeCo fitted to a 3-frame 24x32 camera pan over a real photo (fitted once, shared)."""
    if "fit" not in _FIT_CACHE:
        frames = make_clip(3, size=(24, 32), step=(1.0, 2.0))
        result = fit_neco(frames, FrameTiming.from_durations([0.1, 0.3, 0.2]), config=SMALL, steps=400,
                          batch_size=768, eval_every=50, plateau_patience=0)
        _FIT_CACHE["fit"] = (frames, result)
    return _FIT_CACHE["fit"]


def test_fit_improves_psnr(fit_result):
    frames, result = fit_result
    first, best = result.history[0][2], result.best_psnr
    assert best > first + 8.0, (first, best)
    assert best > 22.0
    assert result.stopped_because == "steps" and result.steps == 400


def test_render_at_training_times_reproduces_frames(fit_result):
    frames, result = fit_result
    model = result.model
    rendered = model.render(model.frame_times())
    assert rendered.shape == frames.shape
    mse = float(((rendered - frames) ** 2).mean())
    assert abs(psnr_from_mse(mse) - result.best_psnr) < 0.05
    # uneven timing: the model was trained at the normalised timestamps 0, 0.25, 1
    torch.testing.assert_close(model.frame_times(), torch.tensor([0.0, 0.25, 1.0]))


def test_save_load_round_trip(fit_result, tmp_path):
    _, result = fit_result
    path = tmp_path / "neco.safetensors"
    result.model.save(path)
    assert path.is_file() and not path.with_suffix(".safetensors.part").exists()
    loaded = load_inr(path)
    assert isinstance(loaded, NeCo) and loaded.config == result.model.config
    assert loaded.timing == result.model.timing
    assert loaded.fit_report["steps"] == 400
    t = torch.tensor([0.0, 0.1, 0.6, 1.0])
    assert torch.equal(loaded.render(t), result.model.render(t))


def test_save_load_gaussian_keeps_B(tmp_path):
    model = NeCo(6, 8, _timing(), {"encoding": "gaussian", "sigma": 5.0, "width": 16, "depth": 3, "seed": 9})
    model.save(tmp_path / "g.safetensors")
    loaded = load_inr(tmp_path / "g.safetensors")
    assert torch.equal(loaded.gamma.B, model.gamma.B)
    assert torch.equal(loaded.render([0.3]), model.render([0.3]))


def test_load_inr_rejects_files_that_are_not_models(tmp_path):
    text = tmp_path / "notes.safetensors"
    text.write_text("not a model")
    with pytest.raises(ValueError, match="notes.safetensors: not a safetensors file, or a damaged one"):
        load_inr(text)
    with pytest.raises(FileNotFoundError, match="no fitted model file"):
        load_inr(tmp_path / "missing.safetensors")


def test_interpolate_clip_keeps_inputs(make_clip):
    frames = make_clip(3, size=(12, 16))
    timing = FrameTiming.from_durations([0.1, 0.3, 0.2])
    out = neco_interpolate_clip(frames, [0.25, 0.5, 0.75], timing=timing, steps=20, batch_size=256,
                                width=16, depth=4, L=4)
    assert out.shape == (9, 12, 16, 3)
    assert torch.equal(out[0], frames[0]) and torch.equal(out[4], frames[1]) and torch.equal(out[8], frames[2])
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert methods.get_method("neco") is neco_interpolate_clip


def test_inserted_times_follow_timing():
    timing = FrameTiming.from_durations([0.1, 0.3, 0.2])                 # starts 0, 0.1, 0.4 -> 0, 0.25, 1
    torch.testing.assert_close(inserted_times(timing, [0.5]), torch.tensor([0.125, 0.625]))
    assert torch.allclose(inserted_times(timing, [0.5]),
                          torch.tensor(timing.with_inserted([0.5]).normalised()[1::2], dtype=torch.float32))


def test_interpolate_clip_exceptions(make_clip):
    frames = make_clip(3, size=(12, 16))
    with pytest.raises(ValueError, match="at least 2"):
        neco_interpolate_clip(frames[:1], [0.5], steps=5)
    with pytest.raises(ValueError, match="strictly between"):
        neco_interpolate_clip(frames, [1.0], steps=5)
    with pytest.raises(ValueError, match="timing has 2"):
        neco_interpolate_clip(frames, [0.5], timing=FrameTiming.from_fps(2, 10), steps=5)
    bad = frames.clone()
    bad[1, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        neco_interpolate_clip(bad, [0.5], steps=5)
    with pytest.raises(ValueError, match="time budget"):
        neco_interpolate_clip(frames, [0.5], time_budget_s=0)


# --- time-axis frequency cap --------------------------------------------------------------

def test_time_cap_keeps_space_and_drops_high_time_frequencies():
    from frameweave.vfi_core.fourier_features import fourier_features

    v = torch.rand(17, 3, dtype=torch.float64)
    full = fourier_features(v, "basic", 6)
    assert torch.equal(fourier_features(v, "basic", 6, time_L=6), full)
    capped = fourier_features(v, "basic", 6, time_L=2)                       # [17, 3 + 2·18]
    sin, cos = capped[:, 3:21].reshape(17, 6, 3), capped[:, 21:].reshape(17, 6, 3)  # [N, k, (x,y,t)]
    full_sin = full[:, 3:21].reshape(17, 6, 3)
    assert torch.equal(sin[..., :2], full_sin[..., :2])                      # x, y untouched
    assert torch.equal(sin[:, :2, 2], full_sin[:, :2, 2])                    # t: k = 1, 2 kept
    assert torch.all(sin[:, 2:, 2] == 0) and torch.all(cos[:, 2:, 2] == 1)   # t: k >= 3 constant


def test_time_L_auto_stays_below_the_frames_nyquist_rate():
    from frameweave.vfi_core.neco import resolve_time_L

    assert resolve_time_L(-1, 10, 5) == 3      # 5 frames: k = 4 would be at Nyquist
    assert resolve_time_L(-1, 10, 2) == 0      # two frames: t enters only linearly
    assert resolve_time_L(-1, 10, 95) == 10    # long clips keep the paper's encoding
    assert resolve_time_L(4, 10, 95) == 4 and resolve_time_L(12, 10, 3) == 10
    model = NeCo(8, 8, FrameTiming.from_fps(5, 10.0), dict(SMALL))
    assert model.config["time_L"] == 3 and model.gamma.time_L == 3


def test_time_cap_interpolates_better_than_the_paper_encoding(make_clip):
    """A pan over a real photo, every 2nd frame dropped: with t capped below the Nyquist rate of
    the kept frames the rebuilt frames are clearly better than with all L = 10 time frequencies."""
    from frameweave.vfi_core.evaluation import drop_frames, score_frames
    from frameweave.vfi_core.inr import inserted_times

    frames = make_clip(9, size=(24, 32), step=(0.5, 1.0))
    split = drop_frames(frames, 2, FrameTiming.from_fps(9, 10.0))
    truth = split.reference[split.dropped_mask]
    scores = {}
    for time_L in (10, -1):
        res = fit_neco(split.kept, split.kept_timing, config={"width": 64, "depth": 8, "L": 10, "time_L": time_L},
                       steps=300, batch_size=1024, plateau_patience=0)
        out = res.model.render(inserted_times(split.kept_timing, split.fractions))
        scores[time_L] = float(score_frames(out, truth)[0].mean())
    assert scores[-1] > scores[10] + 1.0, scores


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_mixed_precision_fit_on_cpu(make_clip, monkeypatch, dtype):
    """The GPU fit under autocast, on a CPU: finite and improving; the best weights stay float32."""
    from frameweave.vfi_core import inr_fit
    monkeypatch.setattr(inr_fit, "_amp_settings", lambda device, amp: (dtype, False))
    frames = make_clip(3, size=(24, 32), step=(1.0, 2.0))
    result = fit_neco(frames, config=SMALL, steps=60, batch_size=768, eval_every=20, plateau_patience=0)
    assert math.isfinite(result.best_psnr) and result.best_psnr > result.history[0][2] + 2.0
    assert all(p.dtype == torch.float32 for p in result.model.parameters())


def test_gaussian_angles_stay_float32_under_autocast():
    """Gaussian angles reach hundreds of radians; in bfloat16 (CUDA autocast of the matmul) they
    would be rounded by up to a radian, so the features are computed in float32 regardless."""
    torch.manual_seed(0)
    v = torch.rand(512, 3)
    B = torch.randn(10, 3) * 10.0
    reference = fourier_features(v, "gaussian", 10, B=B)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = fourier_features(v, "gaussian", 10, B=B)
    assert mixed.dtype == torch.float32
    torch.testing.assert_close(mixed, reference, atol=1e-6, rtol=0)
