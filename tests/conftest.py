import pytest
import torch

from equigen_core.inr import PRESETS, siren_init


@pytest.fixture
def mnist_spec():
    return PRESETS["mnist"]


def random_sirens(spec, b, seed=0, noise=0.05):
    """B distinct SIRENs: SIREN init plus noise (so every INR differs and no entry is degenerate)."""
    g = torch.Generator().manual_seed(seed)
    w = siren_init(spec, b, generator=g)
    return w + noise * torch.randn(w.shape, generator=g) * w.abs().mean()


@pytest.fixture
def sirens(mnist_spec):
    return random_sirens(mnist_spec, 6)
