"""Flow-guided interpolator benchmark: dev triplets, drop-frames protocol, 720p time beside the Flow Warp.

    nice -n 10 python benchmarks/flowguided.py [--weights NAME] [--ablation LABEL=RUN_OR_FILE ...]
        [--sepconv-clips] [--parts triplets clips speed] [--update-manifest]

Same data and scoring as benchmarks/evaluate.py (vfi_core.evaluation): the middle frame of every
triplet of ../shared/data/dev/triplets/{ucf101_adacof,vimeo90k_sample} at t = 0.5, and the
drop-frames protocol (k = 2 and 4) over all dev clips, skv_bikes split into its shots; frames scored
as 8-bit images (PSNR on 0-255 RGB, SSIM of Wang et al. 2004). In one table per set: linear blend,
Flow Warp (DIS medium, occlusion-aware), SepConv with its default weights
(``default_weights_name('sepconv')``; on the clips only with ``--sepconv-clips``: bisection of a
CPU SepConv costs far more than everything else here), the flow-guided network with the shipped
weights, and the ablations given with ``--ablation`` (other K, no warping; run directories or
weight files from ``frameweave train flowguided``). The flow-based methods are handed the same DIS
flows (computed once per pair, as each method would compute them itself), so they differ only in
what they do with them.

Speed: one 720p pair (a real photo, shifted), Flow Warp and flow-guided (both whole-clip methods,
DIS included), alternating, ``--repeats`` times each, in ONE process with one torch and one OpenCV
thread: the ratio of their CPU times is what the issue bounds (<= 3x).
Writes benchmarks/results/flowguided.md (``--out``); the parts can run as separate processes, each
with its own ``--out``, and ``--update-manifest`` adds each part's scores to the manifest entry.
"""
import argparse
import functools
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from frameweave.vfi_core.machine import machine_description, write_report

ROOT = Path(__file__).resolve().parents[1]
DEV = Path(os.environ.get("FRAMEWEAVE_DEV_DATA", ROOT.parent / "shared" / "data" / "dev"))
SETS = ("ucf101_adacof", "vimeo90k_sample")


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def methods(weights: str, ablations: dict, sepconv: str | None) -> dict:
    """label -> (clip function taking ``flow=`` or None, kind) with kind "flow" (reuses the flows),
    "plain" (linear) or "sepconv"."""
    from frameweave.vfi_core.baselines import flow_warp_clip, linear_blend_clip
    from frameweave.vfi_core.flowguided_infer import flowguided_interpolate_clip, load_flowguided
    from frameweave.vfi_core.flowguided_train import load_run_model

    out = {"linear blend": (linear_blend_clip, "plain"), "Flow Warp": (flow_warp_clip, "flow")}
    if sepconv:
        from frameweave.vfi_core.sepconv_infer import sepconv_interpolate_clip
        out[f"SepConv `{sepconv}`"] = (functools.partial(sepconv_interpolate_clip, weights=sepconv), "sepconv")
    if weights:
        model = load_flowguided(weights)
        out[f"**flow-guided `{weights}`**"] = (functools.partial(flowguided_interpolate_clip, model=model), "flow")
    for label, path in ablations.items():
        out[label] = (functools.partial(flowguided_interpolate_clip, model=load_run_model(path)), "flow")
    return out


def _call(fn, kind, clip, fractions, field):
    return fn(clip, fractions, flow=field) if kind == "flow" else fn(clip, fractions)


def run_triplets(table: dict) -> dict:
    """set -> label -> {psnr, ssim, count}."""
    from frameweave.vfi_core.evaluation import load_triplets, score_frames
    from frameweave.vfi_core.flow import estimate_flow

    results = {}
    for name in SETS:
        root = DEV / "triplets" / name
        if not root.is_dir():
            log(f"{root} not found, skipped")
            continue
        scores = {label: [] for label in table}
        for tname, f0, f1, gt in load_triplets(root):
            clip = torch.cat([f0, f1])
            field = estimate_flow(clip, preset="medium")
            for label, (fn, kind) in table.items():
                if kind == "sepconv" and fn is None:
                    continue
                out = _call(fn, kind, clip, [0.5], field)[1:2]
                p, s = score_frames(out, gt)
                scores[label].append((float(p[0]), float(s[0])))
            log(f"{name}/{tname}: " + ", ".join(f"{lab.strip('*')} {v[-1][0]:.2f}" for lab, v in scores.items()))
        results[name] = {lab: {"psnr": float(np.mean([x[0] for x in v])), "ssim": float(np.mean([x[1] for x in v])),
                               "count": len(v)} for lab, v in scores.items() if v}
    return results


def run_clips(table: dict, ks, with_sepconv: bool, max_frames=None) -> dict:
    """k -> label -> {psnr, ssim, count} pooled over every dropped frame of every dev clip."""
    from frameweave.vfi_core.evaluation import dev_clips, drop_frames, evaluate_drop_protocol
    from frameweave.vfi_core.flow import estimate_flow
    from frameweave.vfi_core.frames_io import read_frames

    results = {}
    for k in ks:
        pooled = {label: ([], []) for label in table if with_sepconv or table[label][1] != "sepconv"}
        per_clip = {}
        for c in dev_clips(DEV):
            clip_scores = {label: [] for label in pooled}
            for start, stop in c.ranges:
                frames = read_frames(c.path, start=start, stop=stop, max_frames=max_frames).frames
                if frames.shape[0] < k + 1:
                    continue
                field = estimate_flow(drop_frames(frames, k).kept, preset="medium")
                for label in pooled:
                    fn, kind = table[label]
                    res = evaluate_drop_protocol(frames, k, functools.partial(_call_clip, fn, kind, field))
                    pooled[label][0].extend(res["psnr"])
                    pooled[label][1].extend(res["ssim"])
                    clip_scores[label].extend(res["psnr"])
            per_clip[c.name] = {lab: float(np.mean(v)) for lab, v in clip_scores.items() if v}
            log(f"k={k} {c.name}: " + ", ".join(f"{lab.strip('*')} {v:.2f}" for lab, v in per_clip[c.name].items()))
        results[k] = {"pooled": {lab: {"psnr": float(np.mean(p)), "ssim": float(np.mean(s)), "count": len(p)}
                                 for lab, (p, s) in pooled.items()}, "clips": per_clip}
    return results


def _call_clip(fn, kind, field, kept, fractions, timing=None, progress=None):
    return _call(fn, kind, kept, fractions, field)


def run_diagnostics() -> dict:
    """What a correction of the Flow Warp could gain on the UCF101 dev triplets, and what global
    filters do (no network): the Flow Warp; the plain blend without occlusion weights; a per-pixel
    oracle choosing W_0, W_1 or the blend by the ground truth (an upper bound of a learned blend);
    3x3 unsharp masking (amount a: F + a·(F - box3(F))) and blurring (F - a·(F - box3(F)))."""
    import torch.nn.functional as F

    from frameweave.vfi_core.baselines import pair_flows
    from frameweave.vfi_core.evaluation import load_triplets, score_frames
    from frameweave.vfi_core.flowguided import make_guide

    rows = {}
    for _, f0, f1, gt in load_triplets(DEV / "triplets" / "ucf101_adacof"):
        g = make_guide(f0, f1, *pair_flows(f0, f1), 0.5)
        fw = (g.w_0 * g.warped_0 + g.w_1 * g.warped_1) / (g.w_0 + g.w_1)            # [1,3,H,W]
        target = gt.permute(0, 3, 1, 2)
        err = [(x - target).abs().sum(1, keepdim=True) for x in (g.warped_0, g.warped_1, fw)]
        oracle = torch.where(err[0] < err[1], g.warped_0, g.warped_1)
        oracle = torch.where(err[2] <= torch.minimum(err[0], err[1]), fw, oracle)
        box = F.avg_pool2d(F.pad(fw, (1, 1, 1, 1), mode="replicate"), 3, 1)
        cases = {"Flow Warp": fw, "blend (1-t), t without occlusion weights": 0.5 * (g.warped_0 + g.warped_1),
                 "oracle: per pixel the best of W_0, W_1, Flow Warp": oracle}
        for a in (0.1, 0.3):
            cases[f"unsharp mask, amount {a}"] = fw + a * (fw - box)
            cases[f"blur, amount {a}"] = fw - a * (fw - box)
        for label, x in cases.items():
            rows.setdefault(label, []).append(float(score_frames(x.clamp(0, 1).permute(0, 2, 3, 1), gt)[0][0]))
    return {k: float(np.mean(v)) for k, v in rows.items()}


def summarise_runs(runs) -> list:
    """Markdown rows from training run directories (config.json + log.jsonl of ``frameweave train
    flowguided``): recipe, steps, median CPU / wall seconds per step, validation PSNR records."""
    import json

    rows = []
    for run in runs:
        run = Path(run)
        cfg = json.loads((run / "config.json").read_text())
        log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
        cpu = [r["cpu_sec_per_step"] for r in log if "cpu_sec_per_step" in r]
        wall = [r["sec_per_step"] for r in log if "sec_per_step" in r]
        vals = "; ".join(f"{r['step']}: " + ", ".join(f"{k} {v:.3f}" for k, v in r["val_psnr"].items())
                         for r in log if "val_psnr" in r)
        recipe = (f"K={cfg['kernel_size']}{'' if cfg.get('warp', True) else ', no warping'}, lr {cfg['lr']:g}, "
                  f"seed {cfg['seed']}, noise {cfg.get('noise', 0.0):g}" + (f", init {Path(cfg['init']).name}"
                                                                           if cfg.get("init") else ""))
        rows.append(f"| {run.name} | {recipe} | {max(r['step'] for r in log)} | {statistics.median(cpu):.3f} | "
                    f"{statistics.median(wall):.2f} ({min(wall):.2f}-{max(wall):.2f}) | {vals} |")
    return rows


def _pair(h: int, w: int):
    """Two frames of a real photo (astronaut, upscaled), the second shifted by (2, 4) px: [2,H,W,3]."""
    import skimage.data

    img = torch.from_numpy(skimage.data.astronaut().astype(np.float32) / 255).permute(2, 0, 1)[None]
    big = torch.nn.functional.interpolate(img, size=(h + 8, w + 8), mode="bilinear", align_corners=False)
    return torch.cat([big[..., 4:4 + h, 4:4 + w], big[..., 6:6 + h, 8:8 + w]]).permute(0, 2, 3, 1).contiguous()


def run_speed(weights: str, repeats: int) -> dict:
    """CPU and wall seconds per 720p frame (multiplier 2, DIS included) of the Flow Warp and of the
    flow-guided method, measured alternately in this process."""
    from frameweave.vfi_core.baselines import flow_warp_clip
    from frameweave.vfi_core.flowguided_infer import flowguided_interpolate_clip, load_flowguided

    model = load_flowguided(weights)
    clip = _pair(720, 1280)
    runs = {"Flow Warp": lambda: flow_warp_clip(clip, [0.5]),
            "flow-guided": lambda: flowguided_interpolate_clip(clip, [0.5], model=model)}
    times = {k: {"cpu": [], "wall": []} for k in runs}
    for fn in runs.values():
        fn()                                                                  # warm-up
    for _ in range(repeats):
        for label, fn in runs.items():
            w, c = time.perf_counter(), time.process_time()
            fn()
            times[label]["cpu"].append(time.process_time() - c)
            times[label]["wall"].append(time.perf_counter() - w)
    return {k: {m: statistics.median(v) for m, v in d.items()} for k, d in times.items()}


def fmt(r) -> str:
    return f"{r['psnr']:.2f} / {r['ssim']:.4f}" if r else "-"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default=None, help="flow-guided weights (default: the manifest's default)")
    p.add_argument("--ablation", action="append", default=[], metavar="LABEL=PATH",
                   help="another flow-guided network: run directory, ckpt-*.json or .safetensors (repeatable)")
    p.add_argument("--parts", nargs="+", default=["triplets", "clips", "speed"], choices=("triplets", "clips", "speed", "diagnostics"))
    p.add_argument("--k", type=int, nargs="+", default=[2, 4])
    p.add_argument("--sepconv-clips", action="store_true", help="also run SepConv on the clips (slow)")
    p.add_argument("--no-sepconv", action="store_true", help="leave SepConv out")
    p.add_argument("--ablations-only", action="store_true", help="leave the shipped weights out (tables of "
                                                                   "the baselines and --ablation networks)")
    p.add_argument("--max-frames", type=int, default=None, help="frames read per clip (per shot)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--runs", nargs="+", default=[], metavar="RUN_DIR",
                   help="summarise these training runs (recipe, cost per step, validation) into the report")
    p.add_argument("--update-manifest", action="store_true", help="write the scores into weights/manifest.json")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "flowguided.md")
    a = p.parse_args(argv)
    import cv2

    from frameweave.vfi_core.flowguided_infer import default_weights_name

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    weights = "" if a.ablations_only else a.weights or default_weights_name()
    if a.ablations_only and ("speed" in a.parts or a.update_manifest):
        p.error("--ablations-only measures no speed and writes no manifest scores: use --parts triplets clips")
    sepconv = None
    if not a.no_sepconv:
        from frameweave.vfi_core.sepconv_infer import default_weights_name as sepconv_default
        sepconv = sepconv_default("sepconv")
    ablations = dict(x.rsplit("=", 1) for x in a.ablation)            # labels may hold "=" (K=5)
    table = methods(weights, ablations, sepconv) if set(a.parts) - {"diagnostics"} else {}
    title = f"weights `{weights}`" if weights else "ablations"
    lines = [f"# Flow-guided interpolator — {title}", "",
             f"- command: `python benchmarks/flowguided.py {' '.join(sys.argv[1:] if argv is None else argv)}`",
             f"- machine: {machine_description(opencv=True)}",
             "- scoring: PSNR dB / SSIM of 8-bit rounded frames (as benchmarks/evaluate.py); flow-based "
             "methods share the DIS (medium) flows of each pair"]
    lines += [f"- ablation `{k}`: `{v}`" for k, v in ablations.items()]
    labels = list(table)
    scores = {}
    if "triplets" in a.parts:
        tri = run_triplets(table)
        scores["triplets"] = tri
        lines += ["", "## Dev triplets (middle frame, t = 0.5): PSNR dB / SSIM", "",
                  "| method | " + " | ".join(f"{s} ({next(iter(r.values()))['count']})" for s, r in tri.items()) + " |",
                  "|---|" + "---|" * len(tri)]
        lines += [f"| {lab} | " + " | ".join(fmt(r.get(lab)) for r in tri.values()) + " |" for lab in labels]
    if "clips" in a.parts:
        clips = run_clips(table, a.k, a.sepconv_clips, a.max_frames)
        scores["clips"] = clips
        ks = list(clips)
        lines += ["", "## Drop-frames protocol, all dev clips (mean over all rebuilt frames): PSNR dB / SSIM", "",
                  "| method | " + " | ".join(f"k = {k} ({next(iter(clips[k]['pooled'].values()))['count']} frames)"
                                          for k in ks) + " |", "|---|" + "---|" * len(ks)]
        lines += [f"| {lab} | " + " | ".join(fmt(clips[k]["pooled"].get(lab)) for k in ks) + " |" for lab in labels]
        for k in ks:
            names = list(clips[k]["clips"])
            lines += ["", f"<details><summary>k = {k}, PSNR dB per clip</summary>", "",
                      "| method | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
            lines += [f"| {lab} | " + " | ".join(f"{clips[k]['clips'][n][lab]:.2f}" if lab in clips[k]["clips"][n]
                                                else "-" for n in names) + " |" for lab in labels]
            lines += ["", "</details>"]
    if a.runs:
        lines += ["", "## Training runs (logs of `frameweave train flowguided`)", "",
                  "| run | recipe (batch 8, crop 128, max_disp 16, static 0.25, Adam) | last step | CPU s/step "
                  "(median) | wall s/step median (range) | validation PSNR dB at step: set value |",
                  "|---|---|---|---|---|---|"] + summarise_runs(a.runs)
    if "diagnostics" in a.parts:
        diag = run_diagnostics()
        lines += ["", "## Headroom on the UCF101 dev triplets (no network; PSNR dB, 8-bit)", "",
                  "| frame | PSNR dB |", "|---|---|"] + [f"| {k} | {v:.2f} |" for k, v in diag.items()]
    if "speed" in a.parts:
        sp = run_speed(weights, a.repeats)
        fw, fg = sp["Flow Warp"], sp["flow-guided"]
        lines += ["", f"## Time per 720p frame (1280x720, multiplier 2, DIS included; median of {a.repeats}, "
                      "alternating, one process, 1 torch + 1 OpenCV thread)", "",
                  "| method | CPU s | wall s |", "|---|---|---|",
                  f"| Flow Warp | {fw['cpu']:.3f} | {fw['wall']:.3f} |",
                  f"| flow-guided `{weights}` | {fg['cpu']:.3f} | {fg['wall']:.3f} |",
                  f"| **ratio** | **{fg['cpu'] / fw['cpu']:.2f}x** | {fg['wall'] / fw['wall']:.2f}x |"]
        scores["speed"] = sp
    text = "\n".join(lines) + "\n"
    print(text)
    write_report(a.out, text)
    if a.update_manifest:
        update_manifest_scores(weights, scores, table)
    return 0


def update_manifest_scores(weights: str, scores: dict, table: dict) -> None:
    """Add this run's scores to the weights' manifest entry (under a lock: parts may run in parallel)."""
    import fcntl
    import tempfile

    with open(Path(tempfile.gettempdir()) / "frameweave-manifest.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _update_manifest_scores(weights, scores, table)


def _update_manifest_scores(weights: str, scores: dict, table: dict) -> None:
    from frameweave.vfi_core.weights import WEIGHTS_DIR, read_manifest, update_manifest

    entry = next((e for e in read_manifest()["weights"] if e["name"] == weights), None)
    if entry is None:
        log(f"{weights} is not in weights/manifest.json; not updated")
        return
    ours = next(lab for lab in table if weights in lab and lab.startswith("**"))
    out = {}
    for name, r in scores.get("triplets", {}).items():
        out[name] = {"psnr": round(r[ours]["psnr"], 3), "ssim": round(r[ours]["ssim"], 4), "triplets": r[ours]["count"],
                     "baseline_flow_psnr": round(r["Flow Warp"]["psnr"], 3),
                     "baseline_linear_psnr": round(r["linear blend"]["psnr"], 3)}
    for k, r in scores.get("clips", {}).items():
        pooled = r["pooled"]
        out[f"dev_clips_k{k}"] = {"psnr": round(pooled[ours]["psnr"], 3), "ssim": round(pooled[ours]["ssim"], 4),
                                  "frames": pooled[ours]["count"],
                                  "baseline_flow_psnr": round(pooled["Flow Warp"]["psnr"], 3)}
    if "speed" in scores:
        sp = scores["speed"]
        out["cpu_time_ratio_720p_vs_flow_warp"] = round(sp["flow-guided"]["cpu"] / sp["Flow Warp"]["cpu"], 2)
    entry["scores"] = {**entry.get("scores", {}), **out}        # partial runs (--parts) add up
    entry["scores_machine"] = machine_description(opencv=True)
    update_manifest(entry, WEIGHTS_DIR)


if __name__ == "__main__":
    sys.exit(main())
