"""Backend choice for the kernels: CuPy CUDA or the pure-PyTorch reference.

``FRAMEWEAVE_KERNELS`` selects the path:

* ``auto`` (default): CUDA when every tensor is on a CUDA device and CuPy imports and works,
  the PyTorch reference otherwise;
* ``torch``: always the PyTorch reference (also on a GPU);
* ``cuda``: always CUDA; raises a clear error when a tensor is on the CPU or CuPy is unusable.
"""
import functools
import os

import torch

ENV = "FRAMEWEAVE_KERNELS"
MODES = ("auto", "torch", "cuda")
MAX_CUDA_BATCH = 65535          # the kernels put the batch on grid z, whose limit this is

SLC_ENV = "FRAMEWEAVE_SLC_KERNELS"
SLC_VERSIONS = ("v2", "v1")     # v1: the first separable_local_conv kernels, kept for benchmarks


def slc_kernels() -> str:
    """Which CUDA kernels ``separable_local_conv`` launches: ``v2`` (default) or ``v1`` (the
    first kernels, kept so that ``benchmarks/kernels.py`` can time both in one GPU run)."""
    value = os.environ.get(SLC_ENV, "v2").strip().lower() or "v2"
    if value not in SLC_VERSIONS:
        raise ValueError(f"{SLC_ENV}={value!r} is not one of {', '.join(SLC_VERSIONS)}")
    return value


def mode() -> str:
    """The backend mode from ``FRAMEWEAVE_KERNELS`` (validated)."""
    value = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if value not in MODES:
        raise ValueError(f"{ENV}={value!r} is not one of {', '.join(MODES)}")
    return value


@functools.lru_cache(maxsize=1)
def cupy_status() -> tuple:
    """(usable, reason): whether CuPy imports, sees a CUDA device and can load NVRTC. Cached for
    the process."""
    try:
        import cupy  # noqa: PLC0415
    except Exception as exc:  # ImportError, or a broken CUDA install raising at import
        return False, f"CuPy is not importable ({type(exc).__name__}: {exc}); install cupy-cuda12x"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        return False, f"CuPy cannot talk to the CUDA driver ({type(exc).__name__}: {exc})"
    if count < 1:
        return False, "CuPy sees no CUDA device"
    try:                                      # the kernels are compiled at run time by NVRTC
        major, minor = cupy.cuda.nvrtc.getVersion()
    except Exception as exc:
        return False, (f"CuPy cannot load NVRTC to compile the kernels ({type(exc).__name__}: {exc}); "
                       "pip install nvidia-cuda-nvrtc-cu12")
    return True, f"CuPy {cupy.__version__}, NVRTC {major}.{minor}, {count} CUDA device(s)"


def use_cuda(*tensors: torch.Tensor) -> bool:
    """True when the CUDA kernels should run on ``tensors``.

    ``auto``: all tensors on CUDA and CuPy usable. ``torch``: never. ``cuda``: always, raising a
    ``RuntimeError`` naming the reason when that is impossible.
    """
    m = mode()
    if m == "torch":
        return False
    on_cuda = bool(tensors) and all(t.is_cuda for t in tensors)
    if m == "auto":
        return on_cuda and cupy_status()[0]
    if not on_cuda:
        devices = sorted({str(t.device) for t in tensors})
        raise RuntimeError(f"{ENV}=cuda but the tensors are on {', '.join(devices)}; "
                           "move them to a CUDA device or set FRAMEWEAVE_KERNELS=auto")
    ok, reason = cupy_status()
    if not ok:
        raise RuntimeError(f"{ENV}=cuda but the CUDA kernels are unusable: {reason}")
    return True


def backend_info() -> dict:
    """What the dispatcher would do: mode, CuPy status, torch CUDA availability."""
    ok, reason = cupy_status()
    return {"mode": mode(), "cupy_usable": ok, "cupy": reason,
            "torch_cuda": torch.cuda.is_available(), "torch": torch.__version__}
