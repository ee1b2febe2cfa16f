// Adaptive separable local convolution (SepConv, Niklaus et al., ICCV 2017, Eq. 3), kernels v2:
//
//   out(b,c,y,x)  = sum_i sum_j I(c, y + o_i, x + o_j) * Kv(i,y,x) * Kh(j,y,x)                (forward)
//   gKh(j,y,x)    = sum_i sum_c [Kv(i,y,x) g(c,y,x)] * I(c, y + o_i, x + o_j)                 (slc2_grad_taps)
//   gKv(i,y,x)    = sum_j sum_c [Kh(j,y,x) g(c,y,x)] * I(c, y + o_i, x + o_j)                 (same, transposed)
//   gI(c,y',x')   = sum_i sum_j g(c,s) Kv(i,s) Kh(j,s),  s = (y' - o_i, x' - o_j) in the frame  (slc2_grad_frame)
//
// Compiled by NVRTC through CuPy with the prelude of kernels/_cupy.py prepended (fw_half / fw_bf16,
// to_float / from_float; no CUDA headers). scalar_t is float, fw_half or fw_bf16; every sum is
// accumulated in float32 (the frame patch is converted to float32 when it is staged in shared memory).
//
// Layouts: frame/out/grad_out [B,C,H,W]; kv/kh/grad_k [B,K,H,W]; all contiguous; batch on grid z.
// `lo` = min(o), S = max(o) - lo + 1 (the span, a template parameter). `taps` int32 [K + S]: first
// o_i - lo for every tap i, then, for every slot m of the span, the tap at offset lo + m or -1
// (composite dilation leaves slots empty; dense taps have slot m = tap m).
// Padding: replicate != 0 clamps reads to the border, otherwise reads outside the frame are 0.
//
// Shared structure of the forward and the kernel gradients (docs/kernels.md has the arithmetic):
// a thread owns a "quad", 4 neighbouring pixels along the chunk axis u (x for the forward and gKh,
// y for gKv), and walks the span in register chunks of at most SLC2_NC slots; a chunk of n slots
// reads, per tap of the streaming axis v and channel, a window of n + 3 patch values (float4 loads)
// that serves all 4 pixels: 4n FMAs per n + 3 values, against 2n per n + 1 in v1's dense2.

// float4 shared-memory loads must be 16-byte aligned (a misaligned one faults on a GPU); the CPU
// emulation of the tests defines this hook to record any that is not. Empty here.
#ifndef SLC2_CHECK_ALIGNED
#define SLC2_CHECK_ALIGNED(ptr)
#endif

#define SLC2_NC 28        // span slots per register chunk (a multiple of 4: chunk windows stay float4-aligned)
#define SLC2_CMAX 4       // channels per shared-memory fill (wider tensors: the kernels loop over groups)
#define SLC2_THREADS 256

// float4 window of a chunk of n slots for a quad: n + 3 values, rounded up to whole float4s
__host__ __device__ constexpr int slc2_window(int n) { return 4 * ((n + 6) / 4); }
// slots of the chunk starting at `start`
__host__ __device__ constexpr int slc2_chunk(int S, int start) { return S - start < SLC2_NC ? S - start : SLC2_NC; }
// shared-memory pitch of a patch row along u for a tile of u_tile pixels: covers the furthest float4
// window of the last quad, a multiple of 4 floats with pitch/4 odd (conflict-free float4 loads when
// the 8 threads of a load phase sit on 8 consecutive rows, as in the transposed tiling)
__host__ __device__ constexpr int slc2_pitch(int S, int u_tile) {
    int reach = 0;
    for (int st = 0; st < S; st += SLC2_NC) {
        const int end = st + slc2_window(slc2_chunk(S, st));
        reach = reach > end ? reach : end;
    }
    int p = u_tile - 4 + reach;
    p = (p + 3) / 4 * 4;
    return (p / 4) % 2 ? p : p + 4;
}
__host__ __device__ constexpr int slc2_round4(int n) { return (n + 3) / 4 * 4; }

// Tiles (pixels along x, y) of the forward / gKh kernels and of the transposed gKv kernel.
#define SLC2_TW 64
#define SLC2_TH 16
#define SLC2_TWT 32
#define SLC2_THT 32

// floats of shared memory of slc2_forward / slc2_grad_taps: the tap tables, then cg channels of the
// patch [cg][V + S - 1][pitch] (u_tile, v_tile: the tile along the chunk and streaming axes)
__host__ __device__ constexpr int slc2_patch_floats(int S, int K, int cg, int u_tile, int v_tile) {
    return slc2_round4(K + S) + cg * (v_tile + S - 1) * slc2_pitch(S, u_tile);
}

// Read frame(fy, fx) of one channel plane with the chosen padding, as float.
template <typename scalar_t>
__device__ __forceinline__ float slc2_read(const scalar_t* __restrict__ plane, int fy, int fx, int H, int W,
                                           int replicate) {
    if (replicate) {
        fy = min(max(fy, 0), H - 1);
        fx = min(max(fx, 0), W - 1);
    } else if (fy < 0 || fy >= H || fx < 0 || fx >= W) {
        return 0.0f;
    }
    return to_float(plane[(size_t)fy * W + fx]);
}

// Copy the tap tables into shared memory (every thread of the block calls it; a barrier follows
// before they are read).
__device__ __forceinline__ void slc2_load_tables(int* __restrict__ s_tab, const int* __restrict__ taps, int n) {
    for (int k = threadIdx.x; k < n; k += SLC2_THREADS) s_tab[k] = taps[k];
}

// Cooperative fill of a patch [cg][VS][PU] (float): patch[c][v][u] = frame(c, y_org + yy, x_org + xx)
// for the UL x VS region, with (u, v) = (xx, yy), or (yy, xx) when TRANSPOSED. Global reads run along
// x (coalesced) in both cases.
template <typename scalar_t, bool TRANSPOSED, int UL, int VS, int PU>
__device__ __forceinline__ void slc2_fill(float* __restrict__ patch, const scalar_t* __restrict__ frame_c0,
                                          int cg, int H, int W, int y_org, int x_org, int replicate) {
    constexpr int ROWS = TRANSPOSED ? UL : VS;   // frame rows (y) of the region
    constexpr int COLS = TRANSPOSED ? VS : UL;   // frame columns (x)
    const size_t plane = (size_t)H * W;
    const int total = cg * ROWS * COLS;
    for (int idx = threadIdx.x; idx < total; idx += SLC2_THREADS) {
        const int c = idx / (ROWS * COLS);
        const int rem = idx - c * (ROWS * COLS);
        const int yy = rem / COLS;
        const int xx = rem - yy * COLS;
        const float v = slc2_read(frame_c0 + c * plane, y_org + yy, x_org + xx, H, W, replicate);
        const int u = TRANSPOSED ? yy : xx, w = TRANSPOSED ? xx : yy;
        patch[(c * VS + w) * PU + u] = v;
    }
}

// The n + 3 (rounded up to float4s) patch values of a quad's chunk window, from an aligned address.
template <int WN>
__device__ __forceinline__ void slc2_window_load(float (&w)[WN], const float* __restrict__ src) {
    SLC2_CHECK_ALIGNED(src);
    const float4* s4 = reinterpret_cast<const float4*>(src);
#pragma unroll
    for (int k = 0; k < WN / 4; ++k) {
        const float4 v = s4[k];
        w[4 * k] = v.x;
        w[4 * k + 1] = v.y;
        w[4 * k + 2] = v.z;
        w[4 * k + 3] = v.w;
    }
}

// ---------------------------------------------------------------------------------------------
// Forward. Tile 64 x 16 pixels, thread = quad (x0 .. x0+3, y). Per register chunk of span slots:
// the quad's horizontal weights Kh (4 x n registers), then per tap row i and channel one window:
//   h[p] = sum_j Kh(slot j, p) * P(row y + o_i, col x0 + p + lo + j),   acc[p][c] += Kv(i, p) * h[p]
// ---------------------------------------------------------------------------------------------
template <typename scalar_t, int S, int START>
__device__ __forceinline__ void slc2_forward_chunks(float (&acc)[4][SLC2_CMAX], const float* __restrict__ patch_q,
                                                    const int* __restrict__ s_tap, const int* __restrict__ s_slot,
                                                    const scalar_t* __restrict__ kv_b,
                                                    const scalar_t* __restrict__ kh_b, size_t plane, size_t pix0,
                                                    int np, int K, int cg) {
    constexpr int N = slc2_chunk(S, START), WN = slc2_window(N);
    constexpr int VS = SLC2_TH + S - 1, PU = slc2_pitch(S, SLC2_TW);
    float khr[N][4];
#pragma unroll
    for (int j = 0; j < N; ++j) {
        const int t = s_slot[START + j];
#pragma unroll
        for (int p = 0; p < 4; ++p) khr[j][p] = (t >= 0 && p < np) ? to_float(kh_b[t * plane + pix0 + p]) : 0.0f;
    }
    float kv_next[4];
#pragma unroll
    for (int p = 0; p < 4; ++p) kv_next[p] = p < np ? to_float(kv_b[pix0 + p]) : 0.0f;
    for (int i = 0; i < K; ++i) {
        float kvi[4];
#pragma unroll
        for (int p = 0; p < 4; ++p) {
            kvi[p] = kv_next[p];
            kv_next[p] = (i + 1 < K && p < np) ? to_float(kv_b[(i + 1) * plane + pix0 + p]) : 0.0f;  // prefetch
        }
        const float* row = patch_q + s_tap[i] * PU + START;
#pragma unroll
        for (int c = 0; c < SLC2_CMAX; ++c) {
            if (c < cg) {
                float w[WN];
                slc2_window_load(w, row + c * VS * PU);
                float h[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
                for (int j = 0; j < N; ++j)
#pragma unroll
                    for (int p = 0; p < 4; ++p) h[p] = fmaf(khr[j][p], w[p + j], h[p]);
#pragma unroll
                for (int p = 0; p < 4; ++p) acc[p][c] = fmaf(kvi[p], h[p], acc[p][c]);
            }
        }
    }
    if constexpr (START + N < S)
        slc2_forward_chunks<scalar_t, S, START + N>(acc, patch_q, s_tap, s_slot, kv_b, kh_b, plane, pix0, np, K, cg);
}

// Dynamic shared memory: 4 * slc2_patch_floats(S, K, CG, SLC2_TW, SLC2_TH) bytes.
template <typename scalar_t, int S>
__global__ void __launch_bounds__(SLC2_THREADS)
slc2_forward(const scalar_t* __restrict__ frame, const scalar_t* __restrict__ kv, const scalar_t* __restrict__ kh,
             const int* __restrict__ taps, scalar_t* __restrict__ out, int C, int CG, int H, int W, int K, int lo,
             int replicate) {
    constexpr int UL = SLC2_TW + S - 1, VS = SLC2_TH + S - 1, PU = slc2_pitch(S, SLC2_TW);
    extern __shared__ float smem[];
    int* s_tap = reinterpret_cast<int*>(smem);       // [K] o_i - lo
    int* s_slot = s_tap + K;                          // [S] tap of slot m or -1
    float* patch = smem + slc2_round4(K + S);        // [CG][VS][PU]
    slc2_load_tables(s_tap, taps, K + S);

    const int q = threadIdx.x % (SLC2_TW / 4), vr = threadIdx.x / (SLC2_TW / 4);
    const int x0 = blockIdx.x * SLC2_TW + 4 * q, y = blockIdx.y * SLC2_TH + vr, b = blockIdx.z;
    const size_t plane = (size_t)H * W;
    const int np = y < H ? min(4, W - x0) : 0;       // pixels of the quad inside the frame (<= 0: none)
    const size_t pix0 = (size_t)y * W + x0;
    const scalar_t* kv_b = kv + (size_t)b * K * plane;
    const scalar_t* kh_b = kh + (size_t)b * K * plane;
    for (int c0 = 0; c0 < C; c0 += CG) {
        const int cg = min(CG, C - c0);
        __syncthreads();                              // tables stored / the previous group's patch read
        slc2_fill<scalar_t, false, UL, VS, PU>(patch, frame + ((size_t)b * C + c0) * plane, cg, H, W,
                                               blockIdx.y * SLC2_TH + lo, blockIdx.x * SLC2_TW + lo, replicate);
        __syncthreads();
        if (np > 0) {
            float acc[4][SLC2_CMAX];
#pragma unroll
            for (int p = 0; p < 4; ++p)
#pragma unroll
                for (int c = 0; c < SLC2_CMAX; ++c) acc[p][c] = 0.0f;
            slc2_forward_chunks<scalar_t, S, 0>(acc, patch + vr * PU + 4 * q, s_tap, s_slot, kv_b, kh_b, plane,
                                                pix0, np, K, cg);
#pragma unroll
            for (int c = 0; c < SLC2_CMAX; ++c)
#pragma unroll
                for (int p = 0; p < 4; ++p)
                    if (c < cg && p < np)
                        out[((size_t)b * C + c0 + c) * plane + pix0 + p] = from_float<scalar_t>(acc[p][c]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Kernel gradients as per-pixel reductions over the forward's patch tiling:
//   gKh (TRANSPOSED = false): quads along x, chunk over the horizontal slots, stream the vertical taps:
//       acc[j][p] += [Kv(i, p) g(c, p)] * P(row y + o_i, col x0 + p + lo + j)
//   gKv (TRANSPOSED = true): the same on the transposed patch [c][x][y], quads along y, chunk over the
//       vertical slots, stream the horizontal taps with weights Kh(j, p) g(c, p).
// k_stream is Kv for gKh and Kh for gKv; grad_k receives gKh or gKv in the input dtype. Each chunk
// sums all channels (groups of CG refill the patch) before it writes; no atomics, no partial sums.
// Tiles: 64 x 16 (gKh) and 32 x 32 (gKv) pixels. Dynamic shared memory:
// 4 * slc2_patch_floats(S, K, CG, u_tile, v_tile) bytes with (u_tile, v_tile) = (64, 16) or (32, 32).
// ---------------------------------------------------------------------------------------------
template <typename scalar_t, int S, bool TRANSPOSED>
struct Slc2TapsTile {
    static constexpr int TW = TRANSPOSED ? SLC2_TWT : SLC2_TW;    // pixels along x
    static constexpr int TH = TRANSPOSED ? SLC2_THT : SLC2_TH;    // pixels along y
    static constexpr int U = TRANSPOSED ? TH : TW;                // along the chunk axis
    static constexpr int V = TRANSPOSED ? TW : TH;                // along the streaming axis
    static constexpr int UL = U + S - 1, VS = V + S - 1, PU = slc2_pitch(S, U);
};

template <typename scalar_t, int S, bool TRANSPOSED, int START>
__device__ __forceinline__ void slc2_grad_taps_chunks(float* __restrict__ patch, const float* __restrict__ patch_q,
                                                      const int* __restrict__ s_tap, const int* __restrict__ s_slot,
                                                      const scalar_t* __restrict__ grad_b,
                                                      const scalar_t* __restrict__ frame_b,
                                                      const scalar_t* __restrict__ ks_b, scalar_t* __restrict__ gk_b,
                                                      size_t plane, size_t pix0, size_t ustep, int np, int C, int CG,
                                                      int K, int H, int W, int y_org, int x_org, int replicate) {
    using T = Slc2TapsTile<scalar_t, S, TRANSPOSED>;
    constexpr int N = slc2_chunk(S, START), WN = slc2_window(N);
    float acc[N][4];
#pragma unroll
    for (int j = 0; j < N; ++j)
#pragma unroll
        for (int p = 0; p < 4; ++p) acc[j][p] = 0.0f;
    const bool one_fill = C <= CG;                    // the patch was filled once by the caller
    for (int c0 = 0; c0 < C; c0 += CG) {
        const int cg = min(CG, C - c0);
        if (!one_fill) {
            __syncthreads();
            slc2_fill<scalar_t, TRANSPOSED, T::UL, T::VS, T::PU>(patch, frame_b + (size_t)c0 * plane, cg, H, W,
                                                                 y_org, x_org, replicate);
            __syncthreads();
        }
        float g[4][SLC2_CMAX];
#pragma unroll
        for (int c = 0; c < SLC2_CMAX; ++c)
#pragma unroll
            for (int p = 0; p < 4; ++p)
                g[p][c] = (c < cg && p < np) ? to_float(grad_b[(size_t)(c0 + c) * plane + pix0 + p * ustep]) : 0.0f;
        float ks_next[4];
#pragma unroll
        for (int p = 0; p < 4; ++p) ks_next[p] = p < np ? to_float(ks_b[pix0 + p * ustep]) : 0.0f;
        for (int t = 0; t < K; ++t) {
            float ks[4];
#pragma unroll
            for (int p = 0; p < 4; ++p) {
                ks[p] = ks_next[p];
                ks_next[p] = (t + 1 < K && p < np) ? to_float(ks_b[(t + 1) * plane + pix0 + p * ustep]) : 0.0f;
            }
            const float* row = patch_q + s_tap[t] * T::PU + START;
#pragma unroll
            for (int c = 0; c < SLC2_CMAX; ++c) {
                if (c < cg) {
                    float w[WN];
                    slc2_window_load(w, row + c * T::VS * T::PU);
                    float wt[4];
#pragma unroll
                    for (int p = 0; p < 4; ++p) wt[p] = ks[p] * g[p][c];
#pragma unroll
                    for (int j = 0; j < N; ++j)
#pragma unroll
                        for (int p = 0; p < 4; ++p) acc[j][p] = fmaf(wt[p], w[p + j], acc[j][p]);
                }
            }
        }
    }
#pragma unroll
    for (int j = 0; j < N; ++j) {
        const int t = s_slot[START + j];
        if (t >= 0) {
#pragma unroll
            for (int p = 0; p < 4; ++p)
                if (p < np) gk_b[t * plane + pix0 + p * ustep] = from_float<scalar_t>(acc[j][p]);
        }
    }
    if constexpr (START + N < S)
        slc2_grad_taps_chunks<scalar_t, S, TRANSPOSED, START + N>(patch, patch_q, s_tap, s_slot, grad_b, frame_b, ks_b,
                                                                  gk_b, plane, pix0, ustep, np, C, CG, K, H, W, y_org,
                                                                  x_org, replicate);
}

template <typename scalar_t, int S, bool TRANSPOSED>
__global__ void __launch_bounds__(SLC2_THREADS)
slc2_grad_taps(const scalar_t* __restrict__ grad_out, const scalar_t* __restrict__ frame,
               const scalar_t* __restrict__ k_stream, const int* __restrict__ taps, scalar_t* __restrict__ grad_k,
               int C, int CG, int H, int W, int K, int lo, int replicate) {
    using T = Slc2TapsTile<scalar_t, S, TRANSPOSED>;
    extern __shared__ float smem[];
    int* s_tap = reinterpret_cast<int*>(smem);       // [K] o_t - lo of the streaming taps
    int* s_slot = s_tap + K;                          // [S] tap of slot m or -1
    float* patch = smem + slc2_round4(K + S);        // [CG][VS][PU], (u, v) = (x, y) or (y, x)
    slc2_load_tables(s_tap, taps, K + S);

    // thread -> quad: consecutive threads along x in both tilings (coalesced global access)
    const int q = TRANSPOSED ? threadIdx.x / T::TW : threadIdx.x % (T::TW / 4);
    const int vl = TRANSPOSED ? threadIdx.x % T::TW : threadIdx.x / (T::TW / 4);
    const int u0 = (TRANSPOSED ? blockIdx.y * T::TH : blockIdx.x * T::TW) + 4 * q;
    const int v = (TRANSPOSED ? blockIdx.x * T::TW : blockIdx.y * T::TH) + vl;
    const int b = blockIdx.z;
    const int u_len = TRANSPOSED ? H : W, v_len = TRANSPOSED ? W : H;
    const int np = v < v_len ? max(0, min(4, u_len - u0)) : 0;
    const size_t plane = (size_t)H * W;
    const size_t ustep = TRANSPOSED ? (size_t)W : 1;
    const size_t pix0 = np > 0 ? (TRANSPOSED ? (size_t)u0 * W + v : (size_t)v * W + u0) : 0;
    const int y_org = blockIdx.y * T::TH + lo, x_org = blockIdx.x * T::TW + lo;
    const scalar_t* frame_b = frame + (size_t)b * C * plane;
    if (C <= CG)
        slc2_fill<scalar_t, TRANSPOSED, T::UL, T::VS, T::PU>(patch, frame_b, C, H, W, y_org, x_org, replicate);
    __syncthreads();
    slc2_grad_taps_chunks<scalar_t, S, TRANSPOSED, 0>(
        patch, patch + vl * T::PU + 4 * q, s_tap, s_slot, grad_out + (size_t)b * C * plane, frame_b,
        k_stream + (size_t)b * K * plane, grad_k + (size_t)b * K * plane, plane, pix0, ustep, np, C, CG, K, H, W,
        y_org, x_org, replicate);
}

// ---------------------------------------------------------------------------------------------
// Frame gradient as a gather (no atomics): every target pixel t of the grid [ty0, ty0 + THt) x
// [tx0, tx0 + TWt) (frame coordinates; the padded frame for "replicate", the frame for "zero") sums
// the contributions of the outputs s whose patches cover it:
//   gI(c, t) = sum_{s_y} sum_{s_x} g(c, s) * Kv(slot t_y - s_y - lo, s) * Kh(slot t_x - s_x - lo, s)
// Tile 128 x 32 targets; a thread owns 4 x 4 targets (x0 .. x0+3, y0 .. y0+3) and every channel of
// a group of up to 4. The block streams the source rows s_y that reach its tile; for each it stages
// in shared memory, for the 128 + S - 1 sources of that row: Kh at all S slots (KhS, padded so that
// a thread reads the 4 slots of its 4 target columns as one aligned float4), Kv at the slots that
// land on the tile's 32 target rows (KvB) and g (Gs). A thread then visits the S + 3 sources that
// reach its columns: per source 3 float4 loads, 12 MUL (Kh * g) and 48 FMA (* Kv).
// Output float32 [B, C, THt, TWt] (the launcher folds the replicate border and casts).
// ---------------------------------------------------------------------------------------------
#define SLC2_FTW 128
#define SLC2_FTH 32

// Shared-memory geometry of slc2_grad_frame for span S (all counts in floats, multiples of 4).
__host__ __device__ constexpr int slc2_f_nsx(int S) { return SLC2_FTW + S - 1; }                // staged sources per row
__host__ __device__ constexpr int slc2_f_padh(int S) { return 3 + ((-2 - S) % 4 + 4) % 4; }     // = 1 - S (mod 4), >= 3
__host__ __device__ constexpr int slc2_f_ph(int S) { return (slc2_f_padh(S) + S + 5) / 4 * 4 + 1; }  // >= PADH+S+3, = 1 (mod 4)
__host__ __device__ constexpr int slc2_f_q(int S) { return (slc2_f_nsx(S) + 3) / 4; }           // sources per phase (sx mod 4)
#define SLC2_FPV (SLC2_FTH + 4)                                                                   // PV / 4 odd
__host__ __device__ constexpr int slc2_f_kh_floats(int S) { return slc2_round4(slc2_f_nsx(S) * slc2_f_ph(S)); }
__host__ __device__ constexpr int slc2_f_kv_floats(int S) { return 4 * slc2_f_q(S) * SLC2_FPV; }
// floats of shared memory of slc2_grad_frame: tables, KhS, KvB, Gs
__host__ __device__ constexpr int slc2_frame_floats(int S, int K) {
    return slc2_round4(K + S) + slc2_f_kh_floats(S) + slc2_f_kv_floats(S) + 4 * slc2_f_q(S) * 4;
}

// One launch computes channels c0 .. c0 + NCH - 1 (NCH <= 4; the launcher covers C in groups).
// Three blocks per SM (80 registers) when the accumulators of up to 3 channels allow it: more warps
// to cover the per-row staging and barriers; 4 channels (48 more accumulators) would spill there.
template <typename scalar_t, int S, int NCH>
__global__ void __launch_bounds__(SLC2_THREADS, NCH <= 3 ? 3 : 2)
slc2_grad_frame(const scalar_t* __restrict__ grad_out, const scalar_t* __restrict__ kv,
                const scalar_t* __restrict__ kh, const int* __restrict__ taps, float* __restrict__ grad_frame,
                int C, int c0, int H, int W, int K, int lo, int ty0, int tx0, int THt, int TWt) {
    constexpr int NSX = slc2_f_nsx(S), PADH = slc2_f_padh(S), PH = slc2_f_ph(S), Q = slc2_f_q(S);
    constexpr int PV = SLC2_FPV;
    extern __shared__ float smem[];
    int* s_slot = reinterpret_cast<int*>(smem) + K;  // [S] tap of slot m or -1 (after the K row offsets)
    float* KhS = smem + slc2_round4(K + S);          // [NSX][PH]: Kh(slot m) at PADH + m, zeros around
    float* KvB = KhS + slc2_f_kh_floats(S);          // [4Q][PV]: source sx at phase row sigma(sx)
    float* Gs = KvB + slc2_f_kv_floats(S);           // [4Q][4]
    slc2_load_tables(reinterpret_cast<int*>(smem), taps, K + S);
    for (int k = threadIdx.x; k < slc2_f_kh_floats(S); k += SLC2_THREADS) KhS[k] = 0.0f;   // pads stay 0
    for (int k = threadIdx.x; k < 4 * Q * 4; k += SLC2_THREADS) Gs[k] = 0.0f;               // channels >= NCH

    const int tx = threadIdx.x % 32, ty = threadIdx.x / 32;
    const int X0 = tx0 + blockIdx.x * SLC2_FTW, Y0 = ty0 + blockIdx.y * SLC2_FTH;
    const int x0 = X0 + 4 * tx, y0 = Y0 + 4 * ty;
    const int hi = lo + S - 1;
    const int Xs = X0 - hi;                           // first staged source column
    const int b = blockIdx.z;
    const size_t plane = (size_t)H * W;
    const scalar_t* kv_b = kv + (size_t)b * K * plane;
    const scalar_t* kh_b = kh + (size_t)b * K * plane;
    const scalar_t* g_b = grad_out + ((size_t)b * C + c0) * plane;
    const int sy_first = max(0, Y0 - hi), sy_last = min(H - 1, Y0 + SLC2_FTH - 1 - lo);

    float acc[4][4][NCH];                             // [target row r][target column qq][channel]
#pragma unroll
    for (int r = 0; r < 4; ++r)
#pragma unroll
        for (int qq = 0; qq < 4; ++qq)
#pragma unroll
            for (int c = 0; c < NCH; ++c) acc[r][qq][c] = 0.0f;

    for (int sy = sy_first; sy <= sy_last; ++sy) {
        __syncthreads();                              // tables / zeros stored, or the previous row read
        const size_t srow = (size_t)sy * W;
        // KhS[sx][PADH + m] = Kh(tap of slot m, sy, Xs + sx); source columns fastest (coalesced)
        for (int idx = threadIdx.x; idx < S * NSX; idx += SLC2_THREADS) {
            const int m = idx / NSX, sx = idx - m * NSX;
            const int t = s_slot[m], gx = Xs + sx;
            KhS[sx * PH + PADH + m] = (t >= 0 && gx >= 0 && gx < W) ? to_float(kh_b[t * plane + srow + gx]) : 0.0f;
        }
        // KvB[sigma(sx)][r] = Kv(tap of slot Y0 + r - sy - lo, sy, Xs + sx), sigma(sx) = (sx & 3) Q + sx / 4
        for (int idx = threadIdx.x; idx < SLC2_FTH * NSX; idx += SLC2_THREADS) {
            const int r = idx / NSX, sx = idx - r * NSX;
            const int a = Y0 + r - sy - lo, gx = Xs + sx;
            const int t = (a >= 0 && a < S) ? s_slot[a] : -1;
            KvB[((sx & 3) * Q + (sx >> 2)) * PV + r] =
                (t >= 0 && gx >= 0 && gx < W) ? to_float(kv_b[t * plane + srow + gx]) : 0.0f;
        }
        // Gs[sigma(sx)][c] = g(c0 + c, sy, Xs + sx)
        for (int idx = threadIdx.x; idx < NCH * NSX; idx += SLC2_THREADS) {
            const int c = idx / NSX, sx = idx - c * NSX;
            const int gx = Xs + sx;
            Gs[((sx & 3) * Q + (sx >> 2)) * 4 + c] = (gx >= 0 && gx < W) ? to_float(g_b[c * plane + srow + gx]) : 0.0f;
        }
        __syncthreads();
        if (sy < y0 - hi || sy > y0 + 3 - lo) continue;   // no tap of this row reaches the thread's rows
        // sources sx = 4 tx + k, k = 0 .. S + 2; the target column x0 + qq uses slot S - 1 - k + qq
#pragma unroll 2
        for (int k = 0; k < S + 3; ++k) {
            const int sx = 4 * tx + k;
            const int sig = (k & 3) * Q + tx + (k >> 2);
            SLC2_CHECK_ALIGNED(KhS + sx * PH + PADH + S - 1 - k);
            SLC2_CHECK_ALIGNED(KvB + sig * PV + 4 * ty);
            SLC2_CHECK_ALIGNED(Gs + sig * 4);
            const float4 kh4 = *reinterpret_cast<const float4*>(KhS + sx * PH + PADH + S - 1 - k);
            const float4 kv4 = *reinterpret_cast<const float4*>(KvB + sig * PV + 4 * ty);
            const float4 g4 = *reinterpret_cast<const float4*>(Gs + sig * 4);
            const float khv[4] = {kh4.x, kh4.y, kh4.z, kh4.w};
            const float kvv[4] = {kv4.x, kv4.y, kv4.z, kv4.w};
            const float gv[4] = {g4.x, g4.y, g4.z, g4.w};
#pragma unroll
            for (int qq = 0; qq < 4; ++qq) {
                float bq[NCH];
#pragma unroll
                for (int c = 0; c < NCH; ++c) bq[c] = khv[qq] * gv[c];
#pragma unroll
                for (int r = 0; r < 4; ++r)
#pragma unroll
                    for (int c = 0; c < NCH; ++c) acc[r][qq][c] = fmaf(kvv[r], bq[c], acc[r][qq][c]);
            }
        }
    }
#pragma unroll
    for (int r = 0; r < 4; ++r) {
        const int yy = y0 + r - ty0;
#pragma unroll
        for (int qq = 0; qq < 4; ++qq) {
            const int xx = x0 + qq - tx0;
            if (yy < THt && xx < TWt) {
#pragma unroll
                for (int c = 0; c < NCH; ++c)
                    grad_frame[(((size_t)b * C + c0 + c) * THt + yy) * TWt + xx] = acc[r][qq][c];
            }
        }
    }
}
