"""SIREN-OF: the SIREN model, its fit with the optical-flow constraint, the node and the method."""
import math

import pytest
import torch

from frameweave.vfi_core.inr import INR_REGISTRY, load_inr
from frameweave.vfi_core.siren import PAPER_CONFIG, SirenVideo
from frameweave.vfi_core.timing import FrameTiming


def make_model(h=6, w=8, frames=3, **config):
    cfg = {"width": 32, "depth": 4, "omega0": 25.0, "seed": 0}
    cfg.update(config)
    return SirenVideo(h, w, FrameTiming.from_fps(frames, 10.0), cfg)


# --- model -----------------------------------------------------------------------------------
def test_registered_and_paper_defaults():
    assert INR_REGISTRY["siren-of"] is SirenVideo
    model = SirenVideo(4, 5, FrameTiming.from_fps(2, 10.0), {})
    assert model.config["width"] == 720 and model.config["depth"] == 6 and model.config["omega0"] == 25.0
    assert PAPER_CONFIG == {"width": 720, "depth": 6, "omega0": 25.0}
    assert len(model.sines) == 5 and model.sines[0].in_features == 3 and model.out.out_features == 3


def test_init_statistics():
    """First layer U(-1/n, 1/n); later layers U(±√(6/n)/ω0): inside the bounds, filling them
    (max close to the bound) and with the std of a uniform, bound/√3."""
    omega0 = 30.0
    model = make_model(width=256, depth=4, omega0=omega0)
    layers = list(model.sines) + [model.out]
    for k, layer in enumerate(layers):
        n = layer.in_features
        bound = 1.0 / n if k == 0 else math.sqrt(6.0 / n) / omega0
        wts = layer.weight.detach()
        assert wts.abs().max() <= bound
        assert wts.abs().max() > 0.95 * bound
        if wts.numel() > 500:
            assert abs(wts.std().item() - bound / math.sqrt(3)) < 0.1 * bound / math.sqrt(3)
            assert abs(wts.mean().item()) < 0.1 * bound
    # the point of the scheme: hidden pre-activations ω0·(Wh+b) stay O(1) through the depth
    h = torch.rand(4096, 3) * 2 - 1
    for layer in model.sines:
        pre = model.omega0 * layer(h)
        h = torch.sin(pre)
    assert 0.3 < pre.std().item() < 3.0


def test_seed_reproducible():
    a, b, c = make_model(seed=3), make_model(seed=3), make_model(seed=4)
    assert torch.equal(a.sines[1].weight, b.sines[1].weight)
    assert not torch.equal(a.sines[1].weight, c.sines[1].weight)


def test_cardinality():
    model = make_model(h=6, w=8, frames=3)
    assert model(torch.rand(10, 3)).shape == (10, 3)
    frames = model.render([0.0, 0.25, 1.0])
    assert frames.shape == (3, 6, 8, 3) and frames.dtype == torch.float32
    assert frames.min() >= 0 and frames.max() <= 1


@pytest.mark.parametrize("config, match", [({"width": 0}, "width"), ({"depth": 1}, "depth"),
                                           ({"omega0": 0.0}, "omega0"), ({"omega0": float("nan")}, "omega0")])
def test_exception_config(config, match):
    with pytest.raises(ValueError, match=match):
        make_model(**config)


def test_save_load_round_trip(tmp_path):
    model = make_model(h=5, w=7, frames=4, width=24, depth=3, omega0=20.0)
    model.fit_report = {"steps": 3}
    path = tmp_path / "siren.safetensors"
    model.save(path)
    assert not (tmp_path / "siren.safetensors.part").exists()
    loaded = load_inr(path)
    assert isinstance(loaded, SirenVideo) and loaded.config == model.config
    assert loaded.timing == model.timing and loaded.fit_report == {"steps": 3}
    coords = torch.rand(20, 3)
    assert torch.equal(loaded(coords), model(coords))


# --- fitting ---------------------------------------------------------------------------------
TINY = {"width": 32, "depth": 3, "omega0": 25.0}
TINY_FIT = {"batch_size": 512, "lr": 1e-3, "eval_every": 50}
TINY_LAMBDA = 0.9


def test_tiny_fit_improves_psnr_and_flow_term(make_clip):
    from frameweave.vfi_core.siren import fit_siren_of

    clip = make_clip(4, size=(16, 20), step=(0.5, 1.0))
    result = fit_siren_of(clip, lambda_obs=TINY_LAMBDA, config=TINY, steps=300, **TINY_FIT)
    assert result.best_psnr > result.history[0][2] + 5.0
    first, last = result.terms[0], result.terms[-1]
    assert first[2] is not None and last[2] < 0.5 * first[2]      # L_of decreased
    report = result.model.fit_report
    assert report["lambda_obs"] == TINY_LAMBDA and report["flow"] == "dis:medium" and report["terms"]


def test_lambda_one_is_a_plain_siren_fit(make_clip):
    """λ = 1: no flow is needed or computed, and the fit equals the shared loop's own L2 fit."""
    from frameweave.vfi_core.inr_fit import fit_implicit_video
    from frameweave.vfi_core.siren import fit_siren_of

    clip = make_clip(3, size=(8, 10))
    ours = fit_siren_of(clip, lambda_obs=1.0, config=dict(TINY, seed=5), steps=20, seed=5, holdout=0, **TINY_FIT)
    assert ours.model.fit_report["flow"] == "none" and all(t[2] is None for t in ours.terms)
    plain = SirenVideo(8, 10, FrameTiming.from_fps(3, 1.0), dict(TINY, seed=5, time_scale=-1))
    ref = fit_implicit_video(plain, clip, steps=20, seed=5, lr_schedule="cosine", weight_decay=0.0,
                             plateau_patience=0, batch_size=512, lr=1e-3, eval_every=50)
    for a, b in zip(ours.model.parameters(), ref.model.parameters()):
        assert torch.allclose(a, b, atol=1e-6)


def test_external_flow_tensor_is_used(make_clip):
    """A FLOW given as a tensor replaces DIS; the exact pan flow makes L_of start lower than a wrong one."""
    from frameweave.vfi_core.siren import fit_siren_of

    clip = make_clip(3, size=(16, 16), step=(1.0, 2.0))
    exact = torch.zeros(2, 16, 16, 2)
    exact[..., 0], exact[..., 1] = 2.0, 1.0
    res = fit_siren_of(clip, flow=exact, lambda_obs=0.5, config=TINY, steps=2, **TINY_FIT)
    assert res.model.fit_report["flow"] == "external:external"


@pytest.mark.parametrize("kwargs, match", [
    ({"flow": torch.zeros(2, 12, 15, 2)}, "flow does not fit"),
    ({"flow": torch.zeros(3, 16, 16, 2)}, "flow does not fit"),
    ({"flow": torch.full((2, 16, 16, 2), float("nan"))}, "NaN"),
    ({"lambda_obs": 1.5}, "lambda_obs"),
    ({"lambda_obs": -0.1}, "lambda_obs"),
    ({"timing": FrameTiming.from_fps(4, 10.0)}, "timing"),
])
def test_exception_fit(make_clip, kwargs, match):
    from frameweave.vfi_core.siren import fit_siren_of

    clip = make_clip(3, size=(16, 16))
    with pytest.raises(ValueError, match=match):
        fit_siren_of(clip, config=TINY, steps=1, **kwargs)


def test_exception_one_frame(make_clip):
    from frameweave.vfi_core.siren import fit_siren_of

    with pytest.raises(ValueError, match="at least 2"):
        fit_siren_of(make_clip(1, size=(16, 16)), config=TINY, steps=1)


def test_interpolate_clip_method(make_clip):
    from frameweave.vfi_core.methods import get_method

    clip = make_clip(3, size=(16, 16))
    out = get_method("siren-of")(clip, [0.25, 0.5], steps=5, lambda_obs=TINY_LAMBDA, batch_size=256, **TINY)
    assert out.shape == (7, 16, 16, 3)
    assert torch.equal(out[::3], clip)
    assert out.min() >= 0 and out.max() <= 1


# --- nodes -----------------------------------------------------------------------------------
def _node():
    from frameweave.nodes.siren_nodes import FrameWeaveFitSIRENOF
    return FrameWeaveFitSIRENOF()


def test_node_under_inference_mode_and_render(make_clip):
    """ComfyUI calls nodes under inference_mode: the fit still trains, and Render Frames renders it."""
    from frameweave.nodes import NODE_CLASS_MAPPINGS
    from frameweave.nodes.inr_nodes import FrameWeaveRenderFrames
    from frameweave.vfi_core.flow import estimate_flow

    assert "FrameWeaveFitSIRENOF" in NODE_CLASS_MAPPINGS
    timing = FrameTiming((0.0, 0.1, 0.4), 0.5)
    with torch.inference_mode():
        clip = make_clip(3, size=(16, 16))                    # an inference tensor, as ComfyUI passes
        flow = estimate_flow(clip, preset="ultrafast")
        model, curve = _node().fit(clip, lambda_obs=TINY_LAMBDA, omega0=25.0, width=16, depth=3, steps=20,
                                   time_budget_s=0.0, lr=1e-3, batch_size=256, seed=0, flow=flow,
                                   timing=timing)["result"]
        frames, out_timing = FrameWeaveRenderFrames().render(model, multiplier=2)
    assert isinstance(model, SirenVideo) and model.timing == timing
    assert model.fit_report["steps"] == 20 and model.fit_report["flow"] == "dis:ultrafast"
    assert 0 < model.config["time_scale"] < 1                   # auto for 3 frames
    assert curve.ndim == 4 and curve.shape[0] == 1 and curve.shape[-1] == 3
    assert frames.shape == (5, 16, 16, 3) and len(out_timing) == 5
    assert frames.min() >= 0 and frames.max() <= 1


def test_node_computes_flow_when_absent(make_clip):
    clip = make_clip(3, size=(16, 16))
    with torch.inference_mode():
        model, _ = _node().fit(clip, lambda_obs=0.5, width=16, depth=3, steps=3, time_budget_s=0.0, lr=1e-3,
                               batch_size=64, flow_preset="fast")["result"]
    assert model.fit_report["flow"] == "dis:fast"


@pytest.mark.parametrize("kwargs, match", [
    ({"flow": torch.zeros(2, 12, 15, 2)}, "Fit SIREN-OF: flow does not fit"),
    ({"steps": 0, "time_budget_s": 0.0}, "steps > 0 or a time budget"),
    ({"flow_preset": "slow"}, "flow_preset"),
    ({"timing": FrameTiming.from_fps(2, 10.0)}, "timing"),
])
def test_node_exception(make_clip, kwargs, match):
    args = {"width": 8, "depth": 2, "steps": 1, "time_budget_s": 0.0}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        _node().fit(make_clip(3, size=(16, 16)), **args)
    with pytest.raises(ValueError, match="at least 2"):
        _node().fit(make_clip(1, size=(16, 16)), width=8, depth=2, steps=1)


# --- time scale ------------------------------------------------------------------------------
def test_time_scale_auto_keeps_the_initial_phase_step_below_time_phase():
    """Eq. (time phase), measured on the built network: ω0·s·max|W_t|·2·Δt_max <= TIME_PHASE for
    the auto s (even and uneven timing); long evenly timed clips keep the paper's s = 1."""
    from frameweave.vfi_core.siren import TIME_PHASE, resolve_time_scale

    timings = [FrameTiming.from_fps(n, 10.0) for n in (2, 3, 5, 9, 17)]
    timings.append(FrameTiming((0.0, 0.1, 0.2, 0.9, 1.0), 1.1))            # one wide gap (GIF delays)
    for timing in timings:
        model = SirenVideo(6, 8, timing, {"width": 64, "depth": 3, "time_scale": -1, "seed": 1})
        s = model.config["time_scale"]
        times = timing.normalised()
        widest = float(max(b - a for a, b in zip(times[:-1], times[1:])))
        w_t = model.sines[0].weight[:, 2].abs().max().item()             # first layer, time column
        assert 0 < s <= 1.0
        assert model.omega0 * s * w_t * 2 * widest <= TIME_PHASE + 1e-9
        assert model.omega0 * s * (1 / 3) * 2 * widest > 0.99 * TIME_PHASE  # the largest such s
    uneven = resolve_time_scale(-1, 25.0, timings[-1].normalised())
    assert uneven < resolve_time_scale(-1, 25.0, FrameTiming.from_fps(5, 10.0).normalised())
    assert resolve_time_scale(-1, 25.0, FrameTiming.from_fps(95, 10.0).normalised()) == 1.0
    assert resolve_time_scale(0.5, 25.0, [0.0, 1.0]) == 0.5 and resolve_time_scale(2.0, 25.0, [0, 1]) == 2.0


def test_time_scale_defaults_paper_for_the_model_auto_for_the_fit(make_clip):
    """SirenVideo without the key is the paper's network (s = 1: how files saved before the option
    were fitted); fit_siren_of and the node default to auto."""
    from frameweave.vfi_core.siren import fit_siren_of

    assert SirenVideo(4, 5, FrameTiming.from_fps(5, 10.0), {"width": 8, "depth": 2}).config["time_scale"] == 1.0
    res = fit_siren_of(make_clip(5, size=(8, 10)), lambda_obs=1.0, config=TINY, steps=2, **TINY_FIT)
    assert 0 < res.model.config["time_scale"] < 1.0


def test_model_saved_without_time_scale_loads_as_the_paper_network(tmp_path):
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    model = make_model(frames=5, time_scale=1.0)
    path = tmp_path / "old.safetensors"
    model.save(path)
    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata())
    config = json.loads(meta["config"])
    del config["time_scale"]                                 # as written before the option
    meta["config"] = json.dumps(config)
    save_file(load_file(str(path)), str(path), metadata=meta)
    loaded = load_inr(path)
    coords = torch.rand(20, 3)
    assert loaded.config["time_scale"] == 1.0 and torch.equal(loaded(coords), model(coords))


@pytest.mark.parametrize("bad", [0.0, -2.0, float("nan"), float("inf")])
def test_exception_time_scale(bad):
    with pytest.raises(ValueError, match="time_scale"):
        make_model(time_scale=bad)


def test_time_scale_scales_the_time_input_only():
    """s = 1 is the paper's network; another s equals it evaluated at t' = 1/2 + s·(t - 1/2)."""
    paper, scaled = make_model(time_scale=1.0), make_model(time_scale=0.25)
    scaled.load_state_dict(paper.state_dict())
    coords = torch.rand(50, 3)
    moved = coords.clone()
    moved[:, 2] = 0.5 + 0.25 * (coords[:, 2] - 0.5)
    assert torch.allclose(scaled(coords), paper(moved), atol=1e-6)


def test_time_scale_survives_save_and_load(tmp_path):
    model = make_model(frames=4, time_scale=-1)
    path = tmp_path / "scaled.safetensors"
    model.save(path)
    loaded = load_inr(path)
    assert loaded.config["time_scale"] == model.config["time_scale"] < 1.0
    coords = torch.rand(20, 3)
    assert torch.equal(loaded(coords), model(coords))


def test_time_scale_auto_interpolates_better_than_the_paper_scale(make_clip):
    """A pan over a real photo, every 2nd frame dropped, plain SIREN fits (λ = 1) of the same
    length: with the auto time scale the rebuilt frames are clearly better than with s = 1."""
    from frameweave.vfi_core.evaluation import drop_frames, score_frames
    from frameweave.vfi_core.inr import inserted_times
    from frameweave.vfi_core.siren import fit_siren_of

    frames = make_clip(9, size=(24, 32), step=(0.5, 1.0))
    split = drop_frames(frames, 2, FrameTiming.from_fps(9, 10.0))
    truth = split.reference[split.dropped_mask]
    scores = {}
    for time_scale in (1.0, -1):
        res = fit_siren_of(split.kept, timing=split.kept_timing, lambda_obs=1.0,
                           config={"width": 64, "depth": 4, "time_scale": time_scale}, steps=300,
                           batch_size=1024, lr=1e-3)
        out = res.model.render(inserted_times(split.kept_timing, split.fractions))
        scores[time_scale] = float(score_frames(out, truth)[0].mean())
    assert scores[-1] > scores[1.0] + 1.0, scores


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_mixed_precision_fit_on_cpu(make_clip, monkeypatch, dtype):
    """The GPU fit under autocast (bfloat16, or float16 where bf16 is unsupported), on a CPU: the
    forward-mode flow term and the observation loss stay finite and the fit improves."""
    from frameweave.vfi_core import inr_fit
    from frameweave.vfi_core.siren import fit_siren_of
    monkeypatch.setattr(inr_fit, "_amp_settings", lambda device, amp: (dtype, False))
    clip = make_clip(4, size=(16, 20), step=(0.5, 1.0))
    result = fit_siren_of(clip, lambda_obs=TINY_LAMBDA, config=TINY, steps=60, holdout=0, **TINY_FIT)
    assert math.isfinite(result.best_psnr) and result.best_psnr > result.history[0][2] + 1.0
    assert all(math.isfinite(t[2]) for t in result.terms if t[2] is not None)


def test_first_sine_layer_stays_float32_under_autocast():
    """The first layer's phases reach tens of radians (bfloat16 steps by 0.125 rad there): under
    autocast it runs in float32, so a mixed-precision forward stays close to the float32 one."""
    model = make_model(16, 16, frames=4, width=64, depth=4)
    with torch.no_grad():                                 # first-layer weights grow while fitting
        model.sines[0].weight.mul_(4.0)
        model.sines[0].bias.mul_(4.0)
    coords = torch.rand(4096, 3, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        reference = model(coords)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = model(coords).float()
    # measured: 0.0025 with the first layer in float32, 0.0098 with it in bfloat16
    assert (mixed - reference).abs().max() < 0.005
