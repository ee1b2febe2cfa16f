"""VGG-19 feature extractor up to relu4_4, loading a torchvision-format ``vgg19`` state dict.

Simonyan & Zisserman 2015, configuration "E". The perceptual loss of "Frame interpolation via
adaptive separable convolution, adversarial training and post-processing pixel shaders" compares
relu4_4 features of the estimate and the ground truth. torchvision is not a dependency, so the
layers are built here with the same indices as torchvision's ``vgg19().features``:

    index  0 conv1_1   2 conv1_2   4 pool
           5 conv2_1   7 conv2_2   9 pool
          10 conv3_1  12 conv3_2  14 conv3_3  16 conv3_4  18 pool
          19 conv4_1  21 conv4_2  23 conv4_3  25 conv4_4  26 relu4_4   (we stop here)

(each conv at index i is followed by its ReLU at i + 1), so the keys ``features.0.weight``,
``features.0.bias``, ..., ``features.25.bias`` of a torchvision checkpoint load directly (the
classifier's keys are ignored). Inputs are IMAGE-range RGB in 0..1, normalised with the ImageNet
mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225) as torchvision's models expect.

No ImageNet weights ship with FrameWeave (none can be downloaded here, and their licence is not
ours to grant): the user passes the file (``vgg19-dcbb9e9d.pth`` from torchvision or a safetensors
conversion of it) to ``--perceptual``. ``random_vgg19_features(seed)`` builds a fixed random
network of the same shape — random convolutional features are a weak but non-zero perceptual
prior (Ulyanov et al., "Deep Image Prior"; He et al. 2016, "A powerful generative model using
random weights for the deep image representation") — used only when asked for explicitly.
"""
from pathlib import Path

import torch
import torch.nn as nn

# torchvision cfgs["E"] up to (and including) conv4_4; "M" = 2x2 max pooling
VGG19_E_TO_CONV4_4 = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RELU4_4_INDEX = 26


def _conv_indices() -> list:
    """features.<i> indices of the convolutions up to conv4_4: [0, 2, 5, 7, 10, ..., 25]."""
    out, i = [], 0
    for v in VGG19_E_TO_CONV4_4:
        if v == "M":
            i += 1
        else:
            out.append(i)
            i += 2
    return out


CONV_INDICES = tuple(_conv_indices())
REQUIRED_KEYS = tuple(f"features.{i}.{p}" for i in CONV_INDICES for p in ("weight", "bias"))


class VGG19Features(nn.Module):
    """VGG-19 ``features[0:27]`` (conv1_1 .. relu4_4) with ImageNet input normalisation.

    Built with zero weights: load them with :meth:`load_torchvision_state_dict` (or use
    :func:`load_vgg19_features` / :func:`random_vgg19_features`).

    ``forward(x)``: x [B,3,H,W] RGB in 0..1 -> relu4_4 features [B,512,H/8,W/8]. Parameters are
    frozen (``requires_grad=False``); gradients still flow to ``x``.
    """

    def __init__(self):
        super().__init__()
        layers, c_in = [], 3
        for v in VGG19_E_TO_CONV4_4:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c_in, v, 3, 1, 1, device="meta"), nn.ReLU(inplace=False)]
                c_in = v
        # weights start as zeros (no random init: they are always loaded or set by the caller)
        self.features = nn.Sequential(*layers).to_empty(device="cpu")         # indices 0..26
        with torch.no_grad():
            for p in self.features.parameters():
                p.zero_()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.source = "uninitialised"
        for p in self.parameters():
            p.requires_grad_(False)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"VGG-19 expects RGB [B,3,H,W], got {list(x.shape)}")
        return self.features(self.normalise(x))

    def load_torchvision_state_dict(self, state_dict: dict, source: str = "state dict") -> "VGG19Features":
        """Load ``features.<i>.weight/bias`` of a torchvision ``vgg19`` state dict (other keys, e.g.
        the classifier's or deeper layers', are ignored). ValueError names missing or misshapen keys."""
        sd = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state_dict.items()}
        missing = [k for k in REQUIRED_KEYS if k not in sd]
        if missing:
            raise ValueError(f"{source} is not a torchvision vgg19 state dict: {len(missing)} missing key(s) "
                             f"{', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''} "
                             f"(found {len(sd)} keys such as {', '.join(list(sd)[:3])})")
        own = self.features.state_dict()
        bad = [f"{k}: file {list(sd[k].shape)} vs VGG-19 {list(own[k[len('features.'):]].shape)}"
               for k in REQUIRED_KEYS if tuple(sd[k].shape) != tuple(own[k[len("features."):]].shape)]
        if bad:
            raise ValueError(f"{source} does not have VGG-19 shapes: " + "; ".join(bad[:6]))
        self.features.load_state_dict({k[len("features."):]: torch.as_tensor(sd[k]).float() for k in REQUIRED_KEYS})
        self.source = source
        return self


def load_state_dict_file(path) -> dict:
    """A state dict from .safetensors (preferred) or .pth/.pt (``torch.load(weights_only=True)``:
    tensors only, no code is run)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"VGG-19 weights file does not exist: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        return load_file(str(path))
    sd = torch.load(str(path), map_location="cpu", weights_only=True)
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise ValueError(f"{path} does not hold a state dict (got {type(sd).__name__})")
    return sd


def load_vgg19_features(path) -> VGG19Features:
    """VGG19Features (eval, frozen) with the weights of a user's torchvision-format vgg19 file."""
    return VGG19Features().load_torchvision_state_dict(load_state_dict_file(path), source=str(path)).eval()


def random_vgg19_features(seed: int = 0) -> VGG19Features:
    """A fixed random-weight VGG-19 (Kaiming-normal convs, zero bias; seeded) — a weak perceptual
    prior for when no ImageNet weights are available. Not an ImageNet network: say so when used."""
    net = VGG19Features()
    g = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for m in net.features:
            if isinstance(m, nn.Conv2d):
                fan_in = m.in_channels * 9
                m.weight.normal_(0.0, (2.0 / fan_in) ** 0.5, generator=g)
                m.bias.zero_()
    net.source = f"random (seed {seed})"
    return net.eval()


def feature_network(spec: str) -> VGG19Features:
    """``--perceptual`` value -> network: a file path, or ``random`` / ``random:SEED``."""
    spec = str(spec)
    if spec == "random" or spec.startswith("random:"):
        return random_vgg19_features(int(spec.split(":", 1)[1]) if ":" in spec else 0)
    return load_vgg19_features(spec)
