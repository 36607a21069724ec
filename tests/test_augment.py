import math

import pytest
import torch

from equigen_core.weightspace.augment import AugmentConfig, color_affine, random_augment, rotate_scale_translate
from equigen_core.weightspace.augment import bias_jitter, weight_noise
from equigen_core.weightspace.inr import PRESETS, siren_forward
from equigen_core.weightspace.weights import WeightSpace
from tests.conftest import random_sirens

COORDS = torch.rand(400, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1


def test_rotation_scale_translation_are_exact(mnist_spec):
    flat = random_sirens(mnist_spec, 3)
    angle = torch.tensor([0.3, -1.0, 2.0])
    scale = torch.tensor([1.0, 0.8, 1.3])
    shift = torch.tensor([[0.1, -0.2], [0.0, 0.3], [-0.25, 0.05]])
    aug = rotate_scale_translate(WeightSpace.from_flat(mnist_spec, flat), angle, scale, shift).to_flat()
    for i in range(3):  # g(x) = f(s R(θ) x + t), evaluated directly on transformed coordinates
        c, s = math.cos(angle[i]), math.sin(angle[i])
        A = scale[i] * torch.tensor([[c, -s], [s, c]])
        moved = COORDS @ A.T + shift[i]
        torch.testing.assert_close(siren_forward(mnist_spec, aug[i : i + 1], COORDS),
                                   siren_forward(mnist_spec, flat[i : i + 1], moved), atol=1e-5, rtol=1e-5)


def test_quarter_turn_rotates_the_rendered_grid(mnist_spec):
    """On the pixel grid, a 90° rotation of coordinates is an exact rotation of the image array."""
    from equigen_core.weightspace.inr import render_images

    flat = random_sirens(mnist_spec, 2)
    aug = rotate_scale_translate(WeightSpace.from_flat(mnist_spec, flat), torch.full((2,), math.pi / 2),
                                 torch.ones(2), torch.zeros(2, 2)).to_flat()
    a, b = render_images(mnist_spec, aug, 16, clamp=False), render_images(mnist_spec, flat, 16, clamp=False)
    assert min((a - torch.rot90(b, k, dims=(2, 3))).abs().max() for k in (1, 3)) < 1e-4
    assert (a - b).abs().max() > 1e-2  # and it is not the identity


@pytest.mark.parametrize("name", ["mnist", "cifar"])
def test_colour_affine_is_exact(name):
    spec = PRESETS[name]
    flat = random_sirens(spec, 2)
    alpha, beta = torch.tensor([0.7, 1.4]), torch.tensor([0.1, -0.05])
    aug = color_affine(WeightSpace.from_flat(spec, flat), alpha, beta).to_flat()
    o = spec.out_offset
    want = alpha.view(2, 1, 1) * (siren_forward(spec, flat, COORDS) - o) + o + beta.view(2, 1, 1)
    torch.testing.assert_close(siren_forward(spec, aug, COORDS), want, atol=1e-5, rtol=1e-5)


def test_approximate_augmentations_change_little_and_scale_with_sigma(mnist_spec):
    flat = random_sirens(mnist_spec, 4)
    ws = WeightSpace.from_flat(mnist_spec, flat)
    base = siren_forward(mnist_spec, flat, COORDS)
    dev = []
    for sigma in (0.01, 0.1):
        g = torch.Generator().manual_seed(0)
        out = weight_noise(bias_jitter(ws, sigma, generator=g), sigma, generator=g).to_flat()
        dev.append((siren_forward(mnist_spec, out, COORDS) - base).abs().mean())
    assert 0 < dev[0] < dev[1]


def test_random_augment_is_deterministic_per_generator_and_exact_without_noise(mnist_spec):
    flat = random_sirens(mnist_spec, 3)
    cfg = AugmentConfig()
    a = random_augment(mnist_spec, flat, cfg, generator=torch.Generator().manual_seed(5))
    b = random_augment(mnist_spec, flat, cfg, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    only_perm = AugmentConfig(rotate_deg=0, scale=0, translate=0, contrast=0, brightness=0, bias_jitter=0,
                              weight_noise=0, sign_flip=0.5)
    c = random_augment(mnist_spec, flat, only_perm, generator=torch.Generator().manual_seed(1))
    assert (c - flat).abs().max() > 1e-3
    torch.testing.assert_close(siren_forward(mnist_spec, c, COORDS), siren_forward(mnist_spec, flat, COORDS),
                               atol=1e-5, rtol=0)


def test_3d_turn_about_y_scale_and_shift_are_exact():
    from equigen_core.weightspace.augment import rotate_y_scale_translate
    from equigen_core.weightspace.inr import PRESETS, siren_forward, siren_init
    from equigen_core.weightspace.weights import WeightSpace

    spec = PRESETS["shape3d"]
    w = siren_init(spec, 2, generator=torch.Generator().manual_seed(0))
    ang, sc, sh = torch.tensor([0.3, -1.0]), torch.tensor([1.0, 1.1]), torch.tensor([[0.1, 0.0, -0.2], [0, 0.1, 0]])
    w2 = rotate_y_scale_translate(WeightSpace.from_flat(spec, w), ang, sc, sh).to_flat()
    x = torch.rand(64, 3, generator=torch.Generator().manual_seed(1)) * 2 - 1
    for i in range(2):
        c, s = torch.cos(ang[i]), torch.sin(ang[i])
        R = torch.stack([torch.stack([c, 0 * c, s]), torch.tensor([0.0, 1.0, 0.0]), torch.stack([-s, 0 * c, c])])
        expected = siren_forward(spec, w[i : i + 1], x @ (sc[i] * R).T + sh[i])
        assert torch.allclose(siren_forward(spec, w2[i : i + 1], x), expected, atol=1e-5)
