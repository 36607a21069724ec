"""Stage 3: few-shot generation — the one place encoder, denoiser and scheduler meet (EQUIGEN §4.4).

    model = FewShotModel.load("checkpoints/mnist/diffusion")            # encoder found from the checkpoint's config
    out = generate(model, targets, n=16, gamma=0.3, steps=50, seed=0)  # targets: (K, P) INR weights
    out.images                                                           # (16, 1, 28, 28)

The loop: encode the K targets (ψ = E(w)), normalise with the training statistics, perturb ψ̃ = ψ + γ·ε, then DDIM
from noise conditioned on ψ̃ (optionally with equivariance guidance of strength λ_g toward ψ̃).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

import torch
from safetensors.torch import save_file
from torch import Tensor, nn

from equigen_core.generation.diffusion import DiffusionConfig, StepInfo, WeightDiffusion
from equigen_core.generation.span import augment_starts, span_starts
from equigen_core.nets.denoiser import DenoiserConfig, build_denoiser
from equigen_core.nets.encoder import condition_encoder
from equigen_core.nets.models import DIFFUSION_KIND, encoder_fingerprint, load_encoder
from equigen_core.presets import Sampling, sampling_for
from equigen_core.storage.checkpoint import CheckpointError, load_checkpoint, load_into_module
from equigen_core.weightspace.inr import SirenSpec, render_images
from equigen_core.weightspace.weights import NormStats, codec_from_tensors


@dataclass
class FewShotModel:
    """Everything generation needs, loaded once and used read-only."""

    spec: SirenSpec
    encoder: nn.Module  # what conditions the model: the WeightEncoder, or its ProbeCondition view
    denoiser: nn.Module
    process: WeightDiffusion
    feat_norm: NormStats
    config: dict = field(default_factory=dict)
    path: Path | None = None
    inr_init: Tensor | None = None  # (P,) the shared init w0 of the zoo it was trained on (fit new targets from it)

    @classmethod
    def load(cls, path: str | Path, encoder: str | Path | nn.Module | None = None) -> "FewShotModel":
        """Load a diffusion checkpoint and its stage-1 encoder (from `encoder`, or the path recorded in its config);
        the encoder must be the one it was trained with (checked by fingerprint)."""

        path = Path(path)
        ckpt = load_checkpoint(path, kind=DIFFUSION_KIND)
        spec = SirenSpec.from_dict(ckpt.config["spec"])
        if encoder is None:
            rec = ckpt.config.get("encoder_path")
            if not rec:
                raise CheckpointError(f"{path / 'config.json'}: no encoder_path recorded; pass the encoder checkpoint")
            # the recorded path if it is absolute and still there, else the sibling of that name (checkpoints move)
            rec = Path(rec)
            encoder = rec if rec.is_absolute() and rec.is_dir() else path.parent / rec.name
        if isinstance(encoder, (str, Path)):  # else an encoder module (any nn.Module with .spec and .out_dim)
            encoder = load_encoder(encoder, spec)
        dcfg = DiffusionConfig(**ckpt.config["diffusion"])
        encoder = condition_encoder(encoder, dcfg.condition)  # what the model is conditioned on
        if encoder.spec != spec:
            raise CheckpointError(f"{path / 'config.json'}: trained for INR spec {spec}, the encoder is for "
                                  f"{encoder.spec}")
        fp = encoder_fingerprint(encoder)
        if fp != ckpt.config["encoder_fingerprint"]:
            raise CheckpointError(f"{path / 'config.json'}: trained with encoder {ckpt.config['encoder_fingerprint']}, "
                                  f"but the encoder given has fingerprint {fp}; use the encoder it was trained with")
        net = build_denoiser(spec, DenoiserConfig(**ckpt.config["denoiser"]))
        load_into_module(net, ckpt)
        wnorm = codec_from_tensors(ckpt.tensors, "norm.")
        fnorm = NormStats.from_tensors(ckpt.tensors, "feat_norm.")
        if wnorm.mean.shape != (spec.num_params,):
            raise CheckpointError(f"{path / 'model.safetensors'}: norm.mean has shape {tuple(wnorm.mean.shape)}, "
                                  f"expected ({spec.num_params},)")
        process = WeightDiffusion(dcfg, weight_norm=wnorm, encoder=encoder)
        init = ckpt.tensors.get("inr_init")
        if init is not None and init.shape != (spec.num_params,):
            raise CheckpointError(f"{path / 'model.safetensors'}: inr_init has shape {tuple(init.shape)}, expected "
                                  f"({spec.num_params},)")
        return cls(spec, encoder.eval(), net.eval(), process, fnorm, ckpt.config, path,
                   None if init is None else init.float())

    @torch.no_grad()
    def features(self, weights: Tensor) -> Tensor:
        """Normalised ψ of raw INR weights (K, P) → (K, F)."""
        return self.feat_norm.normalize(self.encoder(weights))


@dataclass
class GenerationResult:
    weights: Tensor  # (n, P) raw INR weights
    images: Tensor  # (n, C, res, res) for 2D INRs; (n, 0) for 3D (see render.occupancy_grid)
    target_index: Tensor  # (n,) which target conditioned each sample (-1: set-level)
    psi_tilde: Tensor  # (n, F) normalised conditions used


def sample(model: FewShotModel, targets: Tensor, n: int, sampling: Sampling | None = None, *, seed: int = 0,
           res: int = 28, on_step: Callable[[int, int, Tensor], None] | None = None,
           mode: Literal["per-target", "set"] = "per-target") -> GenerationResult:
    """n INRs from K targets (K, P) with one Sampling object (presets.Sampling: the sampler mode and its knobs; None:
    the model's domain default, presets.sampling_for). The one place the knobs are checked (Sampling.check, against
    presets.BOUNDS); `generate`, `span` and `refine` fill a Sampling and come here. Deterministic per seed.
    mode: the from-noise sampler's condition (see `generate`); the span and augment samplers are per start.
    on_step(i, steps, weights) receives the current x̂0 as raw INR weights (n, P) at every DDIM step."""
    s = sampling_for(model.spec.in_dim) if sampling is None else sampling
    s.check()
    _check_targets(model, targets)
    if n < 1:
        raise ValueError(f"need n ≥ 1 samples, got {n}")
    if mode not in ("per-target", "set"):
        raise ValueError(f"unknown mode {mode!r}; expected 'per-target' or 'set'")
    gen = torch.Generator().manual_seed(seed)
    if s.sampler == "noise":  # EquiGen: ψ̃ = ψ + γ·ε, DDIM from x_T = τ·ε
        psi = model.features(targets)  # (K, F)
        if mode == "per-target":
            which = torch.arange(n) % len(targets)
            base = psi[which]
        else:
            which = torch.full((n,), -1)
            base = psi.mean(0, keepdim=True).expand(n, -1)
        psi_tilde = base + model.process.cfg.psi_noise(s.gamma) * torch.randn(base.shape, generator=gen)
        return _denoise(model, psi_tilde, which, gen, s, res=res, on_step=on_step, level=s.gamma)
    if s.sampler == "span":  # mixtures of the shots + geometric augmentation (generation.span), γ sets how far
        starts, which = span_starts(model.spec, targets, n, gamma=s.gamma, generator=gen, mix=s.mix,
                                    augment=s.augment)
    else:  # "augment": exact geometric augmentations of single shots, of strength γ (SDEdit from moved copies)
        starts, which = augment_starts(model.spec, targets, n, strength=s.gamma, generator=gen)
    out = _refine(model, starts, s, gamma=s.psi_noise * s.gamma, seed=seed + 1, res=res, on_step=on_step)
    out.target_index = which
    return out


def generate(model: FewShotModel, targets: Tensor, n: int = 16, *, gamma: float | None = None,
             guidance: float | None = None, steps: int | None = None, seed: int = 0,
             mode: Literal["per-target", "set"] = "per-target", cfg_scale: float | None = None,
             temperature: float | None = None, res: int = 28,
             on_step: Callable[[int, int, Tensor], None] | None = None) -> GenerationResult:
    """EquiGen from noise: n new INRs from K target INRs (K, P), conditioned on ψ̃ = ψ + γ·ε. Knobs left None take
    the model's domain defaults (presets.sampling_for); `sample` with sampler "noise" does the work.

    gamma: γ (diversity); guidance: λ_g, the sampling-time equivariance guidance (our addition);
    mode: condition each sample on one target (round robin) or all on the mean target feature.
    temperature: τ of the initial noise x_T = τ·ε (τ < 1 trades diversity for cleaner samples).
    """
    s = sampling_for(model.spec.in_dim).replace(sampler="noise", gamma=gamma, guidance=guidance, steps=steps,
                                                 temperature=temperature, cfg_scale=cfg_scale)
    return sample(model, targets, n, s, seed=seed, res=res, on_step=on_step, mode=mode)


def span(model: FewShotModel, targets: Tensor, n: int = 16, *, gamma: float | None = None, t0: int | None = None,
         mix: int | None = None, augment: float | None = None, psi_noise: float | None = None,
         guidance: float | None = None, steps: int | None = None, seed: int = 0, temperature: float | None = None,
         res: int = 28, cfg_scale: float | None = None,
         on_step: Callable[[int, int, Tensor], None] | None = None) -> GenerationResult:
    """The span sampler (our addition): n starts mixed from the K targets (K, P) and moved by exact geometric
    augmentations (generation.span.span_starts; γ sets how far), then denoised from step t0 conditioned on each
    start's ψ̃ = ψ(start) + psi_noise·γ·ε with guidance λ_g. target_index: each sample's anchor target. Knobs left
    None take the model's domain defaults; `sample` with sampler "span" does the work."""
    s = sampling_for(model.spec.in_dim).replace(sampler="span", gamma=gamma, t0=t0, mix=mix, augment=augment,
                                                 psi_noise=psi_noise, guidance=guidance, steps=steps,
                                                 temperature=temperature, cfg_scale=cfg_scale)
    return sample(model, targets, n, s, seed=seed, res=res, on_step=on_step)


def refine(model: FewShotModel, starts: Tensor, *, start_t: int | None = None, gamma: float = 0.0,
           guidance: float | None = None, steps: int | None = None, seed: int = 0,
           temperature: float | None = None, res: int = 28, cfg_scale: float | None = None,
           on_step: Callable[[int, int, Tensor], None] | None = None) -> GenerationResult:
    """SDEdit in weight space (our addition): noise each INR of `starts` (n, P) to the DDIM step t ≤ start_t
    (None: the domain's t0), then denoise conditioned on its own ψ̃ = ψ(start) + γ·ε. start_t = 0 returns (nearly)
    the starts; larger values let the model redraw more of each INR. The span and augment samplers end here."""
    if starts.dim() != 2 or starts.shape[1] != model.spec.num_params:
        raise ValueError(f"starts must be (n, {model.spec.num_params}) INR weights, got {tuple(starts.shape)}")
    try:
        s = sampling_for(model.spec.in_dim).replace(t0=start_t, guidance=guidance, steps=steps,
                                                     temperature=temperature, cfg_scale=cfg_scale)
    except ValueError as e:
        raise ValueError(f"{e} (refine's start_t is the sampler's t0)") from None
    if gamma < 0:
        raise ValueError(f"γ (the condition's noise) must be ≥ 0, got {gamma}")
    return _refine(model, starts, s, gamma=gamma, seed=seed, res=res, on_step=on_step)


def _refine(model: FewShotModel, starts: Tensor, s: Sampling, *, gamma: float, seed: int, res: int,
            on_step) -> GenerationResult:
    """Denoise `starts` (n, P) from step s.t0 conditioned on ψ(start) + γ·ε (checked knobs)."""
    gen = torch.Generator().manual_seed(seed)
    psi = model.features(starts)
    psi_tilde = psi + model.process.cfg.psi_noise(gamma) * torch.randn(psi.shape, generator=gen)
    return _denoise(model, psi_tilde, torch.arange(len(starts)), gen, s, res=res, on_step=on_step,
                    x_start=model.process.weight_norm.normalize(starts), start_t=s.t0, level=gamma)


def _check_targets(model: FewShotModel, targets: Tensor) -> None:
    if targets.dim() != 2 or targets.shape[1] != model.spec.num_params:
        raise ValueError(f"targets must be (K, {model.spec.num_params}) INR weights, got {tuple(targets.shape)}")


def _denoise(model: FewShotModel, psi_tilde: Tensor, which: Tensor, gen: torch.Generator, s: Sampling, *,
             res: int, on_step, x_start: Tensor | None = None, start_t: int | None = None,
             level: float = 0.0) -> GenerationResult:
    """DDIM conditioned on ψ̃ (n, F), perturbed at `level` (its γ), with the knobs of s (λ_g, τ, steps, w) → raw
    weights and renders (the part every sampler shares)."""
    wnorm = model.process.weight_norm

    def step_cb(info: StepInfo):
        on_step(info.index, info.total, wnorm.denormalize(info.x0_hat))

    z = model.process.sample(model.denoiser, len(psi_tilde), cond=psi_tilde, steps=s.steps, guidance=s.guidance,
                             target_features=model.feat_norm.denormalize(psi_tilde), cfg_scale=s.cfg_scale,
                             temperature=s.temperature, generator=gen, on_step=step_cb if on_step else None,
                             x_start=x_start, start_t=start_t, cond_level=level)
    weights = wnorm.denormalize(z)
    return GenerationResult(weights, _render(model.spec, weights, res), which, psi_tilde)


def sample_unconditional(model: FewShotModel, n: int, *, steps: int | None = None, seed: int = 0,
                         temperature: float | None = None, res: int = 28) -> GenerationResult:
    """n INRs from the denoiser's null-condition branch (no targets at all); knobs left None: the domain's."""
    s = sampling_for(model.spec.in_dim).replace(steps=steps, temperature=temperature)
    gen = torch.Generator().manual_seed(seed)
    z = model.process.sample(model.denoiser, n, cond=None, steps=s.steps, temperature=s.temperature, generator=gen)
    weights = model.process.weight_norm.denormalize(z)
    return GenerationResult(weights, _render(model.spec, weights, res), torch.full((n,), -1), torch.zeros(n, 0))


def _render(spec: SirenSpec, weights: Tensor, res: int) -> Tensor:
    """2D INRs: their images (n, C, res, res); 3D INRs are rendered by the caller (render.occupancy_grid / meshes),
    so an empty (n, 0) placeholder."""
    return render_images(spec, weights, res) if spec.in_dim == 2 else weights.new_zeros(len(weights), 0)


def save_samples(path: str | Path, spec: SirenSpec, result: GenerationResult) -> Path:
    """samples.safetensors: raw INR weights (n, P) + which target conditioned each; the SIREN spec in the metadata
    (recover the layers with equigen_core.weightspace.inr.unflatten or weights.flat_to_state_dict)."""

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"weights": result.weights.contiguous(), "target_index": result.target_index.contiguous()}, str(path),
              metadata={"spec": json.dumps(spec.to_dict())})
    return path
