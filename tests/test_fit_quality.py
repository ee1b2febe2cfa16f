"""Honest fits (issue 16 items 1-2, issue 13 item 4): held-out frames and the verdict, cancel checks by
time in fits and renders (fake clocks), the budget split between fit and render, progress that never
goes back."""
import math

import pytest
import torch

from frameweave.vfi_core import inr, inr_fit
from frameweave.vfi_core.console import ProgressBar
from frameweave.vfi_core.fit_quality import choose_holdout, detail_ratio, holdout_neighbours, quality_verdict
from frameweave.vfi_core.inr import ImplicitVideo, _RunProgress, plan_clip_run, with_keyframe_residual
from frameweave.vfi_core.inr_fit import fit_implicit_video, psnr_from_mse
from frameweave.vfi_core.timing import FrameTiming


class TinyVideo(ImplicitVideo):
    """A small MLP on (x, y, t) with sinusoids of x and y only (smooth in t)."""

    kind = "test-quality"

    def __init__(self, height, width, timing, config=None):
        super().__init__(height, width, timing, config or {"width": 32})
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(3 + 24, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3))

    def forward(self, coords):
        k = math.pi * torch.arange(1, 7, dtype=coords.dtype)
        a = (coords[:, None, :2] * k[None, :, None]).reshape(coords.shape[0], -1)   # [N,12]
        return 0.5 + self.net(torch.cat([coords, a.sin(), a.cos()], dim=1))


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def _model(frames):
    return TinyVideo(frames.shape[1], frames.shape[2], FrameTiming.from_fps(frames.shape[0], 10.0))


# --- held-out frames ---------------------------------------------------------------------------------
def test_choose_holdout_is_interior_spread_and_never_neighbours():
    assert choose_holdout(2) == [] and choose_holdout(3) == [1] and choose_holdout(8) == [4]
    assert choose_holdout(8, 0) == [] and choose_holdout(5, 9) == [1, 3]          # at most (n-1)//2
    for n in range(3, 60):
        held = choose_holdout(n)
        assert len(held) == max(1, round(n / 8))
        assert all(1 <= h <= n - 2 for h in held) and all(b - a >= 2 for a, b in zip(held[:-1], held[1:]))
    with pytest.raises(ValueError, match="holdout"):
        choose_holdout(8, -2)


def test_holdout_neighbours_and_detail():
    assert holdout_neighbours(6, [2, 4]) == [(1, 3), (3, 5)] and holdout_neighbours(5, [1, 3]) == [(0, 2), (2, 4)]
    frames = torch.rand(2, 8, 8, 3, generator=torch.Generator().manual_seed(0))
    assert detail_ratio(frames, frames) == pytest.approx(1.0)
    assert detail_ratio(torch.full_like(frames, 0.5), frames) == 0.0


def test_keyframe_residual_gives_the_input_frame_at_its_time_and_the_blend_for_a_fit_linear_in_time():
    gen = torch.Generator().manual_seed(1)
    ia, ib, fa, fb = (torch.rand(4, 5, 3, generator=gen) * 0.5 + 0.25 for _ in range(4))
    for w in (0.0, 0.3, 0.5, 1.0):
        linear_fit = (1 - w) * fa + w * fb                  # a fit that moves nothing between the frames
        torch.testing.assert_close(with_keyframe_residual(linear_fit, ia, fa, ib, fb, w), (1 - w) * ia + w * ib)
    assert torch.equal(with_keyframe_residual(fa, ia, fa, ib, fb, 0.0), ia)


def test_fit_holds_frames_out_then_fits_them_and_reports(make_clip):
    frames = make_clip(5, size=(12, 16), step=(0.5, 1.0))
    seen = []

    def loss(model, batch):
        seen.append((batch["step"], set(batch["frame_index"].tolist()), batch["holdout"]))
        return inr_fit.l2_loss(model, batch)

    result = fit_implicit_video(_model(frames), frames, steps=50, batch_size=256, eval_every=10, loss_fn=loss,
                                holdout=[2], plateau_patience=0)
    phase_a = [s for s in seen if s[2]]
    phase_b = [s for s in seen if not s[2]]
    assert {s[0] for s in phase_a} == set(range(40)) and {s[0] for s in phase_b} == set(range(40, 50))   # 20 % refit
    assert all(2 not in frames_seen for _, frames_seen, _ in phase_a)
    assert any(2 in frames_seen for _, frames_seen, _ in phase_b)
    q = result.model.fit_report["quality"]
    assert q["holdout"] == [2] and q["kept_frames"] == 4 and q["at_step"] == 40 and q["refit_from_step"] == 40
    assert all(math.isfinite(q[k]) for k in ("kept_psnr", "holdout_psnr", "holdout_psnr_residual", "blend_psnr",
                                             "detail", "detail_residual"))
    blend = 0.5 * (frames[1] + frames[3])                               # 192 pixels: all of them scored
    assert q["blend_psnr"] == pytest.approx(psnr_from_mse(float(((blend - frames[2]) ** 2).mean())), abs=1e-4)
    assert len(result.holdout_history) == 4                            # steps 10..40


def test_fit_without_refit_never_fits_the_held_out_frames(make_clip):
    frames = make_clip(5, size=(12, 16))
    seen = set()

    def loss(model, batch):
        seen.update(batch["frame_index"].tolist())
        return inr_fit.l2_loss(model, batch)

    result = fit_implicit_video(_model(frames), frames, steps=20, batch_size=256, loss_fn=loss, holdout=[1, 3],
                                refit_share=0.0)
    assert seen == {0, 2, 4} and result.quality["at_step"] == 20 and "refit_from_step" not in result.quality


def test_fit_holdout_exceptions(make_clip):
    frames = make_clip(5, size=(12, 16))
    for bad, match in (([0], "interior"), ([4], "interior"), ([1, 2], "neighbours")):
        with pytest.raises(ValueError, match=match):
            fit_implicit_video(_model(frames), frames, steps=2, holdout=bad)
    with pytest.raises(ValueError, match="refit_share"):
        fit_implicit_video(_model(frames), frames, steps=2, holdout=[2], refit_share=1.0)


def test_quality_verdict_says_below_the_blend_and_what_to_change():
    report = {"seconds": 60.0, "quality": {"frames": 8, "kept_frames": 7, "kept_psnr": 27.0, "holdout": [4],
                                           "holdout_psnr": 21.0, "blend_psnr": 29.5, "detail": 0.2}}
    text = quality_verdict(report, "neco", {"width": 256, "time_L": 6})
    assert "21.00 dB on 1 frame held out of the fit (frame 4)" in text and "linear blend scores 29.50 dB" in text
    assert "BELOW the linear blend by 8.5 dB" in text and "blurred" in text
    assert "time_budget_s=300" in text and "width 128" in text and "Flow Warp" in text
    report["quality"].update(holdout_psnr=30.0, detail=0.9)
    assert quality_verdict(report, "neco", {}).endswith("The fit is on a par with the linear blend between frames.")
    report["quality"].update(holdout_psnr=12.0, detail=0.05, holdout_psnr_residual=29.4, detail_residual=0.8)
    text = quality_verdict(report, "siren-of", {}, keyframe_residual=True)   # a fit that barely started
    assert "29.40 dB with the keyframe residual" in text and "The model alone scores 12.00 dB there" in text
    assert "mostly the cross-fade" in text and text.endswith("on a par with the linear blend between frames.")
    report["quality"].update(holdout=[], holdout_psnr=None)
    assert "not measured" in quality_verdict(report)
    assert quality_verdict({}) == ""


# --- cancel checks by time (issue 13 item 4) --------------------------------------------------------------
def test_slow_steps_are_split_so_cancel_is_checked_every_quarter_second(make_clip, monkeypatch):
    """A step that costs 4 s (fake clock: each pixel of the loss costs 4/256 s) is split into micro-batches
    of bounded work; progress (which raises ComfyUI's Cancel) is called at least every second of fake time,
    and a Cancel at fake 10 s ends the fit within a second of it."""
    clock = FakeClock()
    monkeypatch.setattr(inr_fit, "_now", clock)
    frames = make_clip(3, size=(12, 16))
    model = _model(frames)
    weights = sum(p.numel() for p in model.parameters())
    monkeypatch.setattr(inr_fit, "TRAIN_PASS_FLOPS", 64 * inr_fit.STEP_PASSES * 2 * weights)   # 64 pixels a piece
    assert inr_fit.micro_batches(model, 256, "cpu") == 4
    calls = []

    class Cancelled(Exception):
        pass

    def loss(model, batch):
        clock.t += 4.0 * batch["coords"].shape[0] / 256
        return inr_fit.l2_loss(model, batch)

    def progress(done, total):
        calls.append(clock.t)
        if clock.t >= 10.0:
            raise Cancelled

    progress.checks_cancel = True                          # as ComfyUI's (nodes._comfy.Progress)
    with pytest.raises(Cancelled):
        fit_implicit_video(model, frames, steps=100, batch_size=256, loss_fn=loss, progress=progress, eval_every=1000)
    gaps = [b - a for a, b in zip([0.0] + calls[:-1], calls)]
    assert max(gaps) <= 1.0 and 10.0 <= calls[-1] <= 11.0


def test_accumulated_micro_batches_give_the_same_update(make_clip, monkeypatch):
    frames = make_clip(3, size=(12, 16))
    one = fit_implicit_video(_model(frames), frames, steps=3, batch_size=256).model
    monkeypatch.setattr(inr_fit, "TRAIN_PASS_FLOPS", 1)                    # -> 16-pixel micro-batches
    assert inr_fit.micro_batches(_model(frames), 256, "cpu") == 16
    assert inr_fit.micro_batches(_model(frames), 256, "cuda") == 1

    def cancel_checks(done, total):
        pass

    cancel_checks.checks_cancel = True
    many = fit_implicit_video(_model(frames), frames, steps=3, batch_size=256, progress=cancel_checks).model
    for a, b in zip(one.parameters(), many.parameters()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_render_checks_by_time_between_passes(make_clip, monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(inr, "_now", clock)
    model = _model(make_clip(3, size=(12, 16)))
    forward = model.forward

    def slow(coords):
        clock.t += 0.1                                     # every pass of 16 pixels: 0.1 s
        return forward(coords)

    model.forward = slow
    calls = []
    frames = model.render([0.25, 0.75], chunk=16, progress=lambda d, t: calls.append((clock.t, d, t)))
    assert frames.shape == (2, 12, 16, 3)
    times = [c[0] for c in calls]
    assert max(b - a for a, b in zip([0.0] + times[:-1], times)) <= 0.35
    assert [c[1] for c in calls] == sorted(c[1] for c in calls) and calls[-1][1:] == (384, 384)


# --- time budget over fit and render, progress that never goes back -----------------------------------------
def test_plan_splits_the_budget_between_fit_and_render(monkeypatch):
    model = TinyVideo(10, 10, FrameTiming.from_fps(3, 10.0))
    monkeypatch.setattr(ImplicitVideo, "seconds_per_pixel", lambda self, device=None, **kw: 0.001)   # 0.1 s a frame
    plan = plan_clip_run(model, 100, "cpu", time_budget_s=60.0)
    assert plan.render_s == pytest.approx(10.0) and plan.fit_budget_s == pytest.approx(50.0)
    assert plan.fit_share == pytest.approx(50 / 60) and "rendering 100 frames of 10x10 takes about 10 s" in plan.note
    slow = plan_clip_run(model, 1000, "cpu", time_budget_s=60.0)                           # 100 s of render
    assert slow.fit_budget_s == pytest.approx(30.0) and "the run takes about 2 min 10 s" in slow.note
    steps = plan_clip_run(model, 10, "cpu", steps=100, batch_size=10, step_passes=6)
    assert steps.fit_budget_s is None and "after a fit of 100 steps (about 6.0 s)" in steps.note


@pytest.mark.parametrize("budget", [-1, 0, float("nan"), float("inf")])
def test_plan_rejects_a_budget_that_is_not_positive_naming_the_value_given(monkeypatch, budget):
    """The CLI's ``--option time_budget_s=-1`` was reported as "got -0.5" (the fit's half)."""
    model = TinyVideo(10, 10, FrameTiming.from_fps(3, 10.0))
    monkeypatch.setattr(ImplicitVideo, "seconds_per_pixel", lambda self, device=None, **kw: 0.001)
    with pytest.raises(ValueError, match=f"time budget must be a positive number of seconds, got {budget}$"):
        plan_clip_run(model, 100, "cpu", time_budget_s=budget)


def test_run_progress_never_goes_back():
    shown = []
    run = _RunProgress(lambda d, t: shown.append((d, t)), fit_share=0.8)
    for d in (0, 300, 1000):
        run.fit(d, 1000)
    run.fit(50, 100)                                       # a fit that reports in other units
    for d in (0, 5, 10):
        run.render(d, 10)
    assert [s[0] for s in shown] == sorted(s[0] for s in shown) and shown[-1] == (1000, 1000)
    assert all(t == 1000 for _, t in shown) and shown[2] == (800, 1000)


def test_progress_bar_never_goes_back_and_logs_while_it_advances():
    import io

    clock, stream = FakeClock(), io.StringIO()
    bar = ProgressBar("x", stream=stream, clock=clock, log_interval=30.0)
    bar(50, 100)                                           # 50 % shown
    bar(1000, 10000)                                       # a total that grew: stays at 50 %
    assert bar.done == 5000 and bar.total == 10000
    lines = stream.getvalue().splitlines()
    for minute in range(1, 4):                             # a slow stretch inside one tenth: a line per 30 s
        clock.t = 30.0 * minute
        bar(5000 + minute, 10000)
    assert len(stream.getvalue().splitlines()) == len(lines) + 3
    clock.t += 5.0
    bar(5004, 10000)                                       # within 30 s of the last line: nothing
    assert len(stream.getvalue().splitlines()) == len(lines) + 3


# --- SIREN-OF: the flow term sees nothing of a held-out frame --------------------------------------------------
def test_siren_of_flow_term_without_the_held_out_frame(make_clip):
    from frameweave.vfi_core.flow import estimate_flow
    from frameweave.vfi_core.siren import _kept_velocity

    clip = make_clip(5, size=(24, 32), step=(0.5, 1.0))
    timing = FrameTiming.from_fps(5, 10.0)
    other = clip.clone()
    other[2] = 1.0 - other[2]                                        # a different held-out frame
    a = _kept_velocity(clip, estimate_flow(clip, preset="ultrafast"), timing, [2], "ultrafast")
    b = _kept_velocity(other, estimate_flow(other, preset="ultrafast"), timing, [2], "ultrafast")
    torch.testing.assert_close(a, b)
    assert a.shape == (5, 24 * 32, 2) and torch.all(a[2] == 0)


def test_fit_nodes_say_the_quality_on_the_node(make_clip, monkeypatch):
    from frameweave.nodes.inr_nodes import FrameWeaveFitNeCo

    monkeypatch.setenv("FRAMEWEAVE_DEVICE", "cpu")
    frames = make_clip(5, size=(12, 16))
    with torch.inference_mode():
        out = FrameWeaveFitNeCo().fit(frames, steps=20, time_budget_s=0.0, width=16, depth=3, batch_size=256)
    model, curve = out["result"]
    text = out["ui"]["text"][0]
    assert "held out of the fit (frame 2)" in text and "linear blend scores" in text
    assert model.fit_report["quality"]["holdout"] == [2] and curve.shape[0] == 1
    with torch.inference_mode():
        none = FrameWeaveFitNeCo().fit(frames, steps=5, time_budget_s=0.0, width=16, depth=3, holdout=0)
    assert "not measured" in none["ui"]["text"][0]


def test_a_budget_that_ends_before_the_refit_still_measures_the_held_out_frames(make_clip, monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(inr_fit, "_now", clock)
    frames = make_clip(5, size=(12, 16))

    def loss(model, batch):
        clock.t += 0.6                                     # step 1 at 0.6 s (< 80 %), step 2 past the budget
        return inr_fit.l2_loss(model, batch)

    result = fit_implicit_video(_model(frames), frames, time_budget_s=1.0, batch_size=64, loss_fn=loss, holdout=[2])
    assert result.stopped_because == "time_budget" and result.steps == 2
    assert result.quality["at_step"] == 2 and "refit_from_step" not in result.quality
    assert math.isfinite(result.quality["holdout_psnr"])


def test_render_node_with_the_fitted_frames_adds_the_keyframe_residual(make_clip, monkeypatch):
    from frameweave.nodes.inr_nodes import FrameWeaveRenderFrames

    monkeypatch.setenv("FRAMEWEAVE_DEVICE", "cpu")
    frames = make_clip(3, size=(12, 16))
    model = fit_implicit_video(_model(frames), frames, steps=5, batch_size=64).model
    node = FrameWeaveRenderFrames()
    with torch.inference_mode():
        plain, timing = node.render(model, multiplier=2)
        corrected, same_timing = node.render(model, multiplier=2, frames=frames)
    assert same_timing == timing and corrected.shape == plain.shape == (5, 12, 16, 3)
    torch.testing.assert_close(corrected[::2], frames, atol=1e-6, rtol=0)   # the input frames come out exactly
    renders = model.render(model.frame_times())
    expected = with_keyframe_residual(plain[1:2], frames[:1], renders[:1], frames[1:2], renders[1:2], 0.5)
    torch.testing.assert_close(corrected[1:2], expected, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="the 3 frames of 16x12 the model was fitted to"):
        node.render(model, multiplier=2, frames=frames[:2])


def test_render_passes_are_bounded_by_work_on_a_cpu():
    """On a CPU a render / evaluation pass does at most CPU_PASS_FLOPS of work (Cancel is checked between
    passes): a few hundred pixels for the paper's SIREN, many more for small networks."""
    from frameweave.vfi_core.siren import PAPER_CONFIG, SirenVideo

    timing = FrameTiming.from_fps(3, 10.0)
    paper = SirenVideo(8, 8, timing, dict(PAPER_CONFIG))
    weights = sum(p.numel() for p in paper.parameters())
    chunk = paper.render_chunk("cpu")
    assert 64 <= chunk and chunk * 2 * weights <= inr.CPU_PASS_FLOPS
    small = SirenVideo(8, 8, timing, {"width": 32, "depth": 3})
    assert small.render_chunk("cpu") > 50 * chunk
    assert paper.seconds_per_pixel("cpu") > 0


def test_the_switch_to_the_refit_keeps_what_phase_a_learned(make_clip):
    """A fit with fewer steps than eval_every before the switch: the weights at the switch are scored
    and kept (not the step-0 weights, the only ones scored before)."""
    frames = make_clip(5, size=(12, 16))
    result = fit_implicit_video(_model(frames), frames, steps=50, batch_size=256, eval_every=1000, holdout=[2],
                                plateau_patience=0, lr=3e-3)
    q = result.quality
    assert [h[0] for h in result.history[:2]] == [0, 40] and q["kept_psnr"] == result.history[1][2]
    assert q["kept_psnr"] > result.history[0][2] + 1.0
