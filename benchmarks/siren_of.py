"""SIREN-OF on the dev data: λ-ablation on the drop-frames protocol, and a CPU fit timing.

    python benchmarks/siren_of.py                              # everything (~50 min on one core)
    python benchmarks/siren_of.py --steps 300 --skip-timing   # quick look

Part 1 (λ-ablation): for each clip and k in {2, 4}, keep frames 0, k, 2k, ... and rebuild the
dropped ones with linear blend, DIS flow warp (the baselines of vfi_core.baselines) and SIREN-OF at
several λ (λ = 1: no flow term, a plain SIREN). Every SIREN-OF fit makes the same number of
optimiser steps (``--steps``; or, with --steps 0, gets the same wall-clock budget) with the CPU
settings below. Scored with vfi_core.evaluation (8-bit PSNR / SSIM).
Part 2 (timing): one fit of a 10-frame 128x128 clip (the first 10 frames of realshort.mp4,
centre-cropped and resized), time to reach a train PSNR target and the PSNR at the budget.
Prints markdown and writes benchmarks/results/siren_of.md (with the machine).
"""
import argparse
import datetime
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "dev"

from frameweave.vfi_core import methods
from frameweave.vfi_core.evaluation import evaluate_drop_protocol
from frameweave.vfi_core.frames_io import read_frames
from frameweave.vfi_core.siren import fit_siren_of
from frameweave.vfi_core.machine import machine_description, write_report

# (file under the dev folder, frames read) — small documented subset: the CPU is shared
CLIPS = (("gifs/sloth_tree_jacw28.gif", 8), ("videos/realshort.mp4", 9))
CPU_CONFIG = {"width": 128, "depth": 4, "omega0": 25.0}
CPU_FIT = {"lr": 1e-3, "batch_size": 2048}


def machine() -> str:
    return machine_description(opencv=True)


def _fit_length(steps: int, budget: float) -> dict:
    """Fixed optimiser steps (deterministic: rows compare on a shared machine) or a time budget."""
    return {"steps": steps} if steps > 0 else {"time_budget_s": budget}


def _siren_row(frames, timing, k: int, lam: float, length: dict, time_scale: float = -1.0) -> tuple:
    """(dropped PSNR, dropped SSIM, seconds, best train PSNR on the kept frames, time scale s used)
    of one SIREN-OF run."""
    fits = []

    def fit_and_render(kept, fractions, timing=None, progress=None):
        from frameweave.vfi_core.inr import fit_and_render_clip

        def fit(fit_progress):
            res = fit_siren_of(kept, timing=timing, lambda_obs=lam, config=dict(CPU_CONFIG, time_scale=time_scale),
                               progress=fit_progress, **length, **CPU_FIT)
            fits.append((res.best_psnr, res.model.config["time_scale"]))
            return res.model
        return fit_and_render_clip(kept, fractions, timing, fit, progress)

    res = evaluate_drop_protocol(frames, k, fit_and_render, timing=timing)
    return res["mean_psnr"], res["mean_ssim"], res["seconds"], fits[0][0], fits[0][1]


def ablation(data: Path, lambdas, length: dict, ks=(2, 4)) -> list:
    rows = []
    for rel, n in CLIPS:
        path = data / rel
        if not path.exists():
            print(f"skipping {rel}: not found", file=sys.stderr)
            continue
        clip = read_frames(path, max_frames=n)
        for k in ks:
            row = {"clip": f"{path.name} ({clip.frames.shape[2]}x{clip.frames.shape[1]}, {n} frames)", "k": k}
            for name in ("linear", "flow"):
                res = evaluate_drop_protocol(clip.frames, k, methods.get_method(name), timing=clip.timing)
                row[name] = (res["mean_psnr"], res["mean_ssim"], res["seconds"], None, None)
            for lam in lambdas:
                row[f"siren λ={lam:g}"] = _siren_row(clip.frames, clip.timing, k, lam, length)
            print(row, flush=True)
            rows.append(row)
    return rows


SWEEP_CLIP = ("videos/realshort.mp4", 9)


def time_scale_sweep(data: Path, scales, length: dict, ks=(2, 4)) -> list:
    """Plain SIREN fits (λ = 1, so the time scale acts alone) on the drop-frames protocol for each
    time scale s (-1 = auto): [{"k", "kept", "linear", "s": {label: (psnr, ssim, s, train psnr)}}]."""
    rel, n = SWEEP_CLIP
    clip = read_frames(data / rel, max_frames=n)
    rows = []
    for k in ks:
        lin = evaluate_drop_protocol(clip.frames, k, methods.get_method("linear"), timing=clip.timing)
        row = {"k": k, "kept": (n - 1) // k + 1, "linear": lin["mean_psnr"], "s": {}}
        for scale in scales:
            psnr, ssim, _, train, used = _siren_row(clip.frames, clip.timing, k, 1.0, length, scale)
            row["s"]["auto" if scale == -1 else f"{scale:g}"] = (psnr, ssim, used, train)
        print(row, flush=True)
        rows.append(row)
    return rows


def sweep_markdown(rows, length: dict) -> list:
    steps = f"{length['steps']} steps" if "steps" in length else f"{length['time_budget_s']:g} s"
    rel, n = SWEEP_CLIP
    out = ["## Time scale s of the SIREN's time input (plain SIREN, λ = 1)", "",
           f"{Path(rel).name}, first {n} frames, drop-frames protocol; CPU settings above, {steps} per fit. "
           "Each cell: PSNR dB on the dropped frames / train PSNR dB on the kept frames; φ = the initial "
           "phase step between kept frames, 2·ω0·s / (3·(kept − 1)) rad. s = 1 is the paper's network; "
           "auto keeps φ at 0.6 rad.", "",
           "| k (kept frames) | linear blend | " + " | ".join(
               f"s = {label}" for label in rows[0]["s"]) + " |",
           "|---|---|" + "---|" * len(rows[0]["s"])]
    omega0 = CPU_CONFIG["omega0"]
    for r in rows:
        cells = []
        for psnr, _, used, train in r["s"].values():
            phase = 2 * omega0 * used / (3 * (r["kept"] - 1))
            cells.append(f"{psnr:.2f} / {train:.2f} (s {used:.3g}, φ {phase:.2f})")
        out.append(f"| {r['k']} ({r['kept']}) | {r['linear']:.2f} | " + " | ".join(cells) + " |")
    return out + [""]


def timing_clip(data: Path) -> tuple:
    """First 10 frames of realshort.mp4, centre-cropped square and resized to 128x128."""
    clip = read_frames(data / "videos/realshort.mp4", max_frames=10)
    f = clip.frames                                                    # [10,H,W,3]
    h, w = f.shape[1:3]
    s = min(h, w)
    f = f[:, (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    f = torch.nn.functional.interpolate(f.permute(0, 3, 1, 2), size=(128, 128), mode="bilinear",
                                        antialias=True, align_corners=False).permute(0, 2, 3, 1)
    return f.clamp(0, 1).contiguous(), clip.timing


def timing_run(data: Path, lam: float, budget: float, target: float, width: int = CPU_CONFIG["width"]) -> dict:
    frames, timing = timing_clip(data)
    start = time.perf_counter()
    res = fit_siren_of(frames, None, timing, lambda_obs=lam, config=dict(CPU_CONFIG, width=width),
                       time_budget_s=budget, eval_every=50, **CPU_FIT)
    total = time.perf_counter() - start
    reached = next((h for h in res.history if h[2] >= target), None)
    return {"lambda": lam, "width": width, "time_scale": res.model.config["time_scale"], "steps": res.steps, "fit_s": res.seconds, "total_s": total,
            "best_psnr": res.best_psnr, "target": target,
            "time_to_target": None if reached is None else reached[1], "step_to_target": None if reached is None
            else reached[0], "stopped": res.stopped_because}


def markdown(rows, timing, lambdas, length: dict, args) -> str:
    fit_length = (f"{length['steps']} optimiser steps per fit (the same work for every λ, whatever the load)"
                  if "steps" in length else f"{length['time_budget_s']:g} s wall-clock budget per fit")
    out = ["# SIREN-OF: λ-ablation on the drop-frames protocol, and CPU fit time", "",
           f"Machine: {machine()}.", f"Produced by `python benchmarks/siren_of.py {' '.join(args)}` "
           f"on {datetime.date.today().isoformat()}.", "",
           f"SIREN-OF CPU settings for every fit: width {CPU_CONFIG['width']}, depth {CPU_CONFIG['depth']}, "
           f"ω0 {CPU_CONFIG['omega0']:g}, peak lr {CPU_FIT['lr']:g} (cosine over the fit), batch "
           f"{CPU_FIT['batch_size']}, {fit_length}, DIS medium flow both ways (not counted in the fit length). "
           "λ = 1 is a plain SIREN (no flow term).", ""]
    if rows:
        out += ["## Drop-frames protocol (mean PSNR dB / SSIM over the dropped frames)", "",
                "Baselines: linear blend and DIS flow warp (medium) from `vfi_core.baselines`, run on the same "
                "frames. Clips: a documented subset of ../shared/data/dev (the first frames read).", ""]
        cols = ["linear", "flow"] + [f"siren λ={lam:g}" for lam in lambdas]
        out.append("| clip | k | " + " | ".join(cols) + " |")
        out.append("|---|---|" + "---|" * len(cols))
        for r in rows:
            out.append(f"| {r['clip']} | {r['k']} | " + " | ".join(
                f"{r[c][0]:.2f} / {r[c][1]:.4f}" for c in cols) + " |")
        out.append("")
        sirens = [c for c in cols if c.startswith("siren")]
        out.append("Best train PSNR (dB) of each SIREN-OF fit on the frames it was given (the kept frames; "
                   "the dropped frames cannot score much above it), and the time scale s it used (auto):")
        out.append("")
        out.append("| clip | k | " + " | ".join(sirens) + " |")
        out.append("|---|---|" + "---|" * len(sirens))
        for r in rows:
            out.append(f"| {r['clip']} | {r['k']} | " + " | ".join(f"{r[c][3]:.2f} (s {r[c][4]:.3g})"
                                                                 for c in sirens) + " |")
        out.append("")
        out.append("Seconds per clip (interpolate call: fit + render, or the baseline):")
        out.append("")
        out.append("| clip | k | " + " | ".join(cols) + " |")
        out.append("|---|---|" + "---|" * len(cols))
        for r in rows:
            out.append(f"| {r['clip']} | {r['k']} | " + " | ".join(f"{r[c][2]:.1f}" for c in cols) + " |")
        out.append("")
    if timing:
        out += ["## CPU fit of a 10-frame 128x128 clip", "",
                "First 10 frames of realshort.mp4, centre crop resized to 128x128; DIS flow + fit.", "",
                "| λ | width | time scale s | steps | fit s | total s (with flow) | best train PSNR | time to reach |",
                "|---|---|---|---|---|---|---|---|"]
        for t in timing:
            reach = ("not reached" if t["time_to_target"] is None
                     else f"{t['target']:g} dB at step {t['step_to_target']}, {t['time_to_target']:.0f} s")
            out.append(f"| {t['lambda']:g} | {t['width']} | {t['time_scale']:.3g} | {t['steps']} | {t['fit_s']:.0f} | "
                       f"{t['total_s']:.0f} | "
                       f"{t['best_psnr']:.2f} | {reach} |")
        out.append("")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--steps", type=int, default=1500,
                    help="optimiser steps per SIREN-OF fit in the ablation (0: use --budget seconds instead)")
    ap.add_argument("--budget", type=float, default=75.0, help="seconds per SIREN-OF fit when --steps is 0")
    ap.add_argument("--lambdas", type=float, nargs="+", default=[1.0, 0.9, 0.5, 0.12])
    ap.add_argument("--timing-budget", type=float, default=600.0, help="seconds of the timing fit (the target: under 10 minutes)")
    ap.add_argument("--timing-lambda", type=float, default=0.9)
    ap.add_argument("--timing-width", type=int, default=CPU_CONFIG["width"], help="SIREN width of the timing fit")
    ap.add_argument("--target", type=float, default=30.0, help="train PSNR target of the timing run (dB)")
    ap.add_argument("--time-scales", type=float, nargs="*", default=[],
                    help="also sweep the SIREN's time scale s over these values (-1 = auto) with plain SIREN "
                         "fits, e.g. --time-scales 1 0.6 0.3 0.15 0.075 -1")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "siren_of.md")
    ap.add_argument("--skip-ablation", action="store_true")
    ap.add_argument("--skip-timing", action="store_true")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: the shared cores are oversubscribed, "
                    "and 2 threads then spin on each other, measured 7x slower)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not args.data.is_dir():
        sys.exit(f"dev data not found at {args.data}")
    length = _fit_length(args.steps, args.budget)
    rows = [] if args.skip_ablation else ablation(args.data, args.lambdas, length)
    timing = [] if args.skip_timing else [timing_run(args.data, args.timing_lambda, args.timing_budget, args.target,
                                                        args.timing_width)]
    sweep = time_scale_sweep(args.data, args.time_scales, length) if args.time_scales else []
    text = markdown(rows, timing, args.lambdas, length, sys.argv[1:] if argv is None else argv)
    if sweep:
        text += "\n" + "\n".join(sweep_markdown(sweep, length))
    print(text)
    write_report(args.out, text + "\n")


if __name__ == "__main__":
    main()
