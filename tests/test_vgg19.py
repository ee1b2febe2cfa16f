"""VGG-19 relu4_4 features: torchvision key mapping (synthetic state dict), normalisation, files."""
import functools

import pytest
import torch
import torch.nn.functional as F

from frameweave.vfi_core.vgg19 import (CONV_INDICES, IMAGENET_MEAN, IMAGENET_STD, VGG19Features,
                                       feature_network, load_vgg19_features, random_vgg19_features)


# torchvision vgg19 cfg "E" (the full features + classifier), written out independently here
CFG_E = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]


@functools.lru_cache(maxsize=4)
def _layout(seed, full):
    g = torch.Generator().manual_seed(seed)
    sd, i, c_in = {}, 0, 3
    for v in CFG_E:
        if v == "M":
            i += 1
            continue
        if not full and i > 25:               # conv5_x: present in torchvision files, unused here
            break
        sd[f"features.{i}.weight"] = torch.randn(v, c_in, 3, 3, generator=g) * 0.05
        sd[f"features.{i}.bias"] = torch.randn(v, generator=g) * 0.05
        c_in, i = v, i + 2
    for j in (0, 3, 6):                                                   # classifier (shrunk)
        o, n = (10, 64) if j == 6 else (64, 64)
        sd[f"classifier.{j}.weight"] = torch.zeros(o, n)
        sd[f"classifier.{j}.bias"] = torch.zeros(o)
    return sd


def torchvision_layout_state_dict(seed=0, full=True):
    """Random tensors under the keys/shapes of torchvision.models.vgg19().state_dict() (classifier
    shrunk; ``full=False`` leaves out conv5_x, which the relu4_4 extractor ignores)."""
    return dict(_layout(seed, full))


def manual_relu4_4(sd, x):
    """Independent forward: walk cfg E with F.conv2d / F.max_pool2d using the state dict directly."""
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    h, i, convs = (x - mean) / std, 0, 0
    for v in CFG_E:
        if v == "M":
            h, i = F.max_pool2d(h, 2), i + 1
            continue
        h = F.relu(F.conv2d(h, sd[f"features.{i}.weight"], sd[f"features.{i}.bias"], padding=1))
        i, convs = i + 2, convs + 1
        if convs == 12:                        # conv4_4 -> relu4_4
            return h
    raise AssertionError("cfg E has 12 convolutions up to conv4_4")


def test_conv_indices_match_torchvision_layout():
    assert CONV_INDICES == (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25)
    net = VGG19Features()
    assert len(net.features) == 27 and isinstance(net.features[26], torch.nn.ReLU)


def test_mapping_first_layer_equals_manual_conv():
    sd = torchvision_layout_state_dict()
    net = VGG19Features().load_torchvision_state_dict(sd)
    x = torch.rand(1, 3, 16, 16)
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    expect = F.relu(F.conv2d((x - mean) / std, sd["features.0.weight"], sd["features.0.bias"], padding=1))
    torch.testing.assert_close(net.features[:2](net.normalise(x)), expect)


def test_relu4_4_equals_independent_forward():
    sd = torchvision_layout_state_dict(seed=1)
    net = VGG19Features().load_torchvision_state_dict(sd)
    x = torch.rand(2, 3, 24, 32)
    out = net(x)
    assert out.shape == (2, 512, 3, 4)
    torch.testing.assert_close(out, manual_relu4_4(sd, x), rtol=1e-4, atol=1e-5)


def test_gradient_flows_to_input_not_parameters():
    net = random_vgg19_features(0)
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    net(x).sum().backward()
    assert x.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in net.parameters())


def test_files_safetensors_and_pth(tmp_path):
    from safetensors.torch import save_file
    sd = torchvision_layout_state_dict(seed=2, full=False)
    save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp_path / "vgg19.safetensors"))
    torch.save(sd, tmp_path / "vgg19.pth")
    x = torch.rand(1, 3, 16, 16)
    a = load_vgg19_features(tmp_path / "vgg19.safetensors")(x)
    b = feature_network(str(tmp_path / "vgg19.pth"))(x)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, manual_relu4_4(sd, x), rtol=1e-4, atol=1e-5)


def test_random_network_is_seeded():
    x = torch.rand(1, 3, 16, 16)
    torch.testing.assert_close(feature_network("random:3")(x), random_vgg19_features(3)(x))
    assert not torch.allclose(random_vgg19_features(3)(x), random_vgg19_features(4)(x))


def test_exception(tmp_path):
    sd = torchvision_layout_state_dict()
    del sd["features.25.weight"], sd["features.7.bias"]
    with pytest.raises(ValueError, match=r"missing key\(s\).*features\.7\.bias.*features\.25\.weight"):
        VGG19Features().load_torchvision_state_dict(sd)
    sd = torchvision_layout_state_dict()
    sd["features.0.weight"] = torch.zeros(64, 1, 3, 3)
    with pytest.raises(ValueError, match="features.0.weight"):
        VGG19Features().load_torchvision_state_dict(sd)
    with pytest.raises(ValueError, match="does not exist"):
        load_vgg19_features(tmp_path / "nope.pth")
    with pytest.raises(ValueError, match=r"\[B,3,H,W\]"):
        VGG19Features()(torch.rand(1, 1, 16, 16))
