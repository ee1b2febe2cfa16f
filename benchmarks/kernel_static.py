"""Static analysis of the separable_local_conv CUDA kernels (no GPU needed).

    python benchmarks/kernel_static.py            # writes benchmarks/results/kernel_static.md

For the production case (K = 51 dense taps, and the composite (25, 26, 2) taps: K = 51, span 77;
three channels, one 1920x1080 frame) it reports, per kernel of v2 and v1:

* registers and spills from ptxas (NVRTC ``--ptxas-options=-v``) for sm_90 and sm_80;
* dynamic shared memory per block (the launchers' formulas) and the resident blocks and warps
  per SM that registers and shared memory allow on an H100/H200 (65,536 registers, 228 KiB of
  shared memory and 64 warps per SM, registers allocated per warp in units of 256);
* the inner loop's counted instructions per warp step (one streaming tap x channel for the patch
  kernels, one source pixel for the frame gather): FFMA, FMUL, shared loads and the shared-memory
  wavefronts they cost (128 bytes each, one per clock per SM; four schedulers issue one warp
  instruction per clock each). The slower of issue and shared bandwidth bounds the kernel: the
  share of the SM's 128 FMA lanes per clock doing useful multiply-adds;
* the time that bound gives for one 1080p frame on an H200 (132 SMs, 1.98 GHz).

These are models of the code, not measurements: loop overhead, address arithmetic, latency, the
patch fills and tails are not counted. v1's measured H200 times (``results/kernels_h200_2026-12-04.md``)
calibrate them: the ratio measured / bound of v1's forward is printed beside the bound.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

from frameweave.kernels import composite_dilation_offsets, nvrtc_check
from frameweave.vfi_core.machine import machine_description, write_report

RESULTS = Path(__file__).resolve().parent / "results" / "kernel_static.md"
K, C, H, W = 51, 3, 1080, 1920
SMS, CLOCK = 132, 1.98e9                    # H200 (and H100 SXM): SMs, boost clock
REGS_SM, SMEM_SM, WARPS_SM = 65536, 228 * 1024, 64
V1_MEASURED_FWD_S = 1.75e-3                 # H200, fp32, 1080p, one frame (results/kernels_h200_2026-12-04.md)
V1_MEASURED_FWDBWD_S = 20.64e-3


def occupancy(regs: int, smem: int, threads: int = 256) -> tuple:
    """(blocks, warps) resident per SM."""
    warps = threads // 32
    per_warp = (regs * 32 + 255) // 256 * 256
    by_regs = REGS_SM // (per_warp * warps)
    by_smem = SMEM_SM // (smem + 1024) if smem else 32     # 1 KiB reserved per block
    blocks = max(0, min(by_regs, by_smem, WARPS_SM // warps))
    return blocks, blocks * warps


def chunk_steps(span: int, forward: bool) -> dict:
    """Counted instructions of one warp step (tap x channel) over all register chunks of a quad."""
    slc = importlib.import_module("frameweave.kernels.separable_local_conv")
    lds = ffma = fmul = 0
    for start in range(0, span, slc._NC):
        n = min(slc._NC, span - start)
        lds += (n + 6) // 4                      # float4 window of n + 3 values
        ffma += 4 * n + (4 if forward else 0)    # forward: + Kv * h per pixel
        fmul += 0 if forward else 4              # gradient: Kv (or Kh) * g per pixel
    return {"lds": lds, "ffma": ffma, "fmul": fmul, "wavefronts": 4 * lds}


def bound(step: dict, useful_lanes: float) -> tuple:
    """(clocks per 4 warp steps, useful-FMA share of the SM's lanes): four warps, one per scheduler."""
    issue = step["lds"] + step["ffma"] + step["fmul"]
    clocks = max(issue, 4 * step["wavefronts"])
    return clocks, 4 * useful_lanes / (128 * clocks)


def main(argv=None) -> int:
    slc = importlib.import_module("frameweave.kernels.separable_local_conv")
    ok, why = nvrtc_check.nvrtc_status()
    composite = tuple(int(o) for o in composite_dilation_offsets(25, 26, 2))
    cases = {"dense K=51 (span 51)": 51, "composite (25,26,2): K=51, span 77": 77}
    fma_fwd = K * K * C * H * W                                        # useful multiply-adds, one frame
    rows, model_rows = [], []
    for label, span in cases.items():
        exprs = [f"slc2_forward<fw_half, {span}>", f"slc2_grad_taps<fw_half, {span}, false>",
                 f"slc2_grad_taps<fw_half, {span}, true>", f"slc2_grad_frame<fw_half, {span}, 3>"]
        usage = {arch: nvrtc_check.resource_usage(exprs, arch) for arch in ("sm_90", "sm_80")} if ok else {}
        smem = [4 * slc._patch_floats(span, K, C, 64, 16), 4 * slc._patch_floats(span, K, C, 64, 16),
                4 * slc._patch_floats(span, K, C, 32, 32), 4 * slc._frame_floats(span, K)]
        for expr, shared in zip(exprs, smem):
            r90 = usage.get("sm_90", {}).get(expr)
            r80 = usage.get("sm_80", {}).get(expr)
            regs = f"{r90['registers']} / {r80['registers']}" if r90 else "–"
            spills = f"{r90['spill_stores'] + r80['spill_stores']}" if r90 else "–"
            blocks, warps = occupancy(r90["registers"], shared) if r90 else ("–", "–")
            rows.append(f"| {label} | `{expr}` | {regs} | {spills} | {shared / 1024:.1f} KiB | {blocks} | {warps} |")
        # inner-loop model: forward and the two tap gradients share the chunked-quad loop
        for name, forward in (("slc2_forward", True), ("slc2_grad_taps (x2: dL/dKh, dL/dKv)", False)):
            step = chunk_steps(span, forward)
            useful = 32 * 4 * K                            # useful FMA lanes per warp step (4 px x K taps)
            clocks, eff = bound(step, useful)
            t = fma_fwd / (SMS * CLOCK * 128 * eff)
            model_rows.append(f"| {label} | {name} | {step['ffma']} FFMA, {step['fmul']} FMUL, {step['lds']} LDS.128 | "
                              f"{step['wavefronts']} | {clocks} | {100 * eff:.0f}% | {t * 1e3:.2f} ms |")
        # frame gather: per visited source 3 LDS.128, 12 FMUL, 48 FFMA; useful (S/(S+3))^2 of them (dense)
        step = {"lds": 3, "ffma": 48, "fmul": 12, "wavefronts": 12}
        useful = 32 * 48 * (K / (span + 3)) ** 2       # K^2 of the (span + 3)^2 visited (target, source) pairs
        clocks, eff = bound(step, useful)
        p = max(abs(o) for o in composite) if span == 77 else K // 2
        targets = (H + 2 * p) * (W + 2 * p) / (H * W)               # replicate: the padded frame
        t = fma_fwd * targets / (SMS * CLOCK * 128 * eff)
        model_rows.append(f"| {label} | slc2_grad_frame (padded targets x{targets:.2f}) | 48 FFMA, 12 FMUL, 3 LDS.128 | 12 | "
                          f"{clocks} | {100 * eff:.0f}% | {t * 1e3:.2f} ms |")
    # v1 for comparison (dense K = 51): registers and shared memory as its launchers ask
    v1 = importlib.import_module("frameweave.kernels._slc_v1")
    v1_exprs = {"slc_forward_dense2<fw_half, 51>": v1._dense2_shared(K, C),
                "slc_backward_kernels<fw_half, 51, true>": 4 * (K + C * (8 + K - 1) * (32 + K - 1)),
                "slc_backward_frame<fw_half>": 4 * K}
    v1_usage = nvrtc_check.resource_usage(list(v1_exprs), "sm_90", "separable_local_conv_v1.cu") if ok else {}
    for expr, shared in v1_exprs.items():
        u = v1_usage.get(expr)
        blocks, warps = occupancy(u["registers"], shared) if u else ("–", "–")
        rows.append(f"| v1, dense K=51 | `{expr}` | {u['registers'] if u else '–'} (sm_90) | "
                    f"{u['spill_stores'] if u else '–'} | {shared / 1024:.1f} KiB | {blocks} | {warps} |")
    # v1 inner loops (dense K = 51): dense2 forward, 2 pixels per thread, float2 loads
    v1_step = {"lds": (K + 2) // 2, "ffma": 2 * K + 2, "fmul": 0, "wavefronts": 2 * ((K + 2) // 2)}
    clocks, eff = bound(v1_step, 32 * 2 * K)
    v1_bound = fma_fwd / (SMS * CLOCK * 128 * eff)
    model_rows.append(f"| dense K=51 (span 51) | v1 slc_forward_dense2 | {v1_step['ffma']} FFMA, {v1_step['lds']} LDS.64 | "
                      f"{v1_step['wavefronts']} | {clocks} | {100 * eff:.0f}% | {v1_bound * 1e3:.2f} ms "
                      f"(measured {V1_MEASURED_FWD_S * 1e3:.2f} ms fp32 = {v1_bound / V1_MEASURED_FWD_S:.0%} of the bound) |")
    v1_bk = {"lds": C, "ffma": C + 2, "fmul": 0, "wavefronts": C}     # per tap pair (i, j), one pixel per thread
    clocks, eff = bound(v1_bk, 32 * (C + 2))
    t = fma_fwd * (C + 2) / C / (SMS * CLOCK * 128 * eff)
    model_rows.append(f"| dense K=51 (span 51) | v1 slc_backward_kernels (dL/dKv and dL/dKh, (C+2)K² FMA) | "
                      f"{C + 2} FFMA, {C} LDS.32 | {C} | {clocks} | {100 * eff:.0f}% | {t * 1e3:.2f} ms |")
    text = "\n".join([
        "# Static analysis of the separable_local_conv kernels",
        "",
        f"Machine (compiler only, no GPU): {machine_description()}. "
        f"`python benchmarks/kernel_static.py`; NVRTC: {why}.",
        f"Case: K = {K}, {C} channels, one {W}x{H} frame; H200/H100 SM: 65,536 registers, 228 KiB shared "
        "memory, 64 warps; 132 SMs at 1.98 GHz for the times.",
        "",
        "## Registers (ptxas, sm_90 / sm_80), shared memory and occupancy (sm_90 registers)",
        "",
        "| taps | kernel | registers | spill bytes | shared / block | blocks / SM | warps / SM |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        "## Inner loop per warp step and the bound it gives (model of the code, not a measurement)",
        "",
        "A warp step: one streaming tap x one channel over all register chunks of a quad (patch "
        "kernels), one source pixel (frame gather). Clocks per 4 warp steps = max(issued "
        "instructions of one step, shared wavefronts of four steps); efficiency = useful FMA lanes "
        "/ (128 x clocks). Time = useful FMAs of one 1080p frame at that efficiency.",
        "",
        "| taps | kernel | counted instructions per warp step | shared wavefronts | clocks / 4 steps | "
        "useful FMA share | 1080p frame at the bound |",
        "|---|---|---|---|---|---|---|",
        *model_rows,
        "",
        f"Forward + backward of v1, measured: {V1_MEASURED_FWDBWD_S * 1e3:.1f} ms (fp32, H200). "
        "Useful multiply-adds: forward K²C per pixel; dL/dKh and dL/dKv K²C each (v2 computes each "
        "as its own reduction, 6K² for C = 3, against the 5K² of v1's shared Σ_c g·I term, which "
        "needs partial sums across register chunks); dL/dI K²C per padded pixel.",
        "",
    ])
    print(text)
    write_report(RESULTS, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
