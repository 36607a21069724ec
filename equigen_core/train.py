"""Training loops, on Hugging Face Accelerate: the same code runs on CPU, one GPU, or several GPUs under
`accelerate launch --num_processes N` (DDP). Stage 1 (encoder) lives here; later stages add their loops beside it.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import torch
from torch import Tensor, nn

from equigen_core.augment import AugmentConfig, random_augment
from equigen_core.checkpoint import (config_to_dict, load_checkpoint, load_into_module, module_tensors,
                                     save_checkpoint)
from equigen_core.data.zoo import Zoo
from equigen_core.encoder import EncoderConfig, ProbeCondition, WeightEncoder, info_nce, sup_con
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
                  should_stop: Callable[[], bool] | None = None, tsne: str | None = "html") -> EncoderTrainResult:
    """SimCLR pre-training on the zoo's training INRs (two random augmented views per INR, InfoNCE).

    Evaluates kNN accuracy of ψ on the zoo's held-out INRs; writes the checkpoint (and a t-SNE HTML) to `out`.
    tsne: "html" (plotly, ~4.5 MB with plotly.js inlined), "png" (small, for shipped checkpoints) or None.
    `callback(step, loss)` is called every `log_every` steps; `should_stop()` lets a UI cancel (the checkpoint is then
    not written, and any previous one at `out` stays as it was).
    """
    from tqdm.auto import tqdm

    acc = accelerator or make_accelerator()
    torch.manual_seed(cfg.seed)
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


def save_encoder(path: str | Path, result: EncoderTrainResult, cfg: EncoderTrainConfig, zoo: Zoo) -> Path:
    losses = result.losses
    summary = {"steps": len(losses), "seconds": round(result.seconds, 1),
               "loss_first": float(np.mean(losses[:10])), "loss_last": float(np.mean(losses[-10:])),
               "knn_accuracy": result.knn_accuracy, "knn_accuracy_raw_weights": result.knn_accuracy_raw,
               "zoo": {k: zoo.meta.get(k) for k in ("source", "init", "canonicalized", "path")},
               "loss_curve": [round(float(np.mean(losses[i : i + 10])), 4) for i in range(0, len(losses), 10)]}
    config = {"spec": zoo.spec.to_dict(), "encoder": result.encoder.cfg.to_dict(), "train": config_to_dict(cfg)}
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


def tsne_2d(features: Tensor, seed: int = 0):
    """(B, D) → (B, 2) t-SNE embedding (numpy)."""
    from sklearn.manifold import TSNE

    n = len(features)
    if n < 4:
        raise ValueError(f"t-SNE needs at least 4 points, got {n}")
    return TSNE(n_components=2, perplexity=min(30.0, max(1.0, (n - 1) / 3)), random_state=seed,
                init="pca").fit_transform(features.numpy())


def write_tsne(path: Path, features: Tensor, labels: Tensor, *, title: str = "t-SNE", seed: int = 0) -> Path:
    """2-D t-SNE of features coloured by label: a standalone plotly HTML (plotly.js inlined: works offline), or a PNG
    (matplotlib) when `path` ends in .png."""
    xy = tsne_2d(features, seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    if path.suffix == ".png":
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 5), dpi=100)
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=labels.numpy(), cmap="tab10", s=6, vmin=-0.5, vmax=9.5)
        fig.colorbar(sc, ax=ax, ticks=range(10), label="class")
        ax.set_title(title, fontsize=9)
        ax.set_xticks([]), ax.set_yticks([])
        fig.tight_layout()
        fig.savefig(tmp, format="png")
        plt.close(fig)
    else:
        import plotly.express as px

        fig = px.scatter(x=xy[:, 0], y=xy[:, 1], color=[str(int(l)) for l in labels], title=title,
                         labels={"x": "t-SNE 1", "y": "t-SNE 2", "color": "class"})
        fig.write_html(str(tmp), include_plotlyjs=True)
    tmp.replace(path)
    return path




# ----------------------------------------------------------------------------------------------------------------------
# Stage 2: equivariance-guided weight diffusion

DIFFUSION_KIND = "diffusion"


@dataclass(frozen=True)
class DiffusionTrainConfig:
    steps: int = 6000
    batch_size: int = 256
    lr: float = 3e-4  # AdamW with linear warm-up and cosine decay
    warmup: int = 200
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    ema_decay: float = 0.999  # EMA of the denoiser weights (used for sampling)
    lambda_eq: float = 0.1  # λ of L = L_recon + λ·L_eq (EQUIGEN Eq. 7)
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
    # our addition: zoo augmentation — this share of every batch is replaced by exact INR augmentations (rotation,
    # scale, shift, contrast, brightness; augment.AugmentConfig × `augment`, no permutation or noise, so the zoo stays
    # aligned) of its INRs, with their own ψ; 0: off
    augment: float = 0.0
    augment_share: float = 0.5
    eq_batch: int = 64  # rows of each batch that also get L_eq (the encoder pass costs more than the denoiser's)
    classes: tuple[int, ...] | None = (0, 1, 2, 3, 4, 5, 6, 7, 8)  # base classes (protocol: 9 held out)
    seed: int = 0
    log_every: int = 50
    save_every: int = 1000  # resumable training state (Accelerate save_state) every N steps
    max_seconds: float | None = None  # stop early after this much wall time (for equal-time comparisons)
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
    from equigen_core.diffusion import DiffusionConfig

    return DiffusionConfig(**{"lambda_eq": cfg.lambda_eq, "lambda_func": cfg.lambda_func, "condition": cfg.condition,
                              **overrides})


def diffusion_data(zoo: Zoo, encoder: WeightEncoder, classes) -> tuple[Tensor, Tensor]:
    """Training INRs of the base classes and their encoder features ψ: → (weights (B, P), ψ (B, F))."""
    train = zoo.train()
    if classes is not None:
        train = train.select(torch.isin(train.labels, torch.tensor(list(classes))))
    if len(train) == 0:
        raise ValueError(f"no training INRs of classes {classes} in the zoo")
    return train.weights, encode(encoder, train.weights)


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
    import copy

    from tqdm.auto import tqdm

    from equigen_core.denoiser import DenoiserConfig, build_denoiser
    from equigen_core.diffusion import WeightDiffusion
    from equigen_core.encoder import condition_encoder
    from equigen_core.weights import NormStats, PCAStats

    diffusion_cfg = diffusion_cfg or diffusion_config(cfg)
    encoder = condition_encoder(encoder, diffusion_cfg.condition)
    denoiser_cfg = denoiser_cfg or DenoiserConfig()
    if denoiser_cfg.cond_dim != encoder.out_dim:  # the condition is whatever the encoder gives
        denoiser_cfg = replace(denoiser_cfg, cond_dim=encoder.out_dim)
    if cfg.space not in ("weights", "pca", "latent"):
        raise ValueError(f"unknown diffusion space {cfg.space!r}; expected 'weights', 'pca' or 'latent'")
    acc = accelerator or make_accelerator()
    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    if encoder.spec != zoo.spec:
        raise ValueError(f"the encoder was trained for {encoder.spec}, the zoo holds {zoo.spec}")
    weights, psi = diffusion_data(zoo, encoder, cfg.classes)
    if cfg.space == "pca":
        wnorm = PCAStats.fit(weights, min(cfg.pca_dim, *weights.shape))
        denoiser_cfg = replace(denoiser_cfg, data_dim=wnorm.dim)
    elif cfg.space == "latent":
        from equigen_core.latent import LatentConfig, fit_latent_codec

        wnorm, _ = fit_latent_codec(zoo.spec, weights, LatentConfig(dim=cfg.latent_dim, steps=cfg.latent_steps,
                                                                     seed=cfg.seed), device=acc.device,
                                    progress=progress and acc.is_main_process)
        denoiser_cfg = replace(denoiser_cfg, data_dim=wnorm.dim)
    else:
        wnorm = NormStats.fit(weights)
    fnorm = NormStats.fit(psi)
    x_all, c_all = wnorm.normalize(weights), fnorm.normalize(psi)
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
        if aug_cfg is not None:  # the first n_aug rows: exact augmentations of their INRs, re-encoded
            with torch.no_grad():
                w_aug = random_augment(zoo.spec, weights[idx[:n_aug]], aug_cfg, generator=gen)
                x[:n_aug] = wnorm.normalize(w_aug)
                c[:n_aug] = fnorm.normalize(encode(encoder, w_aug))
        parts = process.training_loss(model, x.to(acc.device), c.to(acc.device), eq_batch=cfg.eq_batch,
                                      generator=gen)
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


def _save_state_atomic(acc, state_dir: Path) -> None:
    """Accelerate save_state into a temporary sibling, then swap it in: a run killed mid-save keeps the previous
    state loadable (a half-written state directory would make --resume fail)."""
    import shutil

    tmp, old = state_dir.with_name(state_dir.name + ".tmp"), state_dir.with_name(state_dir.name + ".old")
    if acc.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    acc.wait_for_everyone()
    acc.save_state(str(tmp))
    acc.wait_for_everyone()
    if acc.is_main_process:
        if state_dir.exists():
            state_dir.rename(old)
        tmp.rename(state_dir)
        shutil.rmtree(old, ignore_errors=True)
    acc.wait_for_everyone()


def train_state_dir(out: str | Path) -> Path:
    """Where a run's resumable Accelerate state lives: a sibling of the checkpoint directory, never inside it."""
    out = Path(out)
    return out.parent / f"{out.name}.train_state"


def encoder_fingerprint(encoder: nn.Module) -> str:
    """A short hash of the encoder's weights: a diffusion checkpoint records which encoder it was trained with."""
    import hashlib

    h = hashlib.sha256()
    if isinstance(encoder, ProbeCondition):
        h.update(b"condition=probe")  # the same weights, conditioned on the probe part only
    for k, v in sorted(encoder.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    probe = getattr(getattr(encoder, "cfg", None), "probe_res", 0)
    if probe:  # the same weights with a probe give other features
        h.update(f"probe_res={probe}".encode())
    return h.hexdigest()[:16]


def save_diffusion(path, result: DiffusionTrainResult, *, zoo: Zoo, encoder, wnorm, fnorm, cfg, denoiser_cfg,
                   diffusion_cfg, encoder_path=None, extra_summary: dict | None = None, half: bool = False) -> Path:
    tensors = {**module_tensors(result.model), **wnorm.tensors("norm."), **fnorm.tensors("feat_norm.")}
    if zoo.init is not None:  # the zoo's shared init w0, so new targets can be fitted from it; float64 so that
        tensors["inr_init"] = zoo.init.double()  # half=True storage (float32 → float16 only) leaves it exact
    n = len(result.losses)
    summary = {"steps_run": n, "start_step": result.start_step, "seconds": round(result.seconds, 1),
               "loss_first": float(np.mean(result.losses[:50])) if n else None,
               "loss_last": float(np.mean(result.losses[-50:])) if n else None,
               "recon_last": float(np.mean(result.recon[-50:])) if n else None,
               "eq_last": float(np.mean(result.eq[-50:])) if n else None,
               "loss_curve": [round(float(np.mean(result.losses[i: i + 50])), 5) for i in range(0, n, 50)],
               **(extra_summary or {})}
    config = {"spec": zoo.spec.to_dict(), "denoiser": denoiser_cfg.to_dict(), "diffusion": diffusion_cfg.to_dict(),
              "train": config_to_dict(cfg), "encoder_fingerprint": encoder_fingerprint(encoder),
              "encoder_path": str(encoder_path) if encoder_path else None}
    return save_checkpoint(path, kind=DIFFUSION_KIND, config=config, tensors=tensors, summary=summary, half=half)


# ----------------------------------------------------------------------------------------------------------------------
# Stage 3: few-shot adaptation (the official code's is_few_shot path: fine-tune on strongly augmented shots)


@dataclass(frozen=True)
class FinetuneConfig:
    steps: int = 800
    batch_size: int = 128
    lr: float = 1e-4
    replay: float = 0.5  # share of every batch drawn from the base training data (against forgetting)
    lambda_eq: float = 0.1
    holdout: int = 2  # shots held aside (not trained on) for early stopping
    eval_every: int = 50
    ema_decay: float = 0.99
    seed: int = 0
    augment: AugmentConfig | None = field(default_factory=lambda: AugmentConfig(permute=False, weight_noise=0.0,
                                                                                bias_jitter=0.0).scaled(2.0))
    unconditional: bool = False  # train every row with the null condition (a HyperDiffusion-style baseline)

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


def finetune(model_path: str | Path, shots: Tensor, zoo: Zoo | None = None, cfg: FinetuneConfig = FinetuneConfig(),
             *, out: str | Path | None = None, progress: bool = True,
             callback: Callable[[int, float], None] | None = None,
             should_stop: Callable[[], bool] | None = None, half: bool = False) -> FinetuneResult:
    """Adapt a trained diffusion checkpoint to K shots (K, P) of a new class: fine-tune a copy on exact weight-space
    augmentations of K − holdout shots, with λ·L_eq and replay of the base zoo, keeping the EMA state with the lowest
    denoising loss on the held-aside shots (early stopping before the shots are memorised)."""
    import copy

    from tqdm.auto import tqdm

    from equigen_core.fewshot import FewShotModel

    base = FewShotModel.load(model_path)
    if shots.shape[1] != base.spec.num_params or len(shots) < 2:
        raise ValueError(f"shots must be (K ≥ 2, {base.spec.num_params}) INR weights, got {tuple(shots.shape)}")
    torch.manual_seed(cfg.seed)
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
        pick = torch.randint(0, len(train_shots), (cfg.batch_size - n_replay,), generator=gen)
        aug = train_shots[pick]
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
