import pytest
import torch

from equigen_core.weightspace.inr import PRESETS, siren_forward
from equigen_core.weightspace.weights import (NormStats, WeightSpace, flat_to_state_dict, load_siren_state_dict,
                                              random_permutations, random_signs, state_dict_to_flat)
from tests.conftest import random_sirens


def check_same_function(spec, a, b, atol=1e-5):
    coords = torch.rand(300, spec.in_dim, generator=torch.Generator().manual_seed(1)) * 2 - 1
    torch.testing.assert_close(siren_forward(spec, a, coords), siren_forward(spec, b, coords), atol=atol, rtol=0)


@pytest.mark.parametrize("name", ["mnist", "cifar"])
def test_flatten_round_trip(name):
    spec = PRESETS[name]
    flat = random_sirens(spec, 3)
    assert torch.equal(WeightSpace.from_flat(spec, flat).to_flat(), flat)


@pytest.mark.parametrize("name", ["mnist", "cifar", "shape3d"])
def test_permutations_and_sign_flips_preserve_the_function_and_change_weights(name):
    spec = PRESETS[name]
    flat = random_sirens(spec, 4)
    g = torch.Generator().manual_seed(0)
    ws = WeightSpace.from_flat(spec, flat)
    permuted = ws.permute(random_permutations(spec, 4, generator=g)).to_flat()
    flipped = ws.flip_signs(random_signs(spec, 4, generator=g)).to_flat()
    both = WeightSpace.from_flat(spec, flipped).permute(random_permutations(spec, 4, generator=g)).to_flat()
    for other in (permuted, flipped, both):
        assert (other - flat).abs().max() > 1e-3  # the raw weights did change
        check_same_function(spec, flat, other)


def test_uncoupled_permutation_changes_the_function(mnist_spec):
    """Negative twin: permuting the rows of W_0 without the columns of W_1 is not a symmetry."""
    flat = random_sirens(mnist_spec, 2)
    ws = WeightSpace.from_flat(mnist_spec, flat)
    p = random_permutations(mnist_spec, 2, generator=torch.Generator().manual_seed(3))[0]
    w0 = torch.gather(ws.weights[0], 1, p.unsqueeze(2).expand(-1, -1, 2))
    broken = WeightSpace(mnist_spec, (w0, *ws.weights[1:]), ws.biases).to_flat()
    coords = torch.rand(100, 2) * 2 - 1
    assert (siren_forward(mnist_spec, broken, coords) - siren_forward(mnist_spec, flat, coords)).abs().max() > 1e-2


def test_permute_rejects_wrong_shapes(mnist_spec):
    ws = WeightSpace.from_flat(mnist_spec, random_sirens(mnist_spec, 2))
    with pytest.raises(ValueError, match="one permutation per hidden layer"):
        ws.permute([torch.arange(32).expand(2, -1)])
    with pytest.raises(ValueError, match="expected"):
        ws.permute([torch.arange(31).expand(2, -1), torch.arange(32).expand(2, -1)])


def test_norm_stats_round_trip(mnist_spec):
    flat = random_sirens(mnist_spec, 10)
    st = NormStats.fit(flat)
    z = st.normalize(flat)
    torch.testing.assert_close(z.mean(0), torch.zeros(mnist_spec.num_params), atol=1e-5, rtol=0)
    torch.testing.assert_close(st.denormalize(z), flat, atol=1e-6, rtol=1e-5)
    st2 = NormStats.from_tensors(st.tensors())
    assert torch.equal(st2.mean, st.mean)


def test_state_dict_import_export(tmp_path, mnist_spec):
    flat = random_sirens(mnist_spec, 1)[0]
    sd = flat_to_state_dict(mnist_spec, flat)
    assert sorted(sd) == sorted(f"seq.{i}.{k}" for i in range(3) for k in ("weight", "bias"))
    torch.save(sd, tmp_path / "inr.pth")
    torch.testing.assert_close(load_siren_state_dict(tmp_path / "inr.pth", mnist_spec), flat)
    bad = dict(sd)
    bad["seq.1.weight"] = torch.zeros(16, 32)
    with pytest.raises(ValueError, match="seq.1.weight has shape"):
        state_dict_to_flat(mnist_spec, bad)
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="junk.pth"):
        load_siren_state_dict(tmp_path / "junk.pth", mnist_spec)
