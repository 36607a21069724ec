import pytest
import torch

from equigen_core.nets.encoder import EncoderConfig, NPLayer, WeightEncoder, info_nce
from equigen_core.weightspace.inr import PRESETS
from equigen_core.weightspace.weights import WeightSpace, random_permutations
from tests.conftest import random_sirens

SMALL = EncoderConfig(channels=8, n_layers=4, feature_dim=16, proj_dim=8)


def channel_features(spec, b, c, seed=0):
    g = torch.Generator().manual_seed(seed)
    return WeightSpace(spec, tuple(torch.randn(b, o, i, c, generator=g) for o, i in spec.layer_shapes),
                       tuple(torch.randn(b, o, c, generator=g) for o, _ in spec.layer_shapes))


def check_close(a: WeightSpace, b: WeightSpace, atol=1e-5):
    for x, y in zip(a.weights + a.biases, b.weights + b.biases):
        torch.testing.assert_close(x, y, atol=atol, rtol=1e-5)


@pytest.mark.parametrize("name", ["mnist", "cifar"])
def test_np_layer_is_equivariant(name):
    spec = PRESETS[name]
    torch.manual_seed(0)
    layer = NPLayer(spec, 5, 7)
    x = channel_features(spec, 3, 5)
    perms = random_permutations(spec, 3, generator=torch.Generator().manual_seed(1))
    check_close(layer(x.permute(perms)), layer(x).permute(perms))  # permute → layer == layer → permute


def test_np_layer_negative_case_uncoupled_permutation_breaks_it(mnist_spec):
    """Permuting the rows of W_0 (and b_0) but not the columns of W_1 is not a symmetry: outputs must not follow."""
    torch.manual_seed(0)
    layer = NPLayer(mnist_spec, 4, 4)
    x = channel_features(mnist_spec, 2, 4)
    p = random_permutations(mnist_spec, 2, generator=torch.Generator().manual_seed(2))
    identity = torch.arange(32).expand(2, -1)
    rows_only = WeightSpace(mnist_spec, (x.permute([p[0], identity]).weights[0], *x.weights[1:]),
                            (x.permute([p[0], identity]).biases[0], *x.biases[1:]))
    out_a = layer(rows_only)
    out_b = layer(x).permute([p[0], identity])
    diff = max((a - b).abs().max() for a, b in zip(out_a.weights + out_a.biases, out_b.weights + out_b.biases))
    assert diff > 1e-3


def features_and_permuted(spec, cfg, seed):
    """(encoder, INRs (5, P), ψ of them, ψ of the same INRs with hidden neurons permuted at random)."""
    torch.manual_seed(0)
    enc = WeightEncoder(spec, cfg).eval()
    flat = random_sirens(spec, 5)
    enc.set_input_scale(flat)
    perm = WeightSpace.from_flat(spec, flat).permute(
        random_permutations(spec, 5, generator=torch.Generator().manual_seed(seed))).to_flat()
    with torch.no_grad():
        return enc, flat, enc(flat), enc(perm)


def test_encoder_features_are_permutation_invariant(mnist_spec):
    enc, flat, f, fp = features_and_permuted(mnist_spec, SMALL, 3)
    assert f.shape == (5, 16)
    torch.testing.assert_close(f, fp, atol=1e-5, rtol=1e-5)
    # and not trivially constant: a different INR gives different features
    assert (f[0] - f[1]).abs().max() > 1e-3


def test_probe_features_are_the_function_values_and_permutation_invariant(mnist_spec):
    from dataclasses import replace

    from equigen_core.weightspace.inr import render_images

    enc, flat, f, fp = features_and_permuted(mnist_spec, replace(SMALL, probe_res=7), 4)
    assert enc.out_dim == 16 + 49 and f.shape == (5, 65)
    torch.testing.assert_close(f, fp, atol=1e-5, rtol=1e-5)
    # the last 49 entries are the INR's values on the 7×7 pixel-centre grid (an unclamped 7-px render)
    torch.testing.assert_close(f[:, 16:], render_images(mnist_spec, flat, 7, clamp=False).flatten(1), atol=1e-5,
                               rtol=1e-5)
    with torch.no_grad():
        assert enc(flat, project=True).shape == (5, 8)  # the SimCLR head sees only the learned part


def test_probe_in_head_keeps_the_features_exactly_invariant_and_lets_the_head_read_the_function(mnist_spec):
    from dataclasses import replace

    cfg = replace(SMALL, probe_res=7, probe_in_head=True)
    enc, flat, f, fp = features_and_permuted(mnist_spec, cfg, 5)
    torch.testing.assert_close(f, fp, atol=1e-5, rtol=1e-5)
    with torch.no_grad():  # the learned part now depends on the probe: zeroing its head inputs changes ψ_learned
        probe_cols = enc.head[1].weight[:, -49:].clone()
        enc.head[1].weight[:, -49:] = 0
        assert (enc(flat)[:, :16] - f[:, :16]).abs().max() > 1e-4
        enc.head[1].weight[:, -49:] = probe_cols
    with pytest.raises(ValueError, match="probe_res"):
        WeightEncoder(mnist_spec, replace(SMALL, probe_in_head=True))


def test_balanced_features_are_invariant_and_the_learned_part_has_the_probes_mean_norm(mnist_spec):
    from dataclasses import replace

    enc, flat, f, fp = features_and_permuted(mnist_spec, replace(SMALL, probe_res=7, probe_in_head=True,
                                                                 balance=True), 6)
    torch.testing.assert_close(f, fp, atol=1e-5, rtol=1e-5)
    learned, probe = f[:, :16], f[:, 16:]
    torch.testing.assert_close(learned.norm(dim=1), torch.full((5,), float(probe.norm(dim=1).mean())), atol=1e-4,
                               rtol=1e-4)


def test_encoder_is_not_invariant_to_an_unrelated_change(mnist_spec):
    torch.manual_seed(0)
    enc = WeightEncoder(mnist_spec, SMALL).eval()
    flat = random_sirens(mnist_spec, 4)
    enc.set_input_scale(flat)
    changed = flat.clone()
    changed[:, :64] = changed[:, :64].roll(1, dims=1)  # shuffles W_0 entries across neurons and inputs
    with torch.no_grad():
        assert (enc(flat) - enc(changed)).abs().max() > 1e-3


def test_info_nce_prefers_matching_views():
    torch.manual_seed(0)
    z = torch.randn(16, 8)
    aligned = info_nce(z, z + 0.01 * torch.randn(16, 8))
    shuffled = info_nce(z, z[torch.randperm(16)])
    assert aligned < shuffled
    assert aligned >= 0


def test_fingerprint_tells_a_probed_encoder_from_the_same_weights_without(mnist_spec):
    from dataclasses import replace

    from equigen_core.nets.models import encoder_fingerprint

    torch.manual_seed(0)
    enc = WeightEncoder(mnist_spec, SMALL)
    probed = WeightEncoder(mnist_spec, replace(SMALL, probe_res=7))
    probed.load_state_dict(enc.state_dict())
    assert encoder_fingerprint(enc) != encoder_fingerprint(probed)
