"""SepConv benchmark: quality of the installed weights on the dev triplets, speed and memory.

    python benchmarks/sepconv.py [--weights NAME] [--skip-speed] [--update-manifest]

Quality: every triplet of ../shared/data/dev/triplets/{ucf101_adacof,vimeo90k_sample}: the middle
frame from f0, f1 scored against gt with vfi_core.metrics psnr/ssim (0..255, as the dev README),
beside the linear blend and the OpenCV DIS flow-warp baselines computed by the same script.
Speed: one 1080p pair (photo-based, real texture) untiled, time per pair. Memory: peak resident
set size of a fresh process interpolating one pair at 1080p and 4K, untiled and tiled.
Prints a markdown table and writes it to benchmarks/results/sepconv.md.
"""
import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from frameweave.vfi_core.machine import machine_description, write_report

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT.parent / "shared" / "data" / "dev"
SETS = ("ucf101_adacof", "vimeo90k_sample")


def machine() -> str:
    return machine_description()


STILL_LEVELS = 2.0   # a pixel is still when I0 and I1 differ by less than this (grey levels, every channel)


def still_area_error(pred, gt, first, last):
    """Mean |pred - gt| in grey levels over the still pixels (I0 ≈ I1), or None when there are none:
    where nothing moves the answer is the input itself, so any error there is the method's own
    (blur, colour shift) and shows as flicker in a video."""
    still = ((first - last).abs().amax(dim=-1) * 255 < STILL_LEVELS)          # [1,H,W]
    if not still.any():
        return None
    return float(((pred - gt).abs() * 255)[still].mean())


def quality(weights: str, limit=None) -> dict:
    from frameweave.vfi_core.methods import get_method
    from frameweave.vfi_core.metrics import psnr, ssim
    from frameweave.vfi_core.sepconv_infer import get_model, interpolate_midpoint
    from frameweave.vfi_core.triplet_data import load_triplet_folder

    model = get_model(weights, "cpu")
    linear, flow = get_method("linear"), get_method("flow")
    rows = {}
    for name in SETS:
        folder = DEV / "triplets" / name
        if not folder.is_dir():
            continue
        scores = {"sepconv": [], "linear": [], "flow": []}
        still = {"sepconv": [], "linear": []}
        t_model = 0.0
        for _, f0, gt, f1 in load_triplet_folder(folder, limit=limit):
            a, b, g = (torch.from_numpy(x)[None] for x in (f0, f1, gt))
            t = time.perf_counter()
            pred = interpolate_midpoint(model, a, b)
            t_model += time.perf_counter() - t
            clip = torch.cat([a, b])
            preds = {"sepconv": pred, "linear": linear(clip, [0.5])[1:2], "flow": flow(clip, [0.5])[1:2]}
            for k, p in preds.items():
                scores[k].append((float(psnr(p, g)[0]), float(ssim(p, g)[0])))
            for k in still:
                err = still_area_error(preds[k], g, a, b)
                if err is not None:
                    still[k].append(err)
        n = len(scores["sepconv"])
        rows[name] = {k: {"psnr": float(np.mean([s[0] for s in v])), "ssim": float(np.mean([s[1] for s in v]))}
                      for k, v in scores.items()}
        rows[name]["count"] = n
        rows[name]["still"] = {k: float(np.mean(v)) if v else None for k, v in still.items()}
        rows[name]["sec_per_pair"] = t_model / max(n, 1)
    return rows


def speed_1080p(weights: str) -> float:
    from frameweave.vfi_core.sepconv_infer import get_model, interpolate_midpoint

    model = get_model(weights, "cpu")
    a, b = _pair(1080, 1920)
    interpolate_midpoint(model, a[:, :64, :64], b[:, :64, :64])      # warm-up
    t = time.perf_counter()
    interpolate_midpoint(model, a, b)
    return time.perf_counter() - t


def _pair(h: int, w: int):
    """Two frames of a real photo (astronaut, upscaled), the second shifted by (2, 4) px."""
    import skimage.data

    img = torch.from_numpy(skimage.data.astronaut().astype(np.float32) / 255).permute(2, 0, 1)[None]
    big = torch.nn.functional.interpolate(img, size=(h + 8, w + 8), mode="bilinear", align_corners=False)
    return big[..., 4:4 + h, 4:4 + w].permute(0, 2, 3, 1), big[..., 6:6 + h, 8:8 + w].permute(0, 2, 3, 1)


def _memory_child(weights: str, h: int, w: int, tile: int) -> None:
    from frameweave.vfi_core.sepconv_infer import get_model, interpolate_midpoint

    torch.set_num_threads(1)
    model = get_model(weights, "cpu")
    a, b = _pair(h, w)
    base = _peak_rss_mb()
    t = time.perf_counter()
    interpolate_midpoint(model, a, b, tile_size=tile)
    print(json.dumps({"peak_mb": _peak_rss_mb(), "before_mb": base, "seconds": time.perf_counter() - t}))


def _peak_rss_mb() -> float:
    """Peak resident set size of this process (VmHWM; unlike ru_maxrss it is not inherited from
    the parent across fork + exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory(weights: str, h: int, w: int, tile: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--weights", weights, "--_memory", f"{h},{w},{tile}"],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default=None, help="registry name (default: the shipped SepConv weights)")
    p.add_argument("--limit", type=int, default=None, help="triplets per set (default all)")
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--update-manifest", action="store_true", help="write the scores into weights/manifest.json")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "sepconv.md")
    p.add_argument("--_memory", default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    from frameweave.vfi_core.sepconv_infer import default_weights_name

    weights = a.weights or default_weights_name()
    if a._memory:
        h, w, tile = (int(x) for x in a._memory.split(","))
        _memory_child(weights, h, w, tile)
        return 0
    torch.set_num_threads(1)
    mach = machine()
    lines = [f"# SepConv benchmark — weights `{weights}`", "", f"Machine: {mach}.", ""]
    q = quality(weights, a.limit)
    lines += ["## Quality on ../shared/data/dev triplets (middle frame, PSNR dB / SSIM on 0..255 RGB)", "",
              "| set | triplets | SepConv (ours) | linear blend | DIS flow warp | SepConv s/pair | "
              f"still-area error, SepConv / linear (grey levels; pixels with I0, I1 within {STILL_LEVELS:g}) |",
              "|---|---|---|---|---|---|---|"]
    for name, r in q.items():
        lines.append(f"| {name} | {r['count']} | {r['sepconv']['psnr']:.2f} / {r['sepconv']['ssim']:.4f} | "
                     f"{r['linear']['psnr']:.2f} / {r['linear']['ssim']:.4f} | "
                     f"{r['flow']['psnr']:.2f} / {r['flow']['ssim']:.4f} | {r['sec_per_pair']:.2f} | "
                     + (f"{r['still']['sepconv']:.2f} / {r['still']['linear']:.2f} |"
                        if r["still"]["sepconv"] is not None else "- |"))
    if not a.skip_speed:
        sec = speed_1080p(weights)
        lines += ["", "## Speed and memory (one frame pair, CPU, 1 thread)", "",
                  f"1080p (1920x1080), untiled: {sec:.1f} s per pair = {1 / sec:.3f} pairs/s.", "",
                  "| frames | tile_size | peak RSS of the process (MB) | seconds |", "|---|---|---|---|"]
        for h, w, tile in ((1080, 1920, 0), (1080, 1920, 512), (2160, 3840, 1024)):
            m = memory(weights, h, w, tile)
            lines.append(f"| {w}x{h} | {tile or 'untiled'} | {m['peak_mb']:.0f} | {m['seconds']:.1f} |")
        lines += ["", "GPU: not measured (no GPU was lent to this session)."]
    text = "\n".join(lines) + "\n"
    print(text)
    write_report(a.out, text)
    if a.update_manifest:
        from frameweave.vfi_core.weights import WEIGHTS_DIR, read_manifest, update_manifest

        entry = next((e for e in read_manifest()["weights"] if e["name"] == weights), None)
        if entry is None:
            print(f"{weights} is not in weights/manifest.json; not updated", file=sys.stderr)
        else:
            entry["scores"] = {name: {"psnr": round(r["sepconv"]["psnr"], 3), "ssim": round(r["sepconv"]["ssim"], 4),
                                      "still_area_error": None if r["still"]["sepconv"] is None
                                      else round(r["still"]["sepconv"], 3),
                                      "triplets": r["count"], "baseline_linear_psnr": round(r["linear"]["psnr"], 3),
                                      "baseline_flow_psnr": round(r["flow"]["psnr"], 3)} for name, r in q.items()}
            entry["scores_machine"] = mach
            update_manifest(entry, WEIGHTS_DIR)
    return 0


if __name__ == "__main__":
    sys.exit(main())
