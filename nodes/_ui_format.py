"""API-format workflow -> ComfyUI's UI format (what the front end's *Save* writes and what its
template browser loads), the inverse of ``_headless.ui_to_api``.

The UI format (schema version 0.4, as front end 1.27.10 writes it)::

    {"last_node_id": 3, "last_link_id": 4, "version": 0.4, "nodes": [...], "links": [...],
     "groups": [], "config": {}, "extra": {...}}
    node  {"id", "type", "pos": [x, y], "size": [w, h], "flags": {}, "order", "mode": 0,
           "inputs": [{"name", "type", "link"}, ...], "outputs": [{"name", "type", "links"}, ...],
           "properties": {"Node name for S&R": type}, "widgets_values": [...], "title"?}
    link  [link id, origin node id, origin output index, target node id, target input index, type]

``inputs`` lists the node's socket inputs (IMAGE, FRAME_TIMING, ...) in definition order and, at
their place in that order, the widget inputs that are linked (with ``"widget": {"name"}``);
unlinked widget inputs have no slot (the front end drops them when saving). ``widgets_values``
holds every widget's value in widget order (required, then optional inputs), linked or not, with a
seed's *control after generate* value ("fixed" here) right after the seed.

A leading underscore keeps this module out of node discovery (``nodes/__init__.py``).
"""
from . import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
from ._headless import _has_control_widget, _input_spec, _is_link, _sort_key, _widget_inputs

SCHEMA_VERSION = 0.4
NODE_GAP = (60, 40)          # horizontal, vertical space between nodes
TITLE_HEIGHT = 30            # LiteGraph draws a node's title above its pos
SLOT_HEIGHT = 20             # one input/output row
WIDGET_ROW = 24              # one widget (20) and its spacing (4)
NOTE_TYPE = "MarkdownNote"   # front-end-only node: text for the reader, never sent to the server


def _widget_names(cls) -> set:
    return {name for name, _, _ in _widget_inputs(cls)}


def node_size(cls, linked_widgets=0, extra_height=0, width=320) -> list:
    """[w, h] a node needs, estimated like LiteGraph's computeSize: output / socket rows, one row
    per widget, the control widget of seeds; plus ``extra_height`` for previews."""
    required, optional, _ = _input_spec(cls)
    widgets = _widget_inputs(cls)
    names = {name for name, _, _ in widgets}
    sockets = sum(1 for name in {**required, **optional} if name not in names)
    rows = max(sockets + linked_widgets, len(cls.RETURN_TYPES), 1)
    controls = sum(1 for w in widgets if _has_control_widget(*w))
    height = rows * SLOT_HEIGHT + (len(widgets) + controls) * WIDGET_ROW + 8 + 6 + extra_height
    return [width, height]


def depths(api: dict) -> dict:
    """{node id: longest chain of links from a node without linked inputs} (its layout column)."""
    memo = {}

    def depth(node_id, seen=()):
        if node_id not in memo:
            sources = [str(v[0]) for v in api[node_id].get("inputs", {}).values()
                       if _is_link(v) and str(v[0]) in api and str(v[0]) not in seen]
            memo[node_id] = 1 + max((depth(s, seen + (node_id,)) for s in sources), default=-1)
        return memo[node_id]

    return {node_id: depth(node_id) for node_id in api}


def column_layout(api: dict, sizes: dict, origin=(40, 60)) -> dict:
    """{node id: [x, y]}: one column per link depth, nodes stacked in id order in their column."""
    by_column = {}
    for node_id, column in sorted(depths(api).items(), key=lambda kv: _sort_key(kv[0])):
        by_column.setdefault(column, []).append(node_id)
    positions, x = {}, origin[0]
    for column in sorted(by_column):
        y = origin[1]
        for node_id in by_column[column]:
            positions[node_id] = [x, y]
            y += sizes[node_id][1] + TITLE_HEIGHT + NODE_GAP[1]
        x += max(sizes[n][0] for n in by_column[column]) + NODE_GAP[0]
    return positions


def api_to_ui(api: dict, node_classes=None, sizes=None, positions=None, notes=(), control_value="fixed") -> dict:
    """The UI-format workflow of an API-format one (every node of ``api`` must be known).

    ``sizes`` / ``positions``: {node id: [w, h]} / {node id: [x, y]} (default: ``node_size`` and
    ``column_layout``). ``notes``: (text, [x, y], [w, h]) Markdown notes added after the nodes.
    ``control_value``: the *control after generate* value written after every seed."""
    node_classes = NODE_CLASS_MAPPINGS if node_classes is None else node_classes
    api = {str(k): v for k, v in api.items()}
    ids = sorted(api, key=_sort_key)
    if not all(i.isdigit() for i in ids):
        raise ValueError("UI-format node ids are integers; the API workflow has "
                         f"{', '.join(i for i in ids if not i.isdigit())}")
    classes = {i: node_classes[api[i]["class_type"]] for i in ids}
    linked = {i: {k for k, v in api[i].get("inputs", {}).items() if _is_link(v)} for i in ids}
    sizes = dict(sizes or {})
    for i in ids:
        sizes.setdefault(i, node_size(classes[i], len(linked[i] & _widget_names(classes[i]))))
    positions = {**column_layout(api, sizes), **(positions or {})}
    column = depths(api)
    order = {i: n for n, i in enumerate(sorted(ids, key=lambda i: (column[i], _sort_key(i))))}

    links, out_links = [], {}
    nodes = []
    for i in ids:
        cls, inputs = classes[i], api[i].get("inputs", {})
        required, optional, _ = _input_spec(cls)
        widget_names = _widget_names(cls)
        slots = []
        for name, (type_spec, _extra) in {**required, **optional}.items():
            value = inputs.get(name)
            if name in widget_names and not _is_link(value):
                continue                                  # an unlinked widget has no slot
            slot = {"name": name, "type": "COMBO" if isinstance(type_spec, (list, tuple)) else type_spec,
                    "link": None}
            if name in widget_names:
                slot["widget"] = {"name": name}
            if _is_link(value):
                src, index = str(value[0]), int(value[1])
                link_id = len(links) + 1
                links.append([link_id, int(src), index, int(i), len(slots), classes[src].RETURN_TYPES[index]])
                out_links.setdefault((src, index), []).append(link_id)
                slot["link"] = link_id
            slots.append(slot)
        values = []
        for name, type_spec, extra in _widget_inputs(cls):
            value = inputs.get(name)
            if value is None or _is_link(value):          # linked or absent: the widget keeps its default
                value = extra.get("default", type_spec[0] if isinstance(type_spec, (list, tuple)) else None)
            values.append(value)
            if _has_control_widget(name, type_spec, extra):
                values.append(control_value)
        node = {"id": int(i), "type": api[i]["class_type"], "pos": positions[i], "size": sizes[i],
                "flags": {}, "order": order[i], "mode": 0, "inputs": slots, "outputs": [],
                "properties": {"Node name for S&R": api[i]["class_type"]}, "widgets_values": values}
        title = (api[i].get("_meta") or {}).get("title")
        if title and title != NODE_DISPLAY_NAME_MAPPINGS.get(api[i]["class_type"], api[i]["class_type"]):
            node["title"] = title
        nodes.append(node)
    for node in nodes:
        cls = classes[str(node["id"])]
        names = getattr(cls, "RETURN_NAMES", None) or cls.RETURN_TYPES
        node["outputs"] = [{"name": names[k], "type": t, "links": out_links.get((str(node["id"]), k), [])}
                           for k, t in enumerate(cls.RETURN_TYPES)]
    next_id = max(int(i) for i in ids)
    for n, (text, pos, size) in enumerate(notes, 1):
        nodes.append({"id": next_id + n, "type": NOTE_TYPE, "pos": list(pos), "size": list(size), "flags": {},
                      "order": len(ids) + n - 1, "mode": 0, "inputs": [], "outputs": [], "properties": {},
                      "widgets_values": [text]})
    return {"last_node_id": max(node["id"] for node in nodes), "last_link_id": len(links), "nodes": nodes,
            "links": links, "groups": [], "config": {}, "extra": {"ds": {"scale": 1.0, "offset": [0, 0]}},
            "version": SCHEMA_VERSION}
