"""Every CUDA source compiles with NVRTC (no GPU needed); a broken source fails the check; the
kernels' logic runs on the CPU through a host-C++ emulation and matches the PyTorch reference."""
import ctypes
import shutil
import subprocess

import numpy as np
import pytest
import torch

from frameweave.kernels import nvrtc_check

available, reason = nvrtc_check.nvrtc_status()
needs_nvrtc = pytest.mark.skipif(not available, reason=f"NVRTC unavailable: {reason}")


@needs_nvrtc
def test_nvrtc_compiles():
    logs = nvrtc_check.compile_all(archs=("compute_90",))
    names = {key.split(" ")[0] for key in logs}
    assert {"separable_local_conv.cu", "pixel_shader_blend.cu"} <= names


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
# Without a GPU, the kernels' index arithmetic is still checked: the .cu files are compiled as host
# C++ (g++, C++20) with one std::thread per CUDA thread and a std::barrier for __syncthreads, and
# their float instantiations are compared with the PyTorch reference. (fp16/bf16 conversions use
# inline PTX and are only compile-checked above.)
HARNESS = r"""
// Host emulation of the CUDA kernels: one std::thread per CUDA thread, std::barrier for __syncthreads.
#include <algorithm>
#include <barrier>
#include <cmath>
#include <cstring>
#include <thread>
#include <vector>
struct fw_dim3 { int x = 0, y = 0, z = 0; };
thread_local fw_dim3 threadIdx;
fw_dim3 blockIdx, blockDim, gridDim;
static std::barrier<>* g_barrier = nullptr;
#define __syncthreads() g_barrier->arrive_and_wait()
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(x)
#define __restrict__ __restrict
#define __shared__
struct float2 { float x, y; };
alignas(16) float smem[1 << 20];
alignas(16) float2 smem2[1 << 19];
using std::max;
using std::min;
inline float to_float(float v) { return v; }
template <typename T> T from_float(float f);
template <> inline float from_float<float>(float f) { return f; }
#include "KDIR/separable_local_conv.cu"
#include "KDIR/pixel_shader_blend.cu"

template <class F> static void launch(fw_dim3 grid, fw_dim3 block, F f) {
    blockDim = block;
    gridDim = grid;
    const int nt = block.x * block.y * block.z;
    for (int bz = 0; bz < grid.z; ++bz)
        for (int by = 0; by < grid.y; ++by)
            for (int bx = 0; bx < grid.x; ++bx) {
                blockIdx = {bx, by, bz};
                std::memset(smem, 0x7f, sizeof(smem));          // garbage, like real shared memory
                std::memset(smem2, 0x7f, sizeof(smem2));
                std::barrier<> bar(nt);
                g_barrier = &bar;
                std::vector<std::thread> ts;
                for (int tz = 0; tz < block.z; ++tz)
                    for (int ty = 0; ty < block.y; ++ty)
                        for (int tx = 0; tx < block.x; ++tx)
                            ts.emplace_back([=] { threadIdx = {tx, ty, tz}; f(); });
                for (auto& t : ts) t.join();
            }
}

#define FW_K_SWITCH(K, CALL) \
    switch (K) { case 3: { constexpr int KK = 3; CALL; } break; case 5: { constexpr int KK = 5; CALL; } break; \
                 case 7: { constexpr int KK = 7; CALL; } break; case 9: { constexpr int KK = 9; CALL; } break; default: return 1; }

extern "C" int emu_forward(const float* frame, const float* kv, const float* kh, const int* offsets, float* out,
                           int B, int C, int H, int W, int K, int lo, int span, int replicate, int dense) {
    fw_dim3 grid{(W + SLC_TW - 1) / SLC_TW, (H + SLC_TH - 1) / SLC_TH, B}, block{SLC_TW, SLC_TH, 1};
    if (dense) { FW_K_SWITCH(K, launch(grid, block, [=] { slc_forward<float, KK, true>(frame, kv, kh, offsets, out, C, H, W, lo, span, replicate); })) }
    else { FW_K_SWITCH(K, launch(grid, block, [=] { slc_forward<float, KK, false>(frame, kv, kh, offsets, out, C, H, W, lo, span, replicate); })) }
    return 0;
}

extern "C" int emu_forward_dense2(const float* frame, const float* kv, const float* kh, float* out,
                                  int B, int C, int H, int W, int K, int lo, int replicate) {
    fw_dim3 grid{(W + SLC_TW2 - 1) / SLC_TW2, (H + SLC_TH - 1) / SLC_TH, B}, block{SLC_TW, SLC_TH, 1};
    FW_K_SWITCH(K, launch(grid, block, [=] { slc_forward_dense2<float, KK>(frame, kv, kh, out, C, H, W, lo, replicate); }))
    return 0;
}

extern "C" int emu_backward_kernels(const float* g, const float* frame, const float* kv, const float* kh,
                                    const int* offsets, float* gkv, float* gkh, int B, int C, int H, int W,
                                    int K, int lo, int span, int replicate, int dense, int accumulate) {
    fw_dim3 grid{(W + SLC_TW - 1) / SLC_TW, (H + SLC_TH - 1) / SLC_TH, B}, block{SLC_TW, SLC_TH, 1};
    if (dense) { FW_K_SWITCH(K, launch(grid, block, [=] { slc_backward_kernels<float, KK, true>(g, frame, kv, kh, offsets, gkv, gkh, C, H, W, lo, span, replicate, accumulate); })) }
    else { FW_K_SWITCH(K, launch(grid, block, [=] { slc_backward_kernels<float, KK, false>(g, frame, kv, kh, offsets, gkv, gkh, C, H, W, lo, span, replicate, accumulate); })) }
    return 0;
}

extern "C" int emu_backward_frame(const float* g, const float* kv, const float* kh, const int* offsets,
                                  float* gpad, int B, int C, int H, int W, int K, int p) {
    const long long n = (long long)B * (H + 2 * p) * (W + 2 * p);
    launch(fw_dim3{(int)((n + 255) / 256), 1, 1}, fw_dim3{256, 1, 1},
           [=] { slc_backward_frame<float>(g, kv, kh, offsets, gpad, B, C, H, W, K, p); });
    return 0;
}

// Entry points with the kernels' own parameter lists and the grid/block chosen by the Python
// launchers, so the launchers themselves (grids, channel groups, argument order) run here too.
#define FW_DIMS int gx, int gy, int gz, int bx, int by, int bz
#define FW_GRID fw_dim3{gx, gy, gz}, fw_dim3{bx, by, bz}
extern "C" int emu_launch_slc_forward(FW_DIMS, int K, int dense, const float* frame, const float* kv,
                                      const float* kh, const int* offsets, float* out, int C, int H, int W,
                                      int lo, int span, int replicate) {
    if (dense) { FW_K_SWITCH(K, launch(FW_GRID, [=] { slc_forward<float, KK, true>(frame, kv, kh, offsets, out, C, H, W, lo, span, replicate); })) }
    else { FW_K_SWITCH(K, launch(FW_GRID, [=] { slc_forward<float, KK, false>(frame, kv, kh, offsets, out, C, H, W, lo, span, replicate); })) }
    return 0;
}
extern "C" int emu_launch_slc_forward_dense2(FW_DIMS, int K, int dense, const float* frame, const float* kv,
                                             const float* kh, float* out, int C, int H, int W, int lo,
                                             int replicate) {
    FW_K_SWITCH(K, launch(FW_GRID, [=] { slc_forward_dense2<float, KK>(frame, kv, kh, out, C, H, W, lo, replicate); }))
    return 0;
}
extern "C" int emu_launch_slc_backward_kernels(FW_DIMS, int K, int dense, const float* g, const float* frame,
                                               const float* kv, const float* kh, const int* offsets, float* gkv,
                                               float* gkh, int C, int H, int W, int lo, int span, int replicate,
                                               int accumulate) {
    if (dense) { FW_K_SWITCH(K, launch(FW_GRID, [=] { slc_backward_kernels<float, KK, true>(g, frame, kv, kh, offsets, gkv, gkh, C, H, W, lo, span, replicate, accumulate); })) }
    else { FW_K_SWITCH(K, launch(FW_GRID, [=] { slc_backward_kernels<float, KK, false>(g, frame, kv, kh, offsets, gkv, gkh, C, H, W, lo, span, replicate, accumulate); })) }
    return 0;
}
extern "C" int emu_launch_slc_backward_frame(FW_DIMS, int K_, int dense, const float* g, const float* kv,
                                             const float* kh, const int* offsets, float* gpad, int B, int C,
                                             int H, int W, int K, int p) {
    launch(FW_GRID, [=] { slc_backward_frame<float>(g, kv, kh, offsets, gpad, B, C, H, W, K, p); });
    return 0;
}
extern "C" int emu_launch_psb_blend(FW_DIMS, int K_, int dense, const float* a, const float* b, const float* v,
                                    const float* w, float* out, float* bmap, int C, int H, int W, int radius,
                                    float low, float high) {
    launch(FW_GRID, [=] { psb_blend<float>(a, b, v, w, out, bmap, C, H, W, radius, low, high); });
    return 0;
}

extern "C" int emu_psb(const float* a, const float* b, const float* v, const float* w, float* out, float* bmap,
                       int B, int C, int H, int W, int radius, float low, float high) {
    launch(fw_dim3{(W + PSB_TW - 1) / PSB_TW, (H + PSB_TH - 1) / PSB_TH, B}, fw_dim3{PSB_TW, PSB_TH, 1},
           [=] { psb_blend<float>(a, b, v, w, out, bmap, C, H, W, radius, low, high); });
    return 0;
}
"""


def _cxx():
    return shutil.which("g++") or shutil.which("clang++")


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    cxx = _cxx()
    if cxx is None:
        pytest.skip("no C++ compiler (g++/clang++) for the CPU emulation of the CUDA kernels")
    from frameweave.kernels._cupy import KERNEL_DIR
    d = tmp_path_factory.mktemp("cuda_emulator")
    (d / "harness.cpp").write_text(HARNESS.replace("KDIR", str(KERNEL_DIR)))
    res = subprocess.run([cxx, "-std=c++20", "-O1", "-pthread", "-shared", "-fPIC", "-o", str(d / "emu.so"),
                          str(d / "harness.cpp")], capture_output=True, text=True)
    if res.returncode != 0:
        if "barrier" in res.stderr and "No such file" in res.stderr:
            pytest.skip("the C++ compiler lacks <barrier> (C++20)")
        raise AssertionError(f"the CUDA sources do not compile as host C++:\n{res.stderr[-4000:]}")
    return ctypes.CDLL(str(d / "emu.so"))


def _p(t):
    assert t.is_contiguous() and t.dtype in (torch.float32, torch.int32)
    return ctypes.c_void_p(t.data_ptr())


@pytest.mark.parametrize("offsets,padding", [((-2, -1, 0, 1, 2), "replicate"), ((-4, -2, -1, 0, 1, 2, 4), "zero")])
def test_cuda_sources_on_cpu_emulator(emulator, offsets, padding):
    from frameweave.kernels.separable_local_conv import _unpad_grad, reference_backward, reference_forward
    i = ctypes.c_int
    B, C, H, W = 1, 3, 9, 65            # 2 column tiles, odd width (last thread of dense2 has one pixel)
    K, lo = len(offsets), min(offsets)
    span, p = max(offsets) - lo + 1, max(abs(o) for o in offsets)
    dense = offsets == tuple(range(lo, lo + K))
    g = torch.Generator().manual_seed(0)
    frame, grad = torch.rand(B, C, H, W, generator=g), torch.randn(B, C, H, W, generator=g)
    kv, kh = torch.randn(B, K, H, W, generator=g), torch.randn(B, K, H, W, generator=g)
    taps = torch.tensor(offsets, dtype=torch.int32)
    rep = int(padding == "replicate")
    out = torch.empty_like(frame)
    assert emulator.emu_forward(_p(frame), _p(kv), _p(kh), _p(taps), _p(out), i(B), i(C), i(H), i(W), i(K),
                                i(lo), i(span), i(rep), i(dense)) == 0
    ref = reference_forward(frame, kv, kh, offsets, padding)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    if dense:
        out2 = torch.empty_like(frame)
        assert emulator.emu_forward_dense2(_p(frame), _p(kv), _p(kh), _p(out2), i(B), i(C), i(H), i(W), i(K),
                                           i(lo), i(rep)) == 0
        torch.testing.assert_close(out2, ref, atol=1e-5, rtol=1e-5)
    g_frame, g_kv, g_kh = reference_backward(grad, frame, kv, kh, offsets, padding)
    gkv, gkh = torch.empty_like(kv), torch.empty_like(kh)
    assert emulator.emu_backward_kernels(_p(grad), _p(frame), _p(kv), _p(kh), _p(taps), _p(gkv), _p(gkh), i(B),
                                         i(C), i(H), i(W), i(K), i(lo), i(span), i(rep), i(dense), i(0)) == 0
    torch.testing.assert_close(gkv, g_kv, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(gkh, g_kh, atol=1e-5, rtol=1e-5)
    gpad = torch.empty(B, C, H + 2 * p, W + 2 * p)
    assert emulator.emu_backward_frame(_p(grad), _p(kv), _p(kh), _p(taps), _p(gpad), i(B), i(C), i(H), i(W),
                                       i(K), i(p)) == 0
    torch.testing.assert_close(_unpad_grad(gpad, p, padding), g_frame, atol=1e-5, rtol=1e-5)


def test_pixel_shader_source_on_cpu_emulator(emulator):
    from frameweave.kernels.pixel_shader_blend import gaussian_weights, reference_pixel_shader_blend
    B, C, H, W = 1, 3, 11, 40
    g = torch.Generator().manual_seed(1)
    a, b, v = (torch.rand(B, C, H, W, generator=g) for _ in range(3))
    b[..., :20] = a[..., :20] + 0.01 * torch.rand(B, C, H, 20, generator=g)   # a static left half
    for radius in (0, 3):
        w = gaussian_weights(radius)
        out, bmap = torch.empty_like(a), torch.empty(B, 1, H, W)
        assert emulator.emu_psb(_p(a), _p(b), _p(v), _p(w), _p(out), _p(bmap), ctypes.c_int(B), ctypes.c_int(C),
                                ctypes.c_int(H), ctypes.c_int(W), ctypes.c_int(radius), ctypes.c_float(2.0),
                                ctypes.c_float(6.0)) == 0
        ref, ref_map = reference_pixel_shader_blend(a, b, v, radius, 2.0, 6.0)
        torch.testing.assert_close(bmap, ref_map, atol=1e-4, rtol=1e-5)
        torch.testing.assert_close(out, ref, atol=1e-6, rtol=1e-6)


# --- the Python launchers, run against the emulated kernels -------------------------------------
class EmulatedCupy:
    """Stands in for ``kernels._cupy``'s device calls: ``kernel`` returns the instantiation name and
    ``launch`` runs it in the emulator with the launcher's own grid, block and argument tuple.
    CPU tensors' data pointers are host pointers, which is what the emulated kernels read."""

    def __init__(self, emulator, shared_limit=227 * 1024):
        self.emulator, self.shared_limit, self.launches = emulator, shared_limit, []

    def kernel(self, name, expression, device, shared_bytes=0):
        assert shared_bytes <= self.shared_limit, (expression, shared_bytes)
        return expression

    def max_shared_bytes(self, device):
        return self.shared_limit

    def launch(self, expression, device, grid, block, args, shared_bytes=0):
        import re
        m = re.fullmatch(r"(\w+)<float(?:, (\d+))?(?:, (true|false))?>", expression)
        assert m, expression
        name, K, dense = m[1], int(m[2] or 0), int(m[3] != "false")
        assert all(1 <= g <= 65535 for g in grid[1:]) and grid[0] >= 1, grid
        assert block[0] * block[1] * block[2] <= 256, block
        c_args = []
        for a in args:
            if isinstance(a, np.uint64):
                c_args.append(ctypes.c_void_p(int(a)))
            elif isinstance(a, np.float32):
                c_args.append(ctypes.c_float(float(a)))
            else:
                assert isinstance(a, np.int32), type(a)
                c_args.append(ctypes.c_int(int(a)))
        dims = [ctypes.c_int(int(v)) for v in (*grid, *block)]
        self.launches.append((expression, tuple(grid), shared_bytes))
        assert getattr(self.emulator, f"emu_launch_{name}")(*dims, ctypes.c_int(K), ctypes.c_int(dense), *c_args) == 0


@pytest.fixture
def emulated_cupy(emulator, monkeypatch):
    from frameweave.kernels import _cupy
    fake = EmulatedCupy(emulator)
    for attr in ("kernel", "max_shared_bytes", "launch"):
        monkeypatch.setattr(_cupy, attr, getattr(fake, attr))
    return fake


@pytest.mark.parametrize("offsets,padding,channels", [((-2, -1, 0, 1, 2), "replicate", 6),
                                                      ((-4, -2, -1, 0, 1, 2, 4), "zero", 5),
                                                      ((-1, 0, 1), "zero", 3)])
def test_python_launchers_on_cpu_emulator(emulated_cupy, offsets, padding, channels):
    """cuda_forward / cuda_backward as a GPU would run them (channel groups of at most 4, the
    accumulate flag, the dense2 choice, the frame-gradient launches), against the reference."""
    from frameweave.kernels.separable_local_conv import cuda_backward, cuda_forward, reference_backward, reference_forward
    g = torch.Generator().manual_seed(2)
    B, C, H, W, K = 2, channels, 10, 70, len(offsets)
    frame, grad = torch.rand(B, C, H, W, generator=g), torch.randn(B, C, H, W, generator=g)
    kv, kh = torch.randn(B, K, H, W, generator=g), torch.randn(B, K, H, W, generator=g)
    out = cuda_forward(frame, kv, kh, offsets, padding)
    torch.testing.assert_close(out, reference_forward(frame, kv, kh, offsets, padding), atol=1e-5, rtol=1e-5)
    for ours, ref in zip(cuda_backward(grad, frame, kv, kh, offsets, padding),
                         reference_backward(grad, frame, kv, kh, offsets, padding)):
        torch.testing.assert_close(ours, ref, atol=1e-4, rtol=1e-5)
    names = {e.split("<")[0] for e, _, _ in emulated_cupy.launches}
    dense = offsets == tuple(range(offsets[0], offsets[0] + K))
    assert names == {"slc_forward_dense2" if dense else "slc_forward", "slc_backward_kernels", "slc_backward_frame"}


def test_pixel_shader_launcher_on_cpu_emulator(emulated_cupy):
    from frameweave.kernels.pixel_shader_blend import cuda_pixel_shader_blend, reference_pixel_shader_blend
    g = torch.Generator().manual_seed(3)
    a, b, v = (torch.rand(2, 3, 12, 45, generator=g) for _ in range(3))
    b[..., :20] = a[..., :20] + 0.01 * torch.rand(2, 3, 12, 20, generator=g)
    out, bmap = cuda_pixel_shader_blend(a, b, v, 2, 2.0, 6.0)
    ref, ref_map = reference_pixel_shader_blend(a, b, v, 2, 2.0, 6.0)
    torch.testing.assert_close(bmap, ref_map, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=1e-6)
