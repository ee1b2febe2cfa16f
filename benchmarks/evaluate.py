"""Score an interpolation method on the dev data: triplets and the drop-frames protocol.

    nice -n 10 python benchmarks/evaluate.py --method linear
    python benchmarks/evaluate.py --method flow --option preset=fast --k 2 --clips --max-frames 60
    python benchmarks/evaluate.py --method neco --option steps=500 --option lr=1e-3 --tag fast

Runs ``vfi_core.methods.get_method(NAME)`` (options passed as keyword arguments; values are read
as JSON where they parse — numbers, true/false, null, lists — and as text otherwise) on
  * triplets: ../shared/data/dev/triplets/<set>/<n>/{f0,f1,gt}.png, the middle frame rebuilt at
    t = 0.5 (sets ucf101_adacof and vimeo90k_sample), and
  * clips: the drop-frames protocol with k = 2 and 4 (``--k``) over the dev GIFs and videos,
    skv_bikes split into its shots (never interpolating across a cut).
Frames are scored as 8-bit images (prediction rounded to 8 bits, as once saved; ``--float`` scores
the raw float output): PSNR on 0-255 RGB, SSIM of Wang et al. 2004 (vfi_core.metrics).
Prints a markdown table and writes it to benchmarks/results/evaluate_<method>[_<tag>].md with the
machine, the exact command and options. The dev data is never copied anywhere.
"""
import argparse
import datetime
import functools
import json
import os
import platform
import sys
import time
from pathlib import Path

from frameweave.vfi_core.machine import write_report

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "dev"
TRIPLET_SETS = ("ucf101_adacof", "vimeo90k_sample")


def parse_option(text: str) -> tuple:
    """'key=value' -> (key, value); value as JSON when it parses (1e-3, 4, true, [1,2]), else text."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"option {text!r} must look like key=value")
    key, raw = text.split("=", 1)
    key = key.strip().replace("-", "_")
    if not key.isidentifier():
        raise argparse.ArgumentTypeError(f"option name {key!r} is not a valid keyword")
    raw = raw.strip()
    lowered = {"true": True, "false": False, "none": None, "null": None}
    if raw.lower() in lowered:
        return key, lowered[raw.lower()]
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw


def check_options(fn, options: dict, ap) -> None:
    """Stop with a clear message when the method does not take one of the options."""
    import inspect

    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    fixed = {"frames", "fractions", "timing", "progress"}
    accepted = [n for n, p in params.items() if n not in fixed and p.kind in
                (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
    unknown = [k for k in options if k not in accepted or k in fixed]
    if unknown:
        ap.error(f"method {fn.__name__} does not take option(s) {unknown}; it takes: {', '.join(accepted) or 'none'}")


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{cores}-core {cpu}, {gpu}, torch {torch.__version__}, Python {platform.python_version()}, "
            f"{platform.system()} {platform.machine()}")


def fmt_table(header, rows) -> list:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_triplets(method, data: Path, quantize: bool) -> tuple:
    from frameweave.vfi_core.evaluation import evaluate_triplets

    summary, detail = [], []
    for name in TRIPLET_SETS:
        root = data / "triplets" / name
        if not root.is_dir():
            log(f"triplets: {root} not found, skipped")
            continue
        res = evaluate_triplets(method, root, quantize=quantize)
        log(f"triplets {name}: {res['count']} triplets, PSNR {res['mean_psnr']:.3f} dB, "
            f"SSIM {res['mean_ssim']:.4f}, {res['seconds']:.1f} s")
        summary.append([name, res["count"], f"{res['mean_psnr']:.2f}", f"{res['mean_ssim']:.4f}",
                        f"{res['seconds']:.1f}"])
        detail += [[f"{name}/{n}", f"{p:.2f}", f"{s:.4f}"] for n, p, s in zip(res["names"], res["psnr"], res["ssim"])]
    return summary, detail


def run_clips(method, data: Path, ks, max_frames, quantize: bool, only) -> list:
    from frameweave.vfi_core.evaluation import dev_clips, evaluate_clip

    clips = [c for c in dev_clips(data) if not only or c.name in only or Path(c.name).stem in only]
    if only and not clips:
        raise SystemExit(f"--clip {only}: none of these is in {data}")
    rows = []
    for k in ks:
        all_p, all_s, seconds, clip_means = [], [], 0.0, []
        for c in clips:
            try:
                res = evaluate_clip(c.path, k, method, ranges=c.ranges, max_frames=max_frames, quantize=quantize)
            except ValueError as exc:
                log(f"k={k} {c.name}: skipped ({exc})")
                rows.append([c.name, k, "-", 0, "-", "-", "-"])
                continue
            all_p += res["psnr"]
            all_s += res["ssim"]
            seconds += res["seconds"]
            clip_means.append(res["mean_psnr"])
            log(f"k={k} {c.name}: {res['count']} frames, PSNR {res['mean_psnr']:.3f} dB, "
                f"SSIM {res['mean_ssim']:.4f}, {res['seconds']:.1f} s")
            rows.append([c.name, k, len(res["shots"]), res["count"], f"{res['mean_psnr']:.2f}",
                         f"{res['mean_ssim']:.4f}", f"{res['seconds']:.1f}"])
        if all_p:
            rows.append(["**all clips, mean over frames**", k, "", len(all_p), f"**{sum(all_p) / len(all_p):.2f}**",
                         f"**{sum(all_s) / len(all_s):.4f}**", f"{seconds:.1f}"])
            rows.append([f"all clips, mean of the {len(clip_means)} clip means", k, "", "",
                         f"{sum(clip_means) / len(clip_means):.2f}", "", ""])
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--method", required=True, help="a name from vfi_core.methods.METHODS")
    ap.add_argument("--k", type=int, nargs="+", default=[2, 4], help="drop-frames strides (default 2 4)")
    ap.add_argument("--triplets", action="store_true", help="run the triplets (default: triplets and clips)")
    ap.add_argument("--clips", action="store_true", help="run the drop-frames protocol on the dev clips")
    ap.add_argument("--clip", nargs="+", default=None, help="only these clips (file name or stem)")
    ap.add_argument("--max-frames", type=int, default=None,
                    help="read at most N frames of each clip (of each shot of a split clip)")
    ap.add_argument("--option", type=parse_option, action="append", default=[], metavar="KEY=VALUE",
                    help="keyword argument for the method (repeatable), e.g. --option preset=fast")
    ap.add_argument("--float", dest="quantize", action="store_false",
                    help="score the raw float output instead of rounding it to 8 bits")
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("FRAMEWEAVE_DEV_DATA", DEFAULT_DATA)),
                    help=f"dev data folder (default {DEFAULT_DATA})")
    ap.add_argument("--tag", default="", help="suffix of the results file: evaluate_<method>_<tag>.md")
    ap.add_argument("--out", type=Path, default=None, help="results file (default benchmarks/results/...)")
    args = ap.parse_args(argv)

    from frameweave.vfi_core.methods import get_method

    if any(k < 2 for k in args.k):
        ap.error(f"--k values must be at least 2, got {args.k}")
    if args.max_frames is not None and args.max_frames < 3:
        ap.error("--max-frames must be at least 3 (two kept frames and one to rebuild)")
    if not args.data.is_dir():
        ap.error(f"dev data folder {args.data} not found (set --data or FRAMEWEAVE_DEV_DATA)")
    try:
        fn = get_method(args.method)
    except ValueError as exc:
        ap.error(str(exc))
    options = dict(args.option)
    check_options(fn, options, ap)
    method = functools.partial(fn, **options) if options else fn
    do_triplets = args.triplets or not args.clips
    do_clips = args.clips or not args.triplets

    started = time.perf_counter()
    lines = [f"# Evaluation: method `{args.method}`", ""]
    lines.append(f"- command: `python benchmarks/evaluate.py {' '.join(sys.argv[1:] if argv is None else argv)}`")
    lines.append(f"- options passed to the method: `{json.dumps(options, sort_keys=True)}`")
    lines.append(f"- machine: {machine()}")
    lines.append(f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    lines.append(f"- scoring: PSNR (dB, 0-255 RGB, capped at 100) and SSIM (Wang et al. 2004, 11x11 Gaussian "
                 f"sigma 1.5) of {'8-bit rounded' if args.quantize else 'raw float'} frames; "
                 "seconds = time spent inside the method")
    if args.max_frames:
        lines.append(f"- clips read up to {args.max_frames} frames each (per shot for skv_bikes)")
    if do_triplets:
        summary, detail = run_triplets(method, args.data, args.quantize)
        lines += ["", "## Triplets (middle frame rebuilt at t = 0.5)", ""]
        lines += fmt_table(["set", "triplets", "PSNR dB", "SSIM", "seconds"], summary)
        lines += ["", "<details><summary>per triplet</summary>", ""]
        lines += fmt_table(["triplet", "PSNR dB", "SSIM"], detail)
        lines += ["", "</details>"]
    if do_clips:
        rows = run_clips(method, args.data, args.k, args.max_frames, args.quantize, args.clip)
        lines += ["", "## Drop-frames protocol (keep frames 0, k, 2k, ...; rebuild the rest)", ""]
        lines += fmt_table(["clip", "k", "shots", "frames scored", "PSNR dB", "SSIM", "seconds"], rows)
    lines += ["", f"Total wall time {time.perf_counter() - started:.0f} s."]
    text = "\n".join(lines) + "\n"
    print(text)
    name = f"evaluate_{args.method}" + (f"_{args.tag}" if args.tag else "") + ".md"
    out = args.out or HERE / "results" / name.replace("/", "_")
    write_report(out, text)
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
