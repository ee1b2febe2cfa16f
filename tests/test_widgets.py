"""Every widget offers only values its node accepts, the same way on every node (issue 13 item 6).

ComfyUI's front end 1.27.10 rounds what a user types or drags: an INT to min + k·step, a FLOAT to
10^-p with p = max(0, -floor(log10(step))) decimals (step 0.5 when not given), and shows it with
p decimals. So a FLOAT default, min or max finer than its step is shown wrongly and lost on the
first edit (an lr of 3.6e-5 with step 0.1 becomes 0), and an INT widget with a step offers every
min + k·step.
"""
import math

import pytest

from frameweave.nodes import NODE_CLASS_MAPPINGS
from frameweave.nodes._headless import _widget_inputs
from frameweave.nodes._widgets import MULTIPLIER_MAX

AUDITED = sorted(NODE_CLASS_MAPPINGS)
# same-named widgets whose minimum differs on purpose
MIN_EXCEPTIONS = {("FrameWeaveRenderFrames", "multiplier"): 1}   # 1 = re-render the training frames
STRIDE_LIKE = {"multiplier", "k", "stride", "skip_stride"}       # frames per input interval
# Load Frames lists the clips in ComfyUI's input folder; Load INR takes the path Save INR reported
DIFFERENT_ON_PURPOSE = {"path", "weights"}   # a typed path; each loader lists the weights of its own method


def decimals(step: float) -> int:
    return max(0, -math.floor(math.log10(step)))


def widgets(node_id):
    return [(name, type_spec, extra) for name, type_spec, extra in _widget_inputs(NODE_CLASS_MAPPINGS[node_id])]


@pytest.mark.parametrize("node_id", AUDITED)
def test_numbers_are_reachable_and_shown_exactly(node_id):
    for name, type_spec, extra in widgets(node_id):
        where = f"{node_id}.{name}"
        if isinstance(type_spec, (list, tuple)):
            assert extra.get("default", type_spec[0]) in type_spec, where
            continue
        if type_spec not in ("INT", "FLOAT"):
            continue
        lo, hi, default = extra.get("min"), extra.get("max"), extra.get("default")
        assert None not in (lo, hi, default), f"{where}: min, max and default must be given"
        assert lo <= default <= hi, where
        if type_spec == "INT":
            step = extra.get("step", 1)
            assert isinstance(step, int) and step >= 1, where
            assert (default - lo) % step == 0 and (hi - lo) % step == 0, f"{where}: not on the min + k*step grid"
        else:
            assert "step" in extra, f"{where}: without a step the front end rounds to 0.1"
            p = decimals(extra["step"])
            for value in (lo, hi, default):
                assert round(value, p) == pytest.approx(value, rel=1e-12, abs=1e-15), \
                    f"{where}: {value} is finer than the {p} decimals the front end keeps"


def test_same_widget_name_same_type_and_range():
    seen = {}
    for node_id in AUDITED:
        for name, type_spec, extra in widgets(node_id):
            kind = "COMBO" if isinstance(type_spec, (list, tuple)) else type_spec
            step = extra.get("step", 1 if kind == "INT" else None)
            spec = (kind, tuple(type_spec) if kind == "COMBO" else None, extra.get("max"), step)
            seen.setdefault(name, []).append((node_id, spec, extra.get("min")))
    for name, uses in seen.items():
        if name in DIFFERENT_ON_PURPOSE:
            continue
        specs = {spec for _, spec, _ in uses}
        assert len(specs) == 1, f"widget {name!r} differs between nodes: {uses}"
        mins = {lo for node_id, _, lo in uses if (node_id, name) not in MIN_EXCEPTIONS}
        assert len(mins) <= 1, f"widget {name!r} has different minimums: {uses}"
    presets = {tuple(t) for node_id in AUDITED for name, t, _ in widgets(node_id) if name in ("preset", "flow_preset")}
    assert len(presets) == 1
    for node_id in AUDITED:
        for name, _, extra in widgets(node_id):
            if name in STRIDE_LIKE:
                assert extra["max"] == MULTIPLIER_MAX, f"{node_id}.{name}"


def test_stride_one_scores_every_frame(clip):
    from frameweave.nodes.metrics_nodes import FrameWeavePSNRSSIM

    one = FrameWeavePSNRSSIM().score(clip, clip.flip(0), skip_stride=1)["result"]
    zero = FrameWeavePSNRSSIM().score(clip, clip.flip(0), skip_stride=0)["result"]
    assert one[:3] == zero[:3]


@pytest.mark.parametrize("time_scale", [0.0, -0.5, -1.0])
def test_siren_time_scale_zero_or_less_is_auto(make_clip, time_scale):
    from frameweave.nodes.siren_nodes import FrameWeaveFitSIRENOF
    from frameweave.vfi_core.flow import FlowField

    clip = make_clip(3, size=(8, 8))
    flow = FlowField(clip.new_zeros(2, 8, 8, 2))
    model, _ = FrameWeaveFitSIRENOF().fit(clip, width=4, depth=2, steps=1, time_budget_s=0.0, batch_size=16,
                                          flow=flow, time_scale=time_scale, holdout=0)["result"]
    assert 0 < model.config["time_scale"] <= 1.0                     # resolved by the auto rule
