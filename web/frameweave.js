// FrameWeave in ComfyUI's front end (written against front end 1.27.10):
//  - text a FrameWeave node reports in ui.text (PSNR / SSIM means and table, Save Frames notes,
//    Save INR's path) is shown on the node in a read-only text box; the stock front end shows
//    ui.text only for its own Preview Any node;
//  - a GIF that Save Frames reports is shown playing: the front end draws non-animated outputs on
//    the canvas (a still first frame) and puts animated ones that are not WebP/PNG into a <video>,
//    which cannot play a GIF, so the node reports the GIF as a still image and this switches the
//    node to the front end's <img> view of animated images once the GIF has loaded;
//  - a node whose output changes kind between runs (Save Frames: GIF, MP4, PNG folder...) starts
//    from a clean preview: the front end keeps a node that once showed a video in video mode and
//    leaves the previous <img> or <video> on it;
//  - Load Frames gets an upload button (and takes files dropped on it) for clips of every format
//    it reads; the stock upload button of Load Image only offers PNG/JPEG/WebP or MP4/WebM.
// Widgets added here are neither saved with the workflow nor sent with the prompt.
import { ANIM_PREVIEW_WIDGET, app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { ComfyWidgets } from "../../scripts/widgets.js";

const PREFIX = "FrameWeave";
const REPORT_WIDGET = "frameweave_report";
// the front end's preview widgets (1.27.10): animated <img>, image drawn on the canvas, <video>
const PREVIEW_WIDGETS = new Set([ANIM_PREVIEW_WIDGET, "$$canvas-image-preview", "video-preview"]);
const UPLOAD_ACCEPT = [".gif", ".png", ".apng", ".webp", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff",
  ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", "image/*", "video/*"].join(",");

function fitNodeToWidgets(node) {
  const needed = node.computeSize();
  node.setSize([Math.max(node.size[0], needed[0]), Math.max(node.size[1], needed[1])]);
  app.graph.setDirtyCanvas(true, true);
}

function showReport(node, texts) {
  let widget = node.widgets?.find((w) => w.name === REPORT_WIDGET);
  if (!widget) {
    widget = ComfyWidgets.STRING(node, REPORT_WIDGET, ["STRING", { multiline: true }], app).widget;
    keepOutOfWorkflow(widget);
    if (widget.inputEl) {
      widget.inputEl.readOnly = true;
      widget.inputEl.placeholder = "";
    }
  }
  widget.value = texts.join("\n\n");
  fitNodeToWidgets(node);
}

function keepOutOfWorkflow(widget) {
  widget.serialize = false;                                       // not in the saved widgets_values
  widget.options ??= {};
  widget.options.serialize = false;                               // not in the queued prompt
}

function clearPreviews(node) {
  for (let i = (node.widgets?.length ?? 0) - 1; i >= 0; i--) {
    const widget = node.widgets[i];
    if (PREVIEW_WIDGETS.has(widget.name)) {
      widget.onRemove?.();
      node.widgets.splice(i, 1);
    }
  }
  // the next draw then treats the new output as new and picks its element afresh
  Object.assign(node, { imgs: undefined, images: undefined, animatedImages: undefined,
    videoContainer: undefined, previewMediaType: undefined });
}

function reportsGif(node) {
  return (node.images ?? []).some((image) => /\.gif$/i.test(image?.filename ?? ""));
}

function playGifPreviews(node) {
  const draw = node.onDrawBackground;
  node.onDrawBackground = function (...args) {
    const result = draw?.apply(this, args);
    if (!this.animatedImages && this.imgs?.length && reportsGif(this)) {
      this.animatedImages = true;  // next draw: the <img> view that plays animated images
      app.graph.setDirtyCanvas(true, false);
    }
    return result;
  };
}

async function uploadClip(file) {
  const body = new FormData();
  body.append("image", file);           // ComfyUI's upload route takes any file under this name
  body.append("type", "input");
  body.append("subfolder", "");
  const response = await api.fetchApi("/upload/image", { method: "POST", body });
  if (response.status !== 200) {
    throw new Error(`${response.status} ${response.statusText}`);
  }
  const saved = await response.json();
  return saved.subfolder ? `${saved.subfolder}/${saved.name}` : saved.name;
}

function addUploadButton(node) {
  const pathWidget = node.widgets?.find((w) => w.name === "path");
  if (!pathWidget) return;
  const chooser = document.createElement("input");
  Object.assign(chooser, { type: "file", accept: UPLOAD_ACCEPT });
  chooser.style.display = "none";
  document.body.append(chooser);

  const select = async (file) => {
    if (!file) return false;
    try {
      const name = await uploadClip(file);
      const values = pathWidget.options.values;
      if (Array.isArray(values) && !values.includes(name)) values.unshift(name);
      pathWidget.value = name;
      pathWidget.callback?.(name);
      app.graph.setDirtyCanvas(true, false);
    } catch (error) {
      app.extensionManager?.toast?.add({ severity: "error", summary: "FrameWeave: upload failed",
        detail: `${file.name}: ${error.message}`, life: 8000 });
    }
    return true;
  };

  chooser.addEventListener("change", async () => {
    await select(chooser.files?.[0]);
    chooser.value = "";
  });
  const button = node.addWidget("button", "upload", null, () => chooser.click(), { serialize: false });
  button.label = "choose file to upload";
  keepOutOfWorkflow(button);
  fitNodeToWidgets(node);

  node.onDragOver = (event) => !!event.dataTransfer?.types?.includes?.("Files");
  node.onDragDrop = (event) => select(event.dataTransfer?.files?.[0]);
  const removed = node.onRemoved;
  node.onRemoved = function (...args) {
    chooser.remove();
    return removed?.apply(this, args);
  };
}

app.registerExtension({
  name: "FrameWeave.NodeDisplay",
  beforeRegisterNodeDef(nodeType, nodeData) {
    if (!nodeData?.name?.startsWith(PREFIX)) return;
    const executed = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (message) {
      if (message?.images?.length) clearPreviews(this);
      const result = executed?.apply(this, arguments);
      const texts = (message?.text ?? []).filter((t) => typeof t === "string" && t.length);
      if (texts.length) showReport(this, texts);
      return result;
    };
    const created = nodeType.prototype.onNodeCreated;
    const uploads = !!nodeData.input?.required?.path?.[1]?.frameweave_upload;
    nodeType.prototype.onNodeCreated = function () {
      const result = created?.apply(this, arguments);
      playGifPreviews(this);
      if (uploads) addUploadButton(this);
      return result;
    };
  },
});
