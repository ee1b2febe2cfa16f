"""Building an interpolated clip from a pairwise interpolator.

A pairwise method is ``pair_fn(first [B,H,W,3], second [B,H,W,3], t: float) -> [B,H,W,3]``,
giving the frame at fraction ``t`` of the way from ``first`` to ``second``. ``insert_frames``
applies it to every consecutive pair of a clip and returns the clip with the new frames in
place; the matching timing is ``FrameTiming.with_inserted(fractions)``.
"""
import torch

from .validate import check_frames


def insert_frames(frames: torch.Tensor, fractions, pair_fn, progress=None, pairs_per_call: int = 1) -> torch.Tensor:
    """Clip [N,H,W,3] -> [(N-1)*(len(fractions)+1)+1, H,W,3]: f0, f(0,t1), ..., f1, f(1,t1), ..., f(N-1).

    ``pairs_per_call`` consecutive pairs are batched into one ``pair_fn`` call.
    ``progress(done_pairs, total_pairs)`` is called after every batch (it may raise to cancel).
    """
    frames = check_frames(frames, min_count=2).cpu()        # the clip is assembled on the CPU
    fractions = [float(f) for f in fractions]
    n_pairs = frames.shape[0] - 1
    out = [frames[:1]]
    for s in range(0, n_pairs, pairs_per_call):
        e = min(s + pairs_per_call, n_pairs)
        first, second = frames[s:e], frames[s + 1:e + 1]              # [b,H,W,3] each
        inserted = [pair_fn(first, second, t).to(frames.dtype).cpu() for t in fractions]  # m x [b,H,W,3]
        for b in range(e - s):
            out.extend(x[b:b + 1] for x in inserted)
            out.append(second[b:b + 1])
        if progress is not None:
            progress(e, n_pairs)
    return torch.cat(out, dim=0)


def inserted_mask(n_inputs: int, n_fractions: int) -> torch.Tensor:
    """Bool [(N-1)*(m+1)+1]: True where ``insert_frames`` put a new frame, False at the inputs."""
    total = (n_inputs - 1) * (n_fractions + 1) + 1
    mask = torch.ones(total, dtype=torch.bool)
    mask[:: n_fractions + 1] = False
    return mask
