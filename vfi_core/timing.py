"""Per-frame timing of a clip (the FRAME_TIMING type) and the interpolation time schedule.

A clip of T frames is shown at ``timestamps[i]`` seconds, and the last frame ends at ``end``.
GIF delays are ``durations()``; an MP4 at a fixed rate has timestamps ``i / fps``.
"""
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FrameTiming:
    timestamps: tuple  # seconds, strictly increasing, one per frame
    end: float         # time the last frame stops showing (seconds)

    def __post_init__(self):
        ts = np.asarray(self.timestamps, dtype=np.float64)
        if ts.ndim != 1 or ts.size == 0:
            raise ValueError("FrameTiming needs at least one timestamp")
        if not np.all(np.isfinite(ts)) or not np.isfinite(self.end):
            raise ValueError("FrameTiming timestamps must be finite numbers")
        if ts.size > 1 and np.any(np.diff(ts) <= 0):
            raise ValueError("FrameTiming timestamps must be strictly increasing")
        if self.end <= ts[-1]:
            raise ValueError(f"FrameTiming end ({self.end}) must be after the last timestamp ({ts[-1]})")
        object.__setattr__(self, "timestamps", tuple(float(t) for t in ts))
        object.__setattr__(self, "end", float(self.end))

    # --- constructors -------------------------------------------------------------
    @classmethod
    def from_fps(cls, count: int, fps: float) -> "FrameTiming":
        if count < 1:
            raise ValueError("FrameTiming.from_fps needs at least one frame")
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        return cls(tuple(i / fps for i in range(count)), count / fps)

    @classmethod
    def from_durations(cls, durations) -> "FrameTiming":
        """From per-frame display durations in seconds (e.g. GIF delays)."""
        d = np.asarray(durations, dtype=np.float64)
        if d.size == 0 or np.any(d <= 0):
            raise ValueError("every frame duration must be positive")
        starts = np.concatenate([[0.0], np.cumsum(d)[:-1]])
        return cls(tuple(starts), float(np.sum(d)))

    # --- views ---------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.timestamps)

    def durations(self) -> np.ndarray:
        """Display duration of every frame in seconds, [T]."""
        ts = np.asarray(self.timestamps + (self.end,))
        return np.diff(ts)

    def fps(self) -> float:
        """Average frame rate (frames / total duration)."""
        return len(self) / (self.end - self.timestamps[0])

    def normalised(self) -> np.ndarray:
        """Timestamps mapped to [0, 1] (first frame 0, last frame 1), [T]; [0] for one frame."""
        ts = np.asarray(self.timestamps)
        span = ts[-1] - ts[0]
        return (ts - ts[0]) / span if span > 0 else np.zeros_like(ts)

    def subset(self, indices) -> "FrameTiming":
        """Timing of the frames at ``indices`` (sorted); each keeps its start time, and a kept
        frame shows until the next kept one (the last until the original end)."""
        idx = sorted(int(i) for i in indices)
        if not idx:
            raise ValueError("subset needs at least one frame")
        return FrameTiming(tuple(self.timestamps[i] for i in idx), self.end)

    def with_inserted(self, fractions) -> "FrameTiming":
        """Timing after inserting a frame at each fraction in ``fractions`` (0 < f < 1) inside
        every interval between consecutive frames: interval [a, b] gets a + f·(b - a), giving
        (T-1)·(len(fractions)+1)+1 timestamps (as ``sequence.insert_frames``). The last frame keeps
        its start and the clip its end, so a GIF keeps its total length."""
        fr = sorted(float(f) for f in fractions)
        if any(not 0.0 < f < 1.0 for f in fr):
            raise ValueError(f"insertion fractions must lie strictly between 0 and 1, got {fr}")
        ts = list(self.timestamps)
        out = []
        for a, b in zip(ts[:-1], ts[1:]):
            out.append(a)
            out.extend(a + f * (b - a) for f in fr)
        out.append(ts[-1])
        return FrameTiming(tuple(out), self.end)


def multiplier_fractions(multiplier: int) -> list:
    """Times inserted between each pair for a frame-rate multiplier m: t = j/m, j = 1..m-1."""
    m = int(multiplier)
    if m < 1:
        raise ValueError(f"multiplier must be >= 1, got {multiplier}")
    return [j / m for j in range(1, m)]


def parse_times(text: str) -> list:
    """Explicit in-between times from a widget string such as "0.25, 0.5, 0.75"."""
    try:
        values = [float(v) for v in text.replace(";", ",").split(",") if v.strip()]
    except ValueError as exc:
        raise ValueError(f"could not read times {text!r}: use numbers between 0 and 1 separated by commas") from exc
    if not values:
        raise ValueError("no times given: write numbers between 0 and 1 separated by commas")
    if any(not 0.0 < v < 1.0 for v in values):
        raise ValueError(f"times must lie strictly between 0 and 1, got {values}")
    return sorted(set(values))
