"""Pixel Shader Blend before/after on the dev clips: PSNR and a flicker figure in static regions.

    python benchmarks/flicker.py [--sepconv WEIGHTS [--ensemble N]] [--data ../shared/data/dev] [--frames 41]
                                 [--radius 2 --low 2 --high 6] [--threads 1]

Drop-frames protocol with k = 2 (the dev README's): keep frames 0, 2, 4, ... of a clip, rebuild
every odd frame between its kept neighbours with the DIS flow warp (``vfi_core.baselines``) and,
when ``--sepconv`` names weights, with SepConv (``sepconv_infer.interpolate_midpoint``, self-ensemble
``--ensemble``); then apply the pixel-shader blend
(``kernels.pixel_shader_blend``, the Pixel Shader Blend node's op) to each rebuilt frame with its
two neighbours and score both versions against the real frames.

Flicker figure (grey levels, 0..255 scale). Static region of a rebuilt frame t, from the ground
truth G:

    S_t = { p : mean_c |G_t(p) - G_{t-1}(p)| < τ  and  mean_c |G_{t+1}(p) - G_t(p)| < τ },  τ = 2 grey levels

(the real video does not change there around t). With R the rebuilt clip (kept frames + rebuilt
frames), the flicker of frame t is the mean temporal difference inside S_t

    F_t = mean_{p ∈ S_t} ½ (mean_c |R_t(p) - R_{t-1}(p)| + mean_c |R_{t+1}(p) - R_t(p)|)

and the clip's figure is the mean of F_t over rebuilt frames weighted by |S_t|. The same
expression on the ground truth (R = G) is the footage's own noise floor, printed beside it.
Prints a markdown table and writes benchmarks/results/flicker.md.
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from frameweave.kernels import pixel_shader_blend
from frameweave.vfi_core import metrics
from frameweave.vfi_core.machine import machine_description, write_report

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "dev"
CLIPS = ("videos/skv_carphone_pristine.mp4", "gifs/newtonscradle_imageio.gif", "videos/realshort.mp4",
         "gifs/sloth_tree_jacw28.gif")
STATIC_TAU = 2.0          # grey levels


def machine() -> str:
    return machine_description(opencv=False)


def read_clip(path: Path, max_frames: int) -> torch.Tensor:
    from frameweave.vfi_core.frame_reader import iter_frames
    frames = [a for a, _ in iter_frames(path, max_frames=max_frames)]
    return torch.from_numpy(np.stack(frames)).float() / 255.0                       # [T,H,W,3]


def static_masks(gt: torch.Tensor, tau: float = STATIC_TAU) -> torch.Tensor:
    """S_t for t = 1..T-2: [T-2,H,W] bool (see module docstring)."""
    d = (gt[1:] - gt[:-1]).abs().mean(-1) * 255.0                                   # [T-1,H,W]
    return (d[:-1] < tau) & (d[1:] < tau)


def flicker(clip: torch.Tensor, masks: torch.Tensor, rebuilt) -> float:
    """Mask-weighted mean of F_t over the rebuilt frame indices ``rebuilt`` (odd t)."""
    d = (clip[1:] - clip[:-1]).abs().mean(-1) * 255.0                                # [T-1,H,W]
    num, den = 0.0, 0.0
    for t in rebuilt:
        m = masks[t - 1]
        if m.any():
            f = 0.5 * (d[t - 1] + d[t])
            num += float(f[m].sum())
            den += float(m.sum())
    return num / den if den else float("nan")


def blend(first, second, mid, radius, low, high) -> torch.Tensor:
    """Pixel-shader blend of IMAGE batches [N,H,W,3]."""
    def nchw(x):
        return x.permute(0, 3, 1, 2).contiguous()
    out = pixel_shader_blend(nchw(first), nchw(second), nchw(mid), radius=radius, low=low, high=high)
    return out.permute(0, 2, 3, 1).clamp(0, 1)


def rebuild(method, frames: torch.Tensor) -> tuple:
    """Odd frames rebuilt from their even neighbours: (rebuilt [N,H,W,3], first, second, indices)."""
    last = frames.shape[0] - 1 if frames.shape[0] % 2 else frames.shape[0] - 2
    idx = list(range(1, last, 2))
    first, second = frames[[i - 1 for i in idx]], frames[[i + 1 for i in idx]]
    mids = torch.cat([method(first[i:i + 1], second[i:i + 1]) for i in range(len(idx))])
    return mids, first, second, idx


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--sepconv", default="", help="SepConv weights (registry name or file) to add as a method")
    p.add_argument("--ensemble", type=int, default=1, help="SepConv self-ensemble size (1, 2, 4, 8)")
    p.add_argument("--frames", type=int, default=41, help="frames read per clip")
    p.add_argument("--radius", type=int, default=2)
    p.add_argument("--low", type=float, default=2.0)
    p.add_argument("--high", type=float, default=6.0)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "flicker.md"))
    p.add_argument("--threads", type=int, default=0)
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    data = Path(a.data)
    from frameweave.vfi_core.baselines import flow_warp_pair
    methods = {"flow warp (DIS medium)": lambda f, s: flow_warp_pair(f, s, 0.5)}
    if a.sepconv:
        from frameweave.vfi_core.sepconv_infer import interpolate_midpoint
        from frameweave.vfi_core.weights import load_weights
        model = load_weights(a.sepconv).eval()

        def sepconv(f, s):
            return interpolate_midpoint(model, f, s, ensemble=a.ensemble)
        label = a.sepconv if a.ensemble == 1 else f"{a.sepconv}, ensemble x{a.ensemble}"
        methods[f"SepConv ({label})"] = sepconv
    lines = ["| clip | frames | static px % | method | PSNR dB before | PSNR dB after | flicker before | "
             "flicker after | flicker of the real clip |", "|---|---|---|---|---|---|---|---|---|"]
    totals = {}
    for rel in CLIPS:
        path = data / rel
        if not path.exists():
            continue
        gt = read_clip(path, a.frames)
        masks = static_masks(gt)
        idx = list(range(1, gt.shape[0] - 1 if gt.shape[0] % 2 else gt.shape[0] - 2, 2))
        static_pct = 100.0 * float(torch.stack([masks[t - 1] for t in idx]).float().mean())
        floor = flicker(gt, masks, idx)
        for name, method in methods.items():
            mids, first, second, idx = rebuild(method, gt)
            blended = blend(first, second, mids, a.radius, a.low, a.high)
            row = {}
            for tag, m in (("before", mids), ("after", blended)):
                clip = gt.clone()
                clip[idx] = m
                row[tag] = (float(metrics.psnr(m, gt[idx]).mean()), flicker(clip, masks, idx))
            totals.setdefault(name, []).append((row["before"], row["after"]))
            lines.append(f"| {rel} | {gt.shape[0]} ({gt.shape[2]}x{gt.shape[1]}) | {static_pct:.1f} | {name} | "
                         f"{row['before'][0]:.2f} | {row['after'][0]:.2f} | {row['before'][1]:.3f} | "
                         f"{row['after'][1]:.3f} | {floor:.3f} |")
            print(lines[-1], flush=True)
    for name, rows in totals.items():
        b = np.array([r[0] for r in rows])
        af = np.array([r[1] for r in rows])
        lines.append(f"| **mean of clips** | | | {name} | {b[:, 0].mean():.2f} | {af[:, 0].mean():.2f} | "
                     f"{np.nanmean(b[:, 1]):.3f} | {np.nanmean(af[:, 1]):.3f} | |")
    table = "\n".join(lines)
    header = (f"# Pixel Shader Blend: PSNR and flicker before/after\n\nMachine: {machine()}.\n"
              f"Drop-frames protocol k = 2 on the first {a.frames} frames of each dev clip; blend radius "
              f"{a.radius}, low {a.low}, high {a.high} grey levels. Flicker = mean |R_t - R_(t±1)| (grey levels) "
              f"over pixels that are static in the real clip around t (both real differences < {STATIC_TAU} "
              "grey levels); the last column is the same figure on the real clip (its noise floor). "
              "See benchmarks/flicker.py for the exact definition.\nCommand: `python benchmarks/flicker.py "
              + " ".join(argv if argv is not None else sys.argv[1:]) + "`\n\n")
    print(table)
    write_report(a.out, header + table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
