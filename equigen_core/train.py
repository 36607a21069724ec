"""Training loops, on Hugging Face Accelerate: the same code runs on CPU, one GPU, or several GPUs under
`accelerate launch --num_processes N` (DDP). Stage 1 (encoder) lives here; later stages add their loops beside it.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from equigen_core.augment import AugmentConfig, random_augment
from equigen_core.checkpoint import load_checkpoint, load_into_module, module_tensors, save_checkpoint
from equigen_core.data.zoo import Zoo
from equigen_core.encoder import EncoderConfig, WeightEncoder, info_nce
from equigen_core.inr import SirenSpec

ENCODER_KIND = "encoder"


class TrainingDiverged(RuntimeError):
    """The loss became NaN/inf; the run stopped and the last good checkpoint was left as it was."""


def make_accelerator(cpu: bool = False):
    """An Accelerator on CUDA when present (or the devices `accelerate launch` assigns), else CPU."""
    from accelerate import Accelerator

    return Accelerator(cpu=cpu or not torch.cuda.is_available())


# ----------------------------------------------------------------------------------------------------------------------
# Stage 1: contrastive pre-training of the encoder


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
    from equigen_core.smooth import canonicalize

    if progress:
        print(f"smooth-canonicalising {len(zoo)} INRs for stage 1 ...")
    return canonicalize(zoo.spec, zoo.weights).weights


@torch.no_grad()
def encode(encoder: WeightEncoder, flat: Tensor, chunk: int = 512) -> Tensor:
    """ψ for many INRs: (B, P) → (B, feature_dim), in eval mode, chunked."""
    was = encoder.training
    encoder.eval()
    dev = next(encoder.parameters()).device
    out = torch.cat([encoder(flat[i : i + chunk].to(dev)).cpu() for i in range(0, len(flat), chunk)])
    encoder.train(was)
    return out


def knn_accuracy(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor, k: int = 5) -> float:
    """Held-out accuracy of a cosine kNN classifier."""
    from sklearn.neighbors import KNeighborsClassifier

    clf = KNeighborsClassifier(n_neighbors=k, metric="cosine").fit(train_x.numpy(), train_y.numpy())
    return float((clf.predict(test_x.numpy()) == test_y.numpy()).mean())


def train_encoder(zoo: Zoo, cfg: EncoderTrainConfig = EncoderTrainConfig(), enc_cfg: EncoderConfig = EncoderConfig(),
                  *, out: str | Path | None = None, accelerator=None, progress: bool = True,
                  callback: Callable[[int, float], None] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> EncoderTrainResult:
    """SimCLR pre-training on the zoo's training INRs (two random augmented views per INR, InfoNCE).

    Evaluates kNN accuracy of ψ on the zoo's held-out INRs; writes the checkpoint (and a t-SNE HTML) to `out`.
    `callback(step, loss)` is called every `log_every` steps; `should_stop()` lets a UI cancel (the checkpoint is then
    not written, and any previous one at `out` stays as it was).
    """
    from tqdm.auto import tqdm

    acc = accelerator or make_accelerator()
    torch.manual_seed(cfg.seed)
    train, test = zoo.train(), zoo.test()
    if len(train) < 2:
        raise ValueError(f"the zoo has {len(train)} training INRs; contrastive training needs at least 2")
    weights = _canonical(train, cfg.smooth, progress and acc.is_main_process)
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
        write_tsne(Path(out) / "tsne.html", f_test, test.labels,
                   title=f"encoder features of held-out INRs ({'smooth' if cfg.smooth else 'no smooth'}), "
                         f"kNN acc {knn:.3f}")
    return result


def save_encoder(path: str | Path, result: EncoderTrainResult, cfg: EncoderTrainConfig, zoo: Zoo) -> Path:
    losses = result.losses
    summary = {"steps": len(losses), "seconds": round(result.seconds, 1),
               "loss_first": float(np.mean(losses[:10])), "loss_last": float(np.mean(losses[-10:])),
               "knn_accuracy": result.knn_accuracy, "knn_accuracy_raw_weights": result.knn_accuracy_raw,
               "zoo": {k: zoo.meta.get(k) for k in ("source", "init", "canonicalized", "path")},
               "loss_curve": [round(float(np.mean(losses[i : i + 10])), 4) for i in range(0, len(losses), 10)]}
    config = {"spec": zoo.spec.to_dict(), "encoder": result.encoder.cfg.to_dict(), "train": _jsonable(cfg)}
    return save_checkpoint(path, kind=ENCODER_KIND, config=config, tensors=module_tensors(result.encoder),
                           summary=summary)


def load_encoder(path: str | Path, spec: SirenSpec | None = None) -> WeightEncoder:
    """Load a stage-1 encoder; with `spec`, check it was trained for that INR spec."""
    from equigen_core.checkpoint import CheckpointError

    ckpt = load_checkpoint(path, kind=ENCODER_KIND)
    saved = SirenSpec.from_dict(ckpt.config["spec"])
    if spec is not None and saved != spec:
        raise CheckpointError(f"{Path(path) / 'config.json'}: encoder was trained for INR spec {saved}, "
                              f"but this data uses {spec}")
    enc = WeightEncoder(saved, EncoderConfig(**ckpt.config["encoder"]))
    load_into_module(enc, ckpt)
    return enc.eval()


def write_tsne(path: Path, features: Tensor, labels: Tensor, *, title: str = "t-SNE", seed: int = 0) -> Path:
    """2-D t-SNE of features coloured by label, as a standalone plotly HTML file (plotly.js inlined: works offline)."""
    import plotly.express as px
    from sklearn.manifold import TSNE

    n = len(features)
    xy = TSNE(n_components=2, perplexity=min(30.0, max(2.0, (n - 1) / 3)), random_state=seed,
              init="pca").fit_transform(features.numpy())
    fig = px.scatter(x=xy[:, 0], y=xy[:, 1], color=[str(int(l)) for l in labels], title=title,
                     labels={"x": "t-SNE 1", "y": "t-SNE 2", "color": "class"})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fig.write_html(str(tmp), include_plotlyjs=True)
    tmp.replace(path)
    return path


def _jsonable(cfg) -> dict:
    d = asdict(cfg)
    return json.loads(json.dumps(d, default=list))
