"""Fourier feature mappings γ(v) of input coordinates, as used by NeCo.

Coordinate networks with ReLU-like activations learn low frequencies first and fit fine detail
slowly ("spectral bias"); mapping the coordinates v ∈ [0,1]^d through sinusoids first lets the
MLP represent high frequencies (Tancik et al., "Fourier Features Let Networks Learn High
Frequency Functions in Low Dimensional Domains", NeurIPS 2020, eq. 5 and §6; NeCo §3).

Encodings (``d`` = 3 for (x, y, t)):

- ``basic``    γ(v) = [v, sin(kπv), cos(kπv)]      k = 1..L, applied to every coordinate,
               out dim d·(1 + 2L). The frequencies grow linearly (k·π), as NeCo specifies.
- ``gaussian`` γ(v) = [v, sin(2πBv), cos(2πBv)]    B ∈ R^{m×d}, B_ij ~ N(0, σ²) drawn once at
               construction from ``seed`` (m = d·L so both encodings give the same width),
               out dim d·(1 + 2L). B is a buffer: it is saved with the model.
- ``none``     γ(v) = v, out dim d.

The raw coordinates v are kept in front of the sinusoids in every encoding (as NeRF's
positional encoding does): they give the network the coordinate itself, which the periodic
terms alone only give up to aliasing, at the cost of d extra input units.

Feature layout, [N, d·(1+2L)]: v (d), then sin terms, then cos terms; for ``basic`` the sin
block is ordered frequency-major: sin(1πv_1..d), sin(2πv_1..d), ..., sin(Lπv_1..d).

Time cap (``time_L``, basic only): the last coordinate (t) keeps only k = 1..time_L; its higher
frequencies are set to 0 (constant features, so the width does not depend on it). T training
frames sample t every 1/(T-1); sin(kπt) with k ≥ T-1 is at or above that sampling's Nyquist rate,
so the fit can pass through every frame with oscillations between them. NeCo's node resolves
``time_L = -1`` (auto) to min(L, T-2), which on the dev clips raised the PSNR of frames between
the training ones from 22.4 to 28.6 dB (benchmarks/neco.py --parts generalisation).
"""
import math

import torch

ENCODINGS = ("basic", "gaussian", "none")


def basic_frequencies(L: int) -> torch.Tensor:
    """Angular frequencies kπ, k = 1..L, [L]."""
    return math.pi * torch.arange(1, L + 1, dtype=torch.float32)


def gaussian_matrix(L: int, sigma: float, in_dim: int = 3, seed: int = 0) -> torch.Tensor:
    """B ∈ R^{(in_dim·L) × in_dim}, B_ij ~ N(0, σ²), reproducible from ``seed``."""
    g = torch.Generator().manual_seed(int(seed))
    return torch.randn(in_dim * L, in_dim, generator=g) * float(sigma)


def fourier_features(v: torch.Tensor, encoding: str = "basic", L: int = 10, B: torch.Tensor | None = None,
                     time_L: int | None = None) -> torch.Tensor:
    """γ(v) for coordinates v [N,d] (see the module docstring) -> [N, d·(1+2L)] ([N,d] for none).

    ``B`` ([m,d]) is required for ``gaussian``. ``time_L`` (basic only, None = L) caps the
    frequencies of the last coordinate at time_L·π.
    """
    if v.ndim != 2:
        raise ValueError(f"coordinates must be [N, d], got {list(v.shape)}")
    if encoding == "none":
        return v
    if encoding == "basic":
        if L < 1:
            raise ValueError(f"basic encoding needs L >= 1 frequencies, got {L}")
        w = math.pi * torch.arange(1, L + 1, device=v.device, dtype=v.dtype)     # [L] kπ
        freqs = w[:, None].repeat(1, v.shape[1])                                  # [L,d]
        if time_L is not None and time_L < L:
            freqs[max(int(time_L), 0):, -1] = 0.0                                 # cap the time axis
        angles = (freqs[None] * v[:, None, :]).reshape(v.shape[0], -1)            # [N,L,d] -> [N, L·d]
    elif encoding == "gaussian":
        if B is None:
            raise ValueError("gaussian encoding needs the frequency matrix B")
        if B.ndim != 2 or B.shape[1] != v.shape[1]:
            raise ValueError(f"B must be [m, {v.shape[1]}], got {list(B.shape)}")
        with torch.autocast(device_type=v.device.type, enabled=False):  # angles of 100s of rad: no bf16
            acc = torch.promote_types(v.dtype, torch.float32)
            angles = 2.0 * math.pi * (v.to(acc) @ B.to(device=v.device, dtype=acc).T)  # [N, m]
    else:
        raise ValueError(f"unknown encoding {encoding!r}; choose one of {', '.join(ENCODINGS)}")
    return torch.cat([v, torch.sin(angles), torch.cos(angles)], dim=1)


def encoded_dim(encoding: str, L: int, in_dim: int = 3) -> int:
    """Width of γ(v) for ``in_dim`` coordinates."""
    if encoding == "none":
        return in_dim
    if encoding in ("basic", "gaussian"):
        return in_dim * (1 + 2 * L)
    raise ValueError(f"unknown encoding {encoding!r}; choose one of {', '.join(ENCODINGS)}")


class FourierFeatures(torch.nn.Module):
    """γ as a module: ``FourierFeatures(encoding, L, sigma, in_dim, seed)(v [N,d]) -> [N, out_dim]``."""

    def __init__(self, encoding: str = "basic", L: int = 10, sigma: float = 10.0, in_dim: int = 3, seed: int = 0,
                 time_L: int | None = None):
        super().__init__()
        if encoding not in ENCODINGS:
            raise ValueError(f"unknown encoding {encoding!r}; choose one of {', '.join(ENCODINGS)}")
        if encoding != "none" and int(L) < 1:
            raise ValueError(f"{encoding} encoding needs L >= 1 frequencies, got {L}")
        if encoding == "gaussian" and not (math.isfinite(float(sigma)) and float(sigma) > 0):
            raise ValueError(f"gaussian encoding needs sigma > 0, got {sigma}")
        self.encoding, self.L, self.in_dim = encoding, int(L), int(in_dim)
        self.time_L = None if time_L is None else int(time_L)
        self.out_dim = encoded_dim(encoding, self.L, self.in_dim)
        if encoding == "gaussian":
            self.register_buffer("B", gaussian_matrix(self.L, sigma, self.in_dim, seed))
        else:
            self.B = None

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return fourier_features(v, self.encoding, self.L, self.B, self.time_L)
