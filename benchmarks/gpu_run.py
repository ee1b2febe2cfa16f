"""One command for a lent GPU: spend M minutes on the checks and measurements that need one.

    python benchmarks/gpu_run.py --prepare                        # here, before: dev data, weights set aside
    python3 benchmarks/gpu_run.py --out $OUT --minutes 9          # on the GPU machine (repo root)
    python benchmarks/gpu_run.py --restore                        # here, after: the weights back (sha256)
    python benchmarks/gpu_run.py --dry-run --out /tmp/x           # CPU, toy sizes, < 3 min (CI runs it)

Stages, in the order that matters (``gpu_stages.STAGES``; each gets a share of the time that is
left, so what one stage does not use goes to the next ones, and stops cleanly at its budget):

1. cuda-tests     ``pytest -m cuda``
2. kernels        ``benchmarks/kernels.py --no-cpu`` (GPU rows)
3. train          SepConv training continued from the default shipped weights
                  (``sepconv_infer.default_weights_name``), resumable from the work folder,
                  checkpointed and exported (fp16, 16 MiB shards) every ``--save-every`` seconds
4. evaluate       the dev triplets (UCF101, Vimeo sample): start vs trained weights vs linear blend
5. neco           NeCo 95 frames 256x256 to 30 dB (H200 2026-12-04: 5.3 s; target < 60 s)
6. siren-of       SIREN-OF 40 frames 240x360 to 30 dB (target < 3 min; never run on a GPU)
7. step-switches  ``benchmarks/train_speed.py --parts gpu``: bf16, channels-last, fused Adam, compile

Output folder (at most 8 files of at most 16 MiB, what the device tool brings back):
``summary.md`` (the summary table and every stage's tables), ``log.txt`` (everything the stages
printed), ``result.json`` (the numbers), and the trained weights ``NAME_cont[-0000i-of-0000n].safetensors``.
The three text files are rewritten after every stage, so a run stopped from outside keeps what
it did. ``../shared`` does not travel to the GPU machine: ``--prepare`` copies the dev data the
stages read (about 7 MB) into ``runs/gpu_data`` (git-ignored), to be named in the tool's carry.

The tool copies at most 64 MiB (tracked files, untracked files git does not ignore, the carry),
and ``weights/`` alone holds more than that. So when what travels would pass 64 MiB, ``--prepare``
also moves the weight files no stage reads (all but the default SepConv weights, or ``--init``'s,
and the manifest) into ``runs/weights_set_aside`` (git-ignored), printing each; ``git status``
shows them deleted until ``--restore`` moves them back, each checked against its sha256 in
``weights/manifest.json``. The device call goes between the two. Assumed, not yet seen on a device:
the tool copies the working tree, so a tracked file deleted from it neither travels nor counts.
"""
import argparse
import datetime
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DEV = ROOT.parent / "shared" / "data" / "dev"
DATA_DIR = ROOT / "runs" / "gpu_data"            # git-ignored (/runs/)
WORK_DIR = ROOT / "runs" / "gpu_work"
ASIDE_DIR = ROOT / "runs" / "weights_set_aside"  # git-ignored: weights no stage reads, during a device call
OUTPUT_FILES = ("summary.md", "log.txt", "result.json")
MAX_FILES, MAX_FILE_BYTES, CARRY_LIMIT = 8, 16 * 1024 * 1024, 64 * 1024 * 1024
PREPARED = ("triplets/ucf101_adacof", "triplets/vimeo90k_sample", "videos/skv_carphone_pristine.mp4",
            "videos/skv_bikes.mp4")


def make_importable() -> None:
    """``frameweave`` is this repository (its root is the package): on a machine where it is not
    installed (the GPU machine), a link named frameweave to the root goes first on the path, for
    this process and the stages' subprocesses."""
    spec = importlib.util.find_spec("frameweave")
    if spec is not None and spec.origin and Path(spec.origin).resolve().parent == ROOT:
        return
    tag = hashlib.sha256(str(ROOT).encode()).hexdigest()[:8]          # one link per checkout (copies side by side)
    link_dir = Path(tempfile.gettempdir()) / f"frameweave-path-{os.getuid()}-{tag}"
    link_dir.mkdir(exist_ok=True)
    link = link_dir / "frameweave"
    if link.is_symlink() and link.resolve() != ROOT:
        link.unlink()
    if not link.exists():
        link.symlink_to(ROOT, target_is_directory=True)
    sys.path.insert(0, str(link_dir))
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(link_dir), os.environ.get("PYTHONPATH")) if p)


make_importable()
sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch  # noqa: E402

import gpu_stages  # noqa: E402


# --- preparing the data and the working tree (here, before the GPU run) ----------------------------

def git_paths(root: Path, *options) -> list:
    """Paths (relative) that ``git ls-files OPTIONS`` names in ``root``; [] without git."""
    try:
        names = subprocess.run(["git", "ls-files", "-z", *options], cwd=root, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    return [n for n in names.decode().split("\0") if n]


def travel_sizes(root: Path = ROOT, carry=()) -> dict:
    """What the device tool copies, as path (relative to ``root``) -> bytes: the tracked files
    present in the working tree, the untracked files git does not ignore, ``shared/`` and the
    carried paths. A tracked file deleted from the working tree is not counted (assumed: the tool
    copies the working tree, not the index; not yet seen on a device)."""
    rels = git_paths(root) + git_paths(root, "--others", "--exclude-standard")
    for extra in [root / "shared", *(Path(c) for c in carry)]:
        extra = extra if extra.is_absolute() else root / extra
        files = [extra] if extra.is_file() else (p for p in extra.rglob("*") if p.is_file()) if extra.is_dir() else []
        rels += [os.path.relpath(f, root) for f in files]
    sizes = {}
    for rel in rels:
        path = root / rel
        if path.is_file() and not path.is_symlink():
            sizes[rel] = path.stat().st_size
    return sizes


def weights_the_run_reads(weights: Path, init: str = "") -> set:
    """File names in ``weights`` that a GPU run reads: manifest.json and the default SepConv
    weights (``sepconv_infer.default_weights_name``: the manifest's sepconv entry marked default,
    else the first), plus ``init`` when it names a manifest entry. No other stage reads weights
    (the CUDA tests build their own networks)."""
    from frameweave.vfi_core.weights import MANIFEST_NAME, read_manifest

    entries = read_manifest(weights)["weights"]
    sepconv = [e for e in entries if e.get("method") == "sepconv"]
    chosen = [e for e in sepconv if e.get("default")][:1] or sepconv[:1]
    chosen += [e for e in entries if init and e.get("name") == init]
    return {MANIFEST_NAME} | {f["file"] for e in chosen for f in e.get("files", [])}


def set_aside(weights: Path, aside: Path, keep: set) -> list:
    """Move the manifest's weight files that are not in ``keep`` from ``weights`` into ``aside``
    (git-ignored); ``--restore`` moves them back. Returns [(name, bytes)] of what moved."""
    from frameweave.vfi_core.weights import read_manifest

    moved = []
    for entry in read_manifest(weights)["weights"]:
        for f in entry.get("files", []):
            src = weights / f["file"]
            if f["file"] in keep or not src.is_file():
                continue
            aside.mkdir(parents=True, exist_ok=True)
            size = src.stat().st_size
            os.replace(src, aside / f["file"])
            moved.append((f["file"], size))
    return moved


def restore(weights: Path = ROOT / "weights", aside: Path = ASIDE_DIR) -> int:
    """Move the files ``--prepare`` set aside back into ``weights``, each checked against the
    sha256 in ``weights/manifest.json`` first (a file that does not match stays where it is)."""
    from frameweave.vfi_core.weights import read_manifest, sha256_file

    files = sorted(p for p in aside.iterdir() if p.is_file()) if aside.is_dir() else []
    if not files:
        print(f"nothing set aside in {aside}")
        return 0
    want = {f["file"]: f["sha256"] for e in read_manifest(weights)["weights"] for f in e.get("files", [])}
    problems = 0
    for p in files:
        dst = weights / p.name
        if p.name not in want or sha256_file(p) != want[p.name]:
            print(f"not restored: {p} ({'not in the manifest' if p.name not in want else 'sha256 differs from the manifest'})",
                  file=sys.stderr)
            problems += 1
        elif dst.exists():
            if sha256_file(dst) == want[p.name]:
                p.unlink()
                print(f"already in place (sha256 ok): {dst.name}; dropped the copy set aside")
            else:
                print(f"not restored: {dst} exists and differs from the manifest", file=sys.stderr)
                problems += 1
        else:
            os.replace(p, dst)
            print(f"restored (sha256 ok): {dst.name}")
    if not any(aside.iterdir()):
        aside.rmdir()
    return 1 if problems else 0


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def mib(n: int) -> str:
    return f"{n / 2 ** 20:.1f} MiB"


def prepare(dev: Path, dest: Path = DATA_DIR, root: Path = ROOT, limit: int = CARRY_LIMIT, init: str = "") -> int:
    """Copy the dev data the stages read into ``dest`` (measuring only: the folder is git-ignored
    and nothing in it is committed); when what travels would pass ``limit``, set aside the weights
    no stage reads (``ASIDE_DIR``; ``--restore`` puts them back); print the carry and what travels."""
    if not dev.is_dir():
        print(f"dev data not found at {dev} (--data)", file=sys.stderr)
        return 2
    for rel in PREPARED:
        src, dst = dev / rel, dest / rel
        if not src.exists():
            print(f"missing in the dev data: {src}", file=sys.stderr)
            return 2
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dst)
    shown = dest.relative_to(root) if dest.is_relative_to(root) else dest
    print(f"copied {len(PREPARED)} items, {mib(folder_bytes(dest))}, into {shown}")
    weights, aside = root / "weights", root / ASIDE_DIR.relative_to(ROOT)
    sizes = travel_sizes(root, [dest])
    if sum(sizes.values()) > limit:
        moved = set_aside(weights, aside, weights_the_run_reads(weights, init))
        for name, size in moved:
            print(f"set aside: weights/{name} ({mib(size)}) -> {aside.relative_to(root)}/")
        if moved:
            print(f"set aside {len(moved)} weight files, {mib(sum(s for _, s in moved))}: no GPU stage reads them; "
                  f"git status shows them deleted until `python benchmarks/gpu_run.py --restore`")
        sizes = travel_sizes(root, [dest])
    waiting = sorted(p.name for p in aside.iterdir()) if aside.is_dir() else []
    if waiting:
        print(f"{len(waiting)} files wait in {aside.relative_to(root)}: after the device call run "
              f"`python benchmarks/gpu_run.py --restore`")
    carried = sum(s for rel, s in sizes.items() if (root / rel).is_relative_to(dest))
    total = sum(sizes.values())
    print(f"carry: [\"{shown}\"]; travels: tracked + untracked files {mib(total - carried)} + carry {mib(carried)} "
          f"= {mib(total)} of the tool's {mib(limit)}")
    if total > limit:
        largest = sorted(sizes.items(), key=lambda kv: -kv[1])[:5]
        print(f"warning: over the limit, the working tree will not travel; largest: "
              + ", ".join(f"{rel} {mib(s)}" for rel, s in largest), file=sys.stderr)
        return 1
    return 0


# --- the run ----------------------------------------------------------------------------------------

class Run:
    """What the stages share: folders, device, options, the log, and what training produced."""

    def __init__(self, args):
        self.args, self.dry_run = args, args.dry_run
        self.out = Path(args.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.work = Path(args.work) if args.work else (Path(tempfile.mkdtemp(prefix="gpu_run_dry_")) if self.dry_run
                                                      else WORK_DIR)
        self.work.mkdir(parents=True, exist_ok=True)
        self.data = Path(args.data)
        self.device = torch.device("cpu" if self.dry_run or not torch.cuda.is_available() else "cuda")
        self.device_name = torch.cuda.get_device_name(0) if self.device.type == "cuda" else "CPU"
        self.weight_file_limit = MAX_FILES - len(OUTPUT_FILES)
        self.trained = None
        self._log = open(self.out / "log.txt", "a", encoding="utf-8")  # noqa: SIM115

    def log(self, text: str, echo: bool = True) -> None:
        self._log.write(text + "\n")
        self._log.flush()
        if echo:
            print(text, flush=True)

    def close(self) -> None:
        self._log.close()


def device_report() -> str:
    """nvidia-smi's line and the versions that matter."""
    lines = []
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
        lines.append(smi.stdout.strip() or smi.stderr.strip())
    except (OSError, subprocess.TimeoutExpired):
        lines.append("nvidia-smi: not available")
    versions = [f"torch {torch.__version__}", f"cuda {torch.cuda.is_available()}"]
    for name in ("cupy", "av", "cv2"):
        spec = importlib.util.find_spec(name)
        versions.append(f"{name} {'yes' if spec else 'no'}")
    return "\n".join(lines + [", ".join(versions), weights_report()])


def weights_report() -> str:
    """The manifest's weights present here and those absent (set aside by ``--prepare``)."""
    from frameweave.vfi_core.weights import list_weights, read_manifest

    present = list_weights()
    absent = [e["name"] for e in read_manifest()["weights"] if e["name"] not in present]
    return (f"weights: {', '.join(present) or 'none'}" +
            (f"; absent (set aside by --prepare, not read by any stage): {', '.join(absent)}" if absent else ""))


def budgets_left(stages, remaining: float) -> list:
    """Each remaining stage's share of ``remaining`` seconds (by its weight)."""
    total = sum(w for _, w, _ in stages) or 1.0
    return [remaining * w / total for _, w, _ in stages]


def write_outputs(run: Run, results: list, started: float, machine: str) -> None:
    """summary.md and result.json (rewritten after every stage; atomic)."""
    from frameweave.vfi_core.machine import write_report

    rows = [[name, r.status, f"{seconds:.0f}", f"{budget:.0f}", r.summary.replace("|", "/")]
            for name, r, seconds, budget in results]
    head = ["# GPU run" + (" (dry run: toy sizes on the CPU, not measurements)" if run.dry_run else ""), "",
            f"- command: `python benchmarks/gpu_run.py {' '.join(sys.argv[1:])}`",
            f"- machine: {machine}",
            f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
            f"{time.perf_counter() - started:.0f} s of the {run.args.minutes * 60:.0f} s asked for", "",
            "## Summary", ""]
    lines = head + gpu_stages.table(["stage", "status", "seconds", "budget s", "result"], rows) + [""]
    for name, r, _, _ in results:
        lines += [f"## {name}", ""] + (r.lines or [r.summary]) + [""]
    write_report(run.out / "summary.md", "\n".join(lines))
    data = {"machine": machine, "dry_run": run.dry_run, "minutes": run.args.minutes,
            "stages": [{"name": name, "status": r.status, "seconds": seconds, "budget_s": budget, "summary": r.summary,
                        "result": r.data} for name, r, seconds, budget in results]}
    write_report(run.out / "result.json", json.dumps(data, indent=1, default=str))


def check_output(out: Path) -> list:
    """Problems with the output folder against what the device tool brings back (8 files, 16 MiB)."""
    files = [p for p in out.iterdir()]
    problems = [f"{len(files)} files, more than {MAX_FILES}"] if len(files) > MAX_FILES else []
    problems += [f"{p.name}: {p.stat().st_size} bytes" for p in files if p.is_file() and p.stat().st_size > MAX_FILE_BYTES]
    problems += [f"{p.name}: not a plain file" for p in files if not p.is_file()]
    return problems


def run_stages(args) -> int:
    from frameweave.vfi_core.machine import machine_description

    started = time.perf_counter()
    total = 60.0 * args.minutes
    run = Run(args)
    machine = machine_description()
    run.log(f"== gpu_run {'(dry run) ' if run.dry_run else ''}on {machine}")
    run.log(device_report())
    stages = [s for s in gpu_stages.STAGES if s[0] in args.stages]
    results = []
    try:
        for i, (name, weight, fn) in enumerate(stages):
            remaining = total - (time.perf_counter() - started) - args.reserve
            budget = budgets_left(stages[i:], remaining)[0]
            run.log(f"== [{time.perf_counter() - started:.0f} s] stage {name}: budget {budget:.0f} s")
            t0 = time.perf_counter()
            if budget < 1:
                result = gpu_stages.StageResult("stopped: no time left", "not run")
            else:
                try:
                    result = fn(run, budget)
                except Exception as exc:  # noqa: BLE001  (one stage's failure must not cost the others)
                    run.log(traceback.format_exc())
                    result = gpu_stages.StageResult(f"failed: {type(exc).__name__}", str(exc)[:300])
            if run.device.type == "cuda":
                torch.cuda.empty_cache()
            results.append((name, result, time.perf_counter() - t0, budget))
            run.log(f"== {name}: {result.status} in {time.perf_counter() - t0:.0f} s: {result.summary}")
            write_outputs(run, results, started, machine)
        rows = [[name, r.status, f"{s:.0f}", r.summary] for name, r, s, _ in results]
        run.log("\n".join(["", "Summary:"] + gpu_stages.table(["stage", "status", "seconds", "result"], rows)))
    finally:
        run.close()
        if run.dry_run and not args.work:
            shutil.rmtree(run.work, ignore_errors=True)
    problems = check_output(run.out)
    for p in problems:
        print(f"output folder: {p}", file=sys.stderr)
    failed = [name for name, r, _, _ in results if r.status.startswith("failed")]
    return 1 if problems or failed else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="output folder (on the device tool: $OUT)")
    ap.add_argument("--minutes", type=float, default=None, help="time to spend (default 9; dry run 3)")
    ap.add_argument("--dry-run", action="store_true", help="every stage at toy sizes on the CPU (a code check)")
    ap.add_argument("--prepare", action="store_true", help="copy the dev data the stages need into runs/gpu_data; "
                                                           "over 64 MiB, set aside the weights no stage reads")
    ap.add_argument("--restore", action="store_true", help="move the weights --prepare set aside back (sha256 checked)")
    ap.add_argument("--data", default=None, help="dev data: for --prepare the source (default ../shared/data/dev), "
                                                 "for a run the prepared copy (default runs/gpu_data)")
    ap.add_argument("--work", default="", help="checkpoints and scratch (default runs/gpu_work; dry run: a temp folder)")
    ap.add_argument("--stages", nargs="+", default=[s[0] for s in gpu_stages.STAGES],
                    choices=[s[0] for s in gpu_stages.STAGES], help="stages to run (in their fixed order)")
    ap.add_argument("--reserve", type=float, default=15.0, help="seconds kept back for writing the outputs")
    g = ap.add_argument_group("stages")
    g.add_argument("--init", default="", help="train: start weights (default: the default SepConv weights)")
    g.add_argument("--train-lr", type=float, default=1e-4, help="train: peak lr (cosine to 0 over the budget)")
    g.add_argument("--train-batch", type=int, default=16)
    g.add_argument("--train-crop", type=int, default=128)
    g.add_argument("--workers", type=int, default=None, help="train: data processes (default cores - 1)")
    g.add_argument("--save-every", type=float, default=60.0, help="train: checkpoint + weights every this many s")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--kernel-sizes", default="256,720p,1080p")
    g.add_argument("--kernel-repeats", type=int, default=10)
    g.add_argument("--neco-batch", type=int, default=65536)
    g.add_argument("--siren-batch", type=int, default=4096)
    args = ap.parse_args(argv)
    if args.prepare:
        return prepare(Path(args.data) if args.data else DEFAULT_DEV, init=args.init)
    if args.restore:
        return restore()
    if not args.out:
        ap.error("--out is required (the device tool's $OUT)")
    if args.minutes is None:
        args.minutes = 3.0 if args.dry_run else 9.0
    if args.dry_run:
        args.save_every = min(args.save_every, 1.0)
    args.data = args.data or str(DATA_DIR)
    if not args.dry_run and not torch.cuda.is_available():
        print("no CUDA device: use --dry-run for the CPU code check", file=sys.stderr)
        return 2
    return run_stages(args)


if __name__ == "__main__":
    sys.exit(main())
