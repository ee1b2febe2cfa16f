"""GPU ops of the CNN methods, each with a CuPy CUDA kernel and a pure-PyTorch reference.

* :func:`separable_local_conv` — adaptive separable local convolution (SepConv, ICCV 2017, Eq. 3);
* :func:`composite_dilation_offsets` — tap offsets of a dense centre plus a dilated outer ring;
* :func:`blend_map`, :func:`pixel_shader_blend` — the pixel-shader blend of an interpolated frame.

The backend is chosen per call by ``kernels._dispatch`` (env ``FRAMEWEAVE_KERNELS`` =
auto | torch | cuda); :func:`backend_info` reports what it would pick.
"""
from ._dispatch import backend_info
from .composite_dilation import composite_dilation_offsets
from .pixel_shader_blend import blend_map, pixel_shader_blend
from .separable_local_conv import separable_local_conv

__all__ = ["separable_local_conv", "composite_dilation_offsets", "blend_map", "pixel_shader_blend",
           "backend_info"]
