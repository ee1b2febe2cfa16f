"""What NeCo and SIREN-OF give with their defaults, as a user runs them (``frameweave interpolate``).

    nice -n 10 python benchmarks/inr_defaults.py                       # quality + render speed
    nice -n 10 python benchmarks/inr_defaults.py --parts render        # render speed only (minutes)

Parts:
  quality  each clip whole (the bundled examples/pan_zoom.gif, and the dev clips sloth_tree_jacw28.gif and
           realshort.mp4), x2, through the method's own stream (``method.iterate``) with every default: the
           time budget (fit and render together), the network, the held-out frames. Reported: the fit's
           quality as the CLI summary gives it (PSNR on the fitted frames, on the held-out frames, the
           linear blend and the DIS flow warp on the same held-out frames, detail), steps, fit and render
           seconds. ``--budgets`` adds runs with other time budgets.
  residual (not in the default parts) fixed-step SIREN-OF fits on the drop-frames protocol: the dropped
           frames rendered by the model alone and with the keyframe residual, next to the linear blend.
  render   frames per second of rendering at 320x240 and 1280x720 for the default networks: NeCo
           (8x256), SIREN-OF's CPU network (the CLI's, width 128, depth 4) and its paper network (the
           node's defaults, width 720, depth 6); from timed forward passes of 65,536 pixels.

Clock (``--clock``): ``cpu`` (default) runs every budget and timing on the process's CPU time with one
torch thread, i.e. what the run gets on an idle core, whatever else the shared machine runs; ``wall``
uses wall-clock time as the CLI does. The results file names the clock, the machine and its load.
The dev data (../shared/data/dev) is read in place, never copied.
"""
import argparse
import datetime
import sys
import time
from pathlib import Path

import torch

from frameweave.vfi_core.machine import machine_description, write_report

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "dev"
CLIPS = ("examples/pan_zoom.gif", "gifs/sloth_tree_jacw28.gif", "videos/realshort.mp4")
SIZES = ((320, 240), (1280, 720))


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def table(header, rows) -> list:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return out + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]


CLOCK = {"kind": "cpu"}


def use_clock(kind: str) -> None:
    """Point the fit loop's and the render's clocks at the process CPU time (``cpu``) or leave them."""
    CLOCK["kind"] = kind
    if kind == "cpu":
        from frameweave.vfi_core import inr, inr_fit

        inr_fit._now = time.process_time
        inr._now = time.process_time


def clip_path(name: str, data: Path) -> Path:
    return ROOT / name if name.startswith("examples/") else data / name


def flow_on_holdout(frames, timing, held) -> float:
    """PSNR of the DIS flow warp (the project's baseline) on the held-out frames, from the same kept
    neighbours the blend uses."""
    from frameweave.vfi_core.baselines import flow_warp_clip
    from frameweave.vfi_core.fit_quality import holdout_neighbours
    from frameweave.vfi_core.metrics import psnr

    times = timing.normalised()
    scores = []
    for h, (a, b) in zip(held, holdout_neighbours(frames.shape[0], held)):
        f = float((times[h] - times[a]) / (times[b] - times[a]))
        out = flow_warp_clip(frames[[a, b]], [f])[1:2]
        scores.append(float(psnr(out, frames[h:h + 1])))
    return sum(scores) / len(scores)


def run_quality(data: Path, budgets, clips=CLIPS, methods=("neco", "siren-of"), on_row=None) -> list:
    from frameweave.vfi_core.frames_io import read_frames
    from frameweave.vfi_core.methods import get_method

    rows = []
    for name in clips:
        clip = read_frames(clip_path(name, data))
        frames, timing = clip.frames, clip.timing
        for method in methods:
            for budget in budgets:
                options = {} if budget is None else {"time_budget_s": float(budget)}
                report, notes = {}, []
                cpu0, wall0 = time.process_time(), time.perf_counter()
                stream = get_method(method).iterate(frames, [0.5], timing, report=report, notify=notes.append,
                                                    **options)
                count = sum(batch.shape[0] for batch in stream)
                cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
                q = report.get("quality", {})
                flow = flow_on_holdout(frames, timing, q["holdout"]) if q.get("holdout") else float("nan")
                label = "default" if budget is None else f"{budget:g} s"
                log(f"{name} {method} budget {label}: {count} frames, {report.get('steps')} steps, fit "
                    f"{report.get('seconds', 0):.0f} s, render {report.get('render_seconds', 0):.1f} s; "
                    f"held-out {q.get('holdout_psnr', float('nan')):.2f} dB, blend {q.get('blend_psnr', float('nan')):.2f}, "
                    f"flow {flow:.2f}, detail {q.get('detail', float('nan')):.2f}")
                nan = float("nan")
                rows.append([Path(name).name, f"{frames.shape[2]}x{frames.shape[1]}, {frames.shape[0]}", method, label,
                             report.get("steps"), f"{report.get('seconds', 0):.0f}", f"{report.get('render_seconds', 0):.1f}",
                             f"{cpu:.0f} / {wall:.0f}", f"{q.get('kept_psnr', nan):.2f}",
                             ", ".join(str(h) for h in q.get("holdout", [])),
                             f"{q.get('holdout_psnr', nan):.2f} / {100 * q.get('detail', nan):.0f} %",
                             f"**{q.get('holdout_psnr_residual', nan):.2f}** / {100 * q.get('detail_residual', nan):.0f} %",
                             f"{q.get('blend_psnr', nan):.2f}", f"{flow:.2f}"])
                if on_row is not None:
                    on_row(quality_table(rows))
    return quality_table(rows)


def quality_table(rows) -> list:
    lines = ["## Quality with the defaults (x2, whole clips, as `frameweave interpolate` runs them)", "",
             "Fit PSNR on the fitted frames; on the frames held out of the fit (for its first 80 %; the method's "
             "auto choice, one per 8 frames): the model alone and with the keyframe residual (what the clip "
             "methods render), each with its detail (edge strength of the rendered held-out frames over the real "
             "ones', centre crops), next to the linear blend and the DIS flow warp of their kept neighbours. "
             "`budget` is the method's `time_budget_s` (fit + render; default 120 s for both).", ""]
    return lines + table(["clip", "size, frames", "method", "budget", "steps", "fit s", "render s",
                          "CPU / wall s", "fitted frames dB", "held out", "held-out dB / detail, model alone",
                          "held-out dB / detail, rendered (keyframe residual)", "blend dB", "flow warp dB"], rows)


def run_residual(data: Path, steps: int) -> list:
    """Drop-frames protocol (first 9 frames, k = 2 and 4): the SIREN-OF CLI network fitted to the kept
    frames for a fixed number of steps, the dropped frames rendered by the model alone and with the
    keyframe residual, next to the linear blend; PSNR and detail (edge strength over the real frames')."""
    from frameweave.vfi_core.evaluation import drop_frames, score_frames
    from frameweave.vfi_core.fit_quality import detail_ratio
    from frameweave.vfi_core.frames_io import read_frames
    from frameweave.vfi_core.inr import inserted_times, iter_render_keyframe_residual
    from frameweave.vfi_core.siren import METHOD_CONFIG, METHOD_FIT, fit_siren_of

    rows = []
    for name in ("videos/realshort.mp4", "gifs/sloth_tree_jacw28.gif"):
        clip = read_frames(data / name, max_frames=9)
        for k in (2, 4):
            split = drop_frames(clip.frames, k, clip.timing)
            truth = split.reference[split.dropped_mask]
            kept, fr = split.kept, sorted(split.fractions)
            blend = torch.stack([(1 - f) * kept[i] + f * kept[i + 1] for i in range(kept.shape[0] - 1) for f in fr])
            res = fit_siren_of(kept, timing=split.kept_timing, config=dict(METHOD_CONFIG), steps=steps, holdout=0,
                               **METHOD_FIT)
            times = inserted_times(split.kept_timing, split.fractions)
            alone = res.model.render(times)
            corrected = torch.cat(list(iter_render_keyframe_residual(res.model, times, kept)))
            cells = []
            for out in (blend, alone, corrected):
                cells.append(f"{float(score_frames(out, truth)[0].mean()):.2f} / {100 * detail_ratio(out, truth):.0f} %")
            log(f"residual {name} k={k}: blend, model, model + residual = {cells}")
            rows.append([Path(name).name, k, truth.shape[0], *cells])
    lines = ["## Keyframe residual (fixed steps)", "",
             f"First 9 frames, keep every k-th, rebuild the rest; SIREN-OF with the CLI's CPU network and fit "
             f"options, {steps} optimiser steps on the kept frames, no held-out frames. PSNR dB / detail.", ""]
    return lines + table(["clip", "k", "frames scored", "linear blend", "SIREN-OF alone", "SIREN-OF + keyframe residual"],
                         rows)


def run_render() -> list:
    from frameweave.vfi_core.neco import NeCo
    from frameweave.vfi_core.siren import METHOD_CONFIG, PAPER_CONFIG, SirenVideo
    from frameweave.vfi_core.timing import FrameTiming

    timing = FrameTiming.from_fps(9, 10.0)
    models = [("NeCo 8x256 (default)", lambda w, h: NeCo(h, w, timing)),
              (f"SIREN-OF CLI on a CPU, width {METHOD_CONFIG['width']}, depth {METHOD_CONFIG['depth']}",
               lambda w, h: SirenVideo(h, w, timing, {**METHOD_CONFIG, "time_scale": -1})),
              (f"SIREN-OF node default (paper), width {PAPER_CONFIG['width']}, depth {PAPER_CONFIG['depth']}",
               lambda w, h: SirenVideo(h, w, timing, {**PAPER_CONFIG, "time_scale": -1}))]
    rows = []
    for label, make in models:
        w0, h0 = SIZES[0]
        model = make(w0, h0).eval()
        model.render([0.5], chunk=256)                                  # warm-up
        clock = time.process_time if CLOCK["kind"] == "cpu" else time.perf_counter
        start = clock()
        model.render([0.25, 0.75])                                       # the real path: passes, clamp, copy
        per_pixel = (clock() - start) / (2 * w0 * h0)                   # a pixel costs the same at any size
        fps = [1.0 / (per_pixel * w * h) for w, h in SIZES]
        log(f"render {label}: {1 / per_pixel:,.0f} pixels/s; " + ", ".join(f"{w}x{h} {f:.3g} frames/s"
                                                                           for (w, h), f in zip(SIZES, fps)))
        rows.append([label, f"{1 / per_pixel:,.0f}"] + [f"{f:.3g}" for f in fps])
    lines = ["## Render speed", "",
             "Render Frames / the clip methods' render (`ImplicitVideo.render`, its own passes): two 320x240 "
             "frames timed on one torch thread; 1280x720 from the same cost per pixel (12x the pixels).", ""]
    return lines + table(["network", "pixels/s"] + [f"{w}x{h} frames/s" for w, h in SIZES], rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parts", nargs="+", default=["quality", "render"], choices=["quality", "render", "residual"])
    ap.add_argument("--residual-steps", type=int, default=1500)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--clips", nargs="+", default=list(CLIPS), help=f"clips to run (default: {' '.join(CLIPS)})")
    ap.add_argument("--methods", nargs="+", default=["neco", "siren-of"], choices=["neco", "siren-of"])
    ap.add_argument("--budgets", nargs="+", type=float, default=[],
                    help="time budgets (s) to run besides the default")
    ap.add_argument("--clock", choices=["cpu", "wall"], default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "inr_defaults.md")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    use_clock(args.clock)
    started = datetime.datetime.now(datetime.timezone.utc)
    command = "python benchmarks/inr_defaults.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = ["# NeCo and SIREN-OF with their defaults", "",
             f"- command: `{command.strip()}`",
             f"- machine: {machine_description()}",
             f"- clock: {'process CPU time (what the run gets on an idle core; the shared machine was busy)' if args.clock == 'cpu' else 'wall clock'}",
             f"- date: {started:%Y-%m-%d %H:%M} UTC", ""]
    if "quality" in args.parts:                 # the results file is written after every row too
        lines += run_quality(args.data, [None, *args.budgets], args.clips, args.methods,
                             on_row=lambda part: write_report(args.out, "\n".join(lines + part) + "\n")) + [""]
    if "residual" in args.parts:
        lines += run_residual(args.data, args.residual_steps) + [""]
    if "render" in args.parts:
        lines += run_render() + [""]
    lines.append(f"Finished {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
                 f"machine at the end: {machine_description()}.")
    text = "\n".join(lines) + "\n"
    print(text)
    write_report(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
