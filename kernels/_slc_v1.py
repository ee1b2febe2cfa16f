"""The first CUDA kernels of ``separable_local_conv`` (v1, ``separable_local_conv_v1.cu``) and their
launchers, as measured on the H200 on 2026-12-04 (``benchmarks/results/kernels_h200_2026-12-04.md``:
1080p forward 1.75 ms, forward + backward 20.6 ms per frame).

Kept beside the v2 kernels only so that ``benchmarks/kernels.py --versions v1,v2`` can time both in
one GPU run; ``FRAMEWEAVE_SLC_KERNELS=v1`` selects them. Remove this module and the .cu once a run
shows v2 faster in every row. Same arguments and results as ``separable_local_conv.cuda_forward`` /
``cuda_backward``.
"""
from __future__ import annotations

import torch

from .separable_local_conv import _unpad_grad

_TW, _TH, _CMAX = 32, 8, 4   # block tile and channels per launch (SLC_TW, SLC_TH, SLC_CMAX in the .cu)
_TW2 = 64                     # tile width of slc_forward_dense2 (SLC_TW2)
_SOURCE = "separable_local_conv_v1.cu"


def _cuda_plan(frame: torch.Tensor, offsets: tuple):
    """Template arguments, taps tensor and channels per launch (limited by shared memory)."""
    from . import _cupy  # noqa: PLC0415

    K = len(offsets)
    lo, hi = min(offsets), max(offsets)
    span = hi - lo + 1
    dense = offsets == tuple(range(lo, lo + K))
    patch_floats = (_TH + span - 1) * (_TW + span - 1)            # one channel of the block patch
    limit = _cupy.max_shared_bytes(frame.device)
    group = min(_CMAX, frame.shape[1], (limit - 4 * K) // (4 * patch_floats))
    if group < 1:
        raise ValueError(f"the taps span {span} pixels; the CUDA tile would need "
                         f"{4 * (K + patch_floats)} bytes of shared memory (device limit {limit}); "
                         "use FRAMEWEAVE_KERNELS=torch for such wide kernels")
    taps = _cupy.device_table(tuple(offsets), torch.int32, frame.device)
    template = f"{_cupy.scalar_type(frame.dtype)}, {K}, {'true' if dense else 'false'}"
    return _cupy, template, taps, lo, span, group, lambda cg: 4 * (K + cg * patch_floats)


def _dense2_shared(K: int, cg: int) -> int:
    """Dynamic shared memory of ``slc_forward_dense2`` (64x8 tile) for ``cg`` channels."""
    return 4 * cg * (_TH + K - 1) * ((_TW2 + K + 1) & ~1)


def cuda_forward(frame, k_vertical, k_horizontal, offsets: tuple, padding: str) -> torch.Tensor:
    """Forward with the CuPy kernels (float32 accumulation), on torch's current stream.

    Dense taps use ``slc_forward_dense2`` (two pixels per thread) when its tile fits in shared
    memory; other offsets (composite dilation) use ``slc_forward``.
    """
    cp, template, taps, lo, span, group, shared = _cuda_plan(frame, offsets)
    frame, kv, kh = frame.contiguous(), k_vertical.contiguous(), k_horizontal.contiguous()
    B, C, H, W = frame.shape
    K = len(offsets)
    replicate = cp.i32(padding == "replicate")
    out = torch.empty_like(frame)
    dense = template.endswith("true")
    limit = cp.max_shared_bytes(frame.device)
    dense2 = dense and _dense2_shared(K, 1) <= limit
    if dense2:
        group = max(1, min(_CMAX, C, limit // _dense2_shared(K, 1)))
        grid = ((W + _TW2 - 1) // _TW2, (H + _TH - 1) // _TH, B)
    else:
        grid = ((W + _TW - 1) // _TW, (H + _TH - 1) // _TH, B)
    block = (_TW, _TH, 1)
    for c0 in range(0, C, group):
        cg = min(group, C - c0)
        fg = frame if cg == C else frame[:, c0:c0 + cg].contiguous()         # [B,cg,H,W]
        og = out if cg == C else torch.empty_like(fg)
        if dense2:
            scalar = template.split(",")[0]
            fn = cp.kernel(_SOURCE, f"slc_forward_dense2<{scalar}, {K}>", frame.device, _dense2_shared(K, cg))
            cp.launch(fn, frame.device, grid, block,
                      (cp.ptr(fg), cp.ptr(kv), cp.ptr(kh), cp.ptr(og), cp.i32(cg), cp.i32(H),
                       cp.i32(W), cp.i32(lo), replicate), _dense2_shared(K, cg))
        else:
            fn = cp.kernel(_SOURCE, f"slc_forward<{template}>", frame.device, shared(cg))
            cp.launch(fn, frame.device, grid, block,
                      (cp.ptr(fg), cp.ptr(kv), cp.ptr(kh), cp.ptr(taps), cp.ptr(og), cp.i32(cg),
                       cp.i32(H), cp.i32(W), cp.i32(lo), cp.i32(span), replicate), shared(cg))
        if og is not out:
            out[:, c0:c0 + cg] = og
    return out


def cuda_backward(grad_out, frame, k_vertical, k_horizontal, offsets: tuple, padding: str,
                  needs=(True, True, True)):
    """Backward with ``slc_backward_kernels`` (per pixel) and ``slc_backward_frame`` (gather)."""
    cp, template, taps, lo, span, group, shared = _cuda_plan(frame, offsets)
    frame, kv, kh = frame.contiguous(), k_vertical.contiguous(), k_horizontal.contiguous()
    grad_out = grad_out.to(frame.dtype).contiguous()
    B, C, H, W = frame.shape
    K = len(offsets)
    p = max(abs(o) for o in offsets)
    need_frame, need_kv, need_kh = needs
    grad_kv = grad_kh = grad_frame = None
    if need_kv or need_kh:
        gkv = torch.empty((B, K, H, W), dtype=torch.float32, device=frame.device)
        gkh = torch.empty_like(gkv)
        grid, block = ((W + _TW - 1) // _TW, (H + _TH - 1) // _TH, B), (_TW, _TH, 1)
        fn = None
        for c0 in range(0, C, group):
            cg = min(group, C - c0)
            fg = frame if cg == C else frame[:, c0:c0 + cg].contiguous()
            gg = grad_out if cg == C else grad_out[:, c0:c0 + cg].contiguous()
            fn = cp.kernel(_SOURCE, f"slc_backward_kernels<{template}>", frame.device, shared(cg))
            cp.launch(fn, frame.device, grid, block,
                      (cp.ptr(gg), cp.ptr(fg), cp.ptr(kv), cp.ptr(kh), cp.ptr(taps), cp.ptr(gkv),
                       cp.ptr(gkh), cp.i32(cg), cp.i32(H), cp.i32(W), cp.i32(lo), cp.i32(span),
                       cp.i32(padding == "replicate"), cp.i32(c0 > 0)), shared(cg))
        grad_kv = gkv.to(k_vertical.dtype) if need_kv else None
        grad_kh = gkh.to(k_horizontal.dtype) if need_kh else None
    if need_frame:
        Hp, Wp = H + 2 * p, W + 2 * p
        grad_padded = torch.empty((B, C, Hp, Wp), dtype=torch.float32, device=frame.device)
        scalar = template.split(",")[0]
        fn = cp.kernel(_SOURCE, f"slc_backward_frame<{scalar}>", frame.device, 4 * K)
        n = B * Hp * Wp
        for c0 in range(0, C, _CMAX):
            cg = min(_CMAX, C - c0)
            gg = grad_out if cg == C else grad_out[:, c0:c0 + cg].contiguous()
            gp = grad_padded if cg == C else torch.empty((B, cg, Hp, Wp), dtype=torch.float32,
                                                         device=frame.device)
            cp.launch(fn, frame.device, ((n + 255) // 256, 1, 1), (256, 1, 1),
                      (cp.ptr(gg), cp.ptr(kv), cp.ptr(kh), cp.ptr(taps), cp.ptr(gp), cp.i32(B),
                       cp.i32(cg), cp.i32(H), cp.i32(W), cp.i32(K), cp.i32(p)), 4 * K)
            if gp is not grad_padded:
                grad_padded[:, c0:c0 + cg] = gp
        grad_frame = _unpad_grad(grad_padded, p, padding).to(frame.dtype)
    return grad_frame, grad_kv, grad_kh
