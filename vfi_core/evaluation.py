"""Evaluation protocols for frame interpolation: drop frames and rebuild them, and triplets.

Drop-frames protocol (see docs/evaluation.md): from a real clip keep frames 0, k, 2k, ...; let the
method rebuild every dropped frame at t = j/k (j = 1..k-1) between its kept neighbours; score each
rebuilt frame against the real one with PSNR (0..255 RGB) and SSIM (Wang et al. 2004). Triplets:
given f0 and f1, rebuild the real middle frame gt at t = 0.5.

A method is any ``interpolate_clip(frames [N,H,W,3], fractions, timing=None, progress=None)
-> [(N-1)*(len(fractions)+1)+1,H,W,3]`` (the interface of ``vfi_core.methods``); bind its options
with ``functools.partial`` before passing it here.
"""
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from . import metrics
from .timing import FrameTiming
from .validate import check_frames

# Shot cuts of the dev clips (index of the last frame of each shot), so the protocol never
# interpolates across a cut. skv_bikes.mp4: see ../shared/data/dev/README.md (checked: the
# frame-to-frame PSNR drops below 12 dB exactly after these frames, otherwise it stays above 16 dB).
SHOT_CUTS = {"skv_bikes.mp4": (29, 75, 136, 186, 241)}
CLIP_EXTS = {".gif", ".mp4", ".mov", ".mkv", ".webm", ".webp", ".apng"}
TRIPLET_FILES = ("f0.png", "f1.png", "gt.png")


@dataclass(frozen=True)
class DropSplit:
    """A clip split for the drop-frames protocol.

    kept:          [N,H,W,3] frames 0, k, 2k, ..., (N-1)k of the input
    kept_timing:   FrameTiming of ``kept`` (None when no timing was given); the last kept frame
                   shows until the end of ``reference``, so ``kept_timing.with_inserted(fractions)``
                   reproduces ``reference_timing``
    reference:     [(N-1)k+1,H,W,3] the input trimmed after frame (N-1)k (the ground truth)
    dropped_mask:  bool [(N-1)k+1], True at the dropped frames (the ones to score)
    k:             keep every k-th frame
    reference_timing: FrameTiming of ``reference`` (None when no timing was given)
    """
    kept: torch.Tensor
    kept_timing: FrameTiming | None
    reference: torch.Tensor
    dropped_mask: torch.Tensor
    k: int
    reference_timing: FrameTiming | None = None

    @property
    def fractions(self) -> list:
        """Times at which the dropped frames sit between their kept neighbours: j/k, j = 1..k-1."""
        return [j / self.k for j in range(1, self.k)]

    @property
    def dropped_indices(self) -> list:
        """Indices of the dropped frames in ``reference`` (and in the input clip)."""
        return self.dropped_mask.nonzero().flatten().tolist()


def _check_k(k) -> int:
    if isinstance(k, bool) or not float(k).is_integer():
        raise ValueError(f"k must be a whole number >= 2 (keep every k-th frame), got {k!r}")
    k = int(k)
    if k < 2:
        raise ValueError(f"k must be at least 2 (keep every k-th frame, drop the k-1 between), got {k}")
    return k


def drop_frames(frames: torch.Tensor, k: int, timing: FrameTiming | None = None) -> DropSplit:
    """Keep frames 0, k, 2k, ... of a clip [T,H,W,3] and return the split (see ``DropSplit``).

    The clip is trimmed after the last multiple of k, (N-1)k with N = (T-1)//k + 1, so every
    dropped frame has a kept frame on both sides. Raises ValueError for k < 2, for fewer than
    k+1 frames (two frames must be kept), or when ``timing`` does not have one entry per frame.
    """
    k = _check_k(k)
    frames = check_frames(frames, min_count=1)
    total = frames.shape[0]
    if total < k + 1:
        raise ValueError(f"drop frames with k={k} needs at least {k + 1} frames (to keep frames 0 and {k}), "
                         f"got {total}")
    if timing is not None and len(timing) != total:
        raise ValueError(f"timing has {len(timing)} timestamps but the clip has {total} frames")
    n_kept = (total - 1) // k + 1
    last = (n_kept - 1) * k                                              # index of the last kept frame
    kept_idx = list(range(0, last + 1, k))
    reference = frames[: last + 1]                                       # [(N-1)k+1,H,W,3]
    kept = frames[kept_idx]                                              # [N,H,W,3] (a copy)
    mask = torch.ones(last + 1, dtype=torch.bool)
    mask[::k] = False
    kept_timing = reference_timing = None
    if timing is not None:
        ts = timing.timestamps
        end = ts[last + 1] if last + 1 < total else timing.end           # end of the trimmed clip
        reference_timing = FrameTiming(tuple(ts[: last + 1]), end)
        kept_timing = FrameTiming(tuple(ts[i] for i in kept_idx), end)
    return DropSplit(kept, kept_timing, reference, mask, k, reference_timing)


def _round_8bit(x: torch.Tensor) -> torch.Tensor:
    """What saving as an 8-bit image keeps: clamp to 0..1 and round to multiples of 1/255."""
    return torch.round(x.clamp(0, 1) * 255.0) / 255.0


def score_frames(pred: torch.Tensor, ref: torch.Tensor, quantize: bool = True) -> tuple:
    """(psnr [B], ssim [B]) float64 of predictions against references, both [B,H,W,3].

    With ``quantize`` both are first rounded to 8 bits (clamped to 0..1), i.e. scored as they would
    be once saved as PNG/GIF/video frames (references read from files are 8-bit already; rounding
    them is then a no-op). This is the convention of the baseline numbers in the dev-data README.
    """
    pred = check_frames(pred, name="prediction")
    ref = check_frames(ref, name="reference")
    if quantize:
        pred, ref = _round_8bit(pred), _round_8bit(ref)
    return metrics.psnr(pred, ref), metrics.ssim(pred, ref)


def evaluate_drop_protocol(frames: torch.Tensor, k: int, interpolate_clip, timing: FrameTiming | None = None,
                           progress=None, quantize: bool = True) -> dict:
    """Run the drop-frames protocol on one clip (one shot) and score every rebuilt frame.

    Calls ``interpolate_clip(kept, [j/k for j=1..k-1], timing=kept_timing, progress=progress)``,
    which must return [(N-1)k+1,H,W,3]. Returns a dict:
      psnr, ssim:  lists of floats, one per dropped frame (in clip order; PSNR capped at 100 dB)
      indices:     index of each scored frame in the clip
      mean_psnr, mean_ssim: means over the dropped frames; count: how many frames were scored
      seconds:     wall time of the interpolate_clip call (scoring not included)
      kept:        how many frames the method was given; k.
    """
    split = drop_frames(frames, k, timing)
    start = time.perf_counter()
    rebuilt = interpolate_clip(split.kept, split.fractions, timing=split.kept_timing, progress=progress)
    seconds = time.perf_counter() - start
    if not isinstance(rebuilt, torch.Tensor):
        raise ValueError(f"interpolate_clip returned {type(rebuilt).__name__}, expected a tensor [T,H,W,3]")
    if tuple(rebuilt.shape) != tuple(split.reference.shape):
        raise ValueError(f"interpolate_clip returned shape {list(rebuilt.shape)}, expected "
                         f"{list(split.reference.shape)} ({split.kept.shape[0]} kept frames with "
                         f"{split.k - 1} inserted in each of the {split.kept.shape[0] - 1} intervals)")
    mask = split.dropped_mask
    p, s = score_frames(rebuilt.detach().cpu()[mask], split.reference[mask], quantize=quantize)
    return {"psnr": p.tolist(), "ssim": s.tolist(), "indices": split.dropped_indices,
            "mean_psnr": float(p.mean()), "mean_ssim": float(s.mean()), "count": int(mask.sum()),
            "seconds": seconds, "kept": int(split.kept.shape[0]), "k": split.k}


# --- triplets -------------------------------------------------------------------------------

def natural_key(text: str):
    """Sort key that puts "2" before "10"."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", text)]


def _read_png(path: Path) -> torch.Tensor:
    from PIL import Image  # noqa: PLC0415

    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except OSError as exc:
        raise ValueError(f"{path}: cannot read image ({exc})") from exc
    return torch.from_numpy(arr.copy()).float().div_(255.0).unsqueeze(0)   # [1,H,W,3]


def load_triplets(root) -> list:
    """Every folder under ``root`` (``root`` included) holding f0.png, f1.png and gt.png, as
    ``(name, f0, f1, gt)`` with float32 tensors [1,H,W,3] in 0..1; name is the folder path relative
    to root ("ucf101_adacof/7"), sorted naturally. Raises ValueError when there is none or the three
    images of a triplet differ in size."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"triplet folder {root} does not exist")
    folders = [p.parent for p in root.rglob(TRIPLET_FILES[0])
               if all((p.parent / f).is_file() for f in TRIPLET_FILES)]
    if not folders:
        raise ValueError(f"no triplets (folders with {', '.join(TRIPLET_FILES)}) under {root}")
    out = []
    for folder in sorted(set(folders), key=lambda p: natural_key(p.relative_to(root).as_posix())):
        f0, f1, gt = (_read_png(folder / f) for f in TRIPLET_FILES)
        if not f0.shape == f1.shape == gt.shape:
            raise ValueError(f"{folder}: f0, f1 and gt differ in size "
                             f"({[list(x.shape[1:3]) for x in (f0, f1, gt)]})")
        name = folder.relative_to(root).as_posix() if folder != root else folder.name
        out.append((name, f0, f1, gt))
    return out


def evaluate_triplets(interpolate_clip, root, quantize: bool = True, triplets=None) -> dict:
    """Score a method on the triplets under ``root``: interpolate_clip([f0, f1], [0.5]) must return
    3 frames; the middle one is compared with gt. ``triplets`` (from ``load_triplets``) skips reading.
    Returns {names, psnr, ssim (lists), mean_psnr, mean_ssim, count, seconds (interpolation time)}."""
    triplets = load_triplets(root) if triplets is None else triplets
    names, ps, ss, seconds = [], [], [], 0.0
    for name, f0, f1, gt in triplets:
        start = time.perf_counter()
        out = interpolate_clip(torch.cat([f0, f1]), [0.5], timing=None, progress=None)
        seconds += time.perf_counter() - start
        if not isinstance(out, torch.Tensor) or out.ndim != 4 or out.shape[0] != 3 or out.shape[1:] != gt.shape[1:]:
            got = list(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"triplet {name}: interpolate_clip returned {got}, expected [3,{gt.shape[1]},"
                             f"{gt.shape[2]},3] (f0, middle, f1)")
        p, s = score_frames(out[1:2].detach().cpu(), gt, quantize=quantize)
        names.append(name)
        ps.append(float(p[0]))
        ss.append(float(s[0]))
    return {"names": names, "psnr": ps, "ssim": ss, "mean_psnr": float(np.mean(ps)),
            "mean_ssim": float(np.mean(ss)), "count": len(ps), "seconds": seconds}


# --- dev clips --------------------------------------------------------------------------------

class DevClip(NamedTuple):
    name: str        # file name, e.g. "skv_bikes.mp4"
    path: Path
    ranges: tuple    # ((start, stop), ...) frame ranges (stop exclusive, None = to the end), one per shot


def shot_ranges(cuts) -> tuple:
    """Cut positions (last frame of each shot) -> ((0, c0+1), (c0+1, c1+1), ..., (c_last+1, None))."""
    bounds = [0] + [int(c) + 1 for c in cuts]
    return tuple(zip(bounds, bounds[1:] + [None]))


def dev_clips(root) -> list:
    """The GIFs and videos of the dev data (``root``/gifs, ``root``/videos, or ``root`` itself) as
    ``DevClip(name, path, ranges)``; a clip with known shot cuts (``SHOT_CUTS``) is split into shots,
    so the protocol never interpolates across a cut."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dev data folder {root} does not exist")
    files = []
    for folder in (root / "gifs", root / "videos", root):
        if folder.is_dir():
            files.extend(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in CLIP_EXTS)
    if not files:
        raise ValueError(f"no GIFs or videos under {root} (looked in gifs/, videos/ and the folder itself)")
    files = sorted(set(files), key=lambda p: (p.parent.name, natural_key(p.name)))
    return [DevClip(p.name, p, shot_ranges(SHOT_CUTS.get(p.name, ()))) for p in files]


def evaluate_clip(path, k: int, interpolate_clip, ranges=((0, None),), max_frames: int | None = None,
                  quantize: bool = True, progress=None) -> dict:
    """Drop-frames protocol over the shots of one clip file: each range (start, stop) is read with
    ``frames_io.read_frames`` (at most ``max_frames`` frames per shot) and scored separately; the
    result pools the dropped frames of all shots (same keys as ``evaluate_drop_protocol``, indices
    in the file, plus ``shots``: the per-shot results). Shots too short for k are skipped."""
    from .frames_io import read_frames  # noqa: PLC0415  (frame I/O only when clips are evaluated)

    pooled = {"psnr": [], "ssim": [], "indices": [], "seconds": 0.0, "kept": 0, "shots": []}
    for start, stop in ranges:
        clip = read_frames(path, start=start, stop=stop, max_frames=max_frames)
        if clip.frames.shape[0] < k + 1:
            continue
        res = evaluate_drop_protocol(clip.frames, k, interpolate_clip, timing=clip.timing,
                                     progress=progress, quantize=quantize)
        res["range"] = (start, stop)
        pooled["psnr"] += res["psnr"]
        pooled["ssim"] += res["ssim"]
        pooled["indices"] += [start + i for i in res["indices"]]
        pooled["seconds"] += res["seconds"]
        pooled["kept"] += res["kept"]
        pooled["shots"].append(res)
    if not pooled["psnr"]:
        raise ValueError(f"{path}: no shot has the {k + 1} frames the protocol needs for k={k}")
    pooled.update(mean_psnr=float(np.mean(pooled["psnr"])), mean_ssim=float(np.mean(pooled["ssim"])),
                  count=len(pooled["psnr"]), k=int(k))
    return pooled
