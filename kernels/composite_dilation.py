"""Composite dilation: tap offsets of a dense inner kernel plus a dilated outer ring.

A seed variant of SepConv's kernels (this project's, not the paper's): each 1-D kernel keeps its
``d_in`` (odd) central taps dense and spends ``d_out`` (even) further taps, ``d_out/2`` on each side,
spaced ``dilation`` pixels apart beyond the dense part. The taps feed
``separable_local_conv(..., offsets=composite_dilation_offsets(d_in, d_out, dilation))``.

Mapping M (tap index k = 0 .. d_in + d_out - 1 -> pixel offset), with r = d_in // 2, n = d_out / 2:

    M(k) = -r - dilation·(n - k)            for k < n                (left ring)
    M(k) =  k - n - r                        for n <= k < n + d_in    (dense centre)
    M(k) =  r + dilation·(k - n - d_in + 1)  for k >= n + d_in        (right ring)

so the offsets are increasing and symmetric, the reach is R = r + dilation·n and the support is the
(2R + 1)² = (d_in + dilation·d_out)² window, read with d_in + d_out weights per direction, i.e.
2·(d_in + d_out) weights per pixel for the vertical and horizontal kernels together.

Issue 3 describes the ring as "covering (d_in + 2·d_out)² pixels with 2(d_in + d_out) weights":
that is this mapping at ``dilation = 2`` (the window side is d_in + dilation·d_out), and the
2(d_in + d_out) counts the weights of both 1-D kernels of a pixel (each direction has
d_in + d_out). Example: d_in = 25, d_out = 26, dilation = 2 gives K = 51 taps (the paper's count)
reaching ±38 pixels, a 77 x 77 window instead of 51 x 51. ``d_out = 0`` is the dense kernel:
the offsets are exactly -(d_in//2) .. d_in//2, identical to ``offsets=None``.
"""
import torch


def composite_dilation_offsets(d_in: int, d_out: int, dilation: int) -> torch.Tensor:
    """Tap offsets M(0..d_in+d_out-1) of a composite-dilation kernel (see module docstring).

    Args:
        d_in: dense inner taps, odd and >= 1.
        d_out: outer ring taps, even and >= 0 (half on each side).
        dilation: spacing of the ring taps beyond the dense part, >= 1 (1 makes the whole kernel
            dense; 2 covers the (d_in + 2·d_out)² window of issue 3).

    Returns:
        LongTensor [d_in + d_out] of increasing, symmetric pixel offsets.
    """
    for name, v in (("d_in", d_in), ("d_out", d_out), ("dilation", dilation)):
        if isinstance(v, bool) or int(v) != v:
            raise ValueError(f"{name} must be an integer, got {v!r}")
    d_in, d_out, dilation = int(d_in), int(d_out), int(dilation)
    if d_in < 1 or d_in % 2 == 0:
        raise ValueError(f"d_in (dense inner taps) must be odd and >= 1, got {d_in}")
    if d_out < 0 or d_out % 2:
        raise ValueError(f"d_out (outer ring taps, half on each side) must be even and >= 0, got {d_out}"
                         + _suggestion(d_in + d_out))
    if dilation < 1:
        raise ValueError(f"dilation must be >= 1, got {dilation}")
    r, n = d_in // 2, d_out // 2
    ring = [r + dilation * k for k in range(1, n + 1)]                 # right ring
    offsets = [-o for o in reversed(ring)] + list(range(-r, r + 1)) + ring
    return torch.tensor(offsets, dtype=torch.long)


def _suggestion(k: int) -> str:
    """A valid (d_in, d_out) split of k taps for the error message (k = odd + even is odd)."""
    if k % 2 == 0:
        return f"; the total tap count d_in + d_out = {k} must be odd"
    d_in = k // 2 if (k // 2) % 2 else k // 2 + 1
    return f"; for {k} taps in all use e.g. d_in={d_in}, d_out={k - d_in}"
