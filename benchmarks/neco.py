"""NeCo benchmarks: fit speed, drop-frames quality next to the baselines, and the paper's ablation.

    nice -n 10 python benchmarks/neco.py                    # all three parts (~20-30 min on 2 CPU cores)
    nice -n 10 python benchmarks/neco.py --parts speed --speed-budget 300

Parts:
  speed     a 20-frame 160x120 real clip (skv_carphone_pristine.mp4 frames 0-19, 176x144 centre-cropped
            to 160x120) fitted with the default NeCo (basic FFM, L=10, 8x256) and the default fit
            options until 30 dB train PSNR or the budget: time-to-30 dB, steps, pixels/s.
  gpu-speed (CUDA only, not in the default parts) a 95-frame 256x256 clip to 30 dB (target < 60 s on an H100).
  evaluate  the drop-frames protocol (vfi_core.evaluation.evaluate_clip) with k = 2 and 4 on a
            documented subset of the dev clips: the first ``--max-frames`` frames of each GIF/video
            (first shot only for skv_bikes), NeCo with a time budget per fit, next to linear blend
            and DIS flow warp on exactly the same frames.
  generalisation (not in the default parts) train PSNR vs PSNR on dropped frames, small crop, fixed steps.
  long      (not in the default parts) one clip, k = 2, NeCo with a long fit (``--long-budget``).
  ablation  one clip (``--ablation-clip``, first ``--max-frames`` frames, k = 2): no FFM vs basic
            vs Gaussian, and basic with L = 5, 10, 15, 20; PSNR/SSIM on the dropped frames.

Prints markdown and writes it to benchmarks/results/neco.md (or --out), with the machine.
The dev data (../shared/data/dev) is read in place, never copied.
"""
import argparse
import datetime
import functools
import os
import sys
import time
from pathlib import Path

import torch

from frameweave.vfi_core.machine import machine_description, write_report

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "dev"


def machine() -> str:
    return machine_description()


def table(header, rows) -> list:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return out + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- speed -------------------------------------------------------------------------------------

def speed_clip(data: Path):
    from frameweave.vfi_core.frames_io import read_frames

    clip = read_frames(data / "videos" / "skv_carphone_pristine.mp4", max_frames=20)
    frames = clip.frames[:, 12:132, 8:168].contiguous()                  # [20,120,160,3] centre crop
    return frames, clip.timing


def run_speed(data: Path, budget: float, device) -> list:
    from frameweave.vfi_core.neco import FIT_DEFAULTS, fit_neco

    frames, timing = speed_clip(data)
    log(f"speed: fitting {tuple(frames.shape)} for up to {budget:.0f} s (target 30 dB)")
    res = fit_neco(frames, timing, time_budget_s=budget, target_psnr=30.0, plateau_patience=0, device=device)
    hit = next(((s, sec, p) for s, sec, p in res.history if p >= 30.0), None)
    pixels = res.steps * FIT_DEFAULTS["batch_size"]
    lines = ["## Fit speed: 20-frame 160x120 clip to 30 dB train PSNR", "",
             "skv_carphone_pristine.mp4 frames 0-19, centre crop 160x120; default NeCo (basic FFM, L = 10, "
             f"8 layers x 256) and fit options {dict(FIT_DEFAULTS)}; budget {budget:.0f} s.", ""]
    lines += table(["time to 30 dB", "steps to 30 dB", "best train PSNR", "steps run", "seconds run",
                    "pixels / s", "stopped because"],
                   [[f"**{hit[1]:.0f} s**" if hit else f"not reached in {res.seconds:.0f} s",
                     hit[0] if hit else "-", f"{res.best_psnr:.2f} dB", res.steps, f"{res.seconds:.0f}",
                     f"{pixels / max(res.seconds, 1e-9):.0f}", res.stopped_because]])
    curve = [f"{s}: {p:.2f} dB @ {sec:.0f} s" for s, sec, p in res.history[:: max(1, len(res.history) // 12)]]
    lines += ["", "Train PSNR by step: " + "; ".join(curve)]
    log(f"speed: {'reached 30 dB at %.0f s' % hit[1] if hit else 'not reached'}; best {res.best_psnr:.2f} dB")
    return lines


def run_gpu_speed(data: Path, budget: float, batch_size: int, device) -> list:
    """The GPU target: a 95-frame 256x256 clip (skv_carphone frames 0-94, 176x144 resized to
    256x256 bilinearly) to 30 dB train PSNR."""
    from frameweave.vfi_core.frames_io import read_frames
    from frameweave.vfi_core.neco import fit_neco

    if device.type != "cuda":
        return ["## GPU fit speed", "", "Skipped: no CUDA device on this machine."]
    clip = read_frames(data / "videos" / "skv_carphone_pristine.mp4", max_frames=95)
    frames = torch.nn.functional.interpolate(clip.frames.permute(0, 3, 1, 2), size=(256, 256), mode="bilinear",
                                             align_corners=False).clamp(0, 1).permute(0, 2, 3, 1).contiguous()
    log(f"gpu speed: fitting {tuple(frames.shape)} on {torch.cuda.get_device_name(device)}")
    fit_neco(frames[:2], clip.timing.subset([0, 1]), steps=5,
             device=device, batch_size=batch_size)               # warm-up: CUDA context, kernels, allocator
    torch.cuda.synchronize(device)
    res = fit_neco(frames, clip.timing, time_budget_s=budget, target_psnr=30.0, plateau_patience=0, device=device,
                   batch_size=batch_size)
    hit = next(((s, sec, p) for s, sec, p in res.history if p >= 30.0), None)
    lines = ["## GPU fit speed: 95-frame 256x256 clip to 30 dB train PSNR", "",
             f"skv_carphone frames 0-94 resized to 256x256; default NeCo, batch {batch_size}, "
             f"{'bf16 autocast' if torch.cuda.get_device_capability(device) >= (8, 0) else 'fp16 autocast'} "
             "(after a 5-step warm-up fit); "
             f"{torch.cuda.get_device_name(device)}.", ""]
    return lines + table(["time to 30 dB", "steps to 30 dB", "best train PSNR", "steps run", "seconds run"],
                         [[f"**{hit[1]:.1f} s**" if hit else f"not reached in {res.seconds:.0f} s",
                           hit[0] if hit else "-", f"{res.best_psnr:.2f} dB", res.steps, f"{res.seconds:.1f}"]])


# --- drop-frames protocol ------------------------------------------------------------------------------

def methods_for(budget: float, device):
    from frameweave.vfi_core.baselines import flow_warp_clip, linear_blend_clip
    from frameweave.vfi_core.neco import neco_interpolate_clip

    return {
        "linear blend": linear_blend_clip,
        "DIS flow warp": flow_warp_clip,
        f"NeCo ({budget:.0f} s fit)": functools.partial(neco_interpolate_clip, time_budget_s=budget, device=device),
    }


def run_evaluate(data: Path, ks, max_frames: int, budget: float, device) -> list:
    from frameweave.vfi_core.evaluation import dev_clips, evaluate_clip

    clips = dev_clips(data)
    methods = methods_for(budget, device)
    rows, pooled = [], {}
    for k in ks:
        for c in clips:
            per = []
            for name, fn in methods.items():
                try:
                    res = evaluate_clip(c.path, k, fn, ranges=c.ranges[:1], max_frames=max_frames)
                except ValueError as exc:
                    log(f"k={k} {c.name} {name}: skipped ({exc})")
                    per = None
                    break
                pooled.setdefault((k, name), []).extend(res["psnr"])
                per.append(res)
                log(f"k={k} {c.name} {name}: PSNR {res['mean_psnr']:.2f} dB SSIM {res['mean_ssim']:.4f} "
                    f"({res['count']} frames, {res['seconds']:.1f} s)")
            if per:
                rows.append([c.name, k, per[0]["count"]] + [f"{r['mean_psnr']:.2f} / {r['mean_ssim']:.4f}"
                                                          for r in per])
        rows.append([f"**mean over frames**", k, len(pooled.get((k, next(iter(methods))), []))] +
                    [f"**{sum(pooled[(k, n)]) / len(pooled[(k, n)]):.2f}**" if pooled.get((k, n)) else "-"
                     for n in methods])
    lines = ["## Drop-frames protocol on the dev clips (documented subset)", "",
             f"First {max_frames} frames of every dev GIF/video (skv_bikes: first shot only), keep frames "
             "0, k, 2k, ..., rebuild the others; PSNR (dB, 0-255 RGB) / SSIM of 8-bit frames "
             "(vfi_core.evaluation). NeCo is fitted on the kept frames with the default model and fit "
             f"options and a {budget:.0f} s time budget per fit (the early plateau stop may end it sooner).", ""]
    lines += table(["clip", "k", "frames scored"] + [f"{n} PSNR / SSIM" for n in methods], rows)
    return lines


def run_long(data: Path, clip_name: str, max_frames: int, budget: float, device) -> list:
    """One clip, k = 2, NeCo given a long fit, next to the baselines on the same frames."""
    from frameweave.vfi_core.evaluation import dev_clips, evaluate_clip

    clip = next((c for c in dev_clips(data) if c.name == clip_name or Path(c.name).stem == clip_name), None)
    if clip is None:
        raise SystemExit(f"--long-clip {clip_name!r} is not in {data}")
    rows = []
    for name, fn in methods_for(budget, device).items():
        res = evaluate_clip(clip.path, 2, fn, ranges=clip.ranges[:1], max_frames=max_frames)
        log(f"long {clip.name} {name}: PSNR {res['mean_psnr']:.2f} dB SSIM {res['mean_ssim']:.4f}")
        rows.append([name, f"{res['mean_psnr']:.2f}", f"{res['mean_ssim']:.4f}", res["count"], f"{res['seconds']:.0f}"])
    lines = [f"## Longer fit: {clip.name}, first {max_frames} frames, k = 2", "",
             f"Same protocol as above; NeCo fitted for up to {budget:.0f} s (plateau stop may end it sooner).", ""]
    return lines + table(["method", "PSNR dB", "SSIM", "frames scored", "seconds"], rows)


def run_generalisation(data: Path, steps: int, device) -> list:
    """Train PSNR on the kept frames against PSNR on the dropped ones: does a good fit interpolate?
    skv_carphone frames 0-8, centre crop 64x48, k = 2, fixed step count (machine-independent)."""
    from frameweave.vfi_core.evaluation import drop_frames, score_frames
    from frameweave.vfi_core.frames_io import read_frames
    from frameweave.vfi_core.inr import inserted_times
    from frameweave.vfi_core.neco import fit_neco

    clip = read_frames(data / "videos" / "skv_carphone_pristine.mp4", max_frames=9)
    frames = clip.frames[:, 48:96, 56:120].contiguous()                  # [9,48,64,3]
    split = drop_frames(frames, 2, clip.timing)
    truth = split.reference[split.dropped_mask]
    lin = 0.5 * (split.kept[:-1] + split.kept[1:])
    rows = [["linear blend", "-", f"{float(score_frames(lin, truth)[0].mean()):.2f}"]]
    for label, cfg in (("NeCo basic, L = 10 on every axis (paper)", {"encoding": "basic", "L": 10, "time_L": 10}),
                       ("NeCo basic, L = 10, time_L auto (= 3 for 5 frames)", {"encoding": "basic", "L": 10}),
                       ("NeCo no FFM", {"encoding": "none"})):
        res = fit_neco(split.kept, split.kept_timing, config=cfg, steps=steps, batch_size=1024, plateau_patience=0,
                       device=device)
        out = res.model.render(inserted_times(split.kept_timing, split.fractions))
        p = float(score_frames(out, truth)[0].mean())
        log(f"generalisation {label}: train {res.best_psnr:.2f} dB, dropped frames {p:.2f} dB")
        rows.append([label, f"{res.best_psnr:.2f}", f"{p:.2f}"])
    lines = ["## Does a good fit interpolate? (train PSNR vs PSNR on the dropped frames)", "",
             f"skv_carphone frames 0-8, centre crop 64x48, k = 2 (5 kept, 4 dropped); default 8x256 NeCo, "
             f"{steps} steps of 1024 pixels.", ""]
    return lines + table(["method", "train PSNR on kept frames (dB)", "PSNR on dropped frames (dB)"], rows)


# --- time frequencies -------------------------------------------------------------------------------

TIME_SWEEP_CLIP = ("realshort.mp4", 9)


def run_time_sweep(data: Path, steps: int, device, time_Ls=(0, 1, 2, -1)) -> list:
    """How many time frequencies (time_L) below the kept frames' Nyquist rate: realshort frames
    0-8, k = 2 (5 kept), default model, a fixed number of steps per fit."""
    from frameweave.vfi_core.evaluation import dev_clips, evaluate_clip
    from frameweave.vfi_core.methods import get_method
    from frameweave.vfi_core.neco import fit_neco
    from frameweave.vfi_core.inr import fit_and_render_clip

    name, frames = TIME_SWEEP_CLIP
    clip = next(c for c in dev_clips(data) if c.name == name)
    lin = evaluate_clip(clip.path, 2, get_method("linear"), ranges=clip.ranges[:1], max_frames=frames)
    rows = [["linear blend", "-", f"{lin['mean_psnr']:.2f}", "-"]]
    for time_L in time_Ls:
        fits = []

        def fn(kept, fractions, timing=None, progress=None, time_L=time_L):
            def fit(fit_progress):
                res = fit_neco(kept, timing, config={"time_L": time_L}, steps=steps, plateau_patience=0,
                               device=device, progress=fit_progress)
                fits.append((res.best_psnr, res.model.config["time_L"]))
                return res.model
            return fit_and_render_clip(kept, fractions, timing, fit, progress)

        res = evaluate_clip(clip.path, 2, fn, ranges=clip.ranges[:1], max_frames=frames)
        label = f"{fits[0][1]} (auto)" if time_L == -1 else str(time_L)
        log(f"time sweep time_L {label}: dropped {res['mean_psnr']:.2f} dB, train {fits[0][0]:.2f} dB")
        rows.append([f"NeCo, time_L = {label}", f"{fits[0][0]:.2f}", f"{res['mean_psnr']:.2f}",
                     f"{res['mean_ssim']:.4f}"])
    lines = ["## Time frequencies below the Nyquist rate (time_L, k = 2)", "",
             f"{name} frames 0-{frames - 1}, keep every 2nd (5 kept), rebuild the rest; default 8x256 NeCo, "
             f"{steps} steps of 4096 pixels per fit (fixed work: rows compare on a shared machine). time_L = 0: "
             "t enters only linearly.", ""]
    return lines + table(["method", "train PSNR on kept frames (dB)", "PSNR on dropped frames (dB)", "SSIM"], rows)


# --- ablation ---------------------------------------------------------------------------------------

ABLATION = [
    ("no FFM", {"encoding": "none"}),
    ("basic, L = 10", {"encoding": "basic", "L": 10}),
    ("basic, L = 10, time_L = 10 (the paper's encoding, no time cap)", {"encoding": "basic", "L": 10, "time_L": 10}),
    ("Gaussian, sigma = 10 (3L = 30 frequencies)", {"encoding": "gaussian", "L": 10, "sigma": 10.0}),
    ("basic, L = 5", {"encoding": "basic", "L": 5}),
    ("basic, L = 15", {"encoding": "basic", "L": 15}),
    ("basic, L = 20", {"encoding": "basic", "L": 20}),
]


def run_ablation(data: Path, clip_name: str, max_frames: int, budget: float, device, steps: int = 0) -> list:
    """The paper's encoding ablation; every fit runs ``steps`` optimiser steps (deterministic, so
    rows compare on a shared machine) or, with steps = 0, for ``budget`` seconds."""
    from frameweave.vfi_core.evaluation import dev_clips, evaluate_clip
    from frameweave.vfi_core.neco import neco_interpolate_clip

    clip = next((c for c in dev_clips(data) if c.name == clip_name or Path(c.name).stem == clip_name), None)
    if clip is None:
        raise SystemExit(f"--ablation-clip {clip_name!r} is not in {data}")
    rows = []
    for label, cfg in ABLATION:
        length = {"steps": steps} if steps > 0 else {"time_budget_s": budget}
        fn = functools.partial(neco_interpolate_clip, device=device, **length, **cfg)
        res = evaluate_clip(clip.path, 2, fn, ranges=clip.ranges[:1], max_frames=max_frames)
        log(f"ablation {label}: PSNR {res['mean_psnr']:.2f} dB SSIM {res['mean_ssim']:.4f}")
        rows.append([label, f"{res['mean_psnr']:.2f}", f"{res['mean_ssim']:.4f}", res["count"]])
    lines = ["## Ablation: Fourier feature mapping (k = 2)", "",
             f"{clip.name}, first {max_frames} frames, keep every 2nd, rebuild the rest; default 8x256 "
             f"ResMLP, time_L auto unless the row says otherwise, "
             f"{f'{steps} steps' if steps > 0 else f'{budget:.0f} s'} fit each; "
             "PSNR (dB) / SSIM on the dropped frames.", ""]
    return lines + table(["encoding", "PSNR dB", "SSIM", "frames scored"], rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", nargs="+", default=["speed", "evaluate", "ablation"],
                    choices=["speed", "gpu-speed", "evaluate", "ablation", "long", "generalisation", "time-sweep"])
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("FRAMEWEAVE_DEV_DATA", DEFAULT_DATA)))
    ap.add_argument("--speed-budget", type=float, default=300.0, help="seconds for the speed fit (default 300)")
    ap.add_argument("--gpu-budget", type=float, default=60.0, help="seconds for the GPU speed fit (default 60)")
    ap.add_argument("--gpu-batch", type=int, default=65536, help="batch size of the GPU speed fit")
    ap.add_argument("--fit-budget", type=float, default=40.0, help="seconds per NeCo fit in evaluate/ablation")
    ap.add_argument("--max-frames", type=int, default=9, help="frames read from each clip (default 9)")
    ap.add_argument("--k", type=int, nargs="+", default=[2, 4])
    ap.add_argument("--long-budget", type=float, default=900.0, help="seconds of the long fit (part long)")
    ap.add_argument("--generalisation-steps", type=int, default=300)
    ap.add_argument("--long-clip", default="sloth_tree_jacw28.gif")
    ap.add_argument("--ablation-clip", default="skv_carphone_pristine.mp4")
    ap.add_argument("--time-sweep-steps", type=int, default=600, help="optimiser steps per fit (part time-sweep)")
    ap.add_argument("--ablation-steps", type=int, default=0,
                    help="optimiser steps per ablation fit (0 = use --fit-budget seconds)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    ap.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "neco.md")
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        ap.error(f"dev data folder {args.data} not found (set --data or FRAMEWEAVE_DEV_DATA)")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))

    started = time.perf_counter()
    lines = ["# NeCo benchmarks", "",
             f"- command: `python benchmarks/neco.py {' '.join(sys.argv[1:] if argv is None else argv)}`",
             f"- machine: {machine()}, device {device}",
             f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC", ""]
    if "speed" in args.parts:
        lines += run_speed(args.data, args.speed_budget, device) + [""]
    if "gpu-speed" in args.parts:
        lines += run_gpu_speed(args.data, args.gpu_budget, args.gpu_batch, device) + [""]
    if "evaluate" in args.parts:
        lines += run_evaluate(args.data, args.k, args.max_frames, args.fit_budget, device) + [""]
    if "ablation" in args.parts:
        lines += run_ablation(args.data, args.ablation_clip, args.max_frames, args.fit_budget, device,
                              args.ablation_steps) + [""]
    if "time-sweep" in args.parts:
        lines += run_time_sweep(args.data, args.time_sweep_steps, device) + [""]
    if "generalisation" in args.parts:
        lines += run_generalisation(args.data, args.generalisation_steps, device) + [""]
    if "long" in args.parts:
        lines += run_long(args.data, args.long_clip, args.max_frames, args.long_budget, device) + [""]
    lines.append(f"Total wall time {time.perf_counter() - started:.0f} s.")
    text = "\n".join(lines) + "\n"
    print(text)
    write_report(args.out, text)
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
