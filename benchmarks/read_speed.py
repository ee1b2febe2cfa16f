"""Read speed and memory of a 1080p H.264 MP4: streaming vs. loading whole.

    nice -n 10 python benchmarks/read_speed.py [--frames 300]

Synthesises a 1920x1080 clip (a diagonal camera pan over scikit-image's "astronaut" photo,
upscaled) in a temporary folder, then measures, each in a fresh process so peak memory is its own:
  (a) ``iter_frames`` streaming the whole clip (uint8 frames, one at a time),
  (b) ``read_chunks`` (one decoding pass) and repeated ``read_frames(start, max_frames)`` calls
      (each reopens and seeks to the keyframe before ``start``), one float32 chunk alive at a time,
  (c) ``read_frames`` of the first N frames whole, for growing N (memory grows with N).
Peak memory is the process's VmHWM (/proc/self/status) minus its resident size before reading.
Prints a markdown table and writes it to benchmarks/results/read_speed.md.
"""
import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def photo_mosaic() -> "np.ndarray":
    """A 2600x1800 canvas tiled with scikit-image's bundled photos near their native resolution
    (detail comparable to real footage, so the H.264 bitrate is realistic)."""
    import cv2
    import numpy as np
    import skimage.data

    names = ["retina", "hubble_deep_field", "astronaut", "coffee", "rocket", "chelsea",
             "immunohistochemistry", "cat"]
    tiles = []
    for name in names:
        try:
            img = getattr(skimage.data, name)()
        except Exception:  # noqa: BLE001  (a photo that needs a download is skipped)
            img = skimage.data.astronaut()
        tiles.append(cv2.resize(img[..., :3], (650, 900), interpolation=cv2.INTER_AREA))
    return np.concatenate([np.concatenate(tiles[:4], 1), np.concatenate(tiles[4:], 1)], 0)  # [1800,2600,3]


def make_clip(path: Path, frames: int, fps: int = 30) -> None:
    """1080p pan over real photos, H.264 crf 20, written with PyAV frame by frame."""
    import av

    photo = photo_mosaic()
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
        stream.options = {"crf": "20", "preset": "veryfast"}
        for i in range(frames):
            x, y = int(i * 2.2), int(i * 2.3)  # ~66 px/s right, ~69 px/s down (<= 300 frames fit)
            frame = av.VideoFrame.from_ndarray(photo[y:y + 1080, x:x + 1920].copy(), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def child(mode: str, path: str, n: int) -> dict:
    """One measurement in this process; returns frames, seconds, peak extra memory (MB)."""
    from frameweave.vfi_core.frames_io import iter_frames, read_chunks, read_frames

    base = _status_kb("VmRSS")
    t = time.perf_counter()
    count = 0
    if mode == "stream":
        for arr, _ in iter_frames(path):
            count += 1
            arr.mean()  # touch the pixels as a consumer would
    elif mode == "read_chunks":
        for clip in read_chunks(path, n):
            count += clip.frames.shape[0]
            del clip
    elif mode == "chunks":
        start = 0
        while True:
            try:
                clip = read_frames(path, start=start, max_frames=n)
            except ValueError:
                break
            count += clip.frames.shape[0]
            start += clip.frames.shape[0]
            del clip
    elif mode == "whole":
        clip = read_frames(path, max_frames=n)
        count = clip.frames.shape[0]
    seconds = time.perf_counter() - t
    return {"frames": count, "seconds": seconds, "peak_mb": (_status_kb("VmHWM") - base) / 1024}


def machine() -> str:
    import av
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "CPU")
    import os
    load = os.getloadavg()[0]
    return (f"{os.cpu_count()}-core {cpu} ({platform.machine()}), no GPU used, torch {torch.__version__}, "
            f"PyAV {av.__version__}, Python {platform.python_version()}; 1-minute load average {load:.1f} "
            "at the end of the run (the machine is shared)")


def run(mode: str, path: Path, n: int = 0) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, str(path), str(n)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=300, help="at most 300 (the pan stays on the canvas)")
    ap.add_argument("--chunk", type=int, default=25)
    ap.add_argument("--whole", type=int, nargs="+", default=[25, 50, 100])
    ap.add_argument("--child", nargs=3, metavar=("MODE", "PATH", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not 2 <= args.frames <= 300:
        ap.error("--frames must be between 2 and 300")
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], int(args.child[2]))))
        return

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pan_1080p.mp4"
        t = time.perf_counter()
        make_clip(path, args.frames)
        size_mb = path.stat().st_size / 1e6
        print(f"synthesised {args.frames} frames 1920x1080 H.264 ({size_mb:.1f} MB) "
              f"in {time.perf_counter() - t:.1f} s", flush=True)
        rows = [("iter_frames, whole clip streamed (uint8)", run("stream", path))]
        rows.append((f"read_chunks of {args.chunk} frames, one decoding pass (float32)",
                     run("read_chunks", path, args.chunk)))
        rows.append((f"read_frames(start=k, max_frames={args.chunk}) repeated: reopen + seek (float32)",
                     run("chunks", path, args.chunk)))
        for n in args.whole:
            rows.append((f"read_frames of {n} frames at once (float32)", run("whole", path, n)))

    mbit = size_mb * 8 / (args.frames / 30)
    lines = [f"# Read speed: 1080p H.264 MP4 ({args.frames} frames, 1920x1080, 30 fps, crf 20, "
             f"{size_mb:.1f} MB = {mbit:.1f} Mbit/s)", "",
             f"Machine: {machine()}.", "Measured with `nice -n 10 python benchmarks/read_speed.py`; peak memory is "
             "VmHWM minus the resident size before reading, each row in a fresh process.", "",
             "| how | frames | frames/s | peak extra memory (MB) |", "|---|---:|---:|---:|"]
    for name, r in rows:
        lines.append(f"| {name} | {r['frames']} | {r['frames'] / r['seconds']:.1f} | {r['peak_mb']:.0f} |")
    table = "\n".join(lines) + "\n"
    print(table)
    out = HERE / "results" / "read_speed.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(table)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
