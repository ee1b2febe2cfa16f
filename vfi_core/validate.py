"""Input checks shared by every method: clear errors that name the problem."""
import torch


# Values accepted in an IMAGE: 0..1 with room for the overshoot of sharpening or resampling nodes;
# beyond it the data is on another scale (0..255 pixels, -1..1 network outputs) and would give garbage.
VALUE_RANGE = (-0.5, 1.5)


def check_frames(frames: torch.Tensor, min_count: int = 1, name: str = "frames") -> torch.Tensor:
    """Check an IMAGE batch [T,H,W,3] in 0..1 and return it as float32.

    Raises ValueError naming the problem: wrong rank or channel count, too few frames, integer
    data, NaN/Inf, values outside ``VALUE_RANGE`` (0..255 data).
    """
    if not isinstance(frames, torch.Tensor):
        raise TypeError(f"{name}: expected a torch tensor [T,H,W,3], got {type(frames).__name__}")
    if frames.ndim != 4:
        raise ValueError(f"{name}: expected shape [frames, height, width, 3], got {list(frames.shape)}")
    if frames.shape[-1] != 3:
        raise ValueError(f"{name}: expected 3 colour channels (RGB), got {frames.shape[-1]}; "
                         "convert RGBA/grayscale to RGB first (Load Frames does this)")
    if frames.shape[0] < min_count:
        raise ValueError(f"{name}: need at least {min_count} frame(s), got {frames.shape[0]}")
    if frames.shape[1] < 1 or frames.shape[2] < 1:
        raise ValueError(f"{name}: empty frames of size {frames.shape[2]}x{frames.shape[1]}")
    if not (frames.is_floating_point()):
        raise ValueError(f"{name}: IMAGE holds floats in 0..1, got {frames.dtype} values; divide 8-bit "
                         "values by 255 (Load Frames gives 0..1 floats)")
    frames = frames.float()
    if not torch.isfinite(frames).all():
        bad = (~torch.isfinite(frames)).reshape(frames.shape[0], -1).any(dim=1).nonzero().flatten().tolist()
        raise ValueError(f"{name}: NaN or Inf values in frame(s) {bad[:10]}")
    check_value_range(frames, name)
    return frames


def check_value_range(frames: torch.Tensor, name: str = "frames") -> None:
    """Raise ValueError naming the frames whose values leave ``VALUE_RANGE`` ([T,...], finite)."""
    per_frame = frames.reshape(frames.shape[0], -1)                       # [T, H*W*C]
    lo, hi = per_frame.amin(dim=1), per_frame.amax(dim=1)
    outside = ((lo < VALUE_RANGE[0]) | (hi > VALUE_RANGE[1])).nonzero().flatten().tolist()
    if outside:
        raise ValueError(f"{name}: values from {float(lo.min()):.4g} to {float(hi.max()):.4g} in frame(s) "
                         f"{outside[:10]}; IMAGE values are 0..1 (for 0..255 data divide by 255)")


def check_same_size(a: torch.Tensor, b: torch.Tensor, names=("first", "second")) -> None:
    """Raise if two IMAGE batches differ in height/width."""
    if a.shape[1:3] != b.shape[1:3]:
        raise ValueError(f"frame sizes differ: {names[0]} is {a.shape[2]}x{a.shape[1]}, "
                         f"{names[1]} is {b.shape[2]}x{b.shape[1]} (width x height)")
