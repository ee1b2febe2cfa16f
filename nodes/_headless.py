"""Run a ComfyUI API-format workflow with this pack's nodes, without ComfyUI installed.

The workflow is the JSON that ComfyUI's *Export (API)* writes::

    {"<node id>": {"class_type": "FrameWeaveLoadFrames",
                   "inputs": {"path": "clip.gif", "frames": ["<source id>", <output index>]},
                   "_meta": {"title": "..."}}}

Behaviour follows ComfyUI's executor (``execution.py``): only the nodes that the output nodes
(``OUTPUT_NODE = True``) depend on run — every node if the workflow has no output node — in
dependency order, each once, all under ``torch.inference_mode()``. Inputs are checked before
anything runs (``validate_workflow``) and every problem is reported at once, naming the node id
and class. Nodes are called as ``getattr(cls(), cls.FUNCTION)(**inputs)`` and may return a tuple
or ``{"ui": {...}, "result": (...)}``; ``INPUT_IS_LIST``/``OUTPUT_IS_LIST`` and
``VALIDATE_INPUTS`` work as in ComfyUI. A workflow saved in the UI format (``{"nodes": [...],
"links": [...]}``) is first converted the way the frontend does it (``ui_to_api``).

A leading underscore keeps this module out of node discovery (``nodes/__init__.py``).
"""
import inspect
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, NODE_IMPORT_ERRORS

WIDGET_TYPES = ("INT", "FLOAT", "STRING", "BOOLEAN")


# --- errors ------------------------------------------------------------------------------
class WorkflowError(Exception):
    """Base class of the errors raised by the headless runner."""


@dataclass(frozen=True)
class Issue:
    """One validation problem, located at a node (and input) when it has one."""

    message: str
    node_id: str | None = None
    class_type: str | None = None
    input_name: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.node_id is not None:
            where = f"node {self.node_id}" + (f" ({self.class_type})" if self.class_type else "")
            if self.input_name is not None:
                where += f", input '{self.input_name}'"
            where += ": "
        return where + self.message


class WorkflowValidationError(WorkflowError, ValueError):
    """The workflow cannot run; ``issues`` lists every problem found (nothing was executed)."""

    def __init__(self, issues):
        self.issues = list(issues)
        lines = "\n".join(f"  - {issue}" for issue in self.issues)
        super().__init__(f"workflow is not valid ({len(self.issues)} problem"
                         f"{'s' if len(self.issues) != 1 else ''}):\n{lines}")


class NodeExecutionError(WorkflowError, RuntimeError):
    """A node raised while running; the original exception is ``original`` (and ``__cause__``)."""

    def __init__(self, node_id: str, class_type: str, original: BaseException):
        self.node_id = node_id
        self.class_type = class_type
        self.original = original
        super().__init__(f"node {node_id} ({class_type}) failed: {type(original).__name__}: {original}")


# --- results -----------------------------------------------------------------------------
@dataclass
class NodeResult:
    """What one node produced.

    ``outputs`` has one entry per RETURN_TYPES slot: the value itself, or a list of values when
    the slot is in OUTPUT_IS_LIST or the node ran once per item of a list input (``runs`` > 1).
    ``ui`` is the merged ``"ui"`` dict of the node's dict returns ({} when none).
    """

    class_type: str
    outputs: tuple
    ui: dict = field(default_factory=dict)
    runs: int = 1
    seconds: float = 0.0


# --- loading -----------------------------------------------------------------------------
def load_workflow(path, node_classes=None) -> dict:
    """Read a workflow JSON file as an API-format dict. The API format (Export (API)) is used as
    is; the UI format (what Save writes) is converted with ``ui_to_api``. ValueError names the
    problem otherwise."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"workflow file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    return to_api_format(data, node_classes, source=str(path))


def is_ui_format(data) -> bool:
    return isinstance(data, dict) and isinstance(data.get("nodes"), list) and "links" in data


def to_api_format(data, node_classes=None, source: str = "workflow") -> dict:
    """An API-format workflow from API JSON, a ``{"prompt": {...}}`` request body, or UI JSON."""
    if is_ui_format(data):
        return ui_to_api(data, node_classes, source)
    return check_api_format(data, source)


def check_api_format(data, source: str = "workflow") -> dict:
    """Return ``data`` if it looks like an API-format workflow; ValueError otherwise."""
    if is_ui_format(data):
        raise ValueError(f"{source} is in ComfyUI's UI format (what 'Save' writes); convert it with "
                         "ui_to_api / load_workflow, or use Workflow > Export (API) in ComfyUI")
    if isinstance(data, dict) and isinstance(data.get("prompt"), dict) and "class_type" not in data:
        data = data["prompt"]  # the body of a POST /prompt request
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{source}: expected a JSON object mapping node ids to nodes, "
                         f"got {type(data).__name__ if data else 'an empty workflow'}")
    return data


# --- UI format -> API format -----------------------------------------------------------------------
FRONTEND_ONLY = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}   # never sent to the server
CONTROL_AFTER_GENERATE = {"fixed", "increment", "decrement", "randomize"}
MODE_NEVER, MODE_BYPASS = 2, 4   # LiteGraph node modes: muted, bypassed


def _widget_inputs(cls) -> list:
    """(name, type, extra) of the inputs ComfyUI's frontend shows as widgets, in widgets_values
    order: required then optional, widget types and combos, without forceInput ones."""
    required, optional, _ = _input_spec(cls)
    out = []
    for name, (type_spec, extra) in {**required, **optional}.items():
        if extra.get("forceInput"):
            continue
        if type_spec in WIDGET_TYPES or _combo_options(type_spec, extra) is not None:
            out.append((name, type_spec, extra))
    return out


def _has_control_widget(name, type_spec, extra) -> bool:
    """INT seeds get an extra 'control after generate' value (fixed/randomize...) after theirs."""
    return type_spec in ("INT", "FLOAT") and bool(extra.get("control_after_generate", name in ("seed", "noise_seed")))


def ui_to_api(data: dict, node_classes=None, source: str = "workflow") -> dict:
    """Convert ComfyUI's UI-format workflow (``{"nodes": [...], "links": [...]}``, what Save
    writes) into the API format, as the frontend's graphToPrompt does: widget values are matched
    to the node's widget inputs in order (skipping seeds' control_after_generate value), links are
    followed through Reroute and bypassed nodes, muted nodes and Notes are dropped, and values
    from PrimitiveNodes are the target widget's own value. Needs the node classes (widget order)."""
    node_classes = NODE_CLASS_MAPPINGS if node_classes is None else node_classes
    if (data.get("definitions") or {}).get("subgraphs"):
        raise ValueError(f"{source} contains subgraphs, which the headless runner does not expand; "
                         "use Workflow > Export (API) in ComfyUI")
    nodes = {}
    for node in data["nodes"]:
        if not isinstance(node, dict) or "id" not in node or not isinstance(node.get("type"), str):
            raise ValueError(f"{source}: a node in the UI workflow has no id or type: {str(node)[:80]}")
        nodes[str(node["id"])] = node
    links = {}
    for link in data.get("links") or []:
        if isinstance(link, dict):
            key, origin, slot = link.get("id"), link.get("origin_id"), link.get("origin_slot")
        else:
            key, origin, slot = link[0], link[1], link[2]
        links[key] = (str(origin), int(slot))

    def follow(link_id, depth=0):
        """(origin id, slot) feeding a link, "widget" for a PrimitiveNode, or None (no source)."""
        if link_id is None or link_id not in links or depth > len(nodes):
            return None
        origin, slot = links[link_id]
        node = nodes.get(origin)
        if node is None:
            return origin, slot   # reported by validation as a link to a missing node
        if node["type"] == "PrimitiveNode":
            return "widget"
        if node["type"] == "Reroute":
            ins = node.get("inputs") or []
            return follow(ins[0].get("link") if ins else None, depth + 1)
        mode = node.get("mode", 0)
        if mode == MODE_NEVER:
            return None
        if mode == MODE_BYPASS:   # pass through the first input of the same type as this output
            outs = node.get("outputs") or []
            out_type = outs[slot].get("type") if slot < len(outs) else None
            for inp in node.get("inputs") or []:
                if inp.get("type") == out_type and inp.get("link") is not None:
                    return follow(inp["link"], depth + 1)
            return None
        return origin, slot

    api = {}
    for node_id, node in nodes.items():
        class_type = node["type"]
        if class_type in FRONTEND_ONLY or node.get("mode", 0) in (MODE_NEVER, MODE_BYPASS):
            continue
        inputs = {}
        cls = node_classes.get(class_type)
        values = node.get("widgets_values")
        try:
            widgets = _widget_inputs(cls) if cls is not None else []
        except Exception:  # noqa: BLE001  (a broken INPUT_TYPES is reported by validation)
            widgets = []
        if widgets:
            if isinstance(values, dict):
                inputs.update({name: values[name] for name, _, _ in widgets if name in values})
            elif isinstance(values, list):
                i = 0
                for name, type_spec, extra in widgets:
                    if i < len(values):
                        inputs[name] = values[i]
                        i += 1
                        if _has_control_widget(name, type_spec, extra) and i < len(values) \
                                and values[i] in CONTROL_AFTER_GENERATE:
                            i += 1
                    elif "default" in extra:   # a widget added after the workflow was saved
                        inputs[name] = extra["default"]
        for inp in node.get("inputs") or []:
            source_ = follow(inp.get("link"))
            if source_ is None or source_ == "widget":
                continue
            inputs[inp["name"]] = [source_[0], source_[1]]
        api[node_id] = {"class_type": class_type, "inputs": inputs,   # untitled: the display name, as the front end
                        "_meta": {"title": node.get("title") or NODE_DISPLAY_NAME_MAPPINGS.get(class_type, class_type)}}
    if not api:
        raise ValueError(f"{source}: the UI workflow has no nodes to run")
    return api


# --- type checks ---------------------------------------------------------------------------
def _is_link(value) -> bool:
    return isinstance(value, list)


def _combo_options(type_spec, extra: dict):
    """The allowed values of a combo input, or None if the input is not a combo."""
    if isinstance(type_spec, (list, tuple)):
        return list(type_spec)
    if type_spec == "COMBO":
        return list(extra.get("options", []))
    return None


def types_compatible(received, expected) -> bool:
    """ComfyUI's link rule: equal types, '*' on either side, or overlapping comma-separated unions.
    A combo input accepts a link from a COMBO/'*' output or one with the same option list."""
    if isinstance(expected, (list, tuple)):
        return received in ("*", "COMBO") or (isinstance(received, (list, tuple)) and list(received) == list(expected))
    if isinstance(received, (list, tuple)):
        return expected in ("*", "COMBO")
    if received == expected or received == "*" or expected == "*":
        return True
    if not isinstance(received, str) or not isinstance(expected, str):
        return False
    got = {t.strip() for t in received.split(",")}
    want = {t.strip() for t in expected.split(",")}
    return bool(got & want)


def _type_name(type_spec) -> str:
    return "COMBO" if isinstance(type_spec, (list, tuple)) else str(type_spec)


def check_literal(value, type_spec, extra: dict):
    """Check a widget value against its input definition; return it converted (INT 4.0 -> 4,
    FLOAT 4 -> 4.0) or raise ValueError with the reason."""
    options = _combo_options(type_spec, extra)
    if options is not None:
        if value not in options:
            shown = ", ".join(repr(o) for o in options[:20]) + (", ..." if len(options) > 20 else "")
            raise ValueError(f"value {value!r} is not in the list of choices: {shown}")
        return value
    if type_spec == "*":
        return value
    if type_spec in ("INT", "FLOAT") and isinstance(value, str):    # ComfyUI converts "4" with int()/float()
        try:
            value = int(value.strip()) if type_spec == "INT" else float(value.strip())
        except ValueError:
            raise ValueError(f"expected {'an integer (INT)' if type_spec == 'INT' else 'a number (FLOAT)'}, "
                             f"got the text {value!r}") from None
    if type_spec == "INT":
        if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            value = int(value)                # as ComfyUI's int() (API workflows saved from a list of "2", "4")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                (isinstance(value, float) and not value.is_integer()):
            raise ValueError(f"expected an integer (INT), got {type(value).__name__} {value!r}")
        value = int(value)
    elif type_spec == "FLOAT":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number (FLOAT), got {type(value).__name__} {value!r}")
        value = float(value)
        if math.isnan(value):
            raise ValueError("expected a number (FLOAT), got NaN")
    elif type_spec == "STRING":
        if not isinstance(value, str):
            raise ValueError(f"expected a string (STRING), got {type(value).__name__} {value!r}")
    elif type_spec == "BOOLEAN":
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false (BOOLEAN), got {type(value).__name__} {value!r}")
    else:
        raise ValueError(f"a {type_spec} input must be linked to another node's output "
                         f"([node_id, output_index]), got the literal {type(value).__name__} {value!r}")
    if type_spec in ("INT", "FLOAT"):
        lo, hi = extra.get("min"), extra.get("max")
        if lo is not None and value < lo:
            raise ValueError(f"value {value} is smaller than the minimum {lo}")
        if hi is not None and value > hi:
            raise ValueError(f"value {value} is bigger than the maximum {hi}")
    return value


def _input_spec(cls) -> tuple[dict, dict, dict]:
    """(required, optional, hidden) of a node class, each {name: (type, extra dict)}."""
    spec = cls.INPUT_TYPES()

    def norm(section):
        out = {}
        for name, entry in (spec.get(section) or {}).items():
            if isinstance(entry, str):          # hidden inputs are plain strings ("UNIQUE_ID")
                out[name] = (entry, {})
            else:
                entry = tuple(entry)
                out[name] = (entry[0], dict(entry[1]) if len(entry) > 1 and entry[1] else {})
        return out

    return norm("required"), norm("optional"), norm("hidden")


def _validate_inputs_params(cls):
    """Parameter names of cls.VALIDATE_INPUTS and whether it takes **kwargs; None if not defined."""
    fn = getattr(cls, "VALIDATE_INPUTS", None)
    if fn is None:
        return None
    params = inspect.signature(fn).parameters.values()
    names = {p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    has_kwargs = any(p.kind == p.VAR_KEYWORD for p in params)
    return names, has_kwargs


# --- validation ------------------------------------------------------------------------------
@dataclass
class ExecutionPlan:
    """What ``validate_workflow`` found runnable."""
    order: list            # node ids in execution order
    outputs: list          # the output node ids (or every node when there is none)
    literals: dict         # node id -> {input name: converted literal}


def _unknown_class_message(class_type, node_classes) -> str:
    known = sorted(k for k in node_classes if k.startswith("FrameWeave")) or sorted(node_classes)
    msg = (f"unknown node type {class_type!r}. The headless runner only has FrameWeave's nodes; "
           f"nodes from ComfyUI or other packs cannot run headless. Known: {', '.join(known)}")
    if NODE_IMPORT_ERRORS and node_classes is NODE_CLASS_MAPPINGS:
        broken = "; ".join(f"nodes/{m}.py: {e}" for m, e in sorted(NODE_IMPORT_ERRORS.items()))
        msg += f". FrameWeave modules that failed to import: {broken}"
    return msg


def _sort_key(node_id: str):
    return (0, int(node_id), "") if node_id.isdigit() else (1, 0, node_id)


def validate_workflow(workflow: dict, node_classes=None) -> ExecutionPlan:
    """Check the whole workflow before running anything; WorkflowValidationError lists every
    problem (unknown node types, bad links, type mismatches, missing/unknown inputs, values
    outside their range or list, cycles). Returns the execution plan."""
    node_classes = NODE_CLASS_MAPPINGS if node_classes is None else node_classes
    workflow = to_api_format(workflow, node_classes)
    issues = []
    classes = {}   # node id -> class, for nodes whose class_type is known

    # 1. every node: structure and class type (ComfyUI checks these for all nodes)
    for node_id, node in workflow.items():
        node_id = str(node_id)
        if not isinstance(node, dict) or not isinstance(node.get("class_type"), str):
            issues.append(Issue("is not a node: expected an object with a 'class_type' string", node_id))
            continue
        class_type = node["class_type"]
        if not isinstance(node.get("inputs", {}), dict):
            issues.append(Issue("'inputs' must be an object mapping input names to values", node_id, class_type))
            continue
        if class_type not in node_classes:
            issues.append(Issue(_unknown_class_message(class_type, node_classes), node_id, class_type))
            continue
        classes[node_id] = node_classes[class_type]
    nodes = {str(k): v for k, v in workflow.items()}

    # 2. which nodes to run: the output nodes and everything they depend on
    outputs = sorted((i for i, c in classes.items() if getattr(c, "OUTPUT_NODE", False)), key=_sort_key)
    if not outputs:
        outputs = sorted(classes, key=_sort_key)

    def links_of(node_id):
        for name, value in (nodes[node_id].get("inputs") or {}).items():
            if _is_link(value) and len(value) == 2:
                yield name, str(value[0]), value[1]

    # 3. dependency order by depth-first search; a back edge is a cycle
    order, state, stack = [], {}, []
    cycles = []

    def visit(node_id):
        state[node_id] = "open"
        stack.append(node_id)
        for _, src, _ in links_of(node_id):
            if src not in classes:
                continue   # reported below (missing node / unknown class)
            if state.get(src) == "open":
                loop = stack[stack.index(src):] + [src]
                cycles.append(loop)
            elif src not in state:
                visit(src)
        stack.pop()
        state[node_id] = "done"
        order.append(node_id)

    for out in outputs:
        if out not in state:
            visit(out)
    for loop in cycles:
        issues.append(Issue("the workflow has a cycle: " + " -> ".join(
            f"{n} ({nodes[n]['class_type']})" for n in loop), loop[0], nodes[loop[0]]["class_type"]))

    # 4. inputs of every node that will run
    literals = {}
    for node_id in order:
        cls, class_type = classes[node_id], nodes[node_id]["class_type"]
        literals[node_id], node_issues = _validate_node(node_id, class_type, cls, nodes, classes)
        issues.extend(node_issues)

    if issues:
        raise WorkflowValidationError(issues)
    return ExecutionPlan(order=order, outputs=outputs, literals=literals)


def _validate_node(node_id, class_type, cls, nodes, classes):
    """(converted literal inputs, issues) for one node, following ComfyUI's validate_inputs."""
    issues = []

    def issue(message, name=None):
        issues.append(Issue(message, node_id, class_type, name))

    try:
        required, optional, hidden = _input_spec(cls)
    except Exception as exc:  # noqa: BLE001  (a broken INPUT_TYPES is a validation problem)
        issue(f"INPUT_TYPES() failed: {type(exc).__name__}: {exc}")
        return {}, issues
    inputs = nodes[node_id].get("inputs") or {}
    custom = _validate_inputs_params(cls)
    custom_names, custom_kwargs = custom if custom is not None else (set(), False)
    declared = {**required, **optional}
    literals, received_types = {}, {}

    for name in required:
        if name not in inputs:
            issue("required input is missing", name)
    for name, value in inputs.items():
        if name in hidden:
            continue   # filled by the executor, as in ComfyUI
        if name not in declared:
            issue(f"unknown input (this node takes: {', '.join(declared) or 'no inputs'})", name)
            continue
        type_spec, extra = declared[name]
        if _is_link(value):
            if len(value) != 2 or not isinstance(value[1], int) or isinstance(value[1], bool) \
                    or not isinstance(value[0], (str, int)) or isinstance(value[0], bool):
                issue(f"bad link {value!r}: a link is [node_id, output_index]", name)
                continue
            src, index = str(value[0]), value[1]
            if src not in nodes:
                issue(f"is linked to node {src}, which is not in the workflow", name)
                continue
            if src not in classes:
                continue   # its unknown class type is already reported
            src_class = nodes[src]["class_type"]
            returns = tuple(classes[src].RETURN_TYPES)
            if not 0 <= index < len(returns):
                issue(f"is linked to output {index} of node {src} ({src_class}), which has "
                      f"{len(returns)} output(s) (0..{len(returns) - 1})", name)
                continue
            received = returns[index]
            received_types[name] = received
            if "input_types" not in custom_names and not types_compatible(received, type_spec):
                names = getattr(classes[src], "RETURN_NAMES", None) or returns
                issue(f"type mismatch: output {index} '{names[index]}' of node {src} ({src_class}) is "
                      f"{_type_name(received)}, but this input takes {_type_name(type_spec)}", name)
            continue
        if name in custom_names:
            literals[name] = value   # VALIDATE_INPUTS checks it instead (ComfyUI's rule)
            continue
        try:
            literals[name] = check_literal(value, type_spec, extra)
        except ValueError as exc:
            issue(str(exc), name)

    if custom is not None and not issues:
        args = {k: v for k, v in literals.items() if custom_kwargs or k in custom_names}
        if "input_types" in custom_names:
            args["input_types"] = received_types
        try:
            verdict = cls.VALIDATE_INPUTS(**args)
        except Exception as exc:  # noqa: BLE001
            verdict = f"{type(exc).__name__}: {exc}"
        if verdict is not True:
            issue(f"VALIDATE_INPUTS rejected the inputs: {verdict}")
    return literals, issues


# --- execution -------------------------------------------------------------------------------
def _hidden_value(kind, node_id, workflow):
    if kind == "UNIQUE_ID":
        return node_id
    if kind == "PROMPT":
        return workflow
    return None   # EXTRA_PNGINFO, DYNPROMPT, AUTH_TOKEN...: not available headless


def _call_node(cls, obj, node_id, class_type, input_lists: dict):
    """ComfyUI's map-over-list: call FUNCTION once with lists (INPUT_IS_LIST) or once per item
    of the longest input list (shorter lists repeat their last item). Returns (outputs, ui, runs)."""
    fn = getattr(obj, cls.FUNCTION)
    if getattr(cls, "INPUT_IS_LIST", False):
        calls = [input_lists]
    else:
        empty = [k for k, v in input_lists.items() if len(v) == 0]
        if empty:
            raise ValueError(f"input(s) {', '.join(empty)} received an empty list from a list output")
        n = max((len(v) for v in input_lists.values()), default=1)
        calls = [{k: v[min(i, len(v) - 1)] for k, v in input_lists.items()} for i in range(n)]
    n_out = len(cls.RETURN_TYPES)
    results, uis = [], []
    for kwargs in calls:
        ret = fn(**kwargs)
        if isinstance(ret, dict):
            if "ui" in ret and ret["ui"] is not None:
                uis.append(ret["ui"])
            ret = ret.get("result", () if n_out == 0 else None)
        if ret is None and n_out == 0:
            ret = ()
        if not isinstance(ret, (tuple, list)):
            raise TypeError(f"{class_type}.{cls.FUNCTION} returned {type(ret).__name__}; expected a tuple "
                            f"of {n_out} value(s) {tuple(cls.RETURN_TYPES)} or a dict with 'result'")
        if len(ret) != n_out:
            raise TypeError(f"{class_type}.{cls.FUNCTION} returned {len(ret)} value(s) but RETURN_TYPES "
                            f"declares {n_out}: {tuple(cls.RETURN_TYPES)}")
        results.append(tuple(ret))
    is_list = tuple(getattr(cls, "OUTPUT_IS_LIST", ())) + (False,) * n_out
    lists = []
    for j in range(n_out):
        lists.append([x for r in results for x in r[j]] if is_list[j] else [r[j] for r in results])
    if len(uis) == 1:
        ui = dict(uis[0])
    else:
        ui = {}
        for u in uis:
            for k, v in u.items():
                ui.setdefault(k, []).extend(v if isinstance(v, (list, tuple)) else [v])
    return lists, ui, len(calls)


def run_workflow(workflow: dict, node_classes=None, progress=None) -> dict:
    """Validate then execute an API-format workflow; returns {node id: NodeResult} for every
    node that ran.

    ``progress(done, total, node_id, class_type)`` is called before each node (``done`` nodes
    finished) and after it (``done + 1``). Raises WorkflowValidationError before running anything
    if the workflow is invalid, and NodeExecutionError (naming the node, keeping the original
    exception as ``__cause__``) if a node fails.
    """
    import time  # noqa: PLC0415

    node_classes = NODE_CLASS_MAPPINGS if node_classes is None else node_classes
    workflow = {str(k): v for k, v in to_api_format(workflow, node_classes).items()}
    plan = validate_workflow(workflow, node_classes)
    values = {}    # node id -> [list of values per output slot]  (ComfyUI's output cache)
    results = {}
    total = len(plan.order)
    with torch.inference_mode():
        for done, node_id in enumerate(plan.order):
            node = workflow[node_id]
            class_type = node["class_type"]
            cls = node_classes[class_type]
            if progress is not None:
                progress(done, total, node_id, class_type)
            input_lists = {}
            for name, value in (node.get("inputs") or {}).items():
                if _is_link(value):
                    input_lists[name] = values[str(value[0])][value[1]]
                elif name in plan.literals[node_id]:
                    input_lists[name] = [plan.literals[node_id][name]]
            for name, (kind, _) in _input_spec(cls)[2].items():
                input_lists[name] = [_hidden_value(kind, node_id, workflow)]
            start = time.perf_counter()
            try:
                lists, ui, runs = _call_node(cls, cls(), node_id, class_type, input_lists)
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as exc:
                raise NodeExecutionError(node_id, class_type, exc) from exc
            values[node_id] = lists
            is_list = tuple(getattr(cls, "OUTPUT_IS_LIST", ())) + (False,) * len(lists)
            outputs = tuple(v if (is_list[j] or runs > 1) else v[0] for j, v in enumerate(lists))
            results[node_id] = NodeResult(class_type, outputs, ui, runs, time.perf_counter() - start)
            if progress is not None:
                progress(done + 1, total, node_id, class_type)
    return results


def output_node_ids(workflow: dict, node_classes=None) -> list:
    """The ids of the output nodes (OUTPUT_NODE = True) in a workflow, sorted."""
    node_classes = NODE_CLASS_MAPPINGS if node_classes is None else node_classes
    return sorted((str(i) for i, n in workflow.items()
                   if isinstance(n, dict) and getattr(node_classes.get(n.get("class_type")), "OUTPUT_NODE", False)),
                  key=_sort_key)


# --- the shipped example workflows -------------------------------------------------------------
EXAMPLES_FOLDER = Path(__file__).resolve().parents[1] / "example_workflows"
API_TWIN_FOLDER = "api"   # example_workflows/api/NAME.json: the API-format twin of NAME.json


def api_twin(path) -> Path | None:
    """The API-format twin of a workflow file ``DIR/NAME.json``: ``DIR/api/NAME.json`` or
    ``DIR/NAME.api.json`` (what ComfyUI's server and scripts post), or None when there is none."""
    path = Path(path)
    for twin in (path.parent / API_TWIN_FOLDER / path.name, path.with_name(f"{path.stem}.api.json")):
        if twin.is_file():
            return twin
    return None


def example_workflows(folder=None) -> list:
    """(name, workflow file, API twin or None) of every ``example_workflows/NAME.json``: the files
    ComfyUI's template browser lists (UI format), each with its API-format twin."""
    folder = EXAMPLES_FOLDER if folder is None else Path(folder)
    files = sorted(p for p in folder.glob("*.json") if not p.name.endswith(".api.json"))
    return [(p.stem, p, api_twin(p)) for p in files]
