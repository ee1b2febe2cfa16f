"""The example workflows as ComfyUI's template browser loads them (UI format, issue 13 item 1):
the structure front end 1.27.10 requires, the same graph as each API-format twin, thumbnails,
and the generator that writes all three (examples/make_workflows.py)."""
import importlib.util
import json
from pathlib import Path

import pytest

import frameweave
from frameweave.nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
from frameweave.nodes._headless import (FRONTEND_ONLY, _has_control_widget, _widget_inputs, api_twin,
                                        example_workflows, load_workflow, ui_to_api, validate_workflow)
from frameweave.nodes._ui_format import NOTE_TYPE, api_to_ui, column_layout

ROOT = Path(frameweave.__file__).resolve().parent
EXAMPLES = example_workflows()
NAMES = [name for name, _, _ in EXAMPLES]


def load_generator():
    spec = importlib.util.spec_from_file_location("make_workflows", ROOT / "examples" / "make_workflows.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def widget_value_count(cls) -> int:
    """Values the front end saves for a node: one per widget input, two for a seed (its value and
    'control after generate'); migrateWidgetsValues in 1.27.10 counts them the same way."""
    return sum(2 if _has_control_widget(*w) else 1 for w in _widget_inputs(cls))


def check_ui_structure(wf: dict, label: str) -> None:
    """What front end 1.27.10 needs to load a workflow (its zod schema 0.4 plus the links it
    follows); AssertionError naming the problem."""
    assert isinstance(wf.get("version"), (int, float)), f"{label}: no numeric 'version' (the alert users saw)"
    assert isinstance(wf.get("last_node_id"), int) and isinstance(wf.get("last_link_id"), int), label
    assert isinstance(wf.get("nodes"), list) and isinstance(wf.get("links"), list), label
    nodes = {}
    for node in wf["nodes"]:
        assert isinstance(node.get("id"), int) and node["id"] not in nodes, f"{label}: node ids must be unique ints"
        nodes[node["id"]] = node
        where = f"{label} node {node['id']}"
        assert isinstance(node.get("type"), str), where
        for key in ("pos", "size"):
            assert len(node.get(key, [])) == 2 and all(isinstance(v, (int, float)) for v in node[key]), where
        assert isinstance(node.get("flags"), dict) and isinstance(node.get("properties"), dict), where
        assert isinstance(node.get("order"), int) and node.get("mode") == 0, where
        assert isinstance(node.get("inputs"), list) and isinstance(node.get("outputs"), list), where
        assert isinstance(node.get("widgets_values"), list), where
        for slot in node["inputs"]:
            assert isinstance(slot.get("name"), str) and "type" in slot and "link" in slot, where
        for slot in node["outputs"]:
            assert isinstance(slot.get("name"), str) and "type" in slot and isinstance(slot.get("links"), list), where
        if node["type"] in FRONTEND_ONLY:
            continue
        assert node["type"] in NODE_CLASS_MAPPINGS, f"{where}: unknown node type {node['type']}"
        cls = NODE_CLASS_MAPPINGS[node["type"]]
        assert len(node["widgets_values"]) == widget_value_count(cls), \
            f"{where}: {len(node['widgets_values'])} widget values, the node has {widget_value_count(cls)}"
        assert [o["type"] for o in node["outputs"]] == list(cls.RETURN_TYPES), where
    assert max(nodes) <= wf["last_node_id"], label
    link_ids = set()
    for entry in wf["links"]:
        assert isinstance(entry, list) and len(entry) == 6, f"{label}: a link is [id, from, slot, to, slot, type]"
        link_id, origin, origin_slot, target, target_slot, type_ = entry
        assert link_id not in link_ids and link_id <= wf["last_link_id"], f"{label}: link {link_id}"
        link_ids.add(link_id)
        assert origin in nodes and target in nodes, f"{label}: link {link_id} to a missing node"
        out = nodes[origin]["outputs"][origin_slot]
        assert link_id in out["links"] and out["type"] == type_, f"{label}: link {link_id} not on its output"
        slot = nodes[target]["inputs"][target_slot]
        assert slot["link"] == link_id, f"{label}: link {link_id} is not input {target_slot} of node {target}"
    used = {s["link"] for n in nodes.values() for s in n["inputs"] if s["link"] is not None}
    listed = {i for n in nodes.values() for o in n["outputs"] for i in o["links"]}
    assert used == link_ids == listed, f"{label}: links, inputs and outputs disagree"


def api_with_defaults(api: dict) -> dict:
    """The API workflow with every absent optional widget set to its default (what a UI file
    saved before that widget existed converts to)."""
    out = {}
    for node_id, node in api.items():
        cls = NODE_CLASS_MAPPINGS[node["class_type"]]
        inputs = dict(node["inputs"])
        for name, _, extra in _widget_inputs(cls):
            if name not in inputs and "default" in extra:
                inputs[name] = extra["default"]
        out[str(node_id)] = {**node, "inputs": inputs}
    return out


def test_every_example_has_both_formats_and_a_thumbnail():
    assert {"quickstart", "evaluate_flow_vs_linear"} <= set(NAMES)
    for name, path, twin in EXAMPLES:
        assert twin == ROOT / "example_workflows" / "api" / f"{name}.json", name
        thumb = path.with_suffix(".jpg")
        assert thumb.is_file(), f"template card thumbnail {thumb.name} is missing"
        from PIL import Image
        with Image.open(thumb) as image:
            assert image.format == "JPEG" and max(image.size) <= 512
        assert thumb.stat().st_size < 60_000


@pytest.mark.parametrize("name", NAMES)
def test_template_has_the_structure_the_front_end_loads(name):
    path = ROOT / "example_workflows" / f"{name}.json"
    check_ui_structure(json.loads(path.read_text()), path.name)


@pytest.mark.parametrize("name", NAMES)
def test_template_converts_to_its_api_twin(name):
    _, path, twin = EXAMPLES[NAMES.index(name)]
    ui = json.loads(path.read_text())
    api = json.loads(twin.read_text())
    converted = ui_to_api(ui)
    assert converted == api_with_defaults(api)
    assert load_workflow(path) == converted                     # what `frameweave run NAME.json` runs
    plan = validate_workflow(api)
    assert set(plan.order) == set(api)
    notes = [n for n in ui["nodes"] if n["type"] == NOTE_TYPE]
    assert len(notes) == 1 and notes[0]["widgets_values"][0].strip(), "each template explains itself"


def test_template_folder_holds_only_ui_format():
    """ComfyUI lists every example_workflows/*.json as a template; an API-format file there shows
    the 'Workflow does not contain a valid version' alert when clicked."""
    for path in (ROOT / "example_workflows").glob("*.json"):
        data = json.loads(path.read_text())
        assert "nodes" in data and "links" in data, f"{path.name} is not UI format"


def test_checker_catches_what_the_front_end_rejects():
    wf = json.loads((ROOT / "example_workflows" / "quickstart.json").read_text())
    check_ui_structure(wf, "ok")
    api = json.loads((ROOT / "example_workflows" / "api" / "quickstart.json").read_text())
    with pytest.raises(AssertionError, match="version"):
        check_ui_structure(api, "api format")
    broken = json.loads(json.dumps(wf))
    broken["links"][0][4] += 1                                     # wrong target slot
    with pytest.raises(AssertionError, match="is not input"):
        check_ui_structure(broken, "broken")
    short = json.loads(json.dumps(wf))
    short["nodes"][1]["widgets_values"].pop()
    with pytest.raises(AssertionError, match="widget values"):
        check_ui_structure(short, "short")


def test_api_twin_discovery(tmp_path):
    (tmp_path / "api").mkdir()
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.json").write_text("{}")
    (tmp_path / "api" / "a.json").write_text("{}")
    (tmp_path / "b.api.json").write_text("{}")
    found = example_workflows(tmp_path)
    assert [(n, p.name, t and t.relative_to(tmp_path).as_posix()) for n, p, t in found] == [
        ("a", "a.json", "api/a.json"), ("b", "b.json", "b.api.json"), ("c", "c.json", None)]
    assert api_twin(tmp_path / "c.json") is None


def test_api_to_ui_round_trip_with_linked_widgets_and_seeds():
    """A linked widget (Render Frames' multiplier from Drop Frames' stride) gets an input slot with
    "widget" and keeps a value; a seed is followed by its control value; unlinked widgets get no slot."""
    api = json.loads((ROOT / "example_workflows" / "api" / "neco_evaluate.json").read_text())
    ui = api_to_ui(api)
    check_ui_structure(ui, "generated")
    render = next(n for n in ui["nodes"] if n["type"] == "FrameWeaveRenderFrames")
    assert [s["name"] for s in render["inputs"]] == ["model", "multiplier", "frames"]
    assert render["inputs"][1]["widget"] == {"name": "multiplier"}
    fit = next(n for n in ui["nodes"] if n["type"] == "FrameWeaveFitNeCo")
    names = [w[0] for w in _widget_inputs(NODE_CLASS_MAPPINGS["FrameWeaveFitNeCo"])]
    assert fit["widgets_values"][names.index("seed") + 1] == "fixed"
    assert ui_to_api(ui) == api_with_defaults(api)
    untitled = next(n for n in ui["nodes"] if n["type"] == "FrameWeaveDropFrames")
    assert "title" not in untitled and ui_to_api(ui)[str(untitled["id"])]["_meta"]["title"] == \
        NODE_DISPLAY_NAME_MAPPINGS["FrameWeaveDropFrames"]


def test_layout_columns_follow_the_links():
    api = json.loads((ROOT / "example_workflows" / "api" / "evaluate_flow_vs_linear.json").read_text())
    sizes = {i: [300, 100] for i in api}
    pos = column_layout(api, sizes)
    assert pos["1"][0] < pos["2"][0] < pos["3"][0] == pos["4"][0] < pos["5"][0] == pos["6"][0]
    assert pos["3"][1] < pos["4"][1]                            # stacked, not overlapping


def test_generated_files_are_current():
    """example_workflows/ is what examples/make_workflows.py writes from its specs and the nodes'
    current widgets (after changing a node or the shipped weights, run that script again)."""
    generator = load_generator()
    stale = generator.stale_files(generator.render_all(), include_thumbnails=False)
    assert not stale, ("out of date, run `python examples/make_workflows.py`: "
                       + ", ".join(str(p.relative_to(ROOT)) for p in stale))
    names = {e.name for e in generator.EXAMPLES}
    assert names == set(NAMES)
