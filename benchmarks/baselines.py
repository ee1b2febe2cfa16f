"""Baselines on the dev triplets: linear blend and DIS flow warp (each preset), PSNR/SSIM and speed.

    python benchmarks/baselines.py [--data ../shared/data/dev] [--repeats 3] [--threads 1] [--no-clips]

Scores the middle frame (t = 0.5) of every triplet in ``triplets/ucf101_adacof`` and
``triplets/vimeo90k_sample`` against the real one with ``vfi_core.metrics`` (PSNR on 0..255 RGB,
SSIM Wang et al. 2004), runs the drop-frames protocol (k = 2, 4) on the small dev clips, then
times one in-between frame per pair (both DIS flows + warp + blend) at 320x240 and 1920x1080.
Prints a markdown table and writes benchmarks/results/baselines.md.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from frameweave.vfi_core import metrics
from frameweave.vfi_core.baselines import linear_blend_pair, pair_flows, warp_blend
from frameweave.vfi_core.flow import PRESETS
from frameweave.vfi_core.machine import machine_description, write_report

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "dev"
SETS = ("ucf101_adacof", "vimeo90k_sample")
CLIP_SKIP = {"skv_bikes.mp4"}  # 250 frames 640x272: left out to keep the run short (benchmarks/evaluate.py has it)


def machine() -> str:
    return machine_description(opencv=True)


def load(path: Path) -> torch.Tensor:
    arr = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr)[None]                                    # [1,H,W,3]


def triplets(data: Path, name: str):
    folder = data / "triplets" / name
    dirs = sorted((d for d in folder.iterdir() if (d / "gt.png").exists()), key=lambda d: d.name)
    return [(load(d / "f0.png"), load(d / "gt.png"), load(d / "f1.png")) for d in dirs]


def methods():
    """name -> fn(first, second) giving the frame at t = 0.5."""
    out = {"linear blend": lambda a, b: linear_blend_pair(a, b, 0.5)}
    for preset in PRESETS:
        out[f"DIS flow warp, {preset}"] = (
            lambda a, b, p=preset: warp_blend(a, b, *pair_flows(a, b, p), 0.5, occlusion=True))
    out["DIS flow warp, medium, no occlusion mask"] = (
        lambda a, b: warp_blend(a, b, *pair_flows(a, b, "medium"), 0.5, occlusion=False))
    return out


def quality(data: Path):
    rows = []
    sets = {name: triplets(data, name) for name in SETS if (data / "triplets" / name).is_dir()}
    for method, fn in methods().items():
        row = [method]
        for name in SETS:
            trips = sets.get(name)
            if not trips:
                row += ["-", "-"]
                continue
            pred = torch.cat([fn(a, b) for a, _, b in trips])
            gt = torch.cat([g for _, g, _ in trips])
            row += [f"{metrics.psnr(pred, gt).mean():.2f}", f"{metrics.ssim(pred, gt).mean():.4f}"]
        rows.append(row)
        print(" | ".join(row), flush=True)
    counts = {name: len(trips) for name, trips in sets.items()}
    return rows, counts


def drop_frames(data: Path):
    """Drop-frames protocol (vfi_core.evaluation) with k = 2 and 4 on the small dev clips: keep
    frames 0, k, 2k, ..., rebuild the others at t = j/k, score them (8-bit, as saved)."""
    from functools import partial  # noqa: PLC0415

    from frameweave.vfi_core.baselines import flow_warp_clip, linear_blend_clip  # noqa: PLC0415
    from frameweave.vfi_core.evaluation import dev_clips, evaluate_clip  # noqa: PLC0415

    runs = {"linear blend": linear_blend_clip, "DIS flow warp, medium": partial(flow_warp_clip, preset="medium")}
    rows = []
    for clip in dev_clips(data):
        if clip.name in CLIP_SKIP:
            continue
        for k in (2, 4):
            row = [clip.name, str(k)]
            for fn in runs.values():
                res = evaluate_clip(clip.path, k, fn, ranges=clip.ranges)
                row += [f"{res['mean_psnr']:.2f}", f"{res['mean_ssim']:.4f}"]
            row.insert(2, str(res["count"]))
            rows.append(row)
            print(" | ".join(row), flush=True)
    return rows, list(runs)


def speed(data: Path, repeats: int):
    """Seconds for one in-between frame of one pair (flows both ways + warp + blend), median."""
    trips = triplets(data, SETS[0])
    a, _, b = trips[0]
    sizes = {"320x240": (240, 320), "1920x1080": (1080, 1920)}
    rows = []
    for label, (h, w) in sizes.items():
        def resize(x):
            return torch.nn.functional.interpolate(x.permute(0, 3, 1, 2), size=(h, w), mode="bilinear",
                                                   align_corners=False).permute(0, 2, 3, 1).clamp(0, 1).contiguous()
        ra, rb = resize(a), resize(b)
        row = [label]
        for method, fn in methods().items():
            if "no occlusion" in method:
                continue
            fn(ra, rb)  # warm-up (first DIS call allocates its pyramids)
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                fn(ra, rb)
                times.append(time.perf_counter() - start)
            row.append(f"{statistics.median(times) * 1000:.0f} ms")
        rows.append(row)
        print(" | ".join(row), flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch and OpenCV threads (0 = their defaults)")
    parser.add_argument("--no-clips", action="store_true", help="skip the drop-frames protocol on the dev clips")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "baselines.md")
    args = parser.parse_args()
    if args.threads > 0:
        import cv2  # noqa: PLC0415
        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)
    if not (args.data / "triplets").is_dir():
        raise SystemExit(f"no triplets under {args.data}; pass --data ../shared/data/dev")
    q_rows, counts = quality(args.data)
    d_rows, d_names = drop_frames(args.data) if not args.no_clips else ([], [])
    s_rows = speed(args.data, args.repeats)
    names = [m for m in methods() if "no occlusion" not in m]
    lines = [
        "# Baselines: linear blend and DIS flow warp",
        "",
        f"Machine: {machine()}.",
        f"Produced by `python benchmarks/{' '.join([Path(sys.argv[0]).name] + sys.argv[1:])}`.",
        "",
        "## Quality at t = 0.5 (middle frame of each triplet vs the real one)",
        "",
        "PSNR in dB on 0..255 RGB, SSIM Wang et al. 2004 (11x11 Gaussian, σ = 1.5); means over the "
        f"triplets ({', '.join(f'{k}: {v}' for k, v in counts.items())}); "
        "predictions scored as float, not rounded to 8 bits.",
        "",
        "| method | ucf101_adacof PSNR | ucf101_adacof SSIM | vimeo90k_sample PSNR | vimeo90k_sample SSIM |",
        "|---|---|---|---|---|",
        *["| " + " | ".join(r) + " |" for r in q_rows],
        "",
        "Reference numbers from ../shared/data/dev/README.md: ucf101 linear 30.52, DIS warp 33.25-33.45; "
        "vimeo linear 17.09, DIS warp 29.5.",
        "",
        *([
            "## Drop-frames protocol on the dev clips (k = 2 and 4)",
            "",
            "Keep frames 0, k, 2k, ...; rebuild every dropped frame at t = j/k (k = 4: t = 0.25, 0.5, 0.75) "
            "with `vfi_core.evaluation.evaluate_clip`; predictions rounded to 8 bits before scoring. "
            f"skv_bikes.mp4 is left out here (see `benchmarks/evaluate.py`).",
            "",
            "| clip | k | frames scored | " + " | ".join(f"{n} PSNR | {n} SSIM" for n in d_names) + " |",
            "|---|---|---|" + "---|---|" * len(d_names),
            *["| " + " | ".join(r) + " |" for r in d_rows],
            "",
        ] if d_rows else []),
        f"## Speed: one in-between frame per pair (median of {args.repeats})",
        "",
        "Both DIS flows (0->1 and 1->0) + eq. 4 flows + two backward warps + blend. With a multiplier m "
        "the flows are computed once per pair and only the warp/blend is repeated m-1 times.",
        "",
        "| size | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
        *["| " + " | ".join(r) + " |" for r in s_rows],
        "",
    ]
    text = "\n".join(lines)
    print(text)
    write_report(args.out, text)


if __name__ == "__main__":
    main()
