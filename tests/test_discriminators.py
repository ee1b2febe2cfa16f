"""FrameDiscriminator: DCGAN discriminator / WGAN-GP critic, frame or triplet conditioning."""
import pytest
import torch

from frameweave.vfi_core.discriminators import FrameDiscriminator


SMALL = (8, 8, 16, 16)


@pytest.mark.parametrize("adversarial", ["dcgan", "wgan-gp"])
@pytest.mark.parametrize("conditional", ["frame", "triplet"])
@pytest.mark.parametrize("hw", [(16, 16), (40, 56)])
def test_cardinality(adversarial, conditional, hw):
    torch.manual_seed(0)
    d = FrameDiscriminator(adversarial, conditional, channels=SMALL)
    x = torch.rand(2, 3, *hw)
    out = d(x, torch.rand_like(x), torch.rand_like(x)) if conditional == "triplet" else d(x)
    assert out.shape == (2,)
    assert d.in_channels == (9 if conditional == "triplet" else 3)


def test_paper_channels_and_layers():
    d = FrameDiscriminator("dcgan", "frame")
    convs = [m for m in d.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512]
    assert all(c.stride == (2, 2) and c.kernel_size == (4, 4) for c in convs)
    assert sum(isinstance(m, torch.nn.LeakyReLU) for m in d.features) == 4
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in d.features) == 3        # not after the first conv
    critic = FrameDiscriminator("wgan-gp", "frame")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in critic.features)


def test_probability_is_sigmoid_of_logit():
    torch.manual_seed(0)
    d = FrameDiscriminator("dcgan", "frame", channels=SMALL).eval()
    x = torch.rand(3, 3, 16, 16)
    p = d.probability(x)
    assert ((p > 0) & (p < 1)).all()
    torch.testing.assert_close(p, torch.sigmoid(d(x)))
    with pytest.raises(ValueError, match="probability"):
        FrameDiscriminator("wgan-gp", "frame", channels=SMALL).probability(x)


def test_triplet_input_order():
    """cat(I0, candidate, I1): changing the inputs changes a triplet D's score but not a frame D's."""
    torch.manual_seed(0)
    x, a, b = torch.rand(3, 1, 3, 16, 16)
    dt = FrameDiscriminator("wgan-gp", "triplet", channels=SMALL)
    torch.testing.assert_close(dt.discriminator_input(x, a, b), torch.cat([a, x, b], 1))
    assert not torch.allclose(dt(x, a, b), dt(x, b, a))
    df = FrameDiscriminator("wgan-gp", "frame", channels=SMALL)
    torch.testing.assert_close(df(x, a, b), df(x, b, a))


def test_gradients_reach_input_and_parameters():
    torch.manual_seed(0)
    d = FrameDiscriminator("wgan-gp", "triplet", channels=SMALL)
    x = torch.rand(2, 3, 16, 16, requires_grad=True)
    d(x, torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)).sum().backward()
    assert x.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in d.parameters())


def test_exception():
    with pytest.raises(ValueError, match="adversarial"):
        FrameDiscriminator("lsgan")
    with pytest.raises(ValueError, match="conditional"):
        FrameDiscriminator("dcgan", "pair")
    with pytest.raises(ValueError, match="batch normalisation"):
        FrameDiscriminator("wgan-gp", norm="batch")
    with pytest.raises(ValueError, match="4 positive"):
        FrameDiscriminator(channels=(8, 8))
    d = FrameDiscriminator("dcgan", "triplet", channels=SMALL)
    x = torch.rand(1, 3, 16, 16)
    with pytest.raises(ValueError, match="two input frames"):
        d(x)
    with pytest.raises(ValueError, match="shape"):
        d(x, torch.rand(1, 3, 16, 20), x)
    with pytest.raises(ValueError, match="16x16"):
        d(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"\[B,3,H,W\]"):
        d(torch.rand(1, 4, 16, 16), x, x)
