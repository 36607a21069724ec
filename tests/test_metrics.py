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


# ----------------------------------------------------------------------------------------------------------------------
# Protocol v2 (issue 24): against the metrics' authors' packages where they ship one, and known answers otherwise


def test_prdc_matches_the_authors_package():
    prdc_pkg = pytest.importorskip("prdc")
    real, fake = gaussian(300, 6, seed=0), 1.3 * gaussian(250, 6, shift=0.4, seed=1)
    ours = prdc(real, fake, k=5)
    theirs = prdc_pkg.compute_prdc(real_features=real.numpy(), fake_features=fake.numpy(), nearest_k=5)
    for key in ours:
        assert ours[key] == pytest.approx(float(theirs[key]), abs=1e-6), key


def test_vendi_score_matches_the_authors_package_and_counts_copies_as_few():
    vendi = pytest.importorskip("vendi_score.vendi")
    import numpy as np

    from equigen_core.evaluation.metrics import median_distance, rms_distances, vendi_score

    x = digits(40, 5)
    h = median_distance(x)
    k = np.exp(-rms_distances(x, x).double().numpy() ** 2 / (2 * h ** 2))
    assert vendi_score(x, h) == pytest.approx(float(vendi.score_K(k)), rel=1e-9)
    # 200 copies of 10 images score what the 10 do (at most 10); 40 distinct images score more
    copies = x[:10][torch.arange(200) % 10]
    assert vendi_score(copies, h) == pytest.approx(vendi_score(x[:10], h), rel=1e-6)
    assert vendi_score(copies, h) <= 10 and vendi_score(x, h) > vendi_score(x[:10], h)


def test_off_stroke_ink_counts_only_what_lies_off_the_main_stroke():
    from equigen_core.evaluation.metrics import off_stroke_ink

    clean = torch.zeros(3, 1, 28, 28)
    clean[:, :, 8:20, 12:15] = 1.0  # one stroke
    assert off_stroke_ink(clean).tolist() == [0.0, 0.0, 0.0]
    blob = clean.clone()
    blob[1, :, 2:4, 2:4] = 1.0  # a detached 2×2 blob far from the stroke: 4 px of ink off-stroke
    blob[2, :, 8:20, 16] = 0.8  # ink touching the stroke (within the 2-px growth): still the stroke
    ink = off_stroke_ink(blob)
    assert ink[0] == 0 and ink[2] == 0
    assert ink[1] == pytest.approx(4 / 784 * 100)
    assert off_stroke_ink(torch.zeros(1, 1, 28, 28)).item() == 0.0


def test_aligned_distance_forgives_brightness_and_contrast_but_not_a_new_digit():
    shots, other = digits(10, 0), digits(10, 7)
    fainter = 0.8 * shots + 0.05  # contrast 0.8, brightness +0.05
    assert nearest_shot_distance(fainter, shots, aligned=True).max() < 1e-5
    assert nearest_shot_distance(fainter, shots).min() > 0.01  # the plain distance sees them as new
    assert nearest_shot_distance(other, shots, aligned=True).median() > 0.05


def test_unique_rows_and_t_intervals():
    from scipy.stats import t

    from equigen_core.evaluation.metrics import unique_rows
    from equigen_core.evaluation.runner import t_halfwidth

    x = gaussian(5, 3)
    assert unique_rows(torch.cat([x, x[:2], x])).tolist() == [0, 1, 2, 3, 4]
    v = [0.3, 0.5, 0.4, 0.45, 0.35]
    expect = t.ppf(0.975, 4) * torch.tensor(v, dtype=torch.float64).std().item() / 5 ** 0.5
    assert t_halfwidth(v) == pytest.approx(expect)
    assert t_halfwidth([1.0]) != t_halfwidth([1.0])  # nan for one seed
