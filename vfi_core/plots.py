"""Small line plots drawn with Pillow, returned as an IMAGE (no matplotlib dependency).

``line_plot`` draws one or more series (PSNR per frame, a training loss per step, ...) with axes,
numbered ticks, a legend and a dashed line at each series' mean, and returns float32 [1,H,W,3]
in 0..1, ready for ComfyUI's Preview Image or Save Frames.
"""
import math

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

PALETTE = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]
BACKGROUND, INK, GRID = (255, 255, 255), (30, 30, 30), (225, 225, 225)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)   # Pillow >= 10.1 with FreeType
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


def nice_ticks(lo: float, hi: float, target: int = 6) -> list:
    """Round tick values covering [lo, hi], spaced 1, 2 or 5 x 10^n (about ``target`` ticks)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"tick range must be finite, got {lo}..{hi}")
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(1, target - 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks, v = [], first
    while v <= hi + step * 1e-9:
        ticks.append(0.0 if abs(v) < step * 1e-9 else v)
        v += step
    return ticks


def _label(v: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step))) if step > 0 else 0
    return f"{v:.{min(decimals, 6)}f}"


def _text_size(draw, text, font):
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    return right - left, bottom - top


def line_plot(values_per_series: dict, title: str = "", ylabel: str = "", size=(640, 320),
              xlabel: str = "frame", x_values: dict | None = None, show_mean: bool = True) -> torch.Tensor:
    """Draw ``{series name: [y, ...]}`` as lines; returns float32 [1,H,W,3] in 0..1.

    ``size`` is (width, height) in pixels. Series are plotted against their index (0, 1, ...) unless
    ``x_values[name]`` gives their x positions. Non-finite values (inf, nan) are left out of the
    line and the axis range. With ``show_mean`` a dashed line marks each series' mean, also shown
    in the legend. Raises ValueError for no series, no finite value, or a size under 160x120.
    """
    width, height = int(size[0]), int(size[1])
    if width < 160 or height < 120:
        raise ValueError(f"plot size {width}x{height} is too small: need at least 160x120 pixels")
    if not values_per_series:
        raise ValueError("line_plot needs at least one series")
    series = []
    for name, ys in values_per_series.items():
        y = np.asarray([float(v) for v in ys], dtype=np.float64)
        xs = (np.asarray([float(v) for v in x_values[name]], dtype=np.float64)
              if x_values and name in x_values else np.arange(y.size, dtype=np.float64))
        if xs.shape != y.shape:
            raise ValueError(f"series {name!r}: {y.size} values but {xs.size} x positions")
        ok = np.isfinite(y) & np.isfinite(xs)
        series.append((str(name), xs, y, ok))
    all_y = np.concatenate([y[ok] for _, _, y, ok in series])
    all_x = np.concatenate([x[ok] for _, x, _, ok in series])
    if all_y.size == 0:
        raise ValueError("line_plot: no finite value to draw")

    y_lo, y_hi = float(all_y.min()), float(all_y.max())
    pad = 0.08 * (y_hi - y_lo) if y_hi > y_lo else max(1.0, abs(y_hi) * 0.05)
    y_ticks = nice_ticks(y_lo - pad, y_hi + pad)
    y_lo, y_hi = min(y_ticks[0], y_lo - pad), max(y_ticks[-1], y_hi + pad)
    x_lo, x_hi = float(all_x.min()), float(all_x.max())
    if x_hi <= x_lo:
        x_lo, x_hi = x_lo - 1.0, x_hi + 1.0
    x_ticks = [t for t in nice_ticks(x_lo, x_hi, target=max(3, width // 90)) if x_lo <= t <= x_hi]
    if all(float(x).is_integer() for x in all_x):
        x_ticks = [t for t in x_ticks if float(t).is_integer()] or [x_lo, x_hi]

    img = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(img)
    font, small = _font(max(11, height // 24)), _font(max(10, height // 28))
    y_step = y_ticks[1] - y_ticks[0] if len(y_ticks) > 1 else 1.0
    y_labels = [_label(t, y_step) for t in y_ticks]
    label_w = max(_text_size(draw, s, small)[0] for s in y_labels)
    th = _text_size(draw, "0", small)[1]
    left = 14 + label_w + (th + 6 if ylabel else 0)
    right, top, bottom = width - 12, (10 + th * 2 if title else 12), height - (th * 2 + 16)
    if right - left < 40 or bottom - top < 40:
        raise ValueError(f"plot size {width}x{height} leaves no room for the axes")

    def px(x):
        return left + (x - x_lo) / (x_hi - x_lo) * (right - left)

    def py(y):
        return bottom - (y - y_lo) / (y_hi - y_lo) * (bottom - top)

    # grid, ticks, numbers
    for t, s in zip(y_ticks, y_labels):
        yy = py(t)
        draw.line([(left, yy), (right, yy)], fill=GRID)
        draw.line([(left - 4, yy), (left, yy)], fill=INK)
        tw, _ = _text_size(draw, s, small)
        draw.text((left - 6 - tw, yy - th / 2 - 1), s, fill=INK, font=small)
    x_step = x_ticks[1] - x_ticks[0] if len(x_ticks) > 1 else 1.0
    for t in x_ticks:
        xx = px(t)
        draw.line([(xx, top), (xx, bottom)], fill=GRID)
        draw.line([(xx, bottom), (xx, bottom + 4)], fill=INK)
        s = _label(t, x_step) if not float(t).is_integer() else str(int(t))
        tw, _ = _text_size(draw, s, small)
        draw.text((xx - tw / 2, bottom + 6), s, fill=INK, font=small)
    draw.rectangle([left, top, right, bottom], outline=INK)
    if title:
        tw, _ = _text_size(draw, title, font)
        draw.text(((width - tw) / 2, 4), title, fill=INK, font=font)
    if xlabel:
        tw, _ = _text_size(draw, xlabel, small)
        draw.text(((left + right - tw) / 2, height - th - 6), xlabel, fill=INK, font=small)
    if ylabel:
        lw, lh = _text_size(draw, ylabel, small)
        tag = Image.new("RGB", (lw + 4, lh + 6), BACKGROUND)
        ImageDraw.Draw(tag).text((2, 0), ylabel, fill=INK, font=small)
        tag = tag.rotate(90, expand=True)
        img.paste(tag, (4, int((top + bottom - tag.height) / 2)))

    # lines, markers, mean lines
    legend = []
    for i, (name, xs, ys, ok) in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        pts = [(px(x), py(y)) for x, y, good in zip(xs, ys, ok) if good]
        # a gap (non-finite value) breaks the line
        run = []
        for x, y, good in zip(xs, ys, ok):
            if good:
                run.append((px(x), py(y)))
            else:
                if len(run) > 1:
                    draw.line(run, fill=colour, width=2)
                run = []
        if len(run) > 1:
            draw.line(run, fill=colour, width=2)
        if len(pts) <= 60:
            for x, y in pts:
                draw.ellipse([x - 2.5, y - 2.5, x + 2.5, y + 2.5], fill=colour)
        text = name
        if show_mean and pts:
            mean = float(ys[ok].mean())
            ym = py(mean)
            for xx in np.arange(left, right, 8.0):
                draw.line([(xx, ym), (min(xx + 4, right), ym)], fill=colour, width=1)
            text = f"{name} (mean {mean:.{max(2, min(6, -math.floor(math.log10(y_step)) + 1))}f})"
        legend.append((text, colour))

    # legend box in the top-right corner of the plot area
    lw = max(_text_size(draw, t, small)[0] for t, _ in legend) + 26
    row = th + 6
    lx0, ly0 = right - lw - 6, top + 6
    draw.rectangle([lx0, ly0, right - 6, ly0 + row * len(legend) + 4], fill=BACKGROUND, outline=GRID)
    for j, (t, colour) in enumerate(legend):
        yy = ly0 + 4 + j * row + row / 2
        draw.line([(lx0 + 4, yy), (lx0 + 18, yy)], fill=colour, width=3)
        draw.text((lx0 + 22, yy - th / 2 - 1), t, fill=INK, font=small)

    arr = np.asarray(img, dtype=np.float32) / 255.0                     # [H,W,3]
    return torch.from_numpy(arr).unsqueeze(0).contiguous()              # [1,H,W,3]
