"""Training samples for the flow-guided interpolator: (I_0, I_t, I_1, t) with the DIS flows of the pair.

Unlike the midpoint triplets of ``triplet_data``, a sample may sit at any time t in (0, 1), so the
network learns every multiplier without bisection. Sources (``sample(rng)`` -> ``FlowSample``):

* :class:`SyntheticAnyTime` — the project's FlyingChairs-style layers (``synthetic_motion``)
  rendered at 0, t, 1: the frame at t is exact for any t; still cameras and still layers with
  probability ``static_fraction``; optional Gaussian noise (sigma drawn up to ``noise``,
  independent in every frame, the target included), so that the network does not learn to
  sharpen: noise-free renders reward sharpening the (twice resampled) warped frames, which costs
  0.7 dB on real footage (a 3x3 unsharp mask of strength 0.3 on the Flow Warp's output, UCF101 dev);
* :class:`FolderAnyTime` — frames i, i+j, i+n of the user's videos / frame folders (``find_clips``),
  t = j/n for gaps n up to ``max_gap``; windows across a shot cut (mean absolute difference of two
  consecutive frames above ``cut_threshold``) or without motion are rejected.

Both flip the sample at random and reverse it in time (I_0 <-> I_1, t -> 1 - t). The DIS flows
F_{0->1}, F_{1->0} of the final crop are computed per sample (``flow.dis_flow_pair``, the Flow
Warp's preset); at 128x128 that is a small part of a training step, so nothing is cached.
:class:`FlowSampleStream` batches samples from one ``numpy.random.Generator`` whose state is
checkpointed, so a resumed run draws the same data.
"""
import copy
from typing import NamedTuple

import numpy as np
import torch

from .flow import dis_estimator, dis_flow_pair, to_gray_uint8


class FlowSample(NamedTuple):
    first: np.ndarray      # [h,w,3] float32 0..1
    target: np.ndarray     # [h,w,3] the true frame at t
    last: np.ndarray       # [h,w,3]
    t: float
    flow_01: np.ndarray | None = None   # [h,w,2] DIS flows when the source computed them (else ``collate`` does)
    flow_10: np.ndarray | None = None


def draw_time(rng: np.random.Generator, midpoint_share: float = 0.5) -> float:
    """t = 1/2 with probability ``midpoint_share`` (multiplier 2, the triplet benchmarks), else
    uniform in [1/8, 7/8] (other multipliers and explicit times)."""
    if rng.random() < midpoint_share:
        return 0.5
    return float(rng.uniform(0.125, 0.875))


def flip_reverse(sample: FlowSample, rng: np.random.Generator) -> FlowSample:
    """Random horizontal / vertical flip of all three frames; random reversal in time (t -> 1-t).
    Flows, when the sample has them, are flipped (and their component negated) and swapped with
    the frames."""
    frames = [sample.first, sample.target, sample.last]
    flows = [sample.flow_01, sample.flow_10] if sample.flow_01 is not None else None
    if rng.random() < 0.5:
        frames = [f[:, ::-1] for f in frames]
        flows = flows and [f[:, ::-1] * np.array([-1.0, 1.0], np.float32) for f in flows]
    if rng.random() < 0.5:
        frames = [f[::-1] for f in frames]
        flows = flows and [f[::-1] * np.array([1.0, -1.0], np.float32) for f in flows]
    t = sample.t
    if rng.random() < 0.5:
        frames, t = frames[::-1], 1.0 - t
        flows = flows and flows[::-1]
    flows = [np.ascontiguousarray(f, dtype=np.float32) for f in flows] if flows else []
    return FlowSample(*(np.ascontiguousarray(f, dtype=np.float32) for f in frames), t, *flows)


class SyntheticAnyTime:
    """Synthetic layers rendered at 0, t, 1 (``SyntheticTriplets.render``), ``crop`` (h, w) pixels,
    displacement between I_t and either input up to ``max_disp`` px (so up to 2·max_disp from
    I_0 to I_1: the flow, not the kernel, has to cover it)."""

    def __init__(self, crop=(128, 128), max_disp: float = 16.0, static_fraction: float = 0.25,
                 midpoint_share: float = 0.5, photos=None, noise: float = 0.0):
        from .synthetic_motion import SyntheticTriplets

        if not 0.0 <= float(noise) <= 0.5:
            raise ValueError(f"noise must lie in [0, 0.5], got {noise}")
        self.crop, self.noise = (int(crop[0]), int(crop[1])), float(noise)
        self.midpoint_share = float(midpoint_share)
        self.synth = SyntheticTriplets(self.crop, max_disp=max_disp, photos=photos, static_fraction=static_fraction)

    def sample(self, rng: np.random.Generator) -> FlowSample:
        still_camera = self.synth.draw_static(rng)
        layers = self.synth.sample_layers(rng, static_background=still_camera)
        t = draw_time(rng, self.midpoint_share)
        frames = [self.synth.render(layers, x) for x in (0.0, t, 1.0)]
        if self.noise > 0:                     # sensor/compression noise, independent per frame (target too)
            sigma = float(rng.uniform(0.0, self.noise))
            frames = [np.clip(f + rng.normal(0.0, sigma, f.shape).astype(np.float32), 0.0, 1.0) for f in frames]
        return flip_reverse(FlowSample(*frames, t), rng)

    def describe(self) -> str:
        still = f", {self.synth.static_fraction:g} static" if self.synth.static_fraction > 0 else ""
        noise = f", Gaussian noise sigma up to {self.noise:g}" if self.noise > 0 else ""
        return (f"synthetic layers at any t, {self.crop[1]}x{self.crop[0]}, max displacement "
                f"{self.synth.max_disp:g}px{still}{noise}")


class FolderAnyTime:
    """Frames i, i+j, i+n (t = j/n, 2 <= n <= ``max_gap``) of videos / frame folders (module docstring).

    ``scales``: each clip is also used downscaled by these factors (area resampling), so one
    high-resolution video gives the motion magnitudes of smaller footage too. ``drop_repeats``:
    frames that repeat their predecessor (a frame-rate conversion's duplicates: a step below a
    quarter of its neighbours' median and below 0.5 grey levels) are removed first, so that t = j/n
    holds. ``holdout``: the last N frames of every clip are kept out of training
    (``held_out_samples`` makes validation samples of them). ``full_flows``: the DIS flows of a
    window are computed on the whole (scaled) frame, as at inference, and cropped with the frames
    (computed once per window and kept, float16); otherwise ``collate`` computes them on the crop.
    ``flow_margin`` (with ``full_flows``): instead of the whole frame's flows (cached per window, which
    for an hour of training on a few dozen clips means tens of GB), DIS runs per sample on the crop
    grown by this many pixels on each side (clipped to the frame), and the crop's part is kept: the
    flow sees motion entering from up to ``flow_margin`` px outside the crop, as on a whole frame,
    at a fixed cost per sample and no memory. ``jpeg``: each scaled clip is also used with every frame
    JPEG-compressed at these qualities (OpenCV's encoder, 4:2:0), the target frame too — the blocking and ringing of compressed footage,
    which clean renders lack."""

    def __init__(self, paths, crop=(128, 128), max_gap: int = 4, cut_threshold: float = 40.0,
                 min_motion: float = 1.0, max_frames: int = 600, midpoint_share: float = 0.5, scales=(1.0,),
                 drop_repeats: bool = False, holdout: int = 0, full_flows: bool = False, preset: str = "medium",
                 jpeg=(), flow_margin: int = 0):
        from .frames_io import iter_frames
        from .triplet_data import find_clips

        if int(max_gap) < 2:
            raise ValueError(f"max_gap must be >= 2 (one frame between the inputs), got {max_gap}")
        scales = tuple(float(x) for x in scales)
        if not scales or min(scales) <= 0 or max(scales) > 1:
            raise ValueError(f"scales must lie in (0, 1], got {list(scales)}")
        if int(holdout) < 0:
            raise ValueError(f"holdout must be >= 0 frames, got {holdout}")
        jpeg = tuple(int(q) for q in jpeg)
        if any(not 1 <= q <= 100 for q in jpeg):
            raise ValueError(f"jpeg qualities must lie in 1..100, got {list(jpeg)}")
        self.jpeg = jpeg
        if int(flow_margin) < 0:
            raise ValueError(f"flow_margin must be >= 0 pixels, got {flow_margin}")
        if int(flow_margin) and not full_flows:
            raise ValueError("flow_margin applies to full_flows (--flow-margin needs --full-flows): "
                             "without it DIS runs on the bare crop")
        self.flow_margin = int(flow_margin)
        self.crop, self.max_gap, self.scales = (int(crop[0]), int(crop[1])), int(max_gap), scales
        self.midpoint_share, self.full_flows, self.preset = float(midpoint_share), bool(full_flows), preset
        clips, _ = find_clips(paths)
        self.frames, self.index, self.held = [], [], []
        self.rejected = {"cut": 0, "static": 0, "small": 0, "repeated_frames": 0}
        self._flows, self._dis = {}, None
        for clip in clips:
            arrays = [a for a, _ in iter_frames(clip, max_frames=int(max_frames))]
            if len(arrays) < 3 or len({a.shape for a in arrays}) != 1:
                continue
            stack = np.stack(arrays)                                         # [T,H,W,3] uint8
            if drop_repeats:
                keep = ~repeated_frames(stack)
                self.rejected["repeated_frames"] += int((~keep).sum())
                stack = stack[keep]
            if holdout:
                self.held.append(stack[-int(holdout):])
                stack = stack[:-int(holdout)]
            for scale in scales:
                scaled = resize_stack(stack, scale)
                self._add_stack(scaled, cut_threshold, min_motion)
                for quality in jpeg:
                    self._add_stack(jpeg_stack(scaled, quality), cut_threshold, min_motion)
        if not self.index:
            raise ValueError(f"no usable training windows in {[str(p) for p in paths]} "
                             f"(rejected: {self.rejected}; crop {self.crop[1]}x{self.crop[0]})")

    def _add_stack(self, stack: np.ndarray, cut_threshold: float, min_motion: float) -> None:
        if stack.shape[0] < 3:
            return
        if stack.shape[1] < self.crop[0] or stack.shape[2] < self.crop[1]:
            self.rejected["small"] += 1
            return
        steps = np.abs(np.diff(stack.astype(np.int16), axis=0)).mean(axis=(1, 2, 3))  # [T-1]
        c = len(self.frames)
        for i in range(stack.shape[0] - 2):
            for n in range(2, min(self.max_gap, stack.shape[0] - 1 - i) + 1):
                if steps[i:i + n].max() > cut_threshold:
                    self.rejected["cut"] += 1
                elif np.abs(stack[i].astype(np.int16) - stack[i + n]).mean() < min_motion:
                    self.rejected["static"] += 1
                else:
                    self.index.append((c, i, n))
        self.frames.append(stack)

    def _dis_both_ways(self, clip: np.ndarray, i: int, n: int, region=(slice(None), slice(None))):
        """DIS flows F_{0->1}, F_{1->0} of frames i, i+n of ``clip`` [T,H,W,3] uint8 on ``region``
        (rows, columns): float32 [h,w,2] each."""
        from .flow import dis_estimator, dis_flow_pair

        if self._dis is None:
            self._dis = dis_estimator(self.preset)
        g0, g1 = (to_gray_uint8(torch.from_numpy(clip[k:k + 1][(slice(None), *region)].astype(np.float32) / 255.0))[0]
                  for k in (i, i + n))
        return dis_flow_pair(g0, g1, dis=self._dis), dis_flow_pair(g1, g0, dis=self._dis)

    def window_flows(self, c: int, i: int, n: int):
        """DIS flows F_{0->1}, F_{1->0} of frames i, i+n of stack c on the whole frame, float16 [H,W,2] each."""
        key = (c, i, n)
        if key not in self._flows:
            self._flows[key] = tuple(f.astype(np.float16) for f in self._dis_both_ways(self.frames[c], i, n))
        return self._flows[key]

    def margin_flows(self, clip: np.ndarray, i: int, n: int, y: int, x: int):
        """DIS flows F_{0->1}, F_{1->0} of frames i, i+n of ``clip`` [T,H,W,3] on the crop at (y, x)
        grown by ``flow_margin`` px on each side, cut back to the crop: float32 [h,w,2] each."""
        h, w = clip.shape[1:3]
        m = self.flow_margin
        y0, x0 = max(0, y - m), max(0, x - m)
        y1, x1 = min(h, y + self.crop[0] + m), min(w, x + self.crop[1] + m)
        inner = (slice(y - y0, y - y0 + self.crop[0]), slice(x - x0, x - x0 + self.crop[1]))
        return tuple(f[inner] for f in self._dis_both_ways(clip, i, n, (slice(y0, y1), slice(x0, x1))))

    def sample(self, rng: np.random.Generator) -> FlowSample:
        c, i, n = self.index[int(rng.integers(len(self.index)))]
        if rng.random() < self.midpoint_share and n % 2 == 0:
            j = n // 2
        else:
            j = int(rng.integers(1, n))
        clip = self.frames[c]
        h, w = clip.shape[1:3]
        y = int(rng.integers(0, h - self.crop[0] + 1))
        x = int(rng.integers(0, w - self.crop[1] + 1))
        window = (slice(y, y + self.crop[0]), slice(x, x + self.crop[1]))
        first, target, last = (clip[k][window].astype(np.float32) / 255.0 for k in (i, i + j, i + n))
        flows = ()
        if self.flow_margin:                                             # implies full_flows
            flows = self.margin_flows(clip, i, n, y, x)
        elif self.full_flows:
            flows = tuple(f[window].astype(np.float32) for f in self.window_flows(c, i, n))
        return flip_reverse(FlowSample(first, target, last, j / n, *flows), rng)

    def held_out_samples(self, scale: float = 0.5) -> list:
        """Validation samples of the held-out frames at ``scale``, whole frames: t = 1/2 of frames
        i, i+2 (i even), and t = 1/4, 1/2, 3/4 in turn of frames i, i+4 (i a multiple of 4)."""
        out = []
        for stack in self.held:
            stack = resize_stack(stack, scale)
            for i in range(0, stack.shape[0] - 2, 2):
                out.append(_frames_sample(stack, i, 1, 2))
            for m, i in enumerate(range(0, stack.shape[0] - 4, 4)):
                out.append(_frames_sample(stack, i, 1 + m % 3, 4))
        return out

    def describe(self) -> str:
        scales = f", scales {list(self.scales)}" if self.scales != (1.0,) else ""
        held = f", last {self.held[0].shape[0]} frames of each clip held out" if self.held else ""
        flows = ", flows on whole frames" if self.full_flows else ""
        if self.flow_margin:
            flows = f", flows on the crop grown by {self.flow_margin} px"
        flows += f", also JPEG-compressed at quality {list(self.jpeg)}" if self.jpeg else ""
        return (f"{len(self.index)} windows (gap <= {self.max_gap}) from {len(self.frames)} clips{scales}{held}"
                f"{flows} (rejected {self.rejected})")


def _frames_sample(stack: np.ndarray, i: int, j: int, n: int) -> FlowSample:
    return FlowSample(*(stack[k].astype(np.float32) / 255.0 for k in (i, i + j, i + n)), j / n)


def repeated_frames(stack: np.ndarray) -> np.ndarray:
    """[T] bool: frame k repeats frame k-1 (mean absolute step below 0.5 grey levels and below a
    quarter of the median of the neighbouring steps), as a 24 -> 25 fps conversion leaves them."""
    steps = np.abs(np.diff(stack.astype(np.int16), axis=0)).mean(axis=(1, 2, 3))  # [T-1], step k: k -> k+1
    out = np.zeros(stack.shape[0], dtype=bool)
    for k, s in enumerate(steps):
        near = np.concatenate([steps[max(0, k - 2):k], steps[k + 1:k + 3]])
        if s < 0.5 and near.size and s < 0.25 * float(np.median(near)):
            out[k + 1] = True
    return out


def jpeg_stack(stack: np.ndarray, quality: int) -> np.ndarray:
    """[T,H,W,3] uint8 RGB with every frame JPEG-encoded at ``quality`` and decoded."""
    import cv2

    out = []
    for f in stack:
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(f[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        out.append(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    return np.ascontiguousarray(np.stack(out))


def resize_stack(stack: np.ndarray, scale: float) -> np.ndarray:
    """[T,H,W,3] uint8 downscaled by ``scale`` (area resampling; 1 = unchanged)."""
    if scale == 1.0:
        return stack
    import cv2

    h, w = stack.shape[1:3]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in stack])


class MixedAnyTime:
    """Draw evenly from several sources."""

    def __init__(self, sources):
        self.sources = list(sources)

    def sample(self, rng: np.random.Generator) -> FlowSample:
        return self.sources[int(rng.integers(len(self.sources)))].sample(rng)

    def describe(self) -> str:
        return " + ".join(s.describe() for s in self.sources)


class FlowSampleStream:
    """Batches of samples with their DIS flows, reproducible from ``state()``.

    ``next_batch()`` -> dict of tensors: first, target, last [B,h,w,3] (IMAGE layout), flow_01,
    flow_10 [B,h,w,2] (pixels), t [B]."""

    def __init__(self, source, batch: int = 8, seed: int = 0, preset: str = "medium"):
        if int(batch) < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self.source, self.batch, self.preset = source, int(batch), preset
        self.rng = np.random.default_rng(int(seed))
        self.dis = dis_estimator(preset)

    def next_batch(self) -> dict:
        samples = [self.source.sample(self.rng) for _ in range(self.batch)]
        return collate(samples, self.dis)

    def state(self) -> dict:
        return copy.deepcopy(self.rng.bit_generator.state)

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = copy.deepcopy(state)


def collate(samples, dis) -> dict:
    """FlowSamples -> the batch dict of ``FlowSampleStream.next_batch`` (DIS both ways per sample,
    unless the sample brings its flows)."""
    first, target, last = (torch.from_numpy(np.stack([getattr(s, k) for s in samples]))
                           for k in ("first", "target", "last"))            # [B,h,w,3]
    g0, g1 = to_gray_uint8(first), to_gray_uint8(last)
    f01 = np.stack([s.flow_01 if s.flow_01 is not None else dis_flow_pair(a, b, dis=dis)
                    for s, a, b in zip(samples, g0, g1)])
    f10 = np.stack([s.flow_10 if s.flow_10 is not None else dis_flow_pair(b, a, dis=dis)
                    for s, a, b in zip(samples, g0, g1)])
    return {"first": first, "target": target, "last": last, "flow_01": torch.from_numpy(f01),
            "flow_10": torch.from_numpy(f10), "t": torch.tensor([s.t for s in samples], dtype=torch.float32)}


def synthetic_validation_set(count: int = 8, size=(128, 128), max_disp: float = 16.0, seed: int = 20180618) -> list:
    """Held synthetic samples at several times (fixed seed, never drawn by training streams)."""
    from .synthetic_motion import SyntheticTriplets

    synth = SyntheticTriplets(size, max_disp=max_disp)
    rng = np.random.default_rng(seed)
    times = (0.5, 0.25, 0.75, 0.5, 1 / 3, 2 / 3, 0.5, 0.125)
    out = []
    for i in range(count):
        layers = synth.sample_layers(rng)
        t = times[i % len(times)]
        out.append(FlowSample(*(synth.render(layers, x) for x in (0.0, t, 1.0)), t))
    return out
