"""How long ComfyUI's Cancel takes to stop a FrameWeave fit or render, measured on a running server.

    # a ComfyUI with this pack in custom_nodes/ (e.g. the harness in ../shared/comfyui: setup.sh, then
    # start main.py --cpu as run.sh does), then, with a Python that has websocket-client:
    python benchmarks/comfyui_cancel.py --url http://127.0.0.1:8188 --node siren --after 15 --repeat 3

The prompt is Load Frames (examples/pan_zoom.gif) -> Fit SIREN-OF or Fit NeCo with every widget at its
default (read from /object_info) -> Render Frames x2 -> Save Frames. The script follows the server's
websocket messages: ``--after`` seconds after the fit node starts executing (or, with ``--render``,
after Render Frames starts) it POSTs /interrupt and times how long the server takes to report the
prompt interrupted. Prints a markdown table with the machine; ``--out`` writes it too.
"""
import argparse
import json
import os
import platform
import sys
import time
import urllib.request
import uuid

FIT_NODES = {"siren": "FrameWeaveFitSIRENOF", "neco": "FrameWeaveFitNeCo"}


def post(url: str, path: str, data) -> dict:
    req = urllib.request.Request(url + path, data=json.dumps(data).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        text = resp.read().decode()
    return json.loads(text) if text.strip() else {}


def get(url: str, path: str) -> dict:
    with urllib.request.urlopen(url + path, timeout=180) as resp:
        return json.loads(resp.read().decode())


def defaults(info: dict, node: str, linked=()) -> dict:
    """Every widget of ``node`` at its default (combos: the default or the first choice)."""
    spec = info[node]["input"]
    out = {}
    for section in ("required", "optional"):
        for name, entry in (spec.get(section) or {}).items():
            if name in linked or not isinstance(entry, (list, tuple)):
                continue
            kind, extra = entry[0], (entry[1] if len(entry) > 1 and isinstance(entry[1], dict) else {})
            if isinstance(kind, list):
                out[name] = extra.get("default", kind[0])
            elif kind == "COMBO":
                out[name] = extra.get("default", (extra.get("options") or [None])[0])
            elif "default" in extra:
                out[name] = extra["default"]
    return out


def prompt(info: dict, fit_node: str) -> dict:
    fit = defaults(info, fit_node, linked=("frames", "flow", "timing"))
    return {
        "1": {"class_type": "FrameWeaveLoadFrames",
              "inputs": {**defaults(info, "FrameWeaveLoadFrames"), "path": "examples/pan_zoom.gif"}},
        "2": {"class_type": fit_node, "inputs": {**fit, "frames": ["1", 0], "timing": ["1", 1]}},
        "3": {"class_type": "FrameWeaveRenderFrames", "inputs": {"model": ["2", 0], "multiplier": 2}},
        "4": {"class_type": "FrameWeaveSaveFrames",
              "inputs": {"frames": ["3", 0], "timing": ["3", 1], "filename_prefix": "cancel_test", "format": "webp",
                         "fps": 0.0}},
    }, fit


def measure(url: str, wf: dict, target_node: str, after: float, timeout: float = 900.0) -> dict:
    import websocket  # noqa: PLC0415  (websocket-client, in the ComfyUI harness venv)

    client = uuid.uuid4().hex
    ws = websocket.create_connection(url.replace("http", "ws", 1) + f"/ws?clientId={client}", timeout=5)
    ws.settimeout(0.2)
    prompt_id = post(url, "/prompt", {"prompt": wf, "client_id": client})["prompt_id"]
    started = interrupted = None
    t0 = time.perf_counter()
    try:
        while time.perf_counter() - t0 < timeout:
            if started is not None and interrupted is None and time.perf_counter() - started >= after:
                post(url, "/interrupt", {})
                interrupted = time.perf_counter()
            try:
                raw = ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            if not isinstance(raw, str):
                continue                                   # preview images
            msg = json.loads(raw)
            data = msg.get("data") or {}
            if data.get("prompt_id") not in (None, prompt_id):
                continue
            if msg["type"] == "executing" and data.get("node") == target_node and started is None:
                started = time.perf_counter()
            if msg["type"] in ("execution_interrupted", "execution_error", "execution_success") or \
                    (msg["type"] == "executing" and data.get("node") is None and started is not None):
                end = time.perf_counter()
                return {"outcome": msg["type"], "ran_s": (interrupted or end) - (started or end),
                        "cancel_s": None if interrupted is None else end - interrupted}
    finally:
        ws.close()
    return {"outcome": "timeout", "ran_s": None, "cancel_s": None}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:8188")
    ap.add_argument("--node", choices=sorted(FIT_NODES), default="siren")
    ap.add_argument("--after", type=float, default=15.0, help="seconds into the node before Cancel")
    ap.add_argument("--render", action="store_true", help="cancel during Render Frames instead of the fit "
                                                          "(the fit then gets --fit-steps steps)")
    ap.add_argument("--fit-steps", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", help="also write the markdown here")
    args = ap.parse_args(argv)

    info = get(args.url, "/object_info")
    wf, fit = prompt(info, FIT_NODES[args.node])
    target = "2"
    if args.render:
        wf["2"]["inputs"].update(steps=args.fit_steps, time_budget_s=0.0)
        target = "3"
    rows = []
    for i in range(args.repeat):
        wf["2"]["inputs"]["seed"] = i                       # a new prompt each time (nothing cached)
        res = measure(args.url, wf, target, args.after)
        print(f"run {i + 1}: {res}", file=sys.stderr, flush=True)
        rows.append(res)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    what = "Render Frames" if args.render else info[FIT_NODES[args.node]]["display_name"]
    lines = [f"# Cancel in ComfyUI: {what}", "",
             f"`python benchmarks/comfyui_cancel.py --node {args.node} --after {args.after:g}"
             f"{' --render' if args.render else ''} --repeat {args.repeat}` against {args.url}; "
             f"{os.cpu_count()}-core {platform.machine()} CPU, load average {load:.1f} at the end; "
             f"fit widgets: {json.dumps({k: v for k, v in fit.items() if k in ('width', 'depth', 'steps', 'time_budget_s', 'batch_size')})}"
             f"{' (steps %d for the render run)' % args.fit_steps if args.render else ''}.", "",
             "| run | outcome | node ran before Cancel (s) | Cancel -> prompt ended (s) |", "|---|---|---|---|"]
    for i, r in enumerate(rows, 1):
        cancel = "-" if r["cancel_s"] is None else f"{r['cancel_s']:.2f}"
        ran = "-" if r["ran_s"] is None else f"{r['ran_s']:.1f}"
        lines.append(f"| {i} | {r['outcome']} | {ran} | {cancel} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
