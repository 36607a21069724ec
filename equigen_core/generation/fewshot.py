"""Stage 3: few-shot generation — the one place encoder, denoiser and scheduler meet (EQUIGEN §4.4).

    model = FewShotModel.load("checkpoints/mnist/diffusion")            # encoder found from the checkpoint's config
    out = generate(model, targets, n=16, gamma=0.3, steps=50, seed=0)  # targets: (K, P) INR weights
    out.images                                                           # (16, 1, 28, 28)

The loop: encode the K targets (ψ = E(w)), normalise with the training statistics, perturb ψ̃ = ψ + γ·ε, then DDIM
from noise conditioned on ψ̃ (optionally with equivariance guidance of strength λ_g toward ψ̃).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

import torch
from torch import Tensor, nn

from equigen_core.storage.checkpoint import CheckpointError, load_checkpoint, load_into_module
from equigen_core.nets.denoiser import DenoiserConfig, build_denoiser
from equigen_core.generation.diffusion import DiffusionConfig, StepInfo, WeightDiffusion
from equigen_core.nets.encoder import condition_encoder
from equigen_core.weightspace.inr import SirenSpec, render_images
from equigen_core.presets import IMAGES, Sampling
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
        from equigen_core.storage.models import DIFFUSION_KIND, encoder_fingerprint, load_encoder

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


def generate(model: FewShotModel, targets: Tensor, n: int = 16, *, gamma: float = IMAGES.gamma,
             guidance: float = IMAGES.guidance, steps: int = IMAGES.steps, seed: int = 0,
             mode: Literal["per-target", "set"] = "per-target", cfg_scale: float = 1.0,
             temperature: float = IMAGES.temperature, res: int = 28,
             on_step: Callable[[int, int, Tensor], None] | None = None) -> GenerationResult:
    """n new INRs from K target INRs (K, P). Deterministic per seed. The sampler's defaults are presets.IMAGES (the
    app's and the CLI's); measurement protocols pass theirs explicitly.

    gamma: γ of ψ̃ = ψ + γ·ε (diversity); guidance: λ_g, the sampling-time equivariance guidance (our addition);
    mode: condition each sample on one target (round robin) or all on the mean target feature.
    temperature: τ of the initial noise x_T = τ·ε (τ < 1 trades diversity for cleaner samples).
    on_step(i, steps, weights) receives the current x̂0 as raw INR weights (n, P) at every DDIM step.
    """
    _check_targets(model, targets)
    if n < 1 or steps < 1 or gamma < 0 or not 0 <= guidance <= 1 or not 0 < temperature <= 2:
        raise ValueError(f"need n ≥ 1, steps ≥ 1, gamma ≥ 0, 0 ≤ guidance ≤ 1, 0 < temperature ≤ 2; got n={n}, "
                         f"steps={steps}, gamma={gamma}, guidance={guidance}, temperature={temperature}")
    gen = torch.Generator().manual_seed(seed)
    psi = model.features(targets)  # (K, F)
    if mode == "per-target":
        which = torch.arange(n) % len(targets)
        base = psi[which]
    elif mode == "set":
        which = torch.full((n,), -1)
        base = psi.mean(0, keepdim=True).expand(n, -1)
    else:
        raise ValueError(f"unknown mode {mode!r}; expected 'per-target' or 'set'")
    psi_tilde = base + model.process.cfg.psi_noise(gamma) * torch.randn(base.shape, generator=gen)  # ψ̃ = ψ + γ·ε
    return _denoise(model, psi_tilde, which, gen, steps=steps, guidance=guidance, cfg_scale=cfg_scale,
                    temperature=temperature, res=res, on_step=on_step, level=gamma)


def refine(model: FewShotModel, starts: Tensor, *, start_t: int = 200, gamma: float = 0.0,
           guidance: float = IMAGES.guidance, steps: int = IMAGES.steps, seed: int = 0,
           temperature: float = IMAGES.temperature, res: int = 28, cfg_scale: float = 1.0,
           on_step: Callable[[int, int, Tensor], None] | None = None) -> GenerationResult:
    """SDEdit in weight space (our addition): noise each INR of `starts` (n, P) to the DDIM step t ≤ start_t, then
    denoise conditioned on its own ψ̃ = ψ(start) + γ·ε. start_t = 0 returns (nearly) the starts; larger values let
    the model redraw more of each INR. Used on exact augmentations of the shots (frontier method "EquiGen refine")."""
    if starts.dim() != 2 or starts.shape[1] != model.spec.num_params or not 0 <= start_t < 1000:
        raise ValueError(f"starts must be (n, {model.spec.num_params}) INR weights and 0 ≤ start_t < 1000; got "
                         f"{tuple(starts.shape)}, start_t={start_t}")
    gen = torch.Generator().manual_seed(seed)
    psi = model.features(starts)
    psi_tilde = psi + model.process.cfg.psi_noise(gamma) * torch.randn(psi.shape, generator=gen)
    return _denoise(model, psi_tilde, torch.arange(len(starts)), gen, steps=steps, guidance=guidance,
                    temperature=temperature, res=res, on_step=on_step, cfg_scale=cfg_scale,
                    x_start=model.process.weight_norm.normalize(starts), start_t=start_t, level=gamma)


def span(model: FewShotModel, targets: Tensor, n: int = 16, *, gamma: float = IMAGES.gamma, t0: int = IMAGES.t0,
         mix: int = IMAGES.mix, augment: float = IMAGES.augment, psi_noise: float = IMAGES.psi_noise,
         guidance: float = IMAGES.guidance, steps: int = IMAGES.steps, seed: int = 0,
         temperature: float = IMAGES.temperature, res: int = 28, cfg_scale: float = 1.0,
         on_step: Callable[[int, int, Tensor], None] | None = None) -> GenerationResult:
    """The span sampler (our addition): n starts mixed from the K targets (K, P) and moved by exact geometric
    augmentations (generation.span.span_starts; γ sets how far), then denoised from step t0 conditioned on each
    start's ψ̃ = ψ(start) + psi_noise·γ·ε with guidance λ_g. target_index: each sample's anchor target."""
    from equigen_core.generation.span import span_starts

    _check_targets(model, targets)
    gen = torch.Generator().manual_seed(seed)
    starts, anchor = span_starts(model.spec, targets, n, gamma=gamma, generator=gen, mix=mix, augment=augment)
    out = refine(model, starts, start_t=t0, gamma=psi_noise * gamma, guidance=guidance, steps=steps, seed=seed + 1,
                 temperature=temperature, res=res, on_step=on_step, cfg_scale=cfg_scale)
    out.target_index = anchor
    return out


def sample(model: FewShotModel, targets: Tensor, n: int, sampling: Sampling = IMAGES, *, seed: int = 0,
           res: int = 28, on_step: Callable[[int, int, Tensor], None] | None = None,
           mode: Literal["per-target", "set"] = "per-target") -> GenerationResult:
    """n INRs from K targets with one Sampling object (presets.Sampling: the sampler mode and its knobs), checked.
    mode: the from-noise sampler's condition (see `generate`); the span and augment samplers are per start."""
    sampling.check()
    s = sampling
    common = dict(guidance=s.guidance, steps=s.steps, seed=seed, temperature=s.temperature, res=res, on_step=on_step,
                  cfg_scale=s.cfg_scale)
    if s.sampler == "span":
        return span(model, targets, n, gamma=s.gamma, t0=s.t0, mix=s.mix, augment=s.augment, psi_noise=s.psi_noise,
                    **common)
    if s.sampler == "noise":
        return generate(model, targets, n, gamma=s.gamma, mode=mode, **common)
    from equigen_core.weightspace.augment import geometric_augment  # "augment": SDEdit from moved copies

    gen = torch.Generator().manual_seed(seed)
    which = torch.arange(n) % len(targets)
    starts = geometric_augment(model.spec, targets[which], s.gamma, generator=gen)
    out = refine(model, starts, start_t=s.t0, gamma=s.psi_noise * s.gamma, **{**common, "seed": seed + 1})
    out.target_index = which
    return out


def _check_targets(model: FewShotModel, targets: Tensor) -> None:
    if targets.dim() != 2 or targets.shape[1] != model.spec.num_params:
        raise ValueError(f"targets must be (K, {model.spec.num_params}) INR weights, got {tuple(targets.shape)}")


def _denoise(model: FewShotModel, psi_tilde: Tensor, which: Tensor, gen: torch.Generator, *, steps: int,
             guidance: float, temperature: float, res: int, on_step, cfg_scale: float = 1.0,
             x_start: Tensor | None = None, start_t: int | None = None, level: float = 0.0) -> GenerationResult:
    """DDIM conditioned on ψ̃ (n, F), perturbed at `level` (its γ) → raw weights and renders (the part generate and
    refine share)."""
    wnorm = model.process.weight_norm

    def step_cb(info: StepInfo):
        on_step(info.index, info.total, wnorm.denormalize(info.x0_hat))

    z = model.process.sample(model.denoiser, len(psi_tilde), cond=psi_tilde, steps=steps, guidance=guidance,
                             target_features=model.feat_norm.denormalize(psi_tilde), cfg_scale=cfg_scale,
                             temperature=temperature, generator=gen, on_step=step_cb if on_step else None,
                             x_start=x_start, start_t=start_t, cond_level=level)
    weights = wnorm.denormalize(z)
    return GenerationResult(weights, _render(model.spec, weights, res), which, psi_tilde)


def sample_unconditional(model: FewShotModel, n: int, *, steps: int = IMAGES.steps, seed: int = 0,
                         temperature: float = IMAGES.temperature, res: int = 28) -> GenerationResult:
    """n INRs from the denoiser's null-condition branch (no targets at all)."""
    gen = torch.Generator().manual_seed(seed)
    z = model.process.sample(model.denoiser, n, cond=None, steps=steps, temperature=temperature, generator=gen)
    weights = model.process.weight_norm.denormalize(z)
    return GenerationResult(weights, _render(model.spec, weights, res), torch.full((n,), -1), torch.zeros(n, 0))


def _render(spec: SirenSpec, weights: Tensor, res: int) -> Tensor:
    """2D INRs: their images (n, C, res, res); 3D INRs are rendered by the caller (render.occupancy_grid / meshes),
    so an empty (n, 0) placeholder."""
    return render_images(spec, weights, res) if spec.in_dim == 2 else weights.new_zeros(len(weights), 0)


def save_samples(path: str | Path, spec: SirenSpec, result: GenerationResult) -> Path:
    """samples.safetensors: raw INR weights (n, P) + which target conditioned each; the SIREN spec in the metadata
    (recover the layers with equigen_core.weightspace.inr.unflatten or weights.flat_to_state_dict)."""
    import json

    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"weights": result.weights.contiguous(), "target_index": result.target_index.contiguous()}, str(path),
              metadata={"spec": json.dumps(spec.to_dict())})
    return path
