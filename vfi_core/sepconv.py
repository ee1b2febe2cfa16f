"""SepConvNet: video frame interpolation via adaptive separable convolution.

Niklaus, Mai, Liu, "Video Frame Interpolation via Adaptive Separable Convolution", ICCV 2017.
A fully convolutional encoder-decoder looks at both input frames and estimates, for every output
pixel, four 1-D kernels: a vertical and a horizontal one for each input frame. The middle frame is
(paper, Eq. 3)

    Î(x, y) = K1(x, y) * P1(x, y) + K2(x, y) * P2(x, y),      K_i(x, y) = k_{i,v}(x, y) k_{i,h}(x, y)^T

where P_i(x, y) is the K x K patch of frame i centred on (x, y). The separable local convolution
itself lives in ``kernels.separable_local_conv`` (CUDA + PyTorch reference); this module is the
network that predicts the kernels.

Architecture (paper, Fig. 2 / the authors' published implementation):

* encoder: 5 blocks of 3 x (conv3x3 + ReLU) at 32, 64, 128, 256, 512 channels, each followed by
  2x2 average pooling (so the input must be a multiple of 32; we pad and crop back);
* decoder: conv block + bilinear 2x upsampling (+ conv + ReLU) at 512, 256, 128, 64 channels, each
  added (skip connection) to the encoder feature of the same resolution;
* four subnets (3 x conv + ReLU, bilinear 2x upsampling, conv to K channels) give Kv1, Kh1, Kv2, Kh2.

``width`` scales every channel count (a narrower network trains on a CPU); ``kernel_size`` is K
(51 in the paper); ``dilation`` > 1 spreads the kernel taps (composite dilation, see ``kernels``).
The state-dict layout mirrors the authors' so their checkpoint converts by renaming keys
(``vfi_core.weights.convert_original_sepconv``).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

ARCHITECTURE = "sepconv"
PAPER_CHANNELS = (32, 64, 128, 256, 512)


def scaled_channels(width: float) -> tuple:
    """The paper's encoder channels (32..512) times ``width``, at least 4 each."""
    if not width > 0:
        raise ValueError(f"width multiplier must be positive, got {width}")
    return tuple(max(4, int(round(c * width))) for c in PAPER_CHANNELS)


def _basic(c_in: int, c_out: int) -> nn.Sequential:
    """3 x (conv3x3 + ReLU); indices 0, 2, 4 are the convolutions (as in the original)."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, 1, 1), nn.ReLU(inplace=False),
        nn.Conv2d(c_out, c_out, 3, 1, 1), nn.ReLU(inplace=False),
        nn.Conv2d(c_out, c_out, 3, 1, 1), nn.ReLU(inplace=False))


def _upsample(c: int) -> nn.Sequential:
    """bilinear 2x upsampling, conv3x3 + ReLU (index 1 is the convolution)."""
    return nn.Sequential(
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
        nn.Conv2d(c, c, 3, 1, 1), nn.ReLU(inplace=False))


def _subnet(c: int, k: int) -> nn.Sequential:
    """Kernel subnet: 3 x (conv + ReLU), bilinear 2x upsampling, conv to K channels (0,2,4,7 conv)."""
    return nn.Sequential(
        nn.Conv2d(c, c, 3, 1, 1), nn.ReLU(inplace=False),
        nn.Conv2d(c, c, 3, 1, 1), nn.ReLU(inplace=False),
        nn.Conv2d(c, k, 3, 1, 1), nn.ReLU(inplace=False),
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
        nn.Conv2d(k, k, 3, 1, 1))


def _common_dtype(first, second, *maps):
    """Frames and kernel maps in one dtype: float16 maps pull the frames down to float16 (half the
    memory traffic; a 0..1 frame keeps ~0.1 grey level); otherwise the maps follow the frames, so
    bfloat16 maps (8-bit mantissa, ~1 grey level) are raised to float32 instead of the frames lowered."""
    if maps[0].dtype == torch.float16 and first.dtype != torch.float16:
        return (first.half(), second.half()) + tuple(m.half() for m in maps)
    return (first, second) + tuple(m.to(first.dtype) for m in maps)


class SepConvNet(nn.Module):
    """Adaptive separable convolution network (midpoint interpolator, t = 0.5).

    Args:
        kernel_size: K, length of each 1-D kernel (odd; 51 in the paper).
        width: channel multiplier applied to (32, 64, 128, 256, 512); ignored if ``channels`` given.
        channels: explicit 5 encoder channel counts.
        dilation: kernel tap spacing (1 = dense taps; >1 = composite dilation from ``kernels``).
        padding: how the frames are extended beyond their border for the local convolution
            ("replicate", as the authors, or "zero").

    ``forward(first, second)`` takes NCHW float tensors [B,3,H,W] of any size and returns [B,3,H,W];
    ``interpolate(first, second)`` does the same in the IMAGE layout [B,H,W,3].
    """

    multiple = 32  # five 2x2 poolings

    def __init__(self, kernel_size: int = 51, width: float = 1.0, channels=None, dilation: int = 1,
                 padding: str = "replicate"):
        super().__init__()
        kernel_size = int(kernel_size)
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd number, got {kernel_size}")
        if int(dilation) < 1:
            raise ValueError(f"dilation must be >= 1, got {dilation}")
        if padding not in ("replicate", "zero"):
            raise ValueError(f"padding must be 'replicate' or 'zero', got {padding!r}")
        ch = tuple(int(c) for c in channels) if channels is not None else scaled_channels(width)
        if len(ch) != 5 or min(ch) < 1:
            raise ValueError(f"channels must be 5 positive encoder widths, got {channels}")
        self.kernel_size, self.channels, self.dilation, self.padding = kernel_size, ch, int(dilation), padding
        c1, c2, c3, c4, c5 = ch
        self.conv1, self.conv2, self.conv3 = _basic(6, c1), _basic(c1, c2), _basic(c2, c3)
        self.conv4, self.conv5 = _basic(c3, c4), _basic(c4, c5)
        self.deconv5, self.upsample5 = _basic(c5, c5), _upsample(c5)
        self.deconv4, self.upsample4 = _basic(c5, c4), _upsample(c4)
        self.deconv3, self.upsample3 = _basic(c4, c3), _upsample(c3)
        self.deconv2, self.upsample2 = _basic(c3, c2), _upsample(c2)
        self.vertical1, self.horizontal1 = _subnet(c2, kernel_size), _subnet(c2, kernel_size)
        self.vertical2, self.horizontal2 = _subnet(c2, kernel_size), _subnet(c2, kernel_size)
        self._init_weights()
        self._offsets = None
        if self.dilation > 1:
            from ..kernels import composite_dilation_offsets
            # composite dilation: dense centre, dilated outer taps (see kernels/)
            d_in = (kernel_size // 2) | 1                      # odd dense centre, e.g. 25 of 51
            self._offsets = tuple(int(o) for o in composite_dilation_offsets(d_in, kernel_size - d_in,
                                                                              self.dilation))

    def _init_weights(self) -> None:
        """He (Kaiming) normal initialisation of every conv followed by a ReLU, zero biases: with
        torch's default init the activations fade through the ~25 stacked layers and the kernels
        start out (and stay for long) the same at every pixel."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    # --- description --------------------------------------------------------------
    def architecture(self) -> dict:
        """Constructor arguments that rebuild this network (stored in safetensors metadata)."""
        return {"architecture": ARCHITECTURE, "kernel_size": self.kernel_size,
                "channels": list(self.channels), "dilation": self.dilation, "padding": self.padding}

    @classmethod
    def from_architecture(cls, arch: dict) -> "SepConvNet":
        if arch.get("architecture", ARCHITECTURE) != ARCHITECTURE:
            raise ValueError(f"weights are for architecture {arch.get('architecture')!r}, not {ARCHITECTURE!r}")
        return cls(kernel_size=int(arch["kernel_size"]), channels=[int(c) for c in arch["channels"]],
                   dilation=int(arch.get("dilation", 1)), padding=arch.get("padding", "replicate"))

    def reach(self) -> int:
        """Largest displacement (pixels, per axis) a kernel tap can gather from."""
        if self._offsets is None:
            return self.kernel_size // 2
        return int(max(abs(int(o)) for o in self._offsets))

    def init_as_blend(self, scale: float = 0.0) -> "SepConvNet":
        """Start from the linear blend: every kernel a centred delta of weight sqrt(1/2) (the last
        convolutions' biases), so the initial output is (I1 + I2) / 2 (a start of this project, not
        in the paper); the last convolutions' weights are multiplied by ``scale``.

        Why zero (the default): the deviation of each kernel tap from the delta is that layer's
        output, scale·(W ∗ x), and Eq. 3 sums the products of two such kernels over all K x K taps,
        so any fixed scale leaves an error that grows with K and the width: with x0.1 a fresh K = 51
        network scored 6-8 dB on the UCF101 dev triplets (blend 30.5), and x0.001 still cost up to
        3.9 dB on a triplet (the H200 run's README). Zero weights make the start exactly the blend
        for every K, width and dilation
        (the centre tap of composite dilation is offset 0 too), and training still moves them at
        once: their gradient is the output gradient times the (non-zero) input features, as for
        the zero-initialised last layers of residual networks (Fixup, Zhang et al. 2019)."""
        centre = self.kernel_size // 2
        with torch.no_grad():
            for sub in (self.vertical1, self.horizontal1, self.vertical2, self.horizontal2):
                last = sub[7]
                last.weight.mul_(scale)
                last.bias.zero_()
                last.bias[centre] = math.sqrt(0.5)
        return self

    # --- forward -------------------------------------------------------------------
    def estimate_kernels(self, first: torch.Tensor, second: torch.Tensor):
        """[B,3,H,W] x2 with H, W multiples of 32 -> Kv1, Kh1, Kv2, Kh2, each [B,K,H,W]."""
        conv1 = self.conv1(torch.cat([first, second], dim=1))            # [B,c1,H,W]
        conv2 = self.conv2(F.avg_pool2d(conv1, 2))                       # [B,c2,H/2,W/2]
        conv3 = self.conv3(F.avg_pool2d(conv2, 2))                       # [B,c3,H/4]
        conv4 = self.conv4(F.avg_pool2d(conv3, 2))                       # [B,c4,H/8]
        conv5 = self.conv5(F.avg_pool2d(conv4, 2))                       # [B,c5,H/16]
        deconv5 = self.upsample5(self.deconv5(F.avg_pool2d(conv5, 2)))   # [B,c5,H/16]
        deconv4 = self.upsample4(self.deconv4(deconv5 + conv5))          # [B,c4,H/8]
        deconv3 = self.upsample3(self.deconv3(deconv4 + conv4))          # [B,c3,H/4]
        deconv2 = self.upsample2(self.deconv2(deconv3 + conv3))          # [B,c2,H/2]
        combine = deconv2 + conv2
        return (self.vertical1(combine), self.horizontal1(combine),      # [B,K,H,W] each
                self.vertical2(combine), self.horizontal2(combine))

    def synthesize(self, first, second, kv1, kh1, kv2, kh2) -> torch.Tensor:
        """Paper Eq. 3: Î = SLC(I1; Kv1, Kh1) + SLC(I2; Kv2, Kh2).

        Under autocast the kernel maps come out of the last convolutions in float16/bfloat16 while
        the frames stay float32; the op needs one dtype (it accumulates in float32 either way)."""
        from ..kernels import separable_local_conv
        first, second, kv1, kh1, kv2, kh2 = _common_dtype(first, second, kv1, kh1, kv2, kh2)
        return (separable_local_conv(first, kv1, kh1, padding=self.padding, offsets=self._offsets)
                + separable_local_conv(second, kv2, kh2, padding=self.padding, offsets=self._offsets))

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """Midpoint of two frames, NCHW [B,3,H,W] -> [B,3,H,W]; any H, W (replicate-padded to a
        multiple of 32 internally, then cropped back)."""
        if first.ndim != 4 or first.shape[1] != 3 or first.shape != second.shape:
            raise ValueError(f"SepConvNet expects two [B,3,H,W] tensors of the same shape, got "
                             f"{list(first.shape)} and {list(second.shape)}")
        h, w = first.shape[-2:]
        ph, pw = (-h) % self.multiple, (-w) % self.multiple
        if ph or pw:
            pad = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)   # left, right, top, bottom
            first_p = F.pad(first, pad, mode="replicate")
            second_p = F.pad(second, pad, mode="replicate")
        else:
            pad, first_p, second_p = (0, 0, 0, 0), first, second
        kernels = self.estimate_kernels(first_p, second_p)
        out = self.synthesize(first_p, second_p, *kernels)              # [B,3,H+ph,W+pw]
        return out[..., pad[2]:pad[2] + h, pad[0]:pad[0] + w]

    def interpolate(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """IMAGE layout: [B,H,W,3] x2 -> midpoint [B,H,W,3], on the model's device and in the inputs'
        dtype (the inputs are cast to the model's dtype and device first, e.g. a float16 model)."""
        weight = next(self.parameters())
        a, b = (x.to(device=weight.device, dtype=weight.dtype).permute(0, 3, 1, 2) for x in (first, second))
        return self(a, b).permute(0, 2, 3, 1).to(first.dtype)
