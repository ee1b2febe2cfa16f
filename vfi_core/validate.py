"""Input checks shared by every method: clear errors that name the problem."""
import torch


def check_frames(frames: torch.Tensor, min_count: int = 1, name: str = "frames") -> torch.Tensor:
    """Check an IMAGE batch [T,H,W,3] in 0..1 and return it as float32.

    Raises ValueError naming the problem: wrong rank or channel count, too few frames, NaN/Inf.
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
    frames = frames.float()
    if not torch.isfinite(frames).all():
        bad = (~torch.isfinite(frames)).reshape(frames.shape[0], -1).any(dim=1).nonzero().flatten().tolist()
        raise ValueError(f"{name}: NaN or Inf values in frame(s) {bad[:10]}")
    return frames


def check_same_size(a: torch.Tensor, b: torch.Tensor, names=("first", "second")) -> None:
    """Raise if two IMAGE batches differ in height/width."""
    if a.shape[1:3] != b.shape[1:3]:
        raise ValueError(f"frame sizes differ: {names[0]} is {a.shape[2]}x{a.shape[1]}, "
                         f"{names[1]} is {b.shape[2]}x{b.shape[1]} (width x height)")
