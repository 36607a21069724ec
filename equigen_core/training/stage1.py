"""Stage 1: contrastive pre-training of the permutation-invariant encoder (SimCLR on exact weight-space
augmentations; optionally SupCon on the base classes' labels), with kNN accuracy and a t-SNE at the end.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from equigen_core.data.zoo import Zoo
from equigen_core.nets.encoder import EncoderConfig, WeightEncoder, info_nce, sup_con
from equigen_core.nets.models import save_encoder
from equigen_core.rng import seeded
from equigen_core.training.common import TrainingDiverged, encode, make_accelerator
from equigen_core.training.features import knn_accuracy, write_tsne
from equigen_core.weightspace.augment import AugmentConfig, random_augment
from equigen_core.weightspace.smooth import canonicalize


@dataclass(frozen=True)
class EncoderTrainConfig:
    steps: int = 1500  # optimisation steps
    batch_size: int = 128  # INRs per step (two views each)
    lr: float = 1e-3  # AdamW, cosine decay
    weight_decay: float = 1e-4
    temperature: float = 0.1  # InfoNCE τ (paper / SimCLR ≈ 0.1)
    smooth: bool = True  # train on smooth-canonicalised weights (EQUIGEN §4.2); --no-smooth uses the raw zoo
    seed: int = 0
    log_every: int = 10
    knn_k: int = 5
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # our addition: train on these classes only (the few-shot protocol keeps the held-out class out of every stage;
    # None: all), and add `supervised` × SupCon on their labels to InfoNCE (0: the paper's self-supervised SimCLR)
    classes: tuple[int, ...] | None = None
    supervised: float = 0.0


@dataclass
class EncoderTrainResult:
    encoder: WeightEncoder
    losses: list[float]  # one per step
    knn_accuracy: float  # held-out INRs classified by kNN over training-INR features
    knn_accuracy_raw: float  # the same on raw flat weights (a reference)
    seconds: float
    path: Path | None = None


def _canonical(zoo: Zoo, smooth: bool, progress: bool) -> Tensor:
    if not smooth or zoo.meta.get("canonicalized"):
        return zoo.weights

    if progress:
        print(f"smooth-canonicalising {len(zoo)} INRs for stage 1 ...")
    return canonicalize(zoo.spec, zoo.weights).weights


@seeded
def train_encoder(zoo: Zoo, cfg: EncoderTrainConfig = EncoderTrainConfig(), enc_cfg: EncoderConfig = EncoderConfig(),
                  *, out: str | Path | None = None, accelerator=None, progress: bool = True,
                  callback: Callable[[int, float], None] | None = None,
                  should_stop: Callable[[], bool] | None = None, tsne: str | None = "html") -> EncoderTrainResult:
    """SimCLR pre-training on the zoo's training INRs (two random augmented views per INR, InfoNCE).

    Evaluates kNN accuracy of ψ on the zoo's held-out INRs; writes the checkpoint (and a t-SNE HTML) to `out`.
    tsne: "html" (plotly, ~4.5 MB with plotly.js inlined), "png" (small, for shipped checkpoints) or None.
    `callback(step, loss)` is called every `log_every` steps; `should_stop()` lets a UI cancel (the checkpoint is then
    not written, and any previous one at `out` stays as it was).
    """

    acc = accelerator or make_accelerator()
    train, test = zoo.train(), zoo.test()
    if cfg.classes is not None:  # kNN is then measured on held-out INRs of the same classes
        train = train.select(torch.isin(train.labels, torch.tensor(list(cfg.classes))))
        test = test.select(torch.isin(test.labels, torch.tensor(list(cfg.classes))))
    if len(train) < 2:
        raise ValueError(f"the zoo has {len(train)} training INRs of classes {cfg.classes}; contrastive training "
                         "needs at least 2")
    weights = _canonical(train, cfg.smooth, progress and acc.is_main_process)
    labels = train.labels
    encoder = WeightEncoder(zoo.spec, enc_cfg)
    encoder.set_input_scale(weights)
    opt = torch.optim.AdamW(encoder.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s / cfg.steps, 1.0))))
    encoder, opt = acc.prepare(encoder, opt)
    gen = torch.Generator().manual_seed(cfg.seed * 1000 + acc.process_index)  # each rank draws its own batches
    bs = min(cfg.batch_size, len(train))
    losses: list[float] = []
    t0 = time.perf_counter()
    bar = tqdm(range(cfg.steps), desc="stage 1: encoder (InfoNCE)", disable=not (progress and acc.is_main_process))
    for step in bar:
        idx = torch.randperm(len(train), generator=gen)[:bs]
        x = weights[idx]
        views = torch.cat([random_augment(zoo.spec, x, cfg.augment, generator=gen) for _ in range(2)])  # (2B, P)
        z1, z2 = encoder(views.to(acc.device), project=True).chunk(2)  # (B, proj_dim) each
        loss = info_nce(z1, z2, cfg.temperature)
        if cfg.supervised > 0:
            loss = loss + cfg.supervised * sup_con(z1, z2, labels[idx], cfg.temperature)
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"stage 1 loss became {loss.item()} at step {step}; nothing was saved "
                                   f"(lower --lr, currently {cfg.lr})")
        opt.zero_grad()
        acc.backward(loss)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if step % cfg.log_every == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-cfg.log_every:]):.3f}")
            if callback is not None:
                callback(step, losses[-1])
        if should_stop is not None and should_stop():
            raise KeyboardInterrupt("stage 1 cancelled")
    seconds = time.perf_counter() - t0
    encoder = acc.unwrap_model(encoder).cpu()
    test_w = _canonical(test, cfg.smooth, False) if len(test) else test.weights
    f_train, f_test = encode(encoder, weights), encode(encoder, test_w)
    knn = knn_accuracy(f_train, train.labels, f_test, test.labels, cfg.knn_k) if len(test) else float("nan")
    knn_raw = knn_accuracy(weights, train.labels, test_w, test.labels, cfg.knn_k) if len(test) else float("nan")
    result = EncoderTrainResult(encoder, losses, knn, knn_raw, seconds)
    if out is not None and acc.is_main_process:
        result.path = save_encoder(out, result, cfg, zoo)
        if tsne and len(test) >= 4:
            write_tsne(Path(out) / f"tsne.{tsne}", f_test, test.labels,
                       title=f"encoder features of held-out INRs ({'smooth' if cfg.smooth else 'no smooth'}), "
                             f"kNN acc {knn:.3f}")
    return result
