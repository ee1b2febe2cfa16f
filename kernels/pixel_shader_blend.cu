// Pixel-shader blend, fused: blend map B = GaussianBlur(mean_c |I1 - I2| * 255) and the blend
//   out = B < high ? lerp(avg(I1, I2), Î, (clamp(B, low, high) - low) / (high - low)) : Î
// in one kernel per 32x8 output tile (the difference map of the tile plus its blur halo is built
// in shared memory, blurred horizontally then vertically, then each pixel blends all channels).
//
// Compiled by NVRTC with the prelude of kernels/_cupy.py (fw_half, fw_bf16, to_float, from_float).
// Layouts: first/second/interp/out [B,C,H,W] scalar_t, weights float [2r+1] (normalised Gaussian),
// blend_map float [B,1,H,W]. Borders replicate (reads are clamped to the frame).

#define PSB_TW 32
#define PSB_TH 8

template <typename scalar_t>
__global__ void __launch_bounds__(PSB_TW * PSB_TH)
psb_blend(const scalar_t* __restrict__ first, const scalar_t* __restrict__ second,
          const scalar_t* __restrict__ interp, const float* __restrict__ weights,
          scalar_t* __restrict__ out, float* __restrict__ blend_map, int C, int H, int W,
          int radius, float low, float high) {
    extern __shared__ float smem[];
    const int rows = PSB_TH + 2 * radius, cols = PSB_TW + 2 * radius;
    float* s_diff = smem;                     // [rows][cols]  mean_c |I1 - I2| * 255
    float* s_horz = smem + rows * cols;       // [rows][PSB_TW] horizontally blurred
    const int tid = threadIdx.y * PSB_TW + threadIdx.x;
    const int b = blockIdx.z;
    const size_t plane = (size_t)H * W;
    const scalar_t* f_b = first + (size_t)b * C * plane;
    const scalar_t* s_b = second + (size_t)b * C * plane;
    const int oy = blockIdx.y * PSB_TH - radius, ox = blockIdx.x * PSB_TW - radius;
    const float scale = 255.0f / (float)C;

    for (int idx = tid; idx < rows * cols; idx += PSB_TW * PSB_TH) {
        const int r = idx / cols, q = idx - r * cols;
        const int fy = min(max(oy + r, 0), H - 1), fx = min(max(ox + q, 0), W - 1);
        const size_t pix = (size_t)fy * W + fx;
        float d = 0.0f;
        for (int c = 0; c < C; ++c) d += fabsf(to_float(f_b[c * plane + pix]) - to_float(s_b[c * plane + pix]));
        s_diff[idx] = d * scale;
    }
    __syncthreads();
    for (int idx = tid; idx < rows * PSB_TW; idx += PSB_TW * PSB_TH) {
        const int r = idx / PSB_TW, q = idx - r * PSB_TW;
        float h = 0.0f;
        for (int k = 0; k <= 2 * radius; ++k) h = fmaf(weights[k], s_diff[r * cols + q + k], h);
        s_horz[idx] = h;
    }
    __syncthreads();

    const int x = blockIdx.x * PSB_TW + threadIdx.x, y = blockIdx.y * PSB_TH + threadIdx.y;
    if (x >= W || y >= H) return;
    float bm = 0.0f;
    for (int k = 0; k <= 2 * radius; ++k)
        bm = fmaf(weights[k], s_horz[(threadIdx.y + k) * PSB_TW + threadIdx.x], bm);
    const size_t pix = (size_t)y * W + x;
    blend_map[(size_t)b * plane + pix] = bm;
    const float t = (fminf(fmaxf(bm, low), high) - low) / (high - low);
    const bool blend = bm < high;
    for (int c = 0; c < C; ++c) {
        const size_t at = ((size_t)b * C + c) * plane + pix;
        const float v = to_float(interp[at]);
        float o = v;
        if (blend) {
            const float avg = 0.5f * (to_float(first[at]) + to_float(second[at]));
            o = fmaf(t, v - avg, avg);
        }
        out[at] = from_float<scalar_t>(o);
    }
}
