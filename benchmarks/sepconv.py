"""SepConv benchmark: quality of installed weights (with self-ensemble), CPU time and memory.

    python benchmarks/sepconv.py [--weights A,B] [--parts triplets,clips,speed,memory-model]
                                 [--ks 2,4] [--clip-ensembles 1] [--clip-frames 0] [--update-manifest]

Parts (each result is cached in ``--cache``, a JSON file, as soon as it is measured, so an
interrupted run continues where it stopped; the report is rebuilt from the cache every time):

* triplets: every triplet of ../shared/data/dev/triplets/{ucf101_adacof,vimeo90k_sample}; SepConv's
  midpoint for each of the 8 input variants of ``sepconv_infer.ENSEMBLE_VARIANTS`` (each mapped
  back), scored alone and averaged over the first 1, 2, 4, 8 (``ensemble``), beside the linear
  blend and the DIS flow warp. Scores: ``evaluation.score_frames`` (PSNR on 0..255 RGB and SSIM of
  8-bit frames, the dev README's convention). CPU time (process time, 1 thread) per network call.
* clips: the drop-frames protocol (``evaluation.evaluate_clip``, shots split at known cuts) on every
  dev GIF/video for k in ``--ks``, per weights and ensemble size in ``--clip-ensembles``, beside
  linear and flow on the same frames; ``--clip-frames N`` limits each shot to its first N frames
  (a documented subset for the costly ensemble rows).
* speed: one 1280x720 and one 1920x1080 pair (a real photo, shifted) in a fresh process per setting:
  wall time, CPU time and peak resident set size, untiled (tile_size = frame side) and tile 512.
* memory-model: peak extra memory of one forward pass of freshly built networks of several
  widths / K at 640x480 against ``sepconv_tiling.forward_bytes`` (the estimate behind automatic tiling).

Writes the report to benchmarks/results/sepconv.md (``--out``); ``--update-manifest`` copies each
weights' scores into weights/manifest.json.
"""
import argparse
import functools
import json
import os
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
ENSEMBLES = (1, 2, 4, 8)
SPEED_SIZES = ((720, 1280), (1080, 1920))
SPEED_TILES = (0, 512)                          # 0 = untiled (tile_size = the frame's longer side)
MEMORY_NETS = ((51, 1.0), (51, 0.5), (25, 0.25), (5, 0.125))


# --- cache ------------------------------------------------------------------------------------------
class Cache:
    """JSON dict of measured results, written atomically after every new entry."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.data = json.loads(self.path.read_text()) if self.path.exists() else {}

    def get(self, key: str):
        return self.data.get(key)

    def put(self, key: str, value) -> None:
        self.data[key] = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        part = self.path.with_name(self.path.name + ".part")
        part.write_text(json.dumps(self.data, indent=1, sort_keys=True) + "\n")
        os.replace(part, self.path)


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- triplets ---------------------------------------------------------------------------------------
def triplet_part(cache: Cache, weights: str) -> None:
    from frameweave.vfi_core.evaluation import load_triplets, score_frames
    from frameweave.vfi_core.methods import get_method
    from frameweave.vfi_core.metrics import sharpness_ratio
    from frameweave.vfi_core.sepconv_infer import ENSEMBLE_VARIANTS, get_model, variant_midpoints

    model = get_model(weights, "cpu")
    linear, flow = get_method("linear"), get_method("flow")
    for set_name in SETS:
        folder = DEV / "triplets" / set_name
        if not folder.is_dir():
            continue
        for name, f0, f1, gt in load_triplets(folder):
            key = f"triplet|{weights}|{set_name}|{name}"
            if cache.get(key) is None:
                outs, seconds = [], []
                start = time.process_time()
                for out in variant_midpoints(model, f0, f1, ENSEMBLE_VARIANTS):
                    outs.append(out)
                    seconds.append(time.process_time() - start)
                    start = time.process_time()
                single = [_score(score_frames, o.clamp(0, 1).permute(0, 2, 3, 1), gt) for o in outs]
                means = {n: (sum(outs[:n]) / n).clamp(0, 1).permute(0, 2, 3, 1) for n in ENSEMBLES}
                ens = {str(n): _score(score_frames, m, gt) for n, m in means.items()}
                sharp = {str(n): float(sharpness_ratio(m, gt)[0]) for n, m in means.items()}
                cache.put(key, {"variants": single, "ensemble": ens, "sharpness": sharp, "cpu_s": seconds})
                _log(f"{key}: x1 {ens['1'][0]:.2f} x8 {ens['8'][0]:.2f} dB, {np.mean(seconds):.1f} s CPU per call")
            bkey = f"triplet|baselines|{set_name}|{name}"
            if cache.get(bkey) is None:
                clip = torch.cat([f0, f1])
                cache.put(bkey, {"linear": _score(score_frames, linear(clip, [0.5])[1:2], gt),
                                 "flow": _score(score_frames, flow(clip, [0.5])[1:2], gt)})


def _score(score_frames, pred, gt) -> list:
    p, s = score_frames(pred, gt)
    return [float(p[0]), float(s[0])]


# --- clips ------------------------------------------------------------------------------------------
def clip_part(cache: Cache, weights: str, ks, ensembles, max_frames: int, only=()) -> None:
    from frameweave.vfi_core.evaluation import dev_clips, evaluate_clip
    from frameweave.vfi_core.methods import get_method
    from frameweave.vfi_core.sepconv_infer import get_model, sepconv_interpolate_clip

    model = get_model(weights, "cpu")
    frames_tag = max_frames or "all"
    methods = [(f"{weights}|x{e}", functools.partial(sepconv_interpolate_clip, model=model, ensemble=e, chunk=1))
               for e in ensembles]
    methods += [("linear", get_method("linear")), ("flow", get_method("flow"))]
    for k in ks:
        for clip in dev_clips(DEV):
            if only and clip.name not in only:
                continue
            for label, method in methods:
                key = f"clip|{label}|k{k}|{frames_tag}|{clip.name}"
                if cache.get(key) is not None:
                    continue
                cpu = time.process_time()
                try:
                    res = evaluate_clip(clip.path, k, method, ranges=clip.ranges, max_frames=max_frames or None)
                except ValueError as exc:                           # clip too short for k
                    cache.put(key, {"skipped": str(exc)})
                    continue
                cache.put(key, {"psnr": res["psnr"], "ssim": res["ssim"], "seconds": res["seconds"],
                                "cpu_s": time.process_time() - cpu})
                _log(f"{key}: {res['mean_psnr']:.2f} dB over {res['count']} frames, {res['seconds']:.0f} s")


# --- speed and memory (fresh processes) -------------------------------------------------------------
def _pair(h: int, w: int):
    """Two frames of a real photo (astronaut, upscaled), the second shifted by (2, 4) px."""
    import skimage.data

    img = torch.from_numpy(skimage.data.astronaut().astype(np.float32) / 255).permute(2, 0, 1)[None]
    big = torch.nn.functional.interpolate(img, size=(h + 8, w + 8), mode="bilinear", align_corners=False)
    return big[..., 4:4 + h, 4:4 + w].permute(0, 2, 3, 1), big[..., 6:6 + h, 8:8 + w].permute(0, 2, 3, 1)


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _speed_child(weights: str, h: int, w: int, tile: int) -> dict:
    from frameweave.vfi_core.sepconv_infer import get_model, interpolate_midpoint, plan_for

    model = get_model(weights, "cpu")
    a, b = _pair(h, w)
    interpolate_midpoint(model, a[:, :64, :64], b[:, :64, :64])      # warm-up
    tile_size = tile or max(h, w)
    plan = plan_for(model, a, tile_size)
    base = _status_mb("VmRSS")
    wall, cpu = time.perf_counter(), time.process_time()
    interpolate_midpoint(model, a, b, tile_size=tile_size)
    return {"seconds": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu, "peak_mb": _status_mb("VmHWM"),
            "before_mb": base, "windows": plan.windows, "tile": plan.tile}


def _memory_child(kernel_size: int, width: float) -> dict:
    from frameweave.vfi_core.sepconv import SepConvNet

    model = SepConvNet(kernel_size, width).eval()
    a, b = torch.rand(1, 3, 480, 640), torch.rand(1, 3, 480, 640)
    with torch.no_grad():
        model(a[..., :64, :64], b[..., :64, :64])
        base = _status_mb("VmRSS")
        model(a, b)
    return {"peak_extra_mb": _status_mb("VmHWM") - base, "channels": list(model.channels)}


def _estimate_mb(kernel_size: int, width: float) -> float:
    from frameweave.vfi_core.sepconv import SepConvNet
    from frameweave.vfi_core.sepconv_tiling import forward_bytes

    return forward_bytes(SepConvNet(kernel_size, width), 1, 480, 640) / 2 ** 20


def _child(*args) -> dict:
    out = subprocess.run([sys.executable, __file__, "--_child", json.dumps(args)], capture_output=True, text=True,
                         check=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    return json.loads(out.stdout.strip().splitlines()[-1])


def speed_part(cache: Cache, weights: str) -> None:
    for h, w in SPEED_SIZES:
        for tile in SPEED_TILES:
            key = f"speed|{weights}|{w}x{h}|{tile}"
            if cache.get(key) is None:
                cache.put(key, dict(_child("speed", weights, h, w, tile), load=os.getloadavg()[0]))
                _log(f"{key}: {cache.get(key)}")


def memory_part(cache: Cache) -> None:
    for k, width in MEMORY_NETS:
        key = f"memory|k{k}|w{width}"
        if cache.get(key) is None:
            cache.put(key, _child("memory", k, width))
            _log(f"{key}: {cache.get(key)}")


# --- report -----------------------------------------------------------------------------------------
def _mean(rows, i=0):
    return float(np.mean([r[i] for r in rows])) if rows else float("nan")


def triplet_summary(cache: Cache, weights: str) -> dict:
    """set -> {count, ensemble: {n: (psnr, ssim)}, variants: [psnr per variant], cpu_s, linear, flow}."""
    out = {}
    for set_name in SETS:
        rows = [v for k, v in cache.data.items() if k.startswith(f"triplet|{weights}|{set_name}|")]
        base = [v for k, v in cache.data.items() if k.startswith(f"triplet|baselines|{set_name}|")]
        if not rows:
            continue
        out[set_name] = {
            "count": len(rows),
            "ensemble": {n: (_mean([r["ensemble"][str(n)] for r in rows]), _mean([r["ensemble"][str(n)] for r in rows], 1))
                         for n in ENSEMBLES},
            "variants": [_mean([r["variants"][i] for r in rows]) for i in range(len(rows[0]["variants"]))],
            "cpu_s": float(np.mean([np.mean(r["cpu_s"]) for r in rows])),
            "sharpness": ({n: float(np.mean([r["sharpness"][str(n)] for r in rows])) for n in ENSEMBLES}
                          if all("sharpness" in r for r in rows) else None),
            "linear": (_mean([b["linear"] for b in base]), _mean([b["linear"] for b in base], 1)),
            "flow": (_mean([b["flow"] for b in base]), _mean([b["flow"] for b in base], 1))}
    return out


def clip_names(cache: Cache, label: str, k: int, frames_tag) -> set:
    prefix = f"clip|{label}|k{k}|{frames_tag}|"
    return {key[len(prefix):] for key in cache.data if key.startswith(prefix)}


def clip_summary(cache: Cache, label: str, k: int, frames_tag, clips=None) -> dict | None:
    """Mean PSNR/SSIM over all rebuilt frames of the clips (pooled; only ``clips`` when given),
    frame count, seconds."""
    prefix = f"clip|{label}|k{k}|{frames_tag}|"
    rows = [v for key, v in cache.data.items() if key.startswith(prefix) and "psnr" in v
            and (clips is None or key[len(prefix):] in clips)]
    if not rows:
        return None
    psnr = [p for r in rows for p in r["psnr"]]
    ssim = [s for r in rows for s in r["ssim"]]
    return {"psnr": float(np.mean(psnr)), "ssim": float(np.mean(ssim)), "frames": len(psnr), "clips": len(rows),
            "seconds": float(sum(r["seconds"] for r in rows)), "cpu_s": float(sum(r.get("cpu_s", 0) for r in rows))}


def report(cache: Cache, weights_list, ks, machine: str) -> str:
    from frameweave.vfi_core.sepconv_infer import ENSEMBLE_VARIANTS

    lines = ["# SepConv benchmark", "", "Measured by (each run's items are cached in `benchmarks/results/sepconv_cache.json`; "
             "this report is rebuilt from the cache by every run):", ""]
    runs = sorted((v for key, v in cache.data.items() if key.startswith("run|")), key=lambda v: v["started"])
    lines += [f"* `python benchmarks/sepconv.py {' '.join(v['argv'])}` — {v['machine']}" for v in runs]
    lines += ["", f"Report written on: {machine}.", ""]
    lines += ["## Triplets (middle frame), PSNR dB / SSIM of 8-bit frames", "",
              "| set | weights | x1 | x2 | x4 | x8 | linear blend | DIS flow warp | CPU s per network call |",
              "|---|---|---|---|---|---|---|---|---|"]
    summaries = {w: triplet_summary(cache, w) for w in weights_list}
    for w, summary in summaries.items():
        for set_name, r in summary.items():
            cells = [f"{r['ensemble'][n][0]:.2f} / {r['ensemble'][n][1]:.4f}" for n in ENSEMBLES]
            lines.append(f"| {set_name} ({r['count']}) | `{w}` | " + " | ".join(cells)
                         + f" | {r['linear'][0]:.2f} / {r['linear'][1]:.4f} | {r['flow'][0]:.2f} / {r['flow'][1]:.4f}"
                         f" | {r['cpu_s']:.2f} |")
    sharp_rows = [(w, set_name, r["sharpness"]) for w, summary in summaries.items() for set_name, r in summary.items()
                  if r.get("sharpness")]
    if sharp_rows:
        lines += ["", "Sharpness ratio mean|∇Î| / mean|∇I_gt| (`metrics.sharpness_ratio`; 1 = as sharp as the truth), "
                  "where measured:", "", "| set | weights | x1 | x2 | x4 | x8 |", "|---|---|---|---|---|---|"]
        lines += [f"| {set_name} | `{w}` | " + " | ".join(f"{sh[n]:.3f}" for n in ENSEMBLES) + " |"
                  for w, set_name, sh in sharp_rows]
    names = ["+".join(n for n, on in zip(("swap", "hflip", "vflip"), v) if on) or "identity" for v in ENSEMBLE_VARIANTS]
    lines += ["", "Ensemble xN averages the first N input variants, in this order (each alone, PSNR dB):", "",
              "| set | weights | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for w, summary in summaries.items():
        for set_name, r in summary.items():
            lines.append(f"| {set_name} | `{w}` | " + " | ".join(f"{p:.2f}" for p in r["variants"]) + " |")
    tags = sorted({key.split("|")[-2] for key in cache.data if key.startswith("clip|")}, key=str)
    for tag in tags:
        labels = sorted({key.split("|", 1)[1].rsplit("|", 3)[0] for key in cache.data
                         if key.startswith("clip|") and key.split("|")[-2] == tag})
        what = "all frames" if tag == "all" else f"the first {tag} frames of each shot"
        ks_here = [k for k in ks if any(clip_names(cache, label, k, tag) for label in labels)]
        covered = {k: max(len(clip_names(cache, label, k, tag)) for label in labels) for k in ks_here}
        partial = sorted({label for label in labels for k in ks_here
                          if 0 < len(clip_names(cache, label, k, tag)) < covered[k]})
        lines += ["", f"## Drop-frames protocol on the dev clips ({what}), mean over rebuilt frames", "",
                  "| method | " + " | ".join(f"k = {k} ({covered[k]} clips): PSNR / SSIM (frames), wall s"
                                          for k in ks_here) + " |",
                  "|---|" + "---|" * len(ks_here)]
        for label in labels:
            if label in partial:
                continue
            cells = []
            for k in ks_here:
                s = clip_summary(cache, label, k, tag)
                cells.append("-" if s is None else f"{s['psnr']:.2f} / {s['ssim']:.4f} ({s['frames']}), {s['seconds']:.0f}")
            lines.append(f"| {label.replace('|', ' ')} | " + " | ".join(cells) + " |")
        if partial:
            lines += ["", "Not shown (measured on fewer clips than the rows above): "
                      + ", ".join(label.replace("|", " ") for label in partial) + "."]
    speed = {key: v for key, v in cache.data.items() if key.startswith("speed|")}
    if speed:
        lines += ["", "## Speed and memory: one frame pair, CPU, 1 thread, fresh process", "",
                  "| weights | frames | tiling | windows | wall s | CPU s | peak RSS MB | load average |",
                  "|---|---|---|---|---|---|---|---|"]
        for key, v in sorted(speed.items()):
            _, w, size, tile = key.split("|")
            lines.append(f"| `{w}` | {size} | {'untiled' if tile == '0' else 'tile ' + tile} | {v['windows']} | "
                         f"{v['seconds']:.1f} | {v['cpu_s']:.1f} | {v['peak_mb']:.0f} | {v.get('load', float('nan')):.1f} |")
    memory = {key: v for key, v in cache.data.items() if key.startswith("memory|")}
    if memory:
        lines += ["", "## Memory model (one forward pass at 640x480, freshly built networks)", "",
                  "| K | channels | measured peak extra MB | estimate MB (`sepconv_tiling.forward_bytes`) |",
                  "|---|---|---|---|"]
        for key, v in sorted(memory.items()):
            k, width = int(key.split("|")[1][1:]), float(key.split("|")[2][1:])
            lines.append(f"| {k} | {v['channels']} | {v['peak_extra_mb']:.0f} | {_estimate_mb(k, width):.0f} |")
    return "\n".join(lines) + "\n"


def update_manifest(cache: Cache, weights: str, ks, machine: str) -> None:
    from frameweave.vfi_core.sepconv_infer import DEFAULT_ENSEMBLE
    from frameweave.vfi_core.weights import WEIGHTS_DIR, read_manifest
    from frameweave.vfi_core.weights import update_manifest as write

    entry = next((e for e in read_manifest()["weights"] if e["name"] == weights), None)
    if entry is None:
        _log(f"{weights} is not in weights/manifest.json; not updated")
        return
    scores = {}
    for set_name, r in triplet_summary(cache, weights).items():
        scores[set_name] = {"psnr": round(r["ensemble"][1][0], 3), "ssim": round(r["ensemble"][1][1], 4),
                            "ensemble_psnr": {str(n): round(r["ensemble"][n][0], 3) for n in ENSEMBLES},
                            "default_ensemble": DEFAULT_ENSEMBLE,
                            "default_ensemble_psnr": round(r["ensemble"][DEFAULT_ENSEMBLE][0], 3),
                            "triplets": r["count"], "baseline_linear_psnr": round(r["linear"][0], 3),
                            "baseline_flow_psnr": round(r["flow"][0], 3), "cpu_s_per_call": round(r["cpu_s"], 2)}
    for k in ks:
        s = clip_summary(cache, f"{weights}|x1", k, "all")
        if s is not None:
            scores[f"dev_clips_k{k}"] = {"psnr": round(s["psnr"], 3), "ssim": round(s["ssim"], 4), "frames": s["frames"],
                                         "clips": s["clips"], "ensemble": 1}
    for key, v in cache.data.items():
        if key.startswith(f"speed|{weights}|"):
            _, _, size, tile = key.split("|")
            scores.setdefault("cpu_pair", {})[f"{size} {'untiled' if tile == '0' else 'tile ' + tile}"] = {
                "wall_s": round(v["seconds"], 1), "cpu_s": round(v["cpu_s"], 1), "peak_rss_mb": round(v["peak_mb"])}
    entry["scores"] = scores
    entry["scores_machine"] = machine
    write(entry, WEIGHTS_DIR)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default="", help="comma-separated registry names (default: the default SepConv weights)")
    p.add_argument("--parts", default="triplets,clips,speed", help="triplets, clips, speed, memory-model, report")
    p.add_argument("--ks", default="2,4", help="drop-frames k values")
    p.add_argument("--clip-ensembles", default="1", help="ensemble sizes run on the clips")
    p.add_argument("--clip-frames", type=int, default=0, help="frames per shot for the clips part (0 = all)")
    p.add_argument("--clips", default="", help="comma-separated clip file names for the clips part (default: all)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--update-manifest", action="store_true", help="write the scores into weights/manifest.json")
    p.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / "results" / "sepconv_cache.json")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "sepconv.md")
    p.add_argument("--_child", default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    torch.set_num_threads(max(1, a.threads))
    import cv2
    cv2.setNumThreads(max(1, a.threads))
    if a._child:
        kind, *args = json.loads(a._child)
        print(json.dumps(_speed_child(*args) if kind == "speed" else _memory_child(*args)))
        return 0
    from frameweave.vfi_core.sepconv_infer import default_weights_name

    weights_list = [w for w in a.weights.split(",") if w] or [default_weights_name()]
    parts = {x.strip() for x in a.parts.split(",") if x.strip()}
    ks = [int(k) for k in a.ks.split(",") if k]
    cache = Cache(a.cache)
    measuring = parts & {"triplets", "clips", "speed", "memory-model"}
    if measuring:
        cache.put(f"run|{time.time():.0f}", {"argv": sys.argv[1:], "started": time.time(),
                                               "machine": machine_description(opencv=True)})
    if "memory-model" in parts:
        memory_part(cache)
    for weights in weights_list:
        if "triplets" in parts:
            triplet_part(cache, weights)
        if "clips" in parts:
            clip_part(cache, weights, ks, [int(e) for e in a.clip_ensembles.split(",")], a.clip_frames,
                      [c for c in a.clips.split(",") if c])
        if "speed" in parts:
            speed_part(cache, weights)
    mach = machine_description(opencv=True)
    all_weights = sorted({key.split("|")[1] for key in cache.data if key.startswith("triplet|")} - {"baselines"})
    text = report(cache, all_weights, ks, mach)
    print(text)
    write_report(a.out, text)
    if a.update_manifest:
        for weights in weights_list:
            update_manifest(cache, weights, ks, mach)
    return 0


if __name__ == "__main__":
    sys.exit(main())
