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
# v2 kernels (separable_local_conv.cu); the tile sizes and shared-memory formulas mirror its
# constexpr helpers (tests/test_kernels_nvrtc.py compares both through the CPU emulation).
_SOURCE = "separable_local_conv.cu"
_NC, _CMAX = 28, 4                    # SLC2_NC (span slots per register chunk), SLC2_CMAX
_TW, _TH = 64, 16                     # forward and dL/dKh tile (SLC2_TW, SLC2_TH)
_TWT, _THT = 32, 32                   # transposed dL/dKv tile (SLC2_TWT, SLC2_THT)
_FTW, _FTH = 128, 32                  # frame-gradient target tile (SLC2_FTW, SLC2_FTH)
_THREADS = 256


def _round4(n: int) -> int:
    return (n + 3) // 4 * 4


def _pitch(span: int, u_tile: int) -> int:
    """``slc2_pitch``: patch row pitch (floats) along the chunk axis, pitch / 4 odd."""
    reach = max(st + 4 * ((min(_NC, span - st) + 6) // 4) for st in range(0, span, _NC))
    p = _round4(u_tile - 4 + reach)
    return p if (p // 4) % 2 else p + 4


def _patch_floats(span: int, K: int, cg: int, u_tile: int, v_tile: int) -> int:
    """``slc2_patch_floats``: shared floats of slc2_forward / slc2_grad_taps for cg channels."""
    return _round4(K + span) + cg * (v_tile + span - 1) * _pitch(span, u_tile)


def _frame_floats(span: int, K: int) -> int:
    """``slc2_frame_floats``: shared floats of slc2_grad_frame (tables, KhS, KvB, Gs)."""
    nsx = _FTW + span - 1
    padh = 3 + (-2 - span) % 4
    ph = (padh + span + 5) // 4 * 4 + 1
    q = (nsx + 3) // 4
    return _round4(K + span) + _round4(nsx * ph) + 4 * q * (_FTH + 4) + 16 * q


class _Plan:
    """What every v2 launch needs: taps table [K + span] on the device (o_i - lo, then the tap of
    each span slot or -1), the template's scalar type and span, and the device's shared limit."""

    def __init__(self, frame: torch.Tensor, offsets: tuple):
        from . import _cupy  # noqa: PLC0415

        self.cp = _cupy
        self.K = len(offsets)
        self.lo = min(offsets)
        self.span = max(offsets) - self.lo + 1
        self.p = max(abs(o) for o in offsets)
        slot = [-1] * self.span
        for i, o in enumerate(offsets):
            slot[o - self.lo] = i
        self.taps = _cupy.device_table(tuple(o - self.lo for o in offsets) + tuple(slot), torch.int32,
                                       frame.device)
        self.scalar = _cupy.scalar_type(frame.dtype)
        self.limit = _cupy.max_shared_bytes(frame.device)
        self.device = frame.device

    def channel_group(self, C: int, u_tile: int, v_tile: int) -> int:
        """Channels per shared-memory fill of a patch kernel (at most 4), limited by shared memory."""
        per_channel = 4 * (_patch_floats(self.span, self.K, 1, u_tile, v_tile) - _round4(self.K + self.span))
        group = min(_CMAX, C, (self.limit - 4 * _round4(self.K + self.span)) // per_channel)
        if group < 1:
            raise ValueError(f"the taps span {self.span} pixels; the CUDA tile would need "
                             f"{4 * _patch_floats(self.span, self.K, 1, u_tile, v_tile)} bytes of shared "
                             f"memory (device limit {self.limit}); use FRAMEWEAVE_KERNELS=torch for such "
                             "wide kernels")
        return group

    def launch(self, expression: str, grid: tuple, shared_floats: int, args: tuple) -> None:
        shared = 4 * shared_floats
        if shared > self.limit:
            raise ValueError(f"{expression} would need {shared} bytes of shared memory (device limit "
                             f"{self.limit}); use FRAMEWEAVE_KERNELS=torch for such wide kernels")
        fn = self.cp.kernel(_SOURCE, expression, self.device, shared)
        self.cp.launch(fn, self.device, grid, (_THREADS, 1, 1), args, shared)


def _cdiv(a: int, b: int) -> int:
    return (a + b - 1) // b


def cuda_forward(frame, k_vertical, k_horizontal, offsets: tuple, padding: str) -> torch.Tensor:
    """Forward with ``slc2_forward`` (float32 accumulation) on torch's current stream; the v1
    kernels when ``FRAMEWEAVE_SLC_KERNELS=v1``."""
    if _dispatch.slc_kernels() == "v1":
        from . import _slc_v1  # noqa: PLC0415
        return _slc_v1.cuda_forward(frame, k_vertical, k_horizontal, offsets, padding)
    plan = _Plan(frame, offsets)
    cp = plan.cp
    frame, kv, kh = frame.contiguous(), k_vertical.contiguous(), k_horizontal.contiguous()
    B, C, H, W = frame.shape
    out = torch.empty_like(frame)
    group = plan.channel_group(C, _TW, _TH)
    plan.launch(f"slc2_forward<{plan.scalar}, {plan.span}>", (_cdiv(W, _TW), _cdiv(H, _TH), B),
                _patch_floats(plan.span, plan.K, group, _TW, _TH),
                (cp.ptr(frame), cp.ptr(kv), cp.ptr(kh), cp.ptr(plan.taps), cp.ptr(out), cp.i32(C), cp.i32(group),
                 cp.i32(H), cp.i32(W), cp.i32(plan.K), cp.i32(plan.lo), cp.i32(padding == "replicate")))
    return out


def cuda_backward(grad_out, frame, k_vertical, k_horizontal, offsets: tuple, padding: str,
                  needs=(True, True, True)):
    """Backward with the v2 kernels: dL/dKh and dL/dKv by ``slc2_grad_taps`` (per-pixel
    reductions on the forward's patch tiling, the second one transposed), dL/dI by the gather
    ``slc2_grad_frame`` (no atomics). Only the needed gradients are computed; the v1 kernels when
    ``FRAMEWEAVE_SLC_KERNELS=v1``."""
    if _dispatch.slc_kernels() == "v1":
        from . import _slc_v1  # noqa: PLC0415
        return _slc_v1.cuda_backward(grad_out, frame, k_vertical, k_horizontal, offsets, padding, needs)
    plan = _Plan(frame, offsets)
    cp = plan.cp
    frame, kv, kh = frame.contiguous(), k_vertical.contiguous(), k_horizontal.contiguous()
    grad_out = grad_out.to(frame.dtype).contiguous()
    B, C, H, W = frame.shape
    K, span, lo = plan.K, plan.span, plan.lo
    replicate = cp.i32(padding == "replicate")
    need_frame, need_kv, need_kh = needs
    grad_frame = grad_kv = grad_kh = None
    # (output, weights streamed, transposed, tile x, tile y)
    for wanted, transposed, tw, th in ((need_kh, False, _TW, _TH), (need_kv, True, _TWT, _THT)):
        if not wanted:
            continue
        grad_k = torch.empty_like(kv)                                          # [B,K,H,W], input dtype
        u_tile, v_tile = (th, tw) if transposed else (tw, th)
        group = plan.channel_group(C, u_tile, v_tile)
        plan.launch(f"slc2_grad_taps<{plan.scalar}, {span}, {'true' if transposed else 'false'}>",
                    (_cdiv(W, tw), _cdiv(H, th), B), _patch_floats(span, K, group, u_tile, v_tile),
                    (cp.ptr(grad_out), cp.ptr(frame), cp.ptr(kh if transposed else kv), cp.ptr(plan.taps),
                     cp.ptr(grad_k), cp.i32(C), cp.i32(group), cp.i32(H), cp.i32(W), cp.i32(K), cp.i32(lo),
                     replicate))
        if transposed:
            grad_kv = grad_k
        else:
            grad_kh = grad_k
    if need_frame:
        # targets: the padded frame [-p, H+p) x [-p, W+p) for replicate (folded below), the frame for zero
        p = plan.p if padding == "replicate" else 0
        THt, TWt = H + 2 * p, W + 2 * p
        # float32 (the kernel's accumulator type; float64 only in the tests' double emulation)
        grad_padded = torch.empty((B, C, THt, TWt), dtype=_acc_dtype(frame), device=frame.device)
        for c0 in range(0, C, _CMAX):
            nch = min(_CMAX, C - c0)
            plan.launch(f"slc2_grad_frame<{plan.scalar}, {span}, {nch}>", (_cdiv(TWt, _FTW), _cdiv(THt, _FTH), B),
                        _frame_floats(span, K),
                        (cp.ptr(grad_out), cp.ptr(kv), cp.ptr(kh), cp.ptr(plan.taps), cp.ptr(grad_padded),
                         cp.i32(C), cp.i32(c0), cp.i32(H), cp.i32(W), cp.i32(K), cp.i32(lo), cp.i32(-p), cp.i32(-p),
                         cp.i32(THt), cp.i32(TWt)))
        grad_frame = _unpad_grad(grad_padded, p, padding).to(frame.dtype)
    return grad_frame, grad_kv, grad_kh

_CudaFunction = _autograd_function(
    "_CudaFunction", cuda_forward, cuda_backward,
    "Autograd wrapper of the CuPy kernels in ``separable_local_conv.cu`` (v1: ``_slc_v1``).")


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
