"""The shared per-clip fitting loop (vfi_core/inr_fit.py), on a small model independent of NeCo."""
import math

import pytest
import torch

from frameweave.vfi_core.inr import ImplicitVideo
from frameweave.vfi_core.inr_fit import fit_implicit_video, l2_loss, pixel_coords, psnr_from_mse
from frameweave.vfi_core.timing import FrameTiming


class TinyVideo(ImplicitVideo):
    """A small ReLU MLP on (x, y, t) with a few sinusoids: enough to fit a 3-frame 12x16 clip."""

    kind = "test-tiny"

    def __init__(self, height, width, timing, config=None):
        super().__init__(height, width, timing, config or {})
        torch.manual_seed(int(self.config.get("seed", 0)))
        self.net = torch.nn.Sequential(torch.nn.Linear(3 + 36, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64),
                                       torch.nn.ReLU(), torch.nn.Linear(64, 3))

    def forward(self, coords):
        k = math.pi * torch.arange(1, 7, dtype=coords.dtype)
        a = (coords[:, None, :] * k[None, :, None]).reshape(coords.shape[0], -1)   # [N,18]
        return 0.5 + self.net(torch.cat([coords, a.sin(), a.cos()], dim=1))


def _clip(make_clip, n=3):
    return make_clip(n, size=(12, 16), step=(1.0, 1.0))


def _model(frames, timing=None):
    return TinyVideo(frames.shape[1], frames.shape[2], timing or FrameTiming.from_fps(frames.shape[0], 10.0))


def _psnr(model, frames):
    return psnr_from_mse(float(((model.render(model.frame_times()) - frames) ** 2).mean()))


def test_pixel_coords_match_render_layout():
    timing = FrameTiming.from_durations([0.1, 0.3, 0.2])
    model = TinyVideo(5, 7, timing)
    times = model.frame_times()
    grid = model.pixel_grid()                                            # [35,2] row-major
    p = torch.arange(35)
    for f in range(3):
        c = pixel_coords(torch.full_like(p, f), p, times, 5, 7)
        torch.testing.assert_close(c[:, :2], grid)
        assert torch.all(c[:, 2] == times[f])
    torch.testing.assert_close(times, torch.tensor([0.0, 0.25, 1.0]))   # uneven GIF delays honoured


def test_fit_improves_and_keeps_best(make_clip):
    frames = _clip(make_clip)
    model = _model(frames)
    result = fit_implicit_video(model, frames, steps=300, batch_size=256, eval_every=25, plateau_patience=0)
    assert result.model is model and result.stopped_because == "steps" and result.steps == 300
    steps = [h[0] for h in result.history]
    assert steps[0] == 0 and steps[-1] == 300 and steps == sorted(steps)
    assert result.best_psnr == max(h[2] for h in result.history)
    assert result.best_psnr > result.history[0][2] + 6.0
    # the model holds the best weights: its PSNR over whole frames is the best one recorded
    assert abs(_psnr(model, frames) - result.best_psnr) < 1e-3
    assert model.fit_report["steps"] == 300 and model.fit_report["best_psnr"] == result.best_psnr
    assert not model.training


def test_inputs_not_modified_and_inference_mode(make_clip):
    frames = _clip(make_clip)
    before = frames.clone()
    with torch.inference_mode():                                         # as ComfyUI calls nodes
        inference_frames = frames.clone()
        model = _model(frames)                                           # parameters are inference tensors
        result = fit_implicit_video(model, inference_frames, steps=40, batch_size=128, eval_every=20)
    assert result.best_psnr > result.history[0][2]
    assert torch.equal(frames, before)
    assert not any(p.is_inference() for p in model.parameters())


def test_time_budget_stops(make_clip):
    frames = _clip(make_clip)
    result = fit_implicit_video(_model(frames), frames, time_budget_s=0.3, batch_size=64, eval_every=10,
                                plateau_patience=0)
    assert result.stopped_because == "time_budget"
    assert 1 <= result.steps < 1_000_000
    assert result.history[-1][0] == result.steps                        # evaluated at the end


def test_plateau_and_target_stop(make_clip):
    frames = _clip(make_clip)
    stalled = fit_implicit_video(_model(frames), frames, steps=100_000, lr=1e-12, batch_size=32, eval_every=5,
                                 plateau_patience=20)
    assert stalled.stopped_because == "plateau" and stalled.steps == 20
    reached = fit_implicit_video(_model(frames), frames, steps=100_000, batch_size=32, eval_every=5,
                                 target_psnr=-1.0)
    assert reached.stopped_because == "target_psnr" and reached.steps == 5


def test_loss_fn_sees_consistent_batches(make_clip):
    frames = _clip(make_clip)
    timing = FrameTiming.from_durations([0.1, 0.3, 0.2])
    model = _model(frames, timing)
    seen = []

    def loss_fn(m, batch):
        seen.append({k: (v.clone() if torch.is_tensor(v) else v) for k, v in batch.items()})
        return l2_loss(m, batch)

    fit_implicit_video(model, frames, steps=3, batch_size=50, loss_fn=loss_fn, eval_every=10)
    assert [b["step"] for b in seen] == [0, 1, 2]
    b = seen[0]
    assert b["coords"].shape == (50, 3) and b["rgb"].shape == (50, 3)
    f, p = b["frame_index"], b["pixel_index"]
    rows, cols = p // 16, p % 16
    torch.testing.assert_close(b["rgb"], frames[f, rows, cols])
    torch.testing.assert_close(b["coords"][:, 0], cols / 15.0)
    torch.testing.assert_close(b["coords"][:, 1], rows / 11.0)
    torch.testing.assert_close(b["coords"][:, 2], torch.tensor([0.0, 0.25, 1.0])[f])


def test_sample_fn_and_eval_subset(make_clip):
    frames = _clip(make_clip)
    calls = []

    def only_frame_two(batch_size, generator):
        calls.append(batch_size)
        p = torch.randint(0, 12 * 16, (batch_size,), generator=generator)
        return torch.full_like(p, 2), p

    seen = []

    def loss_fn(m, batch):
        seen.append(batch["frame_index"].unique().tolist())
        return l2_loss(m, batch)

    result = fit_implicit_video(_model(frames), frames, steps=4, batch_size=20, sample_fn=only_frame_two,
                                loss_fn=loss_fn, eval_every=2, eval_pixels=100, lr_schedule="cosine")
    assert calls == [20] * 4 and all(s == [2] for s in seen)
    assert len(result.history) == 3 and all(math.isfinite(h[2]) for h in result.history)


def test_interruption_restores_best_and_reraises(make_clip):
    frames = _clip(make_clip)
    model = _model(frames)

    class Cancelled(Exception):
        pass

    def progress(done, total):
        assert total == 1000
        if done >= 150:
            raise Cancelled("user pressed cancel")

    with pytest.raises(Cancelled, match="cancel"):
        fit_implicit_video(model, frames, steps=1000, batch_size=256, eval_every=20, progress=progress,
                           plateau_patience=0)
    report = model.fit_report
    assert report["stopped_because"] == "interrupted" and report["steps"] == 150
    best = max(h[2] for h in report["history"])
    assert best > report["history"][0][2]
    assert abs(_psnr(model, frames) - best) < 1e-3                      # holds the best weights so far


def test_progress_reports_steps_and_budget(make_clip, monkeypatch):
    from frameweave.vfi_core import inr_fit

    frames = _clip(make_clip)
    calls = []
    with monkeypatch.context() as m:
        m.setattr(inr_fit, "_now", lambda: 0.0)        # a stopped clock: only the every-10-steps calls
        fit_implicit_video(_model(frames), frames, steps=35, batch_size=16, progress=lambda d, t: calls.append((d, t)))
    set_up = [c for c in calls if c[0] == 0]                 # Cancel checks between the set-up stages
    assert set_up and all(c == (0, 35) for c in set_up)
    assert calls[len(set_up):] == [(10, 35), (20, 35), (30, 35), (35, 35)]
    calls.clear()
    fit_implicit_video(_model(frames), frames, time_budget_s=0.2, batch_size=16,
                       progress=lambda d, t: calls.append((d, t)))
    assert calls and all(t == 1000 and 0 <= d <= 1000 for d, t in calls)


def test_exceptions(make_clip):
    frames = _clip(make_clip)
    model = _model(frames)
    with pytest.raises(ValueError, match="at least 2 frames"):
        fit_implicit_video(_model(frames[:1]), frames[:1], steps=5)
    with pytest.raises(ValueError, match="does not match the model"):
        fit_implicit_video(model, make_clip(3, size=(10, 16)), steps=5)
    with pytest.raises(ValueError, match="timing has 3 frames but 2"):
        fit_implicit_video(model, frames[:2], steps=5)
    bad = frames.clone()
    bad[0, 1, 1, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        fit_implicit_video(model, bad, steps=5)
    for budget in (0, -1.0, float("inf")):
        with pytest.raises(ValueError, match="time budget must be a positive"):
            fit_implicit_video(model, frames, time_budget_s=budget)
    with pytest.raises(ValueError, match="steps or a time budget"):
        fit_implicit_video(model, frames)
    with pytest.raises(ValueError, match="steps must be >= 1"):
        fit_implicit_video(model, frames, steps=0)
    with pytest.raises(ValueError, match="lr_schedule"):
        fit_implicit_video(model, frames, steps=5, lr_schedule="step")
    with pytest.raises(ValueError, match="learning rate"):
        fit_implicit_video(model, frames, steps=5, lr=0.0)
    with pytest.raises(ValueError, match="batch_size"):
        fit_implicit_video(model, frames, steps=5, batch_size=0)
    with pytest.raises(TypeError, match="ImplicitVideo"):
        fit_implicit_video(torch.nn.Linear(3, 3), frames, steps=5)


def test_divergence_is_reported(make_clip):
    frames = _clip(make_clip)
    with pytest.raises(FloatingPointError, match="diverged"):
        fit_implicit_video(_model(frames), frames, steps=5, loss_fn=lambda m, b: torch.tensor(float("nan")))
