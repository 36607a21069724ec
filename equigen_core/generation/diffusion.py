"""Stage 2: the diffusion process over (normalised, flat) INR weights. It owns the noise schedule and takes the
denoiser network as an argument; it never builds one (DiT's split).

- Cosine schedule (Nichol & Dhariwal 2021; diffusers' "squaredcos_cap_v2"), 1,000 training steps.
- x0-prediction in training and sampling (EQUIGEN §4.3 predicts weights directly), with the network's output used as
  a correction to the scaled input (see `predict_x0`).
- Loss L = L_recon + λ·L_eq (EQUIGEN Eq. 7): L_recon = ||x̂0 − x0||², L_eq = ||E(x̂0) − E(x0)||² in the frozen stage-1
  encoder's feature space (weights denormalised before encoding).
- Condition dropout (rows with the null condition), so classifier-free guidance is possible at sampling.
- DDIM sampling through `diffusers.DDIMScheduler(prediction_type="sample")`, a per-step callback receiving x̂0, and
  — our addition, not in the paper — sampling-time *equivariance guidance*: at each step x̂0 is nudged down the
  gradient of ||E(x̂0) − ψ̃||² with strength λ_g ∈ [0, 1] (the fraction of that distance a linearised step removes).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Literal

import torch
from torch import Tensor, nn

from equigen_core.presets import LAMBDA_EQ
from equigen_core.weightspace.inr import siren_forward
from equigen_core.weightspace.weights import NormStats, PCAStats


@dataclass(frozen=True)
class DiffusionConfig:
    num_train_timesteps: int = 1000  # paper: 1000
    lambda_eq: float = LAMBDA_EQ  # λ, weight of L_eq (paper default 0.1)
    cond_drop: float = 0.1  # probability of training a row with the null condition
    lambda_func: float = 0.0  # our addition: weight of a function-space loss ᾱ_t·||f_x̂0(x) − f_x0(x)||² on pixels
    func_points: int = 196  # random coordinates per batch for that loss
    # our addition: what ψ the model is conditioned on (and L_eq / guidance measured in): "features", the encoder's
    # whole ψ; "probe", its function part (encoder.ProbeCondition)
    condition: Literal["features", "probe"] = "features"
    # our addition: the network's parametrisation and the loss weighting over t. "x0": x̂0 = √ᾱ·x_t + √(1−ᾱ)·F, loss
    # ||x̂0 − x0||² (see predict_x0); "v": the same x̂0, loss ||v̂ − v||² = ||x̂0 − x0||² / (1 − ᾱ) (capped at
    # max_weight); "eps": F = ε̂, x̂0 = (x_t − √(1−ᾱ)·ε̂)/√ᾱ (clipped to ±clip_x0), loss ||ε̂ − ε||² (DDPM)
    prediction: Literal["x0", "v", "eps"] = "x0"
    max_weight: float = 20.0
    clip_x0: float = 5.0
    beta_schedule: Literal["squaredcos_cap_v2", "linear", "scaled_linear"] = "squaredcos_cap_v2"  # cosine
    # our addition, condition corruption with the level as input (Cascaded Diffusion Models, Ho et al. 2021): in
    # training every condition is replaced by c + s·ε with s ~ U(0, cond_noise) per row, and s is appended to it as
    # one more input; at sampling the level is the γ of ψ̃ = ψ + γ·ε, a level the model has seen. 0: off
    cond_noise: float = 0.0
    # our addition, neighbour pairing with the rank as input (after IC-GAN, Casanova et al. 2021): in training each
    # INR is conditioned on the ψ of its r-th nearest same-class neighbour (r ~ U{0, …, pair_k − 1}; r = 0 is its own
    # ψ) and r/(pair_k − 1) is one more input; at sampling ψ is not perturbed and γ (clipped to [0, 1]) is the rank
    # asked for — "an INR whose ψ-neighbour this target is". 0: off
    pair_k: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def level_input(self) -> bool:
        """Whether the denoiser takes one more condition input: the corruption level or the neighbour rank."""
        return self.cond_noise > 0 or self.pair_k > 0

    def sampling_level(self, gamma: float) -> float:
        """The extra input a sampler with diversity γ passes: the level the model was trained on, within its range."""
        if self.cond_noise > 0:
            return min(float(gamma), self.cond_noise)
        return min(float(gamma), 1.0) if self.pair_k > 0 else 0.0

    def psi_noise(self, gamma: float) -> float:
        """The scale of ε in ψ̃ = ψ + scale·ε at diversity γ: γ, except for a pairing model, whose γ is the rank."""
        return 0.0 if self.pair_k > 0 else float(gamma)


def make_scheduler(cfg: DiffusionConfig = DiffusionConfig()):
    """The DDIM scheduler used for sampling; its alphas_cumprod also define the training noise levels."""
    from diffusers import DDIMScheduler

    return DDIMScheduler(num_train_timesteps=cfg.num_train_timesteps, beta_schedule=cfg.beta_schedule,
                         prediction_type="sample", clip_sample=False, set_alpha_to_one=True,
                         timestep_spacing="trailing")


@dataclass
class LossParts:
    total: Tensor
    recon: Tensor
    eq: Tensor
    func: Tensor | None = None


@dataclass
class StepInfo:
    """What the per-step callback receives."""

    index: int  # 0-based step number
    total: int  # number of DDIM steps
    timestep: int  # the training timestep t of this step
    x0_hat: Tensor  # (B, P) current prediction of the clean normalised weights


class WeightDiffusion:
    """The process: q(x_t | x0), the training loss and DDIM sampling, for any denoiser(x_t, t, cond, cond_mask)."""

    def __init__(self, cfg: DiffusionConfig = DiffusionConfig(), *, weight_norm: NormStats | PCAStats,
                 encoder: nn.Module | None = None, spec=None):
        self.cfg = cfg
        self.spec = spec if spec is not None else getattr(encoder, "spec", None)
        self.scheduler = make_scheduler(cfg)
        self.alphas_cumprod = self.scheduler.alphas_cumprod.float()  # (T,)
        if cfg.prediction not in ("x0", "v", "eps"):
            raise ValueError(f"unknown prediction {cfg.prediction!r}; expected 'x0', 'v' or 'eps'")
        self.weight_norm = weight_norm
        self.encoder = encoder
        if encoder is not None:
            encoder.eval()
            for p in encoder.parameters():
                p.requires_grad_(False)

    # -- forward process ----------------------------------------------------------------------------------------------
    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """x_t = √ᾱ_t x0 + √(1 − ᾱ_t) ε. x0, noise (B, P); t (B,) long."""
        a = self.alphas_cumprod.to(x0.device)[t].unsqueeze(1)  # (B, 1)
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def with_level(self, cond: Tensor | None, level) -> Tensor | None:
        """cond (B, F) → (B, F + 1) with the level (corruption level or neighbour rank) appended, when the model was
        trained with one."""
        if cond is None or not self.cfg.level_input:
            return cond
        lv = torch.as_tensor(level, dtype=cond.dtype, device=cond.device).expand(len(cond))
        return torch.cat([cond, lv[:, None]], 1)

    def predict_x0(self, model: nn.Module, x_t: Tensor, t: Tensor, cond: Tensor | None = None,
                   cond_mask: Tensor | None = None) -> Tensor:
        """x̂0 = √ᾱ_t · x_t + √(1 − ᾱ_t) · F(x_t, t, c): the network predicts only the correction to the scaled input
        (the σ_data = 1 case of EDM's preconditioning, Karras et al. 2022; equivalently x̂0 from a −v prediction).
        At small t the input already is nearly x0, which a bottlenecked network cannot copy by itself: without this,
        the last DDIM steps turned good samples into noise."""
        a = self.alphas_cumprod.to(x_t.device)[t].unsqueeze(1)  # (B, 1)
        out = model(x_t, t, cond, cond_mask)
        if self.cfg.prediction == "eps":  # x̂0 from the predicted noise
            return ((x_t - (1 - a).sqrt() * out) / a.sqrt()).clamp(-self.cfg.clip_x0, self.cfg.clip_x0)
        return a.sqrt() * x_t + (1 - a).sqrt() * out

    def loss_weight(self, t: Tensor) -> Tensor:
        """Per-row weight (B,) of ||x̂0 − x0||² that gives the configured prediction's loss."""
        a = self.alphas_cumprod.to(t.device)[t]
        if self.cfg.prediction == "v":
            return (1 / (1 - a)).clamp(max=self.cfg.max_weight)
        if self.cfg.prediction == "eps":  # ||ε̂ − ε||² = ᾱ/(1 − ᾱ)·||x̂0 − x0||²
            return (a / (1 - a)).clamp(max=self.cfg.max_weight)
        return torch.ones_like(a)

    def features(self, z: Tensor) -> Tensor:
        """E(w) for normalised weights z (B, P) → (B, F); differentiable w.r.t. z."""
        if self.encoder is None:
            raise RuntimeError("this WeightDiffusion has no encoder: pass encoder=... to use L_eq or guidance")
        return self.encoder(self.weight_norm.denormalize(z))

    # -- training -----------------------------------------------------------------------------------------------------
    def training_loss(self, model: nn.Module, x0: Tensor, cond: Tensor | None, *, lambda_eq: float | None = None,
                      eq_batch: int | None = None, generator: torch.Generator | None = None,
                      cond_mask: Tensor | None = None, cond_level: Tensor | None = None) -> LossParts:
        """L = L_recon + λ·L_eq on a batch of normalised weights x0 (B, P) with conditions cond (B, F).
        eq_batch: compute L_eq on the first eq_batch rows only (the encoder pass dominates the cost on a CPU).
        cond_mask (B,) bool: which rows see their condition (default: random condition dropout at cfg.cond_drop).
        cond_level (B,): the neighbour rank of each row's condition, for a pairing model (cfg.pair_k > 0; default 0)."""
        lam = self.cfg.lambda_eq if lambda_eq is None else lambda_eq
        b, dev = x0.shape[0], x0.device
        t = torch.randint(0, self.cfg.num_train_timesteps, (b,), generator=generator).to(dev)
        noise = torch.randn(x0.shape, generator=generator).to(dev)
        mask = cond_mask.to(dev) if cond_mask is not None else None
        if cond is not None and mask is None and self.cfg.cond_drop > 0:
            mask = (torch.rand(b, generator=generator) >= self.cfg.cond_drop).to(dev)
        if cond is not None and self.cfg.cond_noise > 0:  # corrupt each condition by its own level, and say which
            level = (torch.rand(b, generator=generator) * self.cfg.cond_noise).to(dev)
            cond = self.with_level(cond + level[:, None] * torch.randn(cond.shape, generator=generator).to(dev),
                                   level)
        elif cond is not None and self.cfg.pair_k > 0:
            cond = self.with_level(cond, cond_level.to(dev) if cond_level is not None else torch.zeros(b, device=dev))
        x0_hat = self.predict_x0(model, self.q_sample(x0, t, noise), t, cond, mask)
        recon = (self.loss_weight(t) * (x0_hat - x0).pow(2).mean(dim=1)).mean()
        if lam > 0 and self.encoder is not None:
            m = b if eq_batch is None else min(b, eq_batch)
            with torch.no_grad():
                f_true = self.features(x0[:m])
            eq = (self.features(x0_hat[:m]) - f_true).pow(2).mean()
        else:
            eq = torch.zeros((), device=dev)
        total = recon + lam * eq
        func = None
        if self.cfg.lambda_func > 0:
            func = self.function_loss(x0_hat, x0, t, generator)
            total = total + self.cfg.lambda_func * func
            func = func.detach()
        return LossParts(total, recon.detach(), eq.detach(), func)

    def function_loss(self, x0_hat: Tensor, x0: Tensor, t: Tensor, generator=None) -> Tensor:
        """ᾱ_t-weighted squared difference of the two INRs' outputs at random coordinates in [-1, 1]^in: weight errors
        count by what they do to the signal (a SIREN's first layer is ×ω0 sensitive, its output bias is not)."""

        if self.spec is None:
            raise RuntimeError("lambda_func > 0 needs the INR spec: pass spec=... to WeightDiffusion")
        coords = (torch.rand(self.cfg.func_points, self.spec.in_dim, generator=generator) * 2 - 1).to(x0.device)
        wn = self.weight_norm
        d = siren_forward(self.spec, wn.denormalize(x0_hat), coords) - siren_forward(self.spec, wn.denormalize(x0),
                                                                                      coords)  # (B, N, C)
        a = self.alphas_cumprod.to(x0.device)[t]  # (B,)
        return (a * d.pow(2).mean(dim=(1, 2))).mean()

    # -- sampling -----------------------------------------------------------------------------------------------------
    def guide(self, x0_hat: Tensor, target_features: Tensor, strength: float) -> Tensor:
        """One equivariance-guidance nudge on x̂0 toward ψ̃, per sample i:
        x̂0_i ← x̂0_i − λ_g · f_i / ||∇f_i||² · ∇f_i with f_i = ||E(x̂0_i) − ψ̃_i||² (a Polyak step: to first order it
        removes the fraction λ_g of the feature distance, whatever the scale of the weights; λ_g ∈ [0, 1])."""
        with torch.enable_grad():
            z = x0_hat.detach().requires_grad_(True)
            f = (self.features(z) - target_features).pow(2).sum(dim=1)  # (B,)
            (grad,) = torch.autograd.grad(f.sum(), z)  # rows are independent: row i is ∇f_i
        step = strength * f.detach() / grad.pow(2).sum(dim=1).clamp_min(1e-12)  # (B,)
        return (x0_hat - step.unsqueeze(1) * grad).detach()

    @torch.no_grad()
    def sample(self, model: nn.Module, n: int, *, cond: Tensor | None = None, steps: int = 50,
               guidance: float = 0.0, target_features: Tensor | None = None, cfg_scale: float = 1.0,
               temperature: float = 1.0, generator: torch.Generator | None = None,
               on_step: Callable[[StepInfo], None] | None = None, device=None,
               x_start: Tensor | None = None, start_t: int | None = None, cond_level: float = 0.0) -> Tensor:
        """DDIM: n samples of normalised weights (n, P). cond (n, F) normalised conditions (None: unconditional);
        cond_level: the sampler's γ, given to a model trained with a level input (cond_noise > 0: the corruption
        level of ψ̃ = ψ + γ·ε; pair_k > 0: the neighbour rank), clipped to its training range.

        guidance λ_g > 0 with target_features ψ̃ (n, F) (raw encoder features) nudges every x̂0 toward them.
        cfg_scale ≠ 1 applies classifier-free guidance x̂0 = x̂0_∅ + s·(x̂0_c − x̂0_∅).
        temperature τ scales the initial noise, x_T = τ·ε (τ < 1: the truncation trick — fewer, cleaner modes; our
        addition, measured in docs/RESULTS.md).
        x_start (n, P) normalised weights with start_t: SDEdit — noise x_start to the first DDIM step t ≤ start_t
        and denoise from there (a partial trajectory; small start_t stays close to x_start).
        """
        device = device or next(model.parameters()).device
        sched = make_scheduler(self.cfg)
        sched.set_timesteps(steps)
        p = self.weight_norm.dim  # P entries, or k principal coordinates (PCAStats)
        x = temperature * torch.randn((n, p), generator=generator).to(device)
        timesteps = list(sched.timesteps)
        if x_start is not None:
            if start_t is None or x_start.shape != (n, p):
                raise ValueError(f"x_start must be ({n}, {p}) with a start_t; got {tuple(x_start.shape)}, {start_t}")
            timesteps = [t for t in timesteps if int(t) <= start_t] or timesteps[-1:]
            a = self.alphas_cumprod[int(timesteps[0])].to(device)
            x = a.sqrt() * x_start.to(device) + (1 - a).sqrt() * x
        if cond is not None:
            cond = self.with_level(cond.to(device), self.cfg.sampling_level(cond_level))
        ones = torch.ones(n, dtype=torch.bool, device=device)
        for i, t in enumerate(timesteps):  # the three lines of DDIM: predict x̂0, (guide), step
            tt = torch.full((n,), int(t), device=device, dtype=torch.long)
            x0_hat = self.predict_x0(model, x, tt, cond, ones if cond is not None else None)
            if cond is not None and cfg_scale != 1.0:
                x0_uncond = self.predict_x0(model, x, tt, cond, ~ones)
                x0_hat = x0_uncond + cfg_scale * (x0_hat - x0_uncond)
            if guidance > 0 and target_features is not None:
                x0_hat = self.guide(x0_hat, target_features.to(device), guidance)
            if on_step is not None:
                on_step(StepInfo(i, len(timesteps), int(t), x0_hat))
            x = sched.step(x0_hat, t, x, eta=0.0).prev_sample
        return x
