"""Every CUDA source compiles with NVRTC (no GPU needed); a broken source fails the check; the
kernels' logic runs on the CPU through a host-C++ emulation and matches the PyTorch reference."""
import ctypes
import importlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from frameweave.kernels import nvrtc_check

available, reason = nvrtc_check.nvrtc_status()
needs_nvrtc = pytest.mark.skipif(not available, reason=f"NVRTC unavailable: {reason}")


@needs_nvrtc
@pytest.mark.parametrize("arch", nvrtc_check.ARCHS)
def test_nvrtc_compiles(arch):
    logs = nvrtc_check.compile_all(archs=(arch,))
    names = {key.split(" ")[0] for key in logs}
    assert names == {"separable_local_conv.cu", "separable_local_conv_v1.cu", "pixel_shader_blend.cu"}


@needs_nvrtc
def test_production_kernels_do_not_spill():
    """ptxas (through NVRTC) fits the production instantiations in registers: the register chunks
    (28 span slots x 4 pixels) are sized for that; a spill would move the inner loop to local memory."""
    usage = nvrtc_check.resource_usage(nvrtc_check.PRODUCTION[:4] + nvrtc_check.PRODUCTION[-2:-1])
    for expr, u in usage.items():
        assert u["spill_stores"] == 0 and u["spill_loads"] == 0, (expr, u)
        assert u["registers"] <= 255, (expr, u)


@needs_nvrtc
def test_broken_source_raises_with_the_log():
    broken = nvrtc_check.PRELUDE + "__global__ void k(float* x) { x[0] = 1.0f }\n"   # missing ';'
    with pytest.raises(nvrtc_check.CompileError, match="expected a \";\""):
        nvrtc_check.compile_source(broken, "broken.cu")


@needs_nvrtc
def test_missing_instantiation_raises():
    src = nvrtc_check.PRELUDE + "template <typename T> __global__ void k(T* x) { x[0] = T(); }\n"
    assert nvrtc_check.compile_source(src, "ok.cu", ["k<float>"]) is not None
    with pytest.raises(Exception):
        nvrtc_check.compile_source(src, "ok.cu", ["nope<float>"])


# --- the CUDA sources run on the CPU ---------------------------------------------------------
# Without a GPU, the kernels' index arithmetic is still checked: tests/cuda_emulator.cpp compiles the
# .cu files as host C++ (g++, C++20; one std::thread per CUDA thread, a std::barrier for
# __syncthreads, garbage-filled shared memory), once with float and once with every float a double
# (for gradcheck). The Python launchers run against it: ``kernels._cupy``'s device calls are replaced
# by the emulator, whose CPU tensors' data pointers are host pointers.
EMULATOR_SOURCE = Path(__file__).with_name("cuda_emulator.cpp")


def _cxx():
    return shutil.which("g++") or shutil.which("clang++")


@pytest.fixture(scope="module")
def emulators(tmp_path_factory):
    """{"float": CDLL, "double": CDLL}, both builds compiled in parallel."""
    cxx = _cxx()
    if cxx is None:
        pytest.skip("no C++ compiler (g++/clang++) for the CPU emulation of the CUDA kernels")
    from frameweave.kernels._cupy import KERNEL_DIR
    d = tmp_path_factory.mktemp("cuda_emulator")
    (d / "harness.cpp").write_text(EMULATOR_SOURCE.read_text().replace("KDIR", str(KERNEL_DIR)))
    builds = {"float": [], "double": ["-DFW_DOUBLE"]}
    procs = {name: subprocess.Popen([cxx, "-std=c++20", "-O1", "-pthread", "-shared", "-fPIC", *flags,
                                     "-o", str(d / f"emu_{name}.so"), str(d / "harness.cpp")],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name, flags in builds.items()}
    libs = {}
    for name, proc in procs.items():
        _, err = proc.communicate()
        if proc.returncode != 0:
            if "barrier" in err and "No such file" in err:
                pytest.skip("the C++ compiler lacks <barrier> (C++20)")
            raise AssertionError(f"the CUDA sources do not compile as host C++:\n{err[-4000:]}")
        libs[name] = ctypes.CDLL(str(d / f"emu_{name}.so"))
    return libs


class EmulatedCupy:
    """Stands in for ``kernels._cupy``'s device calls: ``kernel`` returns the instantiation name and
    ``launch`` runs it in the emulator with the launcher's own grid, block and argument tuple."""

    def __init__(self, lib, double=False, shared_limit=227 * 1024):
        self.lib, self.double, self.shared_limit, self.launches = lib, double, shared_limit, []

    def kernel(self, name, expression, device, shared_bytes=0):
        assert shared_bytes <= self.shared_limit, (expression, shared_bytes)
        return expression

    def max_shared_bytes(self, device):
        return self.shared_limit

    def launch(self, expression, device, grid, block, args, shared_bytes=0):
        m = re.fullmatch(r"(\w+)<(\w+)((?:, \w+)*)>", expression)
        assert m, expression
        params = [int(v) if v.isdigit() else int(v == "true") for v in m[3].split(", ")[1:]] + [0, 0]
        assert all(1 <= g <= 65535 for g in grid[1:]) and grid[0] >= 1, grid
        assert block[0] * block[1] * block[2] <= 256, block
        real = ctypes.c_double if self.double else ctypes.c_float
        c_args = []
        for a in args:
            if isinstance(a, np.uint64):
                c_args.append(ctypes.c_void_p(int(a)))
            elif isinstance(a, np.float32):
                c_args.append(real(float(a)))
            else:
                assert isinstance(a, np.int32), type(a)
                c_args.append(ctypes.c_int(int(a)))
        dims = [ctypes.c_int(int(v)) for v in (*grid, *block)]
        self.launches.append((expression, tuple(grid), shared_bytes))
        suffix = f"_{m[2]}" if m[2].startswith("fw_") else ""           # 16-bit storage: its own entry point
        rc = getattr(self.lib, f"emu_launch_{m[1]}{suffix}")(*dims, ctypes.c_int(params[0]), ctypes.c_int(params[1]),
                                                               *c_args)
        assert rc == 0, f"the emulator has no instantiation for {expression}"


def _install(monkeypatch, fake, double):
    from frameweave.kernels import _cupy
    for attr in ("kernel", "max_shared_bytes", "launch"):
        monkeypatch.setattr(_cupy, attr, getattr(fake, attr))
    if double:   # the double build's "float" kernels take float64 tensors
        monkeypatch.setitem(_cupy.SCALAR_TYPES, torch.float64, "double")
    return fake


@pytest.fixture
def emulated_cupy(emulators, monkeypatch):
    return _install(monkeypatch, EmulatedCupy(emulators["float"]), False)


@pytest.fixture
def emulated_cupy64(emulators, monkeypatch):
    return _install(monkeypatch, EmulatedCupy(emulators["double"], double=True), True)


def _slc():
    return importlib.import_module("frameweave.kernels.separable_local_conv")


def _inputs(B, C, H, W, K, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    frame, grad = torch.rand(B, C, H, W, generator=g, dtype=dtype), torch.randn(B, C, H, W, generator=g, dtype=dtype)
    kv, kh = torch.randn(B, K, H, W, generator=g, dtype=dtype), torch.randn(B, K, H, W, generator=g, dtype=dtype)
    return frame, grad, kv, kh


# cases of the v2 kernels: (offsets, padding, B, C, H, W). Tiles are 64x16 (forward, dL/dKh), 32x32
# (dL/dKv) and 128x32 targets (dL/dI); register chunks hold 28 span slots.
V2_CASES = {
    "dense5-replicate-partial-tiles": (tuple(range(-2, 3)), "replicate", 2, 3, 19, 70),
    "composite-zero-5ch": ((-4, -2, -1, 0, 1, 2, 4), "zero", 1, 5, 9, 33),
    "asymmetric-replicate-1ch": ((-2, 0, 3), "replicate", 1, 1, 7, 9),
    "K1-zero": ((0,), "zero", 1, 3, 5, 6),
    "dense33-two-chunks-kernel-larger-than-frame": (tuple(range(-16, 17)), "zero", 1, 3, 6, 9),
    "composite-span61-three-chunks": (None, "replicate", 1, 2, 5, 67),
}


def _case(name):
    offsets, padding, B, C, H, W = V2_CASES[name]
    if offsets is None:
        from frameweave.kernels import composite_dilation_offsets
        offsets = tuple(int(o) for o in composite_dilation_offsets(13, 16, 3))     # K = 29, span 61
    return offsets, padding, B, C, H, W


@pytest.mark.parametrize("name", list(V2_CASES))
def test_v2_kernels_match_the_reference_on_cpu_emulator(emulated_cupy, name):
    """cuda_forward / cuda_backward (v2) as a GPU would launch them: every tiling, channel groups,
    register chunks, both paddings, dense, composite and asymmetric taps, partial tiles."""
    slc = _slc()
    offsets, padding, B, C, H, W = _case(name)
    frame, grad, kv, kh = _inputs(B, C, H, W, len(offsets))
    out = slc.cuda_forward(frame, kv, kh, offsets, padding)
    torch.testing.assert_close(out, slc.reference_forward(frame, kv, kh, offsets, padding), atol=1e-5, rtol=1e-5)
    ours = slc.cuda_backward(grad, frame, kv, kh, offsets, padding)
    for what, a, b in zip(("frame", "k_vertical", "k_horizontal"), ours,
                          slc.reference_backward(grad, frame, kv, kh, offsets, padding)):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-5, msg=lambda m: f"dL/d{what}: {m}")
    names = sorted({e.split("<")[0] for e, _, _ in emulated_cupy.launches})
    assert names == ["slc2_forward", "slc2_grad_frame", "slc2_grad_taps"]
    assert emulated_cupy.lib.emu_misaligned_loads() == 0, "a float4 shared-memory load is not 16-byte aligned"


@pytest.mark.parametrize("taps,padding,shape", [("dense", "replicate", (1, 3, 37, 133)),
                                                ("composite", "zero", (1, 3, 35, 70)),
                                                ("dense", "zero", (2, 6, 20, 70))])
def test_v2_production_spans_on_cpu_emulator(emulated_cupy, taps, padding, shape):
    """The production instantiations themselves (span 51: chunks of 28 + 23 slots; span 77: 28 + 28 +
    21) against the reference, with softmax kernels as SepConv produces."""
    from frameweave.kernels import composite_dilation_offsets
    slc = _slc()
    offsets = (tuple(range(-25, 26)) if taps == "dense"
               else tuple(int(o) for o in composite_dilation_offsets(25, 26, 2)))
    frame, grad, kv, kh = _inputs(*shape, len(offsets), seed=7)
    kv, kh = kv.softmax(1), kh.softmax(1)
    torch.testing.assert_close(slc.cuda_forward(frame, kv, kh, offsets, padding),
                               slc.reference_forward(frame, kv, kh, offsets, padding), atol=1e-5, rtol=1e-5)
    for a, b in zip(slc.cuda_backward(grad, frame, kv, kh, offsets, padding),
                    slc.reference_backward(grad, frame, kv, kh, offsets, padding)):
        torch.testing.assert_close(a, b, atol=1e-5 * float(b.abs().max()), rtol=1e-4)
    assert emulated_cupy.lib.emu_misaligned_loads() == 0, "a float4 shared-memory load is not 16-byte aligned"


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("offsets,padding", [((-1, 0, 1), "replicate"), ((-3, -1, 0, 1, 3), "zero")])
def test_v2_16bit_storage_on_cpu_emulator(emulated_cupy, dtype, offsets, padding):
    """fp16 / bf16 instantiations (host versions of the prelude's conversions): 16-bit loads, float32
    sums, outputs and kernel gradients rounded once, as the reference does."""
    slc = _slc()
    frame, grad, kv, kh = (t.to(dtype) for t in _inputs(2, 3, 11, 70, len(offsets), seed=5))
    out = slc.cuda_forward(frame, kv, kh, offsets, padding)
    assert out.dtype == dtype
    torch.testing.assert_close(out, slc.reference_forward(frame, kv, kh, offsets, padding))
    for a, b in zip(slc.cuda_backward(grad, frame, kv, kh, offsets, padding),
                    slc.reference_backward(grad, frame, kv, kh, offsets, padding)):
        assert a.dtype == dtype
        torch.testing.assert_close(a, b)
    assert any("fw_" in e for e, _, _ in emulated_cupy.launches)


def test_v2_partial_gradients(emulated_cupy):
    """Only the needed gradients are launched (training: frames need none)."""
    slc = _slc()
    offsets = (-1, 0, 1)
    frame, grad, kv, kh = _inputs(1, 3, 5, 8, 3)
    g_frame, g_kv, g_kh = slc.cuda_backward(grad, frame, kv, kh, offsets, "replicate", needs=(False, True, True))
    assert g_frame is None
    ref = slc.reference_backward(grad, frame, kv, kh, offsets, "replicate")
    torch.testing.assert_close(g_kv, ref[1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(g_kh, ref[2], atol=1e-5, rtol=1e-5)
    assert [e.split("<")[0] for e, _, _ in emulated_cupy.launches] == ["slc2_grad_taps"] * 2
    emulated_cupy.launches.clear()
    g_frame, g_kv, g_kh = slc.cuda_backward(grad, frame, kv, kh, offsets, "zero", needs=(True, False, False))
    assert g_kv is None and g_kh is None
    torch.testing.assert_close(g_frame, slc.reference_backward(grad, frame, kv, kh, offsets, "zero")[0],
                               atol=1e-5, rtol=1e-5)
    assert [e.split("<")[0] for e, _, _ in emulated_cupy.launches] == ["slc2_grad_frame"]


@pytest.mark.parametrize("offsets,padding,fast", [("dense", "replicate", False), ("dense", "zero", True),
                                                  ("composite", "replicate", False), ("composite", "zero", True)])
def test_v2_gradcheck_on_cpu_emulator(emulated_cupy64, offsets, padding, fast):
    """The CUDA autograd Function, forward and backward kernels both emulated in float64: the
    backward kernels are the derivative of the forward kernel (two cases with the full Jacobian,
    two with gradcheck's random projections, which are far fewer emulated launches)."""
    slc = _slc()
    offs = (-2, 0, 2) if offsets == "composite" else (-1, 0, 1)      # composite_dilation_offsets(1, 2, 2)
    frame, _, kv, kh = _inputs(1, 2, 3, 5, 3, seed=3, dtype=torch.float64)
    leaves = [t.requires_grad_() for t in (frame, kv / 3, kh / 3)]
    assert torch.autograd.gradcheck(lambda a, b, c: slc._CudaFunction.apply(a, b, c, offs, padding), leaves,
                                    eps=1e-6, atol=1e-7, fast_mode=fast)
    assert {e.split("<")[0] for e, _, _ in emulated_cupy64.launches} == {"slc2_forward", "slc2_grad_taps",
                                                                         "slc2_grad_frame"}


def test_public_op_on_cpu_emulator(emulated_cupy, monkeypatch):
    """separable_local_conv itself on the CUDA path: batches split at the grid-z limit (lowered to 2
    here), channels-last and non-contiguous inputs, an empty batch, gradients through autograd."""
    from frameweave.kernels import _dispatch, separable_local_conv
    slc = _slc()
    offsets = (-1, 0, 1)
    frame, grad, kv, kh = _inputs(5, 3, 6, 11, 3, seed=4)
    frame = frame.contiguous(memory_format=torch.channels_last)
    kv = torch.cat([kv, kv], dim=1)[:, ::2]                        # non-contiguous view [5,3,6,11]
    assert not kv.is_contiguous()
    expected_out = slc.reference_forward(frame, kv, kh, offsets, "replicate")
    expected = slc.reference_backward(grad, frame, kv, kh, offsets, "replicate")
    monkeypatch.setattr(_dispatch, "use_cuda", lambda *tensors: True)
    monkeypatch.setattr(_dispatch, "MAX_CUDA_BATCH", 2)
    leaves = [t.clone().requires_grad_() for t in (frame, kv, kh)]
    out = separable_local_conv(*leaves)
    out.backward(grad)
    torch.testing.assert_close(out, expected_out, atol=1e-5, rtol=1e-5)
    for leaf, ref in zip(leaves, expected):
        torch.testing.assert_close(leaf.grad, ref, atol=1e-5, rtol=1e-5)
    assert [grid[2] for e, grid, _ in emulated_cupy.launches if e.startswith("slc2_forward")] == [2, 2, 1]
    n = len(emulated_cupy.launches)
    assert separable_local_conv(frame[:0], kv[:0], kh[:0]).shape == (0, 3, 6, 11)
    assert len(emulated_cupy.launches) == n                          # an empty batch launches nothing


def test_shared_memory_formulas_match_the_kernels(emulators):
    """The launchers size dynamic shared memory with Python copies of the kernels' constexpr
    formulas; both must agree (a launcher that asks for too little corrupts memory on a GPU)."""
    slc = _slc()
    lib = emulators["float"]
    for span, K in ((1, 1), (3, 3), (6, 3), (9, 7), (33, 33), (51, 51), (61, 29), (77, 51)):
        for cg in (1, 3, 4):
            for u_tile, v_tile in ((64, 16), (32, 32)):
                assert slc._patch_floats(span, K, cg, u_tile, v_tile) == lib.emu_slc2_patch_floats(
                    span, K, cg, u_tile, v_tile), (span, K, cg, u_tile)
        assert slc._frame_floats(span, K) == lib.emu_slc2_frame_floats(span, K), (span, K)


@pytest.mark.parametrize("offsets,padding,channels", [((-2, -1, 0, 1, 2), "replicate", 6),
                                                      ((-4, -2, -1, 0, 1, 2, 4), "zero", 5),
                                                      ((-1, 0, 1), "zero", 3)])
def test_v1_launchers_on_cpu_emulator(emulated_cupy, monkeypatch, offsets, padding, channels):
    """The kept v1 kernels (FRAMEWEAVE_SLC_KERNELS=v1, for benchmarks): channel groups of at most 4,
    the accumulate flag, the dense2 choice, the frame-gradient launches, against the reference."""
    monkeypatch.setenv("FRAMEWEAVE_SLC_KERNELS", "v1")
    slc = _slc()
    B, C, H, W, K = 2, channels, 10, 70, len(offsets)
    frame, grad, kv, kh = _inputs(B, C, H, W, K, seed=2)
    out = slc.cuda_forward(frame, kv, kh, offsets, padding)
    torch.testing.assert_close(out, slc.reference_forward(frame, kv, kh, offsets, padding), atol=1e-5, rtol=1e-5)
    for ours, ref in zip(slc.cuda_backward(grad, frame, kv, kh, offsets, padding),
                         slc.reference_backward(grad, frame, kv, kh, offsets, padding)):
        torch.testing.assert_close(ours, ref, atol=1e-4, rtol=1e-5)
    names = {e.split("<")[0] for e, _, _ in emulated_cupy.launches}
    dense = offsets == tuple(range(offsets[0], offsets[0] + K))
    assert names == {"slc_forward_dense2" if dense else "slc_forward", "slc_backward_kernels", "slc_backward_frame"}


def test_kernel_version_switch(monkeypatch):
    from frameweave.kernels import _dispatch
    monkeypatch.delenv("FRAMEWEAVE_SLC_KERNELS", raising=False)
    assert _dispatch.slc_kernels() == "v2"
    monkeypatch.setenv("FRAMEWEAVE_SLC_KERNELS", "V1")
    assert _dispatch.slc_kernels() == "v1"
    monkeypatch.setenv("FRAMEWEAVE_SLC_KERNELS", "v3")
    with pytest.raises(ValueError, match="FRAMEWEAVE_SLC_KERNELS"):
        _dispatch.slc_kernels()


@pytest.mark.parametrize("radius", [0, 2, 3])
def test_pixel_shader_launcher_on_cpu_emulator(emulated_cupy, radius):
    from frameweave.kernels.pixel_shader_blend import cuda_pixel_shader_blend, reference_pixel_shader_blend
    g = torch.Generator().manual_seed(3)
    a, b, v = (torch.rand(2, 3, 12, 45, generator=g) for _ in range(3))
    b[..., :20] = a[..., :20] + 0.01 * torch.rand(2, 3, 12, 20, generator=g)   # a static left part
    out, bmap = cuda_pixel_shader_blend(a, b, v, radius, 2.0, 6.0)
    ref, ref_map = reference_pixel_shader_blend(a, b, v, radius, 2.0, 6.0)
    torch.testing.assert_close(bmap, ref_map, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=1e-6)


def test_benchmark_gpu_rows_on_cpu_emulator(emulated_cupy, monkeypatch, tmp_path):
    """benchmarks/kernels.py's GPU rows (every version and pass, the ratio summary) run here on the
    emulated kernels with torch.cuda's timing calls stubbed, so a lent GPU's minutes are not spent
    finding a bug in the script."""
    import importlib.util
    import time

    from frameweave.kernels import _dispatch
    spec = importlib.util.spec_from_file_location("bench_kernels", Path(__file__).parents[1] / "benchmarks" / "kernels.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    class Event:
        def __init__(self, enable_timing=False):
            self.t = 0.0

        def record(self):
            self.t = time.perf_counter()

        def elapsed_time(self, end):
            return (end.t - self.t) * 1e3

    for name, value in (("Event", Event), ("synchronize", lambda: None), ("memory_allocated", lambda: 0),
                        ("max_memory_allocated", lambda: 0), ("reset_peak_memory_stats", lambda: None),
                        ("empty_cache", lambda: None)):
        monkeypatch.setattr(torch.cuda, name, value)
    monkeypatch.setattr(_dispatch, "use_cuda", lambda *tensors: _dispatch.mode() != "torch")
    monkeypatch.setattr(bench, "K", 3)
    monkeypatch.setitem(bench.SIZES, "tiny", (6, 9))
    monkeypatch.setitem(bench.BATCH, "tiny", 2)
    make = bench.inputs
    monkeypatch.setattr(bench, "inputs", lambda h, w, dtype, device, batch=1: make(h, w, dtype, "cpu", batch))
    for var in ("FRAMEWEAVE_KERNELS", "FRAMEWEAVE_SLC_KERNELS"):
        monkeypatch.setenv(var, "auto" if var == "FRAMEWEAVE_KERNELS" else "v2")
    times = {}
    for path in ("v1", "v2", "torch"):
        for what in bench.GPU_PASSES:
            r = bench.gpu_case("tiny", torch.float32, path, what, 2)
            assert r["runs"] == 2 and r["time_s"] > 0 and ("bandwidth" in r) == (what == "fwd")
            times[("tiny", "fp32", path, what)] = r["time_s"]
    launched = {e.split("<")[0] for e, _, _ in emulated_cupy.launches}
    assert {"slc_forward_dense2", "slc_backward_kernels", "slc2_forward", "slc2_grad_taps", "slc2_grad_frame"} <= launched
    summary = bench.gpu_summary(times, ["v1", "v2"])
    assert len(summary) == 4 and summary[3].startswith("| tiny | fp32 | CUDA v2 |") and "–" not in summary[3]
    # main() end to end with the cases stubbed: the table, the ratios, the variables restored
    def fake_case(size, dtype, path, what, repeats):          # sets the variables as gpu_case does
        os.environ["FRAMEWEAVE_KERNELS"] = "torch" if path == "torch" else "cuda"
        os.environ["FRAMEWEAVE_SLC_KERNELS"] = path if path != "torch" else os.environ["FRAMEWEAVE_SLC_KERNELS"]
        return {"time_s": 1e-3, "runs": repeats, "peak_mib": 0.0}

    monkeypatch.setattr(bench, "gpu_case", fake_case)
    monkeypatch.setattr(bench, "blend_case", lambda size, device, repeats: 1e-3)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "NVIDIA H200")
    monkeypatch.setattr(_dispatch, "cupy_status", lambda: (True, "emulated"))
    monkeypatch.setenv("FRAMEWEAVE_SLC_KERNELS", "v2")
    monkeypatch.setenv("FRAMEWEAVE_KERNELS", "auto")
    out = tmp_path / "kernels_gpu.md"
    assert bench.main(["--no-cpu", "--sizes", "train,1080p", "--repeats", "3", "--versions", "v2,v1", "--out", str(out)]) == 0
    text = out.read_text()
    assert "| 16x 128x128 | CUDA v1 | fp16 | fwd+bwd Kv,Kh |" in text and "## GPU ratios (one run)" in text
    assert "--no-cpu --versions v2,v1" in text
    assert os.environ["FRAMEWEAVE_SLC_KERNELS"] == "v2" and os.environ["FRAMEWEAVE_KERNELS"] == "auto"
