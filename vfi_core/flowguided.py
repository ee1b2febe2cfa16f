"""Flow-guided adaptive convolution: the Flow Warp, corrected by a small network.

The Flow Warp (``baselines.warp_blend``) backward-warps both inputs to time t along the Super
SloMo eq. 4 flows and blends them with occlusion-aware weights (Super SloMo eq. 1):

    W_0 = g(I_0, F_{t->0}),  W_1 = g(I_1, F_{t->1})
    I_t^FW = (w_0·W_0 + w_1·W_1) / (w_0 + w_1),  w_0 = (1-t)·V_{t<-0} + ε,  w_1 = t·V_{t<-1} + ε

Here a small U-Net looks at what the Flow Warp used — the warped frames W_0, W_1, the originals
I_0, I_1, the flows F_{t->0}, F_{t->1}, the warped occlusion masks Õ_0, Õ_1, the warped
forward-backward consistency errors, the Flow Warp's blend weight and t — and predicts, for every
pixel, four 1-D kernels of K taps (as SepConv, Niklaus et al. ICCV 2017, eq. 3, but applied to the
*warped* frames, so K stays small: the flow has already moved the content) and a residual r on the
blend logit:

    A_i = SLC(W_i; δ + Δk_{i,v}, δ + Δk_{i,h})                (separable local convolution, eq. 3)
    w_0' = w_0·exp(ρ/2),  w_1' = w_1·exp(-ρ/2),  ρ = R·tanh(r / R)
    I_t = (w_0'·A_0 + w_1'·A_1) / (w_0' + w_1')               (eq. 1 with corrected weights)

δ is the centred delta kernel. The last layer of the network starts at zero, so a new network has
Δk = 0 and r = 0: A_i = W_i exactly and I_t is the Flow Warp's output, bit for bit (the same
operations in the same order; tests/test_flowguided.py checks it). Training therefore starts at the
Flow Warp's score and only learns what the flow gets wrong. ρ is bounded (R = 20) so exp never
overflows; the Flow Warp's weights reach a ratio of ε = 1e-6 where one side is occluded, which
|ρ| up to ~14 can still overturn.

The network runs at half resolution (all inputs are 2x2 average-pooled first): the kernels and the
blend residual are predicted at H/2 x W/2 and upsampled bilinearly, so its cost stays a fraction of
the DIS flows' (the cost rule of docs/flowguided.md). Without warping (``guide(..., warp=False)``:
zero flows, no occlusions) the same network is a plain small-K SepConv on the originals, started
from the linear blend: the "no warping" ablation.
"""
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .baselines import EPS, intermediate_flows
from .warp import backward_warp, consistency_error, occlusion_mask

ARCHITECTURE = "flowguided"
FLOW_SCALE = 1.0 / 16.0        # flows enter the network in units of 16 px
LOGIT_BOUND = 20.0             # R: the blend-logit residual is R·tanh(r/R)
GUIDE_CHANNELS = 22            # see FlowGuide.features


@dataclass
class FlowGuide:
    """Everything the network and the synthesis read, NCHW at full resolution.

    warped_0, warped_1: [B,3,H,W] W_0, W_1;  first, second: [B,3,H,W] I_0, I_1;
    flow_t0, flow_t1: [B,2,H,W] pixels;  occ_0, occ_1: [B,1,H,W] warped occlusion masks Õ;
    err_0, err_1: [B,1,H,W] warped consistency errors (pixels);  w_0, w_1: [B,1,H,W] the Flow Warp's
    weights including ε;  t: [B] times.
    """
    warped_0: torch.Tensor
    warped_1: torch.Tensor
    first: torch.Tensor
    second: torch.Tensor
    flow_t0: torch.Tensor
    flow_t1: torch.Tensor
    occ_0: torch.Tensor
    occ_1: torch.Tensor
    err_0: torch.Tensor
    err_1: torch.Tensor
    w_0: torch.Tensor
    w_1: torch.Tensor
    t: torch.Tensor

    def features(self) -> torch.Tensor:
        """Network input [B,22,H,W]: W_0, W_1, I_0, I_1 (12), flows/16 (4), Õ_0, Õ_1 (2),
        log(1 + consistency error) (2), the Flow Warp's blend weight w_0/(w_0+w_1) (1), t (1)."""
        b, _, h, w = self.first.shape
        blend = self.w_0 / (self.w_0 + self.w_1)
        t_map = self.t.to(self.first.dtype).view(b, 1, 1, 1).expand(b, 1, h, w)
        return torch.cat([self.warped_0, self.warped_1, self.first, self.second,
                          self.flow_t0 * FLOW_SCALE, self.flow_t1 * FLOW_SCALE, self.occ_0, self.occ_1,
                          torch.log1p(self.err_0), torch.log1p(self.err_1), blend, t_map], dim=1)


def make_guide(first: torch.Tensor, second: torch.Tensor, flow_01: torch.Tensor, flow_10: torch.Tensor,
               t, occlusions=None, warp: bool = True) -> FlowGuide:
    """The guide of frames I_0 = first, I_1 = second [B,H,W,3] (IMAGE layout) with their DIS flows
    F_{0->1}, F_{1->0} [B,H,W,2] at time(s) ``t`` (a float or [B] tensor): the Flow Warp's
    intermediate flows, warped frames, warped occlusion masks and weights (``baselines.warp_blend``,
    same formulas), plus the warped consistency errors. ``occlusions`` passes precomputed
    ``baselines.occlusion_masks``. ``warp=False``: zero flows (the no-warping ablation)."""
    like = {"dtype": first.dtype, "device": first.device}
    b = first.shape[0]
    if isinstance(t, (int, float)):
        tt, t = float(t), torch.full((b,), float(t), **like)             # a Python float: warp_blend's arithmetic
    else:
        t = torch.as_tensor(t, **like).reshape(-1).expand(b).contiguous()
        tt = t.view(b, 1, 1, 1)                                          # [B,1,1,1]
    flow_01, flow_10 = flow_01.to(**like), flow_10.to(**like)
    if not warp:
        flow_01, flow_10 = torch.zeros_like(flow_01), torch.zeros_like(flow_10)
    flow_t0, flow_t1 = intermediate_flows(flow_01, flow_10, tt)          # [B,H,W,2] each (eq. 4)
    if occlusions is None:
        occlusions = (occlusion_mask(flow_01, flow_10), occlusion_mask(flow_10, flow_01))
    err_0, err_1 = consistency_error(flow_01, flow_10), consistency_error(flow_10, flow_01)   # [B,H,W] px
    # warp image, occlusion mask and error together: [B,H,W,3+1+1]
    stack_0 = torch.cat([first, occlusions[0][..., None].to(**like), err_0[..., None]], dim=-1)
    stack_1 = torch.cat([second, occlusions[1][..., None].to(**like), err_1[..., None]], dim=-1)
    warped_0, occ_0, err_0 = backward_warp(stack_0, flow_t0).split([3, 1, 1], dim=-1)
    warped_1, occ_1, err_1 = backward_warp(stack_1, flow_t1).split([3, 1, 1], dim=-1)
    ones = torch.ones((*first.shape[:3], 1), **like)                     # [B,H,W,1]
    w_0 = ones * (1.0 - tt) * (1.0 - occ_1 * (1.0 - occ_0)) + EPS        # (1-t)·V_{t<-0} + ε
    w_1 = ones * tt * (1.0 - occ_0 * (1.0 - occ_1)) + EPS                # t·V_{t<-1} + ε

    def nchw(x):
        return x.permute(0, 3, 1, 2).contiguous()
    return FlowGuide(nchw(warped_0), nchw(warped_1), nchw(first), nchw(second), nchw(flow_t0), nchw(flow_t1),
                     nchw(occ_0), nchw(occ_1), nchw(err_0), nchw(err_1), nchw(w_0), nchw(w_1), t)


def _conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, 1, 1), nn.LeakyReLU(0.1, inplace=False))


class FlowGuidedNet(nn.Module):
    """Small U-Net at half resolution predicting separable kernels for the warped frames and a
    blend-logit residual (module docstring).

    Args:
        kernel_size: K, taps of each 1-D kernel (odd; 1 = a per-pixel gain only; 0 = no kernels,
            A_i = W_i: only the blend-logit residual is learned).
        channels: 4 encoder widths at H/2, H/4, H/8, H/16.
        warp: False for the no-warping ablation (its guides are made with zero flows; stored in
            the architecture so such weights are never run on warped frames).

    ``forward(guide)`` -> [B,3,H,W] (unclamped); ``interpolate`` clamps to 0..1.
    """

    multiple = 16  # half resolution, then three 2x2 poolings

    def __init__(self, kernel_size: int = 5, channels=(16, 32, 48, 64), warp: bool = True):
        super().__init__()
        kernel_size = int(kernel_size)
        if kernel_size < 0 or (kernel_size and kernel_size % 2 == 0):
            raise ValueError(f"kernel_size must be 0 (no kernels) or a positive odd number, got {kernel_size}")
        ch = tuple(int(c) for c in channels)
        if len(ch) != 4 or min(ch) < 1:
            raise ValueError(f"channels must be 4 positive widths, got {channels}")
        self.kernel_size, self.channels, self.warp = kernel_size, ch, bool(warp)
        c1, c2, c3, c4 = ch
        self.enc1 = _conv(GUIDE_CHANNELS, c1)                                  # H/2
        self.enc2 = nn.Sequential(_conv(c1, c2), _conv(c2, c2))                # H/4
        self.enc3 = nn.Sequential(_conv(c2, c3), _conv(c3, c3))                # H/8
        self.enc4 = nn.Sequential(_conv(c3, c4), _conv(c4, c4))                # H/16
        self.dec3 = _conv(c4, c3)
        self.dec2 = _conv(c3, c2)
        self.dec1 = _conv(c2, c1)
        self.head = nn.Conv2d(c1, 4 * kernel_size + 1, 3, 1, 1)                # Δkv0, Δkh0, Δkv1, Δkh1, r
        self.reset_to_flow_warp()

    def reset_to_flow_warp(self) -> "FlowGuidedNet":
        """Kaiming init of the hidden convolutions, zero head: the network reproduces the Flow Warp."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, a=0.1, nonlinearity="leaky_relu")
                nn.init.zeros_(m.bias)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        return self

    # --- description --------------------------------------------------------------------------
    def architecture(self) -> dict:
        arch = {"architecture": ARCHITECTURE, "kernel_size": self.kernel_size, "channels": list(self.channels)}
        if not self.warp:                    # only the ablation says so (older runs have no key)
            arch["warp"] = False
        return arch

    @classmethod
    def from_architecture(cls, arch: dict) -> "FlowGuidedNet":
        if arch.get("architecture") != ARCHITECTURE:
            raise ValueError(f"weights are for architecture {arch.get('architecture')!r}, not {ARCHITECTURE!r}")
        return cls(kernel_size=int(arch["kernel_size"]), channels=[int(c) for c in arch["channels"]],
                   warp=bool(arch.get("warp", True)))

    def reach(self) -> int:
        return self.kernel_size // 2

    # --- forward --------------------------------------------------------------------------------
    def predict(self, features: torch.Tensor) -> torch.Tensor:
        """[B,22,H,W] (H, W multiples of 16) -> head output [B,4K+1,H,W] (predicted at H/2, upsampled)."""
        x = F.avg_pool2d(features, 2)                                          # [B,22,H/2,W/2]
        e1 = self.enc1(x)                                                      # [B,c1,H/2]
        e2 = self.enc2(F.avg_pool2d(e1, 2))                                    # [B,c2,H/4]
        e3 = self.enc3(F.avg_pool2d(e2, 2))                                    # [B,c3,H/8]
        e4 = self.enc4(F.avg_pool2d(e3, 2))                                    # [B,c4,H/16]
        d3 = self.dec3(F.interpolate(e4, scale_factor=2, mode="bilinear", align_corners=False)) + e3
        d2 = self.dec2(F.interpolate(d3, scale_factor=2, mode="bilinear", align_corners=False)) + e2
        d1 = self.dec1(F.interpolate(d2, scale_factor=2, mode="bilinear", align_corners=False)) + e1
        out = self.head(d1)                                                    # [B,4K+1,H/2,W/2]
        return F.interpolate(out, scale_factor=2, mode="bilinear", align_corners=False)

    def synthesize(self, guide: FlowGuide, head: torch.Tensor) -> torch.Tensor:
        """Module docstring: A_i = SLC(W_i; δ + Δk), blend with the residual-corrected weights."""
        from ..kernels import separable_local_conv
        k = self.kernel_size
        dkv0, dkh0, dkv1, dkh1, r = head.split([k, k, k, k, 1], dim=1)
        if k:
            delta = torch.zeros(1, k, 1, 1, dtype=head.dtype, device=head.device)
            delta[:, k // 2] = 1.0                                             # centred δ [1,K,1,1]
            a0 = separable_local_conv(guide.warped_0, delta + dkv0, delta + dkh0)
            a1 = separable_local_conv(guide.warped_1, delta + dkv1, delta + dkh1)
        else:                                                                  # K = 0: blend correction only
            a0, a1 = guide.warped_0, guide.warped_1
        rho = LOGIT_BOUND * torch.tanh(r / LOGIT_BOUND)
        w0, w1 = guide.w_0 * torch.exp(0.5 * rho), guide.w_1 * torch.exp(-0.5 * rho)
        return (w0 * a0 + w1 * a1) / (w0 + w1)                                 # eq. 1, corrected weights

    def forward(self, guide: FlowGuide) -> torch.Tensor:
        """Frame at t, [B,3,H,W] unclamped; any H, W (replicate-padded to a multiple of 16 for the
        network, the synthesis runs on the unpadded frames)."""
        features = guide.features()
        h, w = features.shape[-2:]
        ph, pw = (-h) % self.multiple, (-w) % self.multiple
        if ph or pw:
            pad = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)                # left, right, top, bottom
            head = self.predict(F.pad(features, pad, mode="replicate"))[..., pad[2]:pad[2] + h, pad[0]:pad[0] + w]
        else:
            head = self.predict(features)
        return self.synthesize(guide, head)

    def interpolate(self, guide: FlowGuide) -> torch.Tensor:
        """IMAGE layout [B,H,W,3] in 0..1 (the Flow Warp clamps the same way)."""
        return self(guide).clamp(0.0, 1.0).permute(0, 2, 3, 1)
