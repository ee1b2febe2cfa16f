"""Benchmark of the kernels: separable_local_conv (K = 51) and pixel_shader_blend.

    python benchmarks/kernels.py [--sizes 256,720p,1080p] [--repeats 3] [--cpu-limit 60]
    python benchmarks/kernels.py --no-cpu --sizes train,1080p --repeats 10 --versions v1,v2   # a lent GPU

For each size: forward and forward+backward time and peak extra memory of one frame (B=1, C=3;
the size ``train`` is SepConv training's batch of 16 128x128 crops, GPU rows only), for the
PyTorch reference on the CPU and, when a GPU with CuPy is present, for the CUDA kernels of each
``--versions`` (v2, the default kernels; v1, the first ones, kept to be compared) and the
reference on the GPU (fp32 and fp16), with the effective bandwidth of the CUDA forward against the
device's peak. GPU passes: fwd; fwd+bwd (gradients of the frame and both kernels, the issue's
figure); fwd+bwd Kv,Kh (training: the frames need no gradient). A summary gives, per size and
dtype, fwd+bwd / fwd of each version and v1 / v2. CPU cases run in a child process each; the parent resets the child's
peak resident memory (VmHWM) once the inputs exist and samples it, so the peak is the op's own.
A CPU case that a 16-row strip predicts to take longer than ``--cpu-limit`` seconds gets its time
extrapolated from the strip (the cost per row is constant) and is not run on the full frame; the
table says which, and gives the memory model of the code beside every measurement. Prints a markdown table and writes
benchmarks/results/kernels.md.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from frameweave.vfi_core.machine import machine_description, write_report

SIZES = {"256": (256, 256), "720p": (720, 1280), "1080p": (1080, 1920), "train": (128, 128)}
BATCH = {"train": 16}                 # images per case (1 otherwise); "train" has GPU rows only
GPU_PASSES = ("fwd", "fwd+bwd", "fwd+bwd Kv,Kh")
K = 51
C = 3
RESULTS = Path(__file__).resolve().parent / "results" / "kernels.md"
# peak DRAM bandwidth (bytes/s) of common GPUs, for the "effective bandwidth" column
PEAK_BANDWIDTH = {"H100 80GB HBM3": 3.35e12, "H100 PCIe": 2.0e12, "H200": 4.8e12, "A100-SXM4-80GB": 2.04e12,
                  "A100-SXM4-40GB": 1.56e12, "A100-PCIE-40GB": 1.56e12, "L4": 0.3e12, "RTX 4090": 1.01e12}


def machine() -> str:
    return machine_description()


def inputs(h: int, w: int, dtype, device, batch: int = 1):
    g = torch.Generator(device="cpu").manual_seed(0)
    frame = torch.rand(batch, C, h, w, generator=g)
    kv = torch.rand(batch, K, h, w, generator=g).softmax(1)
    kh = torch.rand(batch, K, h, w, generator=g).softmax(1)
    return [t.to(device=device, dtype=dtype) for t in (frame, kv, kh)]


_GPU_INPUTS: dict = {}


def gpu_inputs(size: str, dtype):
    """The case's inputs on the GPU, made once per (size, dtype) (1080p softmax maps take seconds
    on the CPU) and reused by every path and pass."""
    key = (size, dtype)
    if key not in _GPU_INPUTS:
        _GPU_INPUTS.clear()
        torch.cuda.empty_cache()
        h, w = SIZES[size]
        _GPU_INPUTS[key] = inputs(h, w, dtype, "cuda", BATCH.get(size, 1))
    return _GPU_INPUTS[key]


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def cpu_case(size: str, what: str, repeats: int, rows: int) -> dict:
    """Run in a child: time of the reference on the CPU for the first ``rows`` rows (0 = all)."""
    from frameweave.kernels import separable_local_conv  # noqa: PLC0415

    h, w = SIZES[size]
    h = h if rows <= 0 else min(h, rows)
    frame, kv, kh = inputs(h, w, torch.float32, "cpu")
    grad = torch.rand_like(frame)
    if what == "fwd+bwd":
        for t in (frame, kv, kh):
            t.requires_grad_()
    print(json.dumps({"ready": _rss_kib("VmRSS")}), flush=True)
    times, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        with torch.no_grad() if what == "fwd" else torch.enable_grad():
            out = separable_local_conv(frame, kv, kh)
            if what == "fwd+bwd":
                out.backward(grad)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    best = min(range(len(times)), key=times.__getitem__)
    return {"time_s": times[best], "cpu_s": cpu[best], "runs": len(times)}


def reference_memory_model(h: int, w: int, what: str) -> float:
    """MiB the reference allocates beyond its inputs for one fp32 frame (from the code):
    forward = padded frame + output + one row chunk's temporaries; backward adds the padded
    gradient (and its fold copy), dL/dKv and dL/dKh [1,K,H,W] and the backward's chunk buffers."""
    import importlib  # noqa: PLC0415
    slc = importlib.import_module("frameweave.kernels.separable_local_conv")
    p = K // 2
    rows = slc._rows_per_chunk(torch.empty(1, C, 1, w, device="meta").expand(1, C, h, w), K, None)
    padded = C * (h + 2 * p) * (w + 2 * p)
    chunk = C * rows * w * K                                   # one [1,C,rows,W,K] temporary
    fwd = padded + C * h * w + 2 * chunk + 2 * rows * w * K
    if what == "fwd":
        return 4 * fwd / 2 ** 20
    bwd = 3 * padded + 2 * K * h * w + 4 * chunk + 3 * rows * w * K
    return 4 * max(fwd, C * h * w + bwd) / 2 ** 20


def _child_peak_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_cpu(size: str, what: str, repeats: int, limit: float) -> dict:
    """Time one CPU case and measure its peak memory; when a 16-row strip predicts more than
    ``limit`` s, the full-frame time is extrapolated from the strip (every row costs the same) and
    the full frame is not run (the table then gives the memory model only)."""
    def child(rows: int, reps: int, observe: float | None = None):
        cmd = [sys.executable, __file__, "--child", size, what, str(reps), str(rows)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        ready = json.loads(proc.stdout.readline())["ready"]
        Path(f"/proc/{proc.pid}/clear_refs").write_text("5")   # reset the child's peak RSS
        t0, peak = time.monotonic(), 0
        while proc.poll() is None:
            peak = max(peak, _child_peak_kib(proc.pid))
            if observe is not None and time.monotonic() - t0 > observe:
                proc.kill()
                proc.wait()
                return None, (peak - ready) / 1024
            time.sleep(0.1)
        out = proc.stdout.read().strip().splitlines()
        if proc.returncode != 0:
            raise RuntimeError(f"benchmark child failed for {size} {what}")
        return json.loads(out[-1]), (peak - ready) / 1024

    h = SIZES[size][0]
    strip_rows = 16
    strip, _ = child(strip_rows, 2, None)                  # best of 2: the first run warms up
    estimate = strip["time_s"] * h / min(h, strip_rows)
    if estimate <= limit:
        full, peak = child(0, repeats, None)
        return {**full, "peak_mib": peak, "extrapolated": False}
    scale = h / min(h, strip_rows)
    return {"time_s": estimate, "cpu_s": strip["cpu_s"] * scale, "runs": 1, "peak_mib": None,
            "extrapolated": True}


def gpu_case(size: str, dtype, path: str, what: str, repeats: int) -> dict:
    """Best-of-``repeats`` time of one pass on the GPU; ``path`` is a kernel version ("v1", "v2")
    or "torch" (the reference on the GPU)."""
    from frameweave.kernels import separable_local_conv  # noqa: PLC0415

    os.environ["FRAMEWEAVE_KERNELS"] = "torch" if path == "torch" else "cuda"
    if path != "torch":
        os.environ["FRAMEWEAVE_SLC_KERNELS"] = path
    h, w = SIZES[size]
    frame, kv, kh = (t.detach() for t in gpu_inputs(size, dtype))
    grad = torch.rand_like(frame)
    leaves = {"fwd": (), "fwd+bwd": (frame, kv, kh), "fwd+bwd Kv,Kh": (kv, kh)}[what]
    for t in leaves:
        t.requires_grad_()

    def run():
        with torch.no_grad() if what == "fwd" else torch.enable_grad():
            out = separable_local_conv(frame, kv, kh)
            if what != "fwd":
                out.backward(grad)
                for t in leaves:
                    t.grad = None

    run()                                                   # compile + warm up
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(repeats):
        start.record()
        run()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    peak = (torch.cuda.max_memory_allocated() - base) / 2 ** 20
    for t in leaves:
        t.requires_grad_(False)
    t = min(times)
    result = {"time_s": t, "runs": len(times), "peak_mib": peak}
    if what == "fwd":
        moved = (2 * C + 2 * K) * h * w * frame.shape[0] * frame.element_size()  # read frame + Kv + Kh, write out
        result["bandwidth"] = moved / t
    return result


def gpu_summary(times: dict, versions) -> list:
    """Lines of ratios from one run: fwd+bwd / fwd per version, and v1 / v2 per pass."""
    lines = ["| size | dtype | path | fwd+bwd / fwd | fwd+bwd Kv,Kh / fwd | v1 / v2 fwd | v1 / v2 fwd+bwd | v1 / v2 fwd+bwd Kv,Kh | CUDA / reference fwd+bwd |",
             "|---|---|---|---|---|---|---|---|---|"]
    keys = sorted({(s, d) for s, d, _, _ in times}, key=str)
    for size, dtype in keys:
        for v in versions:
            get = lambda p, w, s=size, d=dtype: times.get((s, d, p, w))   # noqa: E731
            fwd, full, train = get(v, "fwd"), get(v, "fwd+bwd"), get(v, "fwd+bwd Kv,Kh")
            ratio = lambda a, b: f"{a / b:.2f}" if a and b else "–"        # noqa: E731
            old = (lambda w: ratio(get("v1", w), get("v2", w))) if v == "v2" and "v1" in versions else (lambda w: "–")
            ref = ratio(get("torch", "fwd+bwd"), full)
            lines.append(f"| {size} | {dtype} | CUDA {v} | {ratio(full, fwd)} | {ratio(train, fwd)} | {old('fwd')} | "
                         f"{old('fwd+bwd')} | {old('fwd+bwd Kv,Kh')} | {ref}x |")
    return lines


def blend_case(size: str, device: str, repeats: int) -> float:
    from frameweave.kernels import pixel_shader_blend  # noqa: PLC0415

    h, w = SIZES[size]
    a, b, c = (torch.rand(1, C, h, w, device=device) for _ in range(3))
    pixel_shader_blend(a, b, c)
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        pixel_shader_blend(a, b, c)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return min(times)


def fmt_time(t: float) -> str:
    return f"{t * 1e3:.2f} ms" if t < 1 else f"{t:.2f} s"


def main(argv=None) -> int:
    """Run the benchmark; the kernel-selection variables it sets per case are restored on return
    (``benchmarks/gpu_run.py`` calls it in the process that trains afterwards)."""
    saved = {var: os.environ.get(var) for var in ("FRAMEWEAVE_KERNELS", "FRAMEWEAVE_SLC_KERNELS")}
    try:
        return _main(argv)
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def _main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="256,720p,1080p")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cpu-limit", type=float, default=60.0,
                    help="a CPU case predicted slower than this (s) is extrapolated from a strip")
    ap.add_argument("--no-cpu", action="store_true", help="skip the CPU reference rows")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch CPU threads (0: torch's default); 1 is steadier on a shared machine")
    ap.add_argument("--versions", default="v1,v2",
                    help="CUDA kernel versions to time on a GPU (v2: the default kernels; v1: the first ones)")
    ap.add_argument("--no-gpu-reference", action="store_true", help="skip the reference-on-GPU rows")
    ap.add_argument("--out", default=str(RESULTS), help="markdown results file")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.threads > 0:
        os.environ["FRAMEWEAVE_BENCH_THREADS"] = str(args.threads)     # inherited by the children
    if os.environ.get("FRAMEWEAVE_BENCH_THREADS"):
        torch.set_num_threads(int(os.environ["FRAMEWEAVE_BENCH_THREADS"]))
    if args.child:
        size, what, repeats, rows = args.child
        print(json.dumps(cpu_case(size, what, int(repeats), int(rows))))
        return 0

    machine_text = machine()
    versions = [v.strip() for v in args.versions.split(",") if v.strip()]
    for v in versions:
        if v not in ("v1", "v2"):
            ap.error(f"unknown kernel version {v!r}; choose from v1, v2")
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    for s in sizes:
        if s not in SIZES:
            ap.error(f"unknown size {s!r}; choose from {', '.join(SIZES)}")
    has_gpu = False
    if torch.cuda.is_available():
        from frameweave.kernels._dispatch import cupy_status  # noqa: PLC0415
        has_gpu = cupy_status()[0]
    peak_bw = PEAK_BANDWIDTH.get(torch.cuda.get_device_name().replace("NVIDIA ", ""), None) if has_gpu else None

    rows, gpu_times = [], {}
    header = ("| size | path | dtype | pass | time (1 frame) | CPU time | peak extra memory | eff. bandwidth "
              "| note |")
    for size in sizes:
        h, w = SIZES[size]
        label = f"{w}x{h}" if size not in BATCH else f"{BATCH[size]}x {w}x{h}"
        if not args.no_cpu and size not in BATCH:
            for what in ("fwd", "fwd+bwd"):
                r = run_cpu(size, what, args.repeats, args.cpu_limit)
                if r["extrapolated"]:
                    note = f"extrapolated from a 16-row strip (full frame > {args.cpu_limit:g} s)"
                else:
                    note = f"best of {r['runs']}"
                model = reference_memory_model(h, w, what)
                measured = "not run" if r["peak_mib"] is None else f"{r['peak_mib']:.0f} MiB"
                rows.append(f"| {label} | reference, CPU | fp32 | {what} | {fmt_time(r['time_s'])} | "
                            f"{fmt_time(r['cpu_s'])} | {measured} (model {model:.0f} MiB) | – | {note} |")
                print(rows[-1], flush=True)
        if has_gpu:
            paths = versions + ([] if args.no_gpu_reference else ["torch"])
            for dtype in (torch.float32, torch.float16):
                for path in paths:
                    for what in GPU_PASSES:
                        r = gpu_case(size, dtype, path, what, args.repeats)
                        dname = str(dtype)[6:].replace("float", "fp")
                        gpu_times[(size, dname, path, what)] = r["time_s"]
                        bw = "–"
                        if "bandwidth" in r:
                            bw = f"{r['bandwidth'] / 1e9:.0f} GB/s"
                            if peak_bw:
                                bw += f" ({100 * r['bandwidth'] / peak_bw:.0f}% of peak)"
                        name = f"CUDA {path}" if path != "torch" else "reference, GPU"
                        rows.append(f"| {label} | {name} | {dname} | {what} | "
                                    f"{fmt_time(r['time_s'])} | – | {r['peak_mib']:.0f} MiB (CUDA alloc) | {bw} | "
                                    f"best of {r['runs']} |")
                        print(rows[-1], flush=True)
            _GPU_INPUTS.clear()

    blend_rows = []
    for size in (s for s in sizes if s not in BATCH):
        h, w = SIZES[size]
        devices = ["cpu"] + (["cuda"] if has_gpu else [])
        for device in devices:
            os.environ["FRAMEWEAVE_KERNELS"] = "auto"
            t = blend_case(size, device, args.repeats)
            blend_rows.append(f"| {w}x{h} | {'CUDA (fused)' if device == 'cuda' else 'reference, CPU'} | "
                              f"{fmt_time(t)} |")

    text = "\n".join([
        "# Kernels benchmark",
        "",
        f"Machine: {machine_text}.",
        f"`python benchmarks/kernels.py --sizes {args.sizes} --repeats {args.repeats} "
        f"--cpu-limit {args.cpu_limit:g}" + (f" --threads {args.threads}" if args.threads else "")
        + (" --no-cpu" if args.no_cpu else "") + (f" --versions {args.versions}" if has_gpu else "")
        + (" --no-gpu-reference" if args.no_gpu_reference else "") + "`; "
        f"separable_local_conv with K = {K}, one frame [1,3,H,W], replicate padding, softmax kernels; "
        "SepConv interpolates from two frames, so a frame pair costs twice the time.",
        "Peak extra memory: CPU = growth of the process's peak resident set during the op "
        "(inputs excluded), with the model of what the code allocates (padded frame, output, "
        "gradients, one row chunk of temporaries) in brackets; GPU = peak CUDA allocation above the inputs. Effective bandwidth = "
        "(frame + Kv + Kh read, output written) / time. CPU time = process CPU seconds (all threads); "
        "on a loaded machine it is the steadier figure (wall time ≈ CPU time / threads when idle).",
        "",
        "## separable_local_conv",
        "",
        header,
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        *(["## GPU ratios (one run)", "", *gpu_summary(gpu_times, versions), ""] if gpu_times else []),
        "## pixel_shader_blend (radius 2)",
        "",
        "| size | path | time (1 frame) |",
        "|---|---|---|",
        *blend_rows,
        "",
    ])
    if not has_gpu:
        text += ("\nNo GPU on this machine: the CUDA rows are absent (the CUDA kernels were compile-checked "
                 "with NVRTC and their float instantiations run through the CPU emulation in "
                 "tests/test_kernels_nvrtc.py, not run on a GPU).\n")
    print(text)
    write_report(Path(args.out), text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
