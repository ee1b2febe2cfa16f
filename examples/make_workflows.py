"""Write the example workflows from the specs below, deterministically.

    python examples/make_workflows.py            # writes example_workflows/NAME.json, NAME.jpg, api/NAME.json
    python examples/make_workflows.py --check    # exit 1 (listing them) when written files would change

For each example three files are written:
- ``example_workflows/NAME.json``: ComfyUI's UI format (nodes, links, version), what the template
  browser (Templates > Custom Nodes > frameweave) loads; a Markdown note says what it shows;
- ``example_workflows/NAME.jpg``: the template card's thumbnail (256x256), drawn from the bundled
  clip ``examples/pan_zoom.gif`` and the workflow's chain of nodes;
- ``example_workflows/api/NAME.json``: the same graph in the API format (what *Export (API)* writes),
  for ``POST /prompt``, scripts and ``frameweave run``.

Every widget not set in a spec takes the node's default when the files are written, so the files
follow the nodes: after changing a widget or the shipped weights, run this script again (the test
suite fails with this command in its message until then). Weight names appear only in WEIGHTS.
"""
import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import frameweave
from frameweave.nodes import _headless, _ui_format

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = ROOT / "example_workflows"
API_FOLDER = "api"
THUMB_SIZE = 256
# The weights the examples name (None: Load SepConv Weights' default, the manifest's default).
WEIGHTS = {"sepconv": None,
           "sepconv_l1_baseline": "sepconv_w100_k51_gpu"}   # the L1 generator the shipped GAN was fine-tuned from


@dataclass
class Node:
    """One node: id, class, non-default inputs ({name: value or link(id, output name)}), title."""

    id: int
    type: str
    inputs: dict = field(default_factory=dict)
    title: str | None = None


@dataclass
class Example:
    name: str
    caption: str       # the thumbnail's headline
    note: str          # Markdown shown in the workflow
    nodes: list


def link(node_id: int, output: str) -> tuple:
    return ("link", node_id, output)


def load_frames(node_id=1):
    return Node(node_id, "FrameWeaveLoadFrames")      # default path: the bundled clip


def drop_frames(node_id=2, source=1):
    return Node(node_id, "FrameWeaveDropFrames", {"frames": link(source, "frames"), "timing": link(source, "timing")})


def score(node_id, frames_from, title, drop=2, frames_output="frames"):
    return Node(node_id, "FrameWeavePSNRSSIM", {"frames": link(frames_from, frames_output),
                                                "reference": link(drop, "reference"),
                                                "skip_stride": link(drop, "stride")}, title)


def save(node_id, source, prefix):
    return Node(node_id, "FrameWeaveSaveFrames", {"frames": link(source, "frames"), "timing": link(source, "timing"),
                                                  "filename_prefix": prefix})


def kept(source=2):
    return {"frames": link(source, "kept"), "timing": link(source, "kept_timing")}


def clip(source=1):
    return {"frames": link(source, "frames"), "timing": link(source, "timing")}


SCORE_NOTE = ("Drop Frames keeps frames 0, 2, 4, ...; the interpolators rebuild the frames between; each "
              "**PSNR / SSIM** node scores them against the dropped ones and shows its means and a plot of "
              "PSNR per frame.")

EXAMPLES = [
    Example("quickstart", "Flow Warp x4", "**Quick start.** The bundled 12-frame clip (uneven GIF delays) "
            "interpolated x4 with Flow Warp; **Save Frames** keeps every frame's timing and previews the GIF.",
            [load_frames(), Node(2, "FrameWeaveFlowWarp", {**clip(), "multiplier": 4}),
             save(3, 2, "quickstart")]),
    Example("evaluate_flow_vs_linear", "Linear vs Flow Warp", SCORE_NOTE,
            [load_frames(), drop_frames(), Node(3, "FrameWeaveLinearBlend", kept()),
             Node(4, "FrameWeaveFlowWarp", kept()),
             score(5, 3, "PSNR / SSIM: Linear Blend"), score(6, 4, "PSNR / SSIM: Flow Warp")]),
    Example("neco_x4", "NeCo x4", "**NeCo** fits a coordinate network to the clip (150 steps here; "
            "more steps or a time budget fit better), **Render Frames** renders it at 4x the frame rate.",
            [load_frames(), Node(2, "FrameWeaveFitNeCo", {**clip(), "steps": 150, "time_budget_s": 0.0}),
             Node(3, "FrameWeaveRenderFrames", {"model": link(2, "model"), "multiplier": 4,
                                                 "frames": link(1, "frames")}),
             save(4, 3, "neco_x4")]),
    Example("neco_evaluate", "NeCo on dropped frames", "NeCo fitted to the kept frames only, rendered at the "
            "dropped times (multiplier wired to Drop Frames' stride) and scored by **PSNR / SSIM**.",
            [load_frames(), drop_frames(),
             Node(3, "FrameWeaveFitNeCo", {**kept(), "steps": 150, "time_budget_s": 0.0}),
             Node(4, "FrameWeaveRenderFrames", {"model": link(3, "model"), "multiplier": link(2, "stride"),
                                                 "frames": link(2, "kept")}),
             score(5, 4, None)]),
    Example("siren_of_x2", "SIREN-OF x2", "**SIREN-OF**: a SIREN fitted with the optical-flow constraint "
            "(small network, 1000 steps for a CPU), rendered at 2x the frame rate.",
            [load_frames(), Node(2, "FrameWeaveOpticalFlow", {"frames": link(1, "frames")}),
             Node(3, "FrameWeaveFitSIRENOF", {**clip(), "flow": link(2, "flow"), "width": 64, "depth": 4,
                                               "steps": 1000, "time_budget_s": 0.0, "lr": 0.001,
                                               "batch_size": 2048}),
             Node(4, "FrameWeaveRenderFrames", {"model": link(3, "model"), "multiplier": 2,
                                                 "frames": link(1, "frames")}),
             save(5, 4, "siren_of_x2")]),
    Example("sepconv_x2", "SepConv x2", "**SepConv** with the shipped weights (trained on an H200; 8-variant self-ensemble): a network predicts "
            "per-pixel kernels, the new frame is their separable local convolution.",
            [load_frames(), Node(2, "FrameWeaveLoadSepConv", {"weights": WEIGHTS["sepconv"]}),
             Node(3, "FrameWeaveSepConvInterpolate", {**clip(), "model": link(2, "model")}),
             save(4, 3, "sepconv_x2")]),
    Example("gan_vs_sepconv", "SepConv vs SepConv-GAN", SCORE_NOTE.replace("the interpolators", "SepConv "
            "(L1 weights) and SepConv-GAN"),
            [load_frames(), drop_frames(),
             Node(3, "FrameWeaveLoadSepConv", {"weights": WEIGHTS["sepconv_l1_baseline"]}),
             Node(4, "FrameWeaveSepConvInterpolate", {**kept(), "model": link(3, "model")}),
             Node(5, "FrameWeaveGANInterpolate", kept()),
             score(6, 4, "PSNR / SSIM: SepConv L1"), score(7, 5, "PSNR / SSIM: SepConv-GAN")]),
    Example("pixel_shader_sepconv", "SepConv + Pixel Shader Blend", "**Pixel Shader Blend** pulls the "
            "interpolated pixels back to the plain average where the inputs agree; PSNR / SSIM before and after.",
            [load_frames(), drop_frames(), Node(3, "FrameWeaveLoadSepConv", {"weights": WEIGHTS["sepconv"]}),
             Node(4, "FrameWeaveSepConvInterpolate", {**kept(), "model": link(3, "model")}),
             Node(5, "FrameWeavePixelShaderBlend", {"frames": link(4, "frames")}),
             score(6, 4, "PSNR / SSIM: SepConv"), score(7, 5, "PSNR / SSIM: SepConv + Pixel Shader Blend")]),
    Example("pixel_shader_flow_warp", "Flow Warp + Pixel Shader Blend", "**Pixel Shader Blend** after Flow "
            "Warp; PSNR / SSIM before and after.",
            [load_frames(), drop_frames(), Node(3, "FrameWeaveFlowWarp", kept()),
             Node(4, "FrameWeavePixelShaderBlend", {"frames": link(3, "frames")}),
             score(5, 3, "PSNR / SSIM: Flow Warp"), score(6, 4, "PSNR / SSIM: Flow Warp + Pixel Shader Blend")]),
    Example("flowguided_x3", "Flow-guided vs Flow Warp", "Drop Frames keeps every third frame; "
            "**Flow-Guided Interpolate** (a small network correcting the Flow Warp's warped frames and blend) "
            "and **Flow Warp** rebuild the two frames between, each scored by **PSNR / SSIM**.",
            [load_frames(), Node(2, "FrameWeaveDropFrames", {**clip(), "k": 3}),
             Node(3, "FrameWeaveLoadFlowGuided"),
             Node(4, "FrameWeaveFlowGuidedInterpolate", {**kept(), "model": link(3, "model"), "multiplier": 3}),
             Node(5, "FrameWeaveFlowWarp", {**kept(), "multiplier": 3}),
             score(6, 4, "PSNR / SSIM: Flow-Guided"), score(7, 5, "PSNR / SSIM: Flow Warp"),
             save(8, 4, "flowguided_x3")]),
]

# width and room below the widgets for what a node shows after a run (previews, text)
NODE_WIDTH = 300
PREVIEW_ROOM = {"FrameWeaveSaveFrames": (340, 240), "FrameWeavePSNRSSIM": (380, 330),
                "FrameWeaveLoadFrames": (NODE_WIDTH, 24)}          # + the upload button


def api_workflow(example: Example, classes, titles) -> dict:
    """The API-format graph: every widget input given (defaults filled in), links as [id, index]."""
    api = {}
    for node in example.nodes:
        cls = classes[node.type]
        inputs = {}
        for name, type_spec, extra in _headless._widget_inputs(cls):
            value = node.inputs.get(name)
            if value is None:
                value = extra.get("default", type_spec[0] if isinstance(type_spec, (list, tuple)) else None)
            inputs[name] = value
        for name, value in node.inputs.items():
            if isinstance(value, tuple) and value[0] == "link":
                src = classes[next(n.type for n in example.nodes if n.id == value[1])]
                names = list(getattr(src, "RETURN_NAMES", None) or src.RETURN_TYPES)
                inputs[name] = [str(value[1]), names.index(value[2])]
        required, optional, _ = _headless._input_spec(cls)
        order = list({**required, **optional})
        inputs = {k: inputs[k] for k in sorted(inputs, key=order.index)}
        api[str(node.id)] = {"class_type": node.type, "inputs": inputs,
                             "_meta": {"title": node.title or titles.get(node.type, node.type)}}
    return api


def ui_workflow(example: Example, api: dict, classes) -> dict:
    sizes = {}
    for node_id, node in api.items():
        cls = classes[node["class_type"]]
        width, extra = PREVIEW_ROOM.get(node["class_type"], (NODE_WIDTH, 0))
        widgets = {n for n, _, _ in _headless._widget_inputs(cls)}
        linked = sum(1 for k, v in node["inputs"].items() if isinstance(v, list) and k in widgets)
        sizes[node_id] = _ui_format.node_size(cls, linked, extra, width)
    positions = _ui_format.column_layout(api, sizes)
    first_column = [i for i in api if positions[i][0] == positions["1"][0]]
    bottom = max(positions[i][1] + sizes[i][1] for i in first_column)
    note = (example.note, [positions["1"][0], bottom + 70], [NODE_WIDTH, 150])
    return _ui_format.api_to_ui(api, classes, sizes, positions, notes=[note])


def chain_text(example: Example, titles) -> str:
    """'Load Frames > Flow Warp Interpolate > Save Frames' from the node display names (ASCII: the
    font Pillow bundles has no arrows)."""
    seen, parts = set(), []
    for node in example.nodes:
        short = titles.get(node.type, node.type).replace(" (FrameWeave)", "")
        if short not in seen:
            seen.add(short)
            parts.append(short)
    return " > ".join(parts)


def thumbnail(example: Example, titles):
    """256x256 card: the caption, three frames of the bundled clip with the inserted frames marked
    between them, and the chain of nodes."""
    from PIL import Image, ImageDraw, ImageFont  # noqa: PLC0415

    def font(size):
        try:
            return ImageFont.load_default(size=size)
        except (TypeError, OSError):
            return ImageFont.load_default()

    gif = Image.open(HERE / "pan_zoom.gif")
    frames = []
    for index in (0, 5, 11):
        gif.seek(index)
        frames.append(gif.convert("RGB").resize((72, 48), Image.Resampling.LANCZOS))
    card = Image.new("RGB", (THUMB_SIZE, THUMB_SIZE), (32, 34, 38))
    draw = ImageDraw.Draw(card)
    draw.text((14, 14), "FrameWeave", fill=(140, 170, 220), font=font(13))
    y = 36
    for line in _wrap(draw, example.caption, font(22), THUMB_SIZE - 28):
        draw.text((14, y), line, fill=(245, 245, 245), font=font(22))
        y += 27
    top = 118
    for k, frame in enumerate(frames):
        x = 14 + k * 83
        card.paste(frame, (x, top))
        draw.rectangle((x - 1, top - 1, x + 72, top + 48), outline=(90, 95, 105))
        if k < 2:
            for dot in range(3):                     # the inserted frames
                draw.ellipse((x + 73 + dot * 3, top + 22, x + 75 + dot * 3, top + 25), fill=(230, 190, 90))
    y = top + 62
    for line in _wrap(draw, chain_text(example, titles), font(12), THUMB_SIZE - 28)[:5]:
        draw.text((14, y), line, fill=(190, 195, 205), font=font(12))
        y += 15
    return card


def _wrap(draw, text: str, font, width: int) -> list:
    lines, line = [], ""
    for word in text.split(" "):
        trial = f"{line} {word}".strip()
        if line and draw.textlength(trial, font=font) > width:
            lines.append(line)
            line = word
        else:
            line = trial
    return lines + ([line] if line else [])


def _json(data) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def render_all(out: Path = OUT) -> dict:
    """{path: bytes} of every file this script writes."""
    import io  # noqa: PLC0415

    classes = frameweave.NODE_CLASS_MAPPINGS
    titles = frameweave.NODE_DISPLAY_NAME_MAPPINGS
    files = {}
    for example in EXAMPLES:
        api = api_workflow(example, classes, titles)
        files[out / API_FOLDER / f"{example.name}.json"] = _json(api).encode()
        files[out / f"{example.name}.json"] = _json(ui_workflow(example, api, classes)).encode()
        buffer = io.BytesIO()
        thumbnail(example, titles).save(buffer, format="JPEG", quality=88, optimize=True)
        files[out / f"{example.name}.jpg"] = buffer.getvalue()
    return files


def stale_files(files: dict, include_thumbnails: bool = True) -> list:
    """Paths whose content on disk differs from ``files`` (thumbnails optional: JPEG bytes can
    differ between Pillow/libjpeg versions)."""
    return [p for p, data in files.items() if (include_thumbnails or p.suffix != ".jpg")
            and (not p.is_file() or p.read_bytes() != data)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report files that would change")
    args = parser.parse_args(argv)
    files = render_all()
    stale = stale_files(files)
    if args.check:
        for p in stale:
            print(f"out of date: {p.relative_to(ROOT)}")
        return 1 if stale else 0
    for p in stale:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(files[p])
        print(f"wrote {p.relative_to(ROOT)} ({len(files[p])} bytes)")
    print(f"{len(EXAMPLES)} examples, {len(stale)} file(s) written, {len(files) - len(stale)} unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
