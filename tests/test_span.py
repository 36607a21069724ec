"""The span sampler (generation.span, fewshot.span / sample) and the one sampling object (presets.Sampling)."""
import pytest
import torch

from equigen_core.generation.fewshot import sample
from equigen_core.generation.span import mixing_weights, span_starts
from equigen_core.presets import IMAGES, SAMPLERS, Sampling
from equigen_core.weightspace.inr import render_images

from conftest import random_sirens


def test_mixing_weights_are_convex_over_mix_distinct_shots_around_each_anchor():
    w, anchor = mixing_weights(10, 64, mix=3, gamma=1.0, concentration=1.0, generator=torch.Generator().manual_seed(0))
    assert w.shape == (64, 10) and anchor.tolist() == [i % 10 for i in range(64)]
    assert torch.allclose(w.sum(1), torch.ones(64), atol=1e-6) and bool((w >= 0).all())
    assert bool(((w > 0).sum(1) == 3).all())  # exactly 3 shots per mixture …
    assert bool((w[torch.arange(64), anchor] > 0).all())  # … the anchor among them
    # γ pulls toward the anchor: γ = 0 is the anchor itself, γ = 0.5 keeps at least half of it
    w0, _ = mixing_weights(10, 64, mix=3, gamma=0.0, concentration=1.0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(w0, torch.nn.functional.one_hot(anchor, 10).float())
    wh, _ = mixing_weights(10, 64, mix=3, gamma=0.5, concentration=1.0, generator=torch.Generator().manual_seed(0))
    assert bool((wh[torch.arange(64), anchor] >= 0.5 - 1e-6).all())


def test_span_starts_are_the_shots_at_gamma_zero_and_seeded(mnist_spec):
    shots = random_sirens(mnist_spec, 5, seed=1)
    same, anchor = span_starts(mnist_spec, shots, 12, gamma=0.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(same, shots[anchor])
    a, _ = span_starts(mnist_spec, shots, 12, gamma=1.0, generator=torch.Generator().manual_seed(3))
    b, _ = span_starts(mnist_spec, shots, 12, gamma=1.0, generator=torch.Generator().manual_seed(3))
    c, _ = span_starts(mnist_spec, shots, 12, gamma=1.0, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    # no augmentation: a start is exactly the convex mixture of the shots' weights
    w, _ = mixing_weights(5, 12, mix=3, gamma=1.0, concentration=1.0, generator=torch.Generator().manual_seed(3))
    plain, _ = span_starts(mnist_spec, shots, 12, gamma=1.0, augment=0.0, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(plain, w @ shots, atol=1e-6)
    # with it, each start is that mixture moved: a different render, but the same ink (a rotation / shift of it)
    assert not torch.allclose(render_images(mnist_spec, a, 28), render_images(mnist_spec, plain, 28), atol=1e-3)


def test_sample_runs_every_mode_and_checks_its_knobs(trained_model):
    model, shots = trained_model
    for mode in SAMPLERS:
        out = sample(model, shots, 6, IMAGES.replace(sampler=mode, steps=6, t0=300), seed=0)
        assert out.weights.shape == (6, model.spec.num_params) and torch.isfinite(out.weights).all()
        assert out.target_index.tolist() == [i % len(shots) for i in range(6)]
    # the span and augment samplers really start from their starts: denoised from t0 = 20 they render as them
    starts, _ = span_starts(model.spec, shots, 6, gamma=1.0, generator=torch.Generator().manual_seed(0))
    near = sample(model, shots, 6, IMAGES.replace(sampler="span", steps=50, t0=20, guidance=0.0), seed=0)
    far = sample(model, shots, 6, IMAGES.replace(sampler="noise", steps=50, guidance=0.0), seed=0)
    start_img = render_images(model.spec, starts, 28)
    assert float((near.images - start_img).abs().mean()) < 0.5 * float((far.images - start_img).abs().mean())
    with pytest.raises(ValueError, match="t0 = 1000"):
        IMAGES.replace(t0=1000)
    with pytest.raises(ValueError, match="sampler='nope'"):
        Sampling(sampler="nope").check()


def test_span_denoising_moves_the_starts_more_as_t0_grows(trained_model):
    from equigen_core.generation.fewshot import span

    model, shots = trained_model
    starts, _ = span_starts(model.spec, shots, 8, gamma=1.0, generator=torch.Generator().manual_seed(0))
    drift = {}
    for t0 in (20, 600):
        out = span(model, shots, 8, gamma=1.0, t0=t0, steps=20, guidance=0.0, seed=0)
        drift[t0] = float((out.weights - starts).pow(2).mean())
    assert drift[20] < drift[600]


@pytest.fixture(scope="module")
def trained_model(tiny_studio):
    st, model = tiny_studio
    w, _ = st.candidates(9)
    return model, w[:4]
