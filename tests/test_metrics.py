"""Sample-quality metrics against known answers: FD, PRDC, novelty ratios, diversity, background speckle."""
import pytest
import torch

from equigen_core.evaluation.metrics import (background_speckle, diversity, frechet_distance, nearest_shot_distance,
                                             novelty_ratio, prdc)


def gaussian(n, d, shift=0.0, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed)) + shift


def test_fd_is_zero_for_identical_sets_and_the_squared_shift_for_shifted_gaussians():
    a = gaussian(4000, 8, seed=0)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    b = gaussian(4000, 8, seed=1)
    # same distribution, other draws: FD ≈ 0 up to sampling error; shifted by s in every dimension: ≈ d · s²
    assert frechet_distance(a, b) < 0.05
    assert frechet_distance(a, gaussian(4000, 8, shift=1.0, seed=1)) == pytest.approx(8.0, rel=0.05)


def test_prdc_toy_cases():
    real = gaussian(500, 4, seed=0)
    same = prdc(real, real, k=5)
    assert same["precision"] == 1.0 and same["recall"] == 1.0 and same["coverage"] == 1.0
    far = prdc(real, gaussian(500, 4, shift=50.0, seed=1), k=5)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
    # a fake set collapsed on one real point: precise, but covers almost nothing and recalls almost nothing
    collapsed = prdc(real, real[:1].repeat(500, 1) + 1e-4 * gaussian(500, 4, seed=2), k=5)
    assert collapsed["precision"] == 1.0 and collapsed["coverage"] < 0.05 and collapsed["recall"] < 0.05


def digits(n, seed):
    """Bar 'digits' of random sizes inside the central 20×20 box of 28×28 images."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 1, 28, 28)
    for i in range(n):
        h, w = torch.randint(2, 12, (2,), generator=g).tolist()
        r, c = torch.randint(5, 23 - max(h, w), (2,), generator=g).tolist()
        x[i, 0, r : r + h, c : c + w] = 1.0
    return x


def test_novelty_ratio_is_zero_for_copies_and_shifted_copies_count_as_copies_when_aligned():
    shots, real = digits(10, 0), digits(50, 1)
    copies = shots[torch.arange(40) % 10]
    nov = novelty_ratio(copies, shots, real)
    assert nov.novelty == 0.0 and nov.aligned_novelty == 0.0
    shifted = torch.roll(copies, shifts=2, dims=3)  # a 2-pixel shift: new pixels, no new digit
    assert nearest_shot_distance(shifted, shots).median() > 0
    assert novelty_ratio(shifted, shots, real).aligned_novelty < 0.05


def test_diversity_and_speckle():
    one = digits(1, 0).repeat(8, 1, 1, 1)
    assert diversity(one) == 0.0 and diversity(digits(8, 3)) > 0
    assert background_speckle(digits(8, 0)) == 0.0  # all ink inside the central box
    noisy = digits(8, 0)
    noisy[:, :, :2, :] = 0.5  # a stripe along the top border
    assert background_speckle(noisy) > 5.0
