import math

import pytest
import torch

from equigen_core.weightspace.inr import (PRESETS, SirenModule, SirenSpec, get_preset, make_grid, render_images,
                                          siren_forward, siren_init)
from equigen_core.weightspace.weights import flat_to_state_dict
from tests.conftest import random_sirens


def test_presets_have_the_documented_sizes():
    assert PRESETS["mnist"].num_params == 1185  # 2→32→32→1, the DWSNets / EquiGen MNIST-INR size
    assert PRESETS["cifar"].widths == (2, 64, 64, 64, 3)
    with pytest.raises(ValueError, match="unknown INR preset"):
        get_preset("nope")


@pytest.mark.parametrize("name", ["mnist", "cifar", "shape3d"])
def test_batched_forward_equals_per_inr_module(name):
    spec = PRESETS[name]
    flat = random_sirens(spec, 4)
    coords = torch.rand(50, spec.in_dim) * 2 - 1
    out = siren_forward(spec, flat, coords)  # (B, N, C)
    assert out.shape == (4, 50, spec.out_dim)
    for i in range(4):
        m = SirenModule(spec)
        m.load_state_dict(flat_to_state_dict(spec, flat[i]))
        torch.testing.assert_close(out[i], m(coords), atol=1e-5, rtol=1e-5)


def test_per_inr_coordinates_match_shared_ones(mnist_spec):
    flat = random_sirens(mnist_spec, 3)
    coords = torch.rand(20, 2) * 2 - 1
    torch.testing.assert_close(siren_forward(mnist_spec, flat, coords),
                               siren_forward(mnist_spec, flat, coords.expand(3, -1, -1)))


def test_siren_init_bounds_and_shared_option(mnist_spec):
    g = torch.Generator().manual_seed(0)
    w = siren_init(mnist_spec, 5, generator=g, shared=True)
    assert torch.equal(w[0], w[4])
    w = siren_init(mnist_spec, 5, generator=g)
    assert not torch.equal(w[0], w[1])
    first = w[:, : 2 * 32]
    assert first.abs().max() <= 1 / 2
    hidden = w[:, 96 : 96 + 32 * 32]
    assert hidden.abs().max() <= math.sqrt(6 / 32) / 30 + 1e-7


def test_grid_and_render_shapes(mnist_spec):
    g = make_grid(4)
    assert g.shape == (16, 2)
    assert torch.allclose(g[1], torch.tensor([-0.25, -0.75]))  # x varies fastest
    img = render_images(mnist_spec, random_sirens(mnist_spec, 2), res=12)
    assert img.shape == (2, 1, 12, 12) and img.min() >= 0 and img.max() <= 1


def test_wrong_weight_length_is_a_clear_error(mnist_spec):
    with pytest.raises(ValueError, match="1185"):
        siren_forward(mnist_spec, torch.zeros(2, 100), torch.zeros(3, 2))


def test_spec_dict_round_trip():
    spec = SirenSpec(in_dim=3, hidden=(8, 8), out_dim=1, out_offset=0.0)
    assert SirenSpec.from_dict(spec.to_dict()) == spec
