"""The headless workflow runner (nodes/_headless.py): ComfyUI's execution and validation rules,
checked with small node classes defined here, and the shipped example workflows."""
import json

import pytest
import torch

from frameweave.nodes._headless import (NodeExecutionError, WorkflowValidationError, check_literal,
                                        load_workflow, run_workflow, types_compatible, ui_to_api,
                                        validate_workflow)

CALLS = []   # (class name, node id or None) in call order


class Number:
    """A widget value -> NUMBER."""
    RETURN_TYPES = ("NUMBER",)
    FUNCTION = "make"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 1, "min": 0, "max": 100})},
                "hidden": {"uid": "UNIQUE_ID"}}

    def make(self, value, uid):
        CALLS.append(("Number", uid))
        return (value,)


class Add:
    RETURN_TYPES = ("NUMBER",)
    RETURN_NAMES = ("sum",)
    FUNCTION = "add"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"a": ("NUMBER",), "b": ("NUMBER",)},
                "optional": {"scale": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 10.0})},
                "hidden": {"uid": "UNIQUE_ID"}}

    def add(self, a, b, uid, scale=1.0):
        CALLS.append(("Add", uid))
        return ((a + b) * scale,)


class Report:
    """Output node with every widget kind; returns a ComfyUI dict with ui and result."""
    RETURN_TYPES = ("STRING",)
    FUNCTION = "report"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": ("NUMBER",), "mode": (["plain", "loud"],),
                             "label": ("STRING", {"default": "x"}), "flag": ("BOOLEAN", {"default": False})},
                "optional": {"anything": ("*",)},
                "hidden": {"uid": "UNIQUE_ID", "prompt": "PROMPT"}}

    def report(self, x, mode, label, flag, uid, prompt, anything=None):
        CALLS.append(("Report", uid))
        assert isinstance(prompt, dict) and uid in prompt
        text = f"{label}={x}" + ("!" if mode == "loud" else "") + ("*" if flag else "")
        return {"ui": {"text": [text]}, "result": (text,)}


class Probe:
    """Output node recording grad/inference mode inside the node."""
    RETURN_TYPES = ()
    FUNCTION = "probe"
    OUTPUT_NODE = True
    seen = {}

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": ("NUMBER",)}}

    def probe(self, x):
        Probe.seen = {"inference": torch.is_inference_mode_enabled(), "grad": torch.is_grad_enabled(),
                      "tensor_is_inference": torch.zeros(1).is_inference()}
        return {"ui": {"seen": [True]}}


class Fail:
    RETURN_TYPES = ("NUMBER",)
    FUNCTION = "go"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": ("NUMBER",)}}

    def go(self, x):
        raise ValueError("boom: frames of different sizes")


class WrongArity:
    RETURN_TYPES = ("NUMBER", "NUMBER")
    FUNCTION = "go"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": ("NUMBER",)}}

    def go(self, x):
        return (x,)


class Checked:
    """VALIDATE_INPUTS takes over the check of `path` (ComfyUI skips built-in checks for it)."""
    RETURN_TYPES = ("NUMBER",)
    FUNCTION = "go"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"path": ("STRING",), "x": ("NUMBER",)}}

    @classmethod
    def VALIDATE_INPUTS(cls, path, input_types):
        if not path.endswith(".gif"):
            return f"path must end in .gif, got {path!r}"
        if input_types.get("x") != "NUMBER":
            return "x must be a NUMBER link"
        return True

    def go(self, path, x):
        CALLS.append(("Checked", None))
        return (x,)


class Split:
    """OUTPUT_IS_LIST: one NUMBER per item; the consumer runs once per item (ComfyUI's map)."""
    RETURN_TYPES = ("NUMBER",)
    OUTPUT_IS_LIST = (True,)
    FUNCTION = "go"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"n": ("INT", {"min": 1, "max": 5})}}

    def go(self, n):
        return (list(range(n)),)


class Gather:
    RETURN_TYPES = ("NUMBER",)
    INPUT_IS_LIST = True
    FUNCTION = "go"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"xs": ("NUMBER",)}}

    def go(self, xs):
        return (sum(xs),)


CLASSES = {c.__name__: c for c in (Number, Add, Report, Probe, Fail, WrongArity, Checked, Split, Gather)}


@pytest.fixture(autouse=True)
def _clear_calls():
    CALLS.clear()
    yield
    CALLS.clear()


def node(class_type, **inputs):
    return {"class_type": class_type, "inputs": inputs, "_meta": {"title": class_type}}


def diamond():
    """Number 1 feeds two Adds (3, 4) that feed Add 5 -> Report 2 (listed out of order)."""
    return {
        "2": node("Report", x=["5", 0], mode="plain", label="total", flag=False),
        "5": node("Add", a=["3", 0], b=["4", 0]),
        "4": node("Add", a=["1", 0], b=["1", 0], scale=2),
        "3": node("Add", a=["1", 0], b=["1", 0]),
        "1": node("Number", value=3),
        "9": node("Number", value=7),          # not needed by any output node
    }


def issues_of(workflow):
    with pytest.raises(WorkflowValidationError) as info:
        run_workflow(workflow, CLASSES)
    assert CALLS == [], "nothing may run when validation fails"
    return [str(i) for i in info.value.issues], str(info.value)


# --- execution ------------------------------------------------------------------------------
def test_dependency_order_each_node_once_only_needed():
    results = run_workflow(diamond(), CLASSES)
    names = [c for c in CALLS]
    assert names[0] == ("Number", "1") and names[-1] == ("Report", "2")
    assert names.index(("Add", "5")) > max(names.index(("Add", "3")), names.index(("Add", "4")))
    assert [c for c in names if c[0] == "Number"] == [("Number", "1")], "once, and node 9 not at all"
    assert set(results) == {"1", "2", "3", "4", "5"}
    # (3+3) + (3+3)*2 = 18; FLOAT widget 2 arrives as 2.0
    assert results["5"].outputs == (18.0,) and isinstance(results["5"].outputs[0], float)
    assert results["2"].outputs == ("total=18.0",)
    assert results["2"].ui == {"text": ["total=18.0"]}


def test_without_output_nodes_everything_runs():
    wf = {"1": node("Number", value=3), "2": node("Add", a=["1", 0], b=["1", 0]), "3": node("Number", value=5)}
    results = run_workflow(wf, CLASSES)
    assert set(results) == {"1", "2", "3"}
    assert results["2"].outputs == (6,)


def test_nodes_run_under_inference_mode():
    assert not torch.is_inference_mode_enabled()
    run_workflow({"1": node("Number", value=1), "2": node("Probe", x=["1", 0])}, CLASSES)
    assert Probe.seen == {"inference": True, "grad": False, "tensor_is_inference": True}
    assert not torch.is_inference_mode_enabled() and torch.is_grad_enabled()


def test_progress_callback_brackets_every_node():
    events = []
    run_workflow(diamond(), CLASSES, progress=lambda d, t, i, c: events.append((d, t, i, c)))
    assert len(events) == 10 and all(t == 5 for _, t, _, _ in events)
    assert [d for d, *_ in events] == [0, 1, 1, 2, 2, 3, 3, 4, 4, 5]
    assert events[-1][2:] == ("2", "Report")


def test_list_outputs_map_over_consumer():
    wf = {"1": node("Split", n=3), "2": node("Add", a=["1", 0], b=["1", 0]),
          "3": node("Gather", xs=["1", 0]), "4": node("Report", x=["3", 0], mode="loud", label="s", flag=True),
          "5": node("Probe", x=["2", 0])}
    res = run_workflow(wf, CLASSES)
    assert res["1"].outputs == ([0, 1, 2],)
    assert res["2"].runs == 3 and res["2"].outputs == ([0.0, 2.0, 4.0],)
    assert res["3"].outputs == (3,)
    assert res["4"].outputs == ("s=3!*",)


def test_runtime_error_names_node_and_keeps_message():
    wf = {"1": node("Number", value=1), "7": node("Fail", x=["1", 0]), "8": node("Probe", x=["7", 0])}
    with pytest.raises(NodeExecutionError) as info:
        run_workflow(wf, CLASSES)
    err = info.value
    assert err.node_id == "7" and err.class_type == "Fail"
    assert isinstance(err.__cause__, ValueError) and err.original is err.__cause__
    assert "node 7 (Fail)" in str(err) and "boom: frames of different sizes" in str(err)


def test_wrong_return_arity_is_an_error():
    wf = {"1": node("Number", value=1), "2": node("WrongArity", x=["1", 0])}
    with pytest.raises(NodeExecutionError, match=r"node 2 \(WrongArity\).*returned 1 value\(s\) but RETURN_TYPES declares 2"):
        run_workflow(wf, CLASSES)


def test_validate_inputs_hook():
    ok = {"1": node("Number", value=1), "2": node("Checked", path="a.gif", x=["1", 0])}
    assert run_workflow(ok, CLASSES)["2"].outputs == (1,)
    CALLS.clear()
    bad = {"1": node("Number", value=1), "2": node("Checked", path="a.mp4", x=["1", 0])}
    issues, _ = issues_of(bad)
    assert issues == ["node 2 (Checked): VALIDATE_INPUTS rejected the inputs: path must end in .gif, got 'a.mp4'"]


# --- validation -----------------------------------------------------------------------------
def test_unknown_class_lists_known_nodes():
    issues, _ = issues_of({"1": node("KSampler", seed=1), "2": node("Number", value=1)})
    assert len(issues) == 1
    assert issues[0].startswith("node 1 (KSampler): unknown node type 'KSampler'")
    assert "other packs cannot run headless" in issues[0] and "Number" in issues[0]


@pytest.mark.parametrize("inputs, expected", [
    ({"x": ["42", 0]}, "node 2 (Probe), input 'x': is linked to node 42, which is not in the workflow"),
    ({"x": ["1", 1]}, "node 2 (Probe), input 'x': is linked to output 1 of node 1 (Number), which has 1 output(s) (0..0)"),
    ({"x": ["1", 0, 3]}, "node 2 (Probe), input 'x': bad link ['1', 0, 3]: a link is [node_id, output_index]"),
    ({"x": ["1", "0"]}, "node 2 (Probe), input 'x': bad link ['1', '0']: a link is [node_id, output_index]"),
    ({}, "node 2 (Probe), input 'x': required input is missing"),
    ({"x": ["1", 0], "y": 3}, "node 2 (Probe), input 'y': unknown input (this node takes: x)"),
    ({"x": 5}, "node 2 (Probe), input 'x': a NUMBER input must be linked to another node's output"),
])
def test_link_and_input_errors(inputs, expected):
    issues, _ = issues_of({"1": node("Number", value=1), "2": node("Probe", **inputs)})
    assert len(issues) == 1 and issues[0].startswith(expected), issues


def test_type_mismatch_names_both_ends():
    wf = {"1": node("Number", value=1), "2": node("Report", x=["1", 0], mode="plain", label="a", flag=True),
          "3": node("Add", a=["2", 0], b=["1", 0]), "4": node("Probe", x=["3", 0])}
    issues, _ = issues_of(wf)
    assert issues == ["node 3 (Add), input 'a': type mismatch: output 0 'STRING' of node 2 (Report) is STRING, "
                      "but this input takes NUMBER"]


def test_star_input_accepts_any_link_and_literal():
    for anything in (["1", 0], 3.5, "text"):
        wf = {"1": node("Number", value=1),
              "2": node("Report", x=["1", 0], mode="plain", label="a", flag=True, anything=anything)}
        assert run_workflow(wf, CLASSES)["2"].outputs == ("a=1*",)


@pytest.mark.parametrize("widgets, expected", [
    ({"mode": "quiet"}, "input 'mode': value 'quiet' is not in the list of choices: 'plain', 'loud'"),
    ({"label": 5}, "input 'label': expected a string (STRING), got int 5"),
    ({"flag": "yes"}, "input 'flag': expected true or false (BOOLEAN), got str 'yes'"),
])
def test_widget_errors(widgets, expected):
    inputs = {"x": ["1", 0], "mode": "plain", "label": "a", "flag": False, **widgets}
    issues, _ = issues_of({"1": node("Number", value=1), "2": node("Report", **inputs)})
    assert issues == [f"node 2 (Report), {expected}"]


@pytest.mark.parametrize("value, expected", [
    (101, "value 101 is bigger than the maximum 100"),
    (-1, "value -1 is smaller than the minimum 0"),
    (2.5, "expected an integer (INT), got float 2.5"),
    ("3x", "expected an integer (INT), got str '3x'"),
    (True, "expected an integer (INT), got bool True"),
])
def test_int_range_and_type(value, expected):
    issues, _ = issues_of({"1": node("Number", value=value)})
    assert issues == [f"node 1 (Number), input 'value': {expected}"]


def test_float_range_and_literal_conversion():
    base = {"1": node("Number", value=1)}
    issues, _ = issues_of({**base, "2": node("Add", a=["1", 0], b=["1", 0], scale=10.5)})
    assert issues == ["node 2 (Add), input 'scale': value 10.5 is bigger than the maximum 10.0"]
    assert check_literal(4.0, "INT", {}) == 4 and isinstance(check_literal(4.0, "INT", {}), int)
    assert check_literal("4", "INT", {}) == 4 and isinstance(check_literal("4", "INT", {}), int)  # ComfyUI: int()
    assert check_literal(3, "FLOAT", {}) == 3.0 and isinstance(check_literal(3, "FLOAT", {}), float)
    with pytest.raises(ValueError, match="NaN"):
        check_literal(float("nan"), "FLOAT", {})


def test_cycle_is_reported():
    wf = {"1": node("Add", a=["2", 0], b=["3", 0]), "2": node("Add", a=["1", 0], b=["3", 0]),
          "3": node("Number", value=1), "4": node("Probe", x=["1", 0])}
    issues, _ = issues_of(wf)
    assert len(issues) == 1 and "cycle" in issues[0]
    assert "1 (Add) -> 2 (Add) -> 1 (Add)" in issues[0] or "2 (Add) -> 1 (Add) -> 2 (Add)" in issues[0]


def test_all_problems_reported_together():
    wf = {"1": node("Number", value=500), "2": node("Report", x=["1", 3], mode="loud", label="a", flag=1),
          "3": node("Nope")}
    issues, message = issues_of(wf)
    assert len(issues) == 4, issues
    assert message.startswith("workflow is not valid (4 problems):")
    assert any(i.startswith("node 3 (Nope): unknown node type") for i in issues)


def test_types_compatible_rules():
    assert types_compatible("IMAGE", "IMAGE") and types_compatible("*", "IMAGE") and types_compatible("IMAGE", "*")
    assert types_compatible("IMAGE,MASK", "MASK") and not types_compatible("IMAGE", "MASK")
    assert types_compatible("COMBO", ["a", "b"]) and not types_compatible("STRING", ["a", "b"])


def test_structure_errors_and_file_loading(tmp_path):
    with pytest.raises(WorkflowValidationError, match="node 1: is not a node"):
        validate_workflow({"1": {"inputs": {}}}, CLASSES)
    ui_format = tmp_path / "ui.json"
    ui_format.write_text(json.dumps({"nodes": [], "links": [], "version": 0.4}))
    with pytest.raises(ValueError, match="the UI workflow has no nodes to run"):
        load_workflow(ui_format)
    broken = tmp_path / "broken.json"
    broken.write_text("{\"1\": ")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_workflow(broken)
    with pytest.raises(FileNotFoundError, match="workflow file not found"):
        load_workflow(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="empty workflow"):
        validate_workflow({}, CLASSES)


# --- UI format (what ComfyUI's Save writes) -------------------------------------------------------
class Seeded:
    """A seed widget: the frontend stores a control_after_generate value right after it."""
    RETURN_TYPES = ("NUMBER",)
    FUNCTION = "go"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"seed": ("INT", {"default": 0, "min": 0, "max": 99}),
                             "offset": ("INT", {"default": 0, "min": 0, "max": 99}),
                             "extra": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0})}}

    def go(self, seed, offset, extra):
        return (seed + offset + extra,)


def ui_node(node_id, type_, widgets=None, inputs=(), outputs=(), mode=0, title=None):
    node = {"id": node_id, "type": type_, "pos": [0, 0], "size": [200, 100], "flags": {}, "order": 0,
            "mode": mode, "inputs": [{"name": n, "type": t, "link": link} for n, t, link in inputs],
            "outputs": [{"name": t.lower(), "type": t, "links": []} for t in outputs], "properties": {}}
    if widgets is not None:
        node["widgets_values"] = widgets
    if title:
        node["title"] = title
    return node


def ui_workflow():
    """Seeded 1 -> Reroute 7 -> Add 3 (b from a PrimitiveNode 8, a bypassed Add 9 in between on a)
    -> Report 2; a Note and a muted Number."""
    return {
        "last_node_id": 10, "last_link_id": 9, "version": 0.4, "groups": [], "config": {}, "extra": {},
        "nodes": [
            ui_node(1, "Seeded", [7, "randomize", 2, 0.25], outputs=["NUMBER"], title="My seed"),
            ui_node(7, "Reroute", inputs=[("", "*", 1)], outputs=["NUMBER"]),
            ui_node(9, "Add", [1.0], inputs=[("a", "NUMBER", 2), ("b", "NUMBER", None)], outputs=["NUMBER"], mode=4),
            ui_node(8, "PrimitiveNode", [5], outputs=["INT"]),
            ui_node(4, "Number", [5], outputs=["NUMBER"]),
            ui_node(3, "Add", [3.0], inputs=[("a", "NUMBER", 3), ("b", "NUMBER", 4), ("scale", "FLOAT", 8)],
                    outputs=["NUMBER"]),
            ui_node(2, "Report", ["loud", "sum", True], inputs=[("x", "NUMBER", 5)]),
            ui_node(5, "Note", ["remember to check the timing"]),
            ui_node(6, "Number", [1], outputs=["NUMBER"], mode=2),
        ],
        "links": [[1, 1, 0, 7, 0, "NUMBER"], [2, 7, 0, 9, 0, "*"], [3, 9, 0, 3, 0, "NUMBER"],
                  [4, 4, 0, 3, 1, "NUMBER"], [5, 3, 0, 2, 0, "NUMBER"],
                  {"id": 8, "origin_id": 8, "origin_slot": 0, "target_id": 3, "target_slot": 2, "type": "FLOAT"}],
    }


def test_ui_format_is_converted_like_the_frontend():
    classes = {**CLASSES, "Seeded": Seeded}
    api = ui_to_api(ui_workflow(), classes)
    assert set(api) == {"1", "2", "3", "4"}, "Reroute, PrimitiveNode, Note, muted and bypassed nodes are dropped"
    assert api["1"] == {"class_type": "Seeded", "inputs": {"seed": 7, "offset": 2, "extra": 0.25},
                        "_meta": {"title": "My seed"}}
    # through the Reroute and the bypassed Add; scale keeps its widget value (the primitive's twin)
    assert api["3"]["inputs"] == {"scale": 3.0, "a": ["1", 0], "b": ["4", 0]}
    assert api["2"]["inputs"] == {"mode": "loud", "label": "sum", "flag": True, "x": ["3", 0]}
    results = run_workflow(ui_workflow(), classes)
    assert results["2"].outputs == ("sum=42.75!*",)   # ((7 + 2 + 0.25) + 5) * 3


def test_ui_format_missing_widget_takes_default_and_subgraphs_refused(tmp_path):
    wf = ui_workflow()
    wf["nodes"][0]["widgets_values"] = [7, "fixed"]            # saved before offset/extra existed
    api = ui_to_api(wf, {**CLASSES, "Seeded": Seeded})
    assert api["1"]["inputs"] == {"seed": 7, "offset": 0, "extra": 0.5}
    wf["definitions"] = {"subgraphs": [{"id": "abc"}]}
    path = tmp_path / "ui.json"
    path.write_text(json.dumps(wf))
    with pytest.raises(ValueError, match="subgraphs"):
        load_workflow(path, {**CLASSES, "Seeded": Seeded})


# --- the shipped example workflows ----------------------------------------------------------------
def example_workflows():
    from pathlib import Path

    import frameweave
    folder = Path(frameweave.__file__).resolve().parent / "example_workflows"
    return sorted(folder.glob("*.json"))


def test_example_workflows_exist():
    names = {p.name for p in example_workflows()}
    assert {"quickstart.json", "evaluate_flow_vs_linear.json"} <= names


@pytest.mark.parametrize("path", example_workflows(), ids=lambda p: p.name)
def test_example_workflow_validates_against_registered_nodes(path):
    """Every JSON in example_workflows/ (also those added later for other methods) must be a valid
    API-format workflow for the nodes registered now: right node ids, input names, types, ranges."""
    from frameweave.nodes import NODE_CLASS_MAPPINGS
    from frameweave.nodes._headless import output_node_ids

    workflow = load_workflow(path)
    plan = validate_workflow(workflow)
    assert output_node_ids(workflow), f"{path.name} has no output node (ComfyUI would refuse to queue it)"
    assert set(plan.order) == set(workflow), f"{path.name} has nodes that no output node uses"
    for node_id, node in workflow.items():
        assert node["class_type"] in NODE_CLASS_MAPPINGS
        assert node.get("_meta", {}).get("title"), f"{path.name}: node {node_id} has no _meta.title"


def test_ui_format_quickstart_matches_the_api_export():
    """The quick start as ComfyUI's Save writes it (widgets_values in widget order, optional
    widgets included) converts to the shipped API workflow."""
    api = load_workflow(example_workflows()[[p.name for p in example_workflows()].index("quickstart.json")])
    ui = {"nodes": [
        ui_node(1, "FrameWeaveLoadFrames", ["examples/pan_zoom.gif", 0, 0, 1, 0, 0.0],
                outputs=["IMAGE", "FRAME_TIMING", "FLOAT", "INT"], title="Load Frames (FrameWeave)"),
        ui_node(2, "FrameWeaveFlowWarp", [4, "medium", "", True], outputs=["IMAGE", "FRAME_TIMING"],
                inputs=[("frames", "IMAGE", 1), ("timing", "FRAME_TIMING", 2), ("flow", "FLOW", None)],
                title="Flow Warp Interpolate (FrameWeave)"),
        ui_node(3, "FrameWeaveSaveFrames", ["quickstart", "gif", 0.0],
                inputs=[("frames", "IMAGE", 3), ("timing", "FRAME_TIMING", 4)], title="Save Frames (FrameWeave)"),
    ], "links": [[1, 1, 0, 2, 0, "IMAGE"], [2, 1, 1, 2, 1, "FRAME_TIMING"], [3, 2, 0, 3, 0, "IMAGE"],
                 [4, 2, 1, 3, 1, "FRAME_TIMING"]]}
    converted = ui_to_api(ui)
    assert converted["1"]["inputs"] == {**api["1"]["inputs"], "fps": 0.0}
    assert converted["2"] == api["2"] and converted["3"] == api["3"]
    validate_workflow(converted)
