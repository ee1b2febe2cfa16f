"""On-the-fly synthetic triplets with exact middle frames (FlyingChairs-style layers).

Dosovitskiy et al., "FlowNet" (ICCV 2015) render training pairs by moving textured objects over a
moving background with random affine motions. We do the same with textured layers cut from real
photos (scikit-image's bundled images) and render three instants t = 0, 0.5, 1, so the middle
frame is the exact ground truth for a midpoint interpolator.

Each layer has a texture (photo crop, in texture pixel coordinates u), a mask (ellipse or polygon,
also in u, the background's is all ones) and an affine motion about its centre c:

    A(t) p = c + d + v (t - 1/2) + R(w (t - 1/2)) S(exp(s (t - 1/2))) M (p - c)

(translation velocity v, angular velocity w, log-scale rate s, fixed placement d and pose M).
A canvas pixel p at time t shows texture point A(t)^-1 p (inverse warping with bilinear
sampling); layers are composited back to front with their warped masks (occlusions included).

Reach: an output pixel of SepConv gathers only within ±R pixels of itself in each input
(R = K // 2). For every layer, the displacement of the point under canvas pixel p between
t = 1/2 and t = 0 or 1, ``A(0 or 1) A(1/2)^-1 p - p``, is kept within ``max_disp`` by scaling the
layer's motion down until it fits (affine maps: the maximum over the canvas is at a corner).
"""
import functools

import numpy as np
import torch
import torch.nn.functional as F

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "camera", "cat", "hubble_deep_field",
          "immunohistochemistry", "moon", "page", "text", "coins", "brick", "grass", "gravel",
          "retina", "colorwheel", "logo", "horse", "motorcycle_left", "motorcycle_right")


def load_photos(names=PHOTOS, max_side: int = 512) -> list:
    """Bundled scikit-image photos as float32 [H,W,3] in 0..1 (gray ones replicated to RGB); the
    ones this install lacks (some need a download) are skipped. Cached per (names, max_side)."""
    return list(_load_photos(tuple(names), int(max_side)))


@functools.lru_cache(maxsize=4)
def _load_photos(names: tuple, max_side: int) -> tuple:
    import skimage.data

    out = []
    for name in names:
        fn = getattr(skimage.data, name, None)
        if fn is None:
            continue
        try:
            img = np.asarray(fn())
        except Exception:  # noqa: BLE001  (an image that needs a download: skip it)
            continue
        if img.dtype == bool:
            img = img.astype(np.float32)
        if img.ndim == 2:
            img = np.stack([img] * 3, axis=-1)
        img = img[..., :3].astype(np.float32)
        if img.max() > 1.0:
            img = img / 255.0
        if img.shape[0] < 64 or img.shape[1] < 64:
            continue
        scale = max_side / max(img.shape[:2])
        if scale < 1:
            t = torch.from_numpy(img).permute(2, 0, 1)[None]
            t = F.interpolate(t, scale_factor=scale, mode="area")
            img = t[0].permute(1, 2, 0).numpy()
        img = np.ascontiguousarray(img.clip(0, 1))
        img.flags.writeable = False                                     # shared by the cache
        out.append(img)
    if not out:
        raise RuntimeError("no scikit-image photos available for synthetic triplets (install scikit-image)")
    return tuple(out)


def _rot_scale(angle: float, log_scale: float) -> np.ndarray:
    c, s, k = np.cos(angle), np.sin(angle), np.exp(log_scale)
    return k * np.array([[c, -s], [s, c]])


class _Layer:
    """One moving textured layer: affine motion A(t) (2x2 matrix + translation), texture, mask."""

    def __init__(self, texture, mask, centre, pose, offset, velocity, ang_rate, scale_rate):
        self.texture, self.mask = texture, mask          # [3,h,w], [1,h,w] torch
        self.centre = np.asarray(centre, np.float64)     # texture point mapped to canvas centre + offset
        self.pose = np.asarray(pose, np.float64)         # 2x2
        self.offset = np.asarray(offset, np.float64)     # canvas position of the texture centre at t=1/2
        self.velocity = np.asarray(velocity, np.float64)
        self.ang_rate, self.scale_rate = float(ang_rate), float(scale_rate)

    def matrix(self, t: float, motion_scale: float = 1.0):
        """A(t) as (M [2x2], b [2]): canvas p = M u + b for texture point u (x, y order)."""
        dt = (t - 0.5) * motion_scale
        m = _rot_scale(self.ang_rate * dt, self.scale_rate * dt) @ self.pose
        b = self.offset + self.velocity * dt - m @ self.centre
        return m, b

    def max_displacement(self, size, motion_scale: float) -> float:
        """max over canvas corners p of |A(t) A(1/2)^-1 p - p| for t in {0, 1}."""
        h, w = size
        corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], np.float64).T  # [2,4]
        m_half, b_half = self.matrix(0.5, motion_scale)
        u = np.linalg.solve(m_half, corners - b_half[:, None])
        worst = 0.0
        for t in (0.0, 1.0):
            m, b = self.matrix(t, motion_scale)
            worst = max(worst, float(np.abs(m @ u + b[:, None] - corners).max()))
        return worst

    def render(self, t: float, size, motion_scale: float):
        """(colour [3,H,W], alpha [1,H,W]) of this layer at time t by inverse bilinear warping."""
        h, w = size
        m, b = self.matrix(t, motion_scale)
        minv = np.linalg.inv(m)
        ys, xs = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
        p = np.stack([xs.ravel() - b[0], ys.ravel() - b[1]])               # [2,H*W]
        u = minv @ p                                                       # texture coords (x, y)
        th, tw = self.texture.shape[-2:]
        gx = u[0] / (tw - 1) * 2 - 1
        gy = u[1] / (th - 1) * 2 - 1
        grid = torch.from_numpy(np.stack([gx, gy], -1).reshape(1, h, w, 2).astype(np.float32))
        colour = F.grid_sample(self.texture[None], grid, mode="bilinear", padding_mode="reflection",
                               align_corners=True)[0]
        alpha = F.grid_sample(self.mask[None], grid, mode="bilinear", padding_mode="zeros",
                              align_corners=True)[0]
        return colour, alpha


class SyntheticTriplets:
    """Random FlyingChairs-style triplets (I0, I_0.5, I1) made from real photos.

    Args:
        size: (h, w) of the rendered canvas.
        max_disp: largest displacement (pixels) of any point between the middle frame and either
            input; set it to the interpolator's reach (K // 2) so the truth is reachable.
        layers: (min, max) number of foreground layers over the moving background.
        photos: list of float32 [H,W,3] photos (default: scikit-image's bundled ones).
        static_fraction: probability that a layer does not move at all (real footage is full of
            static areas; 0 = every layer moves, the stream of earlier versions exactly).

    ``sample(rng)`` draws one triplet with a ``numpy.random.Generator`` (all randomness comes from
    it, so the stream is reproducible from the generator's state) and returns three float32
    [h,w,3] arrays in 0..1: first, middle (ground truth), last.
    """

    def __init__(self, size=(128, 128), max_disp: float = 12.0, layers=(1, 4), photos=None,
                 static_fraction: float = 0.0):
        self.size = (int(size[0]), int(size[1]))
        if min(self.size) < 8:
            raise ValueError(f"synthetic canvas too small: {self.size}")
        if not max_disp >= 0:
            raise ValueError(f"max_disp must be >= 0, got {max_disp}")
        self.max_disp = float(max_disp)
        if not 0.0 <= float(static_fraction) <= 1.0:
            raise ValueError(f"static_fraction must lie in [0, 1], got {static_fraction}")
        self.static_fraction = float(static_fraction)
        self.layers = (int(layers[0]), int(layers[1]))
        self.photos = photos if photos is not None else load_photos()
        self._tex = [torch.tensor(p).permute(2, 0, 1).contiguous() for p in self.photos]

    # --- random layers -------------------------------------------------------------------
    def _texture(self, rng, out_h: int, out_w: int, zoom: float) -> torch.Tensor:
        """A random crop of a random photo covering (out_h, out_w) canvas pixels at ``zoom``."""
        src = self._tex[rng.integers(len(self._tex))]
        sh, sw = src.shape[-2:]
        ch = min(sh, max(8, int(round(out_h / zoom))))
        cw = min(sw, max(8, int(round(out_w / zoom))))
        y0, x0 = rng.integers(0, sh - ch + 1), rng.integers(0, sw - cw + 1)
        crop = src[:, y0:y0 + ch, x0:x0 + cw]
        if rng.random() < 0.5:
            crop = crop.flip(-1)
        gain = rng.uniform(0.7, 1.2, size=3).astype(np.float32)           # colour jitter
        crop = (crop * torch.from_numpy(gain)[:, None, None]).clamp(0, 1)
        # resample to canvas scale so inverse warping does not alias (area filter)
        th, tw = max(8, int(round(ch * zoom))), max(8, int(round(cw * zoom)))
        return F.interpolate(crop[None], size=(th, tw), mode="area" if zoom < 1 else "bilinear",
                             align_corners=None if zoom < 1 else False)[0].contiguous()

    @staticmethod
    def _mask(rng, th: int, tw: int) -> torch.Tensor:
        """Ellipse or random star-shaped polygon filling most of a th x tw texture, soft edge."""
        ys, xs = np.meshgrid(np.linspace(-1, 1, th), np.linspace(-1, 1, tw), indexing="ij")
        if rng.random() < 0.5:
            r = np.hypot(xs, ys)
        else:
            n = int(rng.integers(3, 9))
            radii = rng.uniform(0.5, 1.0, n)
            ang = np.arctan2(ys, xs) % (2 * np.pi)
            pos = ang / (2 * np.pi) * n
            i0 = np.floor(pos).astype(int) % n
            f = pos - np.floor(pos)
            r = np.hypot(xs, ys) / ((1 - f) * radii[i0] + f * radii[(i0 + 1) % n])
        edge = 1.5 / max(th, tw)                                           # ~1.5 px soft edge
        m = np.clip((0.95 - r) / edge + 0.5, 0, 1).astype(np.float32)
        return torch.from_numpy(m)[None]

    def _motion(self, rng, big: bool):
        speed = self.max_disp * 2 * (rng.uniform(0, 1) ** 0.7)            # total I0 -> I1 px
        direction = rng.uniform(0, 2 * np.pi)
        velocity = speed * np.array([np.cos(direction), np.sin(direction)])
        ang_rate = rng.normal(0, 0.06 if big else 0.2)                    # radians over [0, 1]
        scale_rate = rng.normal(0, 0.05 if big else 0.12)                 # log scale over [0, 1]
        return velocity, ang_rate, scale_rate

    def draw_static(self, rng) -> bool:
        """Draw whether a layer stands still (no draw at all when static_fraction is 0)."""
        return self.static_fraction > 0 and bool(rng.random() < self.static_fraction)

    def _layer(self, rng, background: bool, static=None) -> _Layer:
        """A random layer; ``static`` True / False forces it to stand still / move, None draws it."""
        h, w = self.size
        if background:
            zoom = rng.uniform(0.6, 1.4)
            th, tw = int(h * 1.6) + 16, int(w * 1.6) + 16
            texture = self._texture(rng, th, tw, zoom)
            mask = torch.ones(1, *texture.shape[-2:])
            offset = np.array([(w - 1) / 2, (h - 1) / 2])
            pose = _rot_scale(rng.normal(0, 0.1), 0.0)
        else:
            zoom = rng.uniform(0.5, 1.5)
            size = rng.uniform(0.25, 0.7) * min(h, w)
            aspect = np.exp(rng.normal(0, 0.3))
            texture = self._texture(rng, int(size * aspect) + 4, int(size / aspect) + 4, zoom)
            mask = self._mask(rng, *texture.shape[-2:])
            offset = rng.uniform([0, 0], [w - 1, h - 1])
            pose = _rot_scale(rng.uniform(-np.pi, np.pi), 0.0)
        th, tw = texture.shape[-2:]
        centre = np.array([(tw - 1) / 2, (th - 1) / 2])
        velocity, ang_rate, scale_rate = self._motion(rng, background)
        if self.draw_static(rng) if static is None else static:
            velocity, ang_rate, scale_rate = np.zeros(2), 0.0, 0.0
        return _Layer(texture, mask, centre, pose, offset, velocity, ang_rate, scale_rate)

    def _fit_motion(self, layer: _Layer) -> float:
        """Largest motion scale <= 1 that keeps the layer within max_disp (geometric shrink)."""
        scale = 1.0
        for _ in range(40):
            if layer.max_displacement(self.size, scale) <= self.max_disp:
                return scale
            scale *= 0.8
        return 0.0

    # --- sampling ---------------------------------------------------------------------------
    def sample_layers(self, rng: np.random.Generator, static_background=None) -> list:
        """Random layers (background first) with their fitted motion scales: [(layer, scale)].
        ``static_background`` True / False forces the background still / moving (None: drawn)."""
        n_fg = int(rng.integers(self.layers[0], self.layers[1] + 1))
        layers = [self._layer(rng, True, static_background)] + [self._layer(rng, False) for _ in range(n_fg)]
        return [(layer, self._fit_motion(layer)) for layer in layers]

    def render(self, layers, t: float) -> np.ndarray:
        """Composite ``layers`` back to front at time t -> float32 [h,w,3]."""
        canvas = torch.zeros(3, *self.size)
        for layer, scale in layers:
            colour, alpha = layer.render(t, self.size, scale)
            canvas = canvas * (1 - alpha) + colour * alpha
        return canvas.clamp(0, 1).permute(1, 2, 0).numpy().astype(np.float32)

    def sample(self, rng: np.random.Generator, static_background=None):
        """One triplet: (first, middle, last), float32 [h,w,3] each, middle exact at t = 1/2."""
        layers = self.sample_layers(rng, static_background)
        return tuple(self.render(layers, t) for t in (0.0, 0.5, 1.0))

    def max_layer_displacement(self, rng: np.random.Generator) -> float:
        """For tests: the largest fitted displacement of the layers ``sample`` would draw."""
        return max(layer.max_displacement(self.size, scale) for layer, scale in self.sample_layers(rng))
