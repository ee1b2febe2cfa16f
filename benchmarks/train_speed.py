"""Training speed: data workers, and the step's speed switches on a GPU.

    nice -n 10 python benchmarks/train_speed.py                         # parts data, ab and train (CPU)
    python benchmarks/train_speed.py --parts gpu --out $OUT/train_speed_gpu.md   # on a GPU

Parts (each a fixed amount of work, so rows compare whatever the machine's load):
  data   samples/s of the training data stream (synthetic triplets, --crop, batch --batch) with
         0 (in this process), 1 and 2 worker processes (``--workers``), --batches batches after one
         warm-up batch per worker; per-worker rate; CPU seconds of the main process.
  ab     one trainer whose batches come from 0, 1 and 2 workers in turn, in short blocks over
         several cycles (--ab-cycles x --ab-steps): the fairest comparison on a machine whose load
         changes while measuring.
  train  ``python -m frameweave train sepconv`` itself (``train_cli.main``), --steps steps on
         synthetic data for each worker count, the counts taken in turn (--rounds times) so that a
         change of load hits all alike; samples/s from the run's own log (first log window, the
         warm-up, left out) and the ratio to --workers 0. Models: ``--train-models``
         (width:kernel_size).
  gpu    (CUDA) the step's switches on the default SepConv weights: float32, bf16 autocast,
         + channels-last, + fused Adam, + torch.compile (last, only while --compile-budget lasts);
         --gpu-steps timed steps after --gpu-warmup on one fixed batch (data excluded). ``--toy``
         runs the same code on the CPU at toy sizes (gpu_run.py --dry-run).

Prints markdown and writes benchmarks/results/train_speed.md (or --out) with the machine.
"""
import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from frameweave.vfi_core.machine import machine_description, write_report

HERE = Path(__file__).resolve().parent


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def table(header, rows) -> list:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return out + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]


def load_average() -> str:
    return f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "?"


# --- data ----------------------------------------------------------------------------------------

def data_rate(workers: int, crop: int, batch: int, batches: int, reach: int = 25) -> dict:
    """samples/s of a TripletStream of synthetic triplets after one warm-up batch per worker."""
    from frameweave.vfi_core.triplet_data import SyntheticSource, TripletStream

    source = SyntheticSource((crop, crop), reach=reach, max_shift=2, static_fraction=0.25)
    stream = TripletStream(source, batch, seed=0, workers=workers)
    try:
        for _ in range(max(1, workers)):
            stream.next_batch()                                   # worker start, first batches
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(batches):
            stream.next_batch()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        stream.close()
    return {"workers": workers, "samples_per_s": batches * batch / wall, "wall_s": wall, "main_cpu_s": cpu,
            "load": load_average()}


def run_data(args) -> list:
    rows = []
    for workers in args.workers:
        r = data_rate(workers, args.crop, args.batch, args.batches)
        log(f"data: {r}")
        rows.append(r)
    base = rows[0]["samples_per_s"] if rows and rows[0]["workers"] == 0 else None
    lines = [f"## Data stream: synthetic {args.crop}x{args.crop} triplets, batch {args.batch}", "",
             f"{args.batches} batches timed after one warm-up batch per worker (SyntheticSource, static fraction "
             "0.25, reach 25). Main-process CPU seconds show what is left to the training step.", ""]
    lines += table(["workers", "samples/s", "per worker (samples/s)", "ms per sample", "ratio to 0 workers",
                    "main-process CPU s", "wall s", "load average"],
                   [[r["workers"], f"{r['samples_per_s']:.1f}",
                     f"{r['samples_per_s'] / r['workers']:.1f}" if r["workers"] else "–",
                     f"{1000 / r['samples_per_s']:.1f}",
                     f"{r['samples_per_s'] / base:.2f}" if base else "–",
                     f"{r['main_cpu_s']:.1f}", f"{r['wall_s']:.1f}", r["load"]] for r in rows])
    return lines


# --- train ---------------------------------------------------------------------------------------

def cli_rate(workers: int, width: float, kernel_size: int, args) -> dict:
    """samples/s of ``train sepconv`` from its log.jsonl (the first log window is the warm-up)."""
    from frameweave.vfi_core.train_cli import main as train_main

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        argv = ["sepconv", "--data", "synthetic", "--out", str(run), "--steps", str(args.steps),
                "--width", str(width), "--kernel-size", str(kernel_size), "--crop", str(args.crop),
                "--batch", str(args.batch), "--log-every", str(args.log_every), "--val-every", str(10 ** 9),
                "--checkpoint-every", str(10 ** 9), "--device", "cpu", "--threads", str(args.threads),
                "--workers", str(workers)]
        cpu = time.process_time()
        if train_main(argv) != 0:
            raise RuntimeError(f"train sepconv failed: {argv}")
        cpu = time.process_time() - cpu
        records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    timed = [r for r in records if "samples_per_s" in r][1:]
    seconds = sum(r["sec_per_step"] * args.log_every for r in timed)
    steps = args.log_every * len(timed)
    return {"workers": workers, "samples_per_s": args.batch * steps / seconds, "steps": steps,
            "data_wait_frac": sum(r["data_wait_frac"] for r in timed) / len(timed), "main_cpu_s": cpu,
            "load": load_average()}


def run_train(args) -> list:
    lines = [f"## `train sepconv`: samples/s by data workers ({args.crop}x{args.crop}, batch {args.batch}, CPU)", "",
             f"`python -m frameweave train sepconv --data synthetic --steps {args.steps} --crop {args.crop} "
             f"--batch {args.batch} --threads {args.threads} --workers N`, run in-process through "
             f"`train_cli.main`; samples/s over steps {args.log_every + 1}-{args.steps} from the run's log "
             f"(the first {args.log_every} steps, worker start included, left out). The worker counts run in "
             f"turn, {args.rounds} round(s); the ratio is to --workers 0 of the same round.", ""]
    rows, medians = [], []
    for spec in args.train_models:
        width, kernel = float(spec.split(":")[0]), int(spec.split(":")[1])
        ratios = {w: [] for w in args.workers}
        for rnd in range(args.rounds):
            results = []
            for workers in args.workers:
                r = cli_rate(workers, width, kernel, args)
                log(f"train width {width:g} K {kernel} round {rnd + 1}: {r}")
                results.append(r)
            base = next((r["samples_per_s"] for r in results if r["workers"] == 0), None)
            for r in results:
                if base:
                    ratios[r["workers"]].append(r["samples_per_s"] / base)
                rows.append([f"width {width:g}, K {kernel}", rnd + 1, r["workers"], f"{r['samples_per_s']:.2f}",
                             f"{r['samples_per_s'] / base:.2f}" if base else "–",
                             f"{r['data_wait_frac']:.3f}", f"{r['main_cpu_s']:.1f}", r["load"]])
        medians.append([f"width {width:g}, K {kernel}"] + [f"**{statistics.median(ratios[w]):.2f}**" if ratios[w] else "–"
                                                          for w in args.workers])
    lines += table(["model", "round", "workers", "samples/s", "ratio to 0 workers (same round)", "data wait fraction",
                    "main-process CPU s", "load average"], rows)
    lines += ["", f"Median over the {args.rounds} round(s) of the ratio to --workers 0:", ""]
    lines += table(["model"] + [f"--workers {w}" for w in args.workers], medians)
    return lines


def run_ab(args) -> list:
    """One trainer, its batches alternately from streams of each worker count in blocks of
    --ab-steps steps, --ab-cycles cycles: load that changes during the run hits every count alike.
    A worker stream is closed after its block and started again at its next (the start is paid
    inside the block; nothing is drawn ahead while another count trains)."""
    from frameweave.vfi_core import sepconv_train as T
    from frameweave.vfi_core.triplet_data import TripletStream

    width, kernel = float(args.ab_model.split(":")[0]), int(args.ab_model.split(":")[1])
    config = T.TrainConfig(width=width, kernel_size=kernel, crop=args.crop, batch=args.batch, device="cpu", workers=0)
    trainer = T.SepConvTrainer(config)
    source = trainer.stream.source
    streams = {w: TripletStream(source, args.batch, seed=w, workers=w) for w in args.workers}
    seconds = {w: 0.0 for w in args.workers}
    ratios = {w: [] for w in args.workers}
    trainer.train_step()                                               # warm-up (allocations)
    for cycle in range(args.ab_cycles):
        block = {}
        for w in args.workers:
            trainer.stream = streams[w]
            start = time.perf_counter()
            for _ in range(args.ab_steps):
                trainer.train_step()
            block[w] = time.perf_counter() - start
            streams[w].close()
            seconds[w] += block[w]
        for w in args.workers:
            ratios[w].append(block[args.workers[0]] / block[w])
        log(f"ab cycle {cycle + 1}: " + ", ".join(f"{w} workers {block[w]:.1f} s" for w in args.workers)
            + f", load {load_average()}")
    samples = args.ab_cycles * args.ab_steps * args.batch
    base = args.workers[0]
    lines = [f"## Interleaved: one `SepConvTrainer`, batches from 0, 1, 2 workers in turn (width {width:g}, K {kernel}, "
             f"{args.crop}x{args.crop}, batch {args.batch}, CPU)", "",
             f"{args.ab_cycles} cycles; in each, {args.ab_steps} training steps with the batches of each worker count "
             "in turn (the worker processes closed after their block and started again at the next, the start "
             "counted). The same training step throughout; what changes is where the batches are drawn.", ""]
    lines += table(["workers", "samples/s (all cycles)", f"ratio to {base} workers", "median ratio of the cycles",
                    "seconds"],
                   [[w, f"{samples / seconds[w]:.2f}", f"**{seconds[base] / seconds[w]:.2f}**",
                     f"{statistics.median(ratios[w]):.2f}", f"{seconds[w]:.0f}"] for w in args.workers])
    return lines


# --- gpu -----------------------------------------------------------------------------------------

GPU_VARIANTS = (  # name, TrainConfig switches
    ("float32", {"amp": False, "channels_last": False, "adam": "foreach"}),
    ("bf16 autocast", {"amp": True, "channels_last": False, "adam": "foreach"}),
    ("bf16 + channels-last", {"amp": True, "channels_last": True, "adam": "foreach"}),
    ("bf16 + channels-last + fused Adam (default)", {"amp": True, "channels_last": True, "adam": "fused"}),
    ("the default again (the spread of a repeat)", {"amp": True, "channels_last": True, "adam": "fused"}),
    ("default + torch.compile", {"amp": True, "channels_last": True, "adam": "fused", "compile": "inductor"}),
)


def step_rate(init: str, switches: dict, device: str, crop: int, batch: int, warmup: int, steps: int) -> dict:
    """steps/s of SepConvTrainer.train_step's model part on one fixed batch (no data in the loop)."""
    from frameweave.vfi_core import sepconv_train as T
    from frameweave.vfi_core.triplet_data import SyntheticSource

    config = T.TrainConfig(init=init, crop=crop, batch=batch, device=device, workers=0, **switches)
    trainer = T.SepConvTrainer(config, source=SyntheticSource((crop, crop), reach=8, max_shift=1))
    batch_tensors = trainer.next_batch()
    sync = torch.cuda.synchronize if trainer.device.type == "cuda" else (lambda: None)
    start = time.perf_counter()
    for _ in range(warmup):
        trainer.generator_step(batch_tensors)
    sync()
    warm_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        logs = trainer.generator_step(batch_tensors)
    sync()
    seconds = time.perf_counter() - start
    return {"steps_per_s": steps / seconds, "samples_per_s": steps * batch / seconds, "warmup_s": warm_s,
            "loss": float(logs["loss"]), "mixed": bool(config.amp and T.mixed_precision_pays(trainer.device)),
            "channels_last": trainer.channels_last}


def run_gpu(args) -> list:
    from frameweave.vfi_core.sepconv_infer import default_weights_name

    device = "cpu" if args.toy else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        return ["## Training step switches", "", "Skipped: no CUDA device on this machine."]
    init = args.init or default_weights_name("sepconv")
    crop, batch = (32, 2) if args.toy else (args.crop, args.batch)
    started = time.perf_counter()
    rows = []
    for name, switches in GPU_VARIANTS:
        if "compile" in switches and time.perf_counter() - started > args.compile_budget:
            rows.append([name, "not run: --compile-budget spent", "", "", "", ""])
            continue
        if "compile" in switches and args.toy:
            switches = dict(switches, compile="eager")            # the code path, not the compiler
        try:
            r = step_rate(init, switches, device, crop, batch, args.gpu_warmup, args.gpu_steps)
        except Exception as exc:  # noqa: BLE001  (a variant that breaks, e.g. compile, is a result too)
            log(f"gpu {name}: failed: {exc!r}")
            rows.append([name, f"failed: {type(exc).__name__}: {str(exc)[:120]}", "", "", "", ""])
            continue
        log(f"gpu {name}: {r}")
        rows.append([name, f"{r['steps_per_s']:.1f}", f"{r['samples_per_s']:.0f}", f"{r['warmup_s']:.1f}",
                     "bf16" if r["mixed"] else "fp32", f"{r['loss']:.4f}"])
    where = torch.cuda.get_device_name(0) if device == "cuda" else "CPU (toy sizes: a code check, not a speed)"
    lines = [f"## Training step switches: {init}, batch {batch}, {crop}x{crop}, {where}", "",
             f"`SepConvTrainer.generator_step` on one fixed batch: {args.gpu_warmup} warm-up steps (compilation "
             f"included), then {args.gpu_steps} timed steps (the data stream is not in the loop). "
             "Adam is foreach in the first rows (the PyTorch default on CUDA).", ""]
    return lines + table(["variant", "steps/s", "samples/s", "warm-up s", "precision", "last loss"], rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", nargs="+", default=["data", "ab", "train"], choices=["data", "ab", "train", "gpu"])
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--batches", type=int, default=12, help="timed batches of the data part")
    ap.add_argument("--steps", type=int, default=12, help="steps of each train sepconv run (train part)")
    ap.add_argument("--log-every", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--train-models", nargs="+", default=["0.125:13"], help="width:kernel_size of the train part")
    ap.add_argument("--ab-model", default="0.125:13", help="width:kernel_size of the interleaved part")
    ap.add_argument("--ab-cycles", type=int, default=6)
    ap.add_argument("--ab-steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the training process")
    ap.add_argument("--init", default="", help="gpu part: start weights (default: the default SepConv weights)")
    ap.add_argument("--gpu-warmup", type=int, default=10)
    ap.add_argument("--gpu-steps", type=int, default=40)
    ap.add_argument("--compile-budget", type=float, default=120.0,
                    help="gpu part: the compile row runs only if the other rows took less than this (s)")
    ap.add_argument("--toy", action="store_true", help="gpu part on the CPU at toy sizes (a code check)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "train_speed.md")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    started = time.perf_counter()
    lines = ["# Training speed", "",
             f"- command: `python benchmarks/train_speed.py {' '.join(sys.argv[1:] if argv is None else argv)}`",
             f"- machine: {machine_description()}",
             f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC", ""]
    if "data" in args.parts:
        lines += run_data(args) + [""]
    if "ab" in args.parts:
        lines += run_ab(args) + [""]
    if "train" in args.parts:
        lines += run_train(args) + [""]
    if "gpu" in args.parts:
        lines += run_gpu(args) + [""]
    lines.append(f"Total wall time {time.perf_counter() - started:.0f} s, load average {load_average()} at the end.")
    text = "\n".join(lines) + "\n"
    print(text)
    write_report(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
