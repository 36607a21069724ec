"""Batched INR fitting: many SIRENs optimised in one loop, each with its own loss, Adam state and early stop.

Design (why it is fast on a CPU):
- all INRs of a pool share the coordinates, so every layer is one batched matmul over (B, N, D);
- the gradient is written out by hand (SIREN's derivative is ω·cos), so no autograd graph is built and ω is folded into
  the matmuls; Adam is applied to the flat (B, P) tensor with a per-INR step count;
- per-INR early stop: an INR leaves the pool when it reaches `target_psnr`, and a waiting INR takes its slot, so the
  pool stays full and no work is spent on INRs that are done.
Reference recipe it is compared with (bench/fit.py): DWSNets, one INR at a time, Adam lr 5e-4, MSE, ≤ 1k steps.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Literal

import torch
from torch import Tensor
from tqdm.auto import tqdm

from equigen_core.weightspace.inr import SirenSpec, images_to_targets, make_grid, siren_init, unflatten
from equigen_core.weightspace.render import occupancy_grid


@dataclass(frozen=True)
class FitConfig:
    """Hyper-parameters of batched fitting (saved in zoo.json)."""

    max_steps: int = 300  # Adam steps per INR at most
    lr: float = 3e-3  # Adam learning rate (a shared init tolerates a larger lr than DWSNets' 5e-4)
    target_psnr: float | None = 36.0  # dB; an INR stops as soon as it reaches it (None: always max_steps)
    # shared: one SIREN init for every INR (aligns the zoo); meta: one meta-learned init (metainit.py; build_zoo
    # learns it, fit_signals then needs it as init_weights); independent: a fresh SIREN init per INR
    init: Literal["shared", "independent", "meta"] = "shared"
    pool: int = 32  # INRs optimised together (a small pool stays in cache: ~2× faster per INR than 128 on a CPU)
    check_every: int = 5  # steps between progress callbacks
    seed: int = 0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    loss: Literal["mse", "bce"] = "mse"  # bce: occupancy logits vs {0, 1} targets
    # occupancy fitting (fit_shapes) only: a cosine decay of the lr to lr_final over max_steps (None: constant lr),
    # and `batch_points` of each round's labelled points drawn afresh at every step (0: all of them)
    lr_final: float | None = None
    batch_points: int = 0


# The occupancy recipe (docs/RESULTS.md, "3D zoo"; bench/fit3d.py): one Adam run over 100 rounds of 2,048 fresh
# labelled points, 256 of them per step, lr 3e-3 decayed to 1e-5 by a cosine. Cheap steps, many of them: thin parts
# (wings, fins) come out where 800 full-batch steps at a constant lr left them ragged.
OCCUPANCY_FIT = FitConfig(max_steps=4000, lr=3e-3, target_psnr=None, pool=16, loss="bce", lr_final=1e-5,
                          batch_points=256)
OCCUPANCY_POINTS, OCCUPANCY_ROUNDS = 2048, 100
# From a meta-learned init (metainit.meta_learn_shape_init): half the steps at a third of the lr, so every INR stays
# near w0 — the regular weight space the diffusion model learns from (docs/RESULTS.md, "3D that generates")
OCCUPANCY_META_FIT = replace(OCCUPANCY_FIT, max_steps=2000, lr=1e-3, init="meta")


@dataclass
class FitProgress:
    """What the progress callback receives after each check."""

    done: int  # INRs finished
    total: int
    steps: int  # optimisation steps so far (pool steps)
    mean_psnr_done: float  # mean PSNR (dB) of the finished INRs (nan if none)
    seconds: float


@dataclass
class FitResult:
    weights: Tensor  # (B, P) fitted flat weights
    psnr: Tensor  # (B,) final PSNR in dB on the fitting coordinates (for bce: -10·log10 of the mse of probabilities)
    steps: Tensor  # (B,) Adam steps each INR took
    seconds: float
    config: FitConfig = field(default_factory=FitConfig)

    @property
    def mean_psnr(self) -> float:
        return float(self.psnr.mean())


def psnr_from_mse(mse: Tensor) -> Tensor:
    """PSNR for signals in [0, 1]: 10·log10(1 / mse)."""
    return -10.0 * torch.log10(mse.clamp_min(1e-12))


# ----------------------------------------------------------------------------------------------------------------------
# One step: forward, hand-written backward


def _forward_backward(spec: SirenSpec, flat: Tensor, coords: Tensor, target: Tensor, loss: str) -> tuple[Tensor, Tensor]:
    """Loss gradient for B INRs. flat (B, P), coords (N, in) shared or (B, N, in) per INR, target (B, N, C)
    → (grad (B, P), per-INR mse (B,))."""
    ws, bs = unflatten(spec, flat)
    w0 = spec.omega0
    acts, cosines = [], []  # acts[l]: input of linear layer l; cosines[l]: cos(ω z_l)
    h = coords if coords.dim() == 3 else coords.unsqueeze(0).expand(flat.shape[0], -1, -1)  # (B, N, in)
    for l in range(spec.num_layers - 1):
        acts.append(h)
        z = torch.baddbmm(bs[l].unsqueeze(1), h, ws[l].transpose(1, 2), beta=w0, alpha=w0)  # (B, N, D) = ω(Wh + b)
        cosines.append(torch.cos(z))
        h = z.sin_()
    acts.append(h)
    y = torch.baddbmm((bs[-1] + spec.out_offset).unsqueeze(1), h, ws[-1].transpose(1, 2))  # (B, N, C)
    n_el = y.shape[1] * y.shape[2]
    if loss == "mse":
        err = y.sub_(target)
        mse = err.pow(2).mean(dim=(1, 2))
        g = err.mul_(2.0 / n_el)
    else:  # bce with logits; report the mse of probabilities for the PSNR-like figure
        p = torch.sigmoid(y - spec.out_offset)
        mse = (p - target).pow(2).mean(dim=(1, 2))
        g = (p - target).mul_(1.0 / n_el)
    parts = [None] * (2 * spec.num_layers)
    for l in range(spec.num_layers - 1, -1, -1):
        parts[2 * l] = torch.bmm(g.transpose(1, 2), acts[l]).flatten(1)  # dW_l (B, d_out·d_in)
        parts[2 * l + 1] = g.sum(dim=1)  # db_l (B, d_out)
        if l > 0:  # through W_l and the sine: dz = (g W_l) ⊙ ω cos(ω z); ω is folded into the small W_l
            g = torch.bmm(g, ws[l] * w0).mul_(cosines[l - 1])  # (B, N, d_in)
    return torch.cat(parts, dim=1), mse


# ----------------------------------------------------------------------------------------------------------------------
# The fitting loop


def default_lr(init: str) -> float:
    """Adam lr for fitting from an init: from a meta-learned w0 a smaller lr still reaches the target PSNR and keeps
    w − w0 small (docs/RESULTS.md); from a random SIREN init the zoos use 3e-3."""
    return 1e-3 if init == "meta" else 3e-3


def shared_init(spec: SirenSpec, seed: int) -> Tensor:
    """The one SIREN init (1, P) that FitConfig(init="shared", seed=seed) fits every INR from."""
    return siren_init(spec, 1, generator=torch.Generator().manual_seed(seed))


def fit_signals(spec: SirenSpec, coords: Tensor, targets: Tensor, cfg: FitConfig = FitConfig(), *,
                init_weights: Tensor | None = None, callback: Callable[[FitProgress], None] | None = None,
                progress: bool = True, desc: str = "fitting INRs") -> FitResult:
    """Fit B SIRENs to B signals sampled at shared coordinates.

    coords: (N, in) shared, or (B, N, in) per signal (e.g. occupancy points near each shape's surface); targets:
    (B, N, C) with C = spec.out_dim. `init_weights` (B, P) or (1, P) overrides cfg.init.
    """
    b_total, n, c = targets.shape
    per_signal = coords.dim() == 3
    if c != spec.out_dim or coords.shape[-2:] != (n, spec.in_dim) or (per_signal and len(coords) != b_total):
        raise ValueError(f"targets {tuple(targets.shape)} / coords {tuple(coords.shape)} do not match {spec}")
    device = targets.device
    if init_weights is None and cfg.init == "meta":
        raise ValueError("FitConfig(init='meta') needs the meta-learned init: pass init_weights=w0[None] "
                         "(a zoo's .init, or metainit.meta_learn_init)")
    if init_weights is None:
        init_weights = (shared_init(spec, cfg.seed) if cfg.init == "shared"
                        else siren_init(spec, b_total, generator=torch.Generator().manual_seed(cfg.seed)))
    init_weights = init_weights.to(device)
    if init_weights.shape[0] == 1:
        init_weights = init_weights.expand(b_total, -1)
    b1, b2 = cfg.betas
    out_w = torch.empty(b_total, spec.num_params, device=device)
    out_mse = torch.full((b_total,), float("nan"), device=device)
    out_steps = torch.zeros(b_total, dtype=torch.long)
    target_mse = 10 ** (-cfg.target_psnr / 10) if cfg.target_psnr is not None else -1.0

    # pool state: which INRs, their weights, Adam moments and step counts
    next_idx = 0
    idx = torch.empty(0, dtype=torch.long)
    w = torch.empty(0, spec.num_params, device=device)
    m, v = torch.empty_like(w), torch.empty_like(w)
    t = torch.empty(0, device=device)
    tgt = targets[:0]
    pool_coords = coords[:0] if per_signal else coords
    done, pool_steps, t0 = 0, 0, time.perf_counter()
    bar = tqdm(total=b_total, desc=desc, disable=not progress, unit="INR")
    while done < b_total:
        take = min(cfg.pool - idx.numel(), b_total - next_idx)
        if take > 0:  # refill the slots of finished INRs
            new = torch.arange(next_idx, next_idx + take)
            next_idx += take
            idx = torch.cat([idx, new])
            w = torch.cat([w, init_weights[new].clone()])
            m = torch.cat([m, torch.zeros(take, spec.num_params, device=device)])
            v = torch.cat([v, torch.zeros(take, spec.num_params, device=device)])
            t = torch.cat([t, torch.zeros(take, device=device)])
            tgt = targets[idx]
            if per_signal:
                pool_coords = coords[idx]
        grad, mse = _forward_backward(spec, w, pool_coords, tgt, cfg.loss)  # mse of the current (pre-update) weights
        finished = (mse <= target_mse) | (t >= cfg.max_steps)
        if bool(finished.any()):  # record finishers with the weights whose mse was just measured
            fi = idx[finished]
            out_w[fi], out_mse[fi], out_steps[fi] = w[finished], mse[finished], t[finished].long().cpu()
            keep = ~finished
            idx, w, m, v, t, tgt, grad = idx[keep], w[keep], m[keep], v[keep], t[keep], tgt[keep], grad[keep]
            if per_signal:
                pool_coords = pool_coords[keep]
            n_fin = int(finished.sum())
            done += n_fin
            bar.update(n_fin)
            if callback is not None and (pool_steps % cfg.check_every == 0 or done == b_total):
                finished_mse = out_mse[~torch.isnan(out_mse)]
                callback(FitProgress(done, b_total, pool_steps, float(psnr_from_mse(finished_mse).mean()),
                                     time.perf_counter() - t0))
            if idx.numel() == 0:
                continue
        t += 1
        m.mul_(b1).add_(grad, alpha=1 - b1)
        v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        step = (cfg.lr / (1 - b1 ** t)).unsqueeze(1)  # (B, 1): per-INR bias correction
        denom = (v / (1 - b2 ** t).unsqueeze(1)).sqrt_().add_(cfg.eps)
        w.addcdiv_(m * step, denom, value=-1.0)
        pool_steps += 1
    bar.close()
    return FitResult(out_w, psnr_from_mse(out_mse), out_steps, time.perf_counter() - t0, cfg)


def fit_images(spec: SirenSpec, images: Tensor, cfg: FitConfig = FitConfig(), **kw) -> FitResult:
    """Fit B image INRs: images (B, C, H, W) in [0, 1] on their pixel-centre grid in [-1, 1]²."""
    b, c, h, w = images.shape
    if h != w:
        raise ValueError(f"images must be square, got {h}×{w}")
    return fit_signals(spec, make_grid(h, 2, device=images.device), images_to_targets(images), cfg, **kw)


def fit_shapes(spec: SirenSpec, shapes, cfg: FitConfig | None = None, *, points: int = OCCUPANCY_POINTS,
               rounds: int = OCCUPANCY_ROUNDS, seed: int = 0, init_weights: Tensor | None = None,
               progress: bool = True, callback: Callable[[FitProgress], None] | None = None,
               desc: str = "fitting occupancy INRs") -> FitResult:
    """Fit B occupancy INRs (3→…→1 logits) to a shape set with BCE, `cfg.pool` shapes at a time, in one Adam run:
    per shape, `points` labelled points, half near the surface and half uniform in [-1, 1]³
    (ShapeSet.training_points), drawn afresh for each of `rounds` rounds, so the INR sees rounds × points distinct
    points and does not memorise a fixed set; each step uses `cfg.batch_points` of them (0: all), drawn at random;
    the lr follows a cosine from cfg.lr to cfg.lr_final (None: constant). The shapes are always fitted for
    cfg.max_steps (occupancy has no target PSNR). init_weights (B, P) or (1, P) overrides cfg.init."""
    if spec.in_dim != 3 or spec.out_dim != 1:
        raise ValueError(f"fit_shapes needs a 3→…→1 occupancy INR, got {spec}")
    cfg = cfg or OCCUPANCY_FIT
    if cfg.loss != "bce":
        raise ValueError("occupancy INRs are fitted with loss='bce'")
    if cfg.init == "meta" and init_weights is None:
        raise ValueError("FitConfig(init='meta') needs the meta-learned init: pass init_weights=w0[None]")
    b_total, steps = len(shapes), max(1, cfg.max_steps)
    rounds = max(1, min(rounds, steps))
    if init_weights is None:
        init_weights = (shared_init(spec, cfg.seed) if cfg.init == "shared"
                        else siren_init(spec, b_total, generator=torch.Generator().manual_seed(cfg.seed)))
    if init_weights.shape[0] == 1:
        init_weights = init_weights.expand(b_total, -1)
    g = torch.Generator().manual_seed(seed * 7919 + 1)
    out_w, out_mse = torch.empty(b_total, spec.num_params), torch.empty(b_total)
    t0 = time.perf_counter()
    bar = tqdm(total=b_total, desc=desc, disable=not progress, unit="INR")
    for start in range(0, b_total, cfg.pool):
        sel = torch.arange(start, min(b_total, start + cfg.pool))
        part = shapes.select(sel)
        w = init_weights[sel].clone()
        adam = _Adam(w, cfg)
        for r in range(rounds):
            pts, occ = part.training_points(points, seed=seed * 1009 + r)  # (b, N, 3), (b, N)
            n_steps = steps // rounds + (1 if r < steps % rounds else 0)
            for _ in range(n_steps):
                p, o = pts, occ
                if 0 < cfg.batch_points < points:
                    pick = torch.randint(0, points, (len(sel), cfg.batch_points), generator=g)
                    p, o = torch.gather(pts, 1, pick.unsqueeze(-1).expand(-1, -1, 3)), torch.gather(occ, 1, pick)
                grad, mse = _forward_backward(spec, w, p, o.unsqueeze(-1), "bce")
                adam.step(w, grad, _cosine_lr(cfg, adam.t, steps))
        # the reported fit: the mse of probabilities on the last round's full point set
        out_w[sel] = w
        out_mse[sel] = _forward_backward(spec, w, pts, occ.unsqueeze(-1), "bce")[1]
        bar.update(len(sel))
        if callback is not None:
            done = int(sel[-1]) + 1
            callback(FitProgress(done, b_total, steps, float(psnr_from_mse(out_mse[:done]).mean()),
                                 time.perf_counter() - t0))
    bar.close()
    return FitResult(out_w, psnr_from_mse(out_mse), torch.full((b_total,), steps), time.perf_counter() - t0, cfg)


class _Adam:
    """Adam over a pool of flat weight vectors (B, P), updated in place."""

    def __init__(self, w: Tensor, cfg: FitConfig):
        self.m, self.v, self.t, self.cfg = torch.zeros_like(w), torch.zeros_like(w), 0, cfg

    def step(self, w: Tensor, grad: Tensor, lr: float) -> None:
        b1, b2 = self.cfg.betas
        self.t += 1
        self.m.mul_(b1).add_(grad, alpha=1 - b1)
        self.v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        denom = (self.v / (1 - b2 ** self.t)).sqrt_().add_(self.cfg.eps)
        w.addcdiv_(self.m, denom, value=-lr / (1 - b1 ** self.t))


def _cosine_lr(cfg: FitConfig, t: int, total: int) -> float:
    """The lr for step t (0-based): cfg.lr, or a cosine from cfg.lr down to cfg.lr_final at step `total`."""
    if cfg.lr_final is None:
        return cfg.lr
    return cfg.lr_final + 0.5 * (cfg.lr - cfg.lr_final) * (1 + math.cos(math.pi * min(t, total) / total))


def occupancy_iou(spec: SirenSpec, flat: Tensor, shapes, res: int = 64, chunk: int = 64) -> Tensor:
    """IoU of every INR's occupancy (logit > 0) with its shape's exact occupancy on a res³ grid → (B,)."""

    grid = make_grid(res, 3)
    out = []
    for i in range(0, len(flat), chunk):
        pred = occupancy_grid(spec, flat[i : i + chunk], res).flatten(1) > 0
        true = shapes.select(torch.arange(i, min(i + chunk, len(flat)))).occupancy(grid)
        out.append((pred & true).sum(1) / (pred | true).sum(1).clamp_min(1))
    return torch.cat(out)
