"""Randomness is the caller's to give: training runs from its config's seed on a private RNG (equigen_core.rng), so
it is reproducible whatever the global RNG held, and it leaves the global RNG as it found it."""
from __future__ import annotations

import pytest
import torch

from equigen_core.nets.classifier import ClassifierConfig, train_classifier
from equigen_core.rng import own_rng, seeded


def _run(seed: int):
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(48, 1, 28, 28, generator=g), torch.randint(0, 10, (48,), generator=g)
    cfg = ClassifierConfig(epochs=1, batch_size=16, seed=seed)  # the CNN has dropout: it draws from the global RNG
    return train_classifier(x, y, x[:8], y[:8], cfg, progress=False).model


def test_training_is_reproducible_from_its_seed_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a = _run(seed=5)
    assert torch.equal(torch.random.get_rng_state(), before), "training moved the caller's global RNG"
    torch.manual_seed(999)  # another global state: the same run
    b = _run(seed=5)
    c = _run(seed=6)
    for (name, p), q, r in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(p, q), name
    assert any(not torch.equal(p, r) for p, r in zip(a.state_dict().values(), c.state_dict().values()))


def test_own_rng_restores_the_state_and_seeded_needs_a_cfg():
    torch.manual_seed(1)
    expected = torch.rand(3)
    torch.manual_seed(1)
    with own_rng(42):
        inside = torch.rand(3)
    assert torch.equal(torch.rand(3), expected) and not torch.equal(inside, expected)
    with pytest.raises(TypeError, match="cfg"):
        seeded(lambda x: x)
