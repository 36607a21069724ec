"""Stage 3: few-shot adaptation (the official code's is_few_shot path): fine-tune a copy of the base model on exact
augmentations of K shots, with L_eq, replay of the base zoo and early stopping on held-aside shots.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from equigen_core.data.zoo import Zoo
from equigen_core.generation.fewshot import FewShotModel
from equigen_core.generation.span import mixing_weights
from equigen_core.nets.models import DIFFUSION_KIND
from equigen_core.presets import LAMBDA_EQ
from equigen_core.rng import seeded
from equigen_core.storage.checkpoint import config_to_dict, load_checkpoint, module_tensors, save_checkpoint
from equigen_core.training.common import TrainingDiverged
from equigen_core.training.stage2 import diffusion_data
from equigen_core.weightspace.augment import AugmentConfig, random_augment


@dataclass(frozen=True)
class FinetuneConfig:
    steps: int = 800
    batch_size: int = 128
    lr: float = 1e-4
    replay: float = 0.5  # share of every batch drawn from the base training data (against forgetting)
    lambda_eq: float = LAMBDA_EQ
    holdout: int = 2  # shots held aside (not trained on) for early stopping
    eval_every: int = 50
    ema_decay: float = 0.99
    seed: int = 0
    augment: AugmentConfig | None = field(default_factory=lambda: AugmentConfig(permute=False, weight_noise=0.0,
                                                                                bias_jitter=0.0).scaled(2.0))
    unconditional: bool = False  # train every row with the null condition (a HyperDiffusion-style baseline)
    mix: int = 1  # > 1: every row a Dirichlet mixture of this many training shots (adaptation on the shots' span)

    @classmethod
    def plain(cls, steps: int = 300, **kw) -> "FinetuneConfig":
        """Naive few-shot fine-tuning: the shots only, no augmentation, no replay, no early stopping."""
        return cls(steps=steps, replay=0.0, holdout=0, augment=None, **kw)


@dataclass
class FinetuneResult:
    model: nn.Module  # best EMA weights by the held-aside loss
    best_step: int
    heldout_curve: list[tuple[int, float]]  # (step, denoising loss on the held-aside shots)
    shots_curve: list[tuple[int, float]]  # (step, denoising loss on the training shots)
    base_curve: list[tuple[int, float]]  # (step, denoising loss on base-class INRs)
    seconds: float
    path: Path | None = None


@torch.no_grad()
def fixed_denoising_loss(model, process, x0: Tensor, cond: Tensor, *, n_t: int = 8, seed: int = 0) -> float:
    """Mean x0-prediction error over a fixed set of timesteps and noises (a stable measure across steps)."""
    g = torch.Generator().manual_seed(seed)
    ts = torch.linspace(50, 950, n_t).long()
    total = 0.0
    for t in ts:
        noise = torch.randn(x0.shape, generator=g)
        tt = torch.full((len(x0),), int(t))
        pred = process.predict_x0(model, process.q_sample(x0, tt, noise), tt, cond,
                                  torch.ones(len(x0), dtype=torch.bool))
        total += (pred - x0).pow(2).mean().item()
    return total / n_t


@seeded
def finetune(model_path: str | Path, shots: Tensor, zoo: Zoo | None = None, cfg: FinetuneConfig = FinetuneConfig(),
             *, out: str | Path | None = None, progress: bool = True,
             callback: Callable[[int, float], None] | None = None,
             should_stop: Callable[[], bool] | None = None, half: bool = False) -> FinetuneResult:
    """Adapt a trained diffusion checkpoint to K shots (K, P) of a new class: fine-tune a copy on exact weight-space
    augmentations of K − holdout shots, with λ·L_eq and replay of the base zoo, keeping the EMA state with the lowest
    denoising loss on the held-aside shots (early stopping before the shots are memorised)."""

    base = FewShotModel.load(model_path)
    if shots.shape[1] != base.spec.num_params or len(shots) < 2:
        raise ValueError(f"shots must be (K ≥ 2, {base.spec.num_params}) INR weights, got {tuple(shots.shape)}")
    gen = torch.Generator().manual_seed(cfg.seed)
    hold = min(cfg.holdout, len(shots) - 1)  # 0: no early stopping, the last EMA state is kept
    order = torch.randperm(len(shots), generator=gen)
    train_shots, held = shots[order[hold:]], shots[order[:hold]]
    wn, process = base.process.weight_norm, base.process
    process.cfg = replace(process.cfg, lambda_eq=cfg.lambda_eq)
    replay_x = replay_c = None
    if zoo is not None:  # base data: replayed when cfg.replay > 0, and always measured (forgetting curve)
        classes = base.config.get("train", {}).get("classes")
        rw, _ = diffusion_data(zoo, base.encoder, classes)
        replay_x, replay_c = wn.normalize(rw), base.features(rw)
    model = copy.deepcopy(base.denoiser).train()
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    held_x, held_c = (wn.normalize(held), base.features(held)) if hold else (None, None)
    tr_x, tr_c = wn.normalize(train_shots), base.features(train_shots)
    base_eval = (replay_x[:128], replay_c[:128]) if replay_x is not None else None
    best, best_step, best_state = float("inf"), 0, copy.deepcopy(ema.state_dict())
    heldout_curve, shots_curve, base_curve = [], [], []
    n_replay = int(round(cfg.batch_size * cfg.replay)) if replay_x is not None and cfg.replay > 0 else 0
    t0 = time.perf_counter()
    bar = tqdm(range(cfg.steps + 1), desc="stage 3: few-shot adaptation", disable=not progress)
    for step in bar:
        if step % cfg.eval_every == 0 or (hold == 0 and step == cfg.steps):
            ema.eval()
            shots_curve.append((step, fixed_denoising_loss(ema, process, tr_x, tr_c)))
            if base_eval is not None:
                base_curve.append((step, fixed_denoising_loss(ema, process, *base_eval)))
            if hold:
                h = fixed_denoising_loss(ema, process, held_x, held_c)
                heldout_curve.append((step, h))
            else:  # no held-aside shots: no early stopping, the latest state is the one kept
                h = shots_curve[-1][1]
            if not hold or h < best:
                best, best_step, best_state = h, step, copy.deepcopy(ema.state_dict())
            bar.set_postfix(heldout=f"{h:.4f}", best_step=best_step)
            if callback is not None:
                callback(step, h)
        if step == cfg.steps:
            break
        rows = cfg.batch_size - n_replay
        if cfg.mix > 1:  # convex mixtures of the shots (generation.span.mixing_weights at γ = 1)
            lam, _ = mixing_weights(len(train_shots), rows, mix=cfg.mix, gamma=1.0, concentration=1.0, generator=gen)
            aug = lam @ train_shots  # (rows, K') @ (K', P)
        else:
            aug = train_shots[torch.randint(0, len(train_shots), (rows,), generator=gen)]
        if cfg.augment is not None:
            aug = random_augment(base.spec, aug, cfg.augment, generator=gen)  # exact augmentations
        x, c = wn.normalize(aug), base.features(aug)
        if n_replay:
            r = torch.randint(0, len(replay_x), (n_replay,), generator=gen)
            x, c = torch.cat([x, replay_x[r]]), torch.cat([c, replay_c[r]])
        mask = torch.zeros(len(x), dtype=torch.bool) if cfg.unconditional else None
        parts = process.training_loss(model, x, c, eq_batch=64, generator=gen, cond_mask=mask)
        if not torch.isfinite(parts.total):
            raise TrainingDiverged(f"stage 3 loss became {parts.total.item()} at step {step}; nothing was saved")
        opt.zero_grad()
        parts.total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.lerp_(pm, 1 - cfg.ema_decay)
        if should_stop is not None and should_stop():
            raise KeyboardInterrupt("stage 3 cancelled")
    ema.load_state_dict(best_state)
    result = FinetuneResult(ema.eval(), best_step, heldout_curve, shots_curve, base_curve,
                            time.perf_counter() - t0)
    if out is not None:
        ckpt = load_checkpoint(model_path, kind=DIFFUSION_KIND)
        tensors = {**module_tensors(result.model), **{k: v for k, v in ckpt.tensors.items()
                                                       if k.startswith(("norm.", "feat_norm.", "inr_init"))}}
        summary = {**ckpt.summary, "finetune": {"best_step": best_step, "seconds": round(result.seconds, 1),
                                                "k": len(shots), "holdout": hold, "heldout_curve": heldout_curve,
                                                "shots_curve": shots_curve, "base_curve": base_curve,
                                                "config": config_to_dict(cfg), "base": str(model_path)}}
        config = {**ckpt.config, "encoder_path": ckpt.config.get("encoder_path")}
        result.path = save_checkpoint(out, kind=DIFFUSION_KIND, config=config, tensors=tensors, summary=summary,
                                      half=half)
    return result
