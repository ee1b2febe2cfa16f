"""Training triplets (I0, I_0.5, I1) for midpoint interpolators such as SepConv.

Sources (each has ``sample(rng) -> (first, middle, last)`` float32 [h,w,3] in 0..1):

* :class:`SyntheticSource` — on-the-fly FlyingChairs-style renders (``synthetic_motion``), exact
  middle frames, motion limited to the network's reach;
* :class:`FolderTriplets` — consecutive frame triplets (optionally strided) from the user's videos
  or frame folders, read with ``frames_io.iter_frames``; triplets across a shot cut (mean absolute
  frame difference above ``cut_threshold``) or with almost no motion (below ``min_motion``) are
  rejected; folders holding ``f0/gt/f1`` images are taken as ready triplets.

:class:`TripletStream` turns a source into batches of NCHW tensors from one
``numpy.random.Generator`` whose state is JSON-serialisable (checkpointed by the trainer), so the
stream resumes exactly. :func:`load_triplet_folder` reads held triplets for validation.
"""
import copy
from pathlib import Path

import numpy as np

from . import frame_reader
from .augment import augment_triplet
from .triplet_workers import WorkerStreams, stack_triplets, streams_for

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_EXTS = frame_reader.VIDEO_EXTS | {".gif", ".apng"}   # clips found in training folders
TRIPLET_NAMES = ("f0", "gt", "f1")


class SyntheticSource:
    """Synthetic triplets of ``crop`` size with motion up to ``reach`` pixels (I_0.5 to either input),
    plus the shared augmentation (extra I0/I1 offset up to ``max_shift``, flips, reversal).

    ``static_fraction``: probability of a still background *and* no extra offset (a static camera),
    and, independently, of each foreground layer standing still; 0 = everything moves."""

    def __init__(self, crop=(128, 128), reach: int = 25, max_shift: int = 2, photos=None,
                 static_fraction: float = 0.0):
        from .synthetic_motion import SyntheticTriplets

        self.crop = (int(crop[0]), int(crop[1]))
        self.max_shift = int(max(0, min(max_shift, reach // 4)))
        canvas = (self.crop[0] + 2 * self.max_shift, self.crop[1] + 2 * self.max_shift)
        # the offset adds up to max_shift px per axis on top of the rendered motion
        self.synth = SyntheticTriplets(canvas, max_disp=max(0.0, reach - self.max_shift * 1.5), photos=photos,
                                       static_fraction=static_fraction)

    def sample(self, rng: np.random.Generator):
        still_camera = self.synth.draw_static(rng)
        f0, gt, f1 = self.synth.sample(rng, static_background=still_camera)
        return augment_triplet(f0, gt, f1, rng, self.crop, 0 if still_camera else self.max_shift)

    def describe(self) -> str:
        still = f", {self.synth.static_fraction:g} static" if self.synth.static_fraction > 0 else ""
        return (f"synthetic FlyingChairs-style layers from scikit-image photos, max displacement "
                f"{self.synth.max_disp:g}px{still}")


def _is_triplet_dir(d: Path) -> bool:
    stems = {p.stem.lower() for p in d.iterdir() if p.suffix.lower() in IMAGE_EXTS}
    return set(TRIPLET_NAMES) <= stems


def _triplet_files(d: Path) -> list:
    files = {p.stem.lower(): p for p in d.iterdir() if p.suffix.lower() in IMAGE_EXTS}
    return [files[n] for n in TRIPLET_NAMES]


def _read_image(path: Path) -> np.ndarray:
    from PIL import Image
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def find_clips(paths) -> tuple:
    """(clips, triplet_dirs): videos / frame folders, and folders holding f0, gt, f1 images,
    found under each path (a file, a frame folder, or a folder of those, searched recursively)."""
    clips, triplets = [], []
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise ValueError(f"training data path does not exist: {p}")
        if p.is_file():
            clips.append(p)
            continue
        if _is_triplet_dir(p):
            triplets.append(p)
            continue
        entries = sorted(p.iterdir())
        if sum(e.suffix.lower() in IMAGE_EXTS for e in entries if e.is_file()) >= 3:
            clips.append(p)                                       # a frame sequence
            continue
        for e in entries:
            if e.is_dir():
                c, t = find_clips([e])
                clips.extend(c)
                triplets.extend(t)
            elif e.suffix.lower() in VIDEO_EXTS:
                clips.append(e)
    return clips, triplets


class FolderTriplets:
    """Consecutive triplets from the user's videos / frame folders (see module docstring).

    Args:
        paths: files or folders.
        crop: training crop (h, w); frames smaller than the crop are skipped.
        stride: frame step inside a triplet (1 = consecutive frames t, t+1, t+2; 2 = t, t+2, t+4).
        cut_threshold: reject a triplet when the mean absolute difference (0..255) between two of
            its consecutive frames exceeds this (a shot cut).
        min_motion: reject a triplet when the mean absolute difference between I0 and I1 is below
            this (static content teaches nothing).
        max_frames: frames read per clip (memory bound: frames are kept as uint8).
        max_shift: extra I0/I1 offset of the augmentation.
    """

    def __init__(self, paths, crop=(128, 128), stride: int = 1, cut_threshold: float = 40.0,
                 min_motion: float = 1.0, max_frames: int = 600, max_shift: int = 2):
        from .frames_io import iter_frames

        if int(stride) < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        self.crop, self.stride, self.max_shift = (int(crop[0]), int(crop[1])), int(stride), int(max_shift)
        self.cut_threshold, self.min_motion = float(cut_threshold), float(min_motion)
        clips, triplet_dirs = find_clips(paths)
        self.frames = []        # list of uint8 [T,H,W,3] arrays (one per clip)
        self.index = []         # (clip, i): triplet frames i, i+stride, i+2*stride
        self.rejected = {"cut": 0, "static": 0, "small": 0}
        for clip in clips:
            arrays = [a for a, _ in iter_frames(clip, max_frames=int(max_frames))]
            self._add_clip(arrays)
        for d in triplet_dirs:
            self._add_clip([_read_image(f) for f in _triplet_files(d)], ready=True)
        if not self.index:
            raise ValueError(f"no usable training triplets in {[str(p) for p in paths]} "
                             f"(rejected: {self.rejected}; crop {self.crop[1]}x{self.crop[0]})")

    def _add_clip(self, arrays, ready: bool = False):
        if len(arrays) < 3:
            return
        shapes = {a.shape for a in arrays}
        if len(shapes) != 1:
            return
        h, w = arrays[0].shape[:2]
        if h < self.crop[0] or w < self.crop[1]:
            self.rejected["small"] += 1
            return
        stack = np.stack(arrays)                                     # [T,H,W,3] uint8
        c = len(self.frames)
        s = 1 if ready else self.stride
        if ready:                                                    # f0, gt, f1 -> frames 0, 1, 2
            stack = stack[[0, 1, 2]]
        for i in range(0, stack.shape[0] - 2 * s):
            a, b, d = (stack[i + k * s].astype(np.int16) for k in range(3))
            if max(np.abs(a - b).mean(), np.abs(b - d).mean()) > self.cut_threshold:
                self.rejected["cut"] += 1
            elif np.abs(a - d).mean() < self.min_motion:
                self.rejected["static"] += 1
            else:
                self.index.append((c, i, s))
        self.frames.append(stack)

    def __len__(self) -> int:
        return len(self.index)

    def sample(self, rng: np.random.Generator):
        c, i, s = self.index[int(rng.integers(len(self.index)))]
        f = self.frames[c]
        return augment_triplet(f[i], f[i + s], f[i + 2 * s], rng, self.crop, self.max_shift)

    def describe(self) -> str:
        return f"{len(self.index)} triplets from {len(self.frames)} clips (rejected {self.rejected})"


class MixedSource:
    """Draw from several sources with given weights."""

    def __init__(self, sources, weights=None):
        self.sources = list(sources)
        w = np.asarray(weights if weights is not None else [1.0] * len(self.sources), np.float64)
        self.p = w / w.sum()

    def sample(self, rng: np.random.Generator):
        return self.sources[int(rng.choice(len(self.sources), p=self.p))].sample(rng)

    def describe(self) -> str:
        return " + ".join(s.describe() for s in self.sources)


class TripletStream:
    """Batches of triplets from a source, reproducible from ``state()``.

    ``next_batch()`` -> (first, middle, last), float32 NCHW [B,3,h,w] each.

    ``workers`` 0 draws in this process from one generator (``default_rng(seed)``; its state is the
    checkpointed state, as before workers existed); ``workers`` N > 0 draws in N processes, one
    stream each (``triplet_workers``: the same sequence for the same N on resume; one worker gives
    the in-process sequence). ``pin_memory``: page-locked batches for asynchronous GPU copies.
    ``close()`` stops the worker processes (the next batch restarts them where the run is).
    """

    def __init__(self, source, batch: int = 4, seed: int = 0, workers: int = 0, pin_memory: bool = False):
        if int(batch) < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        if int(workers) < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        self.source, self.batch, self.seed, self.workers = source, int(batch), int(seed), int(workers)
        self.pin_memory = bool(pin_memory)
        self.rng = np.random.default_rng(self.seed)
        self._pool = None
        if self.workers:
            self._pool = WorkerStreams(source, self.batch, self.workers, self.seed, pin_memory=self.pin_memory)

    def next_batch(self):
        if self._pool is not None:
            return self._pool.next_batch()
        batch = stack_triplets([self.source.sample(self.rng) for _ in range(self.batch)])
        return tuple(t.pin_memory() for t in batch) if self.pin_memory else batch

    def state(self) -> dict:
        """JSON-serialisable generator state (workers: every stream's, and whose turn is next)."""
        if self._pool is not None:
            return self._pool.state()
        return copy.deepcopy(self.rng.bit_generator.state)

    def set_state(self, state: dict) -> None:
        """Continue from ``state()`` of a stream with any worker count (``triplet_workers.streams_for``)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = WorkerStreams(self.source, self.batch, self.workers, self.seed, state=state,
                                       pin_memory=self.pin_memory)
            return
        if "workers" in state:
            state = streams_for(state, 1, self.seed)[0][0]     # stream 0 is the in-process stream
        self.rng.bit_generator.state = copy.deepcopy(state)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()


def load_triplet_folder(path, limit: int | None = None) -> list:
    """Held triplets: every sub-folder of ``path`` (or ``path`` itself) with f0, gt, f1 images ->
    list of (name, first, middle, last) float32 [H,W,3] arrays in 0..1, sorted by name."""
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"triplet folder does not exist: {path}")
    dirs = [path] if _is_triplet_dir(path) else sorted((d for d in path.iterdir() if d.is_dir() and _is_triplet_dir(d)),
                                                     key=lambda d: (len(d.name), d.name))
    if not dirs:
        raise ValueError(f"no f0/gt/f1 triplets under {path}")
    out = []
    for d in dirs[:limit]:
        f0, gt, f1 = (_read_image(f).astype(np.float32) / 255.0 for f in _triplet_files(d))
        out.append((d.name, f0, gt, f1))
    return out


def synthetic_validation_set(count: int = 8, size=(96, 96), reach: int = 12, seed: int = 20171022) -> list:
    """The project's own held synthetic triplets (fixed seed, never drawn by training streams):
    list of (name, first, middle, last) float32 [h,w,3]."""
    from .synthetic_motion import SyntheticTriplets

    synth = SyntheticTriplets(size, max_disp=reach)
    rng = np.random.default_rng(seed)
    return [(f"synthetic{i}", *synth.sample(rng)) for i in range(count)]
