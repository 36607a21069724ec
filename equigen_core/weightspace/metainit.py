"""A meta-learned shared initialisation for a zoo (Reptile; Nichol et al. 2018), as in learned initialisations for
coordinate networks (Tancik et al., CVPR 2021) and Functa (Dupont et al., ICML 2022).

Why: every INR of a zoo fitted from one shared init w0 ends near w0, so the zoo's weights are aligned; when w0 is
*learned* so that a few Adam steps from it fit any training signal, the fitted weights w − w0 also become small and
regular (docs/RESULTS.md: same-class weight midpoints stay the class, few principal components reconstruct even an
unseen class). The diffusion model then has a far easier distribution to learn.

    init = meta_learn_init(spec, images_of_training_classes, MetaInitConfig())   # (P,)
    fit_images(spec, images, FitConfig(lr=1e-3), init_weights=init[None])

The init is learned on training images only (never the held-out class) and travels with the zoo (zoo.safetensors
tensor "init") and every checkpoint made from it, so uploaded targets are fitted from the same w0.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from typing import Callable

import torch
from torch import Tensor
from tqdm.auto import tqdm

from equigen_core.weightspace.fit import OCCUPANCY_FIT, FitConfig, fit_shapes, fit_signals
from equigen_core.weightspace.inr import SirenSpec, images_to_targets, make_grid, siren_init


@dataclass(frozen=True)
class MetaInitConfig:
    outer_steps: int = 300  # Reptile meta-updates
    inner_steps: int = 10  # Adam steps from w0 on each task (an image) per meta-update
    inner_lr: float = 3e-3  # Adam lr of the inner loop
    batch: int = 32  # images per meta-update (their inner loops run batched)
    meta_lr: float = 0.5  # ε of w0 ← w0 + ε·(mean_i w_i − w0), linearly decayed to 0
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


# Occupancy INRs (meta_learn_shape_init): 20 inner steps on 16 shapes per meta-update, the recipe of the shipped 3D
# zoo (docs/RESULTS.md, "3D that generates")
SHAPE_META_INIT = MetaInitConfig(inner_steps=20, batch=16)


@dataclass
class MetaInitResult:
    init: Tensor  # (P,) the learned shared initialisation w0
    psnr_curve: list[float]  # mean PSNR after the inner loop, per meta-update (how well w0 adapts in k steps)
    seconds: float


def meta_learn_init(spec: SirenSpec, images: Tensor, cfg: MetaInitConfig = MetaInitConfig(), *,
                    progress: bool = True, callback: Callable[[int, float], None] | None = None) -> MetaInitResult:
    """Reptile over image-fitting tasks: images (B, C, H, W) in [0, 1] (the training split of the base classes only).
    Starts from the SIREN init of seed cfg.seed → MetaInitResult with w0 (P,)."""

    b, c, h, w = images.shape
    if c != spec.out_dim or h != w:
        raise ValueError(f"images {tuple(images.shape)} do not match {spec} (square, {spec.out_dim} channel(s))")
    coords, targets = make_grid(h, 2), images_to_targets(images)  # (N, 2), (B, N, C)
    inner = FitConfig(max_steps=cfg.inner_steps, lr=cfg.inner_lr, target_psnr=None, pool=min(cfg.batch, b))

    def adapt(w0: Tensor, pick: Tensor, step: int):
        return fit_signals(spec, coords, targets[pick], inner, init_weights=w0[None], progress=False)

    return _reptile(spec, b, cfg, adapt, progress=progress, callback=callback)


def meta_learn_shape_init(spec: SirenSpec, shapes, cfg: MetaInitConfig = MetaInitConfig(), *, points: int = 2048,
                          batch_points: int = 256, progress: bool = True,
                          callback: Callable[[int, float], None] | None = None) -> MetaInitResult:
    """Reptile over occupancy-fitting tasks: `shapes` (a ShapeSet, or anything with its interface: the training
    split of the base categories only). Each task is `cfg.inner_steps` BCE Adam steps (fit.fit_shapes) on `points`
    fresh labelled points of one shape, `batch_points` of them per step → MetaInitResult with w0 (P,); its curve is
    the PSNR-like figure of the occupancy probabilities after the inner loop."""

    b = len(shapes)
    inner = replace(OCCUPANCY_FIT, max_steps=cfg.inner_steps, lr=cfg.inner_lr, lr_final=None,
                    pool=min(cfg.batch, b), batch_points=batch_points)

    def adapt(w0: Tensor, pick: Tensor, step: int):
        return fit_shapes(spec, shapes.select(pick), inner, points=points, rounds=1, seed=cfg.seed * 100_003 + step,
                          init_weights=w0[None], progress=False)

    return _reptile(spec, b, cfg, adapt, progress=progress, callback=callback)


def _reptile(spec: SirenSpec, b: int, cfg: MetaInitConfig, adapt, *, progress: bool,
             callback: Callable[[int, float], None] | None) -> MetaInitResult:
    """The Reptile loop shared by images and shapes: adapt(w0 (P,), task indices (batch,), step) → a fit.FitResult
    whose .weights are the adapted (batch, P) weights."""
    if b < 2:
        raise ValueError(f"meta-learning an init needs at least 2 training signals, got {b}")
    gen = torch.Generator().manual_seed(cfg.seed)
    w0 = siren_init(spec, 1, generator=gen)[0]  # (P,)
    curve: list[float] = []
    t0 = time.perf_counter()
    for step in tqdm(range(cfg.outer_steps), desc="meta-learning the shared init (Reptile)", disable=not progress):
        pick = torch.randperm(b, generator=gen)[: cfg.batch]
        res = adapt(w0, pick, step)
        eps = cfg.meta_lr * (1 - step / cfg.outer_steps)  # linear decay of the meta step
        w0 = w0 + eps * (res.weights.mean(0) - w0)  # Reptile: move w0 toward the adapted weights
        curve.append(res.mean_psnr)
        if callback is not None:
            callback(step, res.mean_psnr)
    return MetaInitResult(w0, curve, time.perf_counter() - t0)
