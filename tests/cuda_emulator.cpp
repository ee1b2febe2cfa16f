// Host emulation of the CUDA kernels of kernels/*.cu (used by tests/test_kernels_nvrtc.py).
//
// The .cu files are compiled as host C++20: a block's CUDA threads are std::threads that run every
// block of the grid in turn, __syncthreads is a std::barrier, shared memory is a static buffer
// refilled with garbage (0x7f bytes, a huge finite float) before each block, so a kernel that reads
// shared memory it did not write gets a visibly wrong result. Built twice: as is (float) and with
// -DFW_DOUBLE, which makes every `float` a `double` so that the kernels' own arithmetic can be
// gradchecked in float64. fp16/bf16 conversions are inline PTX and only compile-checked by NVRTC.
// KDIR is replaced by the kernels' folder before compiling.
#include <algorithm>
#include <barrier>
#include <cmath>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>
#ifdef FW_DOUBLE
#define float double
#define fmaf fma
#endif
struct fw_dim3 { int x = 0, y = 0, z = 0; };
thread_local fw_dim3 threadIdx, blockIdx;
fw_dim3 blockDim, gridDim;
static std::barrier<>* g_barrier = nullptr;
#define __syncthreads() g_barrier->arrive_and_wait()
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __restrict__ __restrict
#define __shared__
struct float2 { float x, y; };
struct alignas(16) float4 { float x, y, z, w; };
alignas(64) float smem[1 << 20];
alignas(64) float2 smem2[1 << 19];
using std::max;
using std::min;
// float4 loads of the kernels: count the ones whose address is not a multiple of 4 floats from the
// (aligned) shared-memory buffer (a GPU faults on them; x86 does not care)
#include <atomic>
#include <cstdint>
static std::atomic<long> g_misaligned{0};
#define SLC2_CHECK_ALIGNED(ptr) \
    do { if (((std::uintptr_t)(ptr) - (std::uintptr_t)smem) % (4 * sizeof(float))) ++g_misaligned; } while (0)
extern "C" long emu_misaligned_loads() { return g_misaligned.exchange(0); }
inline float to_float(float v) { return v; }
template <typename T> T from_float(float f);
template <> inline float from_float<float>(float f) { return f; }
#ifndef FW_DOUBLE
// 16-bit storage types of the prelude (kernels/_cupy.py), with host conversions: fp16 through
// _Float16 (round to nearest even, as cvt.rn.f16.f32), bf16 with the prelude's own bit rounding.
struct fw_half { unsigned short bits; };
struct fw_bf16 { unsigned short bits; };
inline float to_float(fw_half v) { _Float16 h; std::memcpy(&h, &v.bits, 2); return (float)h; }
inline float to_float(fw_bf16 v) { unsigned int u = ((unsigned int)v.bits) << 16; float f; std::memcpy(&f, &u, 4); return f; }
template <> inline fw_half from_float<fw_half>(float f) { _Float16 h = (_Float16)f; fw_half r; std::memcpy(&r.bits, &h, 2); return r; }
template <> inline fw_bf16 from_float<fw_bf16>(float f) {
    unsigned int u;
    std::memcpy(&u, &f, 4);
    fw_bf16 r;
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        r.bits = (unsigned short)((u >> 16) | 0x0040u);
    } else {
        u += 0x7fffu + ((u >> 16) & 1u);
        r.bits = (unsigned short)(u >> 16);
    }
    return r;
}
#endif
#include "KDIR/separable_local_conv.cu"
#include "KDIR/separable_local_conv_v1.cu"
#include "KDIR/pixel_shader_blend.cu"

// Run kernel body f over the grid: one std::thread per CUDA thread, every block in turn. The threads
// persist across launches with the same block size (creating 256 threads per launch dominated the
// cost of a small launch); `start` and `done` hand them each launch.
struct Workers {
    int n = 0;
    std::vector<std::thread> threads;
    std::barrier<>* start = nullptr;
    std::barrier<>* done = nullptr;
    std::function<void()> body;
    fw_dim3 block, grid;
    bool quit = false;

    void run(int tid) {
        const int tx = tid % block.x, ty = (tid / block.x) % block.y, tz = tid / (block.x * block.y);
        for (;;) {
            start->arrive_and_wait();
            if (quit) return;
            threadIdx = {tx, ty, tz};
            const long nb = (long)grid.x * grid.y * grid.z;
            for (long blk = 0; blk < nb; ++blk) {
                blockIdx = {(int)(blk % grid.x), (int)((blk / grid.x) % grid.y), (int)(blk / ((long)grid.x * grid.y))};
                if (tid == 0) {
                    std::memset(smem, 0x7f, sizeof(smem));     // garbage, like real shared memory
                    std::memset(smem2, 0x7f, sizeof(smem2));
                }
                g_barrier->arrive_and_wait();
                body();
                g_barrier->arrive_and_wait();
            }
            done->arrive_and_wait();
        }
    }
    void resize(fw_dim3 b) {
        const int nt = b.x * b.y * b.z;
        if (nt == n && b.x == block.x && b.y == block.y) return;
        stop();
        block = b;
        n = nt;
        start = new std::barrier<>(n + 1);
        done = new std::barrier<>(n + 1);
        g_barrier = new std::barrier<>(n);
        for (int t = 0; t < n; ++t) threads.emplace_back([this, t] { run(t); });
    }
    void stop() {
        if (!n) return;
        quit = true;
        start->arrive_and_wait();
        for (auto& t : threads) t.join();
        threads.clear();
        delete start;
        delete done;
        delete g_barrier;
        quit = false;
        n = 0;
    }
    ~Workers() { stop(); }
};
static Workers g_workers;

template <class F> static void launch(fw_dim3 grid, fw_dim3 block, F f) {
    blockDim = block;
    gridDim = grid;
    g_workers.resize(block);
    g_workers.grid = grid;
    g_workers.body = f;
    g_workers.start->arrive_and_wait();
    g_workers.done->arrive_and_wait();
}

// Template arguments of the entry points: T1, T2 = the ints/bools after the scalar type in the
// launcher's name expression (v1: K, dense; v2: span S and TRANSPOSED or NCH).
#define FW_K_SWITCH(K, CALL) \
    switch (K) { case 1: { constexpr int KK = 1; CALL; } break; case 3: { constexpr int KK = 3; CALL; } break; \
                 case 5: { constexpr int KK = 5; CALL; } break; case 6: { constexpr int KK = 6; CALL; } break; \
                 case 7: { constexpr int KK = 7; CALL; } break; case 9: { constexpr int KK = 9; CALL; } break; \
                 case 17: { constexpr int KK = 17; CALL; } break; case 33: { constexpr int KK = 33; CALL; } break; \
                 case 61: { constexpr int KK = 61; CALL; } break; case 51: { constexpr int KK = 51; CALL; } break; \
                 case 77: { constexpr int KK = 77; CALL; } break; default: return 1; }
#define FW_DIMS int gx, int gy, int gz, int bx, int by, int bz
#define FW_GRID fw_dim3{gx, gy, gz}, fw_dim3{bx, by, bz}

// ---- v2 (separable_local_conv.cu) ----
// Entry points per storage type: emu_launch_<kernel> (float, every span of FW_K_SWITCH) and
// emu_launch_<kernel>_fw_half / _fw_bf16 (spans 3 and 7 only, to keep the build short).
#define FW_K_SWITCH16(K, CALL) \
    switch (K) { case 3: { constexpr int KK = 3; CALL; } break; case 7: { constexpr int KK = 7; CALL; } break; default: return 1; }
#define FW_V2_ENTRIES(SUFFIX, T, SWITCH)                                                                         \
    extern "C" int emu_launch_slc2_forward##SUFFIX(FW_DIMS, int S, int, const T* frame, const T* kv, const T* kh,  \
                                                   const int* taps, T* out, int C, int CG, int H, int W, int K,    \
                                                   int lo, int replicate) {                                        \
        SWITCH(S, launch(FW_GRID, [=] { slc2_forward<T, KK>(frame, kv, kh, taps, out, C, CG, H, W, K, lo, replicate); })) \
        return 0;                                                                                                  \
    }                                                                                                              \
    extern "C" int emu_launch_slc2_grad_taps##SUFFIX(FW_DIMS, int S, int transposed, const T* g, const T* frame,   \
                                                     const T* ks, const int* taps, T* gk, int C, int CG, int H,    \
                                                     int W, int K, int lo, int replicate) {                        \
        if (transposed) { SWITCH(S, launch(FW_GRID, [=] { slc2_grad_taps<T, KK, true>(g, frame, ks, taps, gk, C, CG, H, W, K, lo, replicate); })) } \
        else { SWITCH(S, launch(FW_GRID, [=] { slc2_grad_taps<T, KK, false>(g, frame, ks, taps, gk, C, CG, H, W, K, lo, replicate); })) } \
        return 0;                                                                                                  \
    }                                                                                                              \
    extern "C" int emu_launch_slc2_grad_frame##SUFFIX(FW_DIMS, int S, int nch, const T* g, const T* kv,           \
                                                      const T* kh, const int* taps, float* gf, int C, int c0,      \
                                                      int H, int W, int K, int lo, int ty0, int tx0, int THt,      \
                                                      int TWt) {                                                   \
        switch (nch) {                                                                                             \
            case 1: SWITCH(S, launch(FW_GRID, [=] { slc2_grad_frame<T, KK, 1>(g, kv, kh, taps, gf, C, c0, H, W, K, lo, ty0, tx0, THt, TWt); })) break; \
            case 2: SWITCH(S, launch(FW_GRID, [=] { slc2_grad_frame<T, KK, 2>(g, kv, kh, taps, gf, C, c0, H, W, K, lo, ty0, tx0, THt, TWt); })) break; \
            case 3: SWITCH(S, launch(FW_GRID, [=] { slc2_grad_frame<T, KK, 3>(g, kv, kh, taps, gf, C, c0, H, W, K, lo, ty0, tx0, THt, TWt); })) break; \
            case 4: SWITCH(S, launch(FW_GRID, [=] { slc2_grad_frame<T, KK, 4>(g, kv, kh, taps, gf, C, c0, H, W, K, lo, ty0, tx0, THt, TWt); })) break; \
            default: return 1;                                                                                     \
        }                                                                                                          \
        return 0;                                                                                                  \
    }
FW_V2_ENTRIES(, float, FW_K_SWITCH)
#ifndef FW_DOUBLE
FW_V2_ENTRIES(_fw_half, fw_half, FW_K_SWITCH16)
FW_V2_ENTRIES(_fw_bf16, fw_bf16, FW_K_SWITCH16)
#endif
// the kernels' own shared-memory formulas, for comparison with the Python launchers'
extern "C" int emu_slc2_patch_floats(int S, int K, int cg, int u_tile, int v_tile) {
    return slc2_patch_floats(S, K, cg, u_tile, v_tile);
}
extern "C" int emu_slc2_frame_floats(int S, int K) { return slc2_frame_floats(S, K); }

// ---- v1 (separable_local_conv_v1.cu) ----
extern "C" int emu_launch_slc_forward(FW_DIMS, int K, int dense, const float* frame, const float* kv,
                                      const float* kh, const int* offsets, float* out, int C, int H, int W,
                                      int lo, int span, int replicate) {
    if (dense) { FW_K_SWITCH(K, launch(FW_GRID, [=] { slc_forward<float, KK, true>(frame, kv, kh, offsets, out, C, H, W, lo, span, replicate); })) }
    else { FW_K_SWITCH(K, launch(FW_GRID, [=] { slc_forward<float, KK, false>(frame, kv, kh, offsets, out, C, H, W, lo, span, replicate); })) }
    return 0;
}
extern "C" int emu_launch_slc_forward_dense2(FW_DIMS, int K, int, const float* frame, const float* kv,
                                             const float* kh, float* out, int C, int H, int W, int lo, int replicate) {
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
extern "C" int emu_launch_slc_backward_frame(FW_DIMS, int, int, const float* g, const float* kv, const float* kh,
                                             const int* offsets, float* gpad, int B, int C, int H, int W, int K, int p) {
    launch(FW_GRID, [=] { slc_backward_frame<float>(g, kv, kh, offsets, gpad, B, C, H, W, K, p); });
    return 0;
}

// ---- pixel_shader_blend.cu ----
extern "C" int emu_launch_psb_blend(FW_DIMS, int, int, const float* a, const float* b, const float* v, const float* w,
                                    float* out, float* bmap, int C, int H, int W, int radius, float low, float high) {
    launch(FW_GRID, [=] { psb_blend<float>(a, b, v, w, out, bmap, C, H, W, radius, low, high); });
    return 0;
}
