"""What every benchmark needs: one line naming the machine a measurement was taken on (also used in
weight manifests), and an atomic write of its results file."""
import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else the platform's architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_description(opencv: bool = False) -> str:
    """E.g. "2-core AMD EPYC 7B13, no GPU, torch 2.13.0+cpu (1 thread), load average 3.2 at the time
    of measuring". The load average says how shared the machine was: timings are upper bounds then."""
    import torch  # noqa: PLC0415

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = f"GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "no GPU"
    text = f"{cores}-core {cpu_model()}, {gpu}, torch {torch.__version__} ({torch.get_num_threads()} thread(s))"
    if opencv:
        import cv2  # noqa: PLC0415
        text += f", OpenCV {cv2.__version__} ({cv2.getNumThreads()} thread(s))"
    if hasattr(os, "getloadavg"):
        text += f", load average {os.getloadavg()[0]:.1f} at the time of measuring"
    return text


def write_report(path, text: str) -> Path:
    """Write a benchmark's results file atomically (``name.part``, then renamed), creating its folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    part.write_text(text, encoding="utf-8")
    part.replace(path)
    return path
