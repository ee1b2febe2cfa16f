"""Plain SepConv (L1) vs SepConv-GAN on the dev triplets: PSNR, SSIM, sharpness, and a picture grid.

    python benchmarks/gan.py --l1 WEIGHTS --gan WEIGHTS [--extra LABEL=WEIGHTS ...]
                             [--data ../shared/data/dev] [--grid docs/images/gan_grid_synthetic.png] [--threads 1]

WEIGHTS is a registry name (weights/ folder), a .safetensors file, a training run directory (its
newest checkpoint) or a ckpt-*.json. Every triplet in ``triplets/ucf101_adacof`` and
``triplets/vimeo90k_sample`` is interpolated at t = 0.5 by the linear blend and by each network;
``vfi_core.metrics`` scores it against the real middle frame: PSNR (0..255 RGB), SSIM (Wang et al.
2004) and the sharpness ratio mean|∇Î| / mean|∇I_gt| (1 = as sharp as the truth; blur < 1).
Prints a markdown table, writes benchmarks/results/gan.md and a picture grid (inputs, ground truth,
linear, L1, GAN; full frame and a 3x zoom) for the README, drawn on the project's own synthetic
triplets (the dev footage may not be redistributed).
"""
import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from frameweave.vfi_core import metrics
from frameweave.vfi_core.machine import machine_description, write_report

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "dev"
SETS = ("ucf101_adacof", "vimeo90k_sample")
ZOOM = 3                  # magnification of the detail row in the picture grid


def machine() -> str:
    return machine_description(opencv=False)


def load_image(path: Path) -> torch.Tensor:
    return torch.from_numpy(np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0)[None]


def triplets(data: Path, name: str) -> list:
    folder = data / "triplets" / name
    dirs = sorted((d for d in folder.iterdir() if (d / "gt.png").exists()), key=lambda d: (len(d.name), d.name))
    return [(d.name, load_image(d / "f0.png"), load_image(d / "gt.png"), load_image(d / "f1.png")) for d in dirs]


def load_model(spec: str, tmp: Path):
    """A SepConvNet from a registry name / .safetensors / run dir / ckpt json."""
    from frameweave.vfi_core.weights import export_checkpoint, load_weights

    p = Path(spec)
    if p.is_dir() or p.suffix == ".json":
        out = tmp / f"{p.stem or p.name}.safetensors"
        export_checkpoint(p, out)
        spec = str(out)
    return load_weights(spec).eval()


def describe(spec: str) -> str:
    from frameweave.vfi_core.weights import read_manifest
    p = Path(spec)
    if p.is_dir() or p.suffix == ".json":
        import json
        from frameweave.vfi_core.sepconv_train import latest_checkpoint
        ckpt = latest_checkpoint(p) if p.is_dir() else p
        return f"checkpoint {ckpt.name} (step {json.loads(ckpt.read_text())['step']})"
    for e in read_manifest()["weights"]:
        if e["name"] == spec:
            return f"weights/{spec} ({e.get('training', {}).get('steps', '?')} steps)"
    return p.name


@torch.no_grad()
def midpoint(model, f0: torch.Tensor, f1: torch.Tensor) -> torch.Tensor:
    return model.interpolate(f0, f1).clamp(0, 1)                                # [1,H,W,3]


def score(pred: torch.Tensor, gt: torch.Tensor) -> tuple:
    return (float(metrics.psnr(pred, gt)[0]), float(metrics.ssim(pred, gt)[0]),
            float(metrics.sharpness_ratio(pred, gt)[0]))


def to_uint8(x: torch.Tensor) -> np.ndarray:
    return (x[0].clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)


def picture_grid(rows, labels, path: Path, boxes) -> None:
    """rows: list of lists of IMAGE [1,H,W,3] (one frame size); each row full frames, then a 3x zoom
    of the row's box (y, x, h, w) in every column. Written as .part and renamed."""
    h, w = boxes[0][2:]
    tiles = []
    for row in rows:
        full = [to_uint8(t) for t in row]
        y, x = boxes[len(tiles)][:2]
        zoom = [np.asarray(Image.fromarray(f[y:y + h, x:x + w]).resize((ZOOM * w, ZOOM * h), Image.NEAREST)) for f in full]
        tiles.append((full, zoom))
    H, W = rows[0][0].shape[1:3]
    pad, label_h = 4, 16
    cols = len(labels)
    cell_w = max(W, ZOOM * w)
    canvas = Image.new("RGB", (cols * (cell_w + pad) + pad,
                               len(rows) * (label_h + H + pad + ZOOM * h + pad) + pad), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    top = pad
    for (full, zoom), (y, x, _, _) in zip(tiles, boxes):
        for c, (f, z, label) in enumerate(zip(full, zoom, labels)):
            left = pad + c * (cell_w + pad)
            draw.text((left, top + 2), label, fill=(0, 0, 0))
            canvas.paste(Image.fromarray(f), (left, top + label_h))
            draw.rectangle([left + x, top + label_h + y, left + x + w, top + label_h + y + h], outline=(255, 0, 0))
            canvas.paste(Image.fromarray(z), (left, top + label_h + H + pad))
        top += label_h + H + pad + ZOOM * h + pad
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    canvas.save(part, format="PNG")
    os.replace(part, path)


def synthetic_triplets(seeds: str, size=(192, 256), max_disp=10.0):
    """(f0, gt, f1) [1,H,W,3] each from the project's synthetic generator (scikit-image photos moving
    as occluding layers). The picture grid is made from these, never from the dev footage, whose
    licences do not allow it to be redistributed in the repository."""
    from frameweave.vfi_core.synthetic_motion import SyntheticTriplets  # noqa: PLC0415

    source = SyntheticTriplets(size, max_disp=max_disp, layers=(2, 3))
    out = []
    for seed in (int(v) for v in seeds.split(",")):
        first, middle, last = source.sample(np.random.default_rng(seed))
        out.append(tuple(torch.from_numpy(x)[None] for x in (first, middle, last)))
    return out


def busiest_box(f0, f1, size=64):
    """(y, x, size, size) window of largest |I1 - I0| (where interpolation matters)."""
    d = (f1 - f0).abs().mean(-1)[0]                                             # [H,W]
    pooled = torch.nn.functional.avg_pool2d(d[None, None], size, stride=8)[0, 0]
    i = int(pooled.argmax())
    return (i // pooled.shape[1]) * 8, (i % pooled.shape[1]) * 8, size, size


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--l1", required=True, help="plain SepConv (L1) weights")
    p.add_argument("--gan", required=True, help="SepConv-GAN weights")
    p.add_argument("--extra", action="append", default=[], help="LABEL=WEIGHTS: more rows (e.g. the GAN's start)")
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--grid", default=str(ROOT / "docs" / "images" / "gan_grid_synthetic.png"))
    p.add_argument("--grid-seeds", default="3,8",
                   help="seeds of the project's own synthetic triplets shown in the picture grid")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "gan.md"))
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--update-manifest", action="store_true",
                   help="write the GAN weights' scores into weights/manifest.json (--gan must be a registry name)")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    data = Path(a.data)
    if not (data / "triplets").is_dir():
        print(f"no dev triplets under {data}", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="fw_gan_bench_"))
    specs = [("SepConv L1", a.l1), ("SepConv-GAN", a.gan)] + [tuple(e.split("=", 1)) for e in a.extra]
    models = {label: load_model(spec, tmp) for label, spec in specs}
    results = {}                                    # (set, method) -> list of (psnr, ssim, sharp)
    for set_name in SETS:
        for name, f0, gt, f1 in triplets(data, set_name):
            preds = {"linear blend": (f0 + f1) / 2}
            for label, model in models.items():
                preds[label] = midpoint(model, f0, f1)
            for label, pred in preds.items():
                results.setdefault((set_name, label), []).append(score(pred, gt))
    labels = ["linear blend"] + list(models)
    lines = ["| set | method | weights | PSNR dB | SSIM | sharpness ratio |", "|---|---|---|---|---|---|"]
    for set_name in SETS:
        for label in labels:
            arr = np.array(results[(set_name, label)])
            w = "-" if label == "linear blend" else describe(dict(specs)[label])
            lines.append(f"| {set_name} ({len(arr)}) | {label} | {w} | {arr[:, 0].mean():.2f} | "
                         f"{arr[:, 1].mean():.4f} | {arr[:, 2].mean():.3f} |")
    table = "\n".join(lines)
    header = (f"# SepConv L1 vs SepConv-GAN on the dev triplets\n\nMachine: {machine()}.\n"
              "PSNR on 0..255 RGB, SSIM (Wang et al. 2004, 11x11 Gaussian σ 1.5), sharpness ratio = "
              "mean gradient magnitude of the estimate / of the ground truth (vfi_core.metrics; 1 = as sharp "
              "as the truth, < 1 blurrier). Command: `python benchmarks/gan.py "
              + " ".join(argv if argv is not None else sys.argv[1:]) + "`\n\n")
    print(table)
    write_report(a.out, header + table + "\n")
    if a.update_manifest:
        from frameweave.vfi_core.weights import read_manifest, update_manifest
        entry = next((e for e in read_manifest()["weights"] if e["name"] == a.gan), None)
        if entry is None:
            print(f"{a.gan} is not in weights/manifest.json; not updated", file=sys.stderr)
        else:
            scores = {}
            for set_name in SETS:
                g = np.array(results[(set_name, "SepConv-GAN")])
                lin = np.array(results[(set_name, "linear blend")])
                l1 = np.array(results[(set_name, "SepConv L1")])
                scores[set_name] = {"psnr": round(float(g[:, 0].mean()), 3), "ssim": round(float(g[:, 1].mean()), 4),
                                    "sharpness_ratio": round(float(g[:, 2].mean()), 3), "triplets": len(g),
                                    "baseline_linear_psnr": round(float(lin[:, 0].mean()), 3),
                                    "sepconv_l1_psnr": round(float(l1[:, 0].mean()), 3),
                                    "sepconv_l1_weights": describe(a.l1)}
            entry["scores"] = scores
            entry["scores_machine"] = machine()
            update_manifest(entry)
            print(f"scores of {a.gan} written to weights/manifest.json")
    rows, boxes = [], []
    for f0, gt, f1 in synthetic_triplets(a.grid_seeds):
        preds = [(f0 + f1) / 2] + [midpoint(model, f0, f1) for model in models.values()]
        rows.append([f0, f1, gt] + preds)
        boxes.append(busiest_box(f0, f1))
    picture_grid(rows, ["I0", "I1", "ground truth", "linear"] + list(models), Path(a.grid), boxes)
    print(f"grid: {a.grid}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
