"""CuPy plumbing for the CUDA kernels: sources, NVRTC compilation cache, launches on torch's stream.

Every ``kernels/*.cu`` file is compiled with :data:`PRELUDE` prepended. The prelude defines the
16-bit storage types ``fw_half`` / ``fw_bf16`` and ``to_float`` / ``from_float`` with inline PTX
and bit operations, so the sources need no CUDA headers (``cuda_fp16.h`` / ``cuda_bf16.h`` are not
shipped by the pip wheels): a fresh venv with ``cupy-cuda12x`` and ``nvidia-cuda-nvrtc-cu12`` can
compile them without a CUDA toolkit.

Compiled modules are cached per (source, kernel instantiation, device); launches run on
``torch.cuda.current_stream()`` of the tensors' device so they order correctly with PyTorch work.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

KERNEL_DIR = Path(__file__).resolve().parent

#: torch dtype -> the C++ storage type used as ``scalar_t`` in the kernels
SCALAR_TYPES = {torch.float32: "float", torch.float16: "fw_half", torch.bfloat16: "fw_bf16"}

#: NVRTC options (C++17; fast paths for fmaf are explicit in the sources)
NVRTC_OPTIONS = ("--std=c++17",)

PRELUDE = r"""
// ---- FrameWeave prelude (kernels/_cupy.py): 16-bit storage types without CUDA headers ----
struct __align__(2) fw_half { unsigned short bits; };
struct __align__(2) fw_bf16 { unsigned short bits; };

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(fw_half v) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(v.bits));
    return f;
}
__device__ __forceinline__ float to_float(fw_bf16 v) {
    return __uint_as_float(((unsigned int)v.bits) << 16);
}

template <typename T> __device__ __forceinline__ T from_float(float f);
template <> __device__ __forceinline__ float from_float<float>(float f) { return f; }
template <> __device__ __forceinline__ fw_half from_float<fw_half>(float f) {
    fw_half h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h.bits) : "f"(f));
    return h;
}
template <> __device__ __forceinline__ fw_bf16 from_float<fw_bf16>(float f) {
    // round to nearest even; NaN stays a (quiet) NaN
    unsigned int u = __float_as_uint(f);
    fw_bf16 r;
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        r.bits = (unsigned short)((u >> 16) | 0x0040u);
    } else {
        u += 0x7fffu + ((u >> 16) & 1u);
        r.bits = (unsigned short)(u >> 16);
    }
    return r;
}
// ---- end of prelude ----
#line 1
"""


def source(name: str) -> str:
    """The full text NVRTC compiles for ``kernels/<name>``: prelude + the .cu file."""
    return PRELUDE + (KERNEL_DIR / name).read_text()


def scalar_type(dtype: torch.dtype) -> str:
    if dtype not in SCALAR_TYPES:
        raise ValueError(f"the CUDA kernels take float32/float16/bfloat16, not {dtype}")
    return SCALAR_TYPES[dtype]


@functools.lru_cache(maxsize=None)
def _module(name: str, expression: str, device_index: int):
    import cupy  # noqa: PLC0415

    with cupy.cuda.Device(device_index):
        module = cupy.RawModule(code=source(name), options=NVRTC_OPTIONS, name_expressions=[expression])
        module.compile()
    return module


@functools.lru_cache(maxsize=None)
def _function(name: str, expression: str, device_index: int):
    import cupy  # noqa: PLC0415

    with cupy.cuda.Device(device_index):
        return _module(name, expression, device_index).get_function(expression)


def kernel(name: str, expression: str, device: torch.device, shared_bytes: int = 0):
    """The compiled kernel ``expression`` (e.g. ``"slc_forward<float, 51, true>"``) of ``name``,
    cached per device; ``shared_bytes`` above 48 KiB opts in to the large dynamic shared memory."""
    import cupy  # noqa: PLC0415

    index = device.index if device.index is not None else torch.cuda.current_device()
    with cupy.cuda.Device(index):                  # the function and its attribute belong to that device
        fn = _function(name, expression, index)
        if shared_bytes > 48 * 1024:
            limit = max_shared_bytes(device)
            if shared_bytes > limit:
                raise RuntimeError(f"{expression} needs {shared_bytes} bytes of shared memory; "
                                   f"the device allows {limit}")
            if fn.max_dynamic_shared_size_bytes < shared_bytes:
                fn.max_dynamic_shared_size_bytes = shared_bytes
    return fn


@functools.lru_cache(maxsize=None)
def max_shared_bytes(device: torch.device) -> int:
    """Opt-in dynamic shared memory per block of the device (227 KiB on an H100)."""
    import cupy  # noqa: PLC0415

    index = device.index if device.index is not None else torch.cuda.current_device()
    attrs = cupy.cuda.Device(index).attributes
    return int(attrs.get("MaxSharedMemoryPerBlockOptin", attrs.get("MaxSharedMemoryPerBlock", 48 * 1024)))


def launch(fn, device: torch.device, grid: tuple, block: tuple, args: tuple, shared_bytes: int = 0) -> None:
    """Launch ``fn`` on torch's current stream of ``device``."""
    import cupy  # noqa: PLC0415

    index = device.index if device.index is not None else torch.cuda.current_device()
    stream = torch.cuda.current_stream(index)
    with cupy.cuda.Device(index), cupy.cuda.ExternalStream(stream.cuda_stream, index):
        fn(grid, block, args, shared_mem=shared_bytes)


@functools.lru_cache(maxsize=64)
def device_table(values: tuple, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A small constant table (tap offsets, blur weights) on ``device``, copied there once: a fresh
    host-to-device copy per launch would synchronise with the host on every call."""
    return torch.tensor(values, dtype=dtype, device=device)


def ptr(t: torch.Tensor) -> np.uint64:
    """Device pointer argument of a contiguous CUDA tensor."""
    if not t.is_contiguous():
        raise ValueError("internal: kernel arguments must be contiguous")
    return np.uint64(t.data_ptr())


def i32(v: int) -> np.int32:
    return np.int32(v)


def f32(v: float) -> np.float32:
    return np.float32(v)
