"""Presets and defaults in one place: how to sample (per domain) and how big a `train all` run is.

    from equigen_core.presets import IMAGES, SHAPES, RUN_PRESETS
    generate(model, targets, gamma=IMAGES.gamma, guidance=IMAGES.guidance, temperature=IMAGES.temperature)
    RUN_PRESETS["cpu"].diff_steps                     # 6000

The sampling defaults are what the CLI, the app, the library's `generate` and the README use. The measurement protocols
(`evaluate`, `ablate`, the held-in accuracy) set their own sampler explicitly (no guidance, their τ) and record it
with every result. The per-network presets live beside their networks (`inr.PRESETS`, `encoder.PRESETS`,
`denoiser.PRESETS`); a run preset names them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Literal

SamplerName = Literal["span", "noise", "augment"]
SAMPLERS: tuple[SamplerName, ...] = ("span", "noise", "augment")  # fewshot.sample's modes (see Sampling.sampler)

# λ of L = L_recon + λ·L_eq (EQUIGEN Eq. 7): the training default of stage 2, stage 3, the CLI and the Train tab. Not
# the sampling-time guidance λ_g (Sampling.guidance).
LAMBDA_EQ = 0.1


@dataclass(frozen=True)
class Sampling:
    """The few-shot sampler's knobs.

    sampler: "span" — mixtures of the shots in the aligned weight space, moved by exact geometric augmentations,
    noised to t0 and denoised (generation.span; γ sets how far from each anchor shot the mixture and augmentation
    go); "noise" — EquiGen from noise, conditioned on ψ̃ = ψ + γ·ε; "augment" — exact geometric augmentations of the
    shots (strength γ), noised to t0 and denoised (SDEdit).
    guidance: λ_g of the sampling-time equivariance guidance toward ψ̃ (not the L_eq weight λ of training).
    temperature: τ of x_T = τ·ε; steps: DDIM steps (a t0 start runs those of them at t ≤ t0).
    mix / augment: shots per mixture and the geometric augmentation's strength at γ = 1 (span only);
    psi_noise: ψ̃ = ψ(start) + psi_noise·γ·ε for the starts of "span" / "augment".
    cfg_scale: w of classifier-free guidance, x̂0 = x̂0_∅ + w·(x̂0_c − x̂0_∅) (1: off; the model's condition dropout
    trained the null branch).
    """

    sampler: SamplerName = "span"
    gamma: float = 1.0
    guidance: float = 0.3
    temperature: float = 0.8
    steps: int = 50
    t0: int = 150
    mix: int = 3
    augment: float = 0.5
    psi_noise: float = 0.0
    cfg_scale: float = 1.0

    def to_dict(self) -> dict:
        return asdict(self)

    def replace(self, **changes) -> "Sampling":
        """A copy with the given knobs changed (None values ignored), checked."""

        out = replace(self, **{k: v for k, v in changes.items() if v is not None})
        out.check()
        return out

    def check(self) -> None:
        """ValueError naming every knob out of its range (BOUNDS)."""
        bad = [f"{KNOB_NAMES.get(k, k)} = {getattr(self, k):g}, expected {lo:g}–{hi:g}"
               for k, (lo, hi) in BOUNDS.items() if not lo <= getattr(self, k) <= hi]
        if self.sampler not in SAMPLERS:
            bad.insert(0, f"sampler={self.sampler!r} (expected one of {', '.join(SAMPLERS)})")
        if bad:
            raise ValueError("sampler knobs out of range: " + "; ".join(bad))


# The knobs' ranges: what Sampling.check enforces and what the app's sliders and the CLI offer
BOUNDS = {"gamma": (0.0, 2.0), "guidance": (0.0, 1.0), "temperature": (0.05, 2.0), "steps": (1, 1000),
          "t0": (0, 999), "mix": (1, 32), "augment": (0.0, 4.0), "psi_noise": (0.0, 2.0),
          "cfg_scale": (0.0, 8.0)}

# how messages name the knobs (the UI's and the paper's symbols)
KNOB_NAMES = {"gamma": "γ (gamma)", "guidance": "λ_g (guidance)", "temperature": "τ (temperature)",
              "steps": "DDIM steps", "cfg_scale": "w (cfg_scale)"}

# 2D images: the span sampler, its knobs chosen on the validation class 8 (docs/RESULTS.md, "Protocol v2")
IMAGES = Sampling(sampler="span", gamma=1.0, guidance=0.3, temperature=0.8, steps=50, t0=50, mix=3, augment=0.5)
# 3D shapes: the span sampler, γ and t0 chosen on the validation category chair (protocol v2 for shapes,
# docs/RESULTS.md: the highest filtered COV whose filtered MMD is at or below interpolation's), no guidance, τ = 1
SHAPES = Sampling(sampler="span", gamma=0.5, guidance=0.0, temperature=1.0, steps=50, t0=50, mix=3, augment=0.5)


def sampling_for(in_dim: int) -> Sampling:
    """The default sampler of a domain, from the INR's input dimension (2: images, 3: shapes)."""
    return SHAPES if in_dim == 3 else IMAGES


@dataclass(frozen=True)
class RunPreset:
    """One `train all --preset NAME`: the sizes of every stage (the `cpu` presets make the shipped checkpoints)."""

    domain: Literal["images", "shapes"]
    encoder: str  # encoder.PRESETS name (2D) — 3D runs give their encoder's channels / probe below
    denoiser: str  # denoiser.PRESETS name
    enc_steps: int
    diff_steps: int
    ft_steps: int
    gallery_per_class: int
    # zoo
    limit: int | None = None  # images: at most this many (balanced); None: all 5,000 MNIST digits
    per_category: int = 0  # shapes: INRs per category
    init: Literal["meta", "shared", "independent"] = "meta"
    meta_steps: int = 300  # Reptile outer steps (init = meta)
    fit_lr: float = 1e-3
    fit_steps: int = 300
    target_psnr: float | None = 36.0
    # stage 1
    supervised: float = 0.0  # SupCon weight on the base classes' labels
    enc_channels: int = 0  # shapes: the encoder's width (0: the named preset's)
    probe_res: int = 0  # shapes: the function probe's grid (0: the named preset's)
    # stage 2
    space: Literal["weights", "pca", "latent"] = "weights"
    pca_dim: int = 256
    condition: Literal["features", "probe"] = "features"
    batch_size: int = 256
    eq_batch: int = 64
    classifier_epochs: int = 12  # images other than MNIST: the root's own yardstick CNN
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


RUN_PRESETS: dict[str, RunPreset] = {
    # 2D (MNIST): a zoo fitted from a meta-learned init, the encoder preset trained with SupCon on the base classes,
    # conditioned on ψ's function part; `cpu` diffuses every weight (the base classes' principal subspace cannot
    # carry an unseen class: measured on the validation class 8, docs/RESULTS.md), `tiny` stays in a PCA-64 space
    # for speed. The shipped root: `train all --preset cpu --val-class 8`
    "tiny": RunPreset("images", encoder="tiny", denoiser="tiny", enc_steps=20, diff_steps=50, ft_steps=20,
                      gallery_per_class=2, limit=200, meta_steps=20, target_psnr=25.0, supervised=1.0, space="pca",
                      pca_dim=64, condition="probe", classifier_epochs=40),
    "cpu": RunPreset("images", encoder="cpu", denoiser="cpu", enc_steps=600, diff_steps=6000, ft_steps=800,
                     gallery_per_class=16, supervised=1.0, space="weights", condition="probe"),
    # 3D: procedural shapes, one category held out (--category); occupancy INRs 3→64→64→64→1
    "tiny3d": RunPreset("shapes", encoder="tiny", denoiser="tiny", enc_steps=10, diff_steps=30, ft_steps=10,
                        gallery_per_class=2, per_category=5, init="meta", meta_steps=3, fit_steps=40,
                        target_psnr=None, condition="probe", enc_channels=4, probe_res=4, batch_size=128,
                        eq_batch=16),
    # (issue 18) a zoo fitted from a meta-learned init (Reptile on the base categories), diffusion over every weight
    # (the base categories' principal subspace cannot represent an unseen category), conditioned on ψ's probe
    "cpu3d": RunPreset("shapes", encoder="cpu", denoiser="cpu3d", enc_steps=300, diff_steps=6000, ft_steps=300,
                       gallery_per_class=12, per_category=80, init="meta", meta_steps=300, fit_steps=2000,
                       fit_lr=1e-3, target_psnr=None, supervised=1.0, space="weights", condition="probe",
                       enc_channels=8, probe_res=5, batch_size=128, eq_batch=16),
}


def get_run_preset(name: str) -> RunPreset:
    if name not in RUN_PRESETS:
        raise ValueError(f"unknown run preset {name!r}; expected one of {list(RUN_PRESETS)}")
    return RUN_PRESETS[name]
