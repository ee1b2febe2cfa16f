"""``python -m frameweave train ...``: train SepConv, export and convert its weights.

    frameweave train sepconv --data synthetic|PATH[,PATH] --steps N --out RUN_DIR [--resume]
                             [--loss l1|l2] [--width W] [--kernel-size K] [--dilation D]
                             [--batch B] [--lr LR] [--crop C] [--val TRIPLET_DIR[,DIR]] [--seed S]
                             [--workers N] [--channels-last] [--adam fused] [--compile] [--lr-schedule cosine]
    frameweave train export RUN_DIR OUT.safetensors [--fp16]
    frameweave train export RUN_DIR NAME --register [--fp16] [--default]   (into weights/ + manifest)
    frameweave train convert-sepconv IN.pytorch OUT.safetensors [--fp16]
    frameweave train sepconv-gan ...   (adversarial training, vfi_core/gan_train.py)
    frameweave train flowguided --steps N --out RUN_DIR [--resume] [--kernel-size K] ...
                                       (flow-guided interpolator, vfi_core/flowguided_train.py)

Training writes checkpoints into RUN_DIR; ``--resume`` continues from the newest one exactly (data
included, for the run's worker count; ``--workers`` with another count changes the data sequence).
"""
import argparse
import importlib
import json
import sys


def _list(text) -> list:
    return [p.strip() for p in str(text).split(",") if p.strip()]


def add_run_arguments(p: argparse.ArgumentParser, steps: int) -> None:
    """The options every trainer shares: data, length, run directory, resume."""
    p.add_argument("--data", default="synthetic",
                   help="'synthetic' and/or comma-separated videos / frame folders (default synthetic)")
    p.add_argument("--steps", type=int, default=steps, help="train until this step count")
    p.add_argument("--out", required=True, help="run directory (checkpoints, log.jsonl)")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")


def sepconv_parser() -> argparse.ArgumentParser:
    from .sepconv_train import TrainConfig

    d = TrainConfig()
    p = argparse.ArgumentParser(prog="frameweave train sepconv",
                                description="Train SepConvNet (adaptive separable convolution) on triplets.")
    add_run_arguments(p, d.steps)
    p.add_argument("--loss", choices=("l1", "l2"), default=d.loss)
    p.add_argument("--width", type=float, default=d.width, help="channel multiplier (1 = paper's 32..512)")
    p.add_argument("--kernel-size", type=int, default=d.kernel_size, help="1-D kernel length K (odd)")
    p.add_argument("--dilation", type=int, default=d.dilation, help="composite dilation of the outer taps")
    p.add_argument("--batch", type=int, default=d.batch)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--crop", type=int, default=d.crop, help="training crop side (multiple of 32)")
    p.add_argument("--max-shift", type=int, default=d.max_shift, help="extra random I0/I1 offset (px)")
    p.add_argument("--static-fraction", type=float, default=d.static_fraction,
                   help="synthetic data: probability of a still layer / a still camera (default %(default)s)")
    p.add_argument("--init", default="", help="generator start: weights name/file, run dir or ckpt-*.json "
                                              "(default: a new network that starts as the linear blend)")
    p.add_argument("--val", default="", help="comma-separated folders of f0/gt/f1 triplets for validation PSNR")
    p.add_argument("--val-limit", type=int, default=d.val_limit, help="triplets used per validation folder")
    p.add_argument("--val-every", type=int, default=d.val_every)
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    p.add_argument("--log-every", type=int, default=d.log_every)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device, help="auto | cpu | cuda[:i]")
    p.add_argument("--no-amp", action="store_true", help="no bfloat16 autocast on CUDA")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    p.add_argument("--lr-schedule", choices=("constant", "cosine"), default=d.lr_schedule,
                   help="cosine: from --lr to 0 at --steps")
    add_speed_arguments(p)
    return p


def add_speed_arguments(p: argparse.ArgumentParser) -> None:
    """Options that make a run faster without changing what it computes (a resumed run takes them
    from its new command line)."""
    g = p.add_argument_group("speed")
    g.add_argument("--workers", type=int, default=None,
                   help="data processes (0 = in this process; default: cores - 1 for a new run, the run's own "
                        "count on --resume). The same count continues the same data sequence.")
    g.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="channels-last memory layout (default: on CUDA only)")
    g.add_argument("--adam", choices=("auto", "fused", "foreach", "single"), default="auto",
                   help="Adam implementation (auto: fused on CUDA, single-tensor on the CPU)")
    g.add_argument("--compile", nargs="?", const="inductor", default="", metavar="BACKEND",
                   help="torch.compile the training forward pass (default backend inductor; off unless given)")
    g.add_argument("--checkpoint-minutes", type=float, default=0.0,
                   help="also checkpoint every this many minutes (0 = by --checkpoint-every only)")


def speed_options(a) -> dict:
    """TrainConfig fields of the options :func:`add_speed_arguments` adds."""
    return {"workers": a.workers, "channels_last": a.channels_last, "adam": a.adam, "compile": a.compile,
            "checkpoint_seconds": 60.0 * a.checkpoint_minutes}


def cmd_sepconv(argv) -> int:
    import torch

    from .sepconv_train import TrainConfig, train

    a = sepconv_parser().parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    config = TrainConfig(data=_list(a.data), steps=a.steps, loss=a.loss, kernel_size=a.kernel_size,
                         width=a.width, dilation=a.dilation, batch=a.batch, lr=a.lr, crop=a.crop,
                         max_shift=a.max_shift, seed=a.seed, val=_list(a.val), val_limit=a.val_limit,
                         val_every=a.val_every, checkpoint_every=a.checkpoint_every, log_every=a.log_every,
                         amp=not a.no_amp, device=a.device, static_fraction=a.static_fraction, init=a.init,
                         lr_schedule=a.lr_schedule, **speed_options(a))
    train(config, a.out, resume=a.resume, log=lambda s: print(s, flush=True))
    return 0


def cmd_export(argv) -> int:
    from .weights import export_checkpoint

    p = argparse.ArgumentParser(prog="frameweave train export",
                                description="Write the generator of a run's newest (or given) checkpoint as weights.")
    p.add_argument("run", help="run directory or ckpt-*.json")
    p.add_argument("out", help="output .safetensors")
    p.add_argument("--fp16", action="store_true", help="store float16 (half the size)")
    p.add_argument("--register", action="store_true",
                   help="OUT is a name: write weights/OUT.safetensors and its weights/manifest.json entry")
    p.add_argument("--default", action="store_true", help="with --register: mark as the default SepConv weights")
    p.add_argument("--notes", default="", help="with --register: free text for the manifest")
    p.add_argument("--method", default="sepconv", choices=("sepconv", "sepconv-gan"),
                   help="with --register: which method these weights serve")
    a = p.parse_args(argv)
    if a.register:
        from .weights import register_checkpoint
        entry = register_checkpoint(a.run, a.out, fp16=a.fp16, method=a.method, default=a.default, notes=a.notes)
        print(json.dumps(entry, indent=1))
        return 0
    paths = export_checkpoint(a.run, a.out, fp16=a.fp16)
    print("\n".join(str(x) for x in paths))
    return 0


def cmd_convert(argv) -> int:
    from .weights import convert_original_file

    p = argparse.ArgumentParser(prog="frameweave train convert-sepconv",
                                description="Convert the authors' published SepConv checkpoint "
                                            "(sniklaus/pytorch-sepconv network-*.pytorch) to FrameWeave safetensors.")
    p.add_argument("input")
    p.add_argument("out")
    p.add_argument("--fp16", action="store_true")
    a = p.parse_args(argv)
    paths = convert_original_file(a.input, a.out, fp16=a.fp16)
    print("\n".join(str(x) for x in paths))
    return 0


COMMANDS = {"sepconv": cmd_sepconv, "export": cmd_export, "convert-sepconv": cmd_convert}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name == "sepconv-gan":
        try:
            module = importlib.import_module(".gan_train", __package__)
        except ImportError:
            print("adversarial SepConv training is not installed (vfi_core/gan_train.py)", file=sys.stderr)
            return 2
        return int(module.cli_main(rest) or 0)
    if name == "flowguided":
        module = importlib.import_module(".flowguided_train", __package__)
        try:
            return int(module.cli_main(rest) or 0)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if name not in COMMANDS:
        print(f"unknown train command {name!r}; choose one of: "
              f"{', '.join(list(COMMANDS) + ['sepconv-gan', 'flowguided'])}",
              file=sys.stderr)
        return 2
    try:
        return COMMANDS[name](rest)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
