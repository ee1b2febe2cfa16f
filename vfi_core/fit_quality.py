"""How good is a per-clip fit between its frames? Held-out frames, the linear blend on them, a verdict.

A fit (NeCo, SIREN-OF) always reproduces the frames it was fitted to better than the frames
between them, and only the latter matter for interpolation. So the fitting loop holds a few
interior frames out of the fit (``choose_holdout``), renders the model at their times, and scores
it against them (alone, and with the keyframe residual of its neighbours, ``inr.with_keyframe_residual``)
— next to what the linear blend of their kept neighbours scores on the same frames:

    I_blend(t_h) = (1 - f)·I_a + f·I_b,   f = (t_h - t_a) / (t_b - t_a)        (blend, eq. 1)

with a, b the nearest kept frames before and after the held-out frame h. Detail is the ratio of
mean absolute image gradients (edge strength, ``detail_ratio``) of the rendered held-out frame to
the real one: a featureless blur scores a few %, a sharp frame about 100 %. ``quality_verdict``
turns the numbers into the sentences shown in the CLI summary, on the fit nodes and in headless
results.
"""
import torch

BELOW_BLEND_DB = 0.5     # a fit more than this below the blend on the held-out frames is "below"
BLURRED_DETAIL = 0.5     # held-out frames with less than half the real detail are "blurred"
WEAK_MODEL_DB = 3.0      # a model alone this far below the blend adds little to the keyframe residual


def choose_holdout(n_frames: int, count: int = -1) -> list:
    """Indices of interior frames to hold out of a fit of ``n_frames``, spread evenly, never two
    neighbours and never the first or last frame. ``count`` -1 = auto (one per 8 frames, at least
    one from 3 frames up), 0 = none; at most (n-1)//2."""
    n, count = int(n_frames), int(count)
    if count < -1:
        raise ValueError(f"holdout must be -1 (auto), 0 (none) or a number of frames, got {count}")
    if count == -1:
        count = max(1, round(n / 8)) if n >= 3 else 0
    count = min(count, max(0, (n - 1) // 2))
    if count == 0:
        return []
    return [1 + int((k + 0.5) * (n - 2) / count) for k in range(count)]


def holdout_neighbours(n_frames: int, holdout) -> list:
    """For every held-out index h: (a, b) the nearest kept frames before and after it."""
    held = set(int(h) for h in holdout)
    out = []
    for h in sorted(held):
        a = max(i for i in range(h) if i not in held)
        b = min(i for i in range(h + 1, n_frames) if i not in held)
        out.append((a, b))
    return out


def edge_strength(frames: torch.Tensor) -> torch.Tensor:
    """Mean absolute horizontal + vertical difference of the grey image, per frame [K] ([K,H,W,3] in)."""
    grey = frames.float().mean(dim=-1)                                   # [K,H,W]
    dx = (grey[:, :, 1:] - grey[:, :, :-1]).abs().flatten(1).mean(dim=1) if grey.shape[2] > 1 else 0
    dy = (grey[:, 1:, :] - grey[:, :-1, :]).abs().flatten(1).mean(dim=1) if grey.shape[1] > 1 else 0
    return dx + dy + torch.zeros(grey.shape[0])


def detail_ratio(rendered: torch.Tensor, real: torch.Tensor) -> float:
    """Edge strength of ``rendered`` over that of ``real`` (both [K,H,W,3]), pooled over frames."""
    real_edges = float(edge_strength(real).sum())
    return float(edge_strength(rendered).sum()) / real_edges if real_edges > 0 else 1.0


def _suggestions(kind: str, config: dict, seconds: float) -> str:
    longer = f"time_budget_s={max(300, int(round(seconds * 4, -1)))}"
    if kind == "neco":
        return (f"give the fit more time ({longer}); a smaller network makes more steps in the same time "
                f"(width {int(config.get('width', 256)) // 2}); time_L (now {config.get('time_L')}) "
                "lower keeps it smoother between frames")
    if kind == "siren-of":
        return (f"give the fit more time ({longer}); on a CPU a smaller network makes more steps "
                f"(width {max(64, int(config.get('width', 128)) // 2)}); time_scale lower (now "
                f"{float(config.get('time_scale', 1.0)):.3g}) keeps it smoother between frames")
    return f"give the fit more time ({longer})"


def quality_verdict(report: dict, kind: str = "", config: dict | None = None, keyframe_residual: bool = False) -> str:
    """Plain sentences on a fit's ``report["quality"]`` (written by ``inr_fit``): the PSNR on the
    fitted frames, on the held-out ones as they are rendered (the model alone, or with the keyframe
    residual) next to the linear blend, the detail kept, and — when that is below the blend or
    blurred — what to change. Empty when the report has no quality."""
    q = dict((report or {}).get("quality") or {})
    if not q:
        return ""
    residual_shown = keyframe_residual and "holdout_psnr_residual" in q
    if residual_shown:
        q.update(model_psnr=q["holdout_psnr"], holdout_psnr=q["holdout_psnr_residual"], detail=q["detail_residual"])
    kept = f"fit PSNR {q['kept_psnr']:.2f} dB on the {q['kept_frames']} fitted frames"
    if not q.get("holdout"):
        return (f"{kept}; no frame was held out ({q.get('frames', 0)} frames), so the quality between "
                "frames is not measured")
    n = len(q["holdout"])
    gap = q["holdout_psnr"] - q["blend_psnr"]
    how = " with the keyframe residual" if keyframe_residual else ""
    text = (f"{kept}; {q['holdout_psnr']:.2f} dB{how} on {n} frame{'s' if n > 1 else ''} held out of the fit "
            f"(frame{'s' if n > 1 else ''} {', '.join(str(h) for h in q['holdout'])}), where the linear blend "
            f"scores {q['blend_psnr']:.2f} dB; detail {100 * q['detail']:.0f} % of the real frames'")
    problems = []
    if gap < -BELOW_BLEND_DB:
        problems.append(f"BELOW the linear blend by {-gap:.1f} dB: the in-between frames are worse than a "
                        "plain cross-fade")
    if q["detail"] < BLURRED_DETAIL:
        problems.append("the in-between frames are blurred")
    if residual_shown and q.get("model_psnr", q["blend_psnr"]) < q["blend_psnr"] - WEAK_MODEL_DB:
        text += (f". The model alone scores {q['model_psnr']:.2f} dB there: what these frames show is mostly the "
                 "cross-fade of the input frames; a longer fit lets the network add their motion")
    if not problems:
        verdict = "on a par with the linear blend" if gap <= BELOW_BLEND_DB else "above the linear blend"
        return f"{text}. The fit is {verdict} between frames."
    problems = "; ".join(problems)
    return (f"{text}. {problems[0].upper()}{problems[1:]}. To improve: "
            f"{_suggestions(kind, config or {}, float(report.get('seconds', 0.0)))}; "
            "or use the flow method (Flow Warp).")
