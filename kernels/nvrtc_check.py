"""Compile-check every CUDA source of ``kernels/`` with NVRTC, without a GPU.

``python -m frameweave.kernels.nvrtc_check`` (or :func:`compile_all`) compiles each ``*.cu`` file
(with the prelude of ``_cupy.py``) for every kernel instantiation the launchers use — float, fp16,
bf16 storage, dense and general taps — for sm_90 (H100) and sm_80 (A100), and raises
:class:`CompileError` with the NVRTC log on any error. It needs only NVRTC (pip:
``nvidia-cuda-nvrtc-cu12``) and CuPy's bindings (``cupy-cuda12x``); the sources include no CUDA
headers, so no toolkit is required. CI runs it via ``tests/test_kernels_nvrtc.py``.
"""
from __future__ import annotations

import sys

from ._cupy import KERNEL_DIR, NVRTC_OPTIONS, PRELUDE, source

ARCHS = ("compute_90", "compute_80")

SCALARS = ("float", "fw_half", "fw_bf16")

#: name expressions compiled per source (the launchers instantiate these templates; the span S,
#: K for v1, is a template parameter, compiled on demand for the taps in use). Every kernel x dtype
#: x tap layout at a small span, plus the production spans in fp16: dense K = 51 (S = 51) and the
#: composite (25, 26, 2) taps (K = 51, S = 77).
INSTANTIATIONS = {
    "separable_local_conv.cu": [
        f"{kernel}<{t}, {s}>" for kernel in ("slc2_forward",) for t in SCALARS for s in (3, 5)
    ] + [f"slc2_grad_taps<{t}, 5, {tr}>" for t in SCALARS for tr in ("false", "true")]
      + [f"slc2_grad_frame<{t}, 5, {n}>" for t in SCALARS for n in (1, 2, 3, 4)]
      + [f"slc2_forward<fw_half, {s}>" for s in (51, 77)]
      + [f"slc2_grad_taps<fw_half, {s}, {tr}>" for s in (51, 77) for tr in ("false", "true")]
      + [f"slc2_grad_frame<fw_half, {s}, 3>" for s in (51, 77)],
    "separable_local_conv_v1.cu": [
        f"{kernel}<{t}, 3, {dense}>"
        for kernel in ("slc_forward", "slc_backward_kernels") for t in SCALARS for dense in ("true", "false")
    ] + [f"{kernel}<fw_half, 51, true>" for kernel in ("slc_forward", "slc_backward_kernels")]
      + [f"slc_forward_dense2<{t}, {k}>" for t in SCALARS for k in (3, 4)]
      + ["slc_forward_dense2<fw_half, 51>"]
      + [f"slc_backward_frame<{t}>" for t in SCALARS],
    "pixel_shader_blend.cu": [f"psb_blend<{t}>" for t in SCALARS],
}

#: the full set (every dtype at the production spans too): ``python -m frameweave.kernels.nvrtc_check --full``
FULL_INSTANTIATIONS = {
    **INSTANTIATIONS,
    "separable_local_conv.cu": INSTANTIATIONS["separable_local_conv.cu"] + [
        e for t in ("float", "fw_bf16") for s in (51, 77)
        for e in ([f"slc2_forward<{t}, {s}>", f"slc2_grad_frame<{t}, {s}, 3>"]
                  + [f"slc2_grad_taps<{t}, {s}, {tr}>" for tr in ("false", "true")])],
}

#: the production instantiations whose registers and spills ``resource_usage`` reports (sm_90)
PRODUCTION = [f"slc2_forward<fw_half, {s}>" for s in (51, 77)] + [
    f"slc2_grad_taps<fw_half, {s}, {tr}>" for s in (51, 77) for tr in ("false", "true")] + [
    f"slc2_grad_frame<fw_half, {s}, 3>" for s in (51, 77)]


class CompileError(RuntimeError):
    """NVRTC rejected a source; the message holds the compiler log."""


def nvrtc_status() -> tuple:
    """(available, reason): whether CuPy's NVRTC bindings load and find libnvrtc."""
    try:
        from cupy_backends.cuda.libs import nvrtc  # noqa: PLC0415
    except Exception as exc:
        return False, f"CuPy's NVRTC bindings are not importable ({type(exc).__name__}: {exc})"
    try:
        version = nvrtc.getVersion()
    except Exception as exc:
        return False, f"libnvrtc not found ({type(exc).__name__}: {exc}); pip install nvidia-cuda-nvrtc-cu12"
    return True, f"NVRTC {version[0]}.{version[1]}"


def compile_source(text: str, name: str = "kernel.cu", expressions=(), arch: str = "compute_90") -> str:
    """Compile ``text`` with NVRTC for ``arch``, instantiating ``expressions``; return the log.

    Raises :class:`CompileError` with the log when compilation fails.
    """
    from cupy_backends.cuda.libs import nvrtc  # noqa: PLC0415

    prog = nvrtc.createProgram(text, name, [], [])
    try:
        for expr in expressions:
            nvrtc.addNameExpression(prog, expr)
        try:
            nvrtc.compileProgram(prog, [f"-arch={arch}", *NVRTC_OPTIONS])
        except nvrtc.NVRTCError as exc:
            log = nvrtc.getProgramLog(prog)
            raise CompileError(f"{name} ({arch}) failed to compile: {exc}\n{log}") from None
        log = nvrtc.getProgramLog(prog)
        for expr in expressions:
            nvrtc.getLoweredName(prog, expr)   # raises if the instantiation does not exist
        nvrtc.getPTX(prog)
        return log
    finally:
        nvrtc.destroyProgram(prog)


def resource_usage(expressions=None, arch: str = "sm_90", name: str = "separable_local_conv.cu") -> dict:
    """Registers and spills per kernel instantiation, from ptxas (NVRTC ``--ptxas-options=-v`` for a
    real architecture ``arch``); ``expressions`` defaults to :data:`PRODUCTION`.

    Returns {expression: {"registers": int, "spill_stores": int, "spill_loads": int}}. The
    figures the docs' occupancy analysis uses; a test keeps the production kernels free of spills.
    """
    import re  # noqa: PLC0415

    from cupy_backends.cuda.libs import nvrtc  # noqa: PLC0415

    text = source(name)
    usage = {}
    for expr in (PRODUCTION if expressions is None else expressions):
        prog = nvrtc.createProgram(text, name, [], [])
        try:
            nvrtc.addNameExpression(prog, expr)
            try:
                nvrtc.compileProgram(prog, [f"-arch={arch}", *NVRTC_OPTIONS, "--ptxas-options=-v"])
            except nvrtc.NVRTCError as exc:
                raise CompileError(f"{expr} ({arch}) failed to compile: {exc}\n{nvrtc.getProgramLog(prog)}") from None
            log = nvrtc.getProgramLog(prog)
        finally:
            nvrtc.destroyProgram(prog)
        regs = re.search(r"Used (\d+) registers", log)
        spills = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", log)
        if regs is None or spills is None:
            raise CompileError(f"no ptxas resource line for {expr} ({arch}):\n{log}")
        usage[expr] = {"registers": int(regs[1]), "spill_stores": int(spills[1]), "spill_loads": int(spills[2])}
    return usage


def compile_all(archs=ARCHS, full: bool = False) -> dict:
    """Compile every ``kernels/*.cu`` for each arch; returns {"file (arch)": log}.

    Raises :class:`CompileError` on the first failure, and ``RuntimeError`` when a .cu file has no
    entry in :data:`INSTANTIATIONS` (so a new kernel cannot skip the check).
    """
    available, reason = nvrtc_status()
    if not available:
        raise RuntimeError(reason)
    table = FULL_INSTANTIATIONS if full else INSTANTIATIONS
    logs = {}
    for path in sorted(KERNEL_DIR.glob("*.cu")):
        if path.name not in table:
            raise RuntimeError(f"{path.name} has no instantiations listed in nvrtc_check.INSTANTIATIONS")
        for arch in archs:
            logs[f"{path.name} ({arch})"] = compile_source(source(path.name), path.name,
                                                           table[path.name], arch)
    return logs


def main() -> int:
    available, reason = nvrtc_status()
    if not available:
        print(f"skipped: {reason}")
        return 0
    if "--resources" in sys.argv[1:]:
        print("| kernel (sm_90) | registers | spill stores | spill loads |\n|---|---|---|---|")
        for expr, u in resource_usage().items():
            print(f"| `{expr}` | {u['registers']} | {u['spill_stores']} | {u['spill_loads']} |")
        return 0
    try:
        logs = compile_all(full="--full" in sys.argv[1:])
    except CompileError as exc:
        print(exc, file=sys.stderr)
        return 1
    for key, log in logs.items():
        print(f"ok  {key}" + (f"\n{log}" if log.strip() else ""))
    return 0


__all__ = ["compile_all", "compile_source", "resource_usage", "nvrtc_status", "CompileError", "PRELUDE"]

if __name__ == "__main__":
    sys.exit(main())
