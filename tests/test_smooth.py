"""Smooth augmentation (EQUIGEN §4.2): the solver, total variation and function-preserving canonicalisation."""
import itertools

import pytest
import torch

from equigen_core.weightspace.inr import PRESETS, SirenSpec, siren_forward, siren_init
from equigen_core.weightspace.smooth import (
                                             SmoothResult,
                                             canonicalize,
                                             neuron_features,
                                             pairwise_l1,
                                             path_length,
                                             solve_shortest_path,
                                             solve_with_elkai,
                                             solve_with_fast_tsp,
                                             total_variation,
                                             )
from equigen_core.weightspace.weights import WeightSpace, random_permutations

SPEC = PRESETS["mnist"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The local search runs many tiny ops; on a shared 2-core machine intra-op threads only add sync latency."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_inrs(batch: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    flat = siren_init(SPEC, batch, generator=g)
    return flat + 0.02 * torch.randn(flat.shape, generator=g)  # (B, P): distinct, not a plain init draw


def random_problems(batch: int, n: int, seed: int = 0) -> torch.Tensor:
    pts = torch.rand(batch, n, 4, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return pairwise_l1(pts)  # (B, N, N)


def brute_force_lengths(dist: torch.Tensor) -> torch.Tensor:
    """Optimal open-path length of every problem (B, N, N) by enumerating all N! orders → (B,)."""
    n = dist.shape[1]
    perms = torch.tensor(list(itertools.permutations(range(n))))  # (N!, N)
    return torch.stack([path_length(d.expand(len(perms), -1, -1), perms).min() for d in dist])


def check_permutation(order: torch.Tensor, n: int):
    assert order.dtype == torch.long
    assert torch.equal(order.sort(dim=1).values, torch.arange(n).expand_as(order))


# ----------------------------------------------------------------------------------------------------------------------
# Distances, lengths, TV


def test_pairwise_l1_and_path_length_by_hand():
    f = torch.tensor([[[0.0, 0.0], [1.0, 2.0], [3.0, 2.0]]])  # (1, 3, 2)
    d = pairwise_l1(f)
    assert torch.allclose(d[0], torch.tensor([[0.0, 3.0, 5.0], [3.0, 0.0, 2.0], [5.0, 2.0, 0.0]]))
    assert path_length(d, torch.tensor([[0, 1, 2]])).item() == pytest.approx(5.0)
    assert path_length(d, torch.tensor([[1, 0, 2]])).item() == pytest.approx(8.0)


def test_total_variation_matches_path_length_of_identity():
    ws = WeightSpace.from_flat(SPEC, make_inrs(4))
    expected = torch.zeros(4)
    for layer, n in enumerate(SPEC.hidden):
        d = pairwise_l1(neuron_features(ws, layer))
        expected += path_length(d, torch.arange(n).expand(4, -1))
    assert torch.allclose(total_variation(ws), expected, rtol=1e-5)


def test_total_variation_hand_made():
    """One hidden neuron pair: TV = |Δrow| + |Δbias| + |Δcol| of the two neurons."""
    spec = SirenSpec(in_dim=1, hidden=(2,), out_dim=1)
    # W_0 = [[1], [4]], b_0 = [0, 1], W_1 = [[2, -1]], b_1 = [0]
    ws = WeightSpace.from_flat(spec, torch.tensor([[1.0, 4.0, 0.0, 1.0, 2.0, -1.0, 0.0]]))
    assert total_variation(ws).item() == pytest.approx(3 + 1 + 3)


# ----------------------------------------------------------------------------------------------------------------------
# Solver


def test_solver_is_optimal_on_small_instances():
    dist = random_problems(12, 7)
    order = solve_shortest_path(dist)
    check_permutation(order, 7)
    assert torch.allclose(path_length(dist, order), brute_force_lengths(dist), rtol=1e-9)


def test_solver_few_starts_and_tiny_sizes():
    dist = random_problems(5, 12, seed=1)
    check_permutation(solve_shortest_path(dist, n_starts=2, max_iters=3), 12)
    for n in (1, 2, 3):
        check_permutation(solve_shortest_path(random_problems(3, n)), n)


def test_solver_rejects_bad_shapes():
    with pytest.raises(ValueError, match="dist must be"):
        solve_shortest_path(torch.zeros(3, 4))


def test_solver_never_worse_than_init():
    dist = random_problems(16, 20, seed=2)
    init = solve_shortest_path(dist)
    again = solve_shortest_path(dist, n_starts=1, init=init)
    assert (path_length(dist, again) <= path_length(dist, init) + 1e-12).all()


@pytest.mark.parametrize("solver", [solve_with_elkai, solve_with_fast_tsp])
def test_reference_solvers_are_optimal_on_small_instances(solver):
    pytest.importorskip("elkai" if solver is solve_with_elkai else "fast_tsp")
    dist = random_problems(3, 7, seed=3)
    order = solver(dist)
    check_permutation(order, 7)
    assert torch.allclose(path_length(dist, order), brute_force_lengths(dist), rtol=1e-4)  # integer-rounded weights


# ----------------------------------------------------------------------------------------------------------------------
# Canonicalisation


def test_canonicalize_lowers_tv_and_preserves_function():
    flat = make_inrs(24)
    res = canonicalize(SPEC, flat, chunk=10)  # several chunks, the last one short
    assert isinstance(res, SmoothResult) and res.weights.shape == flat.shape
    for p, n in zip(res.perms, SPEC.hidden):
        check_permutation(p, n)
    assert (res.tv_after <= res.tv_before).all()
    assert res.tv_after.sum() < 0.9 * res.tv_before.sum()  # random orders are far from smooth
    assert torch.allclose(res.tv_after, total_variation(WeightSpace.from_flat(SPEC, res.weights)))
    coords = torch.rand(256, 2, generator=torch.Generator().manual_seed(1)) * 2 - 1
    assert torch.allclose(siren_forward(SPEC, res.weights, coords), siren_forward(SPEC, flat, coords), atol=1e-5)
    # the returned perms are what was applied
    manual = WeightSpace.from_flat(SPEC, flat).permute(res.perms).to_flat()
    assert torch.equal(manual, res.weights)


def test_canonicalize_is_idempotent_in_tv():
    first = canonicalize(SPEC, make_inrs(8, seed=4))
    second = canonicalize(SPEC, first.weights)
    assert (second.tv_after <= first.tv_after + 1e-6).all()


def test_permuted_copy_canonicalises_to_same_tv():
    canon = canonicalize(SPEC, make_inrs(8, seed=5)).weights
    g = torch.Generator().manual_seed(6)
    shuffled = WeightSpace.from_flat(SPEC, canon).permute(random_permutations(SPEC, 8, generator=g)).to_flat()
    tv_canon = total_variation(WeightSpace.from_flat(SPEC, canon))
    res = canonicalize(SPEC, shuffled)
    assert (res.tv_before > tv_canon).all()  # the shuffle really did break the smooth order
    assert (res.tv_after <= tv_canon * (1 + 1e-4) + 1e-6).all()


def test_canonicalize_rejects_wrong_width():
    with pytest.raises(ValueError, match="weights must be"):
        canonicalize(SPEC, torch.zeros(2, SPEC.num_params + 1))
