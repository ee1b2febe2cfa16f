"""SepConv inference: recursive bisection, other times, self-ensemble, tiling and its memory plan,
progress, the nodes, the methods entries."""
import pytest
import torch

from frameweave.vfi_core import sepconv_infer as I
from frameweave.vfi_core import sepconv_tiling as tiling
from frameweave.vfi_core.sepconv import SepConvNet
from frameweave.vfi_core.timing import FrameTiming, multiplier_fractions
from frameweave.vfi_core.weights import save_weights


def tiny(k=5, seed=0):
    torch.manual_seed(seed)
    return SepConvNet(kernel_size=k, width=0.125).eval()


@pytest.mark.parametrize("m", [2, 4, 8])
def test_clip_cardinality(m, make_clip):
    clip = make_clip(3, size=(21, 27))
    out = I.sepconv_interpolate_clip(clip, multiplier_fractions(m), model=tiny())
    assert out.shape == ((3 - 1) * m + 1, 21, 27, 3)
    torch.testing.assert_close(out[::m], clip)                       # inputs kept in place
    assert out.min() >= 0 and out.max() <= 1


def test_recursion_4x_is_bisection_of_2x(make_clip):
    """4x = midpoints, then midpoints of each half: frame 2 of 4x == frame 1 of 2x, and frame 1 of
    4x == midpoint(input 0, 2x midpoint)."""
    net, clip = tiny(), make_clip(2, size=(24, 32))
    x2 = I.sepconv_interpolate_clip(clip, [0.5], model=net, ensemble=1)
    x4 = I.sepconv_interpolate_clip(clip, [0.25, 0.5, 0.75], model=net, ensemble=1)
    torch.testing.assert_close(x4[2], x2[1])
    quarter = I.interpolate_midpoint(net, clip[:1], x2[1:2])
    torch.testing.assert_close(x4[1], quarter[0], atol=1e-4, rtol=1e-4)    # batched 2 vs 1: float noise


def test_progress_and_chunks(make_clip):
    calls = []
    clip = make_clip(4, size=(16, 16))
    a = I.sepconv_interpolate_clip(clip, [0.25, 0.5, 0.75], model=tiny(), chunk=2, ensemble=1,
                                   progress=lambda d, t: calls.append((d, t)))
    b = I.sepconv_interpolate_clip(clip, [0.25, 0.5, 0.75], model=tiny(), chunk=1, ensemble=1)
    torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    assert calls[-1] == (3 + 6, 9) and all(d <= t for d, t in calls)


class _LocalKernelNet(SepConvNet):
    """SepConvNet whose kernels come from 1x1 convolutions (no spatial context): tiling must be exact."""

    def __init__(self, k):
        super().__init__(kernel_size=k, width=0.125)
        torch.manual_seed(1)
        self.proj = torch.nn.Conv2d(6, 4 * k, 1)

    def estimate_kernels(self, a, b):
        logits = self.proj(torch.cat([a, b], 1)).unflatten(1, (4, -1))        # [B,4,K,H,W]
        return (0.5 * torch.softmax(3 * logits, dim=2)).unbind(1)


def test_tiling_exact_for_context_free_kernels(make_clip):
    """The window/blend bookkeeping is exact: with kernels that depend only on the pixel itself,
    tiled == untiled (edges within reach of a window border get zero blend weight)."""
    net = _LocalKernelNet(7).eval()
    clip = make_clip(2, size=(70, 90), step=(2.0, 3.0))
    whole = I.interpolate_midpoint(net, clip[:1], clip[1:])
    tiled = I.interpolate_midpoint(net, clip[:1], clip[1:], tile_size=64)
    torch.testing.assert_close(tiled, whole, atol=1e-5, rtol=1e-5)


def test_tiling_close_to_untiled(make_clip):
    """With the real network the tiles see less context; with a margin >= K the result stays close.
    A tile below the network's minimum is raised to it (the widget offers no failing value)."""
    net = tiny(k=5, seed=2).init_as_blend(scale=1.0)
    clip = make_clip(2, size=(96, 128), step=(1.0, 2.0))
    whole = I.interpolate_midpoint(net, clip[:1], clip[1:])
    tiled = I.interpolate_midpoint(net, clip[:1], clip[1:], tile_size=64)
    assert (tiled - whole).abs().mean() < 0.01
    assert tiling.min_tile(net) == 40 and tiling.min_tile(SepConvNet(51, width=0.125)) == 132
    small = I.interpolate_midpoint(net, clip[:1], clip[1:], tile_size=32)
    torch.testing.assert_close(small, I.interpolate_midpoint(net, clip[:1], clip[1:], tile_size=40))


def test_exceptions(make_clip):
    clip = make_clip(3, size=(16, 16))
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        I.sepconv_interpolate_clip(clip, [0.5, 1.0], model=tiny())
    with pytest.raises(ValueError, match="no in-between times"):
        I.sepconv_interpolate_clip(clip, [], model=tiny())
    with pytest.raises(ValueError, match="at least 2"):
        I.sepconv_interpolate_clip(clip[:1], [0.5], model=tiny())
    with pytest.raises(ValueError, match="ensemble must be one of 1, 2, 4, 8"):
        I.sepconv_interpolate_clip(clip, [0.5], model=tiny(), ensemble=3)
    with pytest.raises(ValueError, match="3 colour channels"):
        I.sepconv_interpolate_clip(torch.rand(2, 8, 8, 4), [0.5], model=tiny())
    with pytest.raises(ValueError, match="differ in shape"):
        I.interpolate_midpoint(tiny(), clip[:1], clip[:1, :8])
    with pytest.raises(ValueError, match="tile_size must be 0"):
        I.interpolate_midpoint(tiny(), clip[:1], clip[1:2], tile_size=-1)


# --- times other than j/2^L ---------------------------------------------------------------------
def test_time_plan():
    exact = I.time_plan([0.25, 0.5, 0.75])
    assert exact.level == 2 and exact.order == (2, 1, 3) and exact.targets == ((1, 1, 0.0), (2, 2, 0.0), (3, 3, 0.0))
    thirds = I.time_plan([1 / 3, 2 / 3])                     # level ceil(log2 3) + 1 = 3: eighths
    assert thirds.level == 3 and set(thirds.order) == {4, 2, 6, 3, 5} and thirds.order[0] == 4
    (lo, hi, w), _ = thirds.targets
    assert (lo, hi) == (2, 3) and w == pytest.approx(8 / 3 - 2)
    assert I.time_plan([1 / 16]).level == 4 and I.time_plan(multiplier_fractions(16)).order[0] == 8
    assert I.time_plan([0.3]).level == 2                     # one time: [0, 1] cut in 2 -> L = 2


@pytest.mark.parametrize("m", [3, 5, 6, 16])
def test_every_multiplier_of_a_blend_network_is_the_linear_blend(m, make_clip):
    """An exact-blend network makes the frame (1-a)I0 + aI1 at dyadic a, so the blend between
    the two bracketing dyadic frames is (1-t)I0 + tI1 at every t: the bookkeeping is exact."""
    net = tiny().init_as_blend()
    clip = make_clip(3, size=(20, 24), step=(2.0, 3.0))
    out = I.sepconv_interpolate_clip(clip, multiplier_fractions(m), model=net, chunk=2)
    assert out.shape == (2 * m + 1, 20, 24, 3)
    for i, t in enumerate(multiplier_fractions(m), 1):
        torch.testing.assert_close(out[i], (1 - t) * clip[0] + t * clip[1], atol=2e-6, rtol=1e-5)
        torch.testing.assert_close(out[m + i], (1 - t) * clip[1] + t * clip[2], atol=2e-6, rtol=1e-5)


def test_thirds_cost_five_midpoints_per_pair(make_clip):
    calls = []
    I.sepconv_interpolate_clip(make_clip(3, size=(16, 16)), multiplier_fractions(3), model=tiny(), chunk=1,
                               ensemble=1, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (2 * 5, 2 * 5)


# --- self-ensemble ----------------------------------------------------------------------------------
class _FirstFrameNet(SepConvNet):
    """Returns its first input: under the swap variant it returns I1, and flips must be undone."""

    def __init__(self):
        super().__init__(kernel_size=5, width=0.125)

    def forward(self, first, second):
        return first.clone()


def test_ensemble_variants_are_mapped_back(make_clip):
    """x1 = I0; x2 = {identity, swap+flips}: (I0 + I1)/2 only if both flips were undone; x4 and x8
    contain the swap in half their variants: the blend again."""
    net, clip = _FirstFrameNet().eval(), make_clip(2, size=(18, 22), step=(2.0, 3.0))
    blend = (clip[:1] + clip[1:]) / 2
    torch.testing.assert_close(I.interpolate_midpoint(net, clip[:1], clip[1:], ensemble=1), clip[:1])
    for n in (2, 4, 8):
        torch.testing.assert_close(I.interpolate_midpoint(net, clip[:1], clip[1:], ensemble=n), blend)
    assert len(set(I.ENSEMBLE_VARIANTS)) == 8
    for n in (2, 4):                                          # balanced: each transform in n/2 variants
        assert [sum(v[i] for v in I.ENSEMBLE_VARIANTS[:n]) for i in range(3)] == [n // 2] * 3


def test_ensemble_of_a_blend_network_is_the_blend(make_clip):
    net, clip = tiny().init_as_blend(), make_clip(2, size=(20, 28))
    out = I.interpolate_midpoint(net, clip[:1], clip[1:], ensemble=8)
    torch.testing.assert_close(out, (clip[:1] + clip[1:]) / 2, atol=1e-6, rtol=1e-5)


def test_full_ensemble_is_symmetric(make_clip):
    """x8 averages over the whole group of flips and swaps, so its output is equivariant:
    E(flip I0, flip I1) = flip E(I0, I1) and E(I1, I0) = E(I0, I1) — a symmetric input gives a
    symmetric output — which a single pass of a network is not."""
    net, clip = tiny(seed=3).init_as_blend(scale=1.0), make_clip(2, size=(20, 28), step=(2.0, 3.0))
    a, b = clip[:1], clip[1:]

    def ens(x, y, n=8):
        return I.interpolate_midpoint(net, x, y, ensemble=n)

    for dims in ([2], [1], [1, 2]):                                     # hflip, vflip, both (IMAGE layout)
        torch.testing.assert_close(ens(a.flip(dims), b.flip(dims)), ens(a, b).flip(dims), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(ens(b, a), ens(a, b), atol=1e-5, rtol=1e-4)
    assert (ens(b, a, 1) - ens(a, b, 1)).abs().max() > 1e-3                       # one pass is not
    assert (ens(a.flip([2]), b.flip([2]), 1) - ens(a, b, 1).flip([2])).abs().max() > 1e-3


def test_ensemble_progress_counts_variants(make_clip):
    calls = []
    I.sepconv_interpolate_clip(make_clip(3, size=(16, 16)), [0.5], model=tiny(), ensemble=4, chunk=2,
                               progress=lambda d, t: calls.append((d, t)))
    assert calls == [(2 * k, 8) for k in range(1, 5)]                # 4 variants x 2 pairs, per call


# --- memory plan and tiles -----------------------------------------------------------------------------
class _Counting(SepConvNet):
    """Tiny network that records the size of every forward call."""

    def __init__(self, k=5):
        super().__init__(kernel_size=k, width=0.125)
        self.init_as_blend()
        self.calls = []

    def forward(self, first, second):
        self.calls.append(tuple(first.shape))
        return super().forward(first, second)


def test_auto_tiling_from_the_memory_estimate(make_clip, monkeypatch):
    """tile_size 0: whole frames when they fit the budget, one pair at a time when only one fits,
    else the largest tile that fits; progress counts windows."""
    net, clip = _Counting(), make_clip(3, size=(100, 140))
    whole = tiling.forward_bytes(net, 1, 100, 140)
    monkeypatch.setattr(tiling, "available_memory", lambda device: int(10 * whole / tiling.MEMORY_FRACTION))
    I.sepconv_interpolate_clip(clip, [0.5], model=net, chunk=2, ensemble=1)
    assert net.calls == [(2, 3, 100, 140)]                            # both pairs in one call
    net.calls.clear()
    monkeypatch.setattr(tiling, "available_memory", lambda device: int(1.5 * whole / tiling.MEMORY_FRACTION))
    I.sepconv_interpolate_clip(clip, [0.5], model=net, chunk=2, ensemble=1)
    assert net.calls == [(1, 3, 100, 140)] * 2                        # one pair at a time
    net.calls.clear()
    budget = tiling.forward_bytes(net, 1, 64, 64) + tiling.frame_bytes(1, 100, 140)
    monkeypatch.setattr(tiling, "available_memory", lambda device: int(budget / tiling.MEMORY_FRACTION) + 1)
    plan = tiling.tile_plan(net, 2, 100, 140, budget=tiling.memory_budget("cpu"))
    assert (plan.batch, plan.tile) == (1, 64) and plan.bytes <= budget
    calls = []
    out = I.sepconv_interpolate_clip(clip, [0.5], model=net, chunk=2, ensemble=1, progress=lambda d, t: calls.append((d, t)))
    assert {c[1:] for c in net.calls} == {(3, 64, 64)} and len(net.calls) == 2 * plan.windows
    assert calls[-1] == (2 * plan.windows, 2 * plan.windows) and len(calls) == 2 * plan.windows
    torch.testing.assert_close(out[1], (clip[0] + clip[1]) / 2, atol=1e-5, rtol=1e-4)   # blend net: exact


def test_memory_plan_fails_fast_with_the_numbers(monkeypatch):
    """Issue 16: a 4000x4000 pair that cannot fit even in tiles fails before any work, with the
    memory it needs and what to change."""
    net = _Counting(k=51)
    monkeypatch.setattr(tiling, "available_memory", lambda device: 10 * 2 ** 20)      # 10 MiB free
    budget = tiling.memory_budget("cpu")
    with pytest.raises(ValueError, match=r"GiB for one 4000x4000 pair .* even in the smallest tiles \(132 px\)"):
        tiling.tile_plan(net, 1, 4000, 4000, budget=budget)
    with pytest.raises(ValueError, match="tile_size 1024 needs about .* use tile_size 0"):
        tiling.tile_plan(net, 1, 4000, 4000, tile_size=1024, budget=budget)
    with pytest.raises(ValueError, match="even in the smallest tiles"):
        I.sepconv_interpolate_clip(torch.zeros(2, 300, 400, 3), [0.5], model=net)
    assert net.calls == []                                             # nothing ran
    assert tiling.tile_plan(net, 1, 4000, 4000, budget=None).tile == 0  # memory unknown: whole frames
    big = 2 ** 40                                                       # plenty: 4000x4000 in one piece
    assert tiling.tile_plan(net, 1, 4000, 4000, budget=big) == tiling.TilePlan(1, 0, 1, tiling.forward_bytes(net, 1, 4000, 4000))
    mid = tiling.tile_plan(net, 1, 4000, 4000, budget=4 * 2 ** 30)      # 4 GiB: tiles
    assert 132 <= mid.tile < 4000 and mid.bytes <= 4 * 2 ** 30 and mid.windows > 1


def test_memory_estimate_scales_with_pixels_kernel_and_width():
    small, wide = SepConvNet(51, width=0.25), SepConvNet(51, width=1.0)
    assert tiling.forward_bytes(small, 2, 64, 64) == 2 * tiling.forward_bytes(small, 1, 64, 64)
    assert tiling.forward_bytes(small, 1, 50, 60) == tiling.forward_bytes(small, 1, 64, 64)    # padded to 32
    assert tiling.forward_bytes(wide, 1, 64, 64) > tiling.forward_bytes(small, 1, 64, 64)
    assert tiling.forward_bytes(SepConvNet(25, width=0.25), 1, 64, 64) < tiling.forward_bytes(small, 1, 64, 64)


def test_gan_without_weights_is_a_clear_error(make_clip, monkeypatch, tmp_path):
    from frameweave.vfi_core import weights as W
    monkeypatch.setattr(W, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(I.MissingWeightsError, match="no SepConv-GAN weights installed"):
        I.sepconv_gan_interpolate_clip(make_clip(2, size=(16, 16)), [0.5])
    with pytest.raises(I.MissingWeightsError, match="no SepConv weights installed"):
        I.sepconv_interpolate_clip(make_clip(2, size=(16, 16)), [0.5])


def test_methods_entries_resolve():
    from frameweave.vfi_core.methods import get_method, method_options
    assert get_method("sepconv") is I.sepconv_interpolate_clip
    assert get_method("sepconv-gan") is I.sepconv_gan_interpolate_clip
    assert "ensemble" in method_options(I.sepconv_interpolate_clip)          # --option ensemble=N on the CLI
    assert "ensemble" in method_options(I.sepconv_gan_interpolate_clip)


def test_default_ensembles(make_clip):
    """SepConv averages DEFAULT_ENSEMBLE variants unless told otherwise, SepConv-GAN one pass."""
    calls = []
    I.sepconv_interpolate_clip(make_clip(2, size=(16, 16)), [0.5], model=tiny(), progress=lambda d, t: calls.append(t))
    assert I.DEFAULT_ENSEMBLE == 8 and calls[-1] == 8
    calls.clear()
    I.sepconv_gan_interpolate_clip(make_clip(2, size=(16, 16)), [0.5], model=tiny(),
                                   progress=lambda d, t: calls.append(t))
    assert calls[-1] == I.GAN_DEFAULT_ENSEMBLE == 1


def test_nodes_under_inference_mode(make_clip, monkeypatch, tmp_path):
    from frameweave.nodes import _comfy
    from frameweave.nodes.sepconv_nodes import FrameWeaveLoadSepConv, FrameWeaveSepConvInterpolate

    save_weights(tiny(), tmp_path / "tiny_test.safetensors")
    monkeypatch.setattr(_comfy, "model_directories", lambda: [tmp_path])
    assert "tiny_test" in FrameWeaveLoadSepConv.INPUT_TYPES()["required"]["weights"][0]
    clip = make_clip(3, size=(20, 28))
    timing = FrameTiming.from_fps(3, 10.0)
    with torch.inference_mode():
        (model,) = FrameWeaveLoadSepConv().load("tiny_test", fp16=False, device="cpu")
        frames, out_timing = FrameWeaveSepConvInterpolate().interpolate(clip, model, multiplier="4", tile_size=0,
                                                                        fp16=False, chunk=2, timing=timing)
    assert frames.shape == (9, 20, 28, 3) and len(out_timing) == 9
    assert out_timing.timestamps[1] == pytest.approx(0.025)
    with pytest.raises(ValueError, match="timing has 2 timestamps"):
        FrameWeaveSepConvInterpolate().interpolate(clip, model, timing=FrameTiming.from_fps(2, 10.0))
    with pytest.raises(ValueError, match="unknown SepConv weights"):
        FrameWeaveLoadSepConv().load("missing", device="cpu")
    with pytest.raises(ValueError, match="ensemble must be one of"):
        FrameWeaveSepConvInterpolate().interpolate(clip, model, ensemble="3")


def test_node_widgets_offer_only_working_values(make_clip):
    """Issue 13: multiplier is an INT 2..16 like the other interpolate nodes and every value works
    (saved API workflows' strings too); tile_size offers 0 (auto) and sides that work; ensemble
    is optional (SepConv: the measured best, 8; GAN: one pass, as before)."""
    from frameweave.nodes.gan_nodes import FrameWeaveGANInterpolate
    from frameweave.nodes.sepconv_nodes import FrameWeaveSepConvInterpolate

    for node, default in ((FrameWeaveSepConvInterpolate, I.DEFAULT_ENSEMBLE), (FrameWeaveGANInterpolate, 1)):
        spec = node.INPUT_TYPES()
        kind, extra = spec["required"]["multiplier"]
        assert kind == "INT" and (extra["min"], extra["max"], extra["default"]) == (2, 16, 2)
        kind, extra = spec["required"]["tile_size"]
        assert kind == "INT" and extra["min"] == 0 and extra["default"] == 0
        assert {"timing", "times", "ensemble"} <= set(spec["optional"])
        assert spec["optional"]["ensemble"][1]["default"] == str(default)
    net, clip = tiny(), make_clip(2, size=(24, 20))
    for m in range(2, 17):
        out, timing = FrameWeaveSepConvInterpolate().interpolate(clip, net, multiplier=m, ensemble=1)
        assert out.shape[0] == m + 1 and len(timing) == m + 1
    out, _ = FrameWeaveSepConvInterpolate().interpolate(clip, net, multiplier="4", ensemble="2")
    assert out.shape[0] == 5
    out, _ = FrameWeaveSepConvInterpolate().interpolate(clip, net, times="0.3, 0.5")
    assert out.shape[0] == 4
    for tile in range(0, 257, 32):                            # the widget's first values, all valid
        FrameWeaveSepConvInterpolate().interpolate(clip, net, tile_size=tile)
