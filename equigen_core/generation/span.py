"""The span sampler's starting points: mixtures of the shots in the aligned weight space, moved by exact geometric
augmentations (our addition; docs/RESULTS.md measures why).

    starts, anchor = span_starts(spec, shots, n=256, gamma=1.0, generator=g)   # (256, P), (256,)
    out = fewshot.refine(model, starts, start_t=150, ...)                       # the denoiser cleans them

In a zoo fitted from one shared (meta-learned) init the weights of two INRs of a class are aligned: their convex
mixtures render as the class in new styles. Each start is a Dirichlet mixture of `mix` distinct shots around an anchor
shot (round robin over the K shots), pulled towards the anchor as γ falls:

    λ = (1 − min(γ, 1))·e_anchor + min(γ, 1)·Dir(α·1)        w = Σ_i λ_i w_i
    w ← exact rotation / scale / shift of w, of strength augment·γ          (no colour change, no noise)

γ = 0 gives the shots themselves; γ = 1 full Dirichlet mixtures and the base augmentation; γ > 1 keeps the mixture and
strengthens the augmentation. The denoiser, run from step t0 (SDEdit), then removes the off-domain ink that mixing and
augmenting bring in.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from equigen_core.weightspace.augment import geometric_augment


def mixing_weights(k: int, n: int, *, mix: int, gamma: float, concentration: float,
                   generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Convex weights over the K shots (n, K) and each row's anchor shot (n,): anchor i % K plus mix − 1 other
    distinct shots, Dirichlet(concentration) weights blended with the anchor's one-hot by min(γ, 1)."""
    if k < 1 or mix < 1 or gamma < 0 or concentration <= 0:
        raise ValueError(f"need K ≥ 1 shots, mix ≥ 1, γ ≥ 0, concentration > 0; got K={k}, mix={mix}, γ={gamma}, "
                         f"concentration={concentration}")
    m = min(mix, k)
    anchor = torch.arange(n) % k
    # the anchor first, then m − 1 others: a random permutation of the remaining shots per row
    others = torch.rand(n, k, generator=generator)
    others[torch.arange(n), anchor] = -1.0  # sorts last
    members = torch.cat([anchor[:, None], others.argsort(1, descending=True)[:, : m - 1]], 1)  # (n, m)

    rng = np.random.default_rng(int(torch.randint(0, 2 ** 62, (1,), generator=generator)))  # from `generator` only
    dirichlet = torch.from_numpy(rng.dirichlet(np.full(m, float(concentration)), size=n)).float()  # (n, m)
    g = min(float(gamma), 1.0)
    lam = (1 - g) * torch.nn.functional.one_hot(torch.zeros(n, dtype=torch.long), m).float() + g * dirichlet
    weights = torch.zeros(n, k).scatter_add_(1, members, lam)
    return weights, anchor


def span_starts(spec, shots: Tensor, n: int, *, gamma: float, generator: torch.Generator, mix: int = 3,
                augment: float = 0.5, concentration: float = 1.0) -> tuple[Tensor, Tensor]:
    """n starting points from K shots (K, P) → (weights (n, P), anchor shot of each (n,)). See the module text."""

    weights, anchor = mixing_weights(len(shots), n, mix=mix, gamma=gamma, concentration=concentration,
                                     generator=generator)
    starts = weights @ shots  # (n, K) @ (K, P)
    strength = augment * float(gamma)
    if strength > 0:
        starts = geometric_augment(spec, starts, strength, generator=generator)
    return starts, anchor


def augment_starts(spec, shots: Tensor, n: int, *, strength: float,
                   generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """The "augment" sampler's starts: n exact geometric augmentations of single shots, round robin over the K shots
    (K, P) → (weights (n, P), the shot of each (n,))."""
    which = torch.arange(n) % len(shots)
    return geometric_augment(spec, shots[which], strength, generator=generator), which
