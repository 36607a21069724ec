"""Walking the weight space between two INRs (the app's "Walk between two targets"): the straight line
(1 − α)·a + α·b in weight space, and the same points after the denoiser (refined from the sampler's t0, each
conditioned on its own ψ). In a zoo fitted from one shared, meta-learned init the weights of two INRs are aligned,
so the raw path already passes through plausible members of the class; the denoiser cleans what it adds.

    for item in walk_stream(model, a, b, points=8, sampling=s):   # a, b: (P,) INR weights
        ...                                                       # WalkStep per point, then Done(Walk)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch
from torch import Tensor

from equigen_core.generation.fewshot import FewShotModel, refine
from equigen_core.presets import Sampling
from equigen_core.service.jobs import Done
from equigen_core.service.studio import StudioError, sampling_of


@dataclass
class Walk:
    alphas: list[float]  # the mixing weight of b at each point (0: a, 1: b)
    raw: Tensor  # (m, P) the weight-space interpolation
    refined: Tensor  # (m, P) the same points after the denoiser


@dataclass
class WalkStep:
    done: int  # points computed so far
    walk: Walk  # the points so far (raw and refined)


def walk_stream(model: FewShotModel, a: Tensor, b: Tensor, *, points: int = 8, sampling: Sampling | None = None,
                seed: int = 0, **knobs) -> Iterator[WalkStep | Done]:
    """The walk from INR a to INR b (each (P,)) in `points` steps, one WalkStep per point as it is refined, then
    Done(Walk). The denoiser runs from the Sampling's t0 with its λ_g, τ and DDIM steps (studio.sampling_of: the
    domain's defaults, `sampling`, then the knobs given)."""
    P = model.spec.num_params
    if a.shape != (P,) or b.shape != (P,):
        raise StudioError(f"a walk needs two INRs of {P} weights, got {tuple(a.shape)} and {tuple(b.shape)}")
    if not 2 <= points <= 16:
        raise StudioError(f"a walk has 2–16 points, got {points}")
    s = sampling_of(model.spec, sampling, **knobs)
    alphas = torch.linspace(0, 1, points)
    raw = (1 - alphas)[:, None] * a[None] + alphas[:, None] * b[None]  # (m, P)
    refined = []
    for i in range(points):
        out = refine(model, raw[i : i + 1], start_t=s.t0, gamma=0.0, guidance=s.guidance, steps=s.steps,
                     temperature=s.temperature, cfg_scale=s.cfg_scale, seed=seed)
        refined.append(out.weights)
        walk = Walk(alphas.tolist(), raw, torch.cat(refined))
        yield WalkStep(i + 1, walk) if i + 1 < points else Done(walk)
