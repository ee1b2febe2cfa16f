"""The stages of ``benchmarks/gpu_run.py``: each takes the run's context and its time budget (s) and
returns a :class:`StageResult`. Stages never run past their budget: subprocesses are stopped at
it, fits get it as their time budget, training stops at it with a checkpoint.

On ``--dry-run`` every stage does the same work at toy sizes on the CPU (a code check that CI
runs, not a measurement)."""
import functools
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
# path, first frame, count, (h, w), centre crop to the aspect first (NeCo: resized as benchmarks/neco.py does)
NECO_CLIP = ("videos/skv_carphone_pristine.mp4", 0, 95, (256, 256), False)
SIREN_CLIP = ("videos/skv_bikes.mp4", 30, 40, (240, 360), True)              # its second shot: frames 30-75
TRIPLET_SETS = ("triplets/ucf101_adacof", "triplets/vimeo90k_sample")
TOY_CLIP = ROOT / "examples" / "pan_zoom.gif"
NECO_TARGET_S, SIREN_TARGET_S, TARGET_DB = 60.0, 180.0, 30.0


@dataclass
class StageResult:
    status: str                          # ok | stopped: ... | failed: ... | skipped: ...
    summary: str = ""                    # one line for the summary table
    lines: list = field(default_factory=list)    # markdown for summary.md
    data: dict = field(default_factory=dict)     # numbers for result.json


def table(header, rows) -> list:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return out + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]


# --- subprocesses --------------------------------------------------------------------------------

def run_command(ctx, argv, budget: float) -> tuple:
    """Run ``argv`` from the repository root, its output streamed into the run's log, stopped
    (its whole process group) at ``budget`` seconds. Returns (exit status or None when stopped,
    output text)."""
    ctx.log(f"$ {' '.join(str(a) for a in argv)}   (budget {budget:.0f} s)")
    proc = subprocess.Popen([str(a) for a in argv], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace", start_new_session=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    lines = []

    def pump():
        for line in proc.stdout:
            lines.append(line)
            ctx.log(line.rstrip("\n"), echo=True)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        rc = proc.wait(timeout=max(1.0, budget))
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        rc = None
    reader.join(timeout=10)
    return rc, "".join(lines)


def _tail_line(text: str) -> str:
    rows = [line.strip() for line in text.splitlines() if line.strip()]
    return rows[-1] if rows else ""


def stage_cuda_tests(ctx, budget: float) -> StageResult:
    """``pytest -m cuda``: the CUDA kernels and paths against their references (skipped on a CPU)."""
    argv = [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning"]
    if ctx.dry_run:
        argv.append("tests/test_kernels_separable_local_conv.py")      # the path, not the whole collection
    rc, out = run_command(ctx, argv, budget)
    last = _tail_line(out)
    if rc is None:
        return StageResult("stopped: out of time", f"stopped after {budget:.0f} s; last: {last}", ["```", last, "```"])
    status = "ok" if rc == 0 else f"failed: pytest exit {rc}"
    return StageResult(status, last, [f"`{' '.join(argv[1:])}`: {last}"], {"exit": rc, "last_line": last})


def stage_kernels(ctx, budget: float) -> StageResult:
    """``benchmarks/kernels.py`` GPU rows (``--no-cpu``), its table kept for summary.md. Run from a
    copy in the work folder, so that its results file lands there, not in benchmarks/results/."""
    folder = ctx.work / "kernels_bench"
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "kernels.py"
    shutil.copyfile(ROOT / "benchmarks" / "kernels.py", script)
    sizes, repeats = ("256", 1) if ctx.dry_run else (ctx.args.kernel_sizes, ctx.args.kernel_repeats)
    rc, out = run_command(ctx, [sys.executable, script, "--no-cpu", "--repeats", repeats, "--sizes", sizes], budget)
    report = folder / "results" / "kernels.md"
    lines = report.read_text().splitlines() if report.exists() else []
    rows = [line for line in lines if line.startswith("| ") and "CUDA" in line]
    if rc is None:
        return StageResult("stopped: out of time", f"stopped after {budget:.0f} s ({len(rows)} CUDA rows)",
                           ["Stopped at its budget; rows printed so far are in log.txt."])
    status = "ok" if rc == 0 else f"failed: exit {rc}"
    first = next((r for r in rows if "1920x1080" in r and "fwd |" in r), rows[0] if rows else "no CUDA rows")
    return StageResult(status, f"{len(rows)} CUDA rows; e.g. {first}", lines, {"exit": rc, "cuda_rows": rows})


def stage_step_switches(ctx, budget: float) -> StageResult:
    """``benchmarks/train_speed.py --parts gpu``: steps/s of the training step with each switch
    (torch.compile last, only if time is left)."""
    report = ctx.work / "train_speed_gpu.md"
    argv = [sys.executable, ROOT / "benchmarks" / "train_speed.py", "--parts", "gpu", "--out", report,
            "--compile-budget", f"{max(0.0, budget * 0.4):.0f}"]
    if ctx.dry_run:
        argv += ["--toy", "--gpu-warmup", "1", "--gpu-steps", "1"]
    if ctx.args.init:
        argv += ["--init", ctx.args.init]
    rc, out = run_command(ctx, argv, budget)
    lines = report.read_text().splitlines() if report.exists() else []
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| variant")]
    if rc is None:
        return StageResult("stopped: out of time", f"stopped after {budget:.0f} s", ["Stopped at its budget; see log.txt."])
    status = "ok" if rc == 0 else f"failed: exit {rc}"
    return StageResult(status, "; ".join(r.split("|")[1].strip() + " " + r.split("|")[3].strip() + " samples/s"
                                         for r in rows[:4]), lines, {"exit": rc, "rows": rows})


# --- clips ---------------------------------------------------------------------------------------

def read_clip(path: Path, first: int, count: int):
    """Frames first .. first+count-1 of a video as float32 [T,H,W,3] 0..1 and their FrameTiming.
    PyAV (``frames_io``) where installed; else OpenCV's own FFmpeg (the GPU machine's image has
    OpenCV but not PyAV)."""
    from frameweave.vfi_core.timing import FrameTiming

    if importlib.util.find_spec("av") is not None:
        from frameweave.vfi_core.frames_io import read_frames
        clip = read_frames(path, start=first, max_frames=count)
        return clip.frames, clip.timing
    import cv2

    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    frames = []
    try:
        while len(frames) < first + count:
            ok, bgr = cap.read()
            if not ok:
                break
            frames.append(bgr[..., ::-1].copy())
    finally:
        cap.release()
    frames = frames[first:first + count]
    if len(frames) < count:
        raise ValueError(f"{path}: {len(frames)} frames from {first}, expected {count}")
    return torch.from_numpy(np.stack(frames)).float().div_(255.0), FrameTiming.from_fps(count, fps)


def resize_clip(frames: torch.Tensor, size, crop: bool = True) -> torch.Tensor:
    """[T,H,W,3] -> [T,h,w,3]: centre crop to the aspect of ``size`` (h, w) when ``crop``, then
    bilinear resize (antialiased when shrinking)."""
    t, h, w, _ = frames.shape
    th, tw = size
    if not crop:
        pass
    elif w * th > h * tw:                                # too wide: crop the width
        cw = int(round(h * tw / th))
        frames = frames[:, :, (w - cw) // 2:(w - cw) // 2 + cw]
    else:
        ch = int(round(w * th / tw))
        frames = frames[:, (h - ch) // 2:(h - ch) // 2 + ch]
    out = torch.nn.functional.interpolate(frames.permute(0, 3, 1, 2), size=(th, tw), mode="bilinear",
                                          antialias=True, align_corners=False)
    return out.clamp(0, 1).permute(0, 2, 3, 1).contiguous()


def clip_for(ctx, spec, toy_count: int, toy_size):
    """The stage's clip: the prepared dev video (GPU run), or the bundled GIF at toy size (dry run)."""
    rel, first, count, size, crop = spec
    if ctx.dry_run:
        from frameweave.vfi_core.frames_io import read_frames
        clip = read_frames(TOY_CLIP, max_frames=toy_count)
        return resize_clip(clip.frames, toy_size, crop), clip.timing, f"{TOY_CLIP.name} frames 0-{toy_count - 1}"
    frames, timing = read_clip(ctx.data / rel, first, count)
    return resize_clip(frames, size, crop), timing, f"{Path(rel).name} frames {first}-{first + count - 1}"


def _time_to(history, target: float):
    return next(((step, sec, p) for step, sec, p in history if p >= target), None)


def _fit_summary(res, target_s: float, budget: float) -> tuple:
    hit = _time_to(res.history, TARGET_DB)
    if hit:
        verdict = "under" if hit[1] < target_s else "over"
        line = f"30 dB at {hit[1]:.1f} s (step {hit[0]}; target < {target_s:.0f} s: {verdict})"
    else:
        line = f"30 dB not reached in {res.seconds:.0f} s (best {res.best_psnr:.2f} dB)"
        if budget < target_s:
            line += f"; its budget {budget:.0f} s was under the {target_s:.0f} s target"
    return hit, line


def stage_neco(ctx, budget: float) -> StageResult:
    """NeCo GPU target: 95 frames 256x256 to 30 dB train PSNR (H200, 2026-12-04: 5.3 s)."""
    from frameweave.vfi_core.neco import fit_neco

    frames, timing, what = clip_for(ctx, NECO_CLIP, 4, (32, 32))
    device = ctx.device
    batch = 1024 if ctx.dry_run else ctx.args.neco_batch
    started = time.perf_counter()
    fit_neco(frames[:2], timing.subset([0, 1]), steps=5, device=device, batch_size=batch)   # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    fit_budget = max(1.0, min(NECO_TARGET_S, budget - (time.perf_counter() - started) - 2))
    if ctx.dry_run:
        fit_budget = min(fit_budget, 3.0)
    res = fit_neco(frames, timing, time_budget_s=fit_budget, target_psnr=TARGET_DB, plateau_patience=0,
                   device=device, batch_size=batch)
    hit, line = _fit_summary(res, NECO_TARGET_S, fit_budget)
    lines = [f"{what}, {frames.shape[0]} frames {frames.shape[2]}x{frames.shape[1]}; default NeCo, batch {batch}, "
             f"on {ctx.device_name}; after a 5-step warm-up fit.", ""]
    lines += table(["time to 30 dB", "steps to 30 dB", "best train PSNR", "steps run", "seconds run", "stopped"],
                   [[f"**{hit[1]:.1f} s**" if hit else "not reached", hit[0] if hit else "–",
                     f"{res.best_psnr:.2f} dB", res.steps, f"{res.seconds:.1f}", res.stopped_because]])
    data = {"time_to_30db_s": hit[1] if hit else None, "steps_to_30db": hit[0] if hit else None,
            "best_psnr": res.best_psnr, "steps": res.steps, "seconds": res.seconds, "clip": what}
    return StageResult("ok", line, lines, data)


def stage_siren_of(ctx, budget: float) -> StageResult:
    """SIREN-OF GPU target: 40 frames 240x360 to 30 dB train PSNR in under 3 minutes (never run
    on a GPU before). The node's defaults (paper width 720, depth 6, λ 0.99) with DIS flow."""
    from frameweave.vfi_core.siren import LAMBDA_OBS, fit_siren_of

    frames, timing, what = clip_for(ctx, SIREN_CLIP, 4, (32, 48))
    config = {"width": 32, "depth": 3} if ctx.dry_run else {}
    batch = 1024 if ctx.dry_run else ctx.args.siren_batch
    started = time.perf_counter()
    fit_budget = max(1.0, min(SIREN_TARGET_S, budget - 15))              # flow estimation comes first
    if ctx.dry_run:
        fit_budget = min(fit_budget, 3.0)
    res = fit_siren_of(frames, None, timing, lambda_obs=LAMBDA_OBS, config=config, time_budget_s=fit_budget,
                       target_psnr=TARGET_DB, device=ctx.device, batch_size=batch, eval_every=50)
    total = time.perf_counter() - started
    hit, line = _fit_summary(res, SIREN_TARGET_S, fit_budget)
    lines = [f"{what}, {frames.shape[0]} frames {frames.shape[2]}x{frames.shape[1]} (centre crop 3:2, resized); "
             f"SIREN-OF node defaults (λ {LAMBDA_OBS}, width {res.model.config['width']}, depth "
             f"{res.model.config['depth']}), batch {batch}, DIS medium flow both ways (in the total, not in the fit "
             f"time), on {ctx.device_name}.", ""]
    lines += table(["time to 30 dB (fit)", "steps to 30 dB", "best train PSNR", "steps run", "fit s", "total s", "stopped"],
                   [[f"**{hit[1]:.1f} s**" if hit else "not reached", hit[0] if hit else "–", f"{res.best_psnr:.2f} dB",
                     res.steps, f"{res.seconds:.1f}", f"{total:.1f}", res.stopped_because]])
    data = {"time_to_30db_s": hit[1] if hit else None, "best_psnr": res.best_psnr, "steps": res.steps,
            "fit_seconds": res.seconds, "total_seconds": total, "clip": what}
    return StageResult("ok", line, lines, data)


# --- SepConv: training and its evaluation --------------------------------------------------------

def export_name(start: str) -> str:
    """Name of the weights trained from ``start`` (a registry name or a file): its stem + "_cont"."""
    stem = re.sub(r"(-\d{5}-of-\d{5})?\.safetensors$", "", Path(str(start)).name)
    return f"{stem}_cont"


def export_weights(ctx, model, name: str, metadata: dict) -> list:
    """fp16 weights (16 MiB shards) into the work folder, then moved into the output folder (a
    stop in the middle leaves no .part file there). Returns the output file names."""
    from frameweave.vfi_core.weights import save_weights

    staging = ctx.work / "export"
    shutil.rmtree(staging, ignore_errors=True)
    paths = save_weights(model, staging / f"{name}.safetensors", fp16=True, extra_metadata=metadata)
    if len(paths) > ctx.weight_file_limit:
        raise ValueError(f"{name}: {len(paths)} weight shards, more than the {ctx.weight_file_limit} files left")
    for old in ctx.out.glob(f"{name}*.safetensors"):
        if old.name not in {p.name for p in paths}:
            old.unlink()
    for p in paths:
        os.replace(p, ctx.out / p.name)
    return [p.name for p in paths]


def train_config(ctx, start: str):
    from frameweave.vfi_core.sepconv_train import TrainConfig

    a = ctx.args
    if ctx.dry_run:
        return TrainConfig(init=start, crop=32, batch=2, steps=3, lr=a.train_lr, workers=1, device="cpu",
                           log_every=1, val_every=10 ** 9, checkpoint_every=10 ** 9, lr_schedule="cosine", seed=a.seed)
    return TrainConfig(init=start, crop=a.train_crop, batch=a.train_batch, steps=10 ** 9, lr=a.train_lr,
                       workers=a.workers, log_every=50, val_every=10 ** 9, checkpoint_every=10 ** 9,
                       lr_schedule="cosine", seed=a.seed)


def stage_train(ctx, budget: float) -> StageResult:
    """SepConv training continued from the default weights (``--init``), L1 on synthetic triplets,
    cosine lr over the steps the budget buys (from the speed of the first steps), a checkpoint and
    an fp16 export into the output folder every ``--save-every`` seconds; resumes from the work
    folder's run when there is one (same start weights)."""
    from frameweave.vfi_core import sepconv_train as T
    from frameweave.vfi_core.sepconv_infer import default_weights_name

    deadline = T.clock() + budget - 10                            # export and validation after the last step
    start = ctx.args.init or default_weights_name("sepconv")
    run_dir = ctx.work / "train" / export_name(start)
    records = []

    def log(text):
        ctx.log(text, echo=True)
        records.append(json.loads(text))

    ckpt = T.latest_checkpoint(run_dir)
    if ckpt is not None:                                          # a call before: finish its planned steps
        config = train_config(ctx, start)
        config.steps = int(json.loads(ckpt.read_text())["config"]["steps"])
        trainer = T.open_run(run_dir, config, True, T.SepConvTrainer, log)
    else:
        trainer = T.open_run(run_dir, train_config(ctx, start), False, T.SepConvTrainer, log)
        probe = 1 if ctx.dry_run else 2 * trainer.config.log_every
        trainer.run(probe, run_dir=None, log=log, deadline=deadline)  # the second log window: warm speed
        timed = [r for r in records if "sec_per_step" in r]
        if not ctx.dry_run and timed:
            steps_per_s = 1.0 / max(1e-9, timed[-1]["sec_per_step"])
            trainer.config.steps = int(probe + steps_per_s * max(0.0, deadline - T.clock()))
    cfg = trainer.config
    ctx.log(f"train: {start} -> {export_name(start)}, steps until {cfg.steps}, batch {cfg.batch}, crop {cfg.crop}, "
            f"workers {cfg.workers}, lr {cfg.lr:g} {cfg.lr_schedule}, device {trainer.device}", echo=True)
    files, stopped, first_step, t0 = [], "steps", trainer.step, time.perf_counter()
    while trainer.step < cfg.steps:
        stopped = trainer.run(cfg.steps, run_dir, log=log, deadline=min(deadline, T.clock() + ctx.args.save_every))
        files = export_weights(ctx, trainer.model, export_name(start),
                               {"init": start, "steps_from_init": trainer.step, "device": ctx.device_name,
                                "recipe": json.dumps({k: getattr(cfg, k) for k in ("batch", "crop", "lr", "lr_schedule",
                                                                                    "loss", "static_fraction", "seed")})})
        if T.clock() >= deadline:
            break
    seconds = time.perf_counter() - t0
    timed = [r for r in records if "samples_per_s" in r]
    val = next((r["val_psnr"] for r in reversed(records) if "val_psnr" in r), {})
    done = trainer.step >= cfg.steps
    status = "ok" if done else "stopped: out of time (checkpoint and weights saved)"
    rate = float(np.median([r["samples_per_s"] for r in timed[1:] or timed])) if timed else 0.0
    ctx.trained = {"model": trainer.model.eval(), "start": start, "name": export_name(start), "files": files}
    summary = (f"{start}: {trainer.step - first_step} steps this call (step {trainer.step} of {cfg.steps}), "
               f"{rate:.0f} samples/s, synthetic val {val.get('synthetic', float('nan')):.2f} dB -> {', '.join(files)}")
    lines = [f"Start: `{start}` (the default SepConv weights); L1, Adam ({cfg.adam}), lr {cfg.lr:g} {cfg.lr_schedule} "
             f"to step {cfg.steps}, batch {cfg.batch}, {cfg.crop}x{cfg.crop} synthetic triplets (static fraction "
             f"{cfg.static_fraction:g}) from {cfg.workers} worker processes, on {ctx.device_name}.", ""]
    lines += table(["steps this call", "step reached", "seconds", "samples/s (median of log windows)",
                    "data wait fraction", "synthetic val PSNR", "weights written"],
                   [[trainer.step - first_step, trainer.step, f"{seconds:.0f}", f"{rate:.0f}",
                     f"{np.mean([r['data_wait_frac'] for r in timed]):.3f}" if timed else "–",
                     f"{val.get('synthetic', float('nan')):.2f} dB", ", ".join(files)]])
    data = {"start": start, "steps_this_call": trainer.step - first_step, "step": trainer.step, "steps_planned": cfg.steps,
            "samples_per_s": rate, "val_psnr": val, "files": files, "stopped": stopped, "log": timed}
    return StageResult(status, summary, lines, data)


def _triplet_sets(ctx) -> dict:
    """name -> triplets (``evaluation.load_triplets``): the prepared dev sets, or toy synthetic ones."""
    from frameweave.vfi_core.evaluation import load_triplets

    if not ctx.dry_run:
        return {Path(rel).name: load_triplets(ctx.data / rel) for rel in TRIPLET_SETS if (ctx.data / rel).is_dir()}
    from frameweave.vfi_core.triplet_data import synthetic_validation_set

    toy = []
    for name, f0, gt, f1 in synthetic_validation_set(count=2, size=(64, 64), reach=4):
        toy.append((name, *(torch.from_numpy(x)[None] for x in (f0, f1, gt))))
    return {"toy-synthetic": toy}


def stage_evaluate(ctx, budget: float) -> StageResult:
    """PSNR / SSIM (8-bit, ``evaluation.evaluate_triplets``) of the start and the trained weights
    and the linear blend on the dev triplets (UCF101, Vimeo sample)."""
    from frameweave.vfi_core.methods import get_method
    from frameweave.vfi_core.sepconv_infer import default_weights_name, sepconv_interpolate_clip
    from frameweave.vfi_core.evaluation import evaluate_triplets
    from frameweave.vfi_core.weights import load_weights

    sets = _triplet_sets(ctx)
    if not sets:
        return StageResult("skipped: no dev triplets (run --prepare before the GPU run)", "no data")
    start = ctx.trained["start"] if ctx.trained else (ctx.args.init or default_weights_name("sepconv"))
    methods = {"linear blend": get_method("linear")}
    methods[f"{start} (start)"] = functools.partial(sepconv_interpolate_clip,
                                                    model=load_weights(start, device=ctx.device))
    if ctx.trained:
        methods[f"{ctx.trained['name']} (trained)"] = functools.partial(sepconv_interpolate_clip,
                                                                        model=ctx.trained["model"])
    deadline = time.perf_counter() + budget
    rows, data = [], {}
    for set_name, triplets in sets.items():
        for method, fn in methods.items():
            if time.perf_counter() > deadline:
                return StageResult("stopped: out of time", f"{len(rows)} rows", table(
                    ["triplets", "method", "PSNR dB", "SSIM", "seconds"], rows), data)
            with torch.no_grad():
                res = evaluate_triplets(fn, None, triplets=triplets)
            rows.append([f"{set_name} ({res['count']})", method, f"{res['mean_psnr']:.2f}", f"{res['mean_ssim']:.4f}",
                         f"{res['seconds']:.1f}"])
            data.setdefault(set_name, {})[method] = {"psnr": res["mean_psnr"], "ssim": res["mean_ssim"]}
    first = next(iter(data.values()))
    summary = "; ".join(f"{m}: {v['psnr']:.2f} dB" for m, v in first.items()) + f" ({next(iter(data))})"
    lines = [f"Middle frames scored against gt (8-bit PSNR / SSIM, `vfi_core.evaluation`), float32 on {ctx.device_name}.", ""]
    return StageResult("ok", summary, lines + table(["triplets", "method", "PSNR dB", "SSIM", "seconds"], rows), data)


STAGES = (  # name, share of the run's time (weight), function; in the order that matters. With --minutes 9
    # the shares come to about: tests 65 s, kernels 50, train 130, evaluate 15, NeCo 25, SIREN-OF 150
    # (+ what the stages before it leave: the H200 ran the tests in ~40 s and NeCo in 14), switches 45.
    ("cuda-tests", 1.5, stage_cuda_tests),
    ("kernels", 1.2, stage_kernels),
    ("train", 3.0, stage_train),
    ("evaluate", 0.4, stage_evaluate),
    ("neco", 0.6, stage_neco),
    ("siren-of", 3.5, stage_siren_of),
    ("step-switches", 1.0, stage_step_switches),
)
