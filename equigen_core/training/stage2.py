"""Stage 2: the conditional weight denoiser, trained with L = L_recon + λ·L_eq (EQUIGEN Eq. 7) over the zoo's
weights (or their principal / latent codes), EMA weights, resumable Accelerate state.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from equigen_core.data.zoo import Zoo
from equigen_core.generation.diffusion import DiffusionConfig, WeightDiffusion
from equigen_core.nets.denoiser import DenoiserConfig, build_denoiser
from equigen_core.nets.encoder import WeightEncoder, condition_encoder
from equigen_core.nets.models import save_diffusion
from equigen_core.presets import LAMBDA_EQ
from equigen_core.rng import seeded
from equigen_core.training.common import TrainingDiverged, _save_state_atomic, encode, make_accelerator, train_state_dir
from equigen_core.weightspace.augment import AugmentConfig, random_augment
from equigen_core.weightspace.latent import LatentConfig, fit_latent_codec
from equigen_core.weightspace.weights import NormStats, PCAStats


@dataclass(frozen=True)
class DiffusionTrainConfig:
    steps: int = 6000
    batch_size: int = 256
    lr: float = 3e-4  # AdamW with linear warm-up and cosine decay
    warmup: int = 200
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    ema_decay: float = 0.999  # EMA of the denoiser weights (used for sampling)
    lambda_eq: float = LAMBDA_EQ  # λ of L = L_recon + λ·L_eq (EQUIGEN Eq. 7)
    lambda_func: float = 0.0  # our addition: weight of the function-space loss (see diffusion.py)
    # what is diffused (our addition): "weights", every per-entry standardised weight (P); "pca", the whitened
    # coordinates of the zoo's top pca_dim principal directions (weights.PCAStats); "latent", the whitened codes of a
    # weight autoencoder trained first, on the same INRs, for latent_steps (latent.LatentCodec; its time counts in
    # max_seconds). MLP denoiser only for the last two.
    space: Literal["weights", "pca", "latent"] = "weights"
    pca_dim: int = 256
    latent_dim: int = 64
    latent_steps: int = 2000
    condition: Literal["features", "probe"] = "features"  # see DiffusionConfig.condition
    cond_noise: float = 0.0  # see DiffusionConfig.cond_noise (condition corruption with the level as input)
    pair_k: int = 0  # see DiffusionConfig.pair_k (neighbour pairing with the rank as input)
    # our addition: zoo augmentation — this share of every batch is replaced by exact INR augmentations (rotation,
    # scale, shift, contrast, brightness; augment.AugmentConfig × `augment`, no permutation or noise, so the zoo stays
    # aligned) of its INRs, with their own ψ; 0: off
    augment: float = 0.0
    augment_share: float = 0.5
    eq_batch: int = 64  # rows of each batch that also get L_eq (the encoder pass costs more than the denoiser's)
    classes: tuple[int, ...] | None = (0, 1, 2, 3, 4, 5, 6, 7, 8)  # base classes (protocol: 9 held out)
    # recorded with the checkpoint (the protocol's two held-out classes; `classes` alone decides the training data)
    test_class: int | None = None
    validation_class: int | None = None
    seed: int = 0
    log_every: int = 50
    save_every: int = 1000  # resumable training state (Accelerate save_state) every N steps
    max_seconds: float | None = None  # stop early after this much wall time (for equal-time comparisons)
    # stop early after this much CPU time of this process (all threads): equal-compute comparisons that still hold
    # when other jobs share the machine (ablations)
    max_cpu_seconds: float | None = None
    max_steps: int | None = None  # stop early after this many steps; the lr schedule still spans `steps`


@dataclass
class DiffusionTrainResult:
    model: nn.Module  # EMA weights
    losses: list[float]
    recon: list[float]
    eq: list[float]
    seconds: float
    start_step: int = 0
    path: Path | None = None


class _Progress:
    """Step counter + EMA weights, registered with Accelerate so save_state / load_state carry them."""

    def __init__(self, ema: nn.Module):
        self.step, self.ema = 0, ema

    def state_dict(self) -> dict:
        return {"step": torch.tensor(self.step), **{f"ema.{k}": v for k, v in self.ema.state_dict().items()}}

    def load_state_dict(self, sd: dict) -> None:
        self.step = int(sd["step"])
        self.ema.load_state_dict({k[4:]: v for k, v in sd.items() if k.startswith("ema.")})


def diffusion_config(cfg: DiffusionTrainConfig, **overrides):
    """The process config (diffusion.DiffusionConfig) a stage-2 training config implies, with `overrides`."""

    return DiffusionConfig(**{"lambda_eq": cfg.lambda_eq, "lambda_func": cfg.lambda_func, "condition": cfg.condition,
                              "cond_noise": cfg.cond_noise, "pair_k": cfg.pair_k, **overrides})


def _base_train(zoo: Zoo, classes) -> Zoo:
    train = zoo.train()
    if classes is not None:
        train = train.select(torch.isin(train.labels, torch.tensor(list(classes))))
    if len(train) == 0:
        raise ValueError(f"no training INRs of classes {classes} in the zoo")
    return train


def diffusion_data(zoo: Zoo, encoder: WeightEncoder, classes) -> tuple[Tensor, Tensor]:
    """Training INRs of the base classes and their encoder features ψ: → (weights (B, P), ψ (B, F))."""
    train = _base_train(zoo, classes)
    return train.weights, encode(encoder, train.weights)


def neighbour_table(cond: Tensor, labels: Tensor, k: int) -> Tensor:
    """Each row's k nearest rows of its own class by Euclidean distance of cond (B, F), nearest first (itself at
    rank 0) → indices (B, k). A class with fewer than k rows repeats its farthest one."""
    table = torch.empty(len(cond), k, dtype=torch.long)
    for c in labels.unique():
        rows = torch.nonzero(labels == c).squeeze(1)  # (m,)
        d = torch.cdist(cond[rows], cond[rows])  # (m, m)
        d.fill_diagonal_(-1.0)  # itself first, whatever ties
        order = d.argsort(dim=1)[:, :k]  # (m, ≤k)
        if order.shape[1] < k:
            order = torch.cat([order, order[:, -1:].expand(-1, k - order.shape[1])], 1)
        table[rows] = rows[order]
    return table


@seeded
def train_diffusion(zoo: Zoo, encoder: WeightEncoder, cfg: DiffusionTrainConfig = DiffusionTrainConfig(),
                    denoiser_cfg=None, diffusion_cfg=None, *, out: str | Path | None = None, resume: bool = False,
                    accelerator=None, progress: bool = True, callback: Callable[[int, float], None] | None = None,
                    should_stop: Callable[[], bool] | None = None, encoder_path: str | Path | None = None,
                    half: bool = False, state_dir: str | Path | None = None) -> DiffusionTrainResult:
    """Train the conditional weight denoiser on the zoo (normalised flat weights, conditioned on normalised ψ).

    Resumable: the Accelerate training state is saved (atomically) to `state_dir` — by default OUT.train_state/, beside
    the checkpoint — every `save_every` steps and at the end; `resume=True` continues from it. A NaN/inf loss raises
    TrainingDiverged before anything is written.
    """

    diffusion_cfg = diffusion_cfg or diffusion_config(cfg)
    encoder = condition_encoder(encoder, diffusion_cfg.condition)
    denoiser_cfg = denoiser_cfg or DenoiserConfig()
    cond_dim = encoder.out_dim + int(diffusion_cfg.level_input)  # the encoder's ψ (+ its level or rank)
    if denoiser_cfg.cond_dim != cond_dim:
        denoiser_cfg = replace(denoiser_cfg, cond_dim=cond_dim)
    if cfg.space not in ("weights", "pca", "latent"):
        raise ValueError(f"unknown diffusion space {cfg.space!r}; expected 'weights', 'pca' or 'latent'")
    acc = accelerator or make_accelerator()
    t0, cpu0 = time.perf_counter(), time.process_time()
    if encoder.spec != zoo.spec:
        raise ValueError(f"the encoder was trained for {encoder.spec}, the zoo holds {zoo.spec}")
    weights, psi = diffusion_data(zoo, encoder, cfg.classes)
    if cfg.space == "pca":
        wnorm = PCAStats.fit(weights, min(cfg.pca_dim, *weights.shape))
        denoiser_cfg = replace(denoiser_cfg, data_dim=wnorm.dim)
    elif cfg.space == "latent":
        wnorm, _ = fit_latent_codec(zoo.spec, weights, LatentConfig(dim=cfg.latent_dim, steps=cfg.latent_steps,
                                                                     seed=cfg.seed), device=acc.device,
                                    progress=progress and acc.is_main_process)
        denoiser_cfg = replace(denoiser_cfg, data_dim=wnorm.dim)
    else:
        wnorm = NormStats.fit(weights)
    fnorm = NormStats.fit(psi)
    x_all, c_all = wnorm.normalize(weights), fnorm.normalize(psi)
    pairs = (neighbour_table(c_all, _base_train(zoo, cfg.classes).labels, diffusion_cfg.pair_k)
             if diffusion_cfg.pair_k > 0 else None)  # (B, pair_k)
    model = build_denoiser(zoo.spec, denoiser_cfg)
    ema = copy.deepcopy(model).requires_grad_(False)
    process = WeightDiffusion(diffusion_cfg, weight_norm=wnorm, encoder=copy.deepcopy(encoder).to(acc.device),
                              spec=zoo.spec)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    def lr_at(s):
        return min(1.0, (s + 1) / max(1, cfg.warmup)) * 0.5 * (1 + math.cos(math.pi * min(s / cfg.steps, 1.0)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    model, opt, sched = acc.prepare(model, opt, sched)
    prog = _Progress(ema)
    acc.register_for_checkpointing(prog)
    if state_dir is None and out is not None:
        state_dir = train_state_dir(out)
    state_dir = Path(state_dir) if state_dir is not None else None
    if resume:
        if state_dir is not None and not state_dir.is_dir() and state_dir.with_name(state_dir.name + ".old").is_dir():
            state_dir.with_name(state_dir.name + ".old").rename(state_dir)  # a kill between the two renames
        if state_dir is None or not state_dir.is_dir():
            raise FileNotFoundError(f"--resume: no training state at {state_dir}; start without --resume")
        acc.load_state(str(state_dir))
    start = prog.step
    gen = torch.Generator().manual_seed(cfg.seed * 1000 + acc.process_index + 7919 * start)
    bs = min(cfg.batch_size, len(x_all))
    aug_cfg = (AugmentConfig(permute=False, bias_jitter=0.0, weight_noise=0.0).scaled(cfg.augment)
               if cfg.augment > 0 else None)
    n_aug = int(round(bs * cfg.augment_share))
    losses, recon, eq = [], [], []
    bar = tqdm(range(start, cfg.steps), desc="stage 2: diffusion", disable=not (progress and acc.is_main_process))
    ema.to(acc.device)
    for step in bar:
        idx = torch.randint(0, len(x_all), (bs,), generator=gen)
        x, c = x_all[idx], c_all[idx]
        rank = None
        if pairs is not None:  # condition each row on its r-th neighbour's ψ, and say r
            r = torch.randint(0, diffusion_cfg.pair_k, (bs,), generator=gen)
            c = c_all[pairs[idx, r]]
            rank = r.float() / max(1, diffusion_cfg.pair_k - 1)
        if aug_cfg is not None:  # the first n_aug rows: exact augmentations of their INRs, re-encoded
            with torch.no_grad():
                w_aug = random_augment(zoo.spec, weights[idx[:n_aug]], aug_cfg, generator=gen)
                x[:n_aug] = wnorm.normalize(w_aug)
                c[:n_aug] = fnorm.normalize(encode(encoder, w_aug))
        parts = process.training_loss(model, x.to(acc.device), c.to(acc.device), eq_batch=cfg.eq_batch,
                                      generator=gen, cond_level=rank)
        if not torch.isfinite(parts.total):
            raise TrainingDiverged(f"stage 2 loss became {parts.total.item()} at step {step}; the last good "
                                   f"checkpoint{' in ' + str(out) if out else ''} was left as it was (lower --lr, "
                                   f"currently {cfg.lr})")
        opt.zero_grad()
        acc.backward(parts.total)
        if cfg.grad_clip:
            acc.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        sched.step()
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), acc.unwrap_model(model).parameters()):
                pe.lerp_(pm, 1 - cfg.ema_decay)
        prog.step = step + 1
        losses.append(parts.total.item())
        recon.append(parts.recon.item())
        eq.append(parts.eq.item())
        if step % cfg.log_every == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-cfg.log_every:]):.4f}", eq=f"{np.mean(eq[-cfg.log_every:]):.4f}")
            if callback is not None:
                callback(step, losses[-1])
        if state_dir is not None and cfg.save_every and prog.step % cfg.save_every == 0 and prog.step < cfg.steps:
            _save_state_atomic(acc, state_dir)
        if should_stop is not None and should_stop():
            raise KeyboardInterrupt("stage 2 cancelled")
        if cfg.max_seconds is not None and time.perf_counter() - t0 > cfg.max_seconds:
            break
        if cfg.max_cpu_seconds is not None and time.process_time() - cpu0 > cfg.max_cpu_seconds:
            break
        if cfg.max_steps is not None and prog.step >= cfg.max_steps:
            break
    acc.wait_for_everyone()
    result = DiffusionTrainResult(ema.cpu().eval(), losses, recon, eq, time.perf_counter() - t0, start)
    if out is not None:
        if state_dir is not None:
            _save_state_atomic(acc, state_dir)
        if acc.is_main_process:
            result.path = save_diffusion(out, result, zoo=zoo, encoder=encoder, wnorm=wnorm, fnorm=fnorm, cfg=cfg,
                                         denoiser_cfg=denoiser_cfg, diffusion_cfg=diffusion_cfg,
                                         encoder_path=encoder_path, half=half)
    return result
