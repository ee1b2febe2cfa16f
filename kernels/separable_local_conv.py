"""Adaptive separable local convolution (SepConv): CUDA kernel, autograd Function, PyTorch reference.

Niklaus, Mai, Liu, "Video Frame Interpolation via Adaptive Separable Convolution", ICCV 2017,
Eq. 3: every output pixel has its own pair of 1-D kernels, a vertical ``Kv`` and a horizontal
``Kh`` of K taps, and the output is the patch around the pixel weighted by their outer product

    Î(y, x, c) = Σ_i Σ_j  I(y + o_i, x + o_j, c) · Kv(i, y, x) · Kh(j, y, x)           (forward)

with tap offsets ``o`` (dense: o_i = i - K//2, the K x K patch centred on (y, x), i.e. the paper's
Î(x, y) = Kv(x, y) Kh(x, y)^T * P(x, y); composite dilation: see ``composite_dilation.py``).
Samples outside the frame follow ``padding``: "replicate" (nearest border pixel, as the authors'
implementation pads its input) or "zero" (implicit zero padding). With g = dL/dÎ:

    dL/dKv(i, y, x) = Σ_c g(y, x, c) · Σ_j I(y + o_i, x + o_j, c) · Kh(j, y, x)
    dL/dKh(j, y, x) = Σ_c g(y, x, c) · Σ_i I(y + o_i, x + o_j, c) · Kv(i, y, x)
    dL/dI(y', x', c) = Σ_{i, j} g(y' - o_i, x' - o_j, c) · Kv(i, ·) · Kh(j, ·)   at (y' - o_i, x' - o_j)

(the last one on the padded frame, then folded back onto the border pixels for "replicate").

Two implementations of the same formulas sit here, chosen by ``kernels._dispatch.use_cuda``:
the CuPy CUDA kernels of ``separable_local_conv.cu`` and a pure-PyTorch reference that runs on
any device in bounded memory (row chunks; it never builds the [H, W, K, K] patches or the
unfold of the whole frame). Both accumulate in float32 and return the input dtype.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from . import _dispatch

PADDING_MODES = ("replicate", "zero")
FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)

# Bytes of one [B, C, rows, W, span] float32 temporary in the reference; rows are chunked to this.
_CHUNK_BYTES_CPU = 4 << 20
_FRAME_CHUNK_BYTES_CPU = 256 << 10   # [B,C,rows,W] operands of the frame gradient (cache-sized)
_CHUNK_BYTES_CUDA = 256 << 20


# ----------------------------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------------------------
def _normalise_offsets(offsets, taps: int) -> tuple:
    """Tap offsets as a tuple of Python ints (dense ``i - K//2`` when None), checked."""
    if offsets is None:
        if taps % 2 == 0:
            raise ValueError(f"dense kernels need an odd number of taps (centred patch), got {taps}; "
                             "pass explicit offsets for other layouts")
        return tuple(range(-(taps // 2), taps // 2 + 1))
    if isinstance(offsets, torch.Tensor):
        if offsets.dtype.is_floating_point or offsets.dtype.is_complex or offsets.ndim != 1:
            raise ValueError(f"offsets must be a 1-D integer tensor, got {offsets.dtype} "
                             f"of shape {list(offsets.shape)}")
        offs = tuple(int(o) for o in offsets.tolist())
    else:
        try:
            offs = tuple(int(o) for o in offsets)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"offsets must be a sequence of integers, got {offsets!r}") from exc
    if len(offs) != taps:
        raise ValueError(f"offsets has {len(offs)} entries but the kernels have {taps} taps")
    if len(set(offs)) != len(offs):
        raise ValueError(f"offsets must be distinct, got {list(offs)}")
    return offs


def check_inputs(frame, k_vertical, k_horizontal, padding, offsets) -> tuple:
    """Validate the arguments of :func:`separable_local_conv`; return the offsets as a tuple.

    Raises ``ValueError`` naming the problem (shapes, taps, sizes, dtypes, devices, padding).
    """
    for name, t in (("frame", frame), ("k_vertical", k_vertical), ("k_horizontal", k_horizontal)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name}: expected a torch tensor, got {type(t).__name__}")
        if t.ndim != 4:
            layout = "[B,C,H,W]" if name == "frame" else "[B,K,H,W]"
            raise ValueError(f"{name}: expected a 4-D tensor {layout}, got shape {list(t.shape)}")
        if t.dtype not in FLOAT_DTYPES:
            raise ValueError(f"{name}: expected float32/float16/bfloat16/float64, got {t.dtype}")
    if padding not in PADDING_MODES:
        raise ValueError(f"padding must be one of {PADDING_MODES}, got {padding!r}")
    B, C, H, W = frame.shape
    if C < 1 or H < 1 or W < 1:
        raise ValueError(f"frame is empty: shape {list(frame.shape)}")
    if k_vertical.shape[1] != k_horizontal.shape[1]:
        raise ValueError(f"k_vertical has {k_vertical.shape[1]} taps but k_horizontal has "
                         f"{k_horizontal.shape[1]}")
    if k_vertical.shape[1] < 1:
        raise ValueError("the kernels have 0 taps")
    if k_vertical.shape[2:] != k_horizontal.shape[2:]:
        raise ValueError(f"k_vertical maps are {k_vertical.shape[2]}x{k_vertical.shape[3]} but "
                         f"k_horizontal maps are {k_horizontal.shape[2]}x{k_horizontal.shape[3]} (HxW)")
    if tuple(k_vertical.shape[2:]) != (H, W):
        raise ValueError(f"kernel maps are {k_vertical.shape[2]}x{k_vertical.shape[3]} but the frame "
                         f"is {H}x{W} (HxW)")
    if not (k_vertical.shape[0] == k_horizontal.shape[0] == B):
        raise ValueError(f"batch sizes differ: frame {B}, k_vertical {k_vertical.shape[0]}, "
                         f"k_horizontal {k_horizontal.shape[0]}")
    if not (frame.dtype == k_vertical.dtype == k_horizontal.dtype):
        raise ValueError(f"dtypes differ: frame {frame.dtype}, k_vertical {k_vertical.dtype}, "
                         f"k_horizontal {k_horizontal.dtype}; cast them to one dtype")
    if not (frame.device == k_vertical.device == k_horizontal.device):
        raise ValueError(f"devices differ: frame {frame.device}, k_vertical {k_vertical.device}, "
                         f"k_horizontal {k_horizontal.device}")
    return _normalise_offsets(offsets, k_vertical.shape[1])


# ----------------------------------------------------------------------------------------------
# PyTorch reference
# ----------------------------------------------------------------------------------------------
def _pad(frame: torch.Tensor, p: int, padding: str) -> torch.Tensor:
    """[B,C,H,W] -> [B,C,H+2p,W+2p] extended by ``padding``."""
    if p == 0:
        return frame
    if padding == "replicate":
        return F.pad(frame, (p, p, p, p), mode="replicate")
    return F.pad(frame, (p, p, p, p), mode="constant", value=0.0)


def _unpad_grad(grad_padded: torch.Tensor, p: int, padding: str) -> torch.Tensor:
    """Adjoint of :func:`_pad`: [B,C,H+2p,W+2p] -> [B,C,H,W] (border sums for replicate)."""
    if p == 0:
        return grad_padded
    g = grad_padded
    if padding == "replicate":
        g = g.clone()
        g[..., :, p] += g[..., :, :p].sum(-1)                 # left columns onto column 0
        g[..., :, -p - 1] += g[..., :, -p:].sum(-1)           # right columns onto column W-1
        g[..., p, :] += g[..., :p, :].sum(-2)                 # top rows onto row 0 (corners incl.)
        g[..., -p - 1, :] += g[..., -p:, :].sum(-2)           # bottom rows onto row H-1
    return g[..., p:-p, p:-p]


class _Geometry:
    """Padding and the dense horizontal span of a set of tap offsets.

    The horizontal taps are handled as a dense run of ``span = max(o) - min(o) + 1`` taps from
    ``lo = min(o)`` (the missing ones weighted 0) so that row windows are strided views.
    """

    def __init__(self, offsets: tuple, W: int, device):
        self.offsets = offsets
        self.p = max(abs(o) for o in offsets)
        self.lo, self.hi = min(offsets), max(offsets)
        self.span = self.hi - self.lo + 1
        self.dense = offsets == tuple(range(self.lo, self.hi + 1))
        self.slot = torch.tensor([o - self.lo for o in offsets], device=device)  # tap j -> span slot
        self.W = W

    def spread(self, k: torch.Tensor) -> torch.Tensor:
        """[..., K] taps -> [..., span] with zeros between (identity when dense)."""
        if self.dense:
            return k
        out = k.new_zeros(*k.shape[:-1], self.span)
        out[..., self.slot] = k
        return out

    def gather(self, k_span: torch.Tensor) -> torch.Tensor:
        """[..., span] -> [..., K] (inverse of :meth:`spread`)."""
        return k_span if self.dense else k_span[..., self.slot]

    def windows(self, rows: torch.Tensor) -> torch.Tensor:
        """Padded rows [B,C,h,W+2p] -> strided view [B,C,h,W,span]: I(row, x + lo + s)."""
        p = self.p
        return rows[..., p + self.lo: p + self.hi + self.W].unfold(-1, self.span, 1)


def _acc_dtype(t: torch.Tensor) -> torch.dtype:
    """Accumulation dtype: float32, or float64 for float64 inputs (gradcheck)."""
    return torch.float64 if t.dtype == torch.float64 else torch.float32


def _rows_per_chunk(frame: torch.Tensor, span: int, chunk_bytes: int | None) -> int:
    B, C, H, W = frame.shape
    if chunk_bytes is None:
        chunk_bytes = _CHUNK_BYTES_CUDA if frame.is_cuda else _CHUNK_BYTES_CPU
    return int(max(1, min(H, chunk_bytes // max(1, B * C * W * span * 4))))


def reference_forward(frame, k_vertical, k_horizontal, offsets: tuple, padding: str,
                      chunk_bytes: int | None = None) -> torch.Tensor:
    """Forward formula in PyTorch, float32 accumulation, chunked over output rows.

    Per chunk of h rows and per vertical tap i: the row window [B,C,h,W,span] is a strided view of
    the padded frame; it is weighted by Kh and summed (the horizontal pass of that tap), then
    multiplied by Kv(i) and accumulated. Peak extra memory: the padded frame plus a few
    [B,C,h,W,span] temporaries (``chunk_bytes`` each).
    """
    B, C, H, W = frame.shape
    acc = _acc_dtype(frame)
    geo = _Geometry(offsets, W, frame.device)
    padded = _pad(frame.to(acc), geo.p, padding)                                # [B,C,H+2p,W+2p]
    out = torch.empty((B, C, H, W), dtype=acc, device=frame.device)
    rows = _rows_per_chunk(frame, geo.span, chunk_bytes)
    p = geo.p
    for y0 in range(0, H, rows):
        y1 = min(H, y0 + rows)
        kh = geo.spread(k_horizontal[:, :, y0:y1].to(acc).permute(0, 2, 3, 1))  # [B,h,W,span]
        kv = k_vertical[:, :, y0:y1].to(acc)                                    # [B,K,h,W]
        total = out[:, :, y0:y1]
        total.zero_()
        for i, o in enumerate(offsets):
            win = geo.windows(padded[:, :, y0 + o + p: y1 + o + p])             # [B,C,h,W,span]
            horizontal = (win * kh[:, None]).sum(-1)                            # [B,C,h,W]
            total.addcmul_(horizontal, kv[:, i:i + 1])
    return out.to(frame.dtype)


def reference_backward(grad_out, frame, k_vertical, k_horizontal, offsets: tuple, padding: str,
                       needs=(True, True, True), chunk_bytes: int | None = None):
    """Backward formulas in PyTorch by recomputation, chunked over output rows.

    Per chunk and tap row i: dL/dKv(i) is the forward's horizontal pass dotted with g;
    dL/dKh accumulates Σ_c window·g·Kv(i) channel by channel (no [C,...,span] temporary); dL/dI
    is :func:`_frame_gradient`.
    Returns (grad_frame, grad_k_vertical, grad_k_horizontal) in the input dtypes (None where
    not needed).
    """
    B, C, H, W = frame.shape
    acc = _acc_dtype(frame)
    geo = _Geometry(offsets, W, frame.device)
    p, span, lo = geo.p, geo.span, geo.lo
    padded = _pad(frame.to(acc), p, padding)                                     # [B,C,H+2p,W+2p]
    need_frame, need_kv, need_kh = needs
    grad_kv = torch.empty((B, len(offsets), H, W), dtype=acc, device=frame.device) if need_kv else None
    grad_kh = torch.empty((B, len(offsets), H, W), dtype=acc, device=frame.device) if need_kh else None
    grad_frame = _frame_gradient(grad_out, padded, k_vertical, k_horizontal, offsets, padding,
                                 chunk_bytes) if need_frame else None
    rows = _rows_per_chunk(frame, span, chunk_bytes)
    for y0 in range(0, H if (need_kv or need_kh) else 0, rows):
        y1 = min(H, y0 + rows)
        h = y1 - y0
        g = grad_out[:, :, y0:y1].to(acc)                                        # [B,C,h,W]
        kh = geo.spread(k_horizontal[:, :, y0:y1].to(acc).permute(0, 2, 3, 1))   # [B,h,W,span]
        kv = k_vertical[:, :, y0:y1].to(acc)                                     # [B,K,h,W]
        gkh = torch.zeros((B, h, W, span), dtype=acc, device=frame.device) if need_kh else None
        for i, o in enumerate(offsets):
            r0 = y0 + o + p
            win = geo.windows(padded[:, :, r0: r0 + h])                          # [B,C,h,W,span]
            if need_kv:
                horizontal = (win * kh[:, None]).sum(-1)                         # [B,C,h,W]
                grad_kv[:, i, y0:y1] = (g * horizontal).sum(1)
            if need_kh:
                gv = g * kv[:, i:i + 1]                                          # [B,C,h,W]
                for c in range(C):
                    gkh.addcmul_(win[:, c], gv[:, c, :, :, None])                # [B,h,W,span]
        if need_kh:
            grad_kh[:, :, y0:y1] = geo.gather(gkh).permute(0, 3, 1, 2)
    return (grad_frame.to(frame.dtype) if need_frame else None,
            grad_kv.to(k_vertical.dtype) if need_kv else None,
            grad_kh.to(k_horizontal.dtype) if need_kh else None)


def _frame_gradient(grad_out, padded, k_vertical, k_horizontal, offsets: tuple, padding: str,
                    chunk_bytes: int | None = None) -> torch.Tensor:
    """dL/dI: for every tap pair (i, j), add g·Kv(i)·Kh(j) shifted by (o_i, o_j) onto the padded
    frame gradient, then fold the border back (:func:`_unpad_grad`). Rows are chunked so that the
    [B,C,rows,W] operands stay cache-sized (256 KiB on the CPU); every update
    is one in-place ``addcmul_`` on a shifted view, no [.., K] temporaries. Returns [B,C,H,W]
    in the accumulation dtype."""
    B, C, H, W = grad_out.shape
    acc = padded.dtype
    p = max(abs(o) for o in offsets)
    grad_padded = torch.zeros_like(padded)                                       # [B,C,H+2p,W+2p]
    budget = (chunk_bytes if chunk_bytes is not None
              else (_CHUNK_BYTES_CUDA if grad_out.is_cuda else _FRAME_CHUNK_BYTES_CPU))
    rows = int(max(1, min(H, budget // max(1, B * C * W * 4))))
    for y0 in range(0, H, rows):
        y1 = min(H, y0 + rows)
        g = grad_out[:, :, y0:y1].to(acc)                                        # [B,C,h,W]
        kv = k_vertical[:, :, y0:y1].to(acc)                                     # [B,K,h,W]
        kh = k_horizontal[:, :, y0:y1].to(acc)                                   # [B,K,h,W]
        for i, oi in enumerate(offsets):
            gv = g * kv[:, i:i + 1]                                              # [B,C,h,W]
            target = grad_padded[:, :, y0 + oi + p: y1 + oi + p]                 # [B,C,h,W+2p]
            for j, oj in enumerate(offsets):
                target[..., p + oj: p + oj + W].addcmul_(gv, kh[:, j:j + 1])
    return _unpad_grad(grad_padded, p, padding)


# ----------------------------------------------------------------------------------------------
# autograd
# ----------------------------------------------------------------------------------------------
def _autograd_function(name: str, forward_fn, backward_fn, doc: str) -> type:
    """A ``torch.autograd.Function`` subclass called ``name`` around one implementation of the op.

    ``forward(ctx, frame, k_vertical, k_horizontal, offsets, padding)`` saves the three tensors and
    returns ``forward_fn`` of them; ``backward`` recomputes with ``backward_fn`` only the gradients
    whose inputs need one (offsets and padding get None). Both implementations, the reference and
    the CUDA kernels, take the same arguments, so one wrapper serves both.
    """

    def forward(ctx, frame, k_vertical, k_horizontal, offsets, padding):
        ctx.save_for_backward(frame, k_vertical, k_horizontal)
        ctx.offsets, ctx.padding = offsets, padding
        return forward_fn(frame, k_vertical, k_horizontal, offsets, padding)

    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        frame, k_vertical, k_horizontal = ctx.saved_tensors
        grads = backward_fn(grad_out, frame, k_vertical, k_horizontal, ctx.offsets, ctx.padding,
                            needs=tuple(ctx.needs_input_grad[:3]))
        return (*grads, None, None)

    namespace = {"__doc__": doc, "__module__": __name__,
                 "forward": staticmethod(forward), "backward": staticmethod(backward)}
    # the Function metaclass (not ``type``) builds the class, so the backward node is <name>Backward
    return type(torch.autograd.Function)(name, (torch.autograd.Function,), namespace)


_ReferenceFunction = _autograd_function(
    "_ReferenceFunction", reference_forward, reference_backward,
    "Autograd wrapper of the PyTorch reference (backward by chunked recomputation).")


# ----------------------------------------------------------------------------------------------
# CUDA (CuPy)
# ----------------------------------------------------------------------------------------------
_TW, _TH, _CMAX = 32, 8, 4   # block tile and channels per launch (SLC_TW, SLC_TH, SLC_CMAX in the .cu)
_TW2 = 64                     # tile width of slc_forward_dense2 (SLC_TW2)
_SOURCE = "separable_local_conv.cu"


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


_CudaFunction = _autograd_function(
    "_CudaFunction", cuda_forward, cuda_backward,
    "Autograd wrapper of the CuPy kernels in ``separable_local_conv.cu``.")


# ----------------------------------------------------------------------------------------------
# public op
# ----------------------------------------------------------------------------------------------
def separable_local_conv(frame: torch.Tensor, k_vertical: torch.Tensor, k_horizontal: torch.Tensor,
                         padding: str = "replicate", offsets=None) -> torch.Tensor:
    """Adaptive separable local convolution (SepConv, ICCV 2017, Eq. 3).

    Args:
        frame: [B,C,H,W] float32/float16/bfloat16 (float64 on the reference path only).
        k_vertical: [B,K,H,W] per-pixel vertical kernels Kv (same dtype and device).
        k_horizontal: [B,K,H,W] per-pixel horizontal kernels Kh.
        padding: "replicate" or "zero": how samples outside the frame are read.
        offsets: K integer tap offsets shared by both directions (list, tuple or 1-D tensor);
            None for the dense centred patch o_i = i - K//2 (K odd).

    Returns:
        [B,C,H,W] in the dtype of ``frame``: Î(y,x,c) = Σ_i Σ_j I(y+o_i, x+o_j, c) Kv(i,y,x) Kh(j,y,x),
        accumulated in float32. Differentiable with respect to all three tensors.
    """
    offs = check_inputs(frame, k_vertical, k_horizontal, padding, offsets)
    if _dispatch.use_cuda(frame, k_vertical, k_horizontal):
        if frame.dtype == torch.float64:
            if _dispatch.mode() == "cuda":
                raise ValueError("the CUDA kernels take float32/float16/bfloat16, not float64")
        elif frame.shape[0] > _dispatch.MAX_CUDA_BATCH:            # one launch per batch slice
            n = _dispatch.MAX_CUDA_BATCH
            return torch.cat([_CudaFunction.apply(f, v, h, offs, padding) for f, v, h in
                              zip(frame.split(n), k_vertical.split(n), k_horizontal.split(n))])
        elif frame.shape[0] > 0:                                   # an empty batch needs no kernel
            return _CudaFunction.apply(frame, k_vertical, k_horizontal, offs, padding)
    return _ReferenceFunction.apply(frame, k_vertical, k_horizontal, offs, padding)
