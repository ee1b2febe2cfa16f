// Adaptive separable local convolution (SepConv, Niklaus et al., ICCV 2017, Eq. 3): the FIRST
// kernels (v1), measured on the H200 on 2026-12-04 (benchmarks/results/kernels_h200_2026-12-04.md).
// Kept only so that benchmarks/kernels.py --versions v1,v2 can time them against the v2 kernels of
// separable_local_conv.cu in one GPU run (FRAMEWEAVE_SLC_KERNELS=v1 selects them); remove once a
// run shows v2 faster in every row.
//
//   out(b,c,y,x) = sum_i sum_j I(b,c, y + o_i, x + o_j) * Kv(b,i,y,x) * Kh(b,j,y,x)
//
// Compiled by NVRTC through CuPy with the prelude of kernels/_cupy.py prepended (it defines the
// storage types fw_half / fw_bf16 and to_float / from_float, so no CUDA headers are needed).
// scalar_t is float, fw_half or fw_bf16; every sum is accumulated in float32.
//
// Layouts: frame/out/grad_out [B,C,H,W]; kv/kh [B,K,H,W]; offsets int32 [K]; all contiguous.
// One launch handles up to SLC_CMAX channels (the launcher splits wider tensors).
// `lo` = min(offsets), `span` = max(offsets) - lo + 1; DENSE means offsets[j] == lo + j.
// Padding: replicate != 0 clamps reads to the border, otherwise reads outside the frame are 0.

#define SLC_TW 32
#define SLC_TH 8
#define SLC_CMAX 4

// Read frame(b, c, fy, fx) with the chosen padding, as float.
template <typename scalar_t>
__device__ __forceinline__ float slc_read(const scalar_t* __restrict__ plane, int fy, int fx,
                                          int H, int W, int replicate) {
    if (replicate) {
        fy = min(max(fy, 0), H - 1);
        fx = min(max(fx, 0), W - 1);
    } else if (fy < 0 || fy >= H || fx < 0 || fx >= W) {
        return 0.0f;
    }
    return to_float(plane[(size_t)fy * W + fx]);
}

// Cooperative load of the block's input patch into shared memory, planar [C][rows][cols] float,
// origin at frame (oy, ox), by all SLC_TW * SLC_TH threads of the block. The 32x8-tiled kernels
// use rows = SLC_TH + span - 1, cols = SLC_TW + span - 1, origin (y_block + lo, x_block + lo).
template <typename scalar_t>
__device__ __forceinline__ void slc_load_patch(float* __restrict__ s_patch,
                                               const scalar_t* __restrict__ frame_b, int C, int H,
                                               int W, int oy, int ox, int rows, int cols,
                                               int replicate) {
    const int tid = threadIdx.y * SLC_TW + threadIdx.x;
    const int total = C * rows * cols;
    const size_t plane = (size_t)H * W;
    for (int idx = tid; idx < total; idx += SLC_TW * SLC_TH) {
        const int c = idx / (rows * cols);
        const int rem = idx - c * rows * cols;
        const int r = rem / cols;
        const int q = rem - r * cols;
        s_patch[idx] = slc_read(frame_b + c * plane, oy + r, ox + q, H, W, replicate);
    }
}

// Where one thread of the 32x8-tiled kernels (slc_forward, slc_backward_kernels) works; made by
// slc_begin_tile once the block's shared memory is filled.
struct SlcTile {
    int rows, cols;   // one channel of the shared input patch [C][rows][cols]
    int b;            // batch index
    size_t plane;     // H * W
    size_t pix;       // y * W + x, the thread's output pixel
    size_t kmap;      // b * K * plane + pix: (b, 0, y, x) of a [B,K,H,W] map; tap i at kmap + i * plane
    bool inside;      // (x, y) lies in the frame; threads outside return (no __syncthreads follows)
};

// Prologue of the 32x8-tiled kernels: the tap columns (offsets - lo) into s_tap [K] and the
// block's input patch into s_patch [C][rows][cols], a barrier for the whole block, then the
// thread's pixel. Every thread of the block must call it (it holds the __syncthreads).
template <typename scalar_t, int K>
__device__ __forceinline__ SlcTile slc_begin_tile(int* __restrict__ s_tap, float* __restrict__ s_patch,
                                                  const scalar_t* __restrict__ frame,
                                                  const int* __restrict__ offsets, int C, int H, int W,
                                                  int lo, int span, int replicate) {
    SlcTile t;
    t.rows = SLC_TH + span - 1;
    t.cols = SLC_TW + span - 1;
    t.b = blockIdx.z;
    t.plane = (size_t)H * W;
    const int tid = threadIdx.y * SLC_TW + threadIdx.x;
    for (int k = tid; k < K; k += SLC_TW * SLC_TH) s_tap[k] = offsets[k] - lo;
    slc_load_patch(s_patch, frame + (size_t)t.b * C * t.plane, C, H, W, blockIdx.y * SLC_TH + lo,
                   blockIdx.x * SLC_TW + lo, t.rows, t.cols, replicate);
    __syncthreads();

    const int x = blockIdx.x * SLC_TW + threadIdx.x, y = blockIdx.y * SLC_TH + threadIdx.y;
    t.inside = x < W && y < H;
    t.pix = (size_t)y * W + x;
    t.kmap = (size_t)t.b * K * t.plane + t.pix;
    return t;
}

// Forward: one thread per output pixel (all channels of the launch), 32x8 pixels per block.
// The pixel's K horizontal weights live in registers (K is a template parameter), the input patch
// of the block in shared memory; the vertical weight of tap row i is read once per row.
// Dynamic shared memory: K ints (tap columns) + C * rows * cols floats.
template <typename scalar_t, int K, bool DENSE>
__global__ void __launch_bounds__(SLC_TW * SLC_TH)
slc_forward(const scalar_t* __restrict__ frame, const scalar_t* __restrict__ kv,
            const scalar_t* __restrict__ kh, const int* __restrict__ offsets,
            scalar_t* __restrict__ out, int C, int H, int W, int lo, int span, int replicate) {
    extern __shared__ float smem[];
    int* s_tap = reinterpret_cast<int*>(smem);          // [K] offsets - lo
    float* s_patch = smem + K;                          // [C][rows][cols]
    const SlcTile t = slc_begin_tile<scalar_t, K>(s_tap, s_patch, frame, offsets, C, H, W, lo, span, replicate);
    if (!t.inside) return;  // no __syncthreads below
    const scalar_t* kv_p = kv + t.kmap;
    const scalar_t* kh_p = kh + t.kmap;

    float khr[K];
#pragma unroll
    for (int j = 0; j < K; ++j) khr[j] = to_float(kh_p[j * t.plane]);

    float acc[SLC_CMAX] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int i = 0; i < K; ++i) {
        const float kvi = to_float(kv_p[i * t.plane]);
        const int row = threadIdx.y + (DENSE ? i : s_tap[i]);
#pragma unroll
        for (int c = 0; c < SLC_CMAX; ++c) {
            if (c < C) {
                const float* prow = s_patch + ((size_t)c * t.rows + row) * t.cols + threadIdx.x;
                float hsum = 0.0f;
#pragma unroll
                for (int j = 0; j < K; ++j) hsum = fmaf(prow[DENSE ? j : s_tap[j]], khr[j], hsum);
                acc[c] = fmaf(kvi, hsum, acc[c]);
            }
        }
    }
#pragma unroll
    for (int c = 0; c < SLC_CMAX; ++c)
        if (c < C) out[((size_t)t.b * C + c) * t.plane + t.pix] = from_float<scalar_t>(acc[c]);
}

// Forward, dense taps, two horizontally adjacent pixels per thread (64x8 pixels per block).
// The row segment a thread reads for tap row i (K + 1 values) serves both of its pixels, and is
// read as float2 (8-byte shared loads), so a shared load feeds four FMAs instead of one: the
// kernel moves from shared-bandwidth-bound towards FMA-bound. Both pixels' K horizontal weights
// live in registers (2K floats). Dynamic shared memory: C * rows * cols floats, cols even.
#define SLC_TW2 64

template <typename scalar_t, int K>
__global__ void __launch_bounds__(SLC_TW * SLC_TH)
slc_forward_dense2(const scalar_t* __restrict__ frame, const scalar_t* __restrict__ kv,
                   const scalar_t* __restrict__ kh, scalar_t* __restrict__ out, int C, int H,
                   int W, int lo, int replicate) {
    extern __shared__ float2 smem2[];                    // 8-byte aligned
    float* s_patch = reinterpret_cast<float*>(smem2);   // [C][rows][cols]
    const int rows = SLC_TH + K - 1;
    const int cols = (SLC_TW2 + K + 1) & ~1;            // >= SLC_TW2 + K, even
    const int b = blockIdx.z;
    const size_t plane = (size_t)H * W;
    slc_load_patch(s_patch, frame + (size_t)b * C * plane, C, H, W, blockIdx.y * SLC_TH + lo,
                   blockIdx.x * SLC_TW2 + lo, rows, cols, replicate);
    __syncthreads();

    const int y = blockIdx.y * SLC_TH + threadIdx.y;
    const int x0 = blockIdx.x * SLC_TW2 + 2 * threadIdx.x;
    if (y >= H || x0 >= W) return;
    const bool has1 = x0 + 1 < W;
    const size_t pix0 = (size_t)y * W + x0;
    const size_t pix1 = has1 ? pix0 + 1 : pix0;         // a valid address; result discarded
    const scalar_t* kv_b = kv + (size_t)b * K * plane;
    const scalar_t* kh_b = kh + (size_t)b * K * plane;

    float kh0[K], kh1[K];
#pragma unroll
    for (int j = 0; j < K; ++j) {
        kh0[j] = to_float(kh_b[j * plane + pix0]);
        kh1[j] = to_float(kh_b[j * plane + pix1]);
    }
    float acc0[SLC_CMAX] = {0.0f, 0.0f, 0.0f, 0.0f};
    float acc1[SLC_CMAX] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int i = 0; i < K; ++i) {
        const float kv0 = to_float(kv_b[i * plane + pix0]);
        const float kv1 = to_float(kv_b[i * plane + pix1]);
#pragma unroll
        for (int c = 0; c < SLC_CMAX; ++c) {
            if (c < C) {
                // segment of patch row (threadIdx.y + i): columns 2*tx .. 2*tx + K (K + 1 values)
                const float2* seg = reinterpret_cast<const float2*>(
                    s_patch + ((size_t)c * rows + threadIdx.y + i) * cols + 2 * threadIdx.x);
                float h0 = 0.0f, h1 = 0.0f;
#pragma unroll
                for (int q = 0; q < (K + 2) / 2; ++q) {
                    const float2 v = seg[q];                 // values m = 2q and m = 2q + 1
                    if (2 * q < K) h0 = fmaf(v.x, kh0[2 * q], h0);            // pixel 0, j = m
                    if (2 * q + 1 < K) h0 = fmaf(v.y, kh0[2 * q + 1], h0);
                    if (2 * q >= 1 && 2 * q - 1 < K) h1 = fmaf(v.x, kh1[2 * q - 1], h1);  // pixel 1, j = m - 1
                    if (2 * q < K) h1 = fmaf(v.y, kh1[2 * q], h1);
                }
                acc0[c] = fmaf(kv0, h0, acc0[c]);
                acc1[c] = fmaf(kv1, h1, acc1[c]);
            }
        }
    }
#pragma unroll
    for (int c = 0; c < SLC_CMAX; ++c) {
        if (c < C) {
            out[((size_t)b * C + c) * plane + pix0] = from_float<scalar_t>(acc0[c]);
            if (has1) out[((size_t)b * C + c) * plane + pix1] = from_float<scalar_t>(acc1[c]);
        }
    }
}

// Backward for the kernels, per output pixel (same tiling as the forward):
//   gKv(i) = sum_j gp(i,j) Kh(j),   gKh(j) = sum_i Kv(i) gp(i,j),   gp(i,j) = sum_c g_c I_c(y+o_i, x+o_j)
// Results are float32 [B,K,H,W]; accumulate != 0 adds to them (channel groups of a wide tensor).
template <typename scalar_t, int K, bool DENSE>
__global__ void __launch_bounds__(SLC_TW * SLC_TH)
slc_backward_kernels(const scalar_t* __restrict__ grad_out, const scalar_t* __restrict__ frame,
                     const scalar_t* __restrict__ kv, const scalar_t* __restrict__ kh,
                     const int* __restrict__ offsets, float* __restrict__ grad_kv,
                     float* __restrict__ grad_kh, int C, int H, int W, int lo, int span,
                     int replicate, int accumulate) {
    extern __shared__ float smem[];
    int* s_tap = reinterpret_cast<int*>(smem);          // [K] offsets - lo
    float* s_patch = smem + K;                          // [C][rows][cols]
    const SlcTile t = slc_begin_tile<scalar_t, K>(s_tap, s_patch, frame, offsets, C, H, W, lo, span, replicate);
    if (!t.inside) return;  // no __syncthreads below
    const size_t plane = t.plane;                       // H * W
    const scalar_t* kv_p = kv + t.kmap;
    const scalar_t* kh_p = kh + t.kmap;

    float g[SLC_CMAX];
#pragma unroll
    for (int c = 0; c < SLC_CMAX; ++c)
        g[c] = c < C ? to_float(grad_out[((size_t)t.b * C + c) * plane + t.pix]) : 0.0f;
    float khr[K], gkh[K];
#pragma unroll
    for (int j = 0; j < K; ++j) {
        khr[j] = to_float(kh_p[j * plane]);
        gkh[j] = 0.0f;
    }
    float* gkv_p = grad_kv + t.kmap;
    for (int i = 0; i < K; ++i) {
        const float kvi = to_float(kv_p[i * plane]);
        const int row = threadIdx.y + (DENSE ? i : s_tap[i]);
        float hsum = 0.0f;
#pragma unroll
        for (int j = 0; j < K; ++j) {
            const int col = threadIdx.x + (DENSE ? j : s_tap[j]);
            float gp = 0.0f;
#pragma unroll
            for (int c = 0; c < SLC_CMAX; ++c)
                if (c < C) gp = fmaf(g[c], s_patch[((size_t)c * t.rows + row) * t.cols + col], gp);
            hsum = fmaf(gp, khr[j], hsum);
            gkh[j] = fmaf(kvi, gp, gkh[j]);
        }
        gkv_p[i * plane] = accumulate ? gkv_p[i * plane] + hsum : hsum;
    }
    float* gkh_p = grad_kh + t.kmap;
#pragma unroll
    for (int j = 0; j < K; ++j) gkh_p[j * plane] = accumulate ? gkh_p[j * plane] + gkh[j] : gkh[j];
}

// Backward for the frame as a gather (no atomics), one thread per pixel of the padded frame
// [B,C,H+2p,W+2p] (p = max |o|):
//   gI(y',x') = sum_i sum_j g(y'-o_i, x'-o_j) Kv(i, y'-o_i, x'-o_j) Kh(j, y'-o_i, x'-o_j)
// over source pixels inside the frame. The launcher folds the border back (replicate) or crops it.
template <typename scalar_t>
__global__ void __launch_bounds__(256)
slc_backward_frame(const scalar_t* __restrict__ grad_out, const scalar_t* __restrict__ kv,
                   const scalar_t* __restrict__ kh, const int* __restrict__ offsets,
                   float* __restrict__ grad_padded, int B, int C, int H, int W, int K, int p) {
    extern __shared__ float smem[];
    int* s_off = reinterpret_cast<int*>(smem);          // [K]
    for (int k = threadIdx.x; k < K; k += blockDim.x) s_off[k] = offsets[k];
    __syncthreads();

    const int Hp = H + 2 * p, Wp = W + 2 * p;
    const long long n = (long long)B * Hp * Wp;
    const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= n) return;
    const int xp = (int)(idx % Wp);
    const int yp = (int)((idx / Wp) % Hp);
    const int b = (int)(idx / ((long long)Wp * Hp));
    const int yf = yp - p, xf = xp - p;                 // frame coordinates (may be outside)
    const size_t plane = (size_t)H * W;
    const scalar_t* kv_b = kv + (size_t)b * K * plane;
    const scalar_t* kh_b = kh + (size_t)b * K * plane;
    const scalar_t* g_b = grad_out + (size_t)b * C * plane;

    float acc[SLC_CMAX] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int i = 0; i < K; ++i) {
        const int ys = yf - s_off[i];
        if (ys < 0 || ys >= H) continue;
        for (int j = 0; j < K; ++j) {
            const int xs = xf - s_off[j];
            if (xs < 0 || xs >= W) continue;
            const size_t pix = (size_t)ys * W + xs;
            const float w = to_float(kv_b[i * plane + pix]) * to_float(kh_b[j * plane + pix]);
#pragma unroll
            for (int c = 0; c < SLC_CMAX; ++c)
                if (c < C) acc[c] = fmaf(w, to_float(g_b[c * plane + pix]), acc[c]);
        }
    }
#pragma unroll
    for (int c = 0; c < SLC_CMAX; ++c)
        if (c < C) grad_padded[(((size_t)b * C + c) * Hp + yp) * Wp + xp] = acc[c];
}
