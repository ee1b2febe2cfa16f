"""How long every example workflow takes on this machine with `python -m frameweave run`.

    nice -n 10 python benchmarks/example_workflows.py                     # all of example_workflows/*.json
    nice -n 10 python benchmarks/example_workflows.py --only quickstart neco_x4

Each workflow runs in its own process (as a user runs it, into a temporary output folder): wall seconds,
CPU seconds of the process (user + system, all threads) and the load average before and after, so a
reader can tell the work from the waiting on a shared machine. Writes benchmarks/results/example_workflows.md.
"""
import argparse
import datetime
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from frameweave.vfi_core.machine import machine_description, write_report

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def workflows(only) -> list:
    paths = sorted((ROOT / "example_workflows").glob("*.json"))
    return [p for p in paths if not only or p.stem in only]


def run_one(path: Path) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load0 = os.getloadavg()[0]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        proc = subprocess.run([sys.executable, "-m", "frameweave", "run", str(path), "--output-dir", out, "-q"],
                              cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"name": path.stem, "ok": proc.returncode == 0, "wall": wall, "cpu": cpu, "load": (load0, os.getloadavg()[0]),
            "error": (proc.stderr.strip().splitlines() or [""])[-1] if proc.returncode else ""}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="+", default=[])
    ap.add_argument("--out", type=Path, default=HERE / "results" / "example_workflows.md")
    args = ap.parse_args(argv)
    rows = []
    for path in workflows(args.only):
        r = run_one(path)
        print(f"{r['name']}: {'ok' if r['ok'] else 'FAILED ' + r['error']}, {r['wall']:.1f} s wall, "
              f"{r['cpu']:.1f} s CPU, load {r['load'][0]:.1f} -> {r['load'][1]:.1f}", file=sys.stderr, flush=True)
        rows.append(r)
        write_report(args.out, report(rows, argv))             # after every workflow: a partial table survives
    print(report(rows, argv))
    return 0


def report(rows, argv) -> str:
    command = "python benchmarks/example_workflows.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = ["# Example workflows: run time on a CPU", "",
             f"- command: `{command.strip()}` (each: `python -m frameweave run example_workflows/NAME.json`)",
             f"- machine: {machine_description()}",
             f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC", "",
             "CPU s is the process's user + system time over all its threads; on an idle 2-core machine the "
             "wall time lies between CPU s / 2 and CPU s. A busy machine stretches the wall time.", "",
             "| workflow | result | wall s | CPU s | load average before -> after |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {'ok' if r['ok'] else 'failed: ' + r['error']} | {r['wall']:.1f} | "
                     f"{r['cpu']:.1f} | {r['load'][0]:.1f} -> {r['load'][1]:.1f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
